"""The BEMS optimiser against hand-solved optima, the wish guarantee, DSO limits and export."""

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.bems import (
    IMPORT_LIMIT_EUR_PER_KWH,
    IMPORT_LIMIT_PEAK_EUR_PER_KW,
    peak_hours_price_eur_per_kw,
    plan,
)
from v2xcosim.domain.scheduler import TIE_BREAK_EUR_PER_KWH, Site, StorageUnit, schedule
from v2xcosim.domain.tariff import DAYS_PER_MONTH
from v2xcosim.usecases.porto.tariff import PEAK_POWER_EUR_PER_KW_MONTH, PONTA, mv_tariff

H = 3600.0
KW = 1e3


def _ev(**kw: float | int | None) -> StorageUnit:
    args: dict[str, float | int | None] = {
        "capacity_kwh": 50.0,
        "soc0": 0.5,
        "p_charge_max_w": 11 * KW,
        "p_discharge_max_w": 11 * KW,
        "eta_charge": 0.9,
        "eta_discharge": 0.9,
        "arrival_k": 0,
        "departure_k": 4,
        "soc_wish": 0.5,
    }
    args.update(kw)
    return StorageUnit(**args)  # type: ignore[arg-type]


# ---- (1) a peak one EV can shave exactly --------------------------------------------------
# Base load 100, 120, 160, 100 kW (1-h steps); the EV is parked in steps 1 and 2 only, with
# E kWh deliverable at the grid side above its wish (= soc_min), η = 0.9 each way.  The
# largest import L is flat over steps 1–2:
# E = 50: discharge 5 kW in step 1 and 45 kW in step 2, L = 115 kW;
# E = 20: too little to bring step 2 down to 120, so the EV charges x in step 1 and
#   discharges 20 + η²·x in step 2: 120 + x = 160 − 20 − η²·x → x = 20/(1 + η²),
#   L = 120 + x = 131.05 kW (charging at the lower step buys more at the higher one).
ETA1 = 0.9
X1 = 20.0 / (1 + ETA1**2)


@pytest.mark.parametrize(
    ("e_kwh", "p_kw"),
    [(50.0, [0.0, -5.0, -45.0, 0.0]), (20.0, [0.0, X1, -(20.0 + ETA1**2 * X1), 0.0])],
)
def test_peak_shaved_flat_by_one_ev(e_kwh: float, p_kw: list[float]) -> None:
    cap, gamma, kappa = 100.0, 0.01, 0.02
    lam_m, lam_c, p_c = 2.0, 3.0, 110.0  # EUR/kW mean ponta, EUR/kW exceedance, kW
    ev = _ev(
        capacity_kwh=cap,
        soc0=0.2 + e_kwh / ETA1 / cap,
        soc_min=0.2,
        soc_wish=0.2,
        p_charge_max_w=60 * KW,
        p_discharge_max_w=60 * KW,
        arrival_k=1,
        departure_k=3,
        wear_eur_per_kwh=gamma,
    )
    base_kw = np.array([100.0, 120.0, 160.0, 100.0])
    out = plan(
        [ev],
        dt_s=H,
        base_load_w=base_kw * KW,
        price_eur_per_mwh=np.zeros(4),
        peak_hours=np.array([False, True, True, False]),
        peak_hours_eur_per_kw=lam_m,
        contracted_w=p_c * KW,
        exceedance_eur_per_kw=lam_c,
        compensation_eur_per_kwh=kappa,
    )
    np.testing.assert_allclose(out.p_ev_w[0] / KW, p_kw, atol=1e-6)
    level = base_kw[1] + p_kw[1]
    assert out.import_w[2] / KW == pytest.approx(level)  # flat over the peak hours
    c_kwh = max(p_kw[1], 0.0)
    d_kwh = -sum(min(p, 0.0) for p in p_kw)
    assert out.peak_hours_eur == pytest.approx(lam_m * level)
    assert out.exceedance_eur == pytest.approx(lam_c * (level - p_c))
    assert out.wear_eur == pytest.approx(gamma * (ETA1 * c_kwh + d_kwh / ETA1))
    assert out.compensation_eur == pytest.approx(kappa * d_kwh)
    assert out.energy_eur == 0.0
    assert out.discharged_kwh[0] == pytest.approx(d_kwh)
    assert out.soc_ev[0, 2] == pytest.approx(0.2)  # all of it used, wish (= soc_min) kept
    assert out.wish_shortfall_kwh[0] == pytest.approx(0.0, abs=1e-9)
    # the objective is the terms plus the scheduler's tie-break: ε per kWh discharged and
    # ε·(1 − k/T) per kWh charged in step k = 1 of T = 4
    tie = TIE_BREAK_EUR_PER_KWH * (d_kwh + 0.75 * c_kwh)
    assert out.objective_eur - out.total_eur == pytest.approx(tie, rel=1e-6)


