within V2X;
connector DCPort "DC power port: voltage (potential) and power (flow, positive into the component)"
  Real v_v(unit="V") "DC voltage at the port";
  flow Real p_w(unit="W") "Power flowing into the component through this port";
  annotation(Documentation(info="<html>
<p>A DC power connector. <code>v_v</code> is the DC bus voltage (equal at connected ports);
<code>p_w</code> is the power flowing <em>into</em> the component (flow variable: the powers at a
connection sum to zero, i.e. energy is conserved at the connection). A battery's port therefore
carries +P when it is being charged and the charger's port -P.</p>
<p>Power (not current) is the flow variable so that the battery can compute its current in closed
form from the power (choosing the physical root of P = V(I)&middot;I) instead of leaving a quadratic
algebraic loop to a Newton solver. The current at the port is <code>p_w/v_v</code>.</p>
<p>Only connect ports inside a model: a top-level model must not expose a DCPort, because an
unconnected top-level flow variable leaves the system structurally singular in rumoca 0.10.2
(the FMU pipeline rejects it). Stand-alone models therefore use causal inputs and outputs.</p>
</html>"));
end DCPort;
