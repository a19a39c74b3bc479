import dataclasses
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v2xcosim.core.errors import ScenarioError, SimulationError
from v2xcosim.domain.cs_ems import EvArrays, power_bounds, soc_after
from v2xcosim.domain.strategies import (
    BuiltinStrategy,
    LpStrategy,
    StrategyInputs,
    apply_strategy,
    decide,
    load_strategy,
    plan,
    windows,
)
from v2xcosim.domain.users import UserPopulationSpec, draw_users

DT = 900.0


def fleet(n: int = 200, seed: int = 3) -> EvArrays:
    rng = np.random.default_rng(seed)
    cap = rng.uniform(20, 80, n)
    soc = rng.uniform(0.1, 0.6, n)
    dwell = rng.uniform(1, 10, n) * 3600
    f: Callable[[float], npt.NDArray[np.float64]] = lambda x: np.full(n, x, float)  # noqa: E731
    return EvArrays(
        soc=soc,
        capacity_kwh=cap,
        departure_s=dwell,
        soc_target=rng.uniform(0.6, 0.9, n),
        soc_min=f(0.2),
        soc_max=f(1.0),
        p_max_charge_w=f(11000.0),
        p_max_discharge_w=f(11000.0),
        connected=np.ones(n, bool),
    )


def _prices(k: int) -> npt.NDArray[np.float64]:
    """Evening-like prices first (300 EUR/MWh), then night prices (40): worth a V2G cycle."""
    return np.where(np.arange(k) < 8, 300.0, 40.0)


@pytest.mark.parametrize("strategy", ["uncontrolled", "smart", "v2g"])
def test_wish_met_whenever_feasible(strategy: str) -> None:
    ev = fleet()
    k = 48
    rng = np.random.default_rng(1)
    p, soc = plan(
        strategy,
        ev,
        0.0,
        DT,
        rng.random(k) < 0.3,
        rng.random(k) < 0.3,
        forecast_p_net_w=np.full(k, 5e6),
        price_eur_per_mwh=_prices(k),
    )
    steps = np.ceil(ev.departure_s / DT).astype(int)
    full_steps = np.floor(ev.departure_s / DT)
    feasible = (
        ev.soc_target - ev.soc
    ) * ev.capacity_kwh * 3.6e6 <= 11000 * ev.eta_charge * full_steps * DT
    final = soc[np.arange(len(steps)), steps - 1]
    assert np.all(final[feasible] >= ev.soc_target[feasible] - 1e-9)
    assert np.all(soc >= np.minimum(ev.soc, 0.2)[:, None] - 1e-9)
    if strategy == "uncontrolled":
        assert np.all(p >= 0)
        big = (ev.soc_target - ev.soc) * ev.capacity_kwh * 3.6e6 > 11000 * ev.eta_charge * DT
        assert big.any() and np.all(p[:, 0][big] == 11000.0)
    else:  # no unpaid overfill: the LP strategies stop at the wish
        assert np.all(final <= np.maximum(ev.soc_target, ev.soc) + 1e-6)
    if strategy == "smart":
        assert np.all(p >= 0)
    if strategy == "v2g":
        assert (p < 0).any()


def test_v2g_cycles_only_when_it_pays_and_smart_waits_for_the_cheap_hours() -> None:
    ev = fleet(n=60)
    k = 48
    price = _prices(k)
    fc = np.full(k, 5e6)
    cost = {}
    for name in ("uncontrolled", "smart", "v2g"):
        p, _ = plan(
            name,
            ev,
            0.0,
            DT,
            np.zeros(k, bool),
            np.zeros(k, bool),
            forecast_p_net_w=fc,
            price_eur_per_mwh=price,
        )
        cost[name] = (p * price).sum(axis=1) * DT / 3.6e9  # EUR per EV
        if name == "smart":  # nothing in the expensive hours that the wish does not need
            assert (
                p[:, :8].sum()
                <= plan("uncontrolled", ev, 0.0, DT, np.zeros(k, bool), np.zeros(k, bool))[0][
                    :, :8
                ].sum()
            )
    slack = 1e-6
    assert np.all(cost["smart"] <= cost["uncontrolled"] + slack)
    assert np.all(cost["v2g"] <= cost["smart"] + slack)
    assert cost["v2g"].sum() < cost["smart"].sum()  # the spread pays for a cycle


