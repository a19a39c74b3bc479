within V2X;
model Battery "Li-ion NMC pack: 2-RC Thevenin ECM, Arrhenius resistance, lumped thermal model, Schmalstieg capacity fade"
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
  Real v_rc1_v(unit="V", nominal=1, start=0, fixed=true) "Voltage across RC pair 1 (pack)";
  Real v_rc2_v(unit="V", nominal=1, start=0, fixed=true) "Voltage across RC pair 2 (pack)";
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
  Real e_int_v(unit="V") "Internal voltage OCV + v_rc1 + v_rc2";
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
  // current from power: P = (E + R0*I)*I, physical (large-voltage) root in a cancellation-free form
  e_int_v = ocv_pack_v + v_rc1_v + v_rc2_v;
  i_pack_a = 2*p_dc_w/(e_int_v + sqrt(max(e_int_v^2 + 4*r0_ohm*p_dc_w, 1e-6*e_int_v^2)));
  v_pack_v = e_int_v + r0_ohm*i_pack_a;
  i_cell_a = i_pack_a/n_parallel;
  v_cell_v = v_pack_v/n_series;
  // RC pairs
  c1_f*der(v_rc1_v) = i_pack_a - v_rc1_v/r1_ohm;
  c2_f*der(v_rc2_v) = i_pack_a - v_rc2_v/r2_ohm;
  // state of charge by coulomb counting against the present capacity
  soh = 1 - q_cal - q_cyc;
  der(soc) = i_pack_a/(3600*q_pack_ah*soh);
  // losses and lumped thermal model
  p_loss_w = r0_ohm*i_pack_a^2 + v_rc1_v^2/r1_ohm + v_rc2_v^2/r2_ohm;
  c_th_j_per_k*der(t_cell_k) = p_loss_w - ua_w_per_k*(t_cell_k - t_amb_k);
  // energy meters: e_dc = e_chem + (e_rc - e_rc_start) + e_loss
  der(e_dc_j) = p_dc_w;
  der(e_chem_j) = ocv_pack_v*i_pack_a;
  der(e_loss_j) = p_loss_w;
  e_rc_j = 0.5*c1_f*v_rc1_v^2 + 0.5*c2_f*v_rc2_v^2;
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
<h4>Purpose</h4>
<p>Electric-vehicle traction battery pack for system studies from seconds to years: electrical
equivalent circuit, temperature, state of charge, capacity fade. Input: DC power at the pack
terminals <code>p_dc_w</code> (W, positive = charging) and ambient temperature
<code>t_amb_k</code> (K). Stand-alone (FMU-exportable) version; <code>BatteryPack</code> is the same
model with a <code>DCPort</code> for use inside <code>EV</code>.</p>

<h4>Cell and pack (sources)</h4>
<ul>
<li>Cell: Sanyo UR18650E, NMC, 2.05 Ah nominal, 3.6 V nominal - the cell of Schmalstieg et al.,
J. Power Sources 257 (2014) 325-334, doi:10.1016/j.jpowsour.2014.02.012, so that the OCV table
and the ageing law describe the same cell.</li>
<li>OCV at SOC 0, 0.1, ..., 1: 3.331, 3.491, 3.581, 3.627, 3.655, 3.697, 3.775, 3.869, 3.965, 4.073,
4.162 V. Source: the OCV curve of the Sanyo UR18650E in Schmalstieg et al. (2014, above), Fig. 1;
the values at 0 and 10 % SOC from Ecker et al., J. Power Sources 248 (2014) 839-851,
doi:10.1016/j.jpowsour.2013.09.143; as digitised in NREL's BLAST-Lite (model
nmc111_gr_Sanyo2Ah_2014, BSD-3-Clause) and resampled here at 10 % SOC steps by linear
interpolation. In the model the table is interpolated piecewise-linearly, written as nested
<code>noEvent(if ...)</code>; outside [0, 1] the end segments are extrapolated linearly (the EV's
BMS keeps SOC inside [soc_min, soc_max]).</li>
<li>Pack (<b>assumption</b>, chosen to resemble a typical mid-size EV pack): 96s x 80p = 7680
cells; 164 Ah; OCV 320-400 V; nominal energy = cells x 2.05 Ah x mean OCV (3.748 V, trapezoid
over the table) = 59.0 kWh. For comparison (manufacturer specifications): VW ID.3 58 kWh, up to
408 V; first-generation Nissan Leaf 24 kWh, 96 cells in series, 360 V. At 11 kW the pack current
is about 30 A (0.18 C).</li>
</ul>

