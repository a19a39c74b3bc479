"""Terni profiles: PV (clear sky × cloudiness), load, ambient temperature, F1/F2/F3 prices.

All functions take UTC timestamps (a tz-aware ``pandas.DatetimeIndex``) and return one float
per timestamp.  Sources and assumptions (also in ``scenarios/terni/README.md``):

* **PV** [pu of peak]: pvlib's Ineichen clear-sky model with pvlib's bundled Linke-turbidity
  climatology (offline) at Terni (42.55° N, 12.65° E, 130 m), isotropic transposition to a
  30°-tilted south-facing roof, × ``performance_ratio`` (0.8, assumed), × the **Kasten–Czeplak
  cloud factor** ``1 − 0.75·(N/8)^3.4`` (Kasten & Czeplak, Solar Energy 24 (1980) 177–189) for
  cloud cover ``N`` in oktas.  ``N`` follows a seeded AR(1) process (mean, standard deviation
  and correlation time configurable; 0 oktas = clear sky), clipped to [0, 8].
* **Load** [pu of annual peak]: SimBench's ``lv_urban6`` active-power profile (2016, 15 min)
  read from ``LoadProfile.csv`` inside the simbench wheel, mapped to the target date by day of
  year with the weekday aligned and by local (Europe/Rome) quarter hour.
* **Ambient temperature** [K]: annual cosine (mean 14.5 °C, amplitude 9.5 K, warmest on day
  200) plus a daily cosine (range 10 K, warmest at 15:00 local) — an assumed central-Italy
  climatology (Terni normals were not found).
* **Prices** [EUR/MWh]: ARERA time bands — F1 Mon–Fri 08–19; F2 Mon–Fri 07–08 and 19–23,
  Sat 07–23; F3 all other hours, Sundays and national holidays — priced with the April 2024
  PUN band averages F1/F2/F3 = 85.6/101.3/80.5 EUR/MWh (GME, Gestore dei Mercati Energetici:
  monthly PUN averages by time band).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.rng import rng_for
from v2xcosim.core.units import KELVIN_OFFSET

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

TERNI_LAT_DEG = 42.55
TERNI_LON_DEG = 12.65
TERNI_ALT_M = 130.0
LOCAL_TZ = "Europe/Rome"
APRIL_2024_BAND_PRICES: tuple[float, float, float] = (85.6, 101.3, 80.5)
"""PUN April 2024 by band F1, F2, F3 [EUR/MWh]."""


def _check_times(times: pd.DatetimeIndex) -> None:
    if not isinstance(times, pd.DatetimeIndex) or times.tz is None:
        raise ScenarioError("terni profiles: times must be a tz-aware pandas.DatetimeIndex (UTC)")
    if str(times.tz) != "UTC":
        raise ScenarioError(f"terni profiles: times must be UTC, got {times.tz}")


@dataclass(frozen=True)
class CloudSpec:
    """AR(1) cloud cover in oktas: mean, marginal standard deviation, correlation time [h]."""

    mean_oktas: float = 3.0
    std_oktas: float = 2.0
    correlation_h: float = 3.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.mean_oktas <= 8.0 or self.std_oktas < 0 or self.correlation_h <= 0:
            raise ScenarioError(
                "terni clouds: 0 <= mean_oktas <= 8, std_oktas >= 0, correlation_h > 0"
            )


def cloud_oktas(times: pd.DatetimeIndex, spec: CloudSpec, seed: int) -> FloatArray:
    """Seeded AR(1) cloud cover [oktas] at ``times`` (stream ``terni/clouds``)."""
    _check_times(times)
    n = len(times)
    if n == 0 or spec.std_oktas == 0:
        return np.full(n, spec.mean_oktas)
    rng = rng_for(seed, "terni/clouds")
    dt_h = np.diff(times.asi8) / 3.6e12
    phi = np.exp(-np.concatenate([[np.inf], dt_h]) / spec.correlation_h)
    eps = rng.normal(0.0, 1.0, n)
    x = np.empty(n)
    x[0] = eps[0]
    for k in range(1, n):  # AR(1) recursion over time (one scalar per step)
        x[k] = phi[k] * x[k - 1] + np.sqrt(1.0 - phi[k] ** 2) * eps[k]
    out: FloatArray = np.clip(spec.mean_oktas + spec.std_oktas * x, 0.0, 8.0)
    return out


def kasten_czeplak_factor(oktas: FloatArray) -> FloatArray:
    """Global irradiance over clear-sky irradiance for cloud cover ``oktas`` (0–8)."""
    n = np.asarray(oktas, dtype=float)
    if np.any((n < 0) | (n > 8)):
        raise ScenarioError("kasten_czeplak_factor: oktas must be in [0, 8]")
    out: FloatArray = 1.0 - 0.75 * (n / 8.0) ** 3.4
    return out


def pv_pu(
    times: pd.DatetimeIndex,
    *,
    clouds: CloudSpec | None = None,
    seed: int = 0,
    tilt_deg: float = 30.0,
    azimuth_deg: float = 180.0,
    performance_ratio: float = 0.8,
) -> FloatArray:
    """PV output [pu of peak] at ``times``; ``clouds=None`` is clear sky."""
    from v2xcosim.profiles import clearsky_poa_pu

    _check_times(times)
    if not 0 < performance_ratio <= 1:
        raise ScenarioError("terni pv: performance_ratio must be in (0, 1]")
    poa_pu = clearsky_poa_pu(
        times,
        latitude_deg=TERNI_LAT_DEG,
        longitude_deg=TERNI_LON_DEG,
        altitude_m=TERNI_ALT_M,
        tilt_deg=tilt_deg,
        azimuth_deg=azimuth_deg,
    )
    pu = poa_pu * performance_ratio
    if clouds is not None:
        pu = pu * kasten_czeplak_factor(cloud_oktas(times, clouds, seed))
    out: FloatArray = np.clip(pu, 0.0, 1.0)
    return out


@functools.cache
def _simbench_profile(column: str) -> FloatArray:
    import simbench

    path = (
        Path(simbench.__file__).parent
        / "networks"
        / "1-complete_data-mixed-all-0-sw"
        / "LoadProfile.csv"
    )
    try:
        frame = pd.read_csv(path, sep=";", usecols=[column])
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"terni load: cannot read SimBench profile {column!r}: {exc}") from None
    values = frame[column].to_numpy(dtype=float)
    if values.shape[0] != 366 * 96:
        raise ScenarioError(
            f"terni load: SimBench profile has {values.shape[0]} rows, expected 35136"
        )
    out: FloatArray = values / np.max(values)
    return out


def load_pu(times: pd.DatetimeIndex, profile: str = "lv_urban6") -> FloatArray:
    """Load [pu of annual peak] from SimBench profile ``profile`` (module docstring)."""
    _check_times(times)
    values = _simbench_profile(f"{profile}_pload")
    local = times.tz_convert(LOCAL_TZ)
    doy = local.dayofyear.to_numpy() - 1
    wd = local.dayofweek.to_numpy()
    wd_2016 = (doy + 4) % 7  # 1 Jan 2016 was a Friday (dayofweek 4)
    shift = (wd - wd_2016 + 3) % 7 - 3
    day = np.clip(doy + shift, 0, 365)
    q = local.hour.to_numpy() * 4 + local.minute.to_numpy() // 15
    out: FloatArray = values[day * 96 + q]
    return out


def ambient_temperature_k(
    times: pd.DatetimeIndex,
    mean_degc: float = 14.5,
    annual_amp_k: float = 9.5,
    daily_range_k: float = 10.0,
) -> FloatArray:
    """Ambient temperature [K] from the assumed annual and daily cosines."""
    _check_times(times)
    local = times.tz_convert(LOCAL_TZ)
    doy = local.dayofyear.to_numpy().astype(float)
    hour = local.hour.to_numpy() + local.minute.to_numpy() / 60.0
    t = (
        mean_degc
        + annual_amp_k * np.cos(2 * np.pi * (doy - 200.0) / 365.0)
        + daily_range_k / 2.0 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
    )
    out: FloatArray = t + KELVIN_OFFSET
    return out


def _easter(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian / Meeus–Jones–Butcher algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month = (h + el - 7 * m + 114) // 31
    day = (h + el - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


def italian_holidays(year: int) -> frozenset[dt.date]:
    """Italian national holidays (F3 all day): fixed dates and Easter Monday."""
    fixed = [(1, 1), (1, 6), (4, 25), (5, 1), (6, 2), (8, 15), (11, 1), (12, 8), (12, 25), (12, 26)]
    days = {dt.date(year, m, d) for m, d in fixed}
    days.add(_easter(year) + dt.timedelta(days=1))
    return frozenset(days)


def f_band(times: pd.DatetimeIndex) -> IntArray:
    """ARERA band 1, 2 or 3 of each timestamp (local Italian time)."""
    _check_times(times)
    local = times.tz_convert(LOCAL_TZ)
    hour = local.hour.to_numpy()
    wd = local.dayofweek.to_numpy()
    dates = local.date
    hol = (
        np.array([d in italian_holidays(d.year) for d in dates], dtype=bool)
        if len(dates)
        else np.zeros(0, dtype=bool)
    )
    weekday = (wd <= 4) & ~hol
    saturday = (wd == 5) & ~hol
    f1 = weekday & (hour >= 8) & (hour < 19)
    f2 = (weekday & (((hour >= 7) & (hour < 8)) | ((hour >= 19) & (hour < 23)))) | (
        saturday & (hour >= 7) & (hour < 23)
    )
    out: IntArray = np.where(f1, 1, np.where(f2, 2, 3)).astype(np.int64)
    return out


def price_eur_per_mwh(
    times: pd.DatetimeIndex, band_prices: tuple[float, float, float] = APRIL_2024_BAND_PRICES
) -> FloatArray:
    """Energy price [EUR/MWh] by F1/F2/F3 band."""
    if len(band_prices) != 3 or min(band_prices) < 0:
        raise ScenarioError("terni prices: three non-negative band prices (F1, F2, F3) required")
    out: FloatArray = np.asarray(band_prices, dtype=float)[f_band(times) - 1]
    return out


__all__ = [
    "APRIL_2024_BAND_PRICES",
    "LOCAL_TZ",
    "TERNI_ALT_M",
    "TERNI_LAT_DEG",
    "TERNI_LON_DEG",
    "CloudSpec",
    "ambient_temperature_k",
    "cloud_oktas",
    "f_band",
    "italian_holidays",
    "kasten_czeplak_factor",
    "load_pu",
    "price_eur_per_mwh",
    "pv_pu",
]
