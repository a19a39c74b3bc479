"""Synthetic weather at Porto airport, built offline and seeded (no typical-year file ships).

No Porto typical-year weather file ships in a PyPI package (pvlib's TMY files are US sites), so
the weather is synthesised from climate normals.  Everything is evaluated at the **middle of
each step** (``t + step_s/2``), the value standing for the step's mean; the frame's index is
the step's start (UTC).

* **Site**: the airport (WMO 085450 is the airport station itself), 41°14′53″ N, 8°40′53″ W,
  69 m = 41.2481° N, −8.6814° E (data-facts "Porto airport (V2B)").
* **Clear sky**: pvlib's Ineichen–Perez model with pvlib's bundled Linke-turbidity climatology
  (``Location.get_clearsky(model="ineichen")``).  About 2000 kWh/m²·yr at the site, as
  data-facts states.
* **Clearness** ``clearness`` = daily clear-sky index k_c = GHI / GHI_clear-sky, one value per
  local (Europe/Lisbon) day.  Its monthly mean comes from the Ångström–Prescott relation
  H/H₀ = a + b·S/S₀ with FAO-56's default a = 0.25, b = 0.50 (Allen et al. 1998, FAO Irrigation
  and Drainage Paper 56, eqs. 35–37; clear-sky H_so = (a + b)·H₀, so k_c = (a + b·S/S₀)/(a + b)),
  S = the mean daily sunshine hours of the month (:data:`SUNSHINE_H_PER_DAY`: rounded long-term
  values from climate tables for Porto — **assumption**, IPMA's sunshine normals were not
  available offline) and S₀ = the astronomical day length (FAO-56 eq. 34).  That gives about
  0.72 of the clear-sky energy, ≈ 1450 kWh/m²·yr, against data-facts' rough estimate of
  ≈ 1550/2000 (−6.5 %).  Day-to-day: a Beta distribution with that mean and concentration
  ν = :data:`CLEARNESS_CONCENTRATION` (assumption; standard deviation √(m(1−m)/(ν+1)) ≈ 0.23
  for m = 0.7), correlated from day to day through a Gaussian copula AR(1) with lag-1
  correlation :data:`CLEARNESS_LAG1` (assumption).
* **Split**: Erbs et al. (1982) diffuse fraction (``pvlib.irradiance.erbs``) gives DHI, DNI =
  (GHI − DHI)/cos z.
* **Temperature** ``t_out_k``: monthly means of Porto 085450, 1961–80 (Met Office station file,
  data-facts) as the level, interpolated linearly between mid-months with node values chosen so
  each month keeps its mean ((x₋ + 6x + x₊)/8 = T); diurnal range Tmax − Tmin from the IPMA
  1971–2000 normals of Porto (Instituto de Meteorologia, as quoted in Wikipedia's "Climate of
  Porto"; Jan 5.2/13.8 °C and Aug 15.9/25.7 °C as data-facts), interpolated the same way
  without the mean correction; a zero-mean diurnal cycle of two half-cosines, minimum at
  sunrise, maximum at 15:00 local legal time (assumption, the usual shape of e.g. the
  "WAVE" model); and a day-to-day AR(1) anomaly, standard deviation
  :data:`TEMPERATURE_ANOMALY_STD_K`, lag-1 correlation :data:`TEMPERATURE_ANOMALY_LAG1`
  (both assumptions), one value per local noon, linear in between.  The two sources' periods
  differ (1961–80 vs 1971–2000), so mean ± range/2 is 1–1.5 K below the 1971–2000 Tmin/Tmax in
  summer — stated, not corrected.
* **Seeds**: every random draw comes from ``rng_for(seed, "porto/weather/<quantity>/<year>")``,
  one stream per calendar year, so a week simulated alone sees the same weather as the same
  week inside a year-long run.
"""

from __future__ import annotations

import datetime as dt
import functools
import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.rng import rng_for
from v2xcosim.core.units import KELVIN_OFFSET

FloatArray = npt.NDArray[np.float64]

SITE_LAT_DEG = 41.2481
"""Airport latitude [°N] (41°14′53″ N, data-facts)."""
SITE_LON_DEG = -8.6814
"""Airport longitude [°E] (8°40′53″ W, data-facts)."""
SITE_ALT_M = 69.0
"""Airport altitude [m] (data-facts)."""
LOCAL_TZ = "Europe/Lisbon"
"""Portugal's legal time (WET/WEST)."""

