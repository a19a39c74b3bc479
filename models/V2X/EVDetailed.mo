within V2X;
model EVDetailed "Electric vehicle with the averaged detailed charger (studies of seconds)"
  extends V2X.EV(redeclare V2X.ChargerDetailedDC charger(s_rated_va=s_rated_va, p_rated_w=p_rated_w,
    i_max_a=i_max_a, tau_p_s=tau_p_s, tau_q_s=tau_q_s, enable_qu=enable_qu, enable_pf=enable_pf));
  annotation(Documentation(info="<html>
<p><code>EV</code> with the charger redeclared as <code>ChargerDetailedDC</code> (dq-frame AC/DC
converter, DC link, DC/DC with current loop; millisecond dynamics, stiff). Same interface,
parameters and steady state as <code>EV</code>; tau_p_s and tau_q_s exist but are not used.
The charger's stored energy (e_store_charger_j) enters the energy balance.</p>
</html>"));
end EVDetailed;
