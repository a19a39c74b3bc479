within V2X;
model BatteryQuasiStatic "Battery with its RC pairs at steady state (no RC states): for co-simulation steps much longer than the RC time constants"
  // ---------------- pack configuration ----------------
  parameter Integer n_series(min=1) = 96 "Cells in series (assumption, see documentation)";
  parameter Integer n_parallel(min=1) = 80 "Cells in parallel (assumption, see documentation)";
  parameter Real q_cell_ah(unit="A.h", min=0) = 2.05 "Nominal cell capacity (Sanyo UR18650E)";
  parameter Real soc_start(unit="1", min=0, max=1) = 0.5 "Initial state of charge (fraction)";
  parameter Real t_start_k(unit="K", min=0) = 298.15 "Initial cell temperature";
  // ---------------- open-circuit voltage (cell) ----------------
  parameter Real ocv_tab_v[11](each unit="V") = {3.331, 3.491, 3.581, 3.627, 3.655, 3.697, 3.775, 3.869, 3.965, 4.073, 4.162}
    "Cell OCV at SOC = 0, 0.1, ..., 1 (Sanyo UR18650E NMC; Schmalstieg et al. 2014, see documentation)";
  // ---------------- equivalent circuit (cell, at t_ref_k) ----------------
  parameter Real r0_cell_ohm(unit="Ohm", min=0) = 0.050 "Cell series resistance at t_ref_k (assumption)";
  parameter Real r1_cell_ohm(unit="Ohm", min=0) = 0.015 "Cell RC pair 1 resistance at t_ref_k (assumption)";
  parameter Real tau1_s(unit="s", min=0) = 20 "RC pair 1 time constant at t_ref_k (assumption)";
  parameter Real r2_cell_ohm(unit="Ohm", min=0) = 0.020 "Cell RC pair 2 resistance at t_ref_k (assumption)";
  parameter Real tau2_s(unit="s", min=0) = 400 "RC pair 2 time constant at t_ref_k (assumption)";
  parameter Real t_ref_k(unit="K", min=0) = 298.15 "Reference temperature of the resistances";
  parameter Real ea_r_k(unit="K", min=0) = 2800 "Arrhenius activation temperature Ea/R of the resistances (assumption, ~23 kJ/mol)";
  // ---------------- thermal ----------------
  parameter Real m_cell_kg(unit="kg", min=0) = 0.0465 "Cell mass (18650 energy cell, assumption)";
  parameter Real cp_cell_j_per_kgk(unit="J/(kg.K)", min=0) = 1000 "Cell specific heat capacity (assumption)";
  parameter Real c_th_extra_j_per_k(unit="J/K", min=0) = 0 "Extra heat capacity of module/housing taking part in the lumped model";
  parameter Real ua_w_per_k(unit="W/K", min=0) = 15 "Pack-to-ambient heat transfer coefficient x area (passive, assumption)";
  // ---------------- ageing (Schmalstieg et al. 2014) ----------------
  parameter Real q_cal_start(unit="1", min=0, max=1) = 1e-4 "Initial calendar capacity loss (fraction); > 0 regularises the t^0.75 law";
  parameter Real q_cyc_start(unit="1", min=0, max=1) = 1e-4 "Initial cycle capacity loss (fraction); > 0 regularises the Q^0.5 law";
  parameter Real q_reg(unit="1", min=0) = 1e-5 "Floor of the capacity losses in the denominators of the ageing laws";
  parameter Real dod_start(unit="1", min=0, max=1) = 0.3 "Initial value of the DOD proxy (fraction; assumption, see documentation)";
  parameter Real v_rms_start_v(unit="V", min=0) = 3.7 "Initial value of the V_rms proxy (cell; assumption, see documentation)";
  parameter Real t_dod_s(unit="s", min=0) = 86400 "Window of the DOD proxy (assumption: one cycle period; an EV cycles about once a day)";
  parameter Real n_fec_vrms(unit="1", min=0) = 1 "Window of the V_rms proxy in full equivalent cycles of throughput";
  // ---------------- dependent parameters ----------------
  parameter Real q_pack_ah(unit="A.h") = n_parallel*q_cell_ah "Nominal pack capacity";
  parameter Real ocv_mean_cell_v(unit="V") = (sum(ocv_tab_v) - 0.5*(ocv_tab_v[1] + ocv_tab_v[11]))/10 "Mean cell OCV over SOC 0..1 (trapezoid)";
  parameter Real e_nom_j(unit="J") = n_series*n_parallel*q_cell_ah*3600*ocv_mean_cell_v "Nominal pack energy (SOC 0..1, fresh)";
  parameter Real r0_ref_ohm(unit="Ohm") = r0_cell_ohm*n_series/n_parallel "Pack series resistance at t_ref_k";
  parameter Real r1_ref_ohm(unit="Ohm") = r1_cell_ohm*n_series/n_parallel "Pack RC1 resistance at t_ref_k";
  parameter Real r2_ref_ohm(unit="Ohm") = r2_cell_ohm*n_series/n_parallel "Pack RC2 resistance at t_ref_k";
  parameter Real c1_f(unit="F") = tau1_s/r1_ref_ohm "Pack RC1 capacitance";
  parameter Real c2_f(unit="F") = tau2_s/r2_ref_ohm "Pack RC2 capacitance";
  parameter Real c_th_j_per_k(unit="J/K") = n_series*n_parallel*m_cell_kg*cp_cell_j_per_kgk + c_th_extra_j_per_k "Pack heat capacity";
  // ---------------- inputs ----------------
  input Real p_dc_w(unit="W", start=0) "DC power into the pack terminals (positive = charging)";
  input Real t_amb_k(unit="K", start=298.15, min=0) "Ambient temperature";
  // ---------------- states ----------------
  output Real soc(unit="1", nominal=1, start=soc_start, fixed=true) "State of charge (fraction of the present capacity)";
  output Real t_cell_k(unit="K", nominal=300, start=t_start_k, fixed=true) "Lumped cell temperature";
  output Real q_cal(unit="1", nominal=0.01, start=q_cal_start, fixed=true) "Calendar capacity loss (fraction of nominal)";
  output Real q_cyc(unit="1", nominal=0.01, start=q_cyc_start, fixed=true) "Cycle capacity loss (fraction of nominal)";
  Real v2_cell_f_v2(unit="V2", nominal=10, start=v_rms_start_v^2, fixed=true) "Throughput-weighted low-pass of v_cell^2 (V_rms^2 proxy)";
  Real soc_rate_f_per_s(unit="1/s", nominal=1e-5, start=2*dod_start/t_dod_s, fixed=true) "Low-pass of |dSOC/dt| (DOD proxy)";
  output Real e_dc_j(unit="J", nominal=1e6, start=0, fixed=true) "Meter: integral of p_dc_w";
  output Real e_chem_j(unit="J", nominal=1e6, start=0, fixed=true) "Meter: integral of OCV*I (pack)";
  output Real e_loss_j(unit="J", nominal=1e6, start=0, fixed=true) "Meter: integral of p_loss_w";
  // ---------------- outputs and algebraic variables ----------------
  output Real v_pack_v(unit="V") "Pack terminal voltage";
  output Real i_pack_a(unit="A") "Pack current (positive = charging)";
  output Real p_loss_w(unit="W") "Ohmic losses (series resistance and RC resistors)";
  output Real soh(unit="1") "State of health: present capacity / nominal capacity";
  output Real e_rc_j(unit="J") "Energy stored in the RC capacitors";
  output Real ocv_pack_v(unit="V") "Pack open-circuit voltage";
  output Real e_capacity_j(unit="J") "Present energy capacity (SOC 0..1) including fade";
  output Real v_cell_v(unit="V") "Average cell terminal voltage";
  output Real dod(unit="1") "DOD proxy used by the cycle-ageing law";
  output Real v_rms_v(unit="V") "V_rms proxy used by the cycle-ageing law";
  Real ocv_cell_v(unit="V") "Cell open-circuit voltage";
  Real i_cell_a(unit="A") "Average cell current (positive = charging)";
  Real i_abs_cell_a(unit="A") "Smooth |i_cell_a| (sqrt(i^2 + i_eps^2) - i_eps): abs() has a kink at I = 0, where an idle battery rests and implicit integrators would chatter";
  parameter Real i_eps_a(unit="A", min=0) = 1e-3 "Rounding current of the smooth |I| (5e-4 C for a 2.05 A.h cell; changes ageing rates by < 0.1 % above 1e-3 C)";
  Real arr(unit="1") "Arrhenius factor of the resistances";
  Real r0_ohm(unit="Ohm") "Pack series resistance at t_cell_k";
  Real r1_ohm(unit="Ohm") "Pack RC1 resistance at t_cell_k";
  Real r2_ohm(unit="Ohm") "Pack RC2 resistance at t_cell_k";
  Real r_tot_ohm(unit="Ohm") "Pack resistance at steady state: R0 + R1 + R2 at t_cell_k";
  output Real v_rc1_v(unit="V") "Voltage across RC pair 1 (pack), at steady state R1 I";
  output Real v_rc2_v(unit="V") "Voltage across RC pair 2 (pack), at steady state R2 I";
  Real alpha_cal(unit="1") "Schmalstieg calendar factor alpha (per day^0.75)";
  Real beta_cyc(unit="1") "Schmalstieg cycle factor beta (per (A.h)^0.5)";