def test_v2g_does_not_discharge_where_the_forecast_imports_too_little() -> None:
    ev = fleet(n=30)
    k = 48
    strategy = load_strategy("v2g")
    assert isinstance(strategy, BuiltinStrategy) and strategy.lp is not None
    strategy.lp.min_import_w = 1e6
    # expensive steps 0-7; the first four import only 0.5 MW, the next four 5 MW
    fc = np.where(np.arange(k) < 4, 0.5e6, 5e6)
    p, _ = plan(
        strategy,
        ev,
        0.0,
        DT,
        np.zeros(k, bool),
        np.zeros(k, bool),
        forecast_p_net_w=fc,
        price_eur_per_mwh=_prices(k),
    )
    assert np.all(p[:, :4] >= -1e-6)  # no EV discharges there
    assert (p[:, 4:8] < 0).any()  # but where the import is large enough


def test_smart_charges_in_the_forecast_surplus() -> None:
    ev = fleet(n=50)
    ev = dataclasses.replace(ev, departure_s=np.full(50, 12 * 3600.0), soc=np.full(50, 0.5))
    fc = np.full(48, 2e6)
    fc[16:32] = -1e6
    fc[22:26] = -3e6  # the deepest surplus
    p, _ = plan(
        "smart",
        ev,
        0.0,
        DT,
        fc < 0,
        np.zeros(48, bool),
        forecast_p_net_w=fc,
        price_eur_per_mwh=np.full(48, 80.0),
    )
    assert p[:, :16].sum() == 0 and p[:, 16:32].sum() > 0
    # the deepest steps are used first: every EV that charges in the window charges there
    charges = p[:, 16:32].sum(axis=1) > 0
    assert np.all(p[charges, 22:26].sum(axis=1) > 0)


def test_the_lp_strategy_re_solves_on_events_only() -> None:
    ev = fleet(n=6)
    lp = LpStrategy(bidirectional=True)
    k = 32
    price = _prices(k)
    ids = tuple(f"s{i}" for i in range(6))
    state = ev
    p0 = None
    for j in range(4):  # following its own schedule: one solve
        inputs = _inputs(
            state,
            t_s=j * DT,
            flex_w=np.zeros(6),
            ev_id=ids,
            forecast_p_net_w=np.full(k - j, 5e6),
            price_eur_per_mwh=price[j:],
        )
        p = lp.decide(inputs)
        p0 = p if p0 is None else p0
        state = dataclasses.replace(state, soc=soc_after(state, p, DT))
    assert lp.n_solves == 1
    # an award ahead: re-solve, and the committed step gets baseline + flex
    flex = np.zeros((6, k - 4))
    flex[0, 2] = 3000.0
    inputs = _inputs(
        state,
        t_s=4 * DT,
        flex_w=flex[:, 0],
        flex_horizon_w=flex,
        ev_id=ids,
        forecast_p_net_w=np.full(k - 4, 5e6),
        price_eur_per_mwh=price[4:],
    )
    before = lp._plans[""].p_w[0, 6]
    lp.decide(inputs)
    assert lp.n_solves == 2
    assert lp._plans[""].p_w[0, 2] == pytest.approx(min(before + 3000.0, 11000.0), abs=1e-3)
    # a departure: re-solve
    gone = dataclasses.replace(state, connected=np.array([True] * 5 + [False]))
    lp.decide(dataclasses.replace(inputs, ev=gone))
    assert lp.n_solves == 3


def test_flex_and_declined_users() -> None:
    ev = fleet(n=4)
    ev = dataclasses.replace(ev, departure_s=np.full(4, 36000.0), soc=np.full(4, 0.5))
    p = decide("v2g", ev, 0.0, DT, flex_w=np.full(4, 5000.0), campaign=np.array([1, 1, 0, 0], bool))
    assert p[:2].tolist() == [5000.0, 5000.0]
    assert p[2:].tolist() == [11000.0, 11000.0]  # declined: charged as uncontrolled
    with pytest.raises(ScenarioError):
        decide("greedy", ev, 0.0, DT)
    new = soc_after(ev, p, DT)
    assert np.all(new > ev.soc)


def test_windows() -> None:
    c, d = windows(np.array([-1.0, 2.0, 3.0, 4.0]), np.array([50.0, 60.0, 100.0, 120.0]), 0.5)
    assert c.tolist() == [True, False, False, False]
    assert d.tolist() == [False, False, True, True]


