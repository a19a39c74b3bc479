"""Porto V2B use case end to end: strategies, energy balance, DSO event, trace, KPIs by hand.

Short horizon: Tuesday and Wednesday of the shipped July week with a hand-placed DSO import
limit on Wednesday afternoon (``dso_event.mode = "fixed"``; the shipped rule calls its events on
Friday and Sunday, tested on Friday below), every strategy run once per module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from goldens.digest import PORTO_DAY
from shared_runs import SharedRuns
from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.trace import TRACE_COLUMNS
from v2xcosim.domain.ageing import pack_cost_eur_per_kwh
from v2xcosim.domain.tariff import DAYS_PER_MONTH
from v2xcosim.scenario import load_scenario, load_scenario_as, run
from v2xcosim.usecases.porto.schema import PortoScenario
from v2xcosim.usecases.porto.steps import PORTO_STEPS

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "porto_v2b.toml"
WINTER = ROOT / "scenarios" / "porto_v2b_winter.toml"
FIXED_WEDNESDAY = [
    "dso_event.mode=fixed",
    "dso_event.start=2025-07-09T14:00:00+01:00",
    "dso_event.end=2025-07-09T17:00:00+01:00",
    "dso_event.limit_mw=11.7",
]
SHORT = [
    "time.start=2025-07-08T00:00:00+01:00",
    "time.duration_s=172800",
    "results.plots=false",
    *FIXED_WEDNESDAY,
]
STRATEGIES = ("uncontrolled", "smart", "v2b")
_CACHE: dict[tuple[str, ...], Path] = {}


def _run(root: Path, scenario: Path, overrides: list[str]) -> Path:
    key = (str(scenario), *overrides)
    if key not in _CACHE:
        out = root / f"run{len(_CACHE)}"
        out.mkdir()
        res = run(load_scenario(scenario, overrides), out)
        assert res.exit_code == 0, res.kpis.get("checks")
        _CACHE[key] = out
    return _CACHE[key]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("porto")


@pytest.fixture(scope="module")
def runs(root: Path) -> dict[str, Path]:
    return {s: _run(root, SCENARIO, [*SHORT, f"control.strategy={s}"]) for s in STRATEGIES}


def kpis(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "kpis.json").read_text())
    return data


def test_scenarios_validate_and_bad_keys_name_their_path() -> None:
    spec = load_scenario_as(SCENARIO, PortoScenario)
    assert spec.control.strategy == "v2b"
    assert spec.dso_event is not None and spec.time.n_steps == 672
    assert load_scenario_as(WINTER, PortoScenario).time.start_utc.month == 1
    assert load_scenario_as(SCENARIO, PortoScenario, ["control.strategy=smart"]).control.strategy
    with pytest.raises(ScenarioError, match=r"porto\.parking\.bogus"):
        load_scenario(SCENARIO, ["porto.parking.bogus=1"])
    with pytest.raises(ScenarioError, match=r"control\.strategy"):
        load_scenario(SCENARIO, ["control.strategy=v2g"])
    with pytest.raises(ScenarioError, match=r"dso_event\.start"):  # Monday only: it is later
        load_scenario(SCENARIO, [*FIXED_WEDNESDAY, "time.duration_s=86400"])
    assert load_scenario_as(SCENARIO, PortoScenario, ["time.duration_s=86400"]).dso_event


def test_strategies_see_identical_sessions(runs: dict[str, Path]) -> None:
    cols = [
        "session_id",
        "user_id",
        "charger",
        "group",
        "arrival_utc",
        "departure_declared_utc",
        "soc_arrival",
        "soc_wish",
        "capacity_kwh",
        "status",
        "managed",
    ]
    frames = [pd.read_parquet(runs[s] / "sessions.parquet")[cols] for s in STRATEGIES]
    assert len(frames[0]) > 100
    for f in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], f)
    assert set(frames[0]["status"]) <= {"completed", "open_at_end", "rejected"}
    assert (frames[0]["status"] == "completed").sum() > 50


def test_connection_energy_balance_each_step(runs: dict[str, Path]) -> None:
    for s in STRATEGIES:
        grid = pd.read_parquet(runs[s] / "grid.parquet")
        park = pd.read_parquet(runs[s] / "carpark.parquet")
        p_ac = park[[c for c in park.columns if c.startswith("p_ac_w[")]].to_numpy(float)
        ev = p_ac.sum(axis=1)
        np.testing.assert_allclose(grid["p_ev_w"], ev, atol=1e-6)
        # pandapower's slack import = terminal + chargers + its own line and transformer losses
        expected = grid["p_terminal_w"] + ev + grid["p_loss_w"]
        np.testing.assert_allclose(grid["p_slack_w"], expected, rtol=0, atol=1.0)
        assert (grid["p_loss_w"] > 0).all()
        assert (grid["converged"] == 1.0).all()


def test_v2b_lowers_peak_and_cost_without_shortfall(runs: dict[str, Path]) -> None:
    unc, smart, v2b = (kpis(runs[s]) for s in STRATEGIES)
    assert v2b["building_peak_kw"] < unc["building_peak_kw"]
    assert v2b["energy_cost_eur"] < unc["energy_cost_eur"]
    for k in (unc, smart, v2b):
        assert k["departure_soc_shortfall_kwh"] == 0.0
        assert k["checks_passed"]
    assert v2b["ev_energy_discharged_to_building_mwh"] > 0.0
    assert smart["ev_energy_discharged_to_building_mwh"] == pytest.approx(0.0, abs=1e-6)
    assert unc["ev_energy_discharged_to_building_mwh"] == pytest.approx(0.0, abs=1e-6)
    assert unc["ev_user_compensation_eur"] == 0.0 < v2b["ev_user_compensation_eur"]


def test_v2b_keeps_the_dso_import_limit(runs: dict[str, Path]) -> None:
    unc, v2b = kpis(runs["uncontrolled"]), kpis(runs["v2b"])
    limit = v2b["dso_event_limit_kw"]
    assert unc["dso_event_import_max_kw"] > limit + 50.0  # the event binds without control
    # the BEMS plans control.import_limit_margin_kw below the limit: kept at every step
    assert v2b["dso_event_import_max_kw"] <= limit
    assert v2b["dso_event_excess_kwh"] == 0.0
    trace = pd.read_parquet(runs["v2b"] / "trace.parquet")
    sig = trace[trace["step"] == "10.1"]
    assert list(sig["sender"]) == ["energy_market", "dso"]
    assert list(sig["payload_type"]) == ["TariffSignal", "ImportLimitEvent"]


def test_trace_of_one_session_follows_the_use_case(runs: dict[str, Path]) -> None:
    out = runs["v2b"]
    trace = pd.read_parquet(out / "trace.parquet")
    assert list(trace.columns) == list(TRACE_COLUMNS)
    assert set(trace["step"]) <= set(PORTO_STEPS)
    assert (trace["use_case"] == "porto").all()
    assert trace["t_s"].is_monotonic_increasing
    ses = pd.read_parquet(out / "sessions.parquet")
    booked = set(trace.loc[trace["step"] == "1", "info"].str.split(":").str[0])
    pick = ses[
        (ses["status"] == "completed") & ses["managed"] & ses["session_id"].isin(booked)
    ].iloc[0]
    sid = pick["session_id"]
    rows = trace[trace["info"].str.contains(sid, regex=False)]
    expected = ["1", "2", "3", "3.1", "4", "5", "6", "7", "8", "9", "10"]
    expected += [str(k) for k in range(11, 21)]
    assert list(rows["step"]) == expected
    order = list(PORTO_STEPS)
    assert [order.index(s) for s in rows["step"]] == sorted(order.index(s) for s in rows["step"])
    assert rows.iloc[0]["sender"] == pick["user_id"] and rows.iloc[0]["receiver"] == "parking"
    assert rows.iloc[-1]["step"] == "20"
    # the departure happens at the declared departure
    t_dep = (pick["departure_utc"] - pd.Timestamp("2025-07-07T23:00:00Z")).total_seconds()
    assert rows.iloc[-1]["t_s"] == pytest.approx(t_dep)


def test_kpis_by_hand_from_the_tables(runs: dict[str, Path]) -> None:
    out = runs["v2b"]
    k = kpis(out)
    grid = pd.read_parquet(out / "grid.parquet")
    prof = pd.read_parquet(out / "profiles.parquet")
    park = pd.read_parquet(out / "carpark.parquet")
    ses = pd.read_parquet(out / "sessions.parquet")
    p = grid["p_slack_w"].to_numpy(float)  # 900-s steps: each value is a 15-minute mean
    h = 0.25
    assert k["building_peak_kw"] == pytest.approx(p.max() / 1e3)
    price = prof["price_eur_per_mwh"].to_numpy(float)
    assert k["energy_cost_eur"] == pytest.approx(float((np.maximum(p, 0) * h / 1e6 * price).sum()))
    ponta = np.isclose(price, 190.0)  # the ponta price of the scenario (EUR/MWh)
    months = 2.0 / DAYS_PER_MONTH
    # contracted power: the 13,260 kW carried in (the scenario) or the run's maximum if larger;
    # a maximum above it is billed for the 12 months less the two days already charged
    carried_kw, peak_kw = 13260.0, p.max() / 1e3
    ratchet = max(peak_kw - carried_kw, 0.0) * 1.2 * (12.0 - months)
    demand = p[ponta].mean() / 1e3 * 9.0 * months + max(peak_kw, carried_kw) * 1.2 * months
    assert k["contracted_kw"] == pytest.approx(max(peak_kw, carried_kw))
    assert k["contracted_ratchet_eur"] == pytest.approx(ratchet)
    assert k["demand_charge_eur"] == pytest.approx(demand + ratchet)
    # the airport as operator: bill + compensation − what the users are charged
    charged = ses.loc[ses["status"] != "rejected", "energy_cost_eur"].sum()
    paid = 0.10 * ses.loc[ses["status"] != "rejected", "e_discharged_kwh"].sum()
    assert k["operator_net_cost_eur"] == pytest.approx(k["connection_bill_eur"] + paid - charged)
    p_ac = park[[c for c in park.columns if c.startswith("p_ac_w[")]].to_numpy(float)
    assert k["ev_energy_discharged_to_building_mwh"] == pytest.approx(
        float(np.maximum(-p_ac, 0).sum()) * h / 1e6
    )
    served = ses[ses["status"] != "rejected"]
    assert k["ev_user_compensation_eur"] == pytest.approx(0.10 * served["e_discharged_kwh"].sum())
    deg = ((served["dq_cal"] + served["dq_cyc"]) * served["capacity_kwh"]).sum()
    assert k["battery_degradation_cost_eur"] == pytest.approx(deg * pack_cost_eur_per_kwh())
    assert k["sessions_rejected"] == int((ses["status"] == "rejected").sum())
    done = ses[ses["status"] == "completed"]
    need_kwh = (done["soc_wish"] - done["soc_arrival"]) * done["capacity_kwh"]
    stay_h = (done["departure_s"] - done["arrival_s"]) / 3600.0
    feasible = need_kwh <= done["p_max_kw"] * 0.92 * stay_h
    gap = (done["soc_wish"] - done["soc_departure"]).clip(lower=0)[feasible]
    assert k["departure_soc_shortfall_kwh"] == 0.0 and (gap < 1e-4).all()
    assert k["infeasible_sessions"] == int((~feasible).sum())
    # end-of-run stock: the cars plugged in after the last step, from the SOC they entered with
    last = park.iloc[-1]
    still = served[[last[f"plugged[{int(j)}]"] > 0.5 for j in served["slot"]]]
    soc_end = np.array([last[f"soc[{int(j)}]"] for j in still["slot"]])
    stock = float(((soc_end - still["soc_arrival"]) * still["capacity_kwh"]).sum())
    assert len(still) > 50 and k["ev_stock_change_kwh"] == pytest.approx(stock)
    p_import = k["energy_cost_eur"] / (float(np.maximum(p, 0).sum()) * h / 1e3)
    assert 0.10 < p_import < 0.19  # between super vazio and ponta (EUR/kWh)
    user = k["ev_user_bill_eur"] - stock / 0.92 * 0.30
    assert k["ev_user_bill_stock_adjusted_eur"] == pytest.approx(user)
    operator = k["connection_bill_eur"] - stock / 0.92 * p_import - user
    assert k["operator_net_cost_stock_adjusted_eur"] == pytest.approx(operator)


def test_no_managed_charging_weaker_than_the_pilots_minimum() -> None:
    from v2xcosim.usecases.porto.flow import charge_floor

    # setpoints after the guard; the 4th car is not managed, the 5th must charge (lo > 0),
    # the 6th must charge its last 1.5 kW and is 2 kW from its top (hi = 2 kW)
    p = np.array([1000.0, 2500.0, 4100.0, 1000.0, 1000.0, 1500.0, 9000.0, -3000.0])
    lo = np.array([0.0, 0.0, 0.0, 0.0, 500.0, 1500.0, 0.0, -11e3])
    hi = np.array([11e3, 11e3, 11e3, 11e3, 11e3, 2000.0, 11e3, 11e3])
    managed = np.array([True, True, True, False, True, True, True, True])
    # below half of 4.1 kW: 0; at least half or owed: 4.1 kW (at most hi); unmanaged,
    # stronger charging and discharge kept
    expected = [0.0, 4100.0, 4100.0, 1000.0, 4100.0, 2000.0, 9000.0, -3000.0]
    got = charge_floor(p, lo, hi, 4100.0, managed)
    np.testing.assert_array_equal(got, expected)
    assert np.all((got >= lo) & (got <= hi))


def test_no_discharge_weaker_than_the_chargers_minimum(runs: dict[str, Path]) -> None:
    from v2xcosim.usecases.porto.flow import discharge_floor

    p = np.array([-500.0, -2500.0, -2500.0, -4100.0, -9000.0, 0.0, 3000.0])
    lo = np.array([-11e3, -11e3, -3000.0, -11e3, -11e3, 0.0, 0.0])
    # below half of 4.1 kW: 0; above half: 4.1 kW if the guard allows it, else 0
    expected = [0.0, -4100.0, 0.0, -4100.0, -9000.0, 0.0, 3000.0]
    np.testing.assert_array_equal(discharge_floor(p, lo, 4100.0), expected)
    park = pd.read_parquet(runs["v2b"] / "carpark.parquet")
    p_set = park[[c for c in park.columns if c.startswith("p_set_w[")]].to_numpy(float)
    assert (p_set < -4100.0 + 1e-6).any()  # it discharges
    assert not ((p_set < -1e-6) & (p_set > -4100.0 + 1e-6)).any()


def test_stock_adjustment_by_hand() -> None:
    from v2xcosim.usecases.porto.world import stock_adjusted_eur

    # 92 kWh more in the parked cars = 100 kWh at the chargers (η_c 0.92): the users' bill
    # less 100 x 0.30 = 30 EUR; the connection's bill less 100 x 0.12 = 12 EUR; the operator
    # (connection - users) 988 - 70 = 918 EUR, i.e. its 900 EUR + 100 x (0.30 - 0.12)
    user, operator = stock_adjusted_eur(
        user_bill_eur=100.0,
        connection_bill_eur=1000.0,
        stock_change_kwh=92.0,
        eta_charge=0.92,
        user_price_eur_per_kwh=0.30,
        import_price_eur_per_kwh=0.12,
    )
    assert user == pytest.approx(70.0) and operator == pytest.approx(918.0)
    # a stock drawn down by 46 kWh is added back: 100 + 15, 1000 + 6 - 115
    user, operator = stock_adjusted_eur(
        user_bill_eur=100.0,
        connection_bill_eur=1000.0,
        stock_change_kwh=-46.0,
        eta_charge=0.92,
        user_price_eur_per_kwh=0.30,
        import_price_eur_per_kwh=0.12,
    )
    assert user == pytest.approx(115.0) and operator == pytest.approx(891.0)


# Friday of the July week: its afternoon holds the week's 15-minute maximum
# uncontrolled.  The shipped contracted power (the past year's maximum, 13,260 kW) is above it,
# so the ratchet never binds in the shipped week; here a lower carried-in power (12,500 kW, a
# year without August's clear days) makes Friday a new maximum, to test the mechanism.  The DSO
# event is moved to Friday evening and set far above the load, so the peak alone drives the BEMS.
PEAK_DAYS = [
    "time.start=2025-07-11T00:00:00+01:00",
    "time.duration_s=86400",
    "porto.tariff.contracted_kw=12500.0",
    "dso_event.mode=fixed",
    "dso_event.start=2025-07-11T20:00:00+01:00",
    "dso_event.end=2025-07-11T21:00:00+01:00",
    "dso_event.limit_mw=20.0",
    "results.plots=false",
]


@pytest.mark.slow
def test_v2b_shaves_the_ratcheted_peak_against_uncontrolled_and_smart(root: Path) -> None:
    unc, smart, v2b = (
        kpis(_run(root, SCENARIO, [*PEAK_DAYS, f"control.strategy={s}"])) for s in STRATEGIES
    )
    carried_kw = 12500.0
    assert unc["building_peak_kw"] > carried_kw + 50.0  # a new maximum without control
    assert unc["contracted_ratchet_eur"] > 0.0
    # v2b discharges into the plateau: clearly below both (each kW saves 14.4 EUR)
    assert v2b["building_peak_kw"] < unc["building_peak_kw"] - 50.0
    assert v2b["building_peak_kw"] < smart["building_peak_kw"] - 25.0
    assert v2b["contracted_ratchet_eur"] < smart["contracted_ratchet_eur"]
    assert v2b["contracted_ratchet_eur"] < unc["contracted_ratchet_eur"]
    for k in (unc, smart, v2b):
        assert k["departure_soc_shortfall_kwh"] == 0.0 and k["checks_passed"]


# Friday of the shipped July week as shipped: the DSO calls its events at its forecast's
# Friday and Sunday maxima (Friday 14:15-18:15 local, the forecast's span above the limit =
# the week's forecast maximum - 200 kW);
# Friday 16:00 holds the week's largest import uncontrolled (12,631 kW, README).
# The goldens hold the same runs (tests/goldens/digest.py PORTO_DAY): one shared folder each.
FRIDAY = PORTO_DAY


@pytest.mark.slow
def test_v2b_lowers_the_weeks_peak_at_the_dso_forecast_peak(shared_runs: SharedRuns) -> None:
    unc_dir, v2b_dir = (
        shared_runs.folder(SCENARIO, [*FRIDAY, f"control.strategy={s}"])
        for s in ("uncontrolled", "v2b")
    )
    unc, v2b = kpis(unc_dir), kpis(v2b_dir)
    limit = v2b["dso_event_limit_kw"]
    assert v2b["dso_events"] == unc["dso_events"] == 1
    assert unc["dso_event_import_max_kw"] > limit + 100.0  # the event binds uncontrolled
    # kept, but for a remainder should the V2B cars run short (the week: 0 of 1,002 kWh)
    assert v2b["dso_event_excess_kwh"] < 0.05 * unc["dso_event_excess_kwh"]
    # the peak falls (held at the limit on the window's shoulders, below it inside) and the
    # energy cost with it, every car leaving with its wish
    assert v2b["building_peak_kw"] < unc["building_peak_kw"] - 100.0
    # no rebound: over the window and 2 h either side the cars never lift the import above
    # the limit or, where the building alone (terminal + losses) is above it, above that;
    # 20 kW for plain-charging cars arriving unforeseen.  The week's maximum is among them.
    ((k0, k1, limit_kw),) = v2b["dso_event_windows"]
    grid = pd.read_parquet(v2b_dir / "grid.parquet")
    p_kw = grid["p_slack_w"].to_numpy(float) / 1e3
    alone_kw = (grid["p_terminal_w"] + grid["p_loss_w"]).to_numpy(float) / 1e3
    near = slice(k0 - 8, k1 + 8)
    assert np.all(p_kw[near] <= np.maximum(limit_kw, alone_kw[near]) + 20.0)
    assert k0 - 8 <= int(np.argmax(p_kw)) < k1 + 8
    assert v2b["energy_cost_eur"] < unc["energy_cost_eur"]
    for k in (unc, v2b):
        assert k["departure_soc_shortfall_kwh"] == 0.0 and k["checks_passed"]


LOSS_AT_TERMINAL_PEAK_KW = (117.0, 12483.0)
"""The airport network's losses at the July week's terminal peak (README, pandapower) [kW]."""
CARPARK_ALLOWANCE_KW = 60.0
"""What the car park adds to the past year's maximum (README, assumption) [kW]."""


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [SCENARIO, WINTER], ids=["july", "january"])
def test_contracted_power_is_the_past_years_maximum(scenario: Path) -> None:
    """``porto.tariff.contracted_kw`` = the terminal's maximum of the 12 months before the run
    (same FMU, use and weather generator) + the network's losses at that load (I² scaling of
    the measured point) + the car park's allowance, to the 10 kW the scenario rounds to; and the
    shipped week's own terminal peak stays below that maximum."""
    from v2xcosim.fmu.registry import fmus_dir
    from v2xcosim.usecases.porto.wiring import terminal_max_before

    spec = load_scenario_as(scenario, PortoScenario, [])
    p_max_kw, when = terminal_max_before(spec, fmus_dir() / "Terminal.fmu")
    loss_kw = LOSS_AT_TERMINAL_PEAK_KW[0] * (p_max_kw / LOSS_AT_TERMINAL_PEAK_KW[1]) ** 2
    expected = p_max_kw + loss_kw + CARPARK_ALLOWANCE_KW
    assert spec.porto.tariff.contracted_kw == pytest.approx(expected, abs=10.0)
    assert when < spec.time.start_utc
    assert p_max_kw > 12483.0  # the July week's terminal peak (README)