T_MEAN_C: tuple[float, ...] = (9.3, 10.1, 11.0, 12.6, 14.7, 17.3, 19.1, 19.0, 18.1, 15.8, 11.7, 9.5)
"""Monthly mean temperature Jan–Dec [°C], Porto 085450, 1961–80 (Met Office station file)."""
T_MIN_C: tuple[float, ...] = (5.2, 5.9, 7.8, 9.1, 11.6, 14.5, 15.9, 15.9, 14.7, 12.2, 8.9, 6.9)
"""Monthly mean daily minimum Jan–Dec [°C], IPMA 1971–2000 normals, Porto."""
T_MAX_C: tuple[float, ...] = (
    13.8,
    15.0,
    17.4,
    18.1,
    20.1,
    23.5,
    25.3,
    25.7,
    24.1,
    20.7,
    17.1,
    14.4,
)
"""Monthly mean daily maximum Jan–Dec [°C], IPMA 1971–2000 normals, Porto."""
SUNSHINE_H_PER_DAY: tuple[float, ...] = (4, 5, 6, 7, 9, 9, 10, 10, 8, 6, 5, 4)
"""Mean daily sunshine Jan–Dec [h], rounded climate-table values for Porto (assumption)."""
ANGSTROM_A = 0.25
"""Ångström–Prescott intercept a (FAO-56 default where no local calibration exists)."""
ANGSTROM_B = 0.50
"""Ångström–Prescott slope b (FAO-56 default)."""
CLEARNESS_CONCENTRATION = 3.0
"""Beta concentration ν of the daily clear-sky index (assumption)."""
CLEARNESS_LAG1 = 0.4
"""Lag-1 day-to-day correlation of the clearness copula (assumption)."""
TEMPERATURE_ANOMALY_STD_K = 1.8
"""Standard deviation of the daily temperature anomaly [K] (assumption)."""
TEMPERATURE_ANOMALY_LAG1 = 0.7
"""Lag-1 day-to-day correlation of the temperature anomaly (assumption)."""
T_MAX_LOCAL_H = 15.0
"""Local legal time of the daily maximum temperature [h] (assumption)."""
SUNRISE_ALTITUDE_DEG = -0.833
"""Sun's centre altitude at sunrise (refraction and semi-diameter, the usual almanac value)."""
GROUND_ALBEDO = 0.2
"""Ground reflectance for plane-of-array irradiance (assumption; typical open ground)."""