def test_discharge_windows_need_forecast_import_above_margin() -> None:
    p = np.array([-2.0e6, -1.0, 0.0, 0.5e6, 1.5e6, 3.0e6])
    price = np.full(6, 100.0)  # all at the price quantile
    c, d = windows(p, price, 0.75, min_import_w=1.0e6)
    assert c.tolist() == [True, True, False, False, False, False]
    assert d.tolist() == [False, False, False, False, True, True]
    _, d0 = windows(p, price, 0.75)  # no margin: still never at zero or reverse flow
    assert d0.tolist() == [False, False, False, True, True, True]
    with pytest.raises(ScenarioError):
        windows(p, price, 0.75, min_import_w=-1.0)


def test_same_seed_same_users_for_all_strategies() -> None:
    import datetime as dt

    t0 = dt.datetime(2024, 5, 12, tzinfo=dt.UTC)
    kw = {"seed": 7, "start_utc": t0, "n_days": 2, "sites": [("x", 4)], "stream_prefix": "u"}
    a = draw_users(UserPopulationSpec(), **kw)  # type: ignore[arg-type]
    b = draw_users(UserPopulationSpec(), **kw)  # type: ignore[arg-type]
    assert a.session_id == b.session_id and np.array_equal(a.arrival_s, b.arrival_s)


def _inputs(ev: EvArrays, **kw: object) -> StrategyInputs:
    n = ev.soc.shape[0]
    base: dict[str, object] = {
        "ev": ev,
        "t_s": 0.0,
        "dt_s": DT,
        "charge_window": False,
        "discharge_window": False,
        "flex_w": np.zeros(n),
        "campaign": np.ones(n, bool),
        "forecast_p_net_w": np.full(8, -1.0e6),
        "price_eur_per_mwh": np.full(8, 50.0),
    }
    base.update(kw)
    return StrategyInputs(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["uncontrolled", "smart", "v2g"])
def test_builtins_through_the_guard_are_bit_identical(name: str) -> None:
    ev = fleet(n=300)
    rng = np.random.default_rng(5)
    flex = rng.normal(0.0, 6000.0, 300)
    camp = rng.random(300) < 0.7
    for cw, dw in [(False, False), (True, False), (False, True)]:
        inputs = _inputs(ev, charge_window=cw, discharge_window=dw, flex_w=flex, campaign=camp)
        want = decide(
            name,
            ev,
            0.0,
            DT,
            charge_window=cw,
            discharge_window=dw,
            flex_w=flex,
            campaign=camp,
            forecast_p_net_w=inputs.forecast_p_net_w,
            price_eur_per_mwh=inputs.price_eur_per_mwh,
        )
        got = apply_strategy(load_strategy(name), inputs, name=name, where="test")
        assert want.tobytes() == got.tobytes()
    assert load_strategy("v2g").bidirectional and not load_strategy("smart").bidirectional


class _Greedy:
    """Asks for far too much: discharge everything, and the arrays are read-only."""

    bidirectional = True

    def decide(self, inputs: StrategyInputs) -> npt.NDArray[np.float64]:
        assert not inputs.ev.soc.flags.writeable and not inputs.flex_w.flags.writeable
        return np.full(inputs.n_ev, -1.0e9)


def test_the_guard_clips_a_custom_strategy_and_keeps_declined_users_uncontrolled() -> None:
    ev = fleet(n=50)
    camp = np.arange(50) % 2 == 0
    inputs = _inputs(ev, campaign=camp)
    p = apply_strategy(_Greedy(), inputs, name="greedy", where="test")
    lo, hi = power_bounds(ev, 0.0, DT)
    assert np.all(p >= lo) and np.all(p <= hi)
    assert np.array_equal(p[camp], lo[camp])
    assert np.array_equal(p[~camp], decide("uncontrolled", ev, 0.0, DT)[~camp])
    p_plan, soc_plan = plan(_Greedy(), ev, 0.0, DT, np.zeros(8, bool), np.zeros(8, bool))
    assert np.all(soc_plan >= np.minimum(ev.soc, ev.soc_min)[:, None] - 1e-9)
    assert (p_plan < 0).any()


