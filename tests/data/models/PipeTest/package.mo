package PipeTest "Small models that exercise the FMU pipeline (not physics)"
  model Lag "First-order lag with a torn algebraic loop and a parameter-dependent start"
    parameter Real k(unit="1/s", min=0) = 0.05 "decay rate";
    parameter Real x_start(unit="1") = 2.0 "initial value of x";
    parameter Real c3(unit="1") = 0.1 "cubic coefficient of the implicit equation z + c3*z^3 = x";
    parameter Real k2(unit="1/s", max=1) = 2*k "dependent parameter (declared range: at most 1)";
    input Real u(unit="1/s", start=0.0, min=-5, max=5) "forcing";
    output Real x(unit="1", start=x_start, fixed=true) "state";
    output Real z(unit="1") "solution of the implicit equation z + c3*z^3 = x (Newton)";
    output Real w(unit="1") "explicit output w = sqrt(z)";
    Real fast(unit="1", start=0.0, fixed=true) "stiff companion state";
  equation
    der(x) = -k*x + u;
    z + c3*z^3 = x;
    w = sqrt(z);
    der(fast) = -1000*(fast - x);
  end Lag;
end PipeTest;
