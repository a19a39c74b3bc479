"""The LP scheduler against hand-solved optima, the cycling threshold and the wish guarantee."""

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.scheduler import (
    TIE_BREAK_EUR_PER_KWH,
    Commitment,
    Site,
    StorageUnit,
    cycle_wear_eur_per_kwh,
    reverse_flow_bound,
    schedule,
    schmalstieg_beta,
)

H = 3600.0


def ev(cap: float, soc0: float, wish: float, dep: int, **kw: float) -> StorageUnit:
    """A lossless 10 kW session present from step 0 to ``dep`` (``kw`` overrides)."""
    args = {"p_charge_max_w": 10_000.0, "eta_charge": 1.0, "eta_discharge": 1.0, **kw}
    return StorageUnit(
        capacity_kwh=cap,
        soc0=soc0,
        departure_k=dep,
        soc_wish=wish,
        p_charge_max_w=args["p_charge_max_w"],
        p_discharge_max_w=args.get("p_discharge_max_w", 0.0),
        eta_charge=args["eta_charge"],
        eta_discharge=args["eta_discharge"],
    )


def test_two_sessions_four_steps_fill_the_cheapest_steps() -> None:
    # A: 100 kWh, needs 15 kWh over steps 0-3; B: 100 kWh, needs 12 kWh over steps 0-1.
    # Prices 100, 50, 200, 80 EUR/MWh, 10 kW each, lossless: both fill step 1 (50), then
    # A takes 5 kWh at step 3 (80, cheaper than 100) and B its last 2 kWh at step 0.
    units = [ev(100.0, 0.10, 0.25, 4), ev(100.0, 0.20, 0.32, 2)]
    out = schedule(units, n_steps=4, dt_s=H, price_eur_per_mwh=np.array([100, 50, 200, 80.0]))
    expected = np.array([[0, 10_000, 0, 5_000], [2_000, 10_000, 0, 0]], dtype=float)
    np.testing.assert_allclose(out.p_w, expected, atol=1e-6)
    np.testing.assert_allclose(out.soc_end[1, :2], [0.22, 0.32], atol=1e-9)
    assert np.isnan(out.soc_end[1, 2:]).all()  # B has left
    cost = (10 * 50 + 5 * 80 + 2 * 100 + 10 * 50) / 1000
    tie = TIE_BREAK_EUR_PER_KWH * (10 * 0.75 + 5 * 0.25 + 2 * 1.0 + 10 * 0.75)  # ε·(1 − k/T)
    assert out.cost_eur == pytest.approx(cost + tie, abs=1e-9)


def test_equal_prices_charge_as_late_as_possible() -> None:
    out = schedule([ev(100.0, 0.1, 0.2, 4)], n_steps=4, dt_s=H, price_eur_per_mwh=100.0)
    np.testing.assert_allclose(out.p_w[0], [0, 0, 0, 10_000], atol=1e-6)


@pytest.mark.parametrize("above", [True, False])
def test_cycling_only_above_the_loss_and_wear_spread(above: bool) -> None:
    # a stationary battery that must end where it started: buy at p1, sell at p2
    eta_c, eta_d, wear, p1 = 0.95, 0.9, 0.01, 80.0
    spread = (1 / (eta_c * eta_d) - 1) * p1 + 2 * wear * 1000 / eta_d  # EUR/MWh
    p2 = p1 + spread + (1.0 if above else -1.0)
    bat = StorageUnit(
        capacity_kwh=100.0,
        soc0=0.5,
        p_charge_max_w=10_000.0,
        p_discharge_max_w=10_000.0,
        eta_charge=eta_c,
        eta_discharge=eta_d,
        wear_eur_per_kwh=wear,
    )
    out = schedule([bat], n_steps=2, dt_s=H, price_eur_per_mwh=np.array([p1, p2]))
    if above:  # charge fully, sell what was stored
        np.testing.assert_allclose(out.p_w[0], [10_000, -10_000 * eta_c * eta_d], rtol=1e-9)
    else:
        np.testing.assert_allclose(out.p_w[0], [0, 0], atol=1e-6)


def test_a_discharge_is_not_recharged_at_a_loss() -> None:
    # EV leaves at 0.6 as it came; the evening price is high, the night one lower, but not
    # enough below to pay for the round trip at eta 0.9/0.9
    unit = ev(50.0, 0.6, 0.6, 3, p_discharge_max_w=10_000.0, eta_charge=0.9, eta_discharge=0.9)
    out = schedule([unit], n_steps=3, dt_s=H, price_eur_per_mwh=np.array([150.0, 130.0, 130.0]))
    np.testing.assert_allclose(out.p_w[0], 0.0, atol=1e-6)
    out = schedule([unit], n_steps=3, dt_s=H, price_eur_per_mwh=np.array([150.0, 100.0, 100.0]))
    assert out.p_w[0, 0] < 0 and out.soc_end[0, -1] == pytest.approx(0.6, abs=1e-9)