@pytest.mark.slow
def test_winter_week_runs_under_every_strategy(root: Path) -> None:
    short = ["time.start=2025-01-19T00:00:00+00:00", "time.duration_s=86400"]  # Sunday's event
    for s in STRATEGIES:
        k = kpis(_run(root, WINTER, [*short, "results.plots=false", f"control.strategy={s}"]))
        assert k["checks_passed"] and k["departure_soc_shortfall_kwh"] == 0.0


def _pre_start_cars(out: Path, overrides: list[str]) -> pd.DataFrame:
    """Sessions parked before the start with the car's own arrival SOC and start losses."""
    from v2xcosim.usecases.porto.wiring import sessions_draw

    ses = pd.read_parquet(out / "sessions.parquet")
    _, cars, _ = sessions_draw(load_scenario_as(SCENARIO, PortoScenario, overrides))
    ses = ses.merge(
        cars[["stay_id", "soc_arrival", "q_cal_start", "q_cyc_start", "consent"]].rename(
            columns={"stay_id": "session_id", "soc_arrival": "soc_car"}
        ),
        on="session_id",
    )
    return ses[(ses["parked_before_s"] > 0) & (ses["status"] != "rejected")]


def test_cars_parked_before_the_start_enter_it_charged_since_their_arrival(
    runs: dict[str, Path],
) -> None:
    out = runs["uncontrolled"]
    pre = _pre_start_cars(out, [*SHORT, "control.strategy=uncontrolled"])
    assert len(pre) > 50
    # by hand: a plain charger at the car's limit x 0.92 into its aged capacity, up to its target
    aged = pre["capacity_kwh"] * (1 - pre["q_cal_start"] - pre["q_cyc_start"])
    target = np.where(pre["consent"], np.minimum(pre["soc_wish"] + 0.005, 0.92), 0.92)
    gain = 0.92 * pre["p_max_kw"] * pre["parked_before_s"] / 3600.0 / aged
    soc0 = pre["soc_car"] + np.minimum(gain, np.maximum(target - pre["soc_car"], 0.0))
    np.testing.assert_allclose(pre["soc_arrival"], soc0, rtol=0, atol=1e-9)  # the FMU's start
    np.testing.assert_allclose(
        pre["e_charged_before_start_kwh"], (soc0 - pre["soc_car"]) * aged / 0.92, atol=1e-9
    )
    # at step 0 no such car draws more than it still needs (1 % for the FMU's efficiency)
    park = pd.read_parquet(out / "carpark.parquet")
    p0_w = park[[f"p_ac_w[{int(j)}]" for j in pre["slot"]]].to_numpy(float)[0]
    need_w = np.maximum(target - soc0, 0.0) * aged * 3.6e6 / (0.92 * 900.0)
    assert np.all(p0_w <= need_w * 1.01 + 1.0)
    assert np.sum(p0_w > 1.0) < len(pre) / 2  # most of them are full
    # the start is no longer the car park's heaviest step
    grid = pd.read_parquet(out / "grid.parquet")
    p_ev = grid["p_ev_w"].to_numpy(float)
    assert p_ev[0] < p_ev[1:].max()


