import dataclasses
import datetime as dt
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import FlexibilityRequest
from v2xcosim.domain.cs_ems import EvArrays, power_bounds, soc_after
from v2xcosim.domain.emsp import (
    DroppedOffer,
    Emsp,
    EmspConfig,
    degradation_cost_eur_per_mwh,
    flex_capacity_w,
)
from v2xcosim.domain.lfmp import MarketSession
from v2xcosim.domain.strategies import BuiltinStrategy, LpStrategy, plan, planning_headroom

DT = 900.0
K = 32  # 8 h plan
T0 = dt.datetime(2024, 5, 12, 6, 0, tzinfo=dt.UTC)

FloatArray = npt.NDArray[np.float64]


def one_ev(
    soc: float, cap: float, dep_steps: int, wish: float, smin: float, p_max: float
) -> EvArrays:
    f: Callable[[float], FloatArray] = lambda x: np.array([x], dtype=float)  # noqa: E731
    return EvArrays(
        soc=f(soc),
        capacity_kwh=f(cap),
        departure_s=f(dep_steps * DT),
        soc_target=f(wish),
        soc_min=f(smin),
        soc_max=f(1.0),
        p_max_charge_w=f(p_max),
        p_max_discharge_w=f(p_max),
        connected=np.array([True]),
    )


@settings(max_examples=150, deadline=None)
@given(
    soc=st.floats(0.05, 0.95),
    cap=st.floats(15.0, 80.0),
    dep=st.integers(4, K),
    wish=st.floats(0.3, 1.0),
    smin=st.floats(0.0, 0.5),
    p_max=st.floats(3000.0, 22000.0),
    strategy=st.sampled_from(["uncontrolled", "smart", "v2g"]),
    direction=st.sampled_from([1, -1]),
    k0=st.integers(0, K - 1),
    length=st.integers(1, 8),
    seed=st.integers(0, 10_000),
)
def test_offer_never_breaks_user_constraints(
    soc: float,
    cap: float,
    dep: int,
    wish: float,
    smin: float,
    p_max: float,
    strategy: str,
    direction: int,
    k0: int,
    length: int,
    seed: int,
) -> None:
    smin = min(smin, wish)
    ev = one_ev(soc, cap, dep, wish, smin, p_max)
    rng = np.random.default_rng(seed)
    cw, dw = rng.random(K) < 0.4, rng.random(K) < 0.3
    p_plan, soc_plan = plan(strategy, ev, 0.0, DT, cw, dw)
    k1 = min(k0 + length, K)
    dp = flex_capacity_w(
        ev,
        p_plan,
        soc_plan,
        t0_s=0.0,
        dt_s=DT,
        k0=k0,
        k1=k1,
        direction=direction,
        bidirectional=strategy == "v2g",
    )
    assert dp[0] >= 0
    feasible = max(wish - soc, 0) * cap * 3.6e6 <= p_max * ev.eta_charge * dep * DT
    # execute: plan before the window, plan ± dp inside, then the guard's full power to departure
    state = ev
    for k in range(dep):
        if k < k1:
            p = p_plan[:, k] + (direction * dp if k >= k0 else 0.0)
            if k >= k0 and dp[0] > 0:
                assert p[0] <= p_max + 1e-6 and p[0] >= -p_max - 1e-6
                if strategy != "v2g" and direction < 0:
                    assert p[0] >= -1e-6  # unidirectional never discharges
        else:
            _, hi = power_bounds(state, k * DT, DT)
            p = hi
        new = soc_after(state, p, DT)
        if k >= k0 and k < k1 and dp[0] > 0:
            assert new[0] >= min(smin, state.soc[0]) - 1e-9
            assert new[0] <= 1.0 + 1e-9
        state = dataclasses.replace(state, soc=np.clip(new, 0.0, 1.0))
    if feasible and dp[0] > 0:
        assert state.soc[0] >= wish - 1e-6


