"""Time series for the co-simulation: PV, loads, prices, weather.

Inside v2xcosim every timestamp is UTC.  A file profile must carry time-zone-aware timestamps
(ISO 8601 with offset, or a tz-aware parquet column); naive timestamps are accepted only with an
explicit ``tz`` (IANA name) and are then localised, refusing ambiguous or non-existent local
times (DST).  Duplicate or unsorted timestamps are errors; gaps (irregular spacing) are errors
unless ``fill_gaps`` names a rule.  Values are converted to the canonical unit of their kind:
W (from W/kW/MW), K (from K/°C), pu, EUR/MWh, W/m².

The clear-sky PV profile uses pvlib (Ineichen model with pvlib's bundled Linke turbidity
climatology, Hay-Davies transposition not needed: isotropic sky), giving output in pu of
peak power: ``POA / 1000 W/m² × performance_ratio`` clipped to [0, 1].
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.units import KELVIN_OFFSET

FloatArray = npt.NDArray[np.float64]

class FileProfileSpec(Protocol):
    """What a file profile gives (``kind = "file"``; the schema is ``v2xcosim.config.profiles``)."""

    @property
    def file(self) -> Path: ...
    @property
    def column(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def time_column(self) -> str: ...
    @property
    def tz(self) -> str | None: ...
    @property
    def interpolation(self) -> str: ...
    @property
    def fill_gaps(self) -> str: ...


class ClearSkyPvSpec(Protocol):
    """What a clear-sky PV profile gives (``kind = "clearsky_pv"``)."""

    @property
    def latitude_deg(self) -> float: ...
    @property
    def longitude_deg(self) -> float: ...
    @property
    def altitude_m(self) -> float: ...
    @property
    def tilt_deg(self) -> float: ...
    @property
    def azimuth_deg(self) -> float: ...
    @property
    def performance_ratio(self) -> float: ...


class ConstantProfileSpec(Protocol):
    """What a constant profile gives (``kind = "constant"``)."""

    @property
    def value(self) -> float: ...
    @property
    def unit(self) -> str: ...



_FACTOR = {"W": 1.0, "kW": 1e3, "MW": 1e6}
_OFFSET_RE = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")


def to_canonical(values: FloatArray, unit: str) -> tuple[FloatArray, str]:
    """Convert ``values`` in ``unit`` to the canonical unit; return (values, canonical unit)."""
    if unit in _FACTOR:
        return values * _FACTOR[unit], "W"
    if unit == "degC":
        return values + KELVIN_OFFSET, "K"
    return values, unit


def _parse_times(raw: pd.Series[Any], spec: FileProfileSpec, where: str) -> pd.DatetimeIndex:
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return pd.DatetimeIndex(raw).tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(raw.dtype):
        naive = pd.DatetimeIndex(raw)
    else:
        text = raw.astype(str).str.strip()
        has_offset = text.str.contains(_OFFSET_RE)
        if bool(has_offset.all()):
            try:
                return pd.DatetimeIndex(pd.to_datetime(text, utc=True, format="ISO8601"))
            except (ValueError, TypeError) as exc:
                raise ScenarioError(f"{where}: cannot parse timestamps: {exc}") from None
        if bool(has_offset.any()):
            first = int(np.flatnonzero(~has_offset.to_numpy())[0])
            raise ScenarioError(
                f"{where}: timestamps mix UTC offsets and naive times (row {first}: "
                f"{text.iloc[first]!r}); give every timestamp an offset"
            )
        try:
            naive = pd.DatetimeIndex(pd.to_datetime(text, format="ISO8601"))
        except (ValueError, TypeError) as exc:
            raise ScenarioError(f"{where}: cannot parse timestamps: {exc}") from None
    if spec.tz is None:
        raise ScenarioError(
            f"{where}: timestamps have no time zone; add UTC offsets (2024-06-15T00:00:00+02:00) "
            "or set tz = 'Europe/Rome' in the profile"
        )
    try:
        return naive.tz_localize(spec.tz, ambiguous="raise", nonexistent="raise").tz_convert("UTC")
    except Exception as exc:  # pytz/zoneinfo raise several types for DST problems
        raise ScenarioError(
            f"{where}: cannot localise naive timestamps to {spec.tz}: {exc} "
            "(ambiguous or non-existent local time at a DST change: use UTC offsets)"
        ) from None


def read_file_profile(spec: FileProfileSpec, name: str) -> pd.Series[float]:
    """Read profile ``name`` as a float Series on a UTC index, in the canonical unit."""
    where = f"profiles.{name} ({spec.file})"
    try:
        if spec.file.suffix.lower() in {".parquet", ".pq"}:
            frame = pd.read_parquet(spec.file)
        else:
            frame = pd.read_csv(spec.file, comment="#", dtype={spec.time_column: str})
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{where}: cannot read the file: {exc}") from None
    missing = [c for c in (spec.time_column, spec.column) if c not in frame.columns]
    if missing:
        raise ScenarioError(f"{where}: no column(s) {missing}; columns are {list(frame.columns)}")
    if len(frame) < 2:
        raise ScenarioError(f"{where}: needs at least two rows")
    times = _parse_times(frame[spec.time_column], spec, where)
    values = pd.to_numeric(frame[spec.column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ScenarioError(
            f"{where}: non-numeric or non-finite value in column {spec.column!r} at row "
            f"{int(bad[0])} ({times[bad[0]]})"
        )
    dup = times.duplicated()
    if dup.any():
        raise ScenarioError(f"{where}: duplicate timestamp {times[dup][0]}")
    if not times.is_monotonic_increasing:
        pos = int(np.flatnonzero(np.diff(times.asi8) < 0)[0]) + 1
        raise ScenarioError(f"{where}: timestamps not sorted at row {pos} ({times[pos]})")
    spacing = np.diff(times.asi8)
    if spec.fill_gaps == "error" and np.any(spacing != spacing[0]):
        pos = int(np.flatnonzero(spacing != spacing[0])[0])
        raise ScenarioError(
            f"{where}: irregular spacing / gap between {times[pos]} and {times[pos + 1]}; "
            "fix the data or set fill_gaps = 'hold' or 'linear'"
        )
    converted, _unit = to_canonical(values, spec.unit)
    return pd.Series(converted, index=times, name=name)


def sample(
    series: pd.Series[float], times: pd.DatetimeIndex, method: str, where: str
) -> FloatArray:
    """Values of ``series`` at ``times`` by zero-order ``hold`` or ``linear`` interpolation."""
    # the profiles' series are indexed by UTC timestamps (see :func:`read_file_profile`)
    index = cast(pd.DatetimeIndex, series.index)
    x = index.asi8.astype(np.float64)
    t = times.asi8.astype(np.float64)
    if times[0] < series.index[0]:
        raise ScenarioError(
            f"{where}: data start at {series.index[0]} (UTC) after the scenario start {times[0]}"
        )
    step = float(np.median(np.diff(x)))
    last_needed = t[-1] if method == "linear" else t[-1] - step + 1
    if last_needed > x[-1]:
        raise ScenarioError(
            f"{where}: data end at {series.index[-1]} (UTC) before the horizon's last step "
            f"{times[-1]}; extend the data or shorten time.duration_s"
        )
    # (pandas-stubs type this as floating[Any]; it is float64, so astype does not copy)
    y = series.to_numpy(dtype=float).astype(np.float64, copy=False)
    if method == "linear":
        return np.interp(t, x, y)
    pos = np.searchsorted(x, t, side="right") - 1
    out: FloatArray = y[pos]
    return out


def clearsky_poa_pu(
    times: pd.DatetimeIndex,
    *,
    latitude_deg: float,
    longitude_deg: float,
    altitude_m: float,
    tilt_deg: float,
    azimuth_deg: float,
) -> FloatArray:
    """Clear-sky irradiance on the module plane at ``times`` (UTC) [pu of 1 kW/m²].

    pvlib: Ineichen clear sky, isotropic sky-diffuse transposition (pvlib documentation,
    ``Location.get_clearsky`` and ``irradiance.get_total_irradiance``); night gives 0.
    """
    import pvlib

    loc = pvlib.location.Location(latitude_deg, longitude_deg, "UTC", altitude_m)
    solpos = loc.get_solarposition(times)
    cs = loc.get_clearsky(times, model="ineichen", solar_position=solpos)
    poa = pvlib.irradiance.get_total_irradiance(
        surface_tilt=tilt_deg,
        surface_azimuth=azimuth_deg,
        solar_zenith=solpos["apparent_zenith"],
        solar_azimuth=solpos["azimuth"],
        dni=cs["dni"],
        ghi=cs["ghi"],
        dhi=cs["dhi"],
        model="isotropic",
    )
    out: FloatArray = np.nan_to_num(poa["poa_global"].to_numpy(dtype=float), nan=0.0) / 1000.0
    return out


def clearsky_pv_pu(spec: ClearSkyPvSpec, times: pd.DatetimeIndex) -> FloatArray:
    """PV output [pu of peak] under clear sky at ``times`` (UTC), mid-step not applied."""
    pu = clearsky_poa_pu(
        times,
        latitude_deg=spec.latitude_deg,
        longitude_deg=spec.longitude_deg,
        altitude_m=spec.altitude_m,
        tilt_deg=spec.tilt_deg,
        azimuth_deg=spec.azimuth_deg,
    )
    out: FloatArray = np.clip(pu * spec.performance_ratio, 0.0, 1.0)
    return out


class ProfileSet:
    """Every profile of a scenario sampled once at the step times (one array per profile)."""

    def __init__(self, profiles: Mapping[str, Any], times: pd.DatetimeIndex) -> None:
        """Load/generate each profile spec in ``profiles`` at ``times`` (UTC)."""
        self.times = times
        self.values: dict[str, FloatArray] = {}
        for name in sorted(profiles):
            spec = profiles[name]
            kind = getattr(spec, "kind", None)
            if kind == "file":
                spec = cast(FileProfileSpec, spec)
                series = read_file_profile(spec, name)
                self.values[name] = sample(
                    series, times, spec.interpolation, f"profiles.{name} ({spec.file})"
                )
            elif kind == "clearsky_pv":
                self.values[name] = clearsky_pv_pu(cast(ClearSkyPvSpec, spec), times)
            elif kind == "constant":
                spec = cast(ConstantProfileSpec, spec)
                value, _ = to_canonical(np.array([spec.value], dtype=float), spec.unit)
                self.values[name] = np.full(len(times), float(value[0]))
            else:  # pragma: no cover - the discriminated union is exhaustive
                raise ScenarioError(f"profiles.{name}: unsupported kind")

    def at(self, name: str, step: int) -> float:
        """Value of profile ``name`` at ``step``."""
        return float(self.values[name][step])



__all__ = [
    "ProfileSet",
    "clearsky_poa_pu",
    "clearsky_pv_pu",
    "read_file_profile",
    "sample",
]
