within V2X;
model ChargerDetailedDC "ChargerDetailed with a DC power port (for use inside EV models)"
  extends V2X.ChargerDetailed;
  V2X.DCPort dc "DC terminals (to the battery)";
equation
  v_dc_v = dc.v_v;
  dc.p_w = -p_dc_w;
  annotation(Documentation(info="<html><p><code>ChargerDetailed</code> whose DC side is a
<code>DCPort</code>: its battery-voltage input is bound to the port voltage and the power it
delivers leaves through the port. Sub-component only.</p></html>"));
end ChargerDetailedDC;
