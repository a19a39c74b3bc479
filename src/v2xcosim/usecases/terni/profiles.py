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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.rng import rng_for
from v2xcosim.core.units import KELVIN_OFFSET
from v2xcosim.domain.tariff import gregorian_easter

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
    """AR(1) cloud cover in oktas: mean, marginal standard deviation, correlation time [h].

    ``zone_correlation`` is the correlation between the latent Gaussian cloud paths of two
    zones at the same time (:func:`zone_cloud_oktas`); 1 = one cloud path for the whole city.
    """

    mean_oktas: float = 3.0
    std_oktas: float = 2.0
    correlation_h: float = 3.0
    zone_correlation: float = 0.8

    def __post_init__(self) -> None:
        if not 0.0 <= self.mean_oktas <= 8.0 or self.std_oktas < 0 or self.correlation_h <= 0:
            raise ScenarioError(
                "terni clouds: 0 <= mean_oktas <= 8, std_oktas >= 0, correlation_h > 0"
            )
        if not 0.0 <= self.zone_correlation <= 1.0:
            raise ScenarioError("terni clouds: zone_correlation must be within [0, 1]")


CLOUD_STREAM = "terni/clouds"
"""Random stream of the city-wide cloud path; zone ``z`` draws from ``terni/clouds/<z>``."""


def _unit_ar1(times: pd.DatetimeIndex, spec: CloudSpec, seed: int, stream: str) -> FloatArray:
    """Return a unit-variance AR(1) path at ``times`` (correlation time ``correlation_h``)."""
    n = len(times)
    rng = rng_for(seed, stream)
    dt_h = np.diff(times.asi8) / 3.6e12
    phi = np.exp(-np.concatenate([[np.inf], dt_h]) / spec.correlation_h)
    eps = rng.normal(0.0, 1.0, n)
    x = np.empty(n)
    x[0] = eps[0]
    for k in range(1, n):  # AR(1) recursion over time (one scalar per step)
        x[k] = phi[k] * x[k - 1] + np.sqrt(1.0 - phi[k] ** 2) * eps[k]
    return x


def cloud_oktas(times: pd.DatetimeIndex, spec: CloudSpec, seed: int) -> FloatArray:
    """Seeded AR(1) cloud cover [oktas] at ``times`` (stream ``terni/clouds``)."""
    _check_times(times)
    n = len(times)
    if n == 0 or spec.std_oktas == 0:
        return np.full(n, spec.mean_oktas)
    x = _unit_ar1(times, spec, seed, CLOUD_STREAM)
    out: FloatArray = np.clip(spec.mean_oktas + spec.std_oktas * x, 0.0, 8.0)
    return out


def zone_cloud_oktas(
    times: pd.DatetimeIndex, spec: CloudSpec, seed: int, zones: Sequence[str]
) -> dict[str, FloatArray]:
    """Spatially varying cloud cover [oktas] per zone at ``times`` (an assumed model).

    Zone ``z``'s latent path is ``x_z = √ρ·c + √(1−ρ)·e_z`` with ``c`` the city-wide unit AR(1)
    path (stream ``terni/clouds``, the path of :func:`cloud_oktas`) and ``e_z`` the zone's own
    unit AR(1) deviation (stream ``terni/clouds/<z>``), both with correlation time
    ``spec.correlation_h``; ``ρ = spec.zone_correlation``.  So every ``x_z`` is again a unit
    AR(1) path (``CloudSpec``'s mean, standard deviation and correlation time hold per zone) and
    two zones' latent paths correlate with ``ρ``; oktas = clip(mean + std·x_z, 0, 8).
    """
    _check_times(times)
    n = len(times)
    if n == 0 or spec.std_oktas == 0:
        return {z: np.full(n, spec.mean_oktas) for z in zones}
    rho = spec.zone_correlation
    common = _unit_ar1(times, spec, seed, CLOUD_STREAM)
    out: dict[str, FloatArray] = {}
    for z in zones:
        own = _unit_ar1(times, spec, seed, f"{CLOUD_STREAM}/{z}") if rho < 1.0 else 0.0
        x = np.sqrt(rho) * common + np.sqrt(1.0 - rho) * own
        out[z] = np.clip(spec.mean_oktas + spec.std_oktas * x, 0.0, 8.0)
    return out


def kasten_czeplak_factor(oktas: FloatArray) -> FloatArray:
    """Global irradiance over clear-sky irradiance for cloud cover ``oktas`` (0–8)."""
    n = np.asarray(oktas, dtype=float)
    if np.any((n < 0) | (n > 8)):
        raise ScenarioError("kasten_czeplak_factor: oktas must be in [0, 8]")
    out: FloatArray = 1.0 - 0.75 * (n / 8.0) ** 3.4
    return out


def effective_oktas(factor: FloatArray) -> FloatArray:
    """Cloud cover [oktas] whose Kasten–Czeplak factor is ``factor`` (inverse, clipped to 0–8).

    For a zone whose elements see different cloud paths this is the one path that gives the
    zone's PV from its clear-sky PV (factor = PV / clear-sky PV; 1 where there is no sun).
    """
    f = np.clip(np.asarray(factor, dtype=float), 0.25, 1.0)
    out: FloatArray = np.clip(8.0 * ((1.0 - f) / 0.75) ** (1.0 / 3.4), 0.0, 8.0)
    return out


