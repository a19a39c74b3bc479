from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.units import J_PER_KWH
from v2xcosim.domain.cs_ems import ChargingSite, EvArrays, power_bounds

FloatArray = npt.NDArray[np.float64]


def arrays(
    soc: npt.ArrayLike,
    dep: npt.ArrayLike,
    target: float = 0.8,
    smin: float = 0.2,
    smax: float = 1.0,
    n: int | None = None,
) -> EvArrays:
    soc = np.atleast_1d(np.asarray(soc, float))
    n = soc.shape[0]
    f: Callable[[npt.ArrayLike], FloatArray]
    f = lambda x: np.broadcast_to(np.asarray(x, float), (n,)).copy()  # noqa: E731
    return EvArrays(
        soc=soc,
        capacity_kwh=f(50.0),
        departure_s=f(dep),
        soc_target=f(target),
        soc_min=f(smin),
        soc_max=f(smax),
        p_max_charge_w=f(11000.0),
        p_max_discharge_w=f(11000.0),
        connected=np.ones(n, bool),
        eta_charge=1.0,
        eta_discharge=1.0,
    )


def test_bounds_soc_limits_and_must_charge() -> None:
    # 50 kWh: 1 h at 11 kW = 11 kWh = 0.22 SOC
    ev = arrays([0.5, 0.21, 0.99, 0.3], dep=[36000, 36000, 36000, 3600 * 2])
    lo, hi = power_bounds(ev, 0.0, 900.0)
    assert hi[2] == pytest.approx(0.01 * 50 * 3.6e6 / 900)  # only room to soc_max
    assert lo[1] == pytest.approx(-0.01 * 50 * 3.6e6 / 900)  # discharge down to soc_min only
    assert lo[0] == -11000.0
    # 0.5 SOC needed in 2 h at 11 kW (0.44 possible): infeasible → charge at full power
    assert lo[3] == hi[3] == 11000.0


def test_must_charge_is_tight() -> None:
    # need 0.22 SOC = exactly 1 h at full power, 1 h left → must charge at full power now
    ev = arrays([0.58], dep=[3600.0])
    lo, _ = power_bounds(ev, 0.0, 900.0)
    assert lo[0] == pytest.approx(11000.0)
    ev = arrays([0.58], dep=[7200.0])
    lo, _ = power_bounds(ev, 0.0, 900.0)
    assert lo[0] < 0  # one spare hour: some discharge allowed


def test_allocation_and_dispatch_within_ratings() -> None:
    site = ChargingSite("cs", 2, 7400.0, s_rated_va=8000.0)
    assert site.allocate("a") == "cs-col1:1:1"
    assert site.allocate("b") == "cs-col1:2:1"
    assert site.allocate("c") is None
    site.release("a")
    assert site.allocate("c") == "cs-col1:1:1"
    with pytest.raises(ScenarioError):
        site.release("zzz")
    ev = arrays([0.5, 0.5], dep=[36000, 36000])
    p, q = site.dispatch(ev, 0.0, 900.0, np.array([20000.0, -20000.0]), np.array([5000.0, -5000.0]))
    assert p.tolist() == [7400.0, -7400.0]
    assert np.all(np.hypot(p, q) <= 8000.0 + 1e-6)
    assert q[0] == pytest.approx(np.sqrt(8000.0**2 - 7400.0**2))


def test_guard_never_overfills_an_ev_that_cannot_discharge() -> None:
    """Unidirectional EV 0.5 % below its target: the guard's upper bound is that energy."""

    ev = EvArrays(
        soc=np.array([0.80, 0.80]),
        capacity_kwh=np.array([50.0, 50.0]),
        departure_s=np.array([36000.0, 36000.0]),
        soc_target=np.array([0.805, 0.805]),
        soc_min=np.array([0.2, 0.2]),
        soc_max=np.array([0.91, 0.91]),
        p_max_charge_w=np.array([11000.0, 11000.0]),
        p_max_discharge_w=np.array([0.0, 11000.0]),
        connected=np.array([True, True]),
        eta_charge=0.92,
        eta_discharge=0.9,
    )
    _, hi = power_bounds(ev, 0.0, 300.0)
    need_w = 0.005 * 50.0 * J_PER_KWH / (0.92 * 300.0)  # 0.25 kWh in 300 s at 92 %
    assert hi[0] == pytest.approx(need_w)
    assert hi[1] == pytest.approx(11000.0)  # a V2G EV may go above its target mid-stay
