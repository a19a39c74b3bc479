"""Porto web-app backend: one session's trace in the use case's step order, bills by hand."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.trace import TRACE_COLUMNS, TraceRecorder
from v2xcosim.usecases.porto.parking import ParkingManager
from v2xcosim.usecases.porto.steps import PORTO_STEPS
from v2xcosim.usecases.porto.webapp import (
    SessionStatistics,
    WebApp,
    WebAppConfig,
    session_statistics,
)

START = dt.datetime(2025, 7, 7, tzinfo=dt.UTC)
H = 3600.0


def _ev(sid: str = "P00001", **change: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "stay_id": sid,
        "user_id": f"user/{sid}",
        "capacity_kwh": 52.0,
        "soc_arrival": 0.4,
        "soc_min": 0.3,
        "soc_wish": 0.8,
        "p_max_charge_kw": 11.0,
        "p_max_discharge_kw": 11.0,
        "v2b": True,
        "consent": True,
        "departure_s": 48 * H,
    }
    ev.update(change)
    return ev


def _setup(config: WebAppConfig | None = None) -> tuple[WebApp, TraceRecorder, ParkingManager]:
    trace = TraceRecorder(START, "porto", PORTO_STEPS)
    parking = ParkingManager([("g0", 8)])
    app = WebApp(config or WebAppConfig(), start_utc=START, record=trace.record, parking=parking)
    return app, trace, parking


def _one_session(app: WebApp, parking: ParkingManager, p_w: np.ndarray, ev: dict[str, Any]) -> Any:
    sid = ev["stay_id"]
    d = parking.arrive(sid, 1 * H, ev["departure_s"])
    req = app.plug_in(1 * H, d, ev)
    t_stop = 1 * H + len(p_w) * 900.0
    app.stop(t_stop, sid, 0.8)
    stats = session_statistics(
        sid,
        START + dt.timedelta(seconds=t_stop),
        p_w,
        900.0,
        soc_arrival=ev["soc_arrival"],
        soc_end=0.8,
    )
    return req, app.close(stats)


def test_trace_of_one_session_follows_the_use_case_order() -> None:
    app, trace, parking = _setup()
    _one_session(app, parking, np.full(8, 11_000.0), _ev())
    steps = trace.steps()
    assert steps == ["3", "3.1", "4", "5", "6", "11", "12", "16", "17", "18", "19", "20"]
    order = list(PORTO_STEPS)
    pos = [order.index(s) for s in steps]
    assert pos == sorted(pos) and len(set(pos)) == len(pos)
    df = trace.to_frame()
    assert list(df.columns) == list(TRACE_COLUMNS)
    assert (df["use_case"] == "porto").all()
    got = dict(
        zip(
            df["step"],
            zip(df["sender"], df["receiver"], df["payload_type"], strict=True),
            strict=True,
        )
    )
    assert got["3"] == ("user/P00001", "web_app", "SessionCreation")
    assert got["3.1"] == ("user/P00001", "web_app", "Registration")
    assert got["4"] == ("user/P00001", "web_app", "UserPreferences")
    assert got["6"] == ("web_app", "cs_ems", "SessionRequirements")
    assert got["12"] == ("web_app", "cs_ems", "StopCharging")
    assert got["16"] == ("cs_ems", "web_app", "SessionStatistics")
    assert got["18"] == ("web_app", "user/P00001", "UserStatement")
    assert got["19"] == ("web_app", "parking", "ParkingRelease")
    # plug-in at 1 h, stop and close at 1 h + 8 × 15 min = 3 h
    np.testing.assert_array_equal(df["t_s"], [1 * H] * 5 + [3 * H] * 7)
    assert df["time_utc"].iloc[-1] == "2025-07-07T03:00:00Z"


def test_registration_only_the_first_time_and_refusal_means_plain_charging() -> None:
    app, trace, parking = _setup()
    _one_session(app, parking, np.full(4, 11_000.0), _ev("P1", user_id="user/anna"))
    n = len(trace.rows)
    _one_session(app, parking, np.full(4, 11_000.0), _ev("P2", user_id="user/anna"))
    assert "3.1" not in [r["step"] for r in trace.rows[n:]]
    n = len(trace.rows)
    req, _ = _one_session(app, parking, np.full(4, 11_000.0), _ev("P3", consent=False))
    assert [r["step"] for r in trace.rows[n : n + 3]] == ["3", "3.1", "6"]
    assert "refuses" in trace.rows[n + 1]["info"]
    assert not req.managed and req.p_max_discharge_w == 0.0
    assert req.soc_wish == 1.0 and req.soc_min == 0.0
    # a refusing user is asked again next time
    n = len(trace.rows)
    _one_session(app, parking, np.full(4, 11_000.0), _ev("P4", user_id="user/P3", consent=False))
    assert [r["step"] for r in trace.rows[n : n + 2]] == ["3", "3.1"]


def test_requirements_from_the_car_and_the_decision() -> None:
    app, _, parking = _setup()
    d = parking.arrive("P9", 0.0, 30 * H)
    req = app.plug_in(0.0, d, _ev("P9", departure_s=30 * H, v2b=False, p_max_discharge_kw=0.0))
    assert (req.charger, req.group) == (0, "g0")
    assert req.departure_utc == START + dt.timedelta(hours=30)
    assert (req.soc_wish, req.soc_min, req.p_max_charge_w) == (0.8, 0.3, 11_000.0)
    assert req.p_max_discharge_w == 0.0 and req.managed
    d = parking.arrive("P10", 0.0, 30 * H)
    assert app.plug_in(0.0, d, _ev("P10")).p_max_discharge_w == 11_000.0


def test_bill_charging_only_by_hand() -> None:
    """8 steps × 15 min at 11 kW = 22 kWh; 22 × 0.30 = 6.60 EUR, no compensation."""
    app, _, parking = _setup()
    _, st = _one_session(app, parking, np.full(8, 11_000.0), _ev(v2b=False, p_max_discharge_kw=0))
    assert st.energy_charged_kwh == pytest.approx(22.0)
    assert st.energy_discharged_kwh == 0.0
    assert st.energy_cost_eur == pytest.approx(6.60)
    assert st.incentive_eur == 0.0 and st.net_eur == pytest.approx(6.60)
    row = app.table().iloc[0]
    assert row["state"] == "closed" and row["time_plugged_s"] == 2 * H
    assert row["net_eur"] == pytest.approx(6.60)


def test_bill_v2b_session_by_hand() -> None:
    """2 h at +11 kW (22 kWh in), 1 h at −11 kW (11 kWh out), 15-min steps.

    Net credit (η 1): pays (22 − 11) × 0.30 = 3.30 EUR, receives 11 × 0.10 = 1.10 EUR: 2.20.
    With η_c = η_d = 0.9: pays (22 − 11/0.81) × 0.30 = 2.525926 EUR; net 1.425926 EUR.
    """
    p = np.concatenate([np.full(8, 11_000.0), np.full(4, -11_000.0)])
    app, _, parking = _setup()
    _, st = _one_session(app, parking, p, _ev())
    assert (st.energy_charged_kwh, st.energy_discharged_kwh) == pytest.approx((22.0, 11.0))
    assert st.energy_cost_eur == pytest.approx(3.30)
    assert st.incentive_eur == pytest.approx(1.10)
    assert st.net_eur == pytest.approx(2.20)
    app2, _, parking2 = _setup(WebAppConfig(credit_eta_charge=0.9, credit_eta_discharge=0.9))
    _, st2 = _one_session(app2, parking2, p, _ev())
    assert st2.energy_cost_eur == pytest.approx(2.525926, abs=1e-6)
    assert st2.net_eur == pytest.approx(1.425926, abs=1e-6)


def test_close_releases_the_slot_in_the_parking_manager() -> None:
    app, _, parking = _setup()
    _one_session(app, parking, np.full(4, 11_000.0), _ev())
    row = parking.table().iloc[0]
    assert row["released"] and not row["plugged"] and row["end_s"] == 2 * H
    # the charger is free again after the release, though the stay had declared 48 h
    assert not parking.busy_chargers(2 * H, 48 * H)[0]


def test_session_statistics_by_hand() -> None:
    s = session_statistics("x", START, [3600.0, -1800.0, 0.0], 3600.0, soc_arrival=0.5, soc_end=0.6)
    assert (s.energy_charged_kwh, s.energy_discharged_kwh, s.plugged_s) == (3.6, 1.8, 10_800.0)


def test_bad_inputs_name_the_key() -> None:
    app, _, parking = _setup()
    d = parking.arrive("P1", 0.0, 10 * H)
    ev = _ev("P1", departure_s=10 * H)
    with pytest.raises(ScenarioError, match=r"lacks keys \['soc_wish'\]"):
        app.plug_in(0.0, d, {k: v for k, v in ev.items() if k != "soc_wish"})
    with pytest.raises(ScenarioError, match=r"SessionRequirements.soc_min: must not exceed"):
        app.plug_in(0.0, d, _ev("P1", soc_min=0.9, departure_s=10 * H))
    with pytest.raises(ScenarioError, match="departure_s of 'P1'"):
        app.plug_in(0.0, d, _ev("P1", departure_s=0.0))
    with pytest.raises(ScenarioError, match="decision of 'P1' given for the car of 'P2'"):
        app.plug_in(0.0, d, _ev("P2"))
    rejected = dataclasses.replace(d, accepted=False, charger=-1, reason="full")
    with pytest.raises(ScenarioError, match="'P1' was rejected"):
        app.plug_in(0.0, rejected, ev)
    with pytest.raises(ScenarioError, match="stop of unknown session 'P1'"):
        app.stop(1.0, "P1", 0.5)
    app.plug_in(0.0, d, ev)
    with pytest.raises(ScenarioError, match="'P1' exists already"):
        app.plug_in(0.0, d, ev)
    stats = SessionStatistics(
        session_id="P1",
        time_utc=START + dt.timedelta(hours=1),
        energy_charged_kwh=1.0,
        energy_discharged_kwh=0.0,
        soc_arrival=0.4,
        soc_end=0.42,
        plugged_s=H,
    )
    with pytest.raises(ScenarioError, match="statistics of session 'P1': it is 'started'"):
        app.close(stats)
    with pytest.raises(ScenarioError, match="before its plug-in"):
        app.stop(-1.0, "P1", 0.5)
    app.stop(H, "P1", 0.42)
    with pytest.raises(ScenarioError, match="stop of session 'P1': it is 'stopped'"):
        app.stop(H, "P1", 0.42)
    with pytest.raises(ScenarioError, match="dated before its stop"):
        app.close(dataclasses.replace(stats, time_utc=START))
    with pytest.raises(ScenarioError, match=r"SessionStatistics.energy_charged_kwh"):
        dataclasses.replace(stats, energy_charged_kwh=-1.0)
    with pytest.raises(ScenarioError, match=r"SessionStatistics.soc_end"):
        dataclasses.replace(stats, soc_end=1.2)
    with pytest.raises(ScenarioError, match="p_w of 'x' must be finite"):
        session_statistics("x", START, [np.nan], 900.0, soc_arrival=0.5, soc_end=0.5)


def test_discharge_from_a_session_that_may_not_discharge_is_refused() -> None:
    app, _, parking = _setup()
    d = parking.arrive("P1", 0.0, 10 * H)
    app.plug_in(0.0, d, _ev("P1", departure_s=10 * H, consent=False))
    app.stop(H, "P1", 0.5)
    stats = session_statistics(
        "P1", START + dt.timedelta(hours=1), [-1000.0], H, soc_arrival=0.4, soc_end=0.39
    )
    with pytest.raises(ScenarioError, match="may not discharge"):
        app.close(stats)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"tariff_eur_per_kwh": -0.1}, "tariff_eur_per_kwh"),
        ({"v2b_compensation_eur_per_kwh": float("inf")}, "v2b_compensation_eur_per_kwh"),
        ({"credit_eta_charge": 0.0}, "credit_eta_charge"),
        ({"credit_eta_discharge": 1.5}, "credit_eta_discharge"),
    ],
)
def test_bad_config_names_the_key(change: dict[str, float], key: str) -> None:
    with pytest.raises(ScenarioError, match=f"porto web app: {key}"):
        WebApp(WebAppConfig(**change), start_utc=START, record=lambda *a: None)


def test_start_must_be_utc() -> None:
    local = dt.datetime(2025, 7, 7, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with pytest.raises(ScenarioError, match="start_utc must be UTC"):
        WebApp(WebAppConfig(), start_utc=local, record=lambda *a: None)


def test_a_week_of_stays_runs_through_parking_fleet_and_web_app() -> None:
    """Every accepted stay of a drawn week gets one session; per session the steps ascend."""
    import pandas as pd

    from v2xcosim.usecases.porto.fleet import FleetSpec, draw_fleet
    from v2xcosim.usecases.porto.parking import StaySpec, draw_stays

    stays = draw_stays(StaySpec(n_days=2, warmup_days=1), seed=2, start_utc=pd.Timestamp(START))
    fleet = draw_fleet(stays, FleetSpec(), seed=2)
    cars = {str(r["stay_id"]): {str(k): v for k, v in r.items()} for r in fleet.to_dict("records")}
    trace = TraceRecorder(START, "porto", PORTO_STEPS)
    parking = ParkingManager([("g0", 20)])
    app = WebApp(WebAppConfig(), start_utc=START, record=trace.record, parking=parking)
    events = sorted((float(r["arrival_s"]), 1, sid) for sid, r in cars.items())
    plugged: dict[str, float] = {}
    expected_net = 0.0
    while events:
        t, kind, sid = events.pop(0)
        car = cars[sid]
        dep_s, soc0, cap = (
            float(car["departure_s"]),
            float(car["soc_arrival"]),
            float(car["capacity_kwh"]),
        )
        if kind == 1:
            d = parking.arrive(sid, t, dep_s)
            if d.accepted:
                app.plug_in(t, d, car)
                plugged[sid] = t
                events = sorted([*events, (dep_s, 0, sid)])
            continue
        # charged to the wish (plain charging: to full); AC energy = battery energy here
        soc_end = float(car["soc_wish"]) if app.requirements(sid).managed else 1.0
        e_kwh = max(soc_end - soc0, 0.0) * cap
        app.stop(t, sid, max(soc_end, soc0))
        stats = SessionStatistics(
            session_id=sid,
            time_utc=START + dt.timedelta(seconds=t),
            energy_charged_kwh=e_kwh,
            energy_discharged_kwh=0.0,
            soc_arrival=soc0,
            soc_end=max(soc_end, soc0),
            plugged_s=t - plugged[sid],
        )
        expected_net += 0.30 * e_kwh
        app.close(stats)
    table = app.table()
    assert len(table) > 20 and (table["state"] == "closed").all()
    assert table["net_eur"].sum() == pytest.approx(expected_net)
    df = trace.to_frame()
    order = {s: k for k, s in enumerate(PORTO_STEPS)}
    ids = df["info"].str.extract(r"session (P\d+)")[0]
    for _, session in df.groupby(ids):
        pos = session["step"].map(order).to_numpy()
        assert (np.diff(pos) > 0).all()
        assert session["step"].iloc[0] == "3" and session["step"].iloc[-1] == "20"