def test_v2b_keeps_each_car_above_its_floor(runs: dict[str, Path]) -> None:
    ses = pd.read_parquet(runs["v2b"] / "sessions.parquet")
    served = ses[ses["status"] != "rejected"]
    low = served["soc_min_reached"].to_numpy(float)
    assert np.all(np.isfinite(low))
    assert np.all(low <= served["soc_arrival"] + 1e-12)
    done = served["status"] == "completed"
    assert np.all(low[done] <= served.loc[done, "soc_departure"] + 1e-12)
    v2b = served[served["v2b"] & (served["e_discharged_kwh"] > 0)]
    assert len(v2b) > 10
    floor = np.minimum(v2b["soc_min"], v2b["soc_arrival"])  # a car may arrive below it
    assert np.all(v2b["soc_min_reached"] >= floor - 1e-3)
    assert np.all((served["soc_min"] >= 0.2) & (served["soc_min"] <= 0.4))  # [porto.fleet]


def test_degradation_split_into_calendar_and_cycle(runs: dict[str, Path]) -> None:
    for s in STRATEGIES:
        k = kpis(runs[s])
        ses = pd.read_parquet(runs[s] / "sessions.parquet")
        served = ses[ses["status"] != "rejected"]
        price = pack_cost_eur_per_kwh()
        cal = float((served["dq_cal"] * served["capacity_kwh"]).sum()) * price
        cyc = float((served["dq_cyc"] * served["capacity_kwh"]).sum()) * price
        assert k["degradation_calendar_eur"] == pytest.approx(cal, rel=1e-12)
        assert k["degradation_cycle_eur"] == pytest.approx(cyc, rel=1e-12)
        total = k["degradation_calendar_eur"] + k["degradation_cycle_eur"]
        assert total == pytest.approx(k["battery_degradation_cost_eur"], rel=1e-12)
        assert k["degradation_calendar_eur"] > 0 and k["degradation_cycle_eur"] > 0
    # V2B cycles the cars more: its cycle ageing is the largest
    assert kpis(runs["v2b"])["degradation_cycle_eur"] > kpis(runs["smart"])["degradation_cycle_eur"]


