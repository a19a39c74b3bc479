within V2X;
model ChargerReducedDC "ChargerReduced with a DC power port (for use inside EV models)"
  extends V2X.ChargerReduced;
  V2X.DCPort dc "DC terminals (to the battery)";
equation
  v_dc_v = dc.v_v;
  dc.p_w = -p_dc_w;
  annotation(Documentation(info="<html><p><code>ChargerReduced</code> whose DC side is a
<code>DCPort</code>: its voltage input is bound to the port voltage and the power it delivers
leaves through the port. Sub-component only.</p></html>"));
end ChargerReducedDC;
