within V2X;
model BatteryPack "Battery with a DC power port (for use inside EV models)"
  extends V2X.Battery;
  V2X.DCPort dc "DC terminals (power flowing into the pack = charging)";
equation
  p_dc_w = dc.p_w;
  dc.v_v = v_pack_v;
  annotation(Documentation(info="<html>
<p><code>Battery</code> with its terminals exposed as a <code>DCPort</code>: the power flowing in
through the port is the pack's DC power (positive = charging) and the port voltage is the pack's
terminal voltage. The stand-alone input <code>p_dc_w</code> is bound to the port, so this class is
only meant as a sub-component (connect its port); it is not exported on its own. The ambient
temperature <code>t_amb_k</code> stays an input to be bound by the enclosing model.</p>
</html>"));
end BatteryPack;
