within V2X;
model EVQuasiStatic "Electric vehicle, quasi-static: algebraic charger + battery with steady-state RC pairs (for steps much longer than 400 s)"
  // ---------------- per-vehicle parameters ----------------
  parameter Real soc_start(unit="1", min=0, max=1) = 0.5 "Initial state of charge (fraction)";
  parameter Real t_start_k(unit="K", min=0) = 298.15 "Initial battery temperature";
  parameter Integer n_series(min=1) = 96 "Cells in series";
  parameter Integer n_parallel(min=1) = 80 "Cells in parallel (capacity scale: 80 -> 164 A.h, 59 kWh)";
  parameter Real s_rated_va(unit="VA", min=0) = 11000 "Charger rated apparent power";
  parameter Real p_rated_w(unit="W", min=0) = 11000 "Charger rated active power (both directions)";
  parameter Real i_max_a(unit="A", min=0) = 16 "Charger AC phase current limit (rms)";
  parameter Real tau_p_s(unit="s", min=1) = 1 "Active power time constant (reduced charger, >= 1 s)";
  parameter Real tau_q_s(unit="s", min=1) = 1 "Reactive power time constant (reduced charger, >= 1 s)";
  parameter Real enable_qu(unit="1", min=0, max=1) = 0 "Q(U) on (1) / off (0)";
  parameter Real enable_pf(unit="1", min=0, max=1) = 0 "P(f) on (1) / off (0)";
  parameter Real soc_min(unit="1", min=0, max=1) = 0.1 "Lower SOC limit: discharging power is derated to 0 here";
  parameter Real soc_max(unit="1", min=0, max=1) = 0.9 "Upper SOC limit: charging power is derated to 0 here";
  parameter Real dsoc_taper(unit="1", min=0) = 0.03 "SOC band over which the BMS derates power linearly";
  parameter Real bms_smooth(unit="1", min=0) = 0.01 "Rounding of the full-power corner of the BMS taper (fraction of the taper band)";
  Real x_charge(unit="1") "BMS taper coordinate for charging (1 = full power, 0 = none)";
  Real x_discharge(unit="1") "BMS taper coordinate for discharging";
  parameter Real q_cal_start(unit="1", min=0, max=1) = 1e-4 "Initial calendar capacity loss (fraction)";
  parameter Real q_cyc_start(unit="1", min=0, max=1) = 1e-4 "Initial cycle capacity loss (fraction)";
  // ---------------- inputs ----------------
  input Real p_set_w(unit="W", start=0) "AC active power setpoint (positive = drawn from the grid = charging)";
  input Real q_set_var(unit="var", start=0) "AC reactive power setpoint (positive = absorbed)";
  input Real vm_pu(unit="1", start=1, min=0) "Terminal voltage (per unit), for Q(U)";
  input Real f_hz(unit="Hz", start=50, min=0) "Grid frequency, for P(f)";
  input Real t_amb_k(unit="K", start=298.15, min=0) "Ambient temperature";
  // ---------------- components ----------------
  V2X.ChargerAlgebraicDC charger(s_rated_va=s_rated_va, p_rated_w=p_rated_w, i_max_a=i_max_a,
    tau_p_s=tau_p_s, tau_q_s=tau_q_s, enable_qu=enable_qu, enable_pf=enable_pf) "Bidirectional charger (algebraic)";
  V2X.BatteryPackQuasiStatic battery(soc_start=soc_start, t_start_k=t_start_k, n_series=n_series, n_parallel=n_parallel,
    q_cal_start=q_cal_start, q_cyc_start=q_cyc_start) "Traction battery";
  // ---------------- meters (states) ----------------
  output Real e_ac_j(unit="J", nominal=1e6, start=0, fixed=true) "Meter: AC energy drawn from the grid";
  output Real e_loss_j(unit="J", nominal=1e6, start=0, fixed=true) "Meter: battery + charger losses";
  output Real e_loss_charger_j(unit="J", nominal=1e6, start=0, fixed=true) "Meter: charger losses";
  // ---------------- outputs ----------------
  output Real p_ac_w(unit="W") "AC active power drawn from the grid";
  output Real q_ac_var(unit="var") "AC reactive power absorbed";
  output Real p_dc_w(unit="W") "DC power into the battery";
  output Real p_loss_charger_w(unit="W") "Charger losses";
  output Real p_loss_battery_w(unit="W") "Battery losses";
  output Real soc(unit="1") "State of charge (fraction)";
  output Real soh(unit="1") "State of health (capacity fraction)";
  output Real v_pack_v(unit="V") "Battery terminal voltage";
  output Real i_pack_a(unit="A") "Battery current (positive = charging)";
  output Real t_cell_k(unit="K") "Battery temperature";
  output Real e_dc_j(unit="J") "Meter: DC energy into the battery";
  output Real e_chem_j(unit="J") "Meter: chemical energy (integral of OCV*I)";
  output Real e_rc_j(unit="J") "Energy in the battery's RC capacitors";
  output Real e_store_charger_j(unit="J") "Energy stored in the charger (0 for the reduced charger)";
  output Real e_usable_j(unit="J") "Usable energy capacity between soc_min and soc_max, including fade";
  output Real e_usable_kwh(unit="kW.h") "Usable energy capacity in kWh";
  output Real p_max_charge_w(unit="W") "Available charging power now (AC side)";
  output Real p_max_discharge_w(unit="W") "Available discharging power now (AC side, >= 0)";
  output Real eta_charger(unit="1") "Charger efficiency";