def test_offers_only_from_consented_in_zone_and_priced() -> None:
    n = 4
    f: Callable[[float], FloatArray] = lambda x: np.full(n, x, dtype=float)  # noqa: E731
    ev = EvArrays(
        soc=f(0.3),
        capacity_kwh=f(50.0),
        departure_s=f(8 * 3600.0),
        soc_target=f(0.8),
        soc_min=f(0.2),
        soc_max=f(1.0),
        p_max_charge_w=f(11000.0),
        p_max_discharge_w=f(11000.0),
        connected=np.ones(n, bool),
    )
    cw = np.zeros(K, bool)
    dw = np.zeros(K, bool)
    p_plan, soc_plan = plan("v2g", ev, 0.0, DT, cw, dw)
    r = FlexibilityRequest(
        request_id="r1",
        dso_id="dso",
        zone="primary",
        submitted_utc=T0,
        start_utc=T0 + dt.timedelta(hours=2),
        end_utc=T0 + dt.timedelta(hours=3),
        p_mw=0.5,
        price_cap_eur_per_mwh=100.0,
    )
    emsp = Emsp(EmspConfig(), T0, zone_parent={"LV1": "primary"})
    offers = emsp.build_offers(
        [r],
        ev,
        p_plan,
        soc_plan,
        plan_t0_s=0.0,
        dt_s=DT,
        zones=["LV1", "LV1", "LV1", "elsewhere"],
        thresholds_eur_per_mwh=np.array([10.0, 200.0, 40.0, 10.0]),
        campaign=np.array([True, True, False, True]),
        now_utc=T0,
    )
    assert len(offers) == 1
    o = offers[0]
    assert list(emsp.sessions_of(o.offer_id)) == [0]  # 1: too dear, 2: declined, 3: other zone
    assert o.price_eur_per_mwh == 30.0  # max(10, 20 degradation) + 5 margin → step 10
    assert 0 < o.p_mw <= 0.011
    # awards → commitments, partial award scales the session's extra power
    m = MarketSession("ms", T0 + dt.timedelta(minutes=30), zone_parent={"LV1": "primary"})
    m.submit_request(r)
    m.submit_offer(o)
    res = m.clear()
    c = emsp.commitments(res, n, K)
    assert c[0, 8:12] == __import__("pytest").approx(o.p_mw * 1e6)
    assert c[1:].sum() == 0 and c[0, :8].sum() == 0
    users, kept = emsp.split_revenue(o.offer_id, 100.0)
    assert users == {0: 80.0} and kept == 20.0
    st_ = emsp.statement(
        "u",
        "s",
        energy_charged_kwh=10,
        energy_discharged_kwh=2,
        soc_departure=0.8,
        incentive_eur=1.0,
    )
    assert st_.energy_cost_eur == 0.45 * 8 and st_.net_eur == 0.45 * 8 - 1.0


def test_degradation_cost() -> None:
    assert degradation_cost_eur_per_mwh(120.0, 3000.0) == 20.0


def test_billed_energy_credits_v2g_at_the_round_trip() -> None:
    """The user pays for the SOC gain as without V2G: a kWh fed back is credited at
    1/(η_c·η_d) kWh (hand calculation); with the default efficiencies 1 it is the net energy."""
    plain = Emsp(EmspConfig(), dt.datetime(2024, 5, 15, tzinfo=dt.UTC))
    assert plain.billed_kwh(10.0, 4.0) == 6.0
    emsp = Emsp(
        EmspConfig(credit_eta_charge=0.92, credit_eta_discharge=0.9),
        dt.datetime(2024, 5, 15, tzinfo=dt.UTC),
    )
    # 5 kWh into the battery need 5/0.92 kWh; 2 kWh fed back took 2/0.9 from the battery and
    # 2/(0.9·0.92) kWh to put back: drawn 5/0.92 + 2/(0.828), billed 5/0.92 = no V2G's bill
    drawn = 5 / 0.92 + 2 / (0.9 * 0.92)
    assert emsp.billed_kwh(drawn, 2.0) == pytest.approx(5 / 0.92)
    assert emsp.billed_kwh(1.0, 5.0) == 0.0
    st_ = emsp.statement(
        "u",
        "s",
        energy_charged_kwh=drawn,
        energy_discharged_kwh=2.0,
        soc_departure=0.8,
        incentive_eur=0.1,
    )
    assert st_.energy_cost_eur == pytest.approx(0.45 * 5 / 0.92)


