"""Porto fleet: one EV per stay, seeded; distributions against their stated parameters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.users import VehicleModel
from v2xcosim.usecases.porto import fleet as fl
from v2xcosim.usecases.porto.parking import StaySpec, draw_stays

START = pd.Timestamp("2025-07-07 00:00", tz="UTC")


def _stays(n: int) -> pd.DataFrame:
    """``n`` stays of one day each (the fleet does not depend on their times)."""
    arr = np.arange(n, dtype=float) * 60.0
    return pd.DataFrame(
        {
            "stay_id": [f"P{k:05d}" for k in range(n)],
            "reserved": np.zeros(n, dtype=bool),
            "booked_s": np.full(n, np.nan),
            "arrival_s": arr,
            "departure_s": arr + 86_400.0,
        }
    )


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    return fl.draw_fleet(_stays(40_000), fl.FleetSpec(), seed=11)


def test_same_seed_same_fleet_other_seed_other_fleet() -> None:
    stays = draw_stays(StaySpec(), seed=3, start_utc=START)
    a = fl.draw_fleet(stays, fl.FleetSpec(), seed=3)
    b = fl.draw_fleet(stays, fl.FleetSpec(), seed=3)
    c = fl.draw_fleet(stays, fl.FleetSpec(), seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == list(fl.FLEET_COLUMNS)
    assert not np.array_equal(a["soc_arrival"], c["soc_arrival"])
    # declared departure = the stay's; one car per stay, in the stays' order
    assert a["stay_id"].tolist() == stays["stay_id"].tolist()
    np.testing.assert_array_equal(a["departure_s"], stays["departure_s"])
    np.testing.assert_array_equal(a["arrival_s"], stays["arrival_s"])


def test_fleet_does_not_depend_on_other_streams() -> None:
    """The fleet's stream is its own: the stays' draw does not shift it."""
    stays = _stays(50)
    a = fl.draw_fleet(stays, fl.FleetSpec(), seed=5)
    draw_stays(StaySpec(), seed=5, start_utc=START)
    b = fl.draw_fleet(stays, fl.FleetSpec(), seed=5)
    pd.testing.assert_frame_equal(a, b)


def test_model_shares_and_v2b_share(big: pd.DataFrame) -> None:
    spec = fl.FleetSpec()
    n = len(big)
    counts = big["vehicle_model"].value_counts()
    for m in spec.vehicles:
        p = m.share
        assert counts.get(m.name, 0) / n == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / n))
    # the stated V2B share: Renault 5/4 (AC), VW ID.4 77 kWh and Nissan Leaf (DC)
    assert fl.v2b_share(spec) == pytest.approx(0.07 + 0.08 + 0.03 + 0.04)
    p = fl.v2b_share(spec)
    assert big["v2b"].mean() == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / n))


def test_v2b_incapable_cars_never_bidirectional(big: pd.DataFrame) -> None:
    by_name = {m.name: m for m in fl.FleetSpec().vehicles}
    capable = big["vehicle_model"].map(lambda s: by_name[s].v2g_ac or by_name[s].v2g_dc)
    assert (big["v2b"] == capable).all()
    assert (big.loc[~big["v2b"], "p_max_discharge_kw"] == 0.0).all()
    assert (big.loc[big["v2b"], "p_max_discharge_kw"] > 0.0).all()
    # a car park without bidirectional DC: the DC-only cars (Leaf, ID.4) lose V2B
    ac_only = fl.draw_fleet(_stays(2000), fl.FleetSpec(charger_dc_bidirectional=False), seed=11)
    dc_cars = ac_only["vehicle_model"].map(lambda s: by_name[s].v2g_dc)
    assert dc_cars.any()
    assert not ac_only.loc[dc_cars, "v2b"].any()
    assert (ac_only.loc[dc_cars, "p_max_discharge_kw"] == 0.0).all()
    none = fl.draw_fleet(
        _stays(500),
        fl.FleetSpec(charger_dc_bidirectional=False, charger_ac_bidirectional=False),
        seed=1,
    )
    assert not none["v2b"].any() and (none["p_max_discharge_kw"] == 0).all()


def test_power_limits_by_hand(big: pd.DataFrame) -> None:
    """Leaf (6.6 kW AC, DC V2G) on DC at 11 kW both ways; Peugeot 7.4 kW AC charge only."""
    first = big.drop_duplicates("vehicle_model").set_index("vehicle_model")
    assert tuple(first.loc["Nissan Leaf 40 kWh", ["p_max_charge_kw", "p_max_discharge_kw"]]) == (
        11.0,
        11.0,
    )
    assert tuple(first.loc["Peugeot e-2008 54 kWh", ["p_max_charge_kw", "p_max_discharge_kw"]]) == (
        7.4,
        0.0,
    )
    assert tuple(
        first.loc["Renault 5 E-Tech 52 kWh", ["p_max_charge_kw", "p_max_discharge_kw"]]
    ) == (
        11.0,
        11.0,
    )
    assert big["p_max_charge_kw"].max() <= 11.0


def test_user_choices_within_bounds_and_means(big: pd.DataFrame) -> None:
    spec = fl.FleetSpec()
    n = len(big)
    for col, (lo, hi) in (("soc_wish", spec.soc_wish_range), ("soc_min", spec.soc_min_range)):
        x = big[col].to_numpy()
        assert x.min() >= lo and x.max() <= hi
        sd = (hi - lo) / np.sqrt(12.0)
        assert x.mean() == pytest.approx((lo + hi) / 2, abs=4 * sd / np.sqrt(n))
    assert (big["soc_min"] <= big["soc_wish"]).all()
    p = spec.p_consent
    assert big["consent"].mean() == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / n))
    age = big["age_years"].to_numpy()
    assert age.min() >= 0 and age.max() <= spec.vehicle_age_max_years
    assert (big["q_cal_start"] > 0).all() and (big["q_cyc_start"] > 0).all()


def _soc_arrival_mean_by_quadrature(spec: fl.FleetSpec, m: int = 801) -> float:
    """E[max(h − d·k/C, floor)] by the midpoint rule over h, d (uniform) for each car model."""
    h = spec.soc_home_range[0] + (np.arange(m) + 0.5) / m * np.diff(spec.soc_home_range)
    d = spec.trip_km_range[0] + (np.arange(m) + 0.5) / m * np.diff(spec.trip_km_range)
    total = 0.0
    for v in spec.vehicles:
        soc = np.maximum(h[:, None] - d[None, :] * spec.kwh_per_km / v.capacity_kwh, 0.1)
        total += v.share * float(soc.mean())
    return total


def test_soc_arrival_mean_and_bounds(big: pd.DataFrame) -> None:
    spec = fl.FleetSpec()
    x = big["soc_arrival"].to_numpy()
    assert x.min() >= spec.soc_arrival_floor and x.max() <= spec.soc_home_range[1]
    ref = _soc_arrival_mean_by_quadrature(spec)
    assert x.mean() == pytest.approx(ref, abs=4 * x.std() / np.sqrt(len(x)))
    # without the floor's clipping: mean = E[h] − E[d]·k·E[1/C] (a second, closed-form reference)
    one = dataclasses.replace(
        spec, vehicles=(VehicleModel("big", 100.0, 11_000.0, False, 1.0),), soc_arrival_floor=0.0
    )
    y = fl.draw_fleet(_stays(20_000), one, seed=2)["soc_arrival"].to_numpy()
    assert y.mean() == pytest.approx(0.75 - 65.0 * 0.18 / 100.0, abs=4 * y.std() / np.sqrt(len(y)))


def test_ev_arrays_discharge_only_for_consenting_v2b(big: pd.DataFrame) -> None:
    f = big.iloc[:500].reset_index(drop=True)
    ev = fl.ev_arrays(f, f["soc_arrival"])
    may = f["v2b"].to_numpy() & f["consent"].to_numpy()
    np.testing.assert_array_equal(ev.p_max_discharge_w > 0, may)
    np.testing.assert_allclose(ev.p_max_charge_w, f["p_max_charge_kw"] * 1000.0)
    np.testing.assert_array_equal(ev.soc_target, f["soc_wish"])
    assert (fl.ev_arrays(f, f["soc_arrival"], allow_discharge=False).p_max_discharge_w == 0).all()
    with pytest.raises(ScenarioError, match=r"soc and connected need shape \(500,\)"):
        fl.ev_arrays(f, np.zeros(3))
    with pytest.raises(ScenarioError, match=r"lacks columns.*consent"):
        fl.ev_arrays(f.drop(columns="consent"), f["soc_arrival"])


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"p_consent": 1.5}, "p_consent"),
        ({"charger_p_max_kw": 0.0}, "charger_p_max_kw"),
        ({"kwh_per_km": float("nan")}, "kwh_per_km"),
        ({"soc_wish_range": (0.9, 0.6)}, "soc_wish_range"),
        ({"soc_min_range": (0.2, 0.7)}, "soc_min_range"),
        ({"trip_km_range": (-1.0, 5.0)}, "trip_km_range"),
        ({"vehicle_age_max_years": -1.0}, "vehicle_age_max_years"),
        ({"vehicles": (VehicleModel("x", 50.0, 11e3, False, 0.5),)}, "vehicles"),
    ],
)
def test_bad_spec_names_the_key(change: dict[str, object], key: str) -> None:
    spec = dataclasses.replace(fl.FleetSpec(), **change)  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match=rf"porto fleet: .*{key}"):
        fl.draw_fleet(_stays(3), spec, seed=0)


def test_bad_stays_name_the_problem() -> None:
    with pytest.raises(ScenarioError, match=r"lacks columns.*departure_s"):
        fl.draw_fleet(_stays(3).drop(columns="departure_s"), fl.FleetSpec(), seed=0)
    bad = _stays(3)
    bad["departure_s"] = np.where(bad.index == 1, bad["arrival_s"], bad["departure_s"])
    with pytest.raises(ScenarioError, match="departure after arrival"):
        fl.draw_fleet(bad, fl.FleetSpec(), seed=0)


def test_soc_at_start_by_hand() -> None:
    """Cars parked before the start charged at their limit × η since arrival, up to the target."""
    soc = fl.soc_at_start(
        [0.30, 0.30, 0.70, 0.50, 0.95],
        [0.80, 0.80, 0.80, 0.80, 0.80],
        [11.0, 11.0, 7.4, 11.0, 11.0],
        [50.0, 50.0, 40.0, 50.0, 50.0],
        [3600.0, 36_000.0, 1800.0, 0.0, 7200.0],
        eta_charge=0.9,
    )
    # 1 h x 11 kW x 0.9 = 9.9 kWh of 50 kWh = +0.198; 10 h would be +1.98: capped at 0.80;
    # 0.5 h x 7.4 kW x 0.9 = 3.33 kWh of 40 kWh = +0.08325 but capped at 0.80 (+0.10 allowed);
    # not parked before the start: unchanged; above its target on arrival: unchanged
    np.testing.assert_allclose(soc, [0.498, 0.80, 0.78325, 0.50, 0.95], rtol=0, atol=1e-12)
    with pytest.raises(ScenarioError, match="eta_charge"):
        fl.soc_at_start([0.3], [0.8], [11.0], [50.0], [0.0], eta_charge=0.0)
    with pytest.raises(ScenarioError, match="parked_s"):
        fl.soc_at_start([0.3], [0.8], [11.0], [50.0], [-1.0], eta_charge=0.9)