def test_a_custom_answer_must_be_one_finite_number_per_ev() -> None:
    class Bad:
        bidirectional = False

        def __init__(self, answer: object) -> None:
            self.answer = answer

        def decide(self, inputs: StrategyInputs) -> npt.NDArray[np.float64]:
            return self.answer  # type: ignore[return-value]

    ev = fleet(n=3)
    for answer, text in [
        ([1.0, np.nan, 2.0], r"non-finite values \(NaN or inf\) at positions \[1\]"),
        ([1.0, 2.0], r"shape \(2,\) for 3 EVs"),
        ("abc", "not numbers"),
        ([True, False, True], "not numbers"),
        (None, "returned None"),
    ]:
        with pytest.raises(SimulationError, match=r"'mine' at site s, step 4: .*" + text):
            apply_strategy(Bad(answer), _inputs(ev), name="mine", where="site s, step 4")
    ok = apply_strategy(Bad([0, 0, 0]), _inputs(ev), name="mine", where="x")  # ints are fine
    assert ok.dtype == np.float64


def test_load_strategy_refuses_what_is_not_an_import_string() -> None:
    with pytest.raises(ScenarioError, match="neither a built-in strategy"):
        load_strategy("greedy")
    with pytest.raises(ScenarioError, match="no module 'no_such_module_for_v2x'"):
        load_strategy("no_such_module_for_v2x:Foo")
    # a module on sys.path (an installed package, here tests/) needs no folder
    assert isinstance(load_strategy("test_strategies:_Greedy", None), _Greedy)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    eta_real=st.floats(0.88, 0.92),
    bidirectional=st.booleans(),
)
def test_rolling_lp_meets_feasible_wishes_when_the_battery_is_worse_than_modelled(
    seed: int, eta_real: float, bidirectional: bool
) -> None:
    """The real charging efficiency is up to 4 % lower than the LP's (adversarial drift): the
    SOC falls behind the schedule, the strategy re-solves, uses its 5 % power headroom and the
    guard keeps every wish that is still feasible at the real efficiency within 1 % SOC."""
    ev = fleet(n=12, seed=seed)
    k = 48
    strategy = LpStrategy(bidirectional=bidirectional)
    ids = tuple(f"s{i}" for i in range(12))
    rng = np.random.default_rng(seed)
    price = rng.uniform(20.0, 300.0, k)
    state = ev
    real = dataclasses.replace(ev, eta_charge=eta_real)
    for j in range(k):
        inputs = StrategyInputs(
            ev=state,
            t_s=j * DT,
            dt_s=DT,
            charge_window=False,
            discharge_window=False,
            flex_w=np.zeros(12),
            campaign=np.ones(12, bool),
            forecast_p_net_w=np.full(k - j, 5e6),
            price_eur_per_mwh=price[j:],
            ev_id=ids,
        )
        p = apply_strategy(strategy, inputs, name="lp", where="test")
        soc = soc_after(dataclasses.replace(real, soc=state.soc), p, DT)
        state = dataclasses.replace(state, soc=np.clip(soc, 0.0, 1.0))
        # the SOC the strategy sees at departure
        left = ev.departure_s <= (j + 1) * DT
        state = dataclasses.replace(state, connected=~left)
        if j == 0:
            final = np.full(12, np.nan)
        final = np.where(left & np.isnan(final), state.soc, final)
    steps = np.floor(ev.departure_s / DT)
    feasible = (ev.soc_target - ev.soc) * ev.capacity_kwh * 3.6e6 <= (11000 * eta_real * steps * DT)
    done = np.isfinite(final)
    assert np.all(final[feasible & done] >= ev.soc_target[feasible & done] - 0.01)
    assert strategy.n_solves > 1  # the drift triggered re-solves


