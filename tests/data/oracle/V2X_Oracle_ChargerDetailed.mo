model V2X_Oracle_ChargerDetailed "Oracle harness: drives V2X.ChargerDetailed (Q(U) and P(f) on) with a 1-hour profile of 60-s steps"
  // Profile (recompute in Python exactly):
  //   k = floor(t/60)  (step index, 0..59; the value at t = 60k belongs to step k)
  //   j = k - 6*floor(k/6),  m = k - 5*floor(k/5),  n = k - 4*floor(k/4)
  //   s(j) = [1.0, 0.5, -1.0, 0.0, -0.5, 0.25][j];  c(j) = [0.5, -0.5, 0.0, 0.5, -1.0, 0.0][j]
  //   u(m) = [0.0, 1.0, -1.0, 0.5, -0.5][m];       g(n) = [0.0, 1.0, -1.0, 0.5][n]
  //   p_set_w = 11000*s(j);  q_set_var = 5000*c(j)
  //   vm_pu = 1.0 + 0.08*u(m)   (0.92 .. 1.08 p.u.: whole Q(U) characteristic)
  //   f_hz = 50.0 + 0.6*g(n)    (49.4 .. 50.6 Hz: both P(f) branches)
  //   v_dc_v = 360 V;  p_lim_charge_w = p_lim_discharge_w = 1e6 W (no BMS limit)
  // ChargerDetailed defaults otherwise, with enable_qu = enable_pf = 1.
  // This harness uses events (floor); only rumoca's own simulator runs it.
  Real k(unit="1") "Step index";
  Real j(unit="1");
  Real m(unit="1");
  Real n(unit="1");
  Real s(unit="1");
  Real c(unit="1");
  Real u(unit="1");
  Real g(unit="1");
  V2X.ChargerDetailed charger(enable_qu=1, enable_pf=1);
equation
  k = floor(time/60);
  j = k - 6*floor(k/6);
  m = k - 5*floor(k/5);
  n = k - 4*floor(k/4);
  s = if j < 0.5 then 1.0 else if j < 1.5 then 0.5 else if j < 2.5 then -1.0
      else if j < 3.5 then 0.0 else if j < 4.5 then -0.5 else 0.25;
  c = if j < 0.5 then 0.5 else if j < 1.5 then -0.5 else if j < 2.5 then 0.0
      else if j < 3.5 then 0.5 else if j < 4.5 then -1.0 else 0.0;
  u = if m < 0.5 then 0.0 else if m < 1.5 then 1.0 else if m < 2.5 then -1.0
      else if m < 3.5 then 0.5 else -0.5;
  g = if n < 0.5 then 0.0 else if n < 1.5 then 1.0 else if n < 2.5 then -1.0 else 0.5;
  charger.p_set_w = 11000*s;
  charger.q_set_var = 5000*c;
  charger.vm_pu = 1.0 + 0.08*u;
  charger.f_hz = 50.0 + 0.6*g;
  charger.v_dc_v = 360;
  charger.p_lim_charge_w = 1e6;
  charger.p_lim_discharge_w = 1e6;
end V2X_Oracle_ChargerDetailed;
