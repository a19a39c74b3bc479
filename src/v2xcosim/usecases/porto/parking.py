"""Porto airport's long-term car park: seeded stays and the parking manager (use-case steps 1, 19).

Two parts, plain Python (no mosaik):

* :func:`draw_stays` — a seeded table of long-term stays of EV drivers who want a charger:
  online reservations (step 1: booked ahead with arrival and departure) and spontaneous
  arrivals (who declare their departure in the web app, step 4), 12 h to several days,
  arriving before departing flights and leaving after returning ones.
* :class:`ParkingManager` — assigns a charger (a parking slot with a bidirectional charger) to
  each stay: a reservation claims its charger for its whole window when it is **booked**, so
  reservations come first; arrivals without one are served first come, first served on
  chargers that are free for their whole declared stay; a stay that finds none is rejected with
  the reason.  At departure the web app releases the slot (step 19, :meth:`ParkingManager.release`).
  :func:`simulate` runs a stay table through a manager in time order.

Times are s since the run start (UTC); local (Europe/Lisbon) clock hours are converted with
pandas' time-zone support, DST-safe.  Stays that arrived during the ``warmup_days`` before the
start and are still parked at the start have negative ``arrival_s`` (the car park is not empty
at the start of the week).  Randomness only from ``rng_for(seed, "porto/parking")``.

Figures (sources or **assumptions**; :class:`StaySpec`):

* the airport's car parks: five official car parks with more than 2,000 spaces; online
  booking must be made at least 6 h ahead (portoairport.net, "Porto Airport Parking");
* stays of 12 h to several days: the use case (use-cases.md, Porto); the distribution of
  nights away (:data:`NIGHTS_P`) is an **assumption** (city breaks of 2–4 nights most common,
  a tail of week-long trips);
* arrival and return hours: **assumptions** shaped like a low-cost base's day — the first
  departure wave 06:00–08:00 (cars enter 04:00–06:00), a midday and an evening bank, nothing
  between 01:00 and 04:00; returns follow inbound banks ~45 min later
  (:data:`ARRIVAL_HOUR_WEIGHTS`, :data:`RETURN_HOUR_WEIGHTS`); busier Fridays and Sundays
  (:data:`WEEKDAY_WEIGHTS`, assumption);
* 45 EV arrivals per day and 60 % reservations: **assumptions**.  By Little's law the mean
  number parked is arrivals × mean stay ≈ 45 × 3.7 d ≈ 168, i.e. 84 % of the 200 chargers of
  :mod:`v2xcosim.usecases.porto.network` — a busy but not always full car park, so rejections
  happen on peak days only.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.rng import rng_for

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

STREAM = "porto/parking"
"""Name of the random stream of the stays (``rng_for(seed, STREAM)``)."""
S_PER_H = 3600.0
S_PER_DAY = 86_400.0

NIGHTS_P: tuple[float, ...] = (0.04, 0.14, 0.18, 0.18, 0.14, 0.11, 0.09, 0.12)
"""Probability of 0, 1, …, 7 nights away (assumption, module docstring)."""
ARRIVAL_HOUR_WEIGHTS: tuple[float, ...] = (
    # 00  01   02   03   04   05   06   07   08   09   10   11
    0.5, 0.0, 0.0, 0.0, 3.0, 5.0, 4.0, 2.5, 2.0, 2.5, 3.0, 3.0,
    # 12  13   14   15   16   17   18   19   20   21   22   23
    2.5, 2.0, 2.0, 2.5, 3.0, 3.0, 2.0, 1.5, 1.0, 0.5, 0.5, 0.5,
)  # fmt: skip
"""Relative rate of cars entering the car park per local hour (assumption: ~2 h before the
departure banks of a low-cost base)."""
RETURN_HOUR_WEIGHTS: tuple[float, ...] = (
    # 00  01   02   03   04   05   06   07   08   09   10   11
    2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 2.0, 2.5, 2.5,
    # 12  13   14   15   16   17   18   19   20   21   22   23
    2.5, 2.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 2.5,
)  # fmt: skip
"""Relative rate of cars leaving per local hour (assumption: ~45 min after inbound banks)."""
WEEKDAY_WEIGHTS: tuple[float, ...] = (1.0, 0.9, 0.9, 1.0, 1.2, 1.0, 1.0)
"""Relative arrivals Monday … Sunday (assumption: Friday peak), normalised to mean 1."""


@dataclass(frozen=True)
class StaySpec:
    """Parameters of :func:`draw_stays` (module docstring for sources and assumptions).

    ``n_days`` local days from the start's local date; ``warmup_days`` drawn before it (stays
    still parked at the start are kept); ``arrivals_per_day`` mean EV arrivals per day (Poisson,
    scaled by :data:`WEEKDAY_WEIGHTS`); ``reservation_share`` of them booked online
    ``booking_lead_h_range`` ahead (log-uniform; at least 6 h, portoairport.net; at most 21 days,
    assumption); ``nights_p`` the distribution of nights away; ``min_stay_h`` the shortest stay
    (12 h, the use case): a shorter draw returns one or two days later.
    """

    n_days: int = 7
    warmup_days: int = 7
    arrivals_per_day: float = 45.0
    reservation_share: float = 0.6
    booking_lead_h_range: tuple[float, float] = (6.0, 21 * 24.0)
    nights_p: tuple[float, ...] = NIGHTS_P
    min_stay_h: float = 12.0
    arrival_hour_weights: tuple[float, ...] = ARRIVAL_HOUR_WEIGHTS
    return_hour_weights: tuple[float, ...] = RETURN_HOUR_WEIGHTS
    weekday_weights: tuple[float, ...] = WEEKDAY_WEIGHTS
    timezone: str = "Europe/Lisbon"

    @property
    def max_stay_h(self) -> float:
        """Upper bound of a stay [h]: the most nights away, the return day and one more."""
        return 24.0 * (len(self.nights_p) + 1)

    def validate(self) -> None:
        """Raise :class:`ScenarioError` listing every bad parameter (key named)."""
        bad: list[str] = []
        if self.n_days < 1 or self.warmup_days < 0:
            bad.append("n_days must be >= 1 and warmup_days >= 0")
        if not (math.isfinite(self.arrivals_per_day) and self.arrivals_per_day >= 0):
            bad.append("arrivals_per_day must be finite and >= 0")
        if not 0.0 <= self.reservation_share <= 1.0:
            bad.append("reservation_share must be in [0, 1]")
        lo, hi = self.booking_lead_h_range
        if not 0 < lo <= hi < math.inf:
            bad.append("booking_lead_h_range must satisfy 0 < lo <= hi < inf")
        if not 0 < self.min_stay_h <= 24.0:
            bad.append("min_stay_h must be in (0, 24]")
        for key, n in (
            ("nights_p", None),
            ("arrival_hour_weights", 24),
            ("return_hour_weights", 24),
            ("weekday_weights", 7),
        ):
            w = np.asarray(getattr(self, key), dtype=float)
            if (n is not None and len(w) != n) or len(w) == 0:
                bad.append(f"{key} needs {n or 'at least one'} values")
            elif not (np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0):
                bad.append(f"{key} must be finite, >= 0 and not all 0")
        if len(self.nights_p) and not math.isclose(sum(self.nights_p), 1.0, abs_tol=1e-9):
            bad.append("nights_p must sum to 1")
        if bad:
            raise ScenarioError("porto parking: " + "; ".join(bad))


STAY_COLUMNS: tuple[str, ...] = ("stay_id", "reserved", "booked_s", "arrival_s", "departure_s")
"""Columns of a stay table: ``booked_s`` NaN for spontaneous arrivals; times in s since start."""


def _local_midnights_s(start_utc: pd.Timestamp, first_day: int, n: int, tz: str) -> FloatArray:
    """UTC seconds since ``start_utc`` of ``n`` local midnights from ``first_day`` (DST-safe)."""
    day0 = start_utc.tz_convert(tz).normalize().tz_localize(None)
    days = pd.date_range(day0 + pd.Timedelta(days=first_day), periods=n, freq="D")
    local = days.tz_localize(tz, ambiguous=False, nonexistent="shift_forward")
    return np.asarray((local - start_utc).total_seconds(), dtype=float)


def _weights(values: Sequence[float]) -> FloatArray:
    w = np.asarray(values, dtype=float)
    out: FloatArray = w / w.sum()
    return out


def draw_stays(spec: StaySpec, *, seed: int, start_utc: pd.Timestamp) -> pd.DataFrame:
    """Draw the stays of ``spec`` from ``rng_for(seed, "porto/parking")`` (:data:`STAY_COLUMNS`).

    Per local day: Poisson(``arrivals_per_day`` × the weekday's weight) arrivals at an hour drawn
    from ``arrival_hour_weights`` (uniform within the hour); nights away from ``nights_p``; the
    car leaves on that day at an hour drawn from ``return_hour_weights``, a day later if the
    stay would be shorter than ``min_stay_h`` (two days later if still shorter).  A share
    ``reservation_share`` is booked ``booking_lead_h_range`` ahead (log-uniform).  Kept: stays
    still parked at the start or arriving before the end of the last day; sorted by arrival,
    ids ``P00000`` … in that order.  The declared departure is the real one (early releases are
    the web app's business).
    """
    spec.validate()
    start = pd.Timestamp(start_utc)
    if start.tzinfo is None or start.utcoffset() != pd.Timedelta(0):
        raise ScenarioError("porto parking: start_utc must be a UTC timestamp")
    rng = rng_for(seed, STREAM)
    n_total = spec.warmup_days + spec.n_days
    midnights = _local_midnights_s(
        start, -spec.warmup_days, n_total + len(spec.nights_p) + 2, spec.timezone
    )
    weekday0 = (
        start.tz_convert(spec.timezone).normalize() - pd.Timedelta(days=spec.warmup_days)
    ).weekday()
    wd = _weights(spec.weekday_weights) * 7.0
    day_rate = spec.arrivals_per_day * wd[(weekday0 + np.arange(n_total)) % 7]
    counts = rng.poisson(day_rate)
    n = int(counts.sum())
    day = np.repeat(np.arange(n_total), counts)
    arr_h = rng.choice(24, size=n, p=_weights(spec.arrival_hour_weights)) + rng.random(n)
    nights = rng.choice(len(spec.nights_p), size=n, p=_weights(spec.nights_p))
    ret_h = rng.choice(24, size=n, p=_weights(spec.return_hour_weights)) + rng.random(n)
    reserved = rng.random(n) < spec.reservation_share
    lo, hi = spec.booking_lead_h_range
    lead_h = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
    arr_s = midnights[day] + arr_h * S_PER_H
    ret_day = day + nights
    dep_s = midnights[ret_day] + ret_h * S_PER_H
    for _ in range(2):  # a return before arrival + min_stay_h moves a day later (twice at most)
        short = dep_s - arr_s < spec.min_stay_h * S_PER_H
        ret_day = ret_day + short
        dep_s = midnights[ret_day] + ret_h * S_PER_H
    end_s = midnights[n_total]
    keep = (dep_s > 0.0) & (arr_s < end_s)
    order = np.argsort(arr_s[keep], kind="stable")
    arr_s, dep_s = arr_s[keep][order], dep_s[keep][order]
    reserved, lead_h = reserved[keep][order], lead_h[keep][order]
    return pd.DataFrame(
        {
            "stay_id": [f"P{k:05d}" for k in range(len(arr_s))],
            "reserved": reserved,
            "booked_s": np.where(reserved, arr_s - lead_h * S_PER_H, np.nan),
            "arrival_s": arr_s,
            "departure_s": dep_s,
        }
    )


REASON_RESERVED = "reserved charger"
REASON_FREE = "free charger"
REASON_BOOKING_FULL = "no charger free for the whole reserved window"
REASON_FULL = "all chargers busy or reserved during the declared stay"


@dataclass(frozen=True)
class Decision:
    """The manager's answer to a booking or an arrival: charger index (-1 if rejected)."""

    stay_id: str
    accepted: bool
    charger: int
    group: str
    reason: str


class ParkingManager:
    """Charger (slot) assignment of the long-term car park; chargers numbered from 0.

    Every accepted stay holds one charger for a half-open window ``[start, end)``: a booking
    claims it for the reserved window when booked (:meth:`book`), a spontaneous arrival for
    ``[now, declared departure)`` (:meth:`arrive`), a release ends it early
    (:meth:`release`).  A charger is *free* for a window when no held window overlaps it; the
    lowest-numbered free charger is taken (first fit).  No charger is ever held twice at once,
    and a reservation's charger is never given away: spontaneous stays must leave before it
    is due.  The windows are numpy arrays (:meth:`table`).
    """

    def __init__(self, charger_groups: Sequence[tuple[str, int]]) -> None:
        """Create the manager for ``charger_groups`` (``(group name, number of chargers)``)."""
        names = [g for g, _ in charger_groups]
        if not names or len(set(names)) != len(names) or min(n for _, n in charger_groups) < 1:
            raise ScenarioError(
                "porto parking: charger_groups need unique names and >= 1 charger each, "
                f"got {list(charger_groups)}"
            )
        self.charger_group: tuple[str, ...] = tuple(g for g, n in charger_groups for _ in range(n))
        self._stay: list[str] = []
        self._row: dict[str, int] = {}
        self._charger = np.zeros(0, dtype=np.int64)
        self._start = np.zeros(0, dtype=float)
        self._end = np.zeros(0, dtype=float)
        self._reserved = np.zeros(0, dtype=bool)
        self._plugged = np.zeros(0, dtype=bool)
        self._released = np.zeros(0, dtype=bool)

    @property
    def n_chargers(self) -> int:
        """Number of chargers."""
        return len(self.charger_group)

    def busy_chargers(self, start_s: float, end_s: float) -> npt.NDArray[np.bool_]:
        """Per charger: whether a held window overlaps ``[start_s, end_s)``."""
        hit = (self._start < end_s) & (self._end > start_s)
        busy = np.zeros(self.n_chargers, dtype=bool)
        busy[self._charger[hit]] = True
        return busy

    def _window(self, stay_id: str, start_s: float, end_s: float, what: str) -> None:
        if stay_id in self._row:
            raise ScenarioError(
                f"porto parking: {what} of {stay_id!r}: the stay holds a charger already"
            )
        if not (math.isfinite(start_s) and math.isfinite(end_s) and end_s > start_s):
            raise ScenarioError(
                f"porto parking: {what} of {stay_id!r}: window [{start_s}, {end_s}) s must be "
                "finite with departure after arrival"
            )

    def _hold(self, stay_id: str, start_s: float, end_s: float, *, reserved: bool) -> int:
        free = np.flatnonzero(~self.busy_chargers(start_s, end_s))
        if free.size == 0:
            return -1
        charger = int(free[0])
        self._row[stay_id] = len(self._stay)
        self._stay.append(stay_id)
        self._charger = np.append(self._charger, charger)
        self._start = np.append(self._start, start_s)
        self._end = np.append(self._end, end_s)
        self._reserved = np.append(self._reserved, reserved)
        self._plugged = np.append(self._plugged, not reserved)
        self._released = np.append(self._released, False)
        return charger

    def _decision(self, stay_id: str, charger: int, ok: str, fail: str) -> Decision:
        if charger < 0:
            return Decision(stay_id, False, -1, "", fail)
        return Decision(stay_id, True, charger, self.charger_group[charger], ok)

    def book(self, stay_id: str, arrival_s: float, departure_s: float) -> Decision:
        """Step 1: reserve a charger for ``[arrival_s, departure_s)`` (rejected if none is free)."""
        self._window(stay_id, arrival_s, departure_s, "booking")
        charger = self._hold(stay_id, arrival_s, departure_s, reserved=True)
        return self._decision(stay_id, charger, REASON_RESERVED, REASON_BOOKING_FULL)

    def arrive(self, stay_id: str, t_s: float, departure_s: float) -> Decision:
        """Step 2: the car arrives at ``t_s`` declaring ``departure_s``; plug it in or reject it.

        A stay with a reservation gets its reserved charger (its reserved window stands; an
        arrival before the window opens is refused with :class:`ScenarioError`).  Otherwise
        the first charger free for ``[t_s, departure_s)``, or a rejection
        (:data:`REASON_FULL`).
        """
        row = self._row.get(stay_id)
        if row is not None and self._reserved[row]:
            if self._plugged[row] or self._released[row]:
                raise ScenarioError(f"porto parking: arrival of {stay_id!r}: it arrived already")
            if t_s < self._start[row]:
                raise ScenarioError(
                    f"porto parking: arrival of {stay_id!r} at {t_s} s is before its reserved "
                    f"window opens at {self._start[row]} s; rebook or arrive later"
                )
            if t_s >= self._end[row]:
                raise ScenarioError(
                    f"porto parking: arrival of {stay_id!r} at {t_s} s is after its reserved "
                    f"window closed at {self._end[row]} s"
                )
            self._plugged[row] = True
            charger = int(self._charger[row])
            return Decision(stay_id, True, charger, self.charger_group[charger], REASON_RESERVED)
        self._window(stay_id, t_s, departure_s, "arrival")
        charger = self._hold(stay_id, t_s, departure_s, reserved=False)
        return self._decision(stay_id, charger, REASON_FREE, REASON_FULL)

    def release(self, stay_id: str, t_s: float) -> int:
        """Step 19: the slot of ``stay_id`` is free from ``t_s`` on; return its charger."""
        row = self._row.get(stay_id)
        if row is None or not self._plugged[row] or self._released[row]:
            raise ScenarioError(
                f"porto parking: release of {stay_id!r}: the stay is not plugged in "
                "(never accepted, not arrived or released already)"
            )
        if not (math.isfinite(t_s) and t_s >= self._start[row]):
            raise ScenarioError(
                f"porto parking: release of {stay_id!r} at {t_s} s: must be finite and not "
                f"before its arrival ({self._start[row]} s)"
            )
        self._end[row] = min(float(self._end[row]), t_s)
        self._plugged[row] = False
        self._released[row] = True
        return int(self._charger[row])

    def table(self) -> pd.DataFrame:
        """Return every held window as a table.

        Columns ``stay_id, charger, group, start_s, end_s, reserved, plugged, released``.
        """
        return pd.DataFrame(
            {
                "stay_id": self._stay,
                "charger": self._charger.copy(),
                "group": [self.charger_group[int(c)] for c in self._charger],
                "start_s": self._start.copy(),
                "end_s": self._end.copy(),
                "reserved": self._reserved.copy(),
                "plugged": self._plugged.copy(),
                "released": self._released.copy(),
            }
        )


LOG_COLUMNS: tuple[str, ...] = (
    "stay_id",
    "reserved",
    "booking_accepted",
    "accepted",
    "charger",
    "group",
    "reason",
    "arrival_s",
    "departure_s",
    "seq_charger",
    "seq_arrival",
)
"""Columns of :func:`simulate`'s log: ``seq_charger`` is the event number of the decision that
gave the stay its charger (its booking or its arrival; -1 if rejected), ``seq_arrival`` the
arrival's event number (events are numbered in processing order)."""


def simulate(stays: pd.DataFrame, manager: ParkingManager) -> pd.DataFrame:
    """Run ``stays`` (:data:`STAY_COLUMNS`) through ``manager`` in time order; return the log.

    Events ordered by time, then kind (releases, bookings, arrivals), then table row: bookings at
    ``booked_s``, arrivals at ``arrival_s``, releases at ``departure_s`` of accepted stays.  A
    stay whose booking was rejected arrives as a spontaneous one.  One row per stay
    (:data:`LOG_COLUMNS`), in the stays' order.
    """
    missing = [c for c in STAY_COLUMNS if c not in stays.columns]
    if missing:
        raise ScenarioError(f"porto parking: stay table lacks columns {missing}")
    sid = stays["stay_id"].astype(str).to_numpy()
    reserved = stays["reserved"].to_numpy(dtype=bool)
    booked = stays["booked_s"].to_numpy(dtype=float)
    arr = stays["arrival_s"].to_numpy(dtype=float)
    dep = stays["departure_s"].to_numpy(dtype=float)
    n = len(sid)
    if len(set(sid)) != n:
        raise ScenarioError("porto parking: stay_id values must be unique")
    bad = reserved & ~(booked <= arr)
    if bad.any():
        raise ScenarioError(
            f"porto parking: stay {sid[np.flatnonzero(bad)[0]]!r}: booked_s must be finite and "
            "not after arrival_s for a reservation"
        )
    # kinds: 0 release (appended once accepted), 1 booking, 2 arrival
    book_rows = np.flatnonzero(reserved)
    times = np.concatenate([booked[book_rows], arr])
    kinds = np.concatenate([np.ones(len(book_rows), dtype=np.int64), np.full(n, 2, dtype=np.int64)])
    rows = np.concatenate([book_rows, np.arange(n)])
    events = list(zip(times.tolist(), kinds.tolist(), rows.tolist(), strict=True))
    heapq.heapify(events)
    booking_ok = np.zeros(n, dtype=bool)
    accepted = np.zeros(n, dtype=bool)
    charger = np.full(n, -1, dtype=np.int64)
    seq_charger = np.full(n, -1, dtype=np.int64)
    seq_arrival = np.full(n, -1, dtype=np.int64)
    reason = [""] * n
    seq = 0
    while events:
        t, kind, i = heapq.heappop(events)
        if kind == 0:
            manager.release(str(sid[i]), t)
        elif kind == 1:
            d = manager.book(str(sid[i]), arr[i], dep[i])
            booking_ok[i] = d.accepted
            if d.accepted:
                charger[i], seq_charger[i] = d.charger, seq
        else:
            d = manager.arrive(str(sid[i]), t, dep[i])
            accepted[i], reason[i], seq_arrival[i] = d.accepted, d.reason, seq
            if d.accepted:
                if not booking_ok[i]:
                    charger[i], seq_charger[i] = d.charger, seq
                heapq.heappush(events, (float(dep[i]), 0, i))
        seq += 1
    return pd.DataFrame(
        {
            "stay_id": sid,
            "reserved": reserved,
            "booking_accepted": booking_ok,
            "accepted": accepted,
            "charger": charger,
            "group": [manager.charger_group[int(c)] if c >= 0 else "" for c in charger],
            "reason": reason,
            "arrival_s": arr,
            "departure_s": dep,
            "seq_charger": seq_charger,
            "seq_arrival": seq_arrival,
        }
    )


def plugged_stay(log: pd.DataFrame, times_s: npt.ArrayLike, n_chargers: int) -> IntArray:
    """Row of ``log`` plugged into each charger at each time, -1 if none: shape (T, chargers).

    A stay is plugged in on ``[arrival_s, departure_s)`` at its charger when accepted.
    Vectorised over times and stays; raises :class:`ScenarioError` if two stays share a
    charger at one time (which :class:`ParkingManager` never lets happen).
    """
    t = np.asarray(times_s, dtype=float)[:, None]
    acc = log["accepted"].to_numpy(dtype=bool)
    rows = np.flatnonzero(acc)
    ch = log["charger"].to_numpy(dtype=np.int64)[rows]
    on = (log["arrival_s"].to_numpy(dtype=float)[rows] <= t) & (
        t < log["departure_s"].to_numpy(dtype=float)[rows]
    )
    out = np.full((t.shape[0], n_chargers), -1, dtype=np.int64)
    count = np.zeros((t.shape[0], n_chargers), dtype=np.int64)
    ti, si = np.nonzero(on)
    np.add.at(count, (ti, ch[si]), 1)
    if (count > 1).any():
        raise ScenarioError("porto parking: a charger holds two stays at once in the log")
    out[ti, ch[si]] = rows[si]
    return out


__all__ = [
    "ARRIVAL_HOUR_WEIGHTS",
    "LOG_COLUMNS",
    "NIGHTS_P",
    "REASON_BOOKING_FULL",
    "REASON_FREE",
    "REASON_FULL",
    "REASON_RESERVED",
    "RETURN_HOUR_WEIGHTS",
    "STAY_COLUMNS",
    "STREAM",
    "WEEKDAY_WEIGHTS",
    "Decision",
    "ParkingManager",
    "StaySpec",
    "draw_stays",
    "plugged_stay",
    "simulate",
]