# ---- (2) a price spread against round-trip losses, wear and compensation ------------------
# Sell at step 0 (price hi), buy back at step 1 (lo = 100 EUR/MWh) to return to the wish.
# One kWh sold needs 1/(η_c·η_d) kWh bought and wears γ·(η_c·c + d/η_d) = 2γ/η_d per kWh
# sold; the user gets κ per kWh sold.  Worth it iff hi > lo/η² + 2γ/η + κ (+ tie-break).
# Then the EV sells as much as it can buy back at 11 kW: d = 11·η² kW = 8.91 kW.
ETA, GAMMA, KAPPA, LO = 0.9, 0.01, 0.02, 100.0
HI_STAR = (LO / 1e3 / ETA**2 + 2 * GAMMA / ETA + KAPPA) * 1e3  # 165.68 EUR/MWh


def _spread(hi: float) -> tuple[np.ndarray, float, float, float, float]:
    out = plan(
        [_ev(departure_k=2, wear_eur_per_kwh=GAMMA)],
        dt_s=H,
        base_load_w=np.array([100.0, 100.0]) * KW,
        price_eur_per_mwh=np.array([hi, LO]),
        compensation_eur_per_kwh=KAPPA,
    )
    return out.p_ev_w[0], out.energy_eur, out.wear_eur, out.compensation_eur, out.soc_ev[0, 1]


@pytest.mark.parametrize("hi", [120.0, 150.0, HI_STAR - 1.0])
def test_spread_below_losses_and_wear_does_not_discharge(hi: float) -> None:
    p, energy, wear, comp, soc_end = _spread(hi)
    np.testing.assert_allclose(p, [0.0, 0.0], atol=1e-6)
    assert energy == pytest.approx((hi + LO) / 1e3 * 100.0)
    assert wear == comp == 0.0
    assert soc_end == pytest.approx(0.5)


@pytest.mark.parametrize("hi", [HI_STAR + 1.0, 190.0, 300.0])
def test_spread_above_losses_and_wear_discharges_what_it_can_buy_back(hi: float) -> None:
    p, energy, wear, comp, soc_end = _spread(hi)
    d_kw = 11.0 * ETA**2
    np.testing.assert_allclose(p / KW, [-d_kw, 11.0], atol=1e-6)
    assert energy == pytest.approx(hi / 1e3 * (100.0 - d_kw) + LO / 1e3 * 111.0)
    assert wear == pytest.approx(GAMMA * (ETA * 11.0 + d_kw / ETA))
    assert comp == pytest.approx(KAPPA * d_kw)
    assert soc_end == pytest.approx(0.5)


# ---- (3) departure wish under adversarial sessions ----------------------------------------
@st.composite
def _sessions(draw: st.DrawFn) -> tuple[list[StorageUnit], dict[str, Any]]:
    t_n = draw(st.integers(2, 8))
    n = draw(st.integers(1, 4))
    units = []
    for _ in range(n):
        a = draw(st.integers(0, t_n - 1))
        b = draw(st.integers(a + 1, min(a + 3, t_n)))  # short stays, leaving in the horizon
        bidir = draw(st.booleans())
        units.append(
            StorageUnit(
                capacity_kwh=draw(st.sampled_from([10.0, 40.0, 75.0])),
                soc0=draw(st.floats(0.0, 0.9)),
                p_charge_max_w=draw(st.sampled_from([3.7, 11.0, 22.0])) * KW,
                p_discharge_max_w=11 * KW if bidir else 0.0,
                eta_charge=draw(st.sampled_from([0.85, 0.95])),
                eta_discharge=0.9,
                soc_min=draw(st.sampled_from([0.0, 0.2])),
                arrival_k=a,
                departure_k=b,
                soc_wish=draw(st.floats(0.7, 1.0)),  # high targets
                wear_eur_per_kwh=0.01,
            )
        )
    base = np.array(draw(st.lists(st.floats(-20.0, 80.0), min_size=t_n, max_size=t_n))) * KW
    limit = np.where(
        np.array(draw(st.lists(st.booleans(), min_size=t_n, max_size=t_n))),
        draw(st.floats(0.0, 60.0)) * KW,
        math.inf,
    )
    kw = {
        "dt_s": draw(st.sampled_from([900.0, H])),
        "base_load_w": base,
        "price_eur_per_mwh": np.array(
            draw(st.lists(st.floats(0.0, 300.0), min_size=t_n, max_size=t_n))
        ),
        "peak_hours": np.array(draw(st.lists(st.booleans(), min_size=t_n, max_size=t_n))),
        "peak_hours_eur_per_kw": draw(st.floats(0.0, 50.0)),
        "contracted_w": draw(st.floats(0.0, 50.0)) * KW,
        "exceedance_eur_per_kw": draw(st.floats(0.0, 100.0)),
        "import_limit_w": limit,
        "export_limit_w": draw(st.sampled_from([0.0, 5 * KW])),
        "compensation_eur_per_kwh": 0.05,
    }
    return units, kw


