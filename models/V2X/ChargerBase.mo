within V2X;
partial model ChargerBase "Common part of the bidirectional chargers: setpoints, grid support (Q(U), P(f)), P/Q capability, losses"
  // ---------------- ratings ----------------
  parameter Real s_rated_va(unit="VA", min=0) = 11000 "Rated apparent power (AC side; 16 A three-phase Mode-3 charging point, see documentation)";
  parameter Real p_rated_w(unit="W", min=0) = 11000 "Rated active power (charge and discharge, AC side; see documentation)";
  parameter Real v_nom_ll_v(unit="V", min=0) = 400 "Nominal line-to-line AC voltage (three-phase, 230/400 V LV grid)";
  parameter Real i_max_a(unit="A", min=0) = 16 "AC phase current limit (rms; 16 A three-phase charging point)";
  parameter Real f_nom_hz(unit="Hz", min=0) = 50 "Nominal grid frequency (EN 50160)";
  // ---------------- response of the reduced model ----------------
  parameter Real tau_p_s(unit="s", min=1) = 1 "Time constant of the active power response (ChargerReduced; unused by ChargerDetailed; assumption, see documentation)";
  parameter Real tau_q_s(unit="s", min=1) = 1 "Time constant of the reactive power response (ChargerReduced; unused by ChargerDetailed; assumption, see documentation)";
  // ---------------- losses: p_loss = s_rated*(l0*tanh(s/s_idle) + l1*s/s_rated + l2*(s/s_rated)^2) ----------------
  parameter Real loss_0(unit="1", min=0) = 0.005 "No-load loss per unit of s_rated (assumption)";
  parameter Real loss_1(unit="1", min=0) = 0.02 "Loss coefficient linear in apparent power, per unit (assumption)";
  parameter Real loss_2(unit="1", min=0) = 0.02 "Loss coefficient quadratic in apparent power, per unit (assumption)";
  parameter Real s_idle_pu(unit="1", min=0) = 0.01 "Apparent power (per unit) below which the converter idles and the no-load loss fades out";
  // ---------------- grid support ----------------
  parameter Real enable_qu(unit="1", min=0, max=1) = 0 "Q(U) volt-var characteristic: 1 = on, 0 = off (Real switch)";
  parameter Real enable_pf(unit="1", min=0, max=1) = 0 "P(f) droop: 1 = on, 0 = off (Real switch)";
  parameter Real qu_v1_pu(unit="1") = 0.92 "Q(U): below this voltage, full injection (-q_qu_max)";
  parameter Real qu_v2_pu(unit="1") = 0.97 "Q(U): lower end of the dead band";
  parameter Real qu_v3_pu(unit="1") = 1.03 "Q(U): upper end of the dead band";
  parameter Real qu_v4_pu(unit="1") = 1.08 "Q(U): above this voltage, full absorption (+q_qu_max)";
  parameter Real qu_q_max_pu(unit="1", min=0, max=1) = 0.436 "Q(U): maximum reactive power per unit of s_rated (cos phi = 0.9)";
  parameter Real pf_f_high_hz(unit="Hz") = 50.2 "P(f): over-frequency threshold (LFSM-O)";
  parameter Real pf_f_low_hz(unit="Hz") = 49.8 "P(f): under-frequency threshold (LFSM-U)";
  parameter Real pf_droop(unit="1", min=0) = 0.05 "P(f): droop (per-unit frequency change for a change of p_rated_w)";
  // ---------------- inputs ----------------
  input Real p_set_w(unit="W", start=0) "Active power setpoint, AC side (positive = drawn from the grid = charging)";
  input Real q_set_var(unit="var", start=0) "Reactive power setpoint (positive = absorbed)";
  input Real vm_pu(unit="1", start=1, min=0) "Terminal voltage magnitude (per unit of v_nom_ll_v)";
  input Real f_hz(unit="Hz", start=50, min=0) "Grid frequency";
  input Real v_dc_v(unit="V", start=360, min=0) "DC (battery) voltage";
  input Real p_lim_charge_w(unit="W", start=1e9, min=0) "External (BMS) limit of the charging power, AC side, >= 0";
  input Real p_lim_discharge_w(unit="W", start=1e9, min=0) "External (BMS) limit of the discharging power, AC side, >= 0";
  // ---------------- outputs ----------------
  output Real p_ac_w(unit="W") "Active power drawn from the grid";
  output Real q_ac_var(unit="var") "Reactive power absorbed from the grid";
  output Real p_dc_w(unit="W") "Power delivered to the battery (positive = charging)";
  output Real i_dc_a(unit="A") "Current delivered to the battery (positive = charging)";
  output Real p_loss_w(unit="W") "Charger losses at the present operating point";
  output Real eta(unit="1") "Efficiency: output power / input power (0 when idle)";
  output Real p_max_charge_w(unit="W") "Available charging power now (AC side)";
  output Real p_max_discharge_w(unit="W") "Available discharging power now (AC side, >= 0)";
  output Real p_ref_w(unit="W") "Limited active power reference (incl. P(f))";
  output Real q_ref_var(unit="var") "Limited reactive power reference (incl. Q(U))";
  output Real e_store_j(unit="J") "Energy stored in the charger's reactive elements (0 in the reduced model)";
  // ---------------- internal ----------------
  Real s_lim_va(unit="VA") "Apparent power limit at the present voltage (rating and current limit)";
  Real dp_pf_w(unit="W") "P(f) contribution";
  Real dq_qu_var(unit="var") "Q(U) contribution";
  Real p_cmd_w(unit="W") "Setpoint plus P(f)";
  Real q_cmd_var(unit="var") "Setpoint plus Q(U)";
  Real q_avail_var(unit="var") "Reactive power available after active power (P priority)";
  Real s_ac_va(unit="VA") "Apparent power at the AC terminals";
  Real s_ref_va(unit="VA") "Apparent power of the references";
  Real p_loss_ref_w(unit="W") "Losses at the reference operating point";
  Real q_cmd_lim_var(unit="var") "Magnitude of the reactive power command limited to s_lim (for p_floor_w)";
  Real floor_share(unit="1") "Share of the reactive-only losses drawn from the grid: the BMS discharge derating";
  Real s_q0_va(unit="VA") "Apparent power of reactive-only operation at the Q command limited to s_lim (for p_floor_w)";
  Real p_floor0_w(unit="W") "First estimate of p_floor_w: the losses of reactive-only operation";
  Real s_q_va(unit="VA") "Apparent power at P = p_floor0_w and the limited Q command (for p_floor_w)";
  Real p_floor_w(unit="W") "Raise of the lower P limit by the reactive-only losses, in proportion to the BMS discharge derating";