def test_each_ev_charges_into_the_surplus_of_its_own_zone() -> None:
    """Two feeders with surplus at different hours; the primary forecast shows none: each EV
    charges only where its own feeder's forecast has reverse flow, within that feeder's
    surplus (an LP site per zone)."""
    n = 4
    ev = dataclasses.replace(
        fleet(n=n),
        soc=np.full(n, 0.5),
        soc_target=np.full(n, 0.6),
        capacity_kwh=np.full(n, 40.0),
        departure_s=np.full(n, 12 * 3600.0),
    )
    steps = 48
    lv1, lv2 = np.full(steps, 30e3), np.full(steps, 30e3)
    lv1[8:16] = -6e3  # feeder LV1: 6 kW surplus in the morning
    lv2[30:40] = -6e3  # feeder LV2: in the afternoon
    zones = ("feeder/LV1", "feeder/LV1", "feeder/LV2", "feeder/LV2")
    p, _ = plan(
        "smart",
        ev,
        0.0,
        DT,
        np.zeros(steps, bool),
        np.zeros(steps, bool),
        forecast_p_net_w=np.full(steps, 2e6),
        price_eur_per_mwh=np.full(steps, 80.0),
        ev_zone=zones,
        zone_forecast_p_net_w={"feeder/LV1": lv1, "feeder/LV2": lv2},
    )
    # 4 kWh each, 8 kWh per feeder: 8 and 10 steps of 6 kW surplus (12 and 15 kWh) hold it all
    outside1 = np.ones(steps, bool)
    outside1[8:16] = False
    outside2 = np.ones(steps, bool)
    outside2[30:40] = False
    assert p[:2][:, outside1].sum() == pytest.approx(0.0, abs=1.0)
    assert p[2:][:, outside2].sum() == pytest.approx(0.0, abs=1.0)
    assert np.all(p[:2].sum(axis=0) <= 6e3 + 1.0)  # never more than the surplus absorbs
    assert np.all(p[2:].sum(axis=0) <= 6e3 + 1.0)
    # the same call without zones sees only the primary (no surplus): it charges late instead
    q, _ = plan(
        "smart",
        ev,
        0.0,
        DT,
        np.zeros(steps, bool),
        np.zeros(steps, bool),
        forecast_p_net_w=np.full(steps, 2e6),
        price_eur_per_mwh=np.full(steps, 80.0),
    )
    assert q[:, :40].sum() == pytest.approx(0.0, abs=1.0)


def test_the_lp_horizon_ends_at_the_last_declared_departure() -> None:
    from v2xcosim.domain.scheduler import SOLVE_STATS

    n = 3
    ev = dataclasses.replace(
        fleet(n=n), soc=np.full(n, 0.5), departure_s=np.array([2.0, 5.0, 3.0]) * 3600
    )
    lp = LpStrategy(False, horizon_s=4 * 3600.0)
    inputs = StrategyInputs(
        ev=ev,
        t_s=0.0,
        dt_s=DT,
        charge_window=False,
        discharge_window=False,
        flex_w=np.zeros(n),
        campaign=np.ones(n, bool),
        forecast_p_net_w=np.full(96, np.nan),
        price_eur_per_mwh=np.full(96, 80.0),
    )
    SOLVE_STATS.reset()
    lp.decide(inputs)
    assert lp._plans[""].p_w.shape == (n, 16)  # 4 h cap < 5 h last departure < 24 h prices
    assert len(SOLVE_STATS) == 1 and SOLVE_STATS.times_s()[0] > 0.0
    lp2 = LpStrategy(False)
    lp2.decide(inputs)
    assert lp2._plans[""].p_w.shape == (n, 20)  # the last departure, 5 h
    ev_none = dataclasses.replace(ev, connected=np.zeros(n, bool))
    assert np.all(lp2.decide(dataclasses.replace(inputs, ev=ev_none)) == 0.0)