@settings(
    derandomize=True, max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(_sessions())
def test_departure_wish_met_whenever_reachable(
    case: tuple[list[StorageUnit], dict[str, Any]],
) -> None:
    units, kw = case
    out = plan(units, **kw)
    dt_h = kw["dt_s"] / H
    for i, u in enumerate(units):
        assert u.departure_k is not None and u.soc_wish is not None
        n = u.departure_k - u.arrival_k
        reach = u.soc0 + u.eta_charge * u.p_charge_max_w / KW * n * dt_h / u.capacity_kwh
        target = min(u.soc_wish, u.soc_max, reach)
        assert out.soc_ev[i, u.departure_k - 1] >= target - 1e-7
        assert out.wish_shortfall_kwh[i] <= 1e-7
        soc = out.soc_ev[i, u.arrival_k : u.departure_k]
        assert np.all(soc >= min(u.soc_min, u.soc0) - 1e-9)
        assert np.all(soc <= max(u.soc_max, u.soc0) + 1e-9)
    # never export beyond the limit, nor deepen the building's own export
    floor = np.minimum(kw["base_load_w"], -kw["export_limit_w"])
    assert np.all(out.import_w >= floor - 1e-6)


# ---- (4) a DSO import-limit event ----------------------------------------------------------
def test_import_limit_kept_when_feasible() -> None:
    limit = np.array([math.inf, math.inf, 90.0, math.inf]) * KW
    out = plan(
        [_ev(wear_eur_per_kwh=0.01)],
        dt_s=H,
        base_load_w=np.full(4, 100 * KW),
        price_eur_per_mwh=np.full(4, 100.0),
        import_limit_w=limit,
    )
    assert out.import_w[2] == pytest.approx(90 * KW, abs=1e-6)  # 10 kW of V2B, no more
    np.testing.assert_allclose(out.import_limit_excess_w, 0.0, atol=1e-6)
    assert out.import_limit_excess_kwh == pytest.approx(0.0, abs=1e-9)
    assert out.soc_ev[0, 3] == pytest.approx(0.5)  # back to the wish


def test_import_limit_violation_reported_when_infeasible() -> None:
    limit = np.array([math.inf, math.inf, 50.0, math.inf]) * KW
    out = plan(
        [_ev(wear_eur_per_kwh=0.01)],
        dt_s=H,
        base_load_w=np.full(4, 100 * KW),
        price_eur_per_mwh=np.full(4, 100.0),
        import_limit_w=limit,
    )
    # the EV gives its 11 kW; 100 − 11 − 50 = 39 kW remain above the limit for one hour
    assert out.p_ev_w[0, 2] == pytest.approx(-11 * KW)
    np.testing.assert_allclose(out.import_limit_excess_w / KW, [0, 0, 39, 0], atol=1e-6)
    assert out.import_limit_excess_kwh == pytest.approx(39.0)
    # σ per kWh above the limit and τ per kW of the largest step above it
    assert out.import_limit_eur == pytest.approx(
        IMPORT_LIMIT_EUR_PER_KWH * 39.0 + IMPORT_LIMIT_PEAK_EUR_PER_KW * 39.0
    )
    assert out.soc_ev[0, 3] >= 0.5 - 1e-9  # recharged to the wish around the event


def test_unavoidable_excess_is_spread_evenly_over_the_limited_steps() -> None:
    # two 1-h steps, base 120 and 110 kW, limit 100 kW in both: 30 kWh above it.  The EV
    # leaves after step 1 and can give E = 10 kWh at the grid side (its band 0.5 -> 0.5 −
    # 10/0.9/50).  The energy above the limit is 20 kWh whatever it does; the largest step
    # above it is min over d1 + d2 = 10 of max(20 − d1, 10 − d2) = 10 kW, only at d = (10, 0).
    e_kwh = 10.0
    soc_low = 0.5 - e_kwh / 0.9 / 50.0
    ev = _ev(departure_k=2, soc_wish=soc_low, soc_min=soc_low)
    base = np.array([120.0, 110.0]) * KW
    price = np.array([100.0, 200.0])  # step 2 dearer: σ alone discharges there
    limit = np.full(2, 100.0 * KW)
    out = plan([ev], dt_s=H, base_load_w=base, price_eur_per_mwh=price, import_limit_w=limit)
    np.testing.assert_allclose(out.import_limit_excess_w / KW, [10.0, 10.0], atol=1e-6)
    np.testing.assert_allclose(out.p_ev_w[0] / KW, [-10.0, 0.0], atol=1e-6)
    assert out.import_limit_excess_kwh == pytest.approx(20.0)
    # without τ the same energy above the limit, but all of it in step 1 (the dear step 2
    # takes the discharge): 20 kW there
    flat = plan(
        [ev],
        dt_s=H,
        base_load_w=base,
        price_eur_per_mwh=price,
        import_limit_w=limit,
        import_limit_peak_eur_per_kw=0.0,
    )
    assert flat.import_limit_excess_kwh == pytest.approx(20.0)
    np.testing.assert_allclose(flat.import_limit_excess_w / KW, [20.0, 0.0], atol=1e-6)


def test_import_limit_moves_charging_out_of_the_window() -> None:
    # a unidirectional EV needs 19.8 kWh (0.9 × 22 kWh at the grid): two of four hours at
    # 11 kW; the DSO caps the building's import at its base load in hours 2 and 3
    ev = _ev(p_discharge_max_w=0.0, soc0=0.1, soc_wish=0.1 + 19.8 / 50)
    price = np.array([200.0, 200.0, 100.0, 100.0])  # cheap when the event is on
    out = plan(
        [ev],
        dt_s=H,
        base_load_w=np.full(4, 100 * KW),
        price_eur_per_mwh=price,
        import_limit_w=np.array([math.inf, math.inf, 100.0, 100.0]) * KW,
    )
    np.testing.assert_allclose(out.p_ev_w[0] / KW, [11, 11, 0, 0], atol=1e-6)
    # without the event it charges in the cheap hours
    free = plan([ev], dt_s=H, base_load_w=np.full(4, 100 * KW), price_eur_per_mwh=price)
    np.testing.assert_allclose(free.p_ev_w[0] / KW, [0, 0, 11, 11], atol=1e-6)


# ---- (5) no export beyond the limit ---------------------------------------------------------
@pytest.mark.parametrize("x_kw", [0.0, 3.0])
def test_discharge_stops_at_the_building_load(x_kw: float) -> None:
    # 300 EUR/MWh in step 0, 100 after: V2B is worth it, but only for the building's 5 kW;
    # export earns nothing (not credited), and with X = 0 it is forbidden outright
    out = plan(
        [_ev(departure_k=2, wear_eur_per_kwh=0.0)],
        dt_s=H,
        base_load_w=np.array([5.0, 100.0]) * KW,
        price_eur_per_mwh=np.array([300.0, 100.0]),
        export_limit_w=x_kw * KW,
    )
    assert out.p_ev_w[0, 0] == pytest.approx(-5 * KW, abs=1e-6)
    assert out.import_w[0] == pytest.approx(0.0, abs=1e-6)


def test_evs_do_not_deepen_the_buildings_own_export() -> None:
    # PV surplus: the building exports 30 kW on its own in step 0; a 100 % full EV that would
    # like to sell (high price next step) may not add to it, with any export limit
    ev = _ev(soc0=1.0, soc_wish=0.0, departure_k=2, wear_eur_per_kwh=0.0)
    for x_kw in (0.0, 10.0):
        out = plan(
            [ev],
            dt_s=H,
            base_load_w=np.array([-30.0, 4.0]) * KW,
            price_eur_per_mwh=np.array([300.0, 300.0]),
            export_limit_w=x_kw * KW,
        )
        assert out.import_w[0] >= -30 * KW - 1e-6
        assert out.p_ev_w[0, 0] >= -1e-6
        assert out.import_w[1] == pytest.approx(0.0, abs=1e-6)  # serves the 4 kW, no more


def test_export_limit_is_a_hard_bound_in_the_scheduler_core() -> None:
    # the BEMS's export rule N ≥ min(B, −X) as the core's site cap Σ P ≥ −max(B + X, 0):
    # hard even where the LP is paid to discharge (a unit price of 500 EUR/MWh): 5 + 2 kW
    base = np.array([5.0, 5.0]) * KW
    site = Site(units=(0,), p_export_max_w=np.maximum(base + 2 * KW, 0.0), base_net_w=base)
    out = schedule(
        [_ev(departure_k=2, soc_wish=0.0)], n_steps=2, dt_s=H, price_eur_per_mwh=500.0, sites=[site]
    )
    np.testing.assert_allclose(out.p_w[0] / KW, [-7.0, -7.0], atol=1e-6)


# ---- prorating the peak-hours power charge ----------------------------------------------------
def test_peak_hours_price_prorated_sums_to_the_tariffs_bill() -> None:
    tariff = mv_tariff()
    times = pd.date_range("2025-07-07", periods=7 * 96, freq="15min", tz="UTC")  # Mon–Sun
    rng = np.random.default_rng(3)  # test data only, not a model stream
    p_w = rng.uniform(2e6, 6e6, len(times))
    bill = tariff.bill(p_w, np.zeros(len(times)), times)
    ponta = tariff.labels_at(times) == PONTA
    n_period = int(ponta.sum())
    assert n_period == 5 * 12  # summer weekdays 09:15–12:15
    total = 0.0
    for day in range(7):  # one-day horizons
        sl = slice(day * 96, (day + 1) * 96)
        n_h = int(ponta[sl].sum())
        if n_h == 0:
            lam0 = peak_hours_price_eur_per_kw(
                9.0, horizon_peak_steps=0, period_peak_steps=n_period, period_days=7.0
            )
            assert lam0 == 0.0
            continue
        lam = peak_hours_price_eur_per_kw(
            PEAK_POWER_EUR_PER_KW_MONTH,
            horizon_peak_steps=n_h,
            period_peak_steps=n_period,
            period_days=7.0,
        )
        total += lam * float(p_w[sl][ponta[sl]].mean()) / KW
    assert total == pytest.approx(bill["peak_power_eur"], rel=1e-12)
    assert peak_hours_price_eur_per_kw(
        9.0, horizon_peak_steps=12, period_peak_steps=60, period_days=7.0
    ) == pytest.approx(9.0 * 7.0 / DAYS_PER_MONTH * 12 / 60)


# ---- bad input ------------------------------------------------------------------------------
GOOD: dict[str, object] = {
    "dt_s": H,
    "base_load_w": np.full(4, 100 * KW),
    "price_eur_per_mwh": np.full(4, 100.0),
}


@pytest.mark.parametrize(
    ("override", "name"),
    [
        ({"price_eur_per_mwh": np.full(3, 100.0)}, "price_eur_per_mwh"),
        ({"price_eur_per_mwh": np.array([100.0, -5.0, 100.0, 100.0])}, "price_eur_per_mwh"),
        ({"price_eur_per_mwh": np.array([100.0, math.nan, 100.0, 100.0])}, "price_eur_per_mwh"),
        ({"base_load_w": np.array([1.0, math.nan, 1.0, 1.0])}, "base_load_w"),
        ({"base_load_w": np.zeros((2, 2))}, "base_load_w"),
        ({"peak_hours": np.array([1, 0, 0, 1])}, "peak_hours"),
        ({"peak_hours": np.array([True, False])}, "peak_hours"),
        ({"import_limit_w": np.full(5, KW)}, "import_limit_w"),
        ({"import_limit_w": np.array([-1.0, 1.0, 1.0, 1.0])}, "import_limit_w"),
        ({"peak_hours_eur_per_kw": -1.0}, "peak_hours_eur_per_kw"),
        ({"import_limit_peak_eur_per_kw": -1.0}, "import_limit_peak_eur_per_kw"),
        ({"exceedance_eur_per_kw": math.nan}, "exceedance_eur_per_kw"),
        ({"contracted_w": -1.0}, "contracted_w"),
        ({"export_limit_w": math.nan}, "export_limit_w"),
        ({"compensation_eur_per_kwh": -0.1}, "compensation_eur_per_kwh"),
        ({"wear_eur_per_kwh": -0.1}, "wear_eur_per_kwh"),
        ({"dt_s": 0.0}, "dt_s"),
    ],
)
def test_bad_input_names_the_argument(override: dict[str, object], name: str) -> None:
    with pytest.raises(ScenarioError, match=name):
        plan([_ev()], **{**GOOD, **override})  # type: ignore[arg-type]


def test_scheduler_rejects_a_negative_import_price() -> None:
    site = Site(units=(0,), import_eur_per_kwh=np.array([0.1, -0.1]))
    with pytest.raises(ScenarioError, match=r"sites\[0\].import_eur_per_kwh"):
        schedule([_ev(departure_k=2)], n_steps=2, dt_s=H, sites=[site])


# ---- (7) a 15-minute peak worth shaving only because of the contracted-power ratchet -----------
# 24 quarter hours: a 3-h plateau of 120 kW (steps 0–11), then 90 kW (steps 12–23); 110 kW is
# the contracted power carried in (or the maximum measured so far).  One EV, η = 1, must leave
# with its arrival SOC.  Shaving the plateau to 110 kW takes 10 kW × 3 h = 30 kWh discharged
# and 30 kWh recharged in the 90-kW steps (100 kW ≤ 110): compensation 0.10 × 30 + wear 0.02 ×
# 60 = 4.2 EUR, i.e. 0.42 EUR per kW shaved (energy at one price costs nothing extra).  A kW of
# new maximum costs 1.2 EUR/(kW·month) × 7/30.4375 = 0.276 EUR when the week is the billing
# period (no ratchet: not worth 0.42 EUR, the EV stays idle) and 1.2 × 12 = 14.4 EUR when it is
# billed for 12 months (worth it: the plateau is cut to exactly 110 kW).
def test_ratchet_price_makes_shaving_a_peak_pay() -> None:
    from v2xcosim.domain.tariff import contracted_excess_eur_per_kw

    base_kw = np.array([120.0] * 12 + [90.0] * 12)
    ev = _ev(
        capacity_kwh=60.0,
        soc0=0.75,
        soc_min=0.2,
        soc_wish=0.75,
        eta_charge=1.0,
        eta_discharge=1.0,
        departure_k=24,
    )

    def run(ratchet_months: float) -> Any:
        lam_c = contracted_excess_eur_per_kw(1.2, period_days=7.0, ratchet_months=ratchet_months)
        return lam_c, plan(
            [ev],
            dt_s=900.0,
            base_load_w=base_kw * KW,
            price_eur_per_mwh=100.0,
            contracted_w=110.0 * KW,
            exceedance_eur_per_kw=lam_c,
            compensation_eur_per_kwh=0.10,
            wear_eur_per_kwh=0.02,
        )

    energy_eur = float(base_kw.sum()) * 0.25 * 0.1  # 63.0 EUR, the same in both
    lam_week, week = run(0.0)
    assert lam_week == pytest.approx(0.27598, abs=1e-5)
    assert week.discharged_kwh[0] == pytest.approx(0.0, abs=1e-6)
    assert week.import_w.max() / KW == pytest.approx(120.0, abs=1e-6)
    assert week.exceedance_eur == pytest.approx(10.0 * lam_week)
    assert week.total_eur == pytest.approx(energy_eur + 10.0 * lam_week, abs=1e-6)

    lam_year, year = run(12.0)
    assert lam_year == pytest.approx(14.4)
    assert year.import_w.max() / KW == pytest.approx(110.0, abs=1e-6)
    assert year.discharged_kwh[0] == pytest.approx(30.0, abs=1e-6)
    assert year.exceedance_eur == pytest.approx(0.0, abs=1e-6)
    assert year.compensation_eur == pytest.approx(3.0, abs=1e-6)
    assert year.wear_eur == pytest.approx(1.2, abs=1e-6)
    assert year.energy_eur == pytest.approx(energy_eur, abs=1e-6)
    assert year.soc_ev[0, -1] == pytest.approx(0.75, abs=1e-9)
    # against the idle plan priced at the ratchet: 144 EUR of new maximum avoided for 4.2 EUR
    assert year.total_eur == pytest.approx(energy_eur + 4.2, abs=1e-6)
    assert year.total_eur < energy_eur + 10.0 * lam_year
