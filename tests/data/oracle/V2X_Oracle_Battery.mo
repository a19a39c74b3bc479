model V2X_Oracle_Battery "Oracle harness: drives V2X.Battery with a 1-hour profile of 60-s power steps"
  // Profile (recompute in Python exactly):
  //   k = floor(t/60)  (step index, 0..59; the value at t = 60k belongs to step k)
  //   j = k - 6*floor(k/6)            (position in a 6-step cycle)
  //   s(j) = [1.0, 0.5, -1.0, 0.0, -0.5, 0.25][j]
  //   p_dc_w = P0 * s(j),  P0 = 11000 W;   t_amb_k = 298.15 K
  // Defaults of V2X.Battery otherwise (soc_start = 0.5, t_start_k = 298.15 K).
  // This harness uses events (floor); only rumoca's own simulator runs it, never the FMU pipeline.
  parameter Real p0_w(unit="W") = 11000 "Profile amplitude";
  Real k(unit="1") "Step index";
  Real j(unit="1") "Position in the 6-step cycle";
  Real s(unit="1") "Profile factor";
  V2X.Battery battery;
equation
  k = floor(time/60);
  j = k - 6*floor(k/6);
  s = if j < 0.5 then 1.0 else if j < 1.5 then 0.5 else if j < 2.5 then -1.0
      else if j < 3.5 then 0.0 else if j < 4.5 then -0.5 else 0.25;
  battery.p_dc_w = p0_w*s;
  battery.t_amb_k = 298.15;
end V2X_Oracle_Battery;