equation
  connect(charger.dc, battery.dc);
  charger.p_set_w = p_set_w;
  charger.q_set_var = q_set_var;
  charger.vm_pu = vm_pu;
  charger.f_hz = f_hz;
  battery.t_amb_k = t_amb_k;
  // BMS: linear power derating over dsoc_taper below soc_max (charging) and above soc_min
  // (discharging). The taper min(x, 1) has its full-power corner rounded,
  // (x + 1 - sqrt((x - 1)^2 + e^2))/2 + (sqrt(1 + e^2) - 1)/2, so that it is exactly 0 at the SOC
  // limit (x = 0), linear through it and negative beyond; the charger clamps a negative limit to
  // 0. The SOC thus approaches the limit exponentially and stops there.
  x_charge = (soc_max - battery.soc)/dsoc_taper;
  x_discharge = (battery.soc - soc_min)/dsoc_taper;
  charger.p_lim_charge_w = p_rated_w*0.5*(x_charge + 1 - sqrt((x_charge - 1)^2 + bms_smooth^2) + sqrt(1 + bms_smooth^2) - 1);
  charger.p_lim_discharge_w = p_rated_w*0.5*(x_discharge + 1 - sqrt((x_discharge - 1)^2 + bms_smooth^2) + sqrt(1 + bms_smooth^2) - 1);
  // outputs
  p_ac_w = charger.p_ac_w;
  q_ac_var = charger.q_ac_var;
  p_dc_w = charger.p_dc_w;
  p_loss_charger_w = charger.p_loss_w;
  p_loss_battery_w = battery.p_loss_w;
  soc = battery.soc;
  soh = battery.soh;
  v_pack_v = battery.v_pack_v;
  i_pack_a = battery.i_pack_a;
  t_cell_k = battery.t_cell_k;
  e_dc_j = battery.e_dc_j;
  e_chem_j = battery.e_chem_j;
  e_rc_j = battery.e_rc_j;
  e_store_charger_j = charger.e_store_j;
  e_usable_j = battery.e_capacity_j*(soc_max - soc_min);
  e_usable_kwh = e_usable_j/3.6e6;
  p_max_charge_w = charger.p_max_charge_w;
  p_max_discharge_w = charger.p_max_discharge_w;
  eta_charger = charger.eta;
  der(e_ac_j) = p_ac_w;
  der(e_loss_j) = p_loss_battery_w + p_loss_charger_w;
  der(e_loss_charger_j) = p_loss_charger_w;
  annotation(Documentation(info="<html>
<p>The vehicle of <code>EV</code> (same parameters, inputs, outputs, BMS and energy meters) with
its fast modes replaced by their steady states, for co-simulation steps of 15 min and longer whose
setpoints change every step: the charger is <code>ChargerAlgebraicDC</code> (P and Q equal their
limited references) and the pack is <code>BatteryPackQuasiStatic</code> (RC pairs at steady
state). Its states are the slow ones (SOC, temperature, ageing, meters), so a 15-min step costs a
few right-hand sides whether or not the setpoints change. tau_p_s and tau_q_s are kept for the
interface and are unused. e_rc_j and e_store_charger_j are 0; the energy identity
e_ac = e_chem + e_loss (+ the zero terms) is a linear invariant of the states and holds to
round-off. Accuracy against <code>EV</code> and validity (steps much longer than tau2 = 400 s):
<code>models/README.md</code>.</p>
</html>"));
end EVQuasiStatic;
