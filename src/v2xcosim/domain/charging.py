"""Charging sessions and the demo's uncontrolled charging controller (vectorised, no mosaik).

Sessions: one per EV and local calendar day of the horizon, drawn from the EV's own stream
(:func:`v2xcosim.core.rng.rng_for` with name ``"<site>/ev<i>"``).  Arrival and departure are
rounded to the step grid (arrival up, departure down) so an EV is connected for whole steps; a
session that would overlap the previous one of the same EV, or is shorter than one step, is
dropped.  Only the first session's arrival SOC is used, as the battery's start SOC; between
sessions the battery keeps its SOC (driving consumption is not modelled by this demo actor —
the EV-user actor of the use-case scenarios replaces it).

Controller (``uncontrolled``): while connected and below the target SOC, charge at
``p_max_kw``; optionally tapered in the last step so the target is not overshot
(``capacity_kwh``).  Unplugged EVs get 0 W.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from v2xcosim.core.rng import rng_for
from v2xcosim.core.units import J_PER_KWH, W_PER_KW

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class SessionSpec(Protocol):
    """The session distribution of a site (schema: ``sites[].sessions`` of the sites use case).

    Arrival time of day [h, local] ~ Normal(``arrival_mean_h``, ``arrival_std_h``); duration [h]
    ~ Normal(``duration_mean_h``, ``duration_std_h``) but at least ``min_duration_h``; arrival SOC
    ~ Uniform(``soc_arrival_min``, ``soc_arrival_max``); wish ``soc_target``.
    """

    @property
    def arrival_mean_h(self) -> float: ...  # noqa: D102
    @property
    def arrival_std_h(self) -> float: ...  # noqa: D102
    @property
    def duration_mean_h(self) -> float: ...  # noqa: D102
    @property
    def duration_std_h(self) -> float: ...  # noqa: D102
    @property
    def min_duration_h(self) -> float: ...  # noqa: D102
    @property
    def soc_arrival_min(self) -> float: ...  # noqa: D102
    @property
    def soc_arrival_max(self) -> float: ...  # noqa: D102
    @property
    def soc_target(self) -> float: ...  # noqa: D102


@dataclass(frozen=True)
class Sessions:
    """Sessions of a site as arrays (n_evs × max sessions), times in s since the run start.

    Unused slots hold ``arrival_s = departure_s = +inf`` (never connected).
    """

    arrival_s: FloatArray
    departure_s: FloatArray
    soc_arrival: FloatArray
    soc_target: FloatArray

    @property
    def n_evs(self) -> int:
        """Number of EVs."""
        return int(self.arrival_s.shape[0])

    def count(self) -> int:
        """Count the real sessions."""
        return int(np.isfinite(self.arrival_s).sum())

    def to_json(self) -> dict[str, Any]:
        """JSON data (``None`` for an unused slot's +inf) for a simulator in any process."""

        def rows(a: FloatArray) -> list[list[float | None]]:
            return [[float(x) if np.isfinite(x) else None for x in row] for row in a]

        return {
            "arrival_s": rows(self.arrival_s),
            "departure_s": rows(self.departure_s),
            "soc_arrival": self.soc_arrival.tolist(),
            "soc_target": self.soc_target.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sessions:
        """Rebuild sessions from :meth:`to_json` data (bit-identical values)."""

        def mat(rows: list[list[float | None]]) -> FloatArray:
            return np.array([[np.inf if x is None else x for x in r] for r in rows], dtype=float)

        return cls(
            arrival_s=mat(data["arrival_s"]),
            departure_s=mat(data["departure_s"]),
            soc_arrival=np.asarray(data["soc_arrival"], dtype=float),
            soc_target=np.asarray(data["soc_target"], dtype=float),
        )


def generate_sessions(
    spec: SessionSpec,
    *,
    site_id: str,
    n_evs: int,
    seed: int,
    start: dt.datetime,
    duration_s: int,
    step_s: int,
) -> Sessions:
    """Draw the sessions of ``n_evs`` EVs of ``site_id`` over the horizon (see module doc)."""
    tz = start.tzinfo
    first_day = start.date()
    last_day = (start + dt.timedelta(seconds=duration_s)).date()
    days = [first_day + dt.timedelta(days=k) for k in range((last_day - first_day).days + 1)]
    midnights = np.array(
        [(dt.datetime.combine(d, dt.time(0), tzinfo=tz) - start).total_seconds() for d in days],
        dtype=float,
    )
    n_days = len(days)
    arr = np.full((n_evs, n_days), np.inf)
    dep = np.full((n_evs, n_days), np.inf)
    soc0 = np.empty(n_evs)
    for i in range(n_evs):  # set-up only: one independent stream per EV
        rng = rng_for(seed, f"{site_id}/ev{i}")
        hours = np.clip(rng.normal(spec.arrival_mean_h, spec.arrival_std_h, n_days), 0.0, 23.99)
        length = np.maximum(
            rng.normal(spec.duration_mean_h, spec.duration_std_h, n_days), spec.min_duration_h
        )
        soc0[i] = rng.uniform(spec.soc_arrival_min, spec.soc_arrival_max)
        a = np.ceil((midnights + hours * 3600.0) / step_s) * step_s
        d = np.floor((midnights + (hours + length) * 3600.0) / step_s) * step_s
        a = np.maximum(a, 0.0)
        d = np.minimum(d, float(duration_s))
        prev_dep = -np.inf
        k = 0
        for j in range(n_days):
            if d[j] - a[j] >= step_s and a[j] >= prev_dep and a[j] < duration_s:
                arr[i, k], dep[i, k] = a[j], d[j]
                prev_dep = d[j]
                k += 1
    return Sessions(
        arrival_s=arr,
        departure_s=dep,
        soc_arrival=soc0,
        soc_target=np.full(n_evs, spec.soc_target),
    )


class UncontrolledCharging:
    """Charge at rated power from arrival until the target SOC (vectorised over EVs)."""

    def __init__(
        self, p_max_kw: float, capacity_kwh: float | None, sessions: Sessions, step_s: int
    ) -> None:
        """Control ``sessions`` at ``p_max_kw`` per EV with steps of ``step_s`` s.

        ``capacity_kwh`` (usable battery energy, optional) tapers the last step so that the
        target SOC is not overshot.
        """
        self.sessions = sessions
        self.step_s = step_s
        self.p_max_w = p_max_kw * W_PER_KW
        self._ptr = np.zeros(sessions.n_evs, dtype=np.int64)
        self._rows = np.arange(sessions.n_evs)
        self._cap_j = None if capacity_kwh is None else capacity_kwh * J_PER_KWH

    def connected(self, time_s: float) -> npt.NDArray[np.bool_]:
        """Which EVs are plugged in during [time_s, time_s + step)."""
        s = self.sessions
        n_slots = s.departure_s.shape[1]
        # advance each EV's pointer past sessions that have ended (vector op, loops only while
        # some pointer moves — at most once per session over the run)
        while True:
            ptr = np.minimum(self._ptr, n_slots - 1)
            ended = (s.departure_s[self._rows, ptr] <= time_s) & (self._ptr < n_slots)
            if not ended.any():
                break
            self._ptr = self._ptr + ended
        ptr = np.minimum(self._ptr, n_slots - 1)
        live = self._ptr < n_slots
        plugged: npt.NDArray[np.bool_] = (
            live
            & (s.arrival_s[self._rows, ptr] <= time_s)
            & (time_s < s.departure_s[self._rows, ptr])
        )
        return plugged

    def setpoints(self, time_s: float, soc: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """Active-power setpoints [W] (+ = charging) and the plugged-in mask at ``time_s``."""
        plugged = self.connected(time_s)
        want = plugged & (soc < self.sessions.soc_target)
        p = np.where(want, self.p_max_w, 0.0)
        if self._cap_j is not None:
            room_w = (self.sessions.soc_target - soc) * self._cap_j / self.step_s
            p = np.minimum(p, np.maximum(room_w, 0.0))
        return p, plugged