def _evs(p_max_w: list[float], soc: float = 0.2, wish: float = 0.9) -> EvArrays:
    """EVs of 60 kWh staying 8 h (the whole plan), far below their wish."""
    n = len(p_max_w)
    f: Callable[[float], FloatArray] = lambda x: np.full(n, x, dtype=float)  # noqa: E731
    return EvArrays(
        soc=f(soc),
        capacity_kwh=f(60.0),
        departure_s=f(K * DT),
        soc_target=f(wish),
        soc_min=f(0.1),
        soc_max=f(1.0),
        p_max_charge_w=np.array(p_max_w, dtype=float),
        p_max_discharge_w=np.array(p_max_w, dtype=float),
        connected=np.ones(n, bool),
        eta_charge=1.0,
        eta_discharge=1.0,
    )


def _request(p_mw: float, k0: int = 4, k1: int = 8, rid: str = "r1") -> FlexibilityRequest:
    return FlexibilityRequest(
        request_id=rid,
        dso_id="dso",
        zone="primary",
        submitted_utc=T0,
        start_utc=T0 + dt.timedelta(seconds=k0 * DT),
        end_utc=T0 + dt.timedelta(seconds=k1 * DT),
        p_mw=p_mw,
        price_cap_eur_per_mwh=200.0,
    )


def test_headroom_alone_is_no_flexibility() -> None:
    """An EV the plan charges at (1 − 5 %) of its 11 kW all along has 550 W of headroom and
    nothing else: with the planner's headroom given, neither up nor an offer remains."""
    ev = _evs([11000.0])
    p_plan = np.full((1, K), 0.95 * 11000.0)
    # SOC at the end of each step (η = 1): 0.2 + 10.45 kW × 0.25 h × k / 60 kWh
    soc_plan = 0.2 + 0.95 * 11.0 * 0.25 * np.arange(1, K + 1)[None, :] / 60.0
    soc_plan = np.minimum(soc_plan, 0.9)
    p_plan = np.where(np.arange(K)[None, :] < 17, p_plan, 0.0)  # reaches the wish at step 17
    kw = dict(t0_s=0.0, dt_s=DT, k0=4, k1=8, direction=1, bidirectional=True)
    naive = flex_capacity_w(ev, p_plan, soc_plan, **kw)  # type: ignore[arg-type]
    assert naive[0] == pytest.approx(550.0, abs=0.01)  # the headroom, were it sold
    derated = flex_capacity_w(ev, p_plan, soc_plan, power_headroom=0.05, **kw)  # type: ignore[arg-type]
    assert derated[0] == 0.0
    emsp = Emsp(EmspConfig(), T0, zone_parent={"LV1": "primary"})
    offers = emsp.build_offers(
        [_request(0.5)],
        ev,
        p_plan,
        soc_plan,
        plan_t0_s=0.0,
        dt_s=DT,
        zones=["LV1"],
        thresholds_eur_per_mwh=np.array([10.0]),
        campaign=np.array([True]),
        now_utc=T0,
        power_headroom=0.05,
    )
    assert offers == [] and emsp.dropped == []
    with pytest.raises(ScenarioError, match="power_headroom"):
        flex_capacity_w(ev, p_plan, soc_plan, power_headroom=1.0, **kw)  # type: ignore[arg-type]