def test_a_per_unit_discharge_mask_forbids_one_unit_and_lets_the_other() -> None:
    # Two identical lossless units, 100 kWh at 0.5, wish 0.5, 10 kW both ways, leave after
    # step 1; prices 50 then 300 EUR/MWh, no wear.  Free, each buys 10 kWh at step 0 and sells
    # them at step 1 (it must end at 0.5: no overfill): 10·(0.05 − 0.30) = −2.5 EUR each, plus
    # the tie-break ε·10 on the charge (k = 0: weight 1) and ε·10 on the discharge.  With A
    # barred from discharging at step 1 a charge at step 0 could not be undone, so A stays idle
    # and only B cycles.
    units = [ev(100.0, 0.5, 0.5, 2, p_discharge_max_w=10_000.0) for _ in range(2)]
    price = np.array([50.0, 300.0])
    eps = TIE_BREAK_EUR_PER_KWH
    cycle = np.array([10_000.0, -10_000.0])
    free = schedule(units, n_steps=2, dt_s=H, price_eur_per_mwh=price)
    np.testing.assert_allclose(free.p_w, [cycle, cycle], atol=1e-6)
    assert free.cost_eur == pytest.approx(2 * (-2.5 + 20 * eps), abs=1e-9)
    mask = np.array([[True, False], [True, True]])
    out = schedule(units, n_steps=2, dt_s=H, price_eur_per_mwh=price, discharge_allowed=mask)
    np.testing.assert_allclose(out.p_w, np.array([np.zeros(2), cycle]), atol=1e-6)
    np.testing.assert_allclose(out.soc_end, [[0.5, 0.5], [0.6, 0.5]], atol=1e-9)
    assert out.cost_eur == pytest.approx(-2.5 + 20 * eps, abs=1e-9)
    # a 1-D mask holds for every unit: step 1 barred for both, nobody cycles
    one = schedule(
        units, n_steps=2, dt_s=H, price_eur_per_mwh=price, discharge_allowed=np.array([True, False])
    )
    np.testing.assert_allclose(one.p_w, 0.0, atol=1e-6)


@pytest.mark.parametrize(
    ("mask", "match"),
    [
        (np.ones(3, bool), r"shape \(3,\); it needs \(2,\)"),
        (np.ones((2, 3), bool), r"\(2, 3\).*\(2, 2\) \(per unit and step\)"),
        (np.ones((1, 2), bool), r"shape \(1, 2\)"),
        (np.ones((2, 2)), "must be bools"),
    ],
)
def test_a_discharge_mask_of_the_wrong_shape_or_type_is_refused(
    mask: npt.NDArray[np.generic], match: str
) -> None:
    units = [ev(100.0, 0.5, 0.5, 2, p_discharge_max_w=10_000.0) for _ in range(2)]
    with pytest.raises(ScenarioError, match=match):
        schedule(units, n_steps=2, dt_s=H, discharge_allowed=mask)


def test_infeasible_wish_charges_at_full_power() -> None:
    out = schedule([ev(50.0, 0.2, 0.9, 2)], n_steps=4, dt_s=H, price_eur_per_mwh=50.0)
    np.testing.assert_allclose(out.p_w[0], [10_000, 10_000, 0, 0], atol=1e-6)
    assert out.wish_shortfall_kwh[0] == pytest.approx(0.0, abs=1e-9)  # pre-clipped


def test_site_cap_shares_the_power_and_reports_the_shortfall() -> None:
    units = [ev(100.0, 0.0, 0.3, 2), ev(100.0, 0.0, 0.3, 2)]
    site = Site((0, 1), p_import_max_w=15_000.0)
    out = schedule(units, n_steps=2, dt_s=H, price_eur_per_mwh=10.0, sites=[site])
    assert np.all(out.p_w.sum(axis=0) <= 15_000 + 1e-6)
    # each wish (30 kWh) is pre-clipped to the 20 kWh 10 kW give in 2 h; the cap allows 30 of 40
    assert out.wish_shortfall_kwh.sum() == pytest.approx(40 - 30, abs=1e-6)


def test_departure_beyond_the_horizon_keeps_the_wish_reachable() -> None:
    # 6 steps to departure, horizon 2: after the horizon 4 h × 10 kW = 40 kWh are still
    # possible, so of 50 kWh needed 10 must be in the horizon
    out = schedule([ev(100.0, 0.2, 0.7, 6)], n_steps=2, dt_s=H, price_eur_per_mwh=100.0)
    assert out.soc_end[0, -1] == pytest.approx(0.3, abs=1e-9)