def _two_feeders(n: int = 4) -> tuple[EvArrays, tuple[str, ...]]:
    """``n`` EVs of 80 kWh at their wish 0.6, leaving after 12 h, half on each of two feeders:
    with the prices of :func:`_prices` each would discharge in every one of the 8 expensive
    steps (32 kWh above the 0.2 floor is more than 8 steps of 11 kW take) and recharge at night.
    """
    ev = dataclasses.replace(
        fleet(n=n),
        soc=np.full(n, 0.6),
        soc_target=np.full(n, 0.6),
        capacity_kwh=np.full(n, 80.0),
        departure_s=np.full(n, 12 * 3600.0),
    )
    return ev, ("feeder/LV1",) * (n // 2) + ("feeder/LV2",) * (n - n // 2)


def test_v2g_plans_no_discharge_into_the_reverse_flow_of_the_own_feeder() -> None:
    """Feeder LV1 is forecast in reverse flow at step 2, LV2 never, the primary imports: the
    LV1 EVs' schedule has no discharge at step 2 (the LV2 EVs' has), and dispatch follows the
    schedule step by step without a re-solve (plan and dispatch agree)."""
    ev, zones = _two_feeders()
    k, hot = 48, 2
    lv1, lv2 = np.full(k, 30e3), np.full(k, 30e3)
    lv1[hot] = -5e3
    price, fc = _prices(k), np.full(k, 5e6)
    lp = LpStrategy(bidirectional=True)
    state = ev
    on_lv1 = np.array([z == "feeder/LV1" for z in zones])
    for j in range(6):
        inputs = _inputs(
            state,
            t_s=j * DT,
            ev_id=("a", "b", "c", "d"),
            ev_zone=zones,
            zone_forecast_p_net_w={"feeder/LV1": lv1[j:], "feeder/LV2": lv2[j:]},
            forecast_p_net_w=fc[j:],
            price_eur_per_mwh=price[j:],
        )
        p = lp.decide(inputs)
        if j == 0:
            planned = lp._plans[""].p_w
            assert np.all(planned[on_lv1, hot] >= 0.0)
            assert np.all(planned[~on_lv1, hot] < -1e3)  # the other feeder may and does
            assert np.all(planned[:, :hot] < -1e3)  # every EV discharges where it may
        np.testing.assert_array_equal(p, planned[:, j])  # dispatch = the plan made at step 0
        if j == hot:
            assert np.all(p[on_lv1] >= 0.0) and np.all(p[~on_lv1] < 0.0)
        state = dataclasses.replace(state, soc=soc_after(state, p, DT))
    assert lp.n_solves == 1  # the plan was followed: no SOC drift, no re-solve


def test_a_forecast_that_forbids_a_planned_discharge_re_solves_the_plan() -> None:
    """At step 0 every feeder imports and LV1's EVs plan a discharge at step 2; at step 1 a new
    forecast puts LV1 in reverse flow at step 2: the LP re-solves, the new plan has no LV1
    discharge at step 2, and none is dispatched there."""
    ev, zones = _two_feeders()
    k, hot = 48, 2
    lv1, lv2 = np.full(k, 30e3), np.full(k, 30e3)
    price, fc = _prices(k), np.full(k, 5e6)
    on_lv1 = np.array([z == "feeder/LV1" for z in zones])
    lp = LpStrategy(bidirectional=True)

    def step(j: int, state: EvArrays, lv1_now: npt.NDArray[np.float64]) -> EvArrays:
        inputs = _inputs(
            state,
            t_s=j * DT,
            ev_id=("a", "b", "c", "d"),
            ev_zone=zones,
            zone_forecast_p_net_w={"feeder/LV1": lv1_now[j:], "feeder/LV2": lv2[j:]},
            forecast_p_net_w=fc[j:],
            price_eur_per_mwh=price[j:],
        )
        p = lp.decide(inputs)
        if j == hot:
            assert np.all(p[on_lv1] >= 0.0)
        return dataclasses.replace(state, soc=soc_after(state, p, DT))

    state = step(0, ev, lv1)
    assert lp.n_solves == 1 and np.all(lp._plans[""].p_w[on_lv1, hot] < -1e3)
    lv1_new = lv1.copy()
    lv1_new[hot] = -5e3  # the DSO's new forecast: reverse flow on LV1 at step 2
    state = step(1, state, lv1_new)
    assert lp.n_solves == 2
    new = lp._plans[""]
    assert new.k0 == 1 and np.all(new.p_w[on_lv1, hot - new.k0] >= 0.0)
    step(hot, state, lv1_new)
    assert lp.n_solves == 2  # the new plan is followed


def test_the_discharge_rule_per_ev_and_step() -> None:
    """Primary import above the margin AND own zone importing; NaN (no forecast) allows none."""
    lp = LpStrategy(bidirectional=True, min_import_w=1e6)
    fc = np.array([2e6, 2e6, 0.5e6, np.nan, 2e6])
    fc_ev = np.array([[1.0, -1.0, 1.0, 1.0, 0.0], [np.nan, 5.0, 5.0, 5.0, 5.0]])
    want = np.array([[True, False, False, False, True], [False, True, False, False, True]])
    np.testing.assert_array_equal(lp.discharge_allowed(fc, fc_ev), want)
    np.testing.assert_array_equal(
        lp.discharge_allowed(fc, None), [[True, True, False, False, True]]
    )
