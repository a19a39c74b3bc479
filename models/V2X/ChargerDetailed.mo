within V2X;
model ChargerDetailed "Bidirectional charger, averaged: dq-frame AC/DC with L filter and PI loops, DC link, DC/DC with current loop (for studies of seconds)"
  extends V2X.ChargerBase;
  // ---------------- AC/DC stage ----------------
  parameter Real l_f_h(unit="H", min=0) = 3e-3 "AC filter inductance per phase (assumption)";
  parameter Real r_f_ohm(unit="Ohm", min=0) = 0.05 "AC filter resistance per phase (assumption)";
  parameter Real tau_i_s(unit="s", min=0) = 1e-3 "Closed-loop time constant of the dq current loops (design assumption, see documentation)";
  parameter Real c_dc_f(unit="F", min=0) = 5e-4 "DC-link capacitance (assumption)";
  parameter Real v_link_ref_v(unit="V", min=0) = 750 "DC-link voltage reference (assumption: above the AC line-to-line peak, see documentation)";
  parameter Real tau_v_s(unit="s", min=0) = 0.02 "Crossover time constant (1/bandwidth) of the DC-link voltage loop (design assumption, see documentation)";
  // ---------------- DC/DC stage ----------------
  parameter Real l_dc_h(unit="H", min=0) = 1e-3 "DC/DC inductance (assumption)";
  parameter Real r_dc_ohm(unit="Ohm", min=0) = 0.02 "DC/DC inductor resistance (assumption)";
  parameter Real tau_l_s(unit="s", min=0) = 1e-3 "Closed-loop time constant of the inductor current loop (design assumption, see documentation)";
  // ---------------- dependent: controller gains ----------------
  parameter Real v_d_nom_v(unit="V") = v_nom_ll_v*sqrt(2/3) "Nominal phase voltage amplitude (d axis)";
  parameter Real kp_i_v_per_a(unit="V/A") = l_f_h/tau_i_s "Current loop proportional gain";
  parameter Real ki_i_v_per_as(unit="V/(A.s)") = r_f_ohm/tau_i_s "Current loop integral gain";
  parameter Real kp_v_a_per_v(unit="A/V") = c_dc_f*v_link_ref_v/(1.5*v_d_nom_v*tau_v_s) "DC-link voltage loop proportional gain";
  parameter Real ki_v_a_per_vs(unit="A/(V.s)") = kp_v_a_per_v/(4*tau_v_s) "DC-link voltage loop integral gain";
  parameter Real kp_l_v_per_a(unit="V/A") = l_dc_h/tau_l_s "DC/DC current loop proportional gain";
  parameter Real ki_l_v_per_as(unit="V/(A.s)") = r_dc_ohm/tau_l_s "DC/DC current loop integral gain";
  // ---------------- states ----------------
  Real i_d_a(unit="A", nominal=10, start=0, fixed=true) "d-axis grid current (amplitude-invariant, drawn from the grid)";
  Real i_q_a(unit="A", nominal=10, start=0, fixed=true) "q-axis grid current";
  Real x_id_v(unit="V", nominal=100, start=0, fixed=true) "Integrator of the d-axis current loop";
  Real x_iq_v(unit="V", nominal=100, start=0, fixed=true) "Integrator of the q-axis current loop";
  output Real v_link_v(unit="V", nominal=750, start=v_link_ref_v, fixed=true) "DC-link voltage";
  Real x_v_a(unit="A", nominal=10, start=0, fixed=true) "Integrator of the DC-link voltage loop";
  Real i_l_a(unit="A", nominal=10, start=0, fixed=true) "DC/DC inductor current (positive = charging)";
  Real x_l_v(unit="V", nominal=100, start=0, fixed=true) "Integrator of the DC/DC current loop";
  // ---------------- algebraic ----------------
  Real v_d_v(unit="V") "d-axis grid voltage (voltage-oriented frame, ideal PLL)";
  Real omega_rad_s(unit="rad/s") "Grid angular frequency";
  Real i_d_ref_a(unit="A") "d-axis current reference";
  Real i_q_ref_a(unit="A") "q-axis current reference";
  Real u_d_v(unit="V") "d-axis current controller output";
  Real u_q_v(unit="V") "q-axis current controller output";
  Real e_d_v(unit="V") "d-axis converter voltage";
  Real e_q_v(unit="V") "q-axis converter voltage";
  Real p_conv_w(unit="W") "Power from the AC/DC converter into the DC link";
  Real p_dcdc_ref_w(unit="W") "DC power reference of the DC/DC stage";
  Real i_l_ref_a(unit="A") "Inductor current reference";
  Real u_l_v(unit="V") "DC/DC current controller output (voltage across the inductor branch)";
  Real p_dcdc_in_w(unit="W") "Power from the DC link into the DC/DC stage";
  Real p_extra_w(unit="W") "Lumped switching/conduction losses drawn from the DC link";
  output Real duty(unit="1") "DC/DC duty cycle (averaged)";