def test_up_flex_is_delivered_by_shifting_never_by_overfilling() -> None:
    # needs 10 kWh by step 4; the late plan would charge at step 3; +5 kW committed at step 1
    unit = ev(100.0, 0.5, 0.6, 4)
    com = Commitment((0,), np.zeros(4), np.array([0, 5000.0, 0, 0]))
    out = schedule([unit], n_steps=4, dt_s=H, price_eur_per_mwh=100.0, commitments=[com])
    np.testing.assert_allclose(out.p_w[0], [0, 5000, 0, 5000], atol=1e-6)
    assert out.soc_end[0, -1] == pytest.approx(0.6, abs=1e-9)
    # a commitment beyond the wish is not kept: the user is not charged more than he asked
    com = Commitment((0,), np.zeros(4), np.array([0, 10_000.0, 10_000.0, 0]))
    out = schedule([unit], n_steps=4, dt_s=H, price_eur_per_mwh=100.0, commitments=[com])
    assert out.soc_end[0, -1] == pytest.approx(0.6, abs=1e-9)
    assert out.p_w[0].sum() == pytest.approx(10_000, abs=1e-6)


def test_down_flex_commitment_on_a_group() -> None:
    units = [ev(100.0, 0.5, 0.6, 3, p_discharge_max_w=10_000.0) for _ in range(2)]
    base = np.full(3, 0.0)
    com = Commitment((0, 1), base, np.array([-15_000.0, 0, 0]))
    out = schedule(units, n_steps=3, dt_s=H, price_eur_per_mwh=100.0, commitments=[com])
    assert out.p_w[:, 0].sum() == pytest.approx(-15_000, abs=1e-6)
    np.testing.assert_allclose(out.soc_end[:, -1], 0.6, atol=1e-9)


def test_uncontrolled_unit_is_fixed() -> None:
    unit = StorageUnit(50.0, 0.2, 10_000.0, departure_k=4, soc_wish=0.5, controllable=False)
    out = schedule([unit], n_steps=4, dt_s=H, price_eur_per_mwh=np.array([500.0, 0, 0, 0]))
    e = 0.3 * 50 / 0.92  # kWh from the grid to reach the wish
    np.testing.assert_allclose(out.p_w[0], [10_000, (e - 10) * 1000, 0, 0], rtol=1e-9)


def test_bound_on_a_toy_surplus() -> None:
    base = np.array([5_000.0, -10_000.0, -10_000.0, 5_000.0])  # 20 kWh surplus
    # unidirectional EV needing 12 kWh: absorbs 12, 8 kWh left
    e, out = reverse_flow_bound([ev(100.0, 0.2, 0.32, 4, p_charge_max_w=8e3)], base, dt_s=H)
    assert e == pytest.approx(8.0, abs=1e-6)
    assert np.all(out.p_w[0, [0, 3]] == pytest.approx(0.0, abs=1e-6))
    # bidirectional: may first discharge 5 kWh into the import at step 0 (not more: that
    # would be reverse flow itself), then absorb 16 kWh (8 kW); 4 kWh left
    v2g = ev(100.0, 0.2, 0.32, 4, p_charge_max_w=8e3, p_discharge_max_w=10_000.0)
    e, out = reverse_flow_bound([v2g], base, dt_s=H)
    assert e == pytest.approx(4.0, abs=1e-6)
    np.testing.assert_allclose(out.p_w[0, 1:3], [8_000.0, 8_000.0], atol=1e-6)
    assert -5_000.0 - 1e-6 <= out.p_w[0, 0] <= -4_000.0 + 1e-6


def test_wear_cost_from_the_schmalstieg_law() -> None:
    beta = 7.348e-3 * (3.7 - 3.667) ** 2 + 7.6e-4 + 4.081e-3 * 0.5
    assert schmalstieg_beta() == pytest.approx(beta)
    ah0 = 2 * 300 * 2.05
    expected = beta / (2 * math.sqrt(ah0)) * 2.05 * 115 * 0.92
    assert cycle_wear_eur_per_kwh() == pytest.approx(expected)
    assert cycle_wear_eur_per_kwh(1200.0) == pytest.approx(expected / 2)  # ∝ 1/√throughput
    with pytest.raises(ScenarioError):
        cycle_wear_eur_per_kwh(0.0)


def test_bad_units_are_refused() -> None:
    with pytest.raises(ScenarioError, match="departure_k > arrival_k"):
        StorageUnit(50.0, 0.5, 1000.0, arrival_k=3, departure_k=3)
    with pytest.raises(ScenarioError, match="soc0"):
        StorageUnit(50.0, 1.5, 1000.0)