<h4>Equivalent circuit</h4>
<p>v_pack = OCV_pack(SOC) + R0(T) I + v_rc1 + v_rc2, C_k dv_rck/dt = I - v_rck/R_k(T). Cell values
at 25 degC are <b>assumptions</b> (no published measured RC-pair values for EV cells were found):
R0 = 50 mOhm (typical DC resistance of a 2 Ah 18650 energy cell), R1 = 15 mOhm with tau1 = 20 s
(charge transfer / double layer), R2 = 20 mOhm with tau2 = 400 s (diffusion). Pack values scale by
n_series/n_parallel (R) and n_parallel/n_series (C). All resistances follow the Arrhenius law
R(T) = R(T_ref) exp(Ea/R (1/T - 1/T_ref)) with Ea/R = 2800 K (assumption: about 23 kJ/mol,
within the 20-35 kJ/mol usually reported for electrolyte and charge-transfer resistance; it gives
a factor 2.4 at 0 degC). The capacitances are kept constant, so the time constants shorten when
the cell warms; this keeps the energy balance exact.</p>
<p>The current follows from the power: P = (E + R0 I) I with E = OCV + v_rc1 + v_rc2. The physical
root (terminal voltage on the large-voltage branch) is written without cancellation as
I = 2P / (E + sqrt(E^2 + 4 R0 P)); no Newton iteration is needed. The discriminant is floored at
1e-6 E^2: valid for P > -E^2/(4 R0) (about -600 kW for the default pack), far beyond any charger.</p>

<h4>State of charge</h4>
<p>Coulomb counting against the present capacity: dSOC/dt = I / (3600 Q_pack_Ah SOH). SOC is a
fraction of the present (faded) capacity; at SOH close to 1 the SOC change is I t / Q.</p>

<h4>Thermal model</h4>
<p>One lumped node: C_th dT/dt = p_loss - UA (T - T_amb). C_th = 7680 x 46.5 g x 1000 J/(kg K)
= 357 kJ/K (cells only; cell mass and specific heat are assumptions typical of 18650 cells, 45-48 g,
0.8-1.1 kJ/(kg K); add housing with c_th_extra_j_per_k). UA = 15 W/K (assumption: passively cooled
pack, thermal time constant about 6.6 h). No heating or cooling system and no reversible heat.</p>

<h4>Losses and energy meters</h4>
<p>p_loss = R0 I^2 + v_rc1^2/R1 + v_rc2^2/R2. Meters (states, start 0): e_dc_j = int p_dc,
e_chem_j = int OCV_pack I, e_loss_j = int p_loss; e_rc_j = C1 v_rc1^2/2 + C2 v_rc2^2/2 (output).
Because v_pack I = OCV I + R0 I^2 + sum_k (d/dt(C_k v_k^2/2) + v_k^2/R_k), the identity
e_dc = e_chem + (e_rc - e_rc(0)) + e_loss holds exactly (to integration accuracy); e_rc(0) = 0.</p>

