"""The Porto DSO: its rule on hand-built forecasts, its forecast independent of the realised
weather, the limit the BEMS plans with, and the ``[dso_event]`` keys."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.scenario import load_scenario, load_scenario_as
from v2xcosim.usecases.porto import weather as w
from v2xcosim.usecases.porto.dso import (
    LOSS_REF_KW,
    dso_events,
    forecast_import_w,
    forecast_peak_windows,
    forecast_weeks,
)
from v2xcosim.usecases.porto.schema import PortoScenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "porto_v2b.toml"
WINTER = ROOT / "scenarios" / "porto_v2b_winter.toml"


def _week(day_max_kw: list[float], peak_hour: list[float]) -> pd.Series[float]:
    """A local week (Mon 7 July 2025) of 15-minute steps: a triangle per day, 5 MW at night
    rising to ``day_max_kw`` at ``peak_hour`` local (exactly on a step)."""
    idx = pd.date_range("2025-07-06T23:00Z", periods=7 * 96, freq="15min")
    local = idx.tz_convert("Europe/Lisbon")
    hour = local.hour + local.minute / 60.0
    p = np.empty(len(idx))
    for d in range(7):
        rows = np.flatnonzero(local.dayofweek == d)
        p[rows] = 5e6 + (day_max_kw[d] * 1e3 - 5e6) * np.maximum(
            1.0 - np.abs(hour[rows] - peak_hour[d]) / 8.0, 0.0
        )
    return pd.Series(p, index=idx)


def test_the_rule_calls_each_day_within_the_band_over_its_span_above_the_limit() -> None:
    # Friday 12,000 at 16:00 and Sunday 12,100 at 15:15 (100 kW apart, within 250): both
    # called; Monday 11,800 (300 below) not; limit = 12,100 - 500 = 11,600 kW for both
    day_max = [11800.0, 11000.0, 11000.0, 11000.0, 12000.0, 11000.0, 12100.0]
    hours = [16.0, 16.0, 16.0, 16.0, 16.0, 16.0, 15.25]
    out = forecast_peak_windows(
        _week(day_max, hours), max_window_h=6.0, band_kw=250.0, shave_kw=500.0
    )
    assert len(out) == 2
    fri, sun = out
    # by hand: the triangle 5,000 + 7,000·(1 − |h − 16|/8) exceeds 11,600 for |h − 16| <
    # 8·400/7,000 = 0.457 h: the steps 15:45, 16:00, 16:15 -> 15:45-16:30 local
    assert fri.start_utc == pd.Timestamp("2025-07-11T15:45+01:00")
    assert fri.end_utc == pd.Timestamp("2025-07-11T16:30+01:00")
    # Sunday 5,000 + 7,100·(1 − |h − 15.25|/8) > 11,600 for |h − 15.25| < 8·500/7,100 = 0.563 h:
    # the steps 14:45 ... 15:45 -> 14:45-16:00 local
    assert sun.start_utc == pd.Timestamp("2025-07-13T14:45+01:00")
    assert sun.end_utc == pd.Timestamp("2025-07-13T16:00+01:00")
    assert fri.limit_w == sun.limit_w == pytest.approx(11_600e3)
    assert fri.forecast_max_w == pytest.approx(12_000e3)
    # every step inside a window is above the limit, the steps just outside are not
    fc = _week(day_max, hours)
    for win in out:
        inside = fc[(fc.index >= win.start_utc) & (fc.index < win.end_utc)]
        assert (inside > win.limit_w).all()
        step = pd.Timedelta(minutes=15)
        assert fc[win.start_utc - step] <= win.limit_w
        assert fc[win.end_utc] <= win.limit_w
    # capped at 45 min: Sunday keeps the 3 steps with the most energy above the limit (the
    # triangle's top: 15:00-15:45), Friday's 3 steps are unchanged
    capped = forecast_peak_windows(fc, max_window_h=0.75, band_kw=250.0, shave_kw=500.0)
    assert capped[0] == fri
    assert capped[1].start_utc == pd.Timestamp("2025-07-13T15:00+01:00")
    assert capped[1].end_utc == pd.Timestamp("2025-07-13T15:45+01:00")
    # a shave of 0: the window is the maximum's step alone
    top = forecast_peak_windows(fc, max_window_h=6.0, band_kw=50.0, shave_kw=0.0)
    assert len(top) == 1
    assert top[0].end_utc - top[0].start_utc == pd.Timedelta(minutes=15)
    # a narrower band calls Sunday alone; a wider one Monday too
    assert len(forecast_peak_windows(fc, max_window_h=6, band_kw=50, shave_kw=0)) == 1
    assert len(forecast_peak_windows(fc, max_window_h=6, band_kw=300, shave_kw=0)) == 3


def test_forecast_weeks_start_on_the_local_monday() -> None:
    monday, n = forecast_weeks(pd.Timestamp("2025-07-11T00:00+01:00"), 86400)
    assert monday == pd.Timestamp("2025-07-07T00:00+01:00") and n == 1
    monday, n = forecast_weeks(pd.Timestamp("2025-07-12T00:00+01:00"), 3 * 86400)
    assert monday == pd.Timestamp("2025-07-07T00:00+01:00") and n == 2


def test_climate_normal_weather_has_no_chance() -> None:
    a = w.climate_normal_weather("2025-07-07T00:00Z", 3 * 96, 900)
    assert list(a.columns) == list(w.WEATHER_COLUMNS)
    # temperature: the normal without anomaly; clearness: the month's mean every day
    t = w.temperature_k(pd.DatetimeIndex(a.index + pd.Timedelta(minutes=7.5)), 0, anomaly_std_k=0)
    np.testing.assert_allclose(a["t_out_k"], t)
    np.testing.assert_allclose(a["clearness"], w.monthly_clearness()[6])
    np.testing.assert_allclose(a["ghi_w_m2"], a["ghi_clearsky_w_m2"] * w.monthly_clearness()[6])


def _terminal_fmu() -> Path:
    from v2xcosim.fmu.registry import fmus_dir

    return fmus_dir() / "Terminal.fmu"


@pytest.mark.parametrize("scenario", [SCENARIO, WINTER], ids=["july", "january"])
def test_windows_come_from_the_forecast_not_the_realised_weather(scenario: Path) -> None:
    from v2xcosim.usecases.porto.terminal import run_terminal, terminal_inputs, terminal_use

    fmu = _terminal_fmu()
    spec = load_scenario_as(scenario, PortoScenario)
    events = dso_events(spec, fmu)
    # another seed: other realised weather and stays, the same events
    other = load_scenario_as(scenario, PortoScenario, ["seed=7"])
    assert dso_events(other, fmu) == events
    # by hand: the terminal FMU on the climate normal + losses (I² from the July point)
    dt_s, warm, n = 900, spec.porto.terminal.warmup_days * 96, 7 * 96
    t0 = pd.Timestamp(spec.time.start_utc) - pd.Timedelta(seconds=warm * dt_s)
    wx = w.climate_normal_weather(t0, warm + n, dt_s)
    use = terminal_use(spec)
    p = run_terminal(fmu, terminal_inputs(wx, use), dt_s, warmup_steps=warm)["p_el_w"].to_numpy()
    fc = p + LOSS_REF_KW[0] * 1e3 * (p / (LOSS_REF_KW[1] * 1e3)) ** 2
    np.testing.assert_allclose(forecast_import_w(spec, fmu).to_numpy(), fc)
    # the shipped weeks: Friday and Sunday (within 250 kW), each window the span around the
    # day's maximum where the forecast is above the limit (shorter than max_window_h here)
    assert len(events) == 2
    for e in events:
        day = slice(e.start_k - e.start_k % 96, e.start_k - e.start_k % 96 + 96)
        assert e.start_k <= day.start + int(np.argmax(fc[day])) < e.end_k
        assert (fc[e.start_k : e.end_k] > e.limit_w).all()
        assert fc[e.start_k - 1] <= e.limit_w and fc[e.end_k] <= e.limit_w
        assert 12 < e.end_k - e.start_k < 24 and e.notice_k == e.start_k - 96
        assert e.limit_w == pytest.approx(fc.max() - 200e3)
    days = [
        (spec.time.start_utc + pd.Timedelta(seconds=e.start_k * dt_s)).weekday() for e in events
    ]
    assert days == [4, 6]
    # the realised weather is another week: its terminal maximum is not the forecast's
    real = w.synthesise_weather(t0, warm + n, dt_s, spec.seed)
    p_real = run_terminal(fmu, terminal_inputs(real, use), dt_s, warmup_steps=warm)["p_el_w"]
    assert not np.allclose(p_real.to_numpy(), p, rtol=0.01)


def test_bems_limit_has_the_margin_in_the_window_and_the_limit_on_its_shoulders() -> None:
    from v2xcosim.usecases.porto.wiring import porto_setup

    spec = load_scenario_as(
        SCENARIO,
        PortoScenario,
        [
            "time.start=2025-07-11T00:00:00+01:00",
            "time.duration_s=86400",
            "porto.parking.warmup_days=0",
        ],
    )
    setup = porto_setup(spec, _terminal_fmu())
    (ev,) = setup.events  # Friday's; Sunday's lies beyond the run
    assert (ev.start_k, ev.end_k) == (57, 73)  # 14:15-18:15 local: the forecast above the limit
    lim = ev.limit_w
    got = setup.import_limit_w(50, 30, announced_k=0, margin_w=100e3, shoulder_steps=8)
    expected = np.full(30, math.inf)
    expected[0:7] = lim  # steps 50..56: the shoulder before (from 49)
    expected[7:23] = lim - 100e3  # 57..72: the window, with the margin
    expected[23:30] = lim  # 73..79: the shoulder after (to 80)
    np.testing.assert_array_equal(got, expected)
    # not yet told (the notice is at the run's start, step 0): nothing to plan with
    late = dataclasses.replace(setup, ev_notice_k=np.array([10]))
    assert np.isinf(late.import_limit_w(50, 30, announced_k=9)).all()
    assert setup.event_mask().sum() == 16


def test_dso_event_keys_name_themselves() -> None:
    with pytest.raises(ScenarioError, match=r"dso_event.*limit_mw"):
        load_scenario(
            SCENARIO,
            [
                "dso_event.mode=fixed",
                "dso_event.start=2025-07-09T14:00:00+01:00",
                "dso_event.end=2025-07-09T17:00:00+01:00",
            ],
        )
    with pytest.raises(ScenarioError, match=r"dso_event.*start.*only with mode"):
        load_scenario(SCENARIO, ["dso_event.start=2025-07-09T14:00:00+01:00"])
    with pytest.raises(ScenarioError, match=r"dso_event\.mode"):
        load_scenario(SCENARIO, ["dso_event.mode=weekly"])
    with pytest.raises(ScenarioError, match=r"dso_event\.shave_kw"):
        load_scenario(SCENARIO, ["dso_event.shave_kw=-1"])
    # the fixed-length window is gone: its old key is named, not ignored
    with pytest.raises(ScenarioError, match=r"dso_event\.window_h"):
        load_scenario(SCENARIO, ["dso_event.window_h=3"])
    with pytest.raises(ScenarioError, match=r"dso_event\.max_window_h"):
        load_scenario(SCENARIO, ["dso_event.max_window_h=0"])
    fixed = load_scenario_as(
        SCENARIO,
        PortoScenario,
        [
            "dso_event.mode=fixed",
            "dso_event.start=2025-07-09T14:00:00+01:00",
            "dso_event.end=2025-07-09T17:00:00+01:00",
            "dso_event.limit_mw=11.7",
        ],
    )
    assert fixed.dso_event is not None and fixed.dso_event.limit_mw == 11.7
    with pytest.raises(ScenarioError, match=r"dso_event\.start"):
        load_scenario(
            SCENARIO,
            [
                "dso_event.mode=fixed",
                "dso_event.start=2025-07-19T14:00:00+01:00",
                "dso_event.end=2025-07-19T17:00:00+01:00",
                "dso_event.limit_mw=11.7",
            ],
        )  # after the week
