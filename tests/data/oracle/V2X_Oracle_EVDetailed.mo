model V2X_Oracle_EVDetailed "Oracle harness: drives V2X.EVDetailed with a 1-hour profile of 60-s P and Q steps"
  // Profile (recompute in Python exactly):
  //   k = floor(t/60)  (step index, 0..59; the value at t = 60k belongs to step k)
  //   j = k - 6*floor(k/6)            (position in a 6-step cycle)
  //   s(j) = [1.0, 0.5, -1.0, 0.0, -0.5, 0.25][j]
  //   c(j) = [0.5, -0.5, 0.0, 0.5, -1.0, 0.0][j]
  //   p_set_w = P0*s(j), P0 = 11000 W;  q_set_var = Q0*c(j), Q0 = 5000 var
  //   vm_pu = 1.0;  f_hz = 50.0;  t_amb_k = 298.15 K
  // V2X.EVDetailed defaults otherwise (soc_start 0.5, enable_qu = enable_pf = 0). Step 0 (11 kW with
  // +2.5 kvar requested) exercises the P-priority limit (Q is cut to ~0 at S = 11 kVA).
  // This harness uses events (floor); only rumoca's own simulator runs it.
  parameter Real p0_w(unit="W") = 11000 "Active power amplitude";
  parameter Real q0_var(unit="var") = 5000 "Reactive power amplitude";
  Real k(unit="1") "Step index";
  Real j(unit="1") "Position in the 6-step cycle";
  Real s(unit="1") "Active power factor";
  Real c(unit="1") "Reactive power factor";
  V2X.EVDetailed ev;
equation
  k = floor(time/60);
  j = k - 6*floor(k/6);
  s = if j < 0.5 then 1.0 else if j < 1.5 then 0.5 else if j < 2.5 then -1.0
      else if j < 3.5 then 0.0 else if j < 4.5 then -0.5 else 0.25;
  c = if j < 0.5 then 0.5 else if j < 1.5 then -0.5 else if j < 2.5 then 0.0
      else if j < 3.5 then 0.5 else if j < 4.5 then -1.0 else 0.0;
  ev.p_set_w = p0_w*s;
  ev.q_set_var = q0_var*c;
  ev.vm_pu = 1.0;
  ev.f_hz = 50.0;
  ev.t_amb_k = 298.15;
end V2X_Oracle_EVDetailed;