equation
  // open-circuit voltage: piecewise-linear table, linear extrapolation outside [0, 1]
  ocv_cell_v = noEvent(if soc < 0.1 then ocv_tab_v[1] + (ocv_tab_v[2] - ocv_tab_v[1])*(soc - 0.0)/0.1
    else if soc < 0.2 then ocv_tab_v[2] + (ocv_tab_v[3] - ocv_tab_v[2])*(soc - 0.1)/0.1
    else if soc < 0.3 then ocv_tab_v[3] + (ocv_tab_v[4] - ocv_tab_v[3])*(soc - 0.2)/0.1
    else if soc < 0.4 then ocv_tab_v[4] + (ocv_tab_v[5] - ocv_tab_v[4])*(soc - 0.3)/0.1
    else if soc < 0.5 then ocv_tab_v[5] + (ocv_tab_v[6] - ocv_tab_v[5])*(soc - 0.4)/0.1
    else if soc < 0.6 then ocv_tab_v[6] + (ocv_tab_v[7] - ocv_tab_v[6])*(soc - 0.5)/0.1
    else if soc < 0.7 then ocv_tab_v[7] + (ocv_tab_v[8] - ocv_tab_v[7])*(soc - 0.6)/0.1
    else if soc < 0.8 then ocv_tab_v[8] + (ocv_tab_v[9] - ocv_tab_v[8])*(soc - 0.7)/0.1
    else if soc < 0.9 then ocv_tab_v[9] + (ocv_tab_v[10] - ocv_tab_v[9])*(soc - 0.8)/0.1
    else ocv_tab_v[10] + (ocv_tab_v[11] - ocv_tab_v[10])*(soc - 0.9)/0.1);
  ocv_pack_v = n_series*ocv_cell_v;
  // temperature-dependent resistances (Arrhenius); capacitances constant
  arr = exp(ea_r_k*(1/t_cell_k - 1/t_ref_k));
  r0_ohm = r0_ref_ohm*arr;
  r1_ohm = r1_ref_ohm*arr;
  r2_ohm = r2_ref_ohm*arr;
  // RC pairs at steady state (v_k = R_k I): P = (OCV + R_tot*I)*I, physical (large-voltage) root
  // in a cancellation-free form
  r_tot_ohm = r0_ohm + r1_ohm + r2_ohm;
  i_pack_a = 2*p_dc_w/(ocv_pack_v + sqrt(max(ocv_pack_v^2 + 4*r_tot_ohm*p_dc_w, 1e-6*ocv_pack_v^2)));
  v_pack_v = ocv_pack_v + r_tot_ohm*i_pack_a;
  i_cell_a = i_pack_a/n_parallel;
  v_cell_v = v_pack_v/n_series;
  v_rc1_v = r1_ohm*i_pack_a;
  v_rc2_v = r2_ohm*i_pack_a;
  // state of charge by coulomb counting against the present capacity
  soh = 1 - q_cal - q_cyc;
  der(soc) = i_pack_a/(3600*q_pack_ah*soh);
  // losses and lumped thermal model
  p_loss_w = r_tot_ohm*i_pack_a^2;
  c_th_j_per_k*der(t_cell_k) = p_loss_w - ua_w_per_k*(t_cell_k - t_amb_k);
  // energy meters: e_dc = e_chem + e_loss (the RC capacitors carry no current at steady state)
  der(e_dc_j) = p_dc_w;
  der(e_chem_j) = ocv_pack_v*i_pack_a;
  der(e_loss_j) = p_loss_w;
  e_rc_j = 0;
  e_capacity_j = e_nom_j*soh;
  // ageing: Schmalstieg et al. (2014), recast as state-based (time/throughput-equivalent) laws
  alpha_cal = max((7.543*ocv_cell_v - 23.75)*1e6*exp(-6976/t_cell_k), 0);
  der(q_cal) = 0.75*alpha_cal^(4/3)*max(q_cal, q_reg)^(-1/3)/86400;
  i_abs_cell_a = sqrt(i_cell_a^2 + i_eps_a^2) - i_eps_a;
  der(v2_cell_f_v2) = i_abs_cell_a/(n_fec_vrms*2*3600*q_cell_ah)*(v_cell_v^2 - v2_cell_f_v2);
  v_rms_v = sqrt(max(v2_cell_f_v2, 0));
  t_dod_s*der(soc_rate_f_per_s) = i_abs_cell_a/(3600*q_cell_ah) - soc_rate_f_per_s;
  dod = min(0.5*t_dod_s*soc_rate_f_per_s, 1);
  beta_cyc = 7.348e-3*(v_rms_v - 3.667)^2 + 7.6e-4 + 4.081e-3*dod;
  der(q_cyc) = 0.5*beta_cyc^2/max(q_cyc, q_reg)*i_abs_cell_a/3600;
  annotation(Documentation(info="<html>
<p><code>Battery</code> with its two RC pairs at steady state: v_rc_k = R_k(T) I, so the pack
behaves as OCV(SOC) behind R_tot = R0 + R1 + R2 (all Arrhenius-scaled) and the current follows in
closed form from P = (OCV + R_tot I) I, I = 2P / (OCV + sqrt(OCV^2 + 4 R_tot P)). Valid for steps
much longer than the RC time constants (tau1 = 20 s, tau2 = 400 s at 25 degC). The capacitances
carry no current at steady state, so they store no energy in the balance: e_rc_j = 0 and
e_dc = e_chem + e_loss (an exact linear invariant of the states, kept to round-off by the
integrator); the losses are R_tot I^2. What the steady state leaves out is the polarisation
transient after a change of current (about R_k tau_k (I_new - I_old) volt-seconds per pair), which
changes the current drawn for a given power: measured against <code>Battery</code> in
<code>models/README.md</code> (section on <code>EVQuasiStatic</code>). Everything else (OCV
table, SOC, thermal model, ageing laws, parameters and their sources) is that of
<code>Battery</code>; the RC parameters (r1/r2_cell_ohm, tau1_s, tau2_s) keep their meaning and
only R1, R2 enter. Stand-alone version; <code>BatteryPackQuasiStatic</code> has a
<code>DCPort</code>.</p>
</html>"));
end BatteryQuasiStatic;
