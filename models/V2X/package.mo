within;
package V2X "Vehicle-to-X component models (battery, bidirectional chargers, electric vehicles) for v2xcosim"
  annotation(Documentation(info="<html>
<p>Models for the v2xcosim co-simulation. They are written in the Modelica subset that the
project's rumoca-based FMU pipeline accepts (no events, no functions, no tables, no initial
equations, no Modelica Standard Library); see <code>models/README.md</code>.</p>
<p>Sign convention (load convention, one everywhere): positive active power is drawn from the
grid (charging), positive reactive power is absorbed by the device; on the DC side positive power
and current charge the battery; SOC and SOH are fractions (0..1). SI units throughout.</p>
<p>Classes: <code>Battery</code> (pack, stand-alone, power input), <code>BatteryPack</code>
(the same with a <code>DCPort</code>), <code>ChargerBase</code> (partial: limits, losses,
Q(U), P(f)), <code>ChargerReduced</code> / <code>ChargerDetailed</code> (stand-alone chargers),
<code>ChargerReducedDC</code> / <code>ChargerDetailedDC</code> (with a <code>DCPort</code>),
<code>EV</code> (reduced charger + pack), <code>EVDetailed</code> (detailed charger + pack),
<code>EVQuasiStatic</code> (the same vehicle at steady state: <code>ChargerAlgebraicDC</code> +
<code>BatteryPackQuasiStatic</code>, the pack variant of <code>BatteryQuasiStatic</code>) and
<code>Terminal</code> (an airport terminal as one ISO 13790 5R1C thermal zone with its HVAC and
electrical load).</p>
</html>"));
end V2X;