session = st.tuples(
    st.floats(20.0, 90.0),  # capacity
    st.floats(0.05, 0.8),  # SOC at arrival
    st.floats(0.3, 0.95),  # wish
    st.integers(0, 10),  # arrival
    st.integers(1, 14),  # stay
    st.booleans(),  # bidirectional
)


def _units(sessions: list[tuple[float, float, float, int, int, bool]]) -> list[StorageUnit]:
    return [
        StorageUnit(
            capacity_kwh=c,
            soc0=s0,
            p_charge_max_w=7_400.0,
            p_discharge_max_w=7_400.0 if bi else 0.0,
            eta_charge=0.92,
            eta_discharge=0.9,
            soc_min=0.2,
            soc_max=0.9,
            arrival_k=a,
            departure_k=a + d,
            soc_wish=w,
            wear_eur_per_kwh=0.009,
        )
        for c, s0, w, a, d, bi in sessions
    ]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(session, min_size=1, max_size=6),
    st.lists(st.floats(-50.0, 400.0), min_size=24, max_size=24),
)
def test_wish_met_when_feasible_and_never_overfilled(
    sessions: list[tuple[float, float, float, int, int, bool]], prices: list[float]
) -> None:
    units = _units(sessions)
    out = schedule(units, n_steps=24, dt_s=900.0, price_eur_per_mwh=np.array(prices))
    for i, u in enumerate(units):
        assert u.departure_k is not None and u.soc_wish is not None
        dep = min(u.departure_k, 24)
        final = out.soc_end[i, dep - 1]
        reach = u.soc0 + 0.92 * 7.4 * 0.25 * (dep - u.arrival_k) / u.capacity_kwh
        wish = min(u.soc_wish, 0.9)
        if u.departure_k <= 24:
            assert final >= min(wish, reach) - 1e-6  # the wish, or full power's best
            assert final <= max(wish, u.soc0) + 1e-6  # never more than asked
        soc = out.soc_end[i][np.isfinite(out.soc_end[i])]
        assert np.all(soc >= min(0.2, u.soc0) - 1e-6) and np.all(soc <= 0.9 + 1e-6)
    assert np.all(out.wish_shortfall_kwh <= 1e-6)  # no site cap here: always reachable


@settings(max_examples=40, deadline=None)
@given(
    st.lists(session, min_size=1, max_size=5),
    st.lists(st.floats(0.0, 400.0), min_size=24, max_size=24),
)
def test_never_costs_the_user_more_than_uncontrolled_at_the_same_prices(
    sessions: list[tuple[float, float, float, int, int, bool]], prices: list[float]
) -> None:
    price = np.array(prices)
    units = _units([(c, s0, w, a, d, bi) for c, s0, w, a, d, bi in sessions])
    out = schedule(units, n_steps=24, dt_s=900.0, price_eur_per_mwh=price)
    fixed = [StorageUnit(**{**u.__dict__, "controllable": False}) for u in units]
    unc = schedule(fixed, n_steps=24, dt_s=900.0, price_eur_per_mwh=price)
    # uncontrolled reaches the same SOC (the wish, or full power's best)
    bill = (out.p_w * price).sum(axis=1) * 0.25 / 1e6
    bill_unc = (unc.p_w * price).sum(axis=1) * 0.25 / 1e6
    slack = TIE_BREAK_EUR_PER_KWH * np.abs(unc.p_w).sum(axis=1) * 0.25 / 1e3 + 1e-9
    assert np.all(bill <= bill_unc + slack)


def test_solve_stats_record_every_solve_without_changing_results() -> None:
    from v2xcosim.domain.scheduler import SOLVE_STATS

    units = _units([(40.0, 0.3, 0.8, 0, 12, True), (60.0, 0.5, 0.7, 4, 16, False)])
    price = np.linspace(50.0, 150.0, 24)
    SOLVE_STATS.reset()
    a = schedule(units, n_steps=24, dt_s=900.0, price_eur_per_mwh=price)
    b = schedule(units, n_steps=24, dt_s=900.0, price_eur_per_mwh=price)
    assert len(SOLVE_STATS) == 2
    t = SOLVE_STATS.times_s()
    assert t.shape == (2,) and np.all(t > 0.0)
    n_vars, n_rows = SOLVE_STATS.sizes()[0]
    assert n_vars >= 3 * (12 + 12)  # c, d, e per present (unit, step) and more
    assert n_rows >= 12 + 12  # one SOC equation per present pair at least
    np.testing.assert_array_equal(a.p_w, b.p_w)
    SOLVE_STATS.reset()
    assert len(SOLVE_STATS) == 0 and SOLVE_STATS.times_s().shape == (0,)
