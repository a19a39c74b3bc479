model V2X_Oracle_Terminal "Oracle harness: drives V2X.Terminal with a 1-day profile of 1-h weather and load steps"
  // Profile (recompute in Python exactly, tests/oracle.py terminal_inputs):
  //   k = floor(t/3600)  (step index, 0..23; the value at t = 3600k belongs to step k)
  //   j = k - 6*floor(k/6)            (position in a 6-step cycle)
  //   s(j) = [1.0, 0.5, -1.0, 0.0, -0.5, 0.25][j],  c(j) = [0.5, -0.5, 0.0, 0.5, -1.0, 0.0][j]
  //   t_out_k = 285.15 + 12 s(j);  q_sol_w = 1e6 (1 + s(j));  q_int_w = 2e6 + 1.5e6 c(j);
  //   p_base_w = 5e6 + 1e6 s(j)
  // V2X.Terminal with t_m_start_k = 288.15 K (a cold start, so that the thermostat heats first and
  // cools later), heating capacity 3 MW (reached in the coldest hours); defaults otherwise.
  // This harness uses events (floor); only rumoca's own simulator runs it, never the FMU pipeline.
  Real k(unit="1") "Step index";
  Real j(unit="1") "Position in the 6-step cycle";
  Real s(unit="1") "Profile factor";
  Real c(unit="1") "Second profile factor";
  V2X.Terminal terminal(t_m_start_k=288.15, q_heat_max_w=3e6);
equation
  k = floor(time/3600);
  j = k - 6*floor(k/6);
  s = if j < 0.5 then 1.0 else if j < 1.5 then 0.5 else if j < 2.5 then -1.0
      else if j < 3.5 then 0.0 else if j < 4.5 then -0.5 else 0.25;
  c = if j < 0.5 then 0.5 else if j < 1.5 then -0.5 else if j < 2.5 then 0.0
      else if j < 3.5 then 0.5 else if j < 4.5 then -1.0 else 0.0;
  terminal.t_out_k = 285.15 + 12*s;
  terminal.q_sol_w = 1e6*(1 + s);
  terminal.q_int_w = 2e6 + 1.5e6*c;
  terminal.p_base_w = 5e6 + 1e6*s;
end V2X_Oracle_Terminal;
