"""Time-of-use tariff engine and the Portuguese MV weekly cycle against hand-checked values."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.tariff import (
    DAYS_PER_MONTH,
    TouSchedule,
    TouTariff,
    contracted_excess_eur_per_kw,
    day_periods,
    gregorian_easter,
    quarter_hour_means_w,
)
from v2xcosim.usecases.porto import tariff as pt

LISBON = "Europe/Lisbon"


def _label(local: str) -> str:
    """Label of the step starting at the Lisbon local time ``local``."""
    t = pd.DatetimeIndex([pd.Timestamp(local, tz=LISBON)]).tz_convert("UTC")
    return str(pt.mv_schedule().labels_at(t)[0])


@pytest.mark.parametrize(
    ("local", "label"),
    [
        # winter weekday (Wednesday 15 January 2025, WET)
        ("2025-01-15 10:00", "ponta"),
        ("2025-01-15 08:00", "cheias"),
        ("2025-01-15 03:00", "super_vazio"),
        ("2025-01-15 06:30", "vazio_normal"),
        ("2025-01-15 01:45", "vazio_normal"),
        ("2025-01-15 09:29", "cheias"),
        ("2025-01-15 09:30", "ponta"),
        ("2025-01-15 12:00", "cheias"),
        ("2025-01-15 19:00", "ponta"),
        ("2025-01-15 21:00", "cheias"),
        ("2025-01-15 23:59", "cheias"),
        # summer weekday (Wednesday 16 July 2025, WEST)
        ("2025-07-16 09:20", "ponta"),
        ("2025-07-16 12:20", "cheias"),
        ("2025-07-16 09:10", "cheias"),
        ("2025-07-16 12:10", "ponta"),
        ("2025-07-16 19:00", "cheias"),
        ("2025-07-16 03:00", "super_vazio"),
        # Saturdays
        ("2025-01-18 10:00", "cheias"),
        ("2025-01-18 14:00", "vazio_normal"),
        ("2025-01-18 19:00", "cheias"),
        ("2025-01-18 23:00", "vazio_normal"),
        ("2025-01-18 03:00", "super_vazio"),
        ("2025-07-19 09:00", "cheias"),
        ("2025-07-19 13:45", "cheias"),
        ("2025-07-19 14:00", "vazio_normal"),
        ("2025-07-19 20:30", "cheias"),
        # Sundays
        ("2025-01-19 10:00", "vazio_normal"),
        ("2025-01-19 19:00", "vazio_normal"),
        ("2025-07-20 03:00", "super_vazio"),
        # holidays follow Sunday: 25 April 2025 (a Friday), Good Friday 18 April 2025
        ("2025-04-25 10:00", "vazio_normal"),
        ("2025-04-18 10:00", "vazio_normal"),
        ("2025-04-24 10:00", "ponta"),
    ],
)
def test_period_labels_by_hand(local: str, label: str) -> None:
    assert _label(local) == label


def test_spring_dst_day_and_the_monday_after() -> None:
    # Sunday 30 March 2025: 01:00 UTC = 01:00 WET -> 02:00 WEST
    day = pd.date_range("2025-03-30T00:00Z", "2025-03-31T00:00Z", freq="15min", inclusive="left")
    assert len(day) == 96  # one UTC day of quarter hours
    labels = pt.mv_schedule().labels_at(day)
    utc = pd.Series(labels, index=day)
    assert utc["2025-03-30T00:30Z"] == "vazio_normal"  # 00:30 WET
    assert utc["2025-03-30T01:00Z"] == "super_vazio"  # 02:00 WEST
    assert utc["2025-03-30T04:45Z"] == "super_vazio"  # 05:45 WEST
    assert utc["2025-03-30T05:00Z"] == "vazio_normal"  # 06:00 WEST
    assert int((labels == "super_vazio").sum()) == 16  # still four hours
    # Friday before: winter, 09:15 WET cheias; Monday after: summer, 09:15 WEST ponta
    fri = pd.DatetimeIndex([pd.Timestamp("2025-03-28T09:15Z")])
    mon = pd.DatetimeIndex([pd.Timestamp("2025-03-31T08:15Z")])
    assert pt.mv_schedule().labels_at(fri)[0] == "cheias"
    assert pt.mv_schedule().labels_at(mon)[0] == "ponta"
    assert pt.mv_schedule().seasons_at(mon)[0] == "summer"


def test_autumn_dst_day_has_the_repeated_hour() -> None:
    # Sunday 26 October 2025: 01:00 UTC = 02:00 WEST -> 01:00 WET; the local day has 25 h
    start = pd.Timestamp("2025-10-26T00:00", tz=LISBON).tz_convert("UTC")
    end = pd.Timestamp("2025-10-27T00:00", tz=LISBON).tz_convert("UTC")
    day = pd.date_range(start, end, freq="15min", inclusive="left")
    assert len(day) == 100
    labels = pt.mv_schedule().labels_at(day)
    assert int((labels == "super_vazio").sum()) == 16
    assert int((labels == "vazio_normal").sum()) == 84  # 00-02 twice the first hour, 06-24
    # Monday 27 October: winter rule, evening ponta 18:30 WET = 18:30 UTC
    mon = pd.DatetimeIndex([pd.Timestamp("2025-10-27T18:30Z"), pd.Timestamp("2025-10-27T09:15Z")])
    assert list(pt.mv_schedule().labels_at(mon)) == ["ponta", "cheias"]


def test_weekly_hours_per_period() -> None:
    # a winter week without holidays: ponta 5 × 5 h, super vazio 7 × 4 h
    week = pd.date_range(
        pd.Timestamp("2025-01-13", tz=LISBON), periods=7 * 96, freq="15min"
    ).tz_convert("UTC")
    hours = pd.Series(pt.mv_schedule().labels_at(week)).value_counts() / 4
    assert hours["ponta"] == 25.0
    assert hours["super_vazio"] == 28.0
    # cheias: 5 × 12 h on weekdays + 7 h on Saturday
    assert hours["cheias"] == 67.0
    assert hours.sum() == 168.0


def test_portuguese_holidays() -> None:
    assert gregorian_easter(2024) == dt.date(2024, 3, 31)
    assert gregorian_easter(2025) == dt.date(2025, 4, 20)
    assert gregorian_easter(2026) == dt.date(2026, 4, 5)
    h25 = pt.portuguese_holidays(2025)
    assert len(h25) == 13
    assert {dt.date(2025, 4, 18), dt.date(2025, 4, 20), dt.date(2025, 6, 19)} <= h25
    assert dt.date(2026, 6, 4) in pt.portuguese_holidays(2026)  # Corpo de Deus 2026
    assert dt.date(2024, 3, 29) in pt.portuguese_holidays(2024)  # Good Friday 2024
    with pytest.raises(ScenarioError, match="2016"):
        pt.portuguese_holidays(2010)


def _winter_day_profile() -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    times = pd.date_range("2025-01-15T00:00Z", periods=96, freq="15min")  # WET = UTC
    p_kw = np.full(96, 100.0)
    p_kw[40] = 1000.0  # 10:00-10:15, ponta
    p_kw[76:80] = 200.0  # 19:00-20:00, ponta
    p_kw[12] = -50.0  # 03:00-03:15 export, super vazio: not credited
    q_kvar = np.full(96, 50.0)
    q_kvar[48] = -200.0  # 12:00-12:15 capacitive, cheias: not charged
    return times, p_kw * 1e3, q_kvar * 1e3


def test_bill_of_a_small_profile_by_hand() -> None:
    times, p_w, q_var = _winter_day_profile()
    # 900 kW carried in: the day's 1000-kW maximum is billed, its 100 kW above for 12 months
    bill = pt.mv_tariff().bill(p_w, q_var, times, contracted_kw=900.0)
    # energy by period: vazio normal 3 h × 100; super vazio 4 h × 100 − 0.25 h × 100;
    # cheias 12 h × 100; ponta 5 h × 100 + 0.25 × 900 + 1 × 100
    assert bill["energy_kwh_by_period"] == pytest.approx(
        {"vazio_normal": 300.0, "super_vazio": 375.0, "cheias": 1200.0, "ponta": 825.0}
    )
    assert bill["energy_eur"] == pytest.approx(300 * 0.11 + 375 * 0.10 + 1200 * 0.15 + 825 * 0.19)
    assert bill["energy_eur"] == pytest.approx(407.25)
    months = 1.0 / 30.4375
    assert bill["days"] == pytest.approx(1.0)
    assert bill["peak_hours_h"] == pytest.approx(5.0)
    assert bill["peak_hours_kw"] == pytest.approx(825.0 / 5.0)
    assert bill["peak_power_eur"] == pytest.approx(165.0 * 9.0 * months)
    assert bill["contracted_kw"] == pytest.approx(1000.0)
    assert bill["contracted_power_eur"] == pytest.approx(1000.0 * 1.2 * months)
    # reactive outside vazio (17 h): 50 kvar × 17 h − 12.5 (capacitive step) = 837.5 kvarh;
    # free 0.3 × (1200 + 825) = 607.5 -> 230 kvarh × 0.025 EUR
    assert bill["reactive_kvarh_billed"] == pytest.approx(230.0)
    assert bill["reactive_eur"] == pytest.approx(5.75)
    ratchet = 100.0 * 1.2 * (12.0 - months)
    assert bill["contracted_ratchet_eur"] == pytest.approx(ratchet)
    assert bill["total_eur"] == pytest.approx(
        407.25 + 165.0 * 9.0 * months + 1000.0 * 1.2 * months + 5.75 + ratchet
    )
    # a declared contracted power above the measured maximum is billed instead
    declared = pt.mv_tariff().bill(p_w, q_var, times, contracted_kw=1500.0)
    assert declared["contracted_kw"] == 1500.0


def test_contracted_ratchet_bills_a_new_maximum_for_the_months_left() -> None:
    # the winter day of the test above: measured 15-minute maximum 1000 kW (19:00-19:15)
    times, p_w, q_var = _winter_day_profile()
    tariff = pt.mv_tariff()
    assert tariff.contracted_ratchet_months == 12.0
    months = 1.0 / 30.4375
    no_ratchet = dataclasses.replace(tariff, contracted_ratchet_months=0.0)
    plain = no_ratchet.bill(p_w, q_var, times, contracted_kw=800.0)
    bill = tariff.bill(p_w, q_var, times, contracted_kw=800.0)
    # this day's charge on max(800, 1000) = 1000 kW; the 200 kW above the carried-in 800 kW
    # stay billed for the 12 months less the day already charged: 200 × 1.2 × (12 − 1/30.4375)
    assert bill["contracted_kw"] == pytest.approx(1000.0)
    assert bill["contracted_power_eur"] == pytest.approx(1000.0 * 1.2 * months)
    assert bill["contracted_ratchet_excess_kw"] == pytest.approx(200.0)
    assert bill["contracted_ratchet_months"] == pytest.approx(12.0 - months)
    assert bill["contracted_ratchet_eur"] == pytest.approx(200.0 * 1.2 * (12.0 - months))
    assert bill["contracted_ratchet_eur"] == pytest.approx(2872.115, abs=1e-3)
    assert bill["total_eur"] == pytest.approx(plain["total_eur"] + 2872.115, abs=1e-3)
    # in all, one kW of new maximum costs the price over the 12 months
    per_kw = contracted_excess_eur_per_kw(1.2, period_days=1.0, ratchet_months=12.0)
    assert per_kw == pytest.approx(14.4)
    extra = (bill["contracted_power_eur"] - 800.0 * 1.2 * months) + bill["contracted_ratchet_eur"]
    assert extra == pytest.approx(200.0 * per_kw)
    # no ratchet term without a ratchet, nor below the carried-in power
    assert plain["contracted_ratchet_eur"] == 0.0
    below = tariff.bill(p_w, q_var, times, contracted_kw=1500.0)
    assert below["contracted_ratchet_excess_kw"] == 0.0 and below["contracted_ratchet_eur"] == 0.0
    assert contracted_excess_eur_per_kw(1.2, period_days=7.0, ratchet_months=0.0) == (
        pytest.approx(1.2 * 7.0 / 30.4375)
    )
    with pytest.raises(ScenarioError, match="contracted_ratchet_months"):
        dataclasses.replace(pt.mv_tariff(), contracted_ratchet_months=-1.0)


def test_per_step_prices_follow_the_labels() -> None:
    times, _, _ = _winter_day_profile()
    tariff = pt.mv_tariff()
    prices = tariff.energy_prices_at(times)
    labels = tariff.labels_at(times)
    assert prices[40] == 0.19 and labels[40] == "ponta"
    assert prices[12] == 0.10 and labels[12] == "super_vazio"
    assert prices[0] == 0.11 and prices[32] == 0.15


def test_contracted_power_uses_quarter_hour_means() -> None:
    times = pd.date_range("2025-01-15T10:00Z", periods=6, freq="5min")
    p_w = np.array([300e3, 0.0, 0.0, 120e3, 120e3, 120e3])
    np.testing.assert_allclose(quarter_hour_means_w(p_w, times, 300), [100e3, 120e3])
    bill = pt.mv_tariff().bill(p_w, np.zeros(6), times)
    assert bill["contracted_kw"] == pytest.approx(120.0)
    # hourly steps hold their value over each quarter hour
    hourly = pd.date_range("2025-01-15T00:00Z", periods=3, freq="h")
    np.testing.assert_allclose(quarter_hour_means_w([1.0, 5.0, 2.0], hourly, 3600), [1, 5, 2])
    with pytest.raises(ScenarioError, match="15-minute means"):
        quarter_hour_means_w([1.0, 2.0], pd.date_range("2025-01-01", periods=2, freq="7min"), 420)


def _generic_schedule(**changes: object) -> TouSchedule:
    day = day_periods(
        [("00:00", "08:00", "off"), ("08:00", "20:00", "peak"), ("20:00", "24:00", "off")]
    )
    days = {(s, c): day for s in ("high", "low") for c in ("weekday", "saturday", "sunday")}
    kwargs: dict[str, object] = {
        "tz": "Europe/Rome",
        "days": days,
        "season_months": {m: ("high" if m in (6, 7, 8) else "low") for m in range(1, 13)},
    }
    kwargs.update(changes)
    return TouSchedule(**kwargs)  # type: ignore[arg-type]


def test_generic_schedule_by_months() -> None:
    sched = _generic_schedule()
    t = pd.DatetimeIndex([pd.Timestamp("2025-07-01T10:00Z"), pd.Timestamp("2025-01-01T05:00Z")])
    assert list(sched.seasons_at(t)) == ["high", "low"]
    assert list(sched.labels_at(t)) == ["peak", "off"]  # 12:00 CEST, 06:00 CET
    tariff = TouTariff(sched, {"off": 0.1, "peak": 0.2})
    bill = tariff.bill([1000.0], [0.0], t[:1], step_s=3600)
    assert bill["energy_eur"] == pytest.approx(0.2)
    assert bill["peak_power_eur"] == 0.0 and bill["reactive_eur"] == 0.0
    assert bill["days"] == pytest.approx(1 / 24)
    assert abs(DAYS_PER_MONTH - 30.4375) < 1e-12


def test_bad_schedules_and_tariffs_are_scenario_errors() -> None:
    gap = day_periods([("00:00", "08:00", "off"), ("09:00", "24:00", "peak")])
    days = {(s, c): gap for s in ("summer", "winter") for c in ("weekday", "saturday", "sunday")}
    with pytest.raises(ScenarioError, match="without gap or overlap"):
        TouSchedule(tz="Europe/Lisbon", days=days)  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match="unknown time zone"):
        _generic_schedule(tz="Mars/Olympus")
    with pytest.raises(ScenarioError, match="each month"):
        _generic_schedule(season_months={1: "low"})
    with pytest.raises(ScenarioError, match="not HH:MM"):
        day_periods([("0800", "24:00", "x")])
    with pytest.raises(ScenarioError, match="no periods for season"):
        _generic_schedule(season_months={m: "mid" for m in range(1, 13)})
    sched = _generic_schedule()
    with pytest.raises(ScenarioError, match=r"no price for periods \['peak'\]"):
        TouTariff(sched, {"off": 0.1})
    with pytest.raises(ScenarioError, match="peak_period"):
        TouTariff(sched, {"off": 0.1, "peak": 0.2}, peak_period="ponta")
    with pytest.raises(ScenarioError, match=r"energy_eur_per_kwh\.off"):
        TouTariff(sched, {"off": -0.1, "peak": 0.2})


def test_bad_bill_inputs_are_scenario_errors() -> None:
    tariff = pt.mv_tariff()
    times = pd.date_range("2025-01-15T00:00Z", periods=4, freq="15min")
    with pytest.raises(ScenarioError, match=r"p_w has shape \(3,\)"):
        tariff.bill(np.zeros(3), np.zeros(4), times)
    with pytest.raises(ScenarioError, match="non-finite"):
        tariff.bill(np.array([0.0, np.nan, 0.0, 0.0]), np.zeros(4), times)
    with pytest.raises(ScenarioError, match="time-zone-aware"):
        tariff.bill(np.zeros(4), np.zeros(4), times.tz_localize(None))
    uneven = pd.DatetimeIndex([*times[:3], times[3] + pd.Timedelta("5min")])
    with pytest.raises(ScenarioError, match="uniformly spaced"):
        tariff.bill(np.zeros(4), np.zeros(4), uneven)
    with pytest.raises(ScenarioError, match="give step_s"):
        tariff.bill(np.zeros(1), np.zeros(1), times[:1])
    with pytest.raises(ScenarioError, match="differs from the spacing"):
        tariff.bill(np.zeros(4), np.zeros(4), times, step_s=60)