<h4>Capacity fade (Schmalstieg et al. 2014)</h4>
<p>Source of the laws and of all their coefficients: Schmalstieg et al., J. Power Sources 257
(2014) 325-334, doi:10.1016/j.jpowsour.2014.02.012 (same cell as the OCV table).
The paper's laws (capacity as fraction of nominal): calendar loss alpha t^0.75 with t in days
and alpha = (7.543 V - 23.75) 10^6 exp(-6976/T) (V = storage voltage, T in K); cycle loss
beta Q^0.5 with Q the cell charge throughput in Ah and
beta = 7.348e-3 (V_rms - 3.667)^2 + 7.6e-4 + 4.081e-3 DOD (fitted near 1C and 35 degC).
SOH = 1 - q_cal - q_cyc.</p>
<p><b>Recasting as differential laws.</b> Under varying conditions the laws are applied in
state-based (equivalent time / equivalent throughput) form: the loss grows from its present
value at the rate the closed-form law would have at the age that produces the present loss under
the present conditions:</p>
<ul>
<li>calendar: q = alpha t^0.75 gives t_eq = (q/alpha)^(4/3) and
dq_cal/dt = 0.75 alpha^(4/3) q_cal^(-1/3) / 86400 (per second), with V = cell OCV (equal to the
storage voltage at rest) and T = t_cell_k;</li>
<li>cycle: q = beta Q^0.5 gives dq_cyc/dQ = 0.5 beta^2/q_cyc, i.e.
dq_cyc/dt = 0.5 beta^2 / q_cyc |I_cell| / 3600.</li>
</ul>
<p>Under constant conditions these reproduce the closed forms exactly. Regularisation at zero:
both laws are singular at q = 0, so the states start at q_cal_start = q_cyc_start = 1e-4 (0.01 %),
which corresponds to an equivalent storage age of (1e-4/alpha)^(4/3) (about 0.2 days at 3.8 V,
25 degC) and an equivalent throughput (1e-4/beta)^2 (about 0.01 Ah per cell): negligible. The
denominators are additionally floored at q_reg = 1e-5 so a user setting a start of 0 gets a
bounded rate. For an already aged vehicle set q_cal_start / q_cyc_start to its known losses.</p>
<p><b>Per-cycle quantities replaced by filtered proxies.</b> The paper defines V_rms and DOD per
(constant-current) cycle. Here:</p>
<ul>
<li>V_rms^2 proxy: a low-pass of v_cell^2 weighted by charge throughput,
dx/dt = |I_cell| / (n_fec 2 Q_cell) (v_cell^2 - x), window n_fec = 1 full equivalent cycle
(2 Q_cell of throughput; one cycle, matching the paper's per-cycle definition). At constant
current this is a moving RMS over the last cycle; at rest it holds its value (no cycle ageing
accrues at rest anyway).</li>
<li>DOD proxy: r = low-pass (time constant t_dod) of |dSOC/dt| = |I_cell|/Q_cell,
DOD = min(0.5 t_dod r, 1). t_dod = 1 day is an <b>assumption</b>: the window is one cycle
period, and an EV is typically driven and recharged about once a day. For periodic cycling with
one cycle per window (charge + discharge throughput 2 DOD per day), this equals the cycle DOD
exactly in periodic steady state. Several shallow cycles per day are counted as one deeper cycle
(conservative); fewer than one cycle per day underestimates DOD.</li>
</ul>
<p><b>Start values of the proxies (assumptions).</b> The proxies are filter states, so they need
initial values: dod_start = 0.3 and v_rms_start_v = 3.7 V describe a typical mid-range operating
point (a moderate daily swing of 30 % SOC; 3.7 V is about the cell OCV at mid SOC, 3.697 V at
50 %, consistent with soc_start = 0.5). They are not measured values and only affect the first
part of a run: the DOD proxy starts at r = 2 dod_start/t_dod and decays with the filter time
constant t_dod (to 1/e of its start after one day without cycling), and the V_rms proxy is
replaced by the actual cell voltage within about one full equivalent cycle of throughput. Set
them to the vehicle's recent usage when it is known.</p>
<p>Validity: the fit covers 1C cycling at 35 degC (cycle law has no temperature dependence here)
and storage at 35-50 degC and 3.3-4.2 V; extrapolation to 25 degC and to EV currents (0.05-1C)
follows the paper's functional form (as NREL BLAST-Lite does). alpha is floored at 0 (the fit
becomes negative below 3.149 V, outside the OCV range). Resistance growth is not modelled.</p>

<h4>Parameters set per vehicle</h4>
<p>n_series, n_parallel, soc_start, t_start_k, q_cal_start, q_cyc_start, dod_start,
v_rms_start_v.</p>
</html>"));
end Battery;