equation
  v_d_v = vm_pu*v_nom_ll_v*sqrt(2/3);
  omega_rad_s = 2*3.14159265358979*f_hz;
  // outer DC-link voltage loop with power feed-forward; reactive current from the Q reference
  i_d_ref_a = p_ref_w/(1.5*max(v_d_v, 1)) + kp_v_a_per_v*(v_link_ref_v - v_link_v) + x_v_a;
  der(x_v_a) = ki_v_a_per_vs*(v_link_ref_v - v_link_v);
  i_q_ref_a = -q_ref_var/(1.5*max(v_d_v, 1));
  // inner dq current loops with decoupling and voltage feed-forward
  u_d_v = kp_i_v_per_a*(i_d_ref_a - i_d_a) + x_id_v;
  u_q_v = kp_i_v_per_a*(i_q_ref_a - i_q_a) + x_iq_v;
  der(x_id_v) = ki_i_v_per_as*(i_d_ref_a - i_d_a);
  der(x_iq_v) = ki_i_v_per_as*(i_q_ref_a - i_q_a);
  e_d_v = v_d_v + omega_rad_s*l_f_h*i_q_a - u_d_v;
  e_q_v = -omega_rad_s*l_f_h*i_d_a - u_q_v;
  // L filter in the synchronous frame (v_q = 0)
  l_f_h*der(i_d_a) = v_d_v - r_f_ohm*i_d_a - e_d_v + omega_rad_s*l_f_h*i_q_a;
  l_f_h*der(i_q_a) = -r_f_ohm*i_q_a - e_q_v - omega_rad_s*l_f_h*i_d_a;
  p_conv_w = 1.5*(e_d_v*i_d_a + e_q_v*i_q_a);
  p_ac_w = 1.5*v_d_v*i_d_a;
  q_ac_var = -1.5*v_d_v*i_q_a;
  // DC/DC stage: power control through the inductor current loop
  p_dcdc_ref_w = p_ref_w - p_loss_ref_w;
  i_l_ref_a = p_dcdc_ref_w/max(v_dc_v, 1);
  u_l_v = kp_l_v_per_a*(i_l_ref_a - i_l_a) + x_l_v;
  der(x_l_v) = ki_l_v_per_as*(i_l_ref_a - i_l_a);
  l_dc_h*der(i_l_a) = u_l_v - r_dc_ohm*i_l_a;
  duty = (v_dc_v + u_l_v)/max(v_link_v, 1);
  p_dcdc_in_w = (v_dc_v + u_l_v)*i_l_a;
  p_dc_w = v_dc_v*i_l_a;
  // DC link: the lumped losses make the total equal to the loss model of ChargerBase
  p_extra_w = p_loss_w - 1.5*r_f_ohm*(i_d_a^2 + i_q_a^2) - r_dc_ohm*i_l_a^2;
  c_dc_f*v_link_v*der(v_link_v) = p_conv_w - p_dcdc_in_w - p_extra_w;
  e_store_j = 0.75*l_f_h*(i_d_a^2 + i_q_a^2) + 0.5*c_dc_f*v_link_v^2 + 0.5*l_dc_h*i_l_a^2;
  annotation(Documentation(info="<html>
<p>Averaged (switching-cycle mean) model of a three-phase bidirectional wallbox for studies of
seconds. Stiff (millisecond time constants); meant for an implicit integrator.</p>
<h4>Structure</h4>
<ul>
<li>Grid-side AC/DC converter in the synchronous dq frame, voltage-oriented (ideal PLL: v_q = 0,
v_d = sqrt(2/3) vm_pu v_nom_ll, amplitude-invariant transform, p = 1.5 v_d i_d,
q = -1.5 v_d i_q in load convention). L filter per phase (3 mH, 50 mOhm: assumption typical of
11 kW converters at 400 V). Inner PI current loops with decoupling (omega L) and grid-voltage
feed-forward; Kp = L/tau_i, Ki = R/tau_i (pole-zero cancellation, closed loop first order with
tau_i = 1 ms).</li>
<li>DC link: capacitor 500 uF at 750 V (assumption), C v dv/dt = p_conv - p_dcdc_in - p_extra.
Outer PI voltage loop producing the d-current reference on top of the power feed-forward
p_ref/(1.5 v_d); Kp = C V_ref/(1.5 v_d tau_v) (crossover at 1/tau_v = 50 rad/s), Ki = Kp/(4 tau_v).</li>
<li>DC/DC stage (bidirectional buck/boost, averaged): L_dc di/dt = d v_link - v_batt - R_dc i
with an inductor current PI loop (Kp = L_dc/tau_l, Ki = R_dc/tau_l, tau_l = 1 ms) and battery
voltage feed-forward; current reference = DC power reference / v_batt. The DC power reference is
p_ref - p_loss(p_ref, q_ref), so the AC power settles at p_ref.</li>
</ul>
<h4>Control tuning and DC-link voltage (sources)</h4>
<ul>
<li>tau_i_s = tau_l_s = 1 ms (current loops) and tau_v_s = 20 ms (DC-link voltage loop) are
<b>design assumptions</b> of the averaged-model control tuning, not data of a product. They
follow the standard design rule for cascaded loops: the closed-loop time constants are chosen at
least a decade apart, inner current loops fastest and the outer DC-link voltage loop slower, so
that the loops decouple and the outer loop can treat the inner ones as ideal (see Yazdani and
Iravani, Voltage-Sourced Converters in Power Systems, Wiley 2010). Here tau_v = 20 tau_i; the
DC/DC current loop is as fast as the AC current loops, so the voltage loop sees both as ideal.
A 1 ms current loop (bandwidth 1000 rad/s, about 160 Hz) stays far below the switching
frequencies (kHz) for which an averaged model is valid.</li>
<li>v_link_ref_v = 750 V is an <b>assumption</b> tied to the AC peak voltage: a two-level
three-phase converter can only impose the grid voltage when the DC link exceeds the line-to-line
peak, sqrt(2) x 400 V = 566 V (622 V at +10 % voltage, the EN 50160 limit); with sinusoidal PWM
without third-harmonic injection it needs 2 sqrt(2/3) x 400 V = 653 V (718 V at +10 %). 750 V
covers both with a margin for the filter voltage drop, and stays above the battery voltage
(at most about 400 V), so the DC/DC duty cycle stays below 1.</li>
</ul>
<h4>Losses and steady state</h4>
<p>The resistive losses of the two inductors are explicit; the rest of the loss model of
<code>ChargerBase</code> (evaluated at the actual AC apparent power) is drawn from the DC link as
p_extra. The total dissipation therefore equals the <code>ChargerBase</code> loss model at every
instant, and the steady state (p_ac = p_ref, q_ac = q_ref, p_dc = p_ref - p_loss) is the same as
<code>ChargerReduced</code>'s. Energy: p_ac - p_dc - p_loss = d(e_store_j)/dt exactly, with
e_store_j = 0.75 L_f |i_dq|^2 + C v_link^2/2 + L_dc i_l^2/2.</p>
<h4>Limitations</h4>
<p>The current references are limited only through p_ref / q_ref (ChargerBase); transient
overshoot is not clipped and the PI loops have no anti-windup. The averaged DC/DC is valid while
0 &lt; duty &lt; 1 (v_batt below v_link). Balanced grid, no harmonics, ideal PLL.</p>
<p>States: i_d_a, i_q_a, x_id_v, x_iq_v, v_link_v, x_v_a, i_l_a, x_l_v (all start at 0 except
v_link_v = v_link_ref_v).</p>
</html>"));
end ChargerDetailed;