def test_bems_wear_price_comes_from_the_fmu_ageing_law(runs: dict[str, Path]) -> None:
    from v2xcosim.domain.ageing import band_cycling_proxies, marginal_cycle_wear_eur_per_kwh
    from v2xcosim.usecases.porto.wiring import bems_wear_eur_per_kwh, sessions_draw

    # the median car: q_cyc 0.02, cycled daily between its floor 0.3 and its wish 0.7
    v_rms, dod = band_cycling_proxies(0.3, 0.7)
    expected = float(marginal_cycle_wear_eur_per_kwh([0.02], v_rms_v=v_rms, dod=dod)[0])
    got = bems_wear_eur_per_kwh([0.01, 0.03, 0.02], [0.2, 0.3, 0.4], [0.6, 0.7, 0.9])
    assert got == pytest.approx(expected)
    assert bems_wear_eur_per_kwh([], [], []) == 0.0
    spec = load_scenario_as(SCENARIO, PortoScenario, [*SHORT, "control.strategy=v2b"])
    assert spec.control.wear_eur_per_kwh is None  # the shipped scenario derives it
    _, cars, log = sessions_draw(spec)
    acc = log["accepted"].to_numpy(bool)
    cols = [cars[c].to_numpy(float)[acc] for c in ("q_cyc_start", "soc_min", "soc_wish")]
    used = json.loads((runs["v2b"] / "porto_actors.json").read_text())["bems_wear_eur_per_kwh"]
    assert used == pytest.approx(bems_wear_eur_per_kwh(*cols))
    assert 0.005 < used < 0.05  # EUR/kWh: the order of the assumption it replaces (0.02)
    # each car its own: the same law in its own band at its own q_cyc (BEMS: one per unit)
    from v2xcosim.usecases.porto.wiring import car_wear_eur_per_kwh

    own = car_wear_eur_per_kwh([0.01, 0.03, 0.02], [0.2, 0.3, 0.4], [0.6, 0.7, 0.3])
    for n, (q, lo, hi) in enumerate([(0.01, 0.2, 0.6), (0.03, 0.3, 0.7), (0.02, 0.4, 0.4)]):
        v_rms, dod = band_cycling_proxies(lo, hi)
        law = marginal_cycle_wear_eur_per_kwh([q], v_rms_v=v_rms, dod=dod)[0]
        assert own[n] == pytest.approx(law)
    assert own[0] > own[1]  # the younger car (smaller q_cyc) is the dearest per kWh
    ses = pd.read_parquet(runs["v2b"] / "sessions.parquet").set_index("session_id")
    slots = ses.loc[[str(x) for x in cars["stay_id"][acc]], "slot"].to_numpy(int)
    per_slot = json.loads((runs["v2b"] / "porto_actors.json").read_text())[
        "bems_wear_car_eur_per_kwh"
    ]
    np.testing.assert_allclose(np.asarray(per_slot)[slots], car_wear_eur_per_kwh(*cols))
    assert np.min(per_slot) < used < np.max(per_slot)  # the median car's lies between
    fixed = load_scenario_as(SCENARIO, PortoScenario, ["control.wear_eur_per_kwh=0.02"])
    assert fixed.control.wear_eur_per_kwh == 0.02