WEATHER_COLUMNS = ("t_out_k", "ghi_w_m2", "dni_w_m2", "dhi_w_m2", "ghi_clearsky_w_m2", "clearness")
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _sample_times(
    start_utc: pd.Timestamp | dt.datetime | str, n_steps: int, step_s: float
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Return (step starts, step midpoints), both UTC; bad input -> ScenarioError."""
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ScenarioError(f"porto weather: n_steps must be an integer >= 1, got {n_steps!r}")
    if not (isinstance(step_s, int | float) and math.isfinite(step_s) and step_s > 0):
        raise ScenarioError(f"porto weather: step_s must be a positive number of s, got {step_s!r}")
    try:
        start = pd.Timestamp(start_utc)
    except (ValueError, TypeError) as exc:
        raise ScenarioError(f"porto weather: cannot read start_utc {start_utc!r}: {exc}") from None
    if start.tzinfo is None:
        raise ScenarioError(
            f"porto weather: start_utc {start_utc!r} has no time zone; give a UTC time such as "
            "'2025-07-07T00:00:00Z'"
        )
    start = start.tz_convert("UTC")
    step = pd.Timedelta(seconds=float(step_s))
    index = pd.date_range(start, periods=n_steps, freq=step, name="time_utc")
    return index, pd.DatetimeIndex(index + step / 2)


def _year_fraction_days(times: pd.DatetimeIndex) -> FloatArray:
    """Position in a 365-day year [d] (0 = 1 January 00:00 UTC), leap years squeezed in."""
    year_start = pd.DatetimeIndex(
        pd.to_datetime({"year": times.year, "month": 1, "day": 1}), tz="UTC"
    )
    days_in_year = np.where(times.is_leap_year, 366.0, 365.0)
    elapsed = (times - year_start).total_seconds().to_numpy(dtype=float) / 86400.0
    out: FloatArray = elapsed / days_in_year * 365.0
    return out


def _mid_month_days() -> FloatArray:
    """Middle of each month in a 365-day year [d]."""
    ends = np.cumsum(_MONTH_DAYS).astype(float)
    return ends - np.asarray(_MONTH_DAYS, dtype=float) / 2.0


@functools.cache
def _mean_preserving_nodes(means: tuple[float, ...]) -> tuple[float, ...]:
    """Node values x (at mid-months) whose piecewise-linear curve keeps every monthly mean.

    For months of equal length the mean of month m is (x_{m−1} + 6·x_m + x_{m+1})/8; the
    circulant system is solved exactly (unequal month lengths leave < 0.02 K error).
    """
    n = len(means)
    a = np.zeros((n, n))
    for m in range(n):
        a[m, m] = 6.0 / 8.0
        a[m, (m - 1) % n] = 1.0 / 8.0
        a[m, (m + 1) % n] = 1.0 / 8.0
    return tuple(float(v) for v in np.linalg.solve(a, np.asarray(means, dtype=float)))


def _periodic_interp(times: pd.DatetimeIndex, nodes: tuple[float, ...]) -> FloatArray:
    """Piecewise-linear, year-periodic interpolation of mid-month node values at ``times``."""
    out: FloatArray = np.interp(
        _year_fraction_days(times), _mid_month_days(), np.asarray(nodes, float), period=365.0
    )
    return out


def _local_dates(times: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Local (Europe/Lisbon) calendar date of each time, as naive midnight timestamps."""
    return pd.DatetimeIndex(times.tz_convert(LOCAL_TZ).tz_localize(None).normalize())


def _ar1_daily_normals(
    seed: int, quantity: str, dates: pd.DatetimeIndex, lag1: float
) -> FloatArray:
    """Standard-normal AR(1) values (stationary, lag-1 ``lag1``) for each date in ``dates``.

    One stream per calendar year, ``rng_for(seed, "porto/weather/<quantity>/<year>")``,
    drawing the whole year, so a date's value does not depend on the simulated window.
    """
    out = np.empty(len(dates))
    years = dates.year.to_numpy()
    doy = dates.dayofyear.to_numpy() - 1
    for year in np.unique(years):
        rng = rng_for(seed, f"porto/weather/{quantity}/{int(year)}")
        n = 366 if pd.Timestamp(year=int(year), month=1, day=1).is_leap_year else 365
        eps = rng.standard_normal(n)
        z = np.empty(n)
        z[0] = eps[0]
        scale = math.sqrt(1.0 - lag1 * lag1)
        for k in range(1, n):
            z[k] = lag1 * z[k - 1] + scale * eps[k]
        mask = years == year
        out[mask] = z[doy[mask]]
    return out


@functools.cache
def _monthly_day_length_h() -> tuple[float, ...]:
    """Mean astronomical day length of each month at the site [h] (FAO-56 eqs. 24, 25, 34)."""
    from pvlib import solarposition

    doy = np.arange(1, 366, dtype=float)
    decl = np.asarray(solarposition.declination_spencer71(doy), dtype=float)
    phi = math.radians(SITE_LAT_DEG)
    omega_s = np.arccos(np.clip(-math.tan(phi) * np.tan(decl), -1.0, 1.0))
    n_h = 24.0 / math.pi * omega_s
    ends = np.cumsum(_MONTH_DAYS)
    starts = ends - np.asarray(_MONTH_DAYS)
    return tuple(float(n_h[s:e].mean()) for s, e in zip(starts, ends, strict=True))


def monthly_clearness() -> tuple[float, ...]:
    """Target monthly mean clear-sky index k_c Jan–Dec: (a + b·S/S₀)/(a + b) (FAO-56)."""
    s0 = _monthly_day_length_h()
    return tuple(
        (ANGSTROM_A + ANGSTROM_B * min(s / n, 1.0)) / (ANGSTROM_A + ANGSTROM_B)
        for s, n in zip(SUNSHINE_H_PER_DAY, s0, strict=True)
    )


def daily_clearness(dates: pd.DatetimeIndex, seed: int) -> FloatArray:
    """Daily clear-sky index in [0, 1] for local ``dates`` (naive midnights), seeded.

    Beta marginal with the month's mean (:func:`monthly_clearness`) and concentration
    :data:`CLEARNESS_CONCENTRATION`; Gaussian copula AR(1) with :data:`CLEARNESS_LAG1`.
    """
    from scipy import stats

    _check_seed(seed)
    z = _ar1_daily_normals(seed, "clearness", dates, CLEARNESS_LAG1)
    mean = np.asarray(monthly_clearness(), dtype=float)[dates.month.to_numpy() - 1]
    nu = CLEARNESS_CONCENTRATION
    kc = np.asarray(stats.beta.ppf(stats.norm.cdf(z), mean * nu, (1.0 - mean) * nu), dtype=float)
    out: FloatArray = np.clip(kc, 0.0, 1.0)
    return out


def _sunrise_utc(dates: pd.DatetimeIndex) -> FloatArray:
    """Sunrise at the site on each local date [s since the epoch, UTC] (Spencer 1971 terms)."""
    from pvlib import solarposition

    doy = dates.dayofyear.to_numpy().astype(float)
    decl = np.asarray(solarposition.declination_spencer71(doy), dtype=float)
    eot_min = np.asarray(solarposition.equation_of_time_spencer71(doy), dtype=float)
    phi = math.radians(SITE_LAT_DEG)
    cos_w = (math.sin(math.radians(SUNRISE_ALTITUDE_DEG)) - math.sin(phi) * np.sin(decl)) / (
        math.cos(phi) * np.cos(decl)
    )
    half_day_h = np.degrees(np.arccos(np.clip(cos_w, -1.0, 1.0))) / 15.0
    noon_utc_h = 12.0 - SITE_LON_DEG / 15.0 - eot_min / 60.0
    midnight_s = (dates - pd.Timestamp("1970-01-01")).total_seconds().to_numpy(dtype=float)
    out: FloatArray = midnight_s + (noon_utc_h - half_day_h) * 3600.0
    return out


def _diurnal_shape(times: pd.DatetimeIndex) -> FloatArray:
    """Diurnal temperature shape in [−1, 1]: −1 at sunrise, +1 at 15:00 local, zero mean.

    Two half-cosines, rising from sunrise to the maximum and falling to the next sunrise;
    each half-cosine averages zero over its span, so each sunrise-to-sunrise cycle does.
    """
    dates = _local_dates(times)
    first = dates.min() - pd.Timedelta(days=1)
    all_dates = pd.date_range(first, dates.max() + pd.Timedelta(days=1), freq="D")
    sunrise = _sunrise_utc(all_dates)
    t_max_local = pd.DatetimeIndex(all_dates + pd.Timedelta(hours=T_MAX_LOCAL_H))
    t_max = t_max_local.tz_localize(LOCAL_TZ).tz_convert("UTC").tz_localize(None)
    t_max_s = (t_max - pd.Timestamp("1970-01-01")).total_seconds().to_numpy(dtype=float)
    i = ((dates - first).days).to_numpy()
    t = (times.tz_localize(None) - pd.Timestamp("1970-01-01")).total_seconds().to_numpy(float)
    before = t < sunrise[i]
    rising = ~before & (t < t_max_s[i])
    after = ~before & ~rising
    f = np.empty(len(t))
    ib, ir, ia = i[before], i[rising], i[after]
    f[before] = np.cos(math.pi * (t[before] - t_max_s[ib - 1]) / (sunrise[ib] - t_max_s[ib - 1]))
    f[rising] = -np.cos(math.pi * (t[rising] - sunrise[ir]) / (t_max_s[ir] - sunrise[ir]))
    f[after] = np.cos(math.pi * (t[after] - t_max_s[ia]) / (sunrise[ia + 1] - t_max_s[ia]))
    return f


def temperature_k(
    times: pd.DatetimeIndex, seed: int, *, anomaly_std_k: float = TEMPERATURE_ANOMALY_STD_K
) -> FloatArray:
    """Outdoor air temperature [K] at ``times`` (UTC), seeded (see the module docstring).

    ``anomaly_std_k`` sets the day-to-day anomaly's standard deviation [K] (0 = the climate
    normal's smooth curve, for checks).
    """
    _require_utc(times)
    _check_seed(seed)
    level = _periodic_interp(times, _mean_preserving_nodes(T_MEAN_C))
    ranges = tuple(hi - lo for hi, lo in zip(T_MAX_C, T_MIN_C, strict=True))
    day_range = _periodic_interp(times, ranges)
    anomaly = np.zeros(len(times))
    if anomaly_std_k > 0.0:
        dates = _local_dates(times)
        days = pd.date_range(
            dates.min() - pd.Timedelta(days=1), dates.max() + pd.Timedelta(days=1), freq="D"
        )
        z = _ar1_daily_normals(seed, "temperature", days, TEMPERATURE_ANOMALY_LAG1)
        noon = pd.DatetimeIndex(days + pd.Timedelta(hours=12)).tz_localize(LOCAL_TZ)
        noon_s = (noon.tz_convert("UTC") - pd.Timestamp("1970-01-01", tz="UTC")).total_seconds()
        t_s = (times - pd.Timestamp("1970-01-01", tz="UTC")).total_seconds()
        anomaly = anomaly_std_k * np.interp(t_s.to_numpy(float), noon_s.to_numpy(float), z)
    out: FloatArray = level + anomaly + 0.5 * day_range * _diurnal_shape(times) + KELVIN_OFFSET
    return out


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ScenarioError(f"porto weather: seed must be an integer >= 0, got {seed!r}")


def _require_utc(times: pd.DatetimeIndex) -> None:
    if not isinstance(times, pd.DatetimeIndex) or times.tz is None or str(times.tz) != "UTC":
        raise ScenarioError("porto weather: times must be a UTC pandas.DatetimeIndex")
    if len(times) == 0:
        raise ScenarioError("porto weather: times is empty; give at least one time")


def synthesise_weather(
    start_utc: pd.Timestamp | dt.datetime | str, n_steps: int, step_s: float, seed: int
) -> pd.DataFrame:
    """Synthetic weather at Porto airport for ``n_steps`` steps of ``step_s`` s from ``start_utc``.

    Returns a frame indexed by the steps' start times (UTC, named ``time_utc``) with the
    columns ``t_out_k`` [K], ``ghi_w_m2``, ``dni_w_m2``, ``dhi_w_m2``, ``ghi_clearsky_w_m2``
    [W/m²] and ``clearness`` (daily clear-sky index, [0, 1]); values are taken at each step's
    middle.  Same ``seed`` → the same frame.  Bad input → :class:`ScenarioError`.
    """
    _check_seed(seed)
    index, mid = _sample_times(start_utc, n_steps, step_s)
    return _weather_frame(
        index,
        mid,
        daily_clearness(_local_dates(mid), int(seed)),
        temperature_k(mid, int(seed)),
    )


def _weather_frame(
    index: pd.DatetimeIndex,
    mid: pd.DatetimeIndex,
    kc: FloatArray,
    t_out_k: FloatArray,
) -> pd.DataFrame:
    """Return the weather frame indexed by the steps' starts ``index``.

    Ineichen clear sky at the steps' middles ``mid`` × the clear-sky index ``kc`` [-], split
    into DNI and DHI by Erbs [W/m²]; the outdoor temperature ``t_out_k`` [K] as given (each
    quantity draws from its own seeded stream, so the order of the draws does not matter).
    """
    import pvlib

    loc = pvlib.location.Location(SITE_LAT_DEG, SITE_LON_DEG, "UTC", SITE_ALT_M)
    solpos = loc.get_solarposition(mid)
    cs = loc.get_clearsky(mid, model="ineichen", solar_position=solpos)
    ghi_cs = np.clip(np.nan_to_num(cs["ghi"].to_numpy(dtype=float), nan=0.0), 0.0, None)
    ghi = kc * ghi_cs
    split = pvlib.irradiance.erbs(pd.Series(ghi, index=mid), solpos["zenith"], mid)
    dhi = np.clip(np.nan_to_num(np.asarray(split["dhi"], dtype=float), nan=0.0), 0.0, ghi)
    dni = np.clip(np.nan_to_num(np.asarray(split["dni"], dtype=float), nan=0.0), 0.0, None)
    return pd.DataFrame(
        {
            "t_out_k": t_out_k,
            "ghi_w_m2": ghi,
            "dni_w_m2": dni,
            "dhi_w_m2": dhi,
            "ghi_clearsky_w_m2": ghi_cs,
            "clearness": kc,
        },
        index=index,
    )


def climate_normal_weather(
    start_utc: pd.Timestamp | dt.datetime | str, n_steps: int, step_s: float
) -> pd.DataFrame:
    """Return the climate normal at Porto airport: :func:`synthesise_weather`'s columns, no chance.

    Temperature: :func:`temperature_k` without its day-to-day anomaly (the monthly normals'
    level and diurnal cycle); irradiance: the clear sky × the month's mean clear-sky index
    (:func:`monthly_clearness`, the same for every day of a month), split by Erbs.  No seed: a
    forecaster who knows the climate and not the week's weather (the DSO's week-ahead forecast,
    :mod:`v2xcosim.usecases.porto.dso`).  ``clearness`` holds the monthly mean index.
    """
    index, mid = _sample_times(start_utc, n_steps, step_s)
    months = _local_dates(mid).month.to_numpy() - 1
    return _weather_frame(
        index,
        mid,
        np.asarray(monthly_clearness(), dtype=float)[months],
        temperature_k(mid, 0, anomaly_std_k=0.0),
    )


def poa_w_m2(
    weather: pd.DataFrame, *, tilt_deg: float, azimuth_deg: float, albedo: float = GROUND_ALBEDO
) -> pd.Series[float]:
    """Irradiance on a plane of ``tilt_deg`` (0 = horizontal) and ``azimuth_deg`` (180 = south).

    Hay–Davies sky-diffuse transposition (pvlib ``get_total_irradiance(model="haydavies")``)
    of the frame's GHI/DNI/DHI, at the same step middles as :func:`synthesise_weather` (the
    step length read from the index); ground reflection with ``albedo``.  [W/m²], ≥ 0.
    """
    import pvlib

    if not (0.0 <= tilt_deg <= 90.0):
        raise ScenarioError(f"porto PV: tilt_deg must lie in [0, 90], got {tilt_deg}")
    if not (0.0 <= azimuth_deg < 360.0):
        raise ScenarioError(f"porto PV: azimuth_deg must lie in [0, 360), got {azimuth_deg}")
    if not (0.0 <= albedo <= 1.0):
        raise ScenarioError(f"porto PV: albedo must lie in [0, 1], got {albedo}")
    missing = [c for c in ("ghi_w_m2", "dni_w_m2", "dhi_w_m2") if c not in weather.columns]
    if missing:
        raise ScenarioError(f"porto PV: the weather frame lacks {missing}; use synthesise_weather")
    index = pd.DatetimeIndex(weather.index)
    _require_utc(index)
    if isinstance(index.freq, pd.offsets.Tick):
        step = pd.Timedelta(index.freq)
    elif len(index) >= 2:
        step = index[1] - index[0]
    else:
        raise ScenarioError("porto PV: cannot tell the step length of a one-row frame without freq")
    mid = pd.DatetimeIndex(index + step / 2)
    solpos = pvlib.solarposition.get_solarposition(mid, SITE_LAT_DEG, SITE_LON_DEG, SITE_ALT_M)
    poa = pvlib.irradiance.get_total_irradiance(
        surface_tilt=tilt_deg,
        surface_azimuth=azimuth_deg,
        solar_zenith=solpos["zenith"],  # the zenith the Erbs split used
        solar_azimuth=solpos["azimuth"],
        dni=pd.Series(weather["dni_w_m2"].to_numpy(float), index=mid),
        ghi=pd.Series(weather["ghi_w_m2"].to_numpy(float), index=mid),
        dhi=pd.Series(weather["dhi_w_m2"].to_numpy(float), index=mid),
        dni_extra=pvlib.irradiance.get_extra_radiation(mid),
        albedo=albedo,
        model="haydavies",
    )
    values = np.clip(np.nan_to_num(np.asarray(poa["poa_global"], dtype=float), nan=0.0), 0.0, None)
    return pd.Series(values, index=weather.index, name="poa_w_m2")


__all__ = [
    "LOCAL_TZ",
    "SITE_ALT_M",
    "SITE_LAT_DEG",
    "SITE_LON_DEG",
    "SUNSHINE_H_PER_DAY",
    "T_MAX_C",
    "T_MEAN_C",
    "T_MIN_C",
    "WEATHER_COLUMNS",
    "climate_normal_weather",
    "daily_clearness",
    "monthly_clearness",
    "poa_w_m2",
    "synthesise_weather",
    "temperature_k",
]
