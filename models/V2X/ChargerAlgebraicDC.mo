within V2X;
model ChargerAlgebraicDC "Bidirectional charger, quasi-static: P and Q equal their limited references (no states; for steps much longer than tau), with a DC power port"
  extends V2X.ChargerBase;
  V2X.DCPort dc "DC terminals (to the battery)";
equation
  p_ac_w = p_ref_w;
  q_ac_var = q_ref_var;
  p_dc_w = p_ac_w - p_loss_w;
  e_store_j = 0;
  v_dc_v = dc.v_v;
  dc.p_w = -p_dc_w;
  annotation(Documentation(info="<html>
<p>The steady state of <code>ChargerReduced</code>: its first-order responses (tau_p_s, tau_q_s)
are replaced by their end values, P = p_ref_w and Q = q_ref_var, so the charger has no states. Same
limits, losses and grid support as the other chargers (<code>ChargerBase</code>). Valid when the
co-simulation step is much longer than the time constants (a 15-min step is 900 tau at the default
1 s): the response then ends within the step, and what it leaves out is the transient's energy
(about (p_new - p_old) tau per change), which <code>EVQuasiStatic</code> accounts for in its
meters. tau_p_s and tau_q_s are kept (unused here) so that the charger can be redeclared in place of
the others. Sub-component only (it has a <code>DCPort</code>).</p>
</html>"));
end ChargerAlgebraicDC;
