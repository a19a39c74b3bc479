"""Calibration year of the Porto terminal FMU (V2X.Terminal): synthetic weather and use, one year.

Run ``python tests/terminal_year.py`` (with ``PYTHONPATH=src``) to print the annual figures that
the model's documentation states; ``tests/test_terminal.py`` checks that they stay in the bands of
the published airport benchmarks.

Inputs, hourly (the FMU holds each value over the hour):

* outdoor temperature: Porto's monthly normals (station 085450, 1961-80, °C: 9.3, 10.1, 11.0,
  12.6, 14.7, 17.3, 19.1, 19.0, 18.1, 15.8, 11.7, 9.5; data-facts.md), linearly interpolated
  between mid-months, plus a diurnal cosine with Porto's mean daily range of 9.6 K (same source),
  warmest at 15:00 and coldest at 03:00 UTC (assumption: local solar time ≈ UTC at 8.68° W);
* solar gains: pvlib's Ineichen clear-sky GHI at 41.248° N, 8.681° W, 69 m (bundled Linke
  turbidity) times a mean clearness of 0.65 (assumption, standing for Porto's cloud cover), times
  an effective aperture ``A_SOL_M2`` (glazing × g-value × shading × vertical/horizontal ratio,
  assumption);
* occupancy: a weekly and seasonal pattern (assumption): 15 % of the day level from 01:00 to
  05:00, 100 % from 06:00 to 22:00, ramps between; weekday factors Mon..Sun 0.95, 0.90, 0.90,
  0.95, 1.05, 0.95, 1.05; a seasonal factor 1 + 0.15 cos(2π (day − 213)/365) (summer peak);
* base electrical load ``p_base_w`` = night floor + occupancy × (day level − floor);
* internal gains ``q_int_w`` = ``F_BASE_HEAT`` × base load + occupants × 100 W (sensible heat of
  a walking person, assumption after ISO 13790 Table G.8's order of magnitude).

Benchmark bands (data-facts.md and the issue): 4-6 kWh per passenger × 15 M passengers = 60-90 GWh
per year; HVAC share 35-45 % (cooling 31 % + ventilation 12 %, E Source airport end uses); peak
9-15 MW.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pvlib
from numpy.typing import NDArray

from v2xcosim.fmu.runtime import run_fmu

LAT_DEG, LON_DEG, ALT_M = 41.248, -8.681, 69.0  # Porto airport (data-facts.md)
T_MONTH_C = (9.3, 10.1, 11.0, 12.6, 14.7, 17.3, 19.1, 19.0, 18.1, 15.8, 11.7, 9.5)
DAILY_RANGE_K = 9.6
CLEARNESS = 0.65
A_SOL_M2 = (
    5000.0  # 18,000 m² facade glazing × g 0.4 × shading 0.6 × vertical/horizontal 0.5 + skylights
)
P_BASE_NIGHT_W = 2.2e6
P_BASE_DAY_W = 6.0e6
F_BASE_HEAT = 0.9  # share of the base load released as heat inside the zone (assumption)
PEOPLE_DAY = 8000.0  # passengers + staff in the terminal at the daily level (assumption)
Q_PERSON_W = 100.0
WEEKDAY = (0.95, 0.90, 0.90, 0.95, 1.05, 0.95, 1.05)
YEAR = 2025  # any non-leap year; the figures do not depend on it beyond the weekday of 1 Jan


@dataclass(frozen=True)
class YearResult:
    """Annual figures of one calibration run."""

    e_el_gwh: float
    e_hvac_gwh: float
    hvac_share: float
    peak_mw: float
    e_heat_gwh: float
    e_cool_gwh: float
    t_air_min_k: float
    t_air_max_k: float


def outdoor_temperature_k(times: pd.DatetimeIndex) -> NDArray[np.float64]:
    """Hourly outdoor temperature (K) from monthly normals and a diurnal cosine."""
    doy = times.dayofyear.to_numpy() - 1 + times.hour.to_numpy() / 24.0
    mid = (np.arange(12) + 0.5) * 365.0 / 12.0
    xp = np.r_[mid[-1] - 365.0, mid, mid[0] + 365.0]
    fp = np.r_[T_MONTH_C[-1], T_MONTH_C, T_MONTH_C[0]]
    mean_c = np.interp(doy, xp, fp)
    hour = times.hour.to_numpy().astype(float)
    diurnal = 0.5 * DAILY_RANGE_K * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
    return np.asarray(mean_c + diurnal + 273.15, dtype=np.float64)


def occupancy(times: pd.DatetimeIndex) -> NDArray[np.float64]:
    """Occupancy factor (1 = daily level on an average weekday, assumption)."""
    hour = times.hour.to_numpy().astype(float)
    day = np.interp(hour, [0, 1, 5, 6, 22, 23, 24], [0.4, 0.15, 0.15, 1.0, 1.0, 0.4, 0.4])
    week = np.asarray(WEEKDAY)[times.dayofweek.to_numpy()]
    doy = times.dayofyear.to_numpy().astype(float)
    season = 1.0 + 0.15 * np.cos(2 * np.pi * (doy - 213.0) / 365.0)
    return np.asarray(day * week * season, dtype=np.float64)


def solar_gains_w(times: pd.DatetimeIndex) -> NDArray[np.float64]:
    """Solar gains (W): clear-sky GHI × clearness × effective aperture (mid-hour sun position)."""
    loc = pvlib.location.Location(LAT_DEG, LON_DEG, altitude=ALT_M, tz="UTC")
    cs = loc.get_clearsky(times + pd.Timedelta(minutes=30), model="ineichen")
    return np.asarray(cs["ghi"].to_numpy() * CLEARNESS * A_SOL_M2, dtype=np.float64)


def year_inputs() -> dict[str, NDArray[np.float64]]:
    """The hourly inputs of the calibration year, keyed by FMU input name."""
    times = pd.date_range(f"{YEAR}-01-01", periods=8760, freq="h", tz="UTC")
    occ = occupancy(times)
    p_base = P_BASE_NIGHT_W + occ * (P_BASE_DAY_W - P_BASE_NIGHT_W)
    return {
        "t_out_k": outdoor_temperature_k(times),
        "q_sol_w": solar_gains_w(times),
        "q_int_w": F_BASE_HEAT * p_base + PEOPLE_DAY * occ * Q_PERSON_W,
        "p_base_w": p_base,
    }


def run_year(fmu: Path, start: dict[str, float] | None = None) -> YearResult:
    """Drive the terminal FMU over the synthetic year after a 30-day warm-up on December."""
    u = year_inputs()
    names = list(u)
    cols = np.column_stack([u[n] for n in names])
    warm = cols[-30 * 24 :]
    out = ["e_el_j", "e_hvac_j", "e_heat_j", "e_cool_j", "t_air_k"]
    rows = np.empty((len(cols) + 1, len(out)))
    with run_fmu(fmu) as r:
        r.initialize({**(start or {}), **dict(zip(names, cols[0], strict=True))})
        for row in warm:
            r.set(names, row)
            r.do_step(3600.0)
        e0 = r.get(out[:4])
        rows[0] = [*e0, np.nan]
        for i, row in enumerate(cols):
            r.set(names, row)
            r.do_step(3600.0)
            rows[i + 1] = r.get(out)
    e = rows[:, :4] - e0
    p_el_mean_w = np.diff(e[:, 0]) / 3600.0
    t_air = rows[1:, 4]
    return YearResult(
        e_el_gwh=e[-1, 0] / 3.6e12,
        e_hvac_gwh=e[-1, 1] / 3.6e12,
        hvac_share=e[-1, 1] / e[-1, 0],
        peak_mw=float(np.max(p_el_mean_w)) / 1e6,
        e_heat_gwh=e[-1, 2] / 3.6e12,
        e_cool_gwh=e[-1, 3] / 3.6e12,
        t_air_min_k=float(np.min(t_air)),
        t_air_max_k=float(np.max(t_air)),
    )


if __name__ == "__main__":
    import json
    import sys

    from v2xcosim.fmu.build import build_fmu

    res = run_year(build_fmu("Terminal"), json.loads(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(
        f"electricity {res.e_el_gwh:.1f} GWh/a ({res.e_el_gwh / 15:.2f} kWh per passenger at 15 M),"
        f" HVAC {res.e_hvac_gwh:.1f} GWh/a ({100 * res.hvac_share:.1f} %), peak (hourly mean)"
        f" {res.peak_mw:.2f} MW; heat {res.e_heat_gwh:.1f} GWh/a, cold {res.e_cool_gwh:.1f} GWh/a"
        f" (thermal); air {res.t_air_min_k - 273.15:.1f}..{res.t_air_max_k - 273.15:.1f} °C"
    )
