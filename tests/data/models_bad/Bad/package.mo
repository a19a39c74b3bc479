package Bad
  model WithWhen
    Real x(start=1, fixed=true);
  equation
    der(x) = -x;
    when x < 0.5 then
      reinit(x, 1);
    end when;
  end WithWhen;
end Bad;