@dataclass(frozen=True)
class PvOrientation:
    """One roof orientation of the rooftop PV: tilt and azimuth [deg], share of the kWp."""

    name: str
    tilt_deg: float
    azimuth_deg: float
    share: float


PV_ORIENTATIONS: tuple[PvOrientation, ...] = (
    PvOrientation("S", 30.0, 180.0, 0.30),
    PvOrientation("SE", 30.0, 135.0, 0.15),
    PvOrientation("SW", 30.0, 225.0, 0.15),
    PvOrientation("E", 30.0, 90.0, 0.10),
    PvOrientation("W", 30.0, 270.0, 0.10),
    PvOrientation("flat", 10.0, 180.0, 0.20),
)
"""Split of every rooftop PV element's kWp over roof orientations — an **assumption** (no
Terni roof survey found): pitched roofs at 30° mostly south-facing, a fifth on flat roofs
(racks at 10°, south).  Shares sum to 1."""


def pv_orientation_pu(
    times: pd.DatetimeIndex,
    orientations: Sequence[PvOrientation] = PV_ORIENTATIONS,
    performance_ratio: float = 0.8,
) -> dict[str, FloatArray]:
    """Clear-sky PV [pu of the element's kWp] per orientation: share × POA/1 kW/m² × PR.

    The total clear-sky output of an element is the sum over the orientations (shares sum to 1).
    """
    from v2xcosim.profiles import clearsky_poa_pu

    _check_times(times)
    if not 0 < performance_ratio <= 1:
        raise ScenarioError("terni pv: performance_ratio must be in (0, 1]")
    if abs(sum(o.share for o in orientations) - 1.0) > 1e-9 or any(
        o.share < 0 for o in orientations
    ):
        raise ScenarioError("terni pv: orientation shares must be >= 0 and sum to 1")
    out: dict[str, FloatArray] = {}
    for o in orientations:
        poa = clearsky_poa_pu(
            times,
            latitude_deg=TERNI_LAT_DEG,
            longitude_deg=TERNI_LON_DEG,
            altitude_m=TERNI_ALT_M,
            tilt_deg=o.tilt_deg,
            azimuth_deg=o.azimuth_deg,
        )
        out[o.name] = o.share * np.clip(poa * performance_ratio, 0.0, 1.0)
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


SIMBENCH_ROWS = 366 * 96
"""Rows of a SimBench profile: the year 2016 in quarter hours."""


@functools.cache
def _simbench_load_table() -> pd.DataFrame:
    """SimBench's ``LoadProfile.csv`` of the complete data set (inside the wheel), read once."""
    import simbench

    path = (
        Path(simbench.__file__).parent
        / "networks"
        / "1-complete_data-mixed-all-0-sw"
        / "LoadProfile.csv"
    )
    try:
        return pd.read_csv(path, sep=";")
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"terni load: cannot read SimBench profiles {path}: {exc}") from None


def simbench_load_profile(column: str) -> FloatArray:
    """SimBench profile column ``column`` (e.g. ``"H0-A_pload"``) as published, 35136 values.

    Read from ``LoadProfile.csv`` of the complete data set inside the simbench wheel (offline).
    """
    table = _simbench_load_table()
    if column not in table.columns:
        raise ScenarioError(f"terni load: SimBench has no load profile {column!r}")
    values: FloatArray = table[column].to_numpy(dtype=float)
    if values.shape[0] != SIMBENCH_ROWS:
        raise ScenarioError(
            f"terni load: SimBench profile has {values.shape[0]} rows, expected {SIMBENCH_ROWS}"
        )
    return values


def _simbench_profile(column: str) -> FloatArray:
    values = simbench_load_profile(column)
    out: FloatArray = values / np.max(values)
    return out


def simbench_rows(times: pd.DatetimeIndex) -> IntArray:
    """Return the row of SimBench's 2016 profiles for each of ``times``.

    The same day of year with the weekday aligned (the nearest 2016 day, ±3 days, with the same
    weekday) and the same local (Europe/Rome) quarter hour.
    """
    _check_times(times)
    local = times.tz_convert(LOCAL_TZ)
    doy = local.dayofyear.to_numpy() - 1
    wd = local.dayofweek.to_numpy()
    wd_2016 = (doy + 4) % 7  # 1 Jan 2016 was a Friday (dayofweek 4)
    shift = (wd - wd_2016 + 3) % 7 - 3
    day = doy + shift
    day = np.where(day < 0, day + 7, np.where(day > 365, day - 7, day))
    q = local.hour.to_numpy() * 4 + local.minute.to_numpy() // 15
    out: IntArray = (day * 96 + q).astype(np.int64)
    return out


