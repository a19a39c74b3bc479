within V2X;
model BatteryPackQuasiStatic "BatteryQuasiStatic with a DC power port (for use inside EVQuasiStatic)"
  extends V2X.BatteryQuasiStatic;
  V2X.DCPort dc "DC terminals (power flowing into the pack = charging)";
equation
  p_dc_w = dc.p_w;
  dc.v_v = v_pack_v;
  annotation(Documentation(info="<html>
<p><code>BatteryQuasiStatic</code> with its terminals exposed as a <code>DCPort</code>, as
<code>BatteryPack</code> is to <code>Battery</code>. Sub-component only.</p>
</html>"));
end BatteryPackQuasiStatic;