def test_down_flexibility_keeps_the_wish_reachable_at_the_derated_rating() -> None:
    """Down: the SOC the EMSP may discharge to leaves the wish reachable by charging at the
    *derated* rating after the window.

    Hand calculation (η = 1, 60 kWh, 10 kW both ways, plan idle at SOC 0.65, wish 0.9; window
    one step [1 h, 1 h 15 min), departure 2 h after it):
    full rating: floor = 0.9 − 10 kW × 2 h / 60 kWh = 0.5667, spare 5 kWh in 0.25 h = 20 kW,
    capped by the 10 kW rating; headroom 0.2 (8 kW): floor = 0.9 − 16/60 = 0.6333, spare
    1 kWh in 0.25 h = 4 kW.
    """
    ev = dataclasses.replace(_evs([10000.0], soc=0.65), departure_s=np.array([5 * DT + 7200.0]))
    p_plan = np.zeros((1, K))
    soc_plan = np.full((1, K), 0.65)
    kw = dict(t0_s=0.0, dt_s=DT, k0=4, k1=5, direction=-1, bidirectional=True)
    naive = flex_capacity_w(ev, p_plan, soc_plan, **kw)  # type: ignore[arg-type]
    derated = flex_capacity_w(ev, p_plan, soc_plan, power_headroom=0.2, **kw)  # type: ignore[arg-type]
    assert naive[0] == pytest.approx(10000.0, abs=0.05)
    assert derated[0] == pytest.approx(4000.0, abs=0.05)


def test_offers_below_the_minimum_are_dropped_and_their_sessions_stay_free() -> None:
    """Two idle EVs far below their wish offer their full rating up (hand calculation: the SOC
    bound, 0.7 × 60 kWh in 1 h, is far above it): 12 kW at 30 EUR/MWh (threshold 10 → wear
    20 + margin 5, step 10) and 4 kW at 110 EUR/MWh (threshold 100 + 5).  With a 10 kW minimum
    the 12 kW offer is placed, the 4 kW one is dropped, and its session answers the next
    request again (dropped once more); without a minimum both are placed."""
    ev = _evs([12000.0, 4000.0])
    p_plan = np.zeros((2, K))
    soc_plan = np.full((2, K), 0.2)

    def offers_of(emsp: Emsp, req: FlexibilityRequest) -> list[tuple[float, float]]:
        got = emsp.build_offers(
            [req],
            ev,
            p_plan,
            soc_plan,
            plan_t0_s=0.0,
            dt_s=DT,
            zones=["LV1", "LV1"],
            thresholds_eur_per_mwh=np.array([10.0, 100.0]),
            campaign=np.array([True, True]),
            now_utc=T0,
            power_headroom=0.0,
        )
        return [(o.p_mw, o.price_eur_per_mwh) for o in got]

    emsp = Emsp(EmspConfig(min_offer_kw=10.0), T0, zone_parent={"LV1": "primary"})
    placed = offers_of(emsp, _request(0.5))
    assert len(placed) == 1
    assert placed[0][0] == pytest.approx(0.012, rel=1e-5) and placed[0][1] == 30.0
    assert len(emsp.dropped) == 1
    d = emsp.dropped[0]
    assert isinstance(d, DroppedOffer)
    assert (d.request_id, d.zone, d.price_eur_per_mwh, d.n_sessions) == ("r1", "LV1", 110.0, 1)
    assert d.p_mw == pytest.approx(0.004, rel=1e-5) and d.min_offer_kw == 10.0
    # the same window again: the 12 kW session is taken, the 4 kW one is still free
    assert offers_of(emsp, _request(0.5, rid="r2")) == []
    assert [x.request_id for x in emsp.dropped] == ["r1", "r2"]

    free = Emsp(EmspConfig(), T0, zone_parent={"LV1": "primary"})
    both = offers_of(free, _request(0.5))
    assert [p for _, p in both] == [30.0, 110.0] and free.dropped == []
    assert both[1][0] == pytest.approx(0.004, rel=1e-5)


def test_min_offer_must_be_finite_and_not_negative() -> None:
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ScenarioError, match="min_offer_kw"):
            EmspConfig(min_offer_kw=bad)


def test_planning_headroom_is_the_lp_reserve() -> None:
    assert planning_headroom(BuiltinStrategy("v2g")) == 0.05
    assert planning_headroom(BuiltinStrategy("smart")) == 0.05
    assert planning_headroom(BuiltinStrategy("uncontrolled")) == 0.0
    assert planning_headroom(LpStrategy(False, power_headroom=0.1)) == 0.1

    class Own:
        bidirectional = False

        def decide(self, inputs: object) -> FloatArray:
            return np.zeros(0)

    assert planning_headroom(Own()) == 0.0