def load_pu(times: pd.DatetimeIndex, profile: str = "lv_urban6") -> FloatArray:
    """Load [pu of annual peak] from SimBench profile ``profile`` (module docstring)."""
    values = _simbench_profile(f"{profile}_pload")
    out: FloatArray = values[simbench_rows(times)]
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


def italian_holidays(year: int) -> frozenset[dt.date]:
    """Italian national holidays (F3 all day): fixed dates and Easter Monday."""
    fixed = [(1, 1), (1, 6), (4, 25), (5, 1), (6, 2), (8, 15), (11, 1), (12, 8), (12, 25), (12, 26)]
    days = {dt.date(year, m, d) for m, d in fixed}
    days.add(gregorian_easter(year) + dt.timedelta(days=1))
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
    times: pd.DatetimeIndex, band_prices: tuple[float, float, float] | None = None
) -> FloatArray:
    """Energy price [EUR/MWh] by F1/F2/F3 band.

    ``band_prices`` (F1, F2, F3) applies to every timestamp; ``None`` takes each timestamp's
    month from :data:`MONTHLY_BAND_PRICES` (:func:`band_prices_for`).
    """
    bands = f_band(times)
    if band_prices is not None:
        if len(band_prices) != 3 or min(band_prices) < 0:
            raise ScenarioError(
                "terni prices: three non-negative band prices (F1, F2, F3) required"
            )
        out: FloatArray = np.asarray(band_prices, dtype=float)[bands - 1]
        return out
    local = times.tz_convert(LOCAL_TZ)
    table = np.array(
        [band_prices_for(y, m).prices for y, m in zip(local.year, local.month, strict=True)],
        dtype=float,
    ).reshape(len(times), 3)
    out = table[np.arange(len(times)), bands - 1]
    return out


@dataclass(frozen=True)
class MonthPrices:
    """F1/F2/F3 prices of one month [EUR/MWh] and where they come from."""

    year: int
    month: int
    prices: tuple[float, float, float]
    source: str
    assumption: bool


PUN_2024_MONTHLY_MEAN: dict[int, float] = {
    1: 99.2,
    2: 87.6,
    3: 88.9,
    4: 86.8,
    5: 94.9,
    6: 103.2,
    7: 112.3,
    8: 128.4,
    9: 117.1,
    10: 116.7,
    11: 129.9,
    12: 135.0,
}
"""Monthly mean PUN 2024 [EUR/MWh] as GME publishes it (monthly market reports), quoted here
from memory: within the cited 2024 range 87–135 EUR/MWh (data-facts: 2024 mean ≈ 108) but
**not verified** against GME here — an **assumption** until checked."""


def _april_2024_mean() -> float:
    """Hour-weighted mean of the April 2024 band prices (band hours of April 2024)."""
    hours = pd.date_range("2024-04-01", "2024-05-01", freq="h", inclusive="left", tz=LOCAL_TZ)
    bands = f_band(hours.tz_convert("UTC"))
    return float(np.mean(np.asarray(APRIL_2024_BAND_PRICES)[bands - 1]))


def band_prices_for(year: int, month: int) -> MonthPrices:
    """F1/F2/F3 prices [EUR/MWh] of ``month`` of ``year``.

    April 2024 is the cited GME band average (85.6/101.3/80.5).  Every other month of 2024 is
    **derived (assumption)**: April's band prices × (the month's mean PUN,
    :data:`PUN_2024_MONTHLY_MEAN`) / (April's band-hour-weighted mean), i.e. April's ratio
    between the bands applied to that month's level.  Months of other years use the same
    calendar month of 2024 (flagged).
    """
    if not 1 <= month <= 12:
        raise ScenarioError(f"terni prices: month {month} is not 1..12")
    if year == 2024 and month == 4:
        return MonthPrices(year, month, APRIL_2024_BAND_PRICES, "GME PUN April 2024 by band", False)
    k = PUN_2024_MONTHLY_MEAN[month] / _april_2024_mean()
    f1, f2, f3 = (round(p * k, 1) for p in APRIL_2024_BAND_PRICES)
    src = f"April 2024 band ratios × mean PUN {PUN_2024_MONTHLY_MEAN[month]} of 2024-{month:02d}"
    if year != 2024:
        src += f" (2024 values used for {year})"
    return MonthPrices(year, month, (f1, f2, f3), src, True)


__all__ = [
    "APRIL_2024_BAND_PRICES",
    "CLOUD_STREAM",
    "LOCAL_TZ",
    "PUN_2024_MONTHLY_MEAN",
    "PV_ORIENTATIONS",
    "SIMBENCH_ROWS",
    "TERNI_ALT_M",
    "TERNI_LAT_DEG",
    "TERNI_LON_DEG",
    "CloudSpec",
    "MonthPrices",
    "PvOrientation",
    "ambient_temperature_k",
    "band_prices_for",
    "cloud_oktas",
    "effective_oktas",
    "f_band",
    "italian_holidays",
    "kasten_czeplak_factor",
    "load_pu",
    "price_eur_per_mwh",
    "pv_orientation_pu",
    "pv_pu",
    "simbench_load_profile",
    "simbench_rows",
    "zone_cloud_oktas",
]
