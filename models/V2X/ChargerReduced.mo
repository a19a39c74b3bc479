within V2X;
model ChargerReduced "Bidirectional charger, reduced: first-order P and Q response (for co-simulation steps of a minute)"
  extends V2X.ChargerBase(p_ac_w(start=0, fixed=true, nominal=1e4), q_ac_var(start=0, fixed=true, nominal=1e4));
equation
  tau_p_s*der(p_ac_w) = p_ref_w - p_ac_w;
  tau_q_s*der(q_ac_var) = q_ref_var - q_ac_var;
  p_dc_w = p_ac_w - p_loss_w;
  e_store_j = 0;
  annotation(Documentation(info="<html>
<p>Averaged charger reduced to first-order responses of P and Q toward the limited references of
<code>ChargerBase</code> (time constants tau_p_s, tau_q_s &gt;= 1 s, default 1 s, the smallest
value the model admits; <b>assumption</b> standing for the closed-loop response of a wallbox to a
setpoint change, which is on the order of seconds and set by its communication and ramp limits
rather than by its power electronics). DC power = AC power - losses (no storage). Same
limits, losses and grid support as <code>ChargerDetailed</code>, hence the same steady state.
States: p_ac_w, q_ac_var (start 0).</p>
<p>Inputs v_dc_v (used only for the output i_dc_a) and p_lim_charge_w / p_lim_discharge_w (BMS
limits; set them to p_rated_w or above when there is no BMS) must be driven when the charger is
used on its own.</p>
</html>"));
end ChargerReduced;
