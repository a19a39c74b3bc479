"""The DSO of the airport's MV ring: it calls its import-limit events at its own forecast peak.

Why the DSO calls events at all (``scenarios/porto/README.md``, "The ring's open point and
N-1"): the airport's 15-kV ring is not N-1 secure above 10.4 MW of import, and the airport
imports more than that on every summer afternoon.  No tariff term prices the week's 15-minute
maximum below the 12-month ratchet level, so the value of shaving it belongs to the DSO, who
asks for it with an OpenADR-like import limit over a window (use-case step 10.1).

**The DSO's forecast** (:func:`forecast_import_w`) is its own, not the run: the terminal FMU
driven by the **climate normal** of the site (:func:`~.weather.climate_normal_weather`: monthly
mean temperature with its diurnal cycle, the month's mean clear-sky index; no seed, nothing of
the week's realised weather) and the terminal's time-of-week use (:mod:`.terminal`, the
airport's published schedule), plus the network's losses scaled with the square of the load
from the point measured at the July peak (:data:`LOSS_REF_KW`).  The car park is not in it
(a few tens of kW in the afternoons; the DSO does not forecast charging).  The forecast covers
whole local calendar weeks (Monday 00:00, Europe/Lisbon) — the DSO's week-ahead planning — so
a run of a few days sees the events of its week, not events of its own horizon.

**The rule** (:func:`forecast_peak_windows`), per week:

* the **days called**: each local day whose forecast daily maximum lies within ``band_kw``
  of the week's forecast maximum (**assumption** 250 kW ≈ 2 % of the peak, the order of a
  week-ahead forecast's error of a daily maximum: days closer than that cannot be told apart,
  and a DSO that called only one of them would leave the other's equal peak);
* the **window**: the contiguous run of steps around the day's forecast maximum where the
  forecast exceeds the limit (the whole time the DSO expects the ring above the level it
  accepts; a fixed-length window left the building's own import above the limit just after
  it), at most ``max_window_h`` (**assumption** 6 h, longer than any afternoon plateau of the
  shipped weeks: July 4-4.25 h, January 5.25 h; a longer run keeps the ``max_window_h`` of it
  with the largest forecast energy above the limit), announced ``notice_h`` before its start;
* the **limit**: the week's forecast maximum less ``shave_kw`` (**assumption** 200 kW: about
  half the ≈ 0.4 MW the V2B cars plugged in can discharge, so that the fleet can hold it over
  the terminal's afternoon plateau; a DSO contracts the flexibility the customer
  can deliver, and one limit per week is one level of ring loading it accepts).

Plain Python, no mosaik.  Everything in W and steps of the caller's grid.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError

if TYPE_CHECKING:
    from v2xcosim.usecases.porto.schema import PortoScenario

FloatArray = npt.NDArray[np.float64]

LOCAL_TZ = "Europe/Lisbon"
LOSS_REF_KW: tuple[float, float] = (117.0, 12483.0)
"""The airport network's losses [kW] at the terminal's load [kW] of the July week's peak:
a **calibration value** read from the model's own uncontrolled July run (pandapower on that
operating point, README "Network"), not a measurement; the DSO scales them with I²."""


@dataclasses.dataclass(frozen=True)
class DsoEvent:
    """One import-limit event on the run's step grid.

    Steps ``[start_k, end_k)``, told at ``notice_k`` (≥ 0), import limit ``limit_w`` [W] at the
    MV connection.
    """

    notice_k: int
    start_k: int
    end_k: int
    limit_w: float


@dataclasses.dataclass(frozen=True)
class ForecastWindow:
    """A window the DSO calls: ``[start, end)`` (UTC), limit [W], the forecast there [W]."""

    start_utc: pd.Timestamp
    end_utc: pd.Timestamp
    limit_w: float
    forecast_max_w: float


def forecast_peak_windows(
    p_forecast_w: pd.Series[float],
    *,
    max_window_h: float,
    band_kw: float,
    shave_kw: float,
) -> list[ForecastWindow]:
    """Return the DSO's windows from its forecast import ``p_forecast_w`` [W] (module docstring).

    ``p_forecast_w`` is indexed by step start times (UTC, regular steps) and covers whole local
    weeks; per local week (Monday 00:00): the days whose daily maximum is within ``band_kw`` of
    the week's maximum, limit = the week's maximum − ``shave_kw``, and one window each: the
    contiguous steps around that day's maximum whose forecast exceeds the limit (at least the
    maximum's step), cut to the ``max_window_h`` of them with the most forecast energy above the
    limit.  Sorted by start.
    """
    if len(p_forecast_w) < 2:
        raise ScenarioError("porto dso: the forecast needs at least two steps")
    idx = pd.DatetimeIndex(p_forecast_w.index)
    step = idx[1] - idx[0]
    n_max = max(1, round(max_window_h * 3600.0 / step.total_seconds()))
    local = idx.tz_convert(LOCAL_TZ)
    day = local.normalize()
    week = (day - pd.to_timedelta(local.dayofweek, unit="D")).normalize()
    values = np.asarray(p_forecast_w.to_numpy(dtype=np.float64), dtype=np.float64)
    out: list[ForecastWindow] = []
    for w in pd.unique(week):
        in_week = np.flatnonzero(week == w)
        week_max = float(values[in_week].max())
        limit = week_max - shave_kw * 1e3
        for d in pd.unique(day[in_week]):
            rows = in_week[day[in_week] == d]
            k = int(rows[int(np.argmax(values[rows]))])
            if values[k] < week_max - band_kw * 1e3:
                continue
            a, b = _run_above(values, k, limit, n_max)
            out.append(
                ForecastWindow(
                    start_utc=pd.Timestamp(idx[a]),
                    end_utc=pd.Timestamp(idx[b - 1] + step),
                    limit_w=limit,
                    forecast_max_w=float(values[k]),
                )
            )
    return sorted(out, key=lambda x: x.start_utc)


def _run_above(values: FloatArray, k: int, limit_w: float, n_max: int) -> tuple[int, int]:
    """Return steps ``[a, b)``: the run around ``k`` with ``values > limit_w``.

    ``k`` is always in it; a run longer than ``n_max`` is cut to the ``n_max`` consecutive
    steps of it with the largest ``Σ (values − limit_w)``.
    """
    a, b = k, k + 1
    while a > 0 and values[a - 1] > limit_w:
        a -= 1
    while b < len(values) and values[b] > limit_w:
        b += 1
    if b - a <= n_max:
        return a, b
    excess = np.cumsum(np.concatenate([[0.0], np.maximum(values[a:b] - limit_w, 0.0)]))
    sums = excess[n_max:] - excess[:-n_max]
    best = a + int(np.argmax(sums))
    return best, best + n_max


def forecast_weeks(start_utc: pd.Timestamp, duration_s: float) -> tuple[pd.Timestamp, int]:
    """Return the first local Monday 00:00 (UTC) at or before the start and the weeks covered."""
    local = pd.Timestamp(start_utc).tz_convert(LOCAL_TZ)
    monday = (local.normalize() - pd.Timedelta(days=local.dayofweek)).tz_convert("UTC")
    end = pd.Timestamp(start_utc) + pd.Timedelta(seconds=duration_s)
    n_weeks = max(1, math.ceil((end - monday) / pd.Timedelta(days=7)))
    return monday, n_weeks


def forecast_import_w(spec: PortoScenario, terminal_fmu: Path) -> pd.Series[float]:
    """Return the DSO's forecast of the airport's import [W] over the run's local weeks.

    The terminal FMU on :func:`~.weather.climate_normal_weather` after the scenario's thermal
    warm-up, with the scenario's terminal use, + losses ``LOSS_REF_KW[0]·(P/LOSS_REF_KW[1])²``.
    Independent of ``seed``: the realised weather never enters it.
    """
    from v2xcosim.usecases.porto.terminal import run_terminal, terminal_inputs, terminal_use
    from v2xcosim.usecases.porto.weather import climate_normal_weather

    dt_s = spec.time.step_s
    monday, n_weeks = forecast_weeks(pd.Timestamp(spec.time.start_utc), spec.time.duration_s)
    n = n_weeks * 7 * 86400 // dt_s
    warm = math.ceil(spec.porto.terminal.warmup_days * 86400 / dt_s)
    t0 = monday - pd.Timedelta(seconds=warm * dt_s)
    weather = climate_normal_weather(t0, warm + n, dt_s)
    term = run_terminal(
        terminal_fmu, terminal_inputs(weather, terminal_use(spec)), dt_s, warmup_steps=warm
    )
    p_w = term["p_el_w"].to_numpy(dtype=float)
    loss_w = LOSS_REF_KW[0] * 1e3 * (p_w / (LOSS_REF_KW[1] * 1e3)) ** 2
    return pd.Series(p_w + loss_w, index=pd.DatetimeIndex(weather.index[warm:]), name="p_w")


def dso_events(spec: PortoScenario, terminal_fmu: Path) -> tuple[DsoEvent, ...]:
    """Return the run's DSO events on its step grid (``[dso_event]``; none without the table).

    ``mode = "fixed"``: the window and limit of the file; ``mode = "forecast_peak"``: the
    windows of :func:`forecast_peak_windows` on :func:`forecast_import_w` that overlap the run.
    Each event is told ``notice_h`` before its start (not before step 0).
    """
    ev = spec.dso_event
    if ev is None:
        return ()
    dt_s = spec.time.step_s
    t0 = pd.Timestamp(spec.time.start_utc)
    if ev.mode == "fixed":
        assert ev.start is not None and ev.end is not None and ev.limit_mw is not None
        windows = [(pd.Timestamp(ev.start_utc), pd.Timestamp(ev.end_utc), ev.limit_mw * 1e6)]
    else:
        fc = forecast_import_w(spec, terminal_fmu)
        windows = [
            (w.start_utc, w.end_utc, w.limit_w)
            for w in forecast_peak_windows(
                fc, max_window_h=ev.max_window_h, band_kw=ev.band_kw, shave_kw=ev.shave_kw
            )
        ]
    out = []
    for start, end, limit in windows:
        rel = (start - t0).total_seconds()
        start_k = max(math.floor(rel / dt_s), 0)
        end_k = min(math.ceil((end - t0).total_seconds() / dt_s), spec.time.n_steps)
        if end_k <= start_k:
            continue  # outside the run
        notice = max(math.floor((rel - ev.notice_h * 3600.0) / dt_s), 0)
        out.append(DsoEvent(notice_k=notice, start_k=start_k, end_k=end_k, limit_w=float(limit)))
    return tuple(out)


__all__ = [
    "LOSS_REF_KW",
    "DsoEvent",
    "ForecastWindow",
    "dso_events",
    "forecast_import_w",
    "forecast_peak_windows",
    "forecast_weeks",
]
