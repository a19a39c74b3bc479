"""Time-of-use tariff engine: periods by season, day class and local clock time; the bill.

A :class:`TouSchedule` names, for each season and each **day class** (``"weekday"`` Mon–Fri,
``"saturday"``, ``"sunday"`` = Sundays and the listed holidays), the periods of the local day
as contiguous clock intervals ``[start, end)`` covering 00:00–24:00.  Clock time is the legal
time of the schedule's IANA zone (``zoneinfo``, so daylight saving time is followed: on the
spring day the skipped hour simply has no steps, on the autumn day the repeated hour is
labelled twice by its clock time).  The season is either the legal-time season (``"summer"``
while daylight saving time is in force, ``"winter"`` otherwise) or given by calendar month.
A step is labelled by its **start** time (period boundaries at quarter hours align with 15-min
steps).

:class:`TouTariff` prices a schedule.  :meth:`TouTariff.bill` returns the terms separately,
all in EUR, for a power series in the load convention (W, + = drawn from the grid):

* **energy by period** — imported energy only, Σ max(p, 0)·Δt per period × its price
  [EUR/kWh]; export is not credited (the tariff is a supply tariff).
* **peak-hours power** — the mean power in the peak period over the billing period,
  energy imported in that period ÷ the hours of that period in the billing period [kW],
  × price [EUR/(kW·month)] × the months simulated.
* **contracted power** — the largest 15-minute mean import [kW] over the billing period (or a
  declared contracted power, whichever is larger) × price [EUR/(kW·month)] × the months
  simulated: the charge is **prorated to the days simulated** (months = days / 30.4375).
* **contracted-power ratchet** — with ``contracted_ratchet_months`` ``R`` > 0 the declared
  contracted power is the one carried in from the previous ``R`` months (a ratchet: the largest
  15-minute mean of the last ``R`` months), and a new maximum above it stays billed for ``R``
  months.  The bill reports that consequence apart: excess kW (measured maximum − declared,
  ≥ 0) × price × the months of the ratchet not already in the period's prorated charge
  (``max(R − months simulated, 0)``), so a kW of new maximum costs in all
  ``price × max(R, months simulated)`` (:func:`contracted_excess_eur_per_kw`).  ``R = 0``: no
  ratchet, the period's own maximum only.
* **reactive energy** — inductive reactive energy (q > 0, load convention) in the chargeable
  periods beyond ``tan φ_max`` × the active energy imported in those periods, over the
  billing period, × price [EUR/kvarh]; capacitive energy is not charged (a simplification).

Bad input raises :class:`~v2xcosim.core.errors.ScenarioError` naming what is wrong and how to
fix it.  Nothing here knows any country: schedules and prices come from the use case.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypedDict

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError

FloatArray = npt.NDArray[np.float64]
DayClass = Literal["weekday", "saturday", "sunday"]
DAY_CLASSES: tuple[DayClass, ...] = ("weekday", "saturday", "sunday")
DAYS_PER_MONTH = 365.25 / 12.0
"""Mean Gregorian month [d], to prorate per-month charges."""
QUARTER_HOUR_S = 900
"""Integration period of the contracted-power maximum [s] (15-minute means)."""
_DAY_MIN = 24 * 60


@dataclass(frozen=True)
class ClockPeriod:
    """One period of a local day: ``[start_min, end_min)`` minutes after local midnight."""

    start_min: int
    end_min: int
    label: str


def _clock_min(text: str, where: str) -> int:
    try:
        hh, mm = text.split(":")
        minutes = int(hh) * 60 + int(mm)
    except ValueError:
        raise ScenarioError(f"{where}: clock time {text!r} is not HH:MM") from None
    if not (0 <= int(mm) < 60 and 0 <= minutes <= _DAY_MIN):
        raise ScenarioError(f"{where}: clock time {text!r} is outside 00:00–24:00")
    return minutes


def day_periods(
    spec: Iterable[tuple[str, str, str]], where: str = "tariff"
) -> tuple[ClockPeriod, ...]:
    """Periods of one day from ``(start "HH:MM", end "HH:MM", label)`` triples, in order."""
    return tuple(
        ClockPeriod(_clock_min(a, where), _clock_min(b, where), label) for a, b, label in spec
    )


@dataclass(frozen=True)
class TouSchedule:
    """Periods by (season, day class) in local legal time of ``tz``.

    ``days[(season, day_class)]`` lists the day's periods, contiguous from 00:00 to 24:00.
    ``season_months`` maps each month 1–12 to a season name; ``None`` = legal-time seasons,
    ``"summer"`` while daylight saving time is in force and ``"winter"`` otherwise.
    ``holidays`` are local dates that follow the ``"sunday"`` rule.
    """

    tz: str
    days: Mapping[tuple[str, DayClass], tuple[ClockPeriod, ...]]
    season_months: Mapping[int, str] | None = None
    holidays: frozenset[dt.date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        """Check the zone, the seasons and that every day is covered without gap or overlap."""
        try:
            zoneinfo.ZoneInfo(self.tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ScenarioError(
                f"tariff.tz: unknown time zone {self.tz!r}; give an IANA name such as "
                "'Europe/Berlin'"
            ) from None
        if self.season_months is None:
            seasons = {"summer", "winter"}
        else:
            if sorted(self.season_months) != list(range(1, 13)):
                raise ScenarioError(
                    "tariff.season_months: give a season for each month 1–12, got months "
                    f"{sorted(self.season_months)}"
                )
            seasons = set(self.season_months.values())
        for season in sorted(seasons):
            for day_class in DAY_CLASSES:
                key = (season, day_class)
                if key not in self.days:
                    raise ScenarioError(
                        f"tariff.days: no periods for season {season!r}, {day_class}; add them"
                    )
                self._check_day(key, self.days[key])
        for key in self.days:
            if key[0] not in seasons or key[1] not in DAY_CLASSES:
                raise ScenarioError(
                    f"tariff.days: {key} is not a (season, day class) of this schedule; "
                    f"seasons {sorted(seasons)}, day classes {list(DAY_CLASSES)}"
                )

    @staticmethod
    def _check_day(key: tuple[str, str], periods: tuple[ClockPeriod, ...]) -> None:
        where = f"tariff.days[{key[0]!r}, {key[1]!r}]"
        expect = 0
        for p in periods:
            if not p.label:
                raise ScenarioError(f"{where}: a period has an empty label")
            if p.start_min != expect or p.end_min <= p.start_min:
                raise ScenarioError(
                    f"{where}: periods must run from 00:00 to 24:00 in order without gap or "
                    f"overlap; {p.label!r} starts at minute {p.start_min}, expected {expect}"
                )
            expect = p.end_min
        if expect != _DAY_MIN:
            raise ScenarioError(f"{where}: the last period ends at minute {expect}, not 24:00")

    @property
    def labels(self) -> frozenset[str]:
        """Every period label the schedule uses."""
        return frozenset(p.label for periods in self.days.values() for p in periods)

    def seasons_at(self, times: pd.DatetimeIndex) -> npt.NDArray[np.str_]:
        """Season of each UTC time (legal-time season or by local month)."""
        local = _check_times(times).tz_convert(self.tz)
        if self.season_months is None:
            dst = np.array([bool(ts.dst()) for ts in local], dtype=bool)
            return np.where(dst, "summer", "winter")
        by_month = self.season_months
        return np.array([by_month[int(m)] for m in local.month], dtype=str)

    def day_classes_at(self, times: pd.DatetimeIndex) -> npt.NDArray[np.str_]:
        """Day class of each UTC time from its local date (holidays follow Sunday)."""
        local = _check_times(times).tz_convert(self.tz)
        dow = local.dayofweek.to_numpy()
        out = np.where(dow == 6, "sunday", np.where(dow == 5, "saturday", "weekday"))
        if self.holidays:
            holiday = np.array([d in self.holidays for d in local.date], dtype=bool)
            out = np.where(holiday, "sunday", out)
        return out

    def labels_at(self, times: pd.DatetimeIndex) -> npt.NDArray[np.str_]:
        """Period label of each UTC time (by its local clock time, season and day class)."""
        local = _check_times(times).tz_convert(self.tz)
        minute = (local.hour * 60 + local.minute).to_numpy()
        seasons = self.seasons_at(times)
        classes = self.day_classes_at(times)
        out = np.empty(len(times), dtype=object)
        for (season, day_class), periods in self.days.items():
            mask = (seasons == season) & (classes == day_class)
            if not mask.any():
                continue
            starts = np.array([p.start_min for p in periods])
            idx = np.searchsorted(starts, minute[mask], side="right") - 1
            out[mask] = np.array([p.label for p in periods], dtype=object)[idx]
        return out.astype(str)


def _check_times(times: pd.DatetimeIndex) -> pd.DatetimeIndex:
    if not isinstance(times, pd.DatetimeIndex) or times.tz is None:
        raise ScenarioError(
            "tariff: times must be a time-zone-aware pandas.DatetimeIndex (UTC); "
            "localise naive times first"
        )
    return times


class Bill(TypedDict):
    """The terms of a bill (EUR unless the key names another unit)."""

    days: float
    energy_kwh_by_period: dict[str, float]
    energy_eur_by_period: dict[str, float]
    energy_eur: float
    peak_hours_h: float
    peak_hours_kw: float
    peak_power_eur: float
    contracted_kw: float
    contracted_power_eur: float
    contracted_ratchet_excess_kw: float
    contracted_ratchet_months: float
    contracted_ratchet_eur: float
    reactive_kvarh_billed: float
    reactive_eur: float
    total_eur: float


@dataclass(frozen=True)
class TouTariff:
    """Prices of a :class:`TouSchedule` (see the module docstring for each term).

    ``energy_eur_per_kwh`` per period label; ``peak_period`` the label whose mean power is
    billed (``None``: no such term); ``peak_power_eur_per_kw_month`` and
    ``contracted_power_eur_per_kw_month`` [EUR/(kW·month)]; ``contracted_ratchet_months`` the
    months a new contracted-power maximum stays billed (0: no ratchet);
    ``reactive_tan_phi_max`` the free ratio of inductive reactive to active energy;
    ``reactive_eur_per_kvarh`` the price beyond it; ``reactive_periods`` the labels in which
    reactive energy counts (``None``: all).
    """

    schedule: TouSchedule
    energy_eur_per_kwh: Mapping[str, float]
    peak_period: str | None = None
    peak_power_eur_per_kw_month: float = 0.0
    contracted_power_eur_per_kw_month: float = 0.0
    contracted_ratchet_months: float = 0.0
    reactive_tan_phi_max: float = 0.3
    reactive_eur_per_kvarh: float = 0.0
    reactive_periods: frozenset[str] | None = None

    def __post_init__(self) -> None:
        """Every label priced, prices finite and ≥ 0, named periods known."""
        labels = self.schedule.labels
        missing = sorted(labels - set(self.energy_eur_per_kwh))
        if missing:
            raise ScenarioError(f"tariff.energy_eur_per_kwh: no price for periods {missing}")
        for name, value in [
            *((f"energy_eur_per_kwh.{k}", v) for k, v in self.energy_eur_per_kwh.items()),
            ("peak_power_eur_per_kw_month", self.peak_power_eur_per_kw_month),
            ("contracted_power_eur_per_kw_month", self.contracted_power_eur_per_kw_month),
            ("contracted_ratchet_months", self.contracted_ratchet_months),
            ("reactive_tan_phi_max", self.reactive_tan_phi_max),
            ("reactive_eur_per_kvarh", self.reactive_eur_per_kvarh),
        ]:
            if not (math.isfinite(value) and value >= 0.0):
                raise ScenarioError(f"tariff.{name}: must be a finite number >= 0, got {value}")
        if self.peak_period is not None and self.peak_period not in labels:
            raise ScenarioError(
                f"tariff.peak_period: {self.peak_period!r} is not a period of the schedule "
                f"{sorted(labels)}"
            )
        unknown = sorted((self.reactive_periods or frozenset()) - labels)
        if unknown:
            raise ScenarioError(f"tariff.reactive_periods: unknown periods {unknown}")

    def labels_at(self, times: pd.DatetimeIndex) -> npt.NDArray[np.str_]:
        """Period label of each step starting at ``times`` (UTC)."""
        return self.schedule.labels_at(times)

    def energy_prices_at(self, times: pd.DatetimeIndex) -> FloatArray:
        """Energy price of each step starting at ``times`` [EUR/kWh]."""
        labels = self.labels_at(times)
        out: FloatArray = np.array([self.energy_eur_per_kwh[lb] for lb in labels], dtype=float)
        return out

    def bill(
        self,
        p_w: npt.ArrayLike,
        q_var: npt.ArrayLike,
        times: pd.DatetimeIndex,
        *,
        step_s: float | None = None,
        contracted_kw: float = 0.0,
    ) -> Bill:
        """Bill active power ``p_w`` and reactive power ``q_var`` (W/var, load convention).

        ``times`` are the steps' start times (UTC, uniformly spaced); ``step_s`` their length
        (read from ``times`` when omitted; needed for a single step); ``contracted_kw`` a
        declared contracted power billed when larger than the measured 15-minute maximum (with
        a ratchet: the power carried in from the previous ``contracted_ratchet_months``).
        ``total_eur`` includes the ratchet term: the whole cost the period's operation commits.
        """
        times = _check_times(times)
        p = np.asarray(p_w, dtype=float)
        q = np.asarray(q_var, dtype=float)
        n = len(times)
        for name, arr in (("p_w", p), ("q_var", q)):
            if arr.shape != (n,):
                raise ScenarioError(
                    f"tariff.bill: {name} has shape {arr.shape}, expected ({n},) like times"
                )
            if not np.all(np.isfinite(arr)):
                raise ScenarioError(f"tariff.bill: {name} has non-finite values")
        if n == 0:
            raise ScenarioError("tariff.bill: no steps to bill; give at least one")
        step = _step_s(times, step_s)
        if not (math.isfinite(contracted_kw) and contracted_kw >= 0.0):
            raise ScenarioError(f"tariff.bill: contracted_kw must be >= 0, got {contracted_kw}")
        dt_h = step / 3600.0
        days = n * step / 86400.0
        months = days / DAYS_PER_MONTH
        labels = self.labels_at(times)
        e_kwh = np.maximum(p, 0.0) / 1000.0 * dt_h

        kwh_by = {lb: float(e_kwh[labels == lb].sum()) for lb in sorted(self.schedule.labels)}
        eur_by = {lb: kwh * float(self.energy_eur_per_kwh[lb]) for lb, kwh in kwh_by.items()}

        peak_h = peak_kw = 0.0
        if self.peak_period is not None:
            in_peak = labels == self.peak_period
            peak_h = float(in_peak.sum()) * dt_h
            peak_kw = kwh_by[self.peak_period] / peak_h if peak_h > 0 else 0.0
        peak_eur = peak_kw * self.peak_power_eur_per_kw_month * months

        measured_kw = max(float(quarter_hour_means_w(p, times, step).max()) / 1000.0, 0.0)
        contracted = max(measured_kw, contracted_kw)
        contracted_eur = contracted * self.contracted_power_eur_per_kw_month * months
        ratchet_kw = max(measured_kw - contracted_kw, 0.0)
        ratchet_months = max(self.contracted_ratchet_months - months, 0.0)
        ratchet_eur = ratchet_kw * self.contracted_power_eur_per_kw_month * ratchet_months

        counts = (
            np.ones(n, dtype=bool)
            if self.reactive_periods is None
            else np.isin(labels, sorted(self.reactive_periods))
        )
        q_kvarh = float(np.maximum(q[counts], 0.0).sum()) / 1000.0 * dt_h
        p_kwh = float(e_kwh[counts].sum())
        reactive_kvarh = max(q_kvarh - self.reactive_tan_phi_max * p_kwh, 0.0)
        reactive_eur = reactive_kvarh * self.reactive_eur_per_kvarh

        energy_eur = float(sum(eur_by.values()))
        return Bill(
            days=days,
            energy_kwh_by_period=kwh_by,
            energy_eur_by_period=eur_by,
            energy_eur=energy_eur,
            peak_hours_h=peak_h,
            peak_hours_kw=peak_kw,
            peak_power_eur=peak_eur,
            contracted_kw=contracted,
            contracted_power_eur=contracted_eur,
            contracted_ratchet_excess_kw=ratchet_kw,
            contracted_ratchet_months=ratchet_months,
            contracted_ratchet_eur=ratchet_eur,
            reactive_kvarh_billed=reactive_kvarh,
            reactive_eur=reactive_eur,
            total_eur=energy_eur + peak_eur + contracted_eur + reactive_eur + ratchet_eur,
        )


def contracted_excess_eur_per_kw(
    price_eur_per_kw_month: float, *, period_days: float, ratchet_months: float
) -> float:
    """Cost of 1 kW of new 15-minute maximum above the declared contracted power [EUR/kW].

    The billing period's prorated charge (``period_days`` / :data:`DAYS_PER_MONTH` months) plus
    the ratchet's remaining months (:meth:`TouTariff.bill`): ``price × max(ratchet_months,
    months)``; with ``ratchet_months = 0`` only the period's own prorated charge.
    """
    for name, value in (
        ("price_eur_per_kw_month", price_eur_per_kw_month),
        ("ratchet_months", ratchet_months),
    ):
        if not (math.isfinite(value) and value >= 0.0):
            raise ScenarioError(f"tariff.{name}: must be a finite number >= 0, got {value}")
    if not (math.isfinite(period_days) and period_days > 0.0):
        raise ScenarioError(f"tariff: period_days must be > 0, got {period_days}")
    return price_eur_per_kw_month * max(ratchet_months, period_days / DAYS_PER_MONTH)


def _step_s(times: pd.DatetimeIndex, step_s: float | None) -> float:
    """Return the uniform step length of ``times`` [s], or ``step_s`` checked against it."""
    if len(times) >= 2:
        diffs = np.diff(times.asi8) / 1e9
        if not np.all(diffs == diffs[0]) or diffs[0] <= 0:
            raise ScenarioError(
                "tariff.bill: times must be increasing and uniformly spaced (one step length)"
            )
        if step_s is not None and not math.isclose(step_s, float(diffs[0])):
            raise ScenarioError(
                f"tariff.bill: step_s = {step_s} s differs from the spacing of times "
                f"({diffs[0]} s); omit step_s or make them agree"
            )
        return float(diffs[0])
    if step_s is None or not (math.isfinite(step_s) and step_s > 0):
        raise ScenarioError("tariff.bill: give step_s (> 0 s) to bill a single step")
    return float(step_s)


def quarter_hour_means_w(p_w: npt.ArrayLike, times: pd.DatetimeIndex, step_s: float) -> FloatArray:
    """Mean power of each clock quarter hour touched by the steps [W].

    Steps of 900 s or a divisor of it are averaged within the quarter hour that holds their
    start (a partial first or last quarter hour is averaged over the steps it has); steps that
    are a multiple of 900 s hold their value over each of their quarter hours.  Other lengths
    cannot be split into quarter hours → ScenarioError.
    """
    p = np.asarray(p_w, dtype=float)
    step = round(float(step_s))
    if step <= 0 or not math.isclose(step, step_s):
        raise ScenarioError(f"tariff: step_s = {step_s} s must be a positive whole number of s")
    if step % QUARTER_HOUR_S == 0:
        return p.copy()
    if QUARTER_HOUR_S % step != 0:
        raise ScenarioError(
            f"tariff: a step of {step_s} s neither divides nor is a multiple of 900 s, so "
            "15-minute means cannot be formed; use e.g. 60, 300, 900 or 3600 s"
        )
    block = times.floor(f"{QUARTER_HOUR_S}s").asi8
    out: FloatArray = pd.Series(p).groupby(block).mean().to_numpy(dtype=float)
    return out


def gregorian_easter(year: int) -> dt.date:
    """Return Easter Sunday of ``year`` (Gregorian; anonymous algorithm, Meeus 1991)."""
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


__all__ = [
    "DAYS_PER_MONTH",
    "DAY_CLASSES",
    "Bill",
    "ClockPeriod",
    "DayClass",
    "TouSchedule",
    "TouTariff",
    "contracted_excess_eur_per_kw",
    "day_periods",
    "gregorian_easter",
    "quarter_hour_means_w",
]