equation
  s_lim_va = min(s_rated_va, sqrt(3)*v_nom_ll_v*max(vm_pu, 0)*i_max_a);
  // P(f): load convention - over-frequency raises consumption, under-frequency lowers it
  dp_pf_w = enable_pf*p_rated_w*(max(f_hz - pf_f_high_hz, 0) + min(f_hz - pf_f_low_hz, 0))/(f_nom_hz*pf_droop);
  // Q(U): absorb at high voltage, inject at low voltage, linear ramps, dead band in between
  dq_qu_var = enable_qu*qu_q_max_pu*s_rated_va*(min(max((vm_pu - qu_v3_pu)/(qu_v4_pu - qu_v3_pu), 0), 1)
    - min(max((qu_v2_pu - vm_pu)/(qu_v2_pu - qu_v1_pu), 0), 1));
  p_cmd_w = p_set_w + dp_pf_w;
  q_cmd_var = q_set_var + dq_qu_var;
  // capability: rating, current limit, BMS limits; P priority, Q limited to sqrt(S^2 - P^2)
  p_max_charge_w = max(min(min(p_rated_w, s_lim_va), p_lim_charge_w), 0);
  p_max_discharge_w = max(min(min(p_rated_w, s_lim_va), p_lim_discharge_w), 0);
  // when the battery may not discharge, the losses of reactive-only operation are drawn from the
  // grid: p_floor solves p = losses(S(p, Q)); one fixed-point step from the losses at P = 0 leaves
  // an error of about 1e-4 of the second term (S as in s_ac_va, with its 1 VA regularisation)
  q_cmd_lim_var = min(abs(q_cmd_var), s_lim_va);
  floor_share = 1 - p_max_discharge_w/max(min(p_rated_w, s_lim_va), 1);
  s_q0_va = sqrt(q_cmd_lim_var^2 + 1) - 1;
  p_floor0_w = floor_share*s_rated_va*(loss_0*tanh(s_q0_va/(s_idle_pu*s_rated_va))
    + loss_1*s_q0_va/s_rated_va + loss_2*(s_q0_va/s_rated_va)^2);
  s_q_va = sqrt(p_floor0_w^2 + q_cmd_lim_var^2 + 1) - 1;
  p_floor_w = floor_share*s_rated_va*(loss_0*tanh(s_q_va/(s_idle_pu*s_rated_va))
    + loss_1*s_q_va/s_rated_va + loss_2*(s_q_va/s_rated_va)^2);
  p_ref_w = min(max(p_cmd_w, -p_max_discharge_w + p_floor_w), p_max_charge_w);
  q_avail_var = sqrt(max(s_lim_va^2 - p_ref_w^2, 0) + 1) - 1;
  q_ref_var = min(max(q_cmd_var, -q_avail_var), q_avail_var);
  // losses (same function for the actual and the reference operating point)
  s_ac_va = sqrt(p_ac_w^2 + q_ac_var^2 + 1) - 1;
  s_ref_va = sqrt(p_ref_w^2 + q_ref_var^2 + 1) - 1;
  p_loss_w = s_rated_va*(loss_0*tanh(s_ac_va/(s_idle_pu*s_rated_va)) + loss_1*s_ac_va/s_rated_va + loss_2*(s_ac_va/s_rated_va)^2);
  p_loss_ref_w = s_rated_va*(loss_0*tanh(s_ref_va/(s_idle_pu*s_rated_va)) + loss_1*s_ref_va/s_rated_va + loss_2*(s_ref_va/s_rated_va)^2);
  eta = min(abs(p_ac_w), abs(p_dc_w))/max(max(abs(p_ac_w), abs(p_dc_w)), 1);
  i_dc_a = p_dc_w/max(v_dc_v, 1);
  annotation(Documentation(info="<html>
<p>Partial base of <code>ChargerReduced</code> and <code>ChargerDetailed</code>: everything that
determines the steady state is here, so both chargers have the same steady state.</p>
<h4>Ratings and response (sources)</h4>
<ul>
<li>s_rated_va = p_rated_w = 11 kVA / 11 kW, v_nom_ll_v = 400 V, i_max_a = 16 A: a three-phase
16 A Mode-3 AC charging point (IEC 61851-1) with a Type 2 connector (IEC 62196-2) on the
230/400 V low-voltage grid (IEC 60038): sqrt(3) x 400 V x 16 A = 11.09 kVA, rated as 11 kVA.
The same rating is used for charging and discharging and at unity power factor (p_rated = s_rated),
an <b>assumption</b> for a bidirectional wallbox of this class.</li>
<li>f_nom_hz = 50 Hz: nominal frequency of the European interconnected grids (EN 50160).</li>
<li>tau_p_s = tau_q_s = 1 s (used by <code>ChargerReduced</code> only): <b>assumption</b>. The
power response of a setpoint-controlled wallbox is on the order of seconds (set by communication
and ramp limits, not by the power electronics); the reduced model requires tau &gt;= 1 s, and the
default is the smallest value the model admits.</li>
</ul>
<h4>Setpoints and grid support</h4>
<ul>
<li>P(f) (<code>enable_pf</code> = 1): dP = p_rated (max(f - 50.2, 0) + min(f - 49.8, 0)) /
(f_nom droop), droop 5 %: at 50.7 Hz the EV draws 20 % of p_rated more (or feeds in less); below
49.8 Hz it draws less / feeds in more. Added to the setpoint. Thresholds and droop are the
default LFSM-O/LFSM-U settings of EN 50549-1 (50.2 Hz, 5 %; adjustable 2-12 %) applied in load
convention - an <b>assumption</b>: the settings required by the Italian connection rule
CEI 0-21 were not available to the project.</li>
<li>Q(U) (<code>enable_qu</code> = 1): piecewise-linear volt-var characteristic, full injection
(-0.436 s_rated, cos phi 0.9) at or below 0.92 p.u., dead band 0.97-1.03 p.u., full absorption at
or above 1.08 p.u. Added to the setpoint. These breakpoints are an <b>assumption</b> in the style of
EN 50549-1 / CEI 0-21 characteristic curves (EN 50160 limits +-10 %; no authoritative settings
found).</li>
</ul>
<h4>Limits (no events: min/max)</h4>
<p>S_lim = min(s_rated, sqrt(3) v_nom vm_pu i_max) (rated apparent power and current limit: 16 A per
phase gives 11.09 kVA at 400 V); P limited to min(p_rated, S_lim, BMS limit) in each direction
(P priority). When the BMS derates discharging (p_max_discharge below its rating), the lower P limit
is raised by the same fraction of the charger's losses at the reactive power commanded, so that at
soc_min a charger still exchanging reactive power draws its losses from the grid instead of the
battery (otherwise Q(U) would drain the battery below soc_min at ~100 W). Those losses depend on
the active power that covers them: the floor is the losses of reactive-only operation refined by
one fixed-point step, which leaves about 2e-4 W of the ~160 W at 4 kvar to the battery (a week at
soc_min moves the SOC by 5e-7, tested). Q limited to +-sqrt(S_lim^2 - P_ref^2) (a 1 VA regularisation keeps the square root
differentiable at zero: error below 1 var).</p>
<h4>Losses</h4>
<p>p_loss = s_rated (l0 tanh(s/(0.01 s_rated)) + l1 s/s_rated + l2 (s/s_rated)^2) with s the
apparent power at the AC terminals (losses follow the current, so reactive power costs losses
too). <b>Assumed</b> l0 = 0.5 %, l1 = 2 %, l2 = 2 %: efficiency 95.5 % at rated power, 96.0 % at
half power, 92.8 % at 10 % power - in the range published for 11 kW bidirectional wallboxes
(peak efficiencies of about 96-97 %, lower at part load); no authoritative curve was collected.
The no-load loss fades out (tanh) below about 1 % of s_rated: an idle charger at zero setpoint
switches its converter off and draws nothing (standby consumption is not modelled).
Losses are supplied by the grid when charging and by the battery when discharging:
p_dc = p_ac - p_loss in steady state.</p>
<p>Efficiency output: min(|p_ac|, |p_dc|) / max(|p_ac|, |p_dc|, 1 W).</p>
</html>"));
end ChargerBase;
