"""Charging sessions of a run: states, connectors, arrivals and departures, metering, the table.

A :class:`SessionBook` keeps every session known before the run (one *row* per session, e.g.
drawn users' visits in arrival order) on a step grid: a session arrives at step
``arrival_k`` and leaves at ``departure_k`` (``> arrival_k``); it is connected during the steps
``[arrival_k, departure_k)``.

**States.**  ``waiting`` until its arrival step; then ``connected`` (table: ``open``) when its
site (:class:`~v2xcosim.domain.cs_ems.ChargingSite`) allocates a connector (the lowest free one),
or ``rejected`` when the site is full (the driver leaves); a connected session is ``left``
(table: ``completed``) from its departure step on, which frees its connector.  Per step,
departures come before arrivals, so a connector freed at step ``k`` serves an arrival at ``k``.

**Slots.**  Each session has a *slot* at its site: its position among the site's sessions in
row order (:func:`assign_slots`), the index of its entry in a vectorised model of the site (one
model slot per session of the horizon; slots of sessions not connected are idle).

**Metering.**  :meth:`SessionBook.meter` takes, per site and slot, the SOC at step ``k`` and the
power drawn during step ``k − 1`` [W, load convention]: connected sessions take the SOC, and
the energy ``P·Δt`` [kWh] of sessions connected during step ``k − 1`` is booked on that step
(``energy_kwh``, sessions × steps; + = charged, − = discharged).

**Reuse.**  The ``sites`` use case keeps its own
:class:`~v2xcosim.domain.charging.Sessions` (fixed EV slots with a list of stays each); the
two are not merged yet.  The book assumes nothing about the length of a stay or of the run, so a
later use case with other sessions (e.g. airport parking with multi-day stays) can use it as it
is: the caller draws the sessions, owns the trace and the money, and asks the book who arrives,
who leaves and what was metered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.cs_ems import ChargingSite

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

WAITING, CONNECTED, LEFT, REJECTED = 0, 1, 2, 3
"""Session states (values of :attr:`SessionBook.status`)."""
STATUS_NAMES = {WAITING: "waiting", CONNECTED: "open", LEFT: "completed", REJECTED: "rejected"}
"""State names of the sessions table."""


def assign_slots(site_of: Sequence[str], sites: Sequence[str]) -> IntArray:
    """Slot of every session: its position among the sessions of its site, in row order."""
    slot = np.zeros(len(site_of), dtype=np.int64)
    for s in sites:
        rows = np.flatnonzero(np.array([x == s for x in site_of], dtype=bool))
        slot[rows] = np.arange(len(rows))
    return slot


@dataclass(frozen=True)
class SessionEvent:
    """A session that arrived or left at a step (``connector_id`` None: rejected, site full)."""

    row: int
    session_id: str
    site: str
    connector_id: str | None


class SessionBook:
    """Sessions of a run with their state, connector, SOC and metered energy (module doc)."""

    def __init__(
        self,
        session_ids: Sequence[str],
        site_of: Sequence[str],
        arrival_k: IntArray,
        departure_k: IntArray,
        sites: Mapping[str, ChargingSite],
        *,
        soc_arrival: FloatArray,
        n_steps: int,
        step_s: int,
        slot: IntArray | None = None,
    ) -> None:
        """Sessions (one row each) at ``sites``; ``slot`` defaults to :func:`assign_slots`."""
        n = len(session_ids)
        self.session_id = tuple(session_ids)
        self.site_of = tuple(site_of)
        self.arrival_k = np.asarray(arrival_k, dtype=np.int64)
        self.departure_k = np.asarray(departure_k, dtype=np.int64)
        if len(self.site_of) != n or self.arrival_k.shape != (n,) or self.departure_k.shape != (n,):
            raise ScenarioError("sessions: ids, sites, arrival and departure need one entry each")
        if np.any(self.departure_k <= self.arrival_k):
            raise ScenarioError("sessions: every session must leave after the step it arrives")
        unknown = sorted(set(self.site_of) - set(sites))
        if unknown:
            raise ScenarioError(f"sessions: unknown site(s) {', '.join(unknown)}")
        self.sites = dict(sites)
        self.n_steps = n_steps
        self.step_s = step_s
        self.slot = assign_slots(self.site_of, tuple(sites)) if slot is None else slot
        self.status = np.full(n, WAITING, dtype=np.int64)
        self.connector: list[str | None] = [None] * n
        self.soc = np.asarray(soc_arrival, dtype=float).copy()
        self.soc_departure = np.full(n, np.nan)
        self.energy_kwh = np.zeros((n, n_steps))
        self._rows = {site: self._site_rows(site) for site in self.sites}

    def __len__(self) -> int:
        """Return the number of sessions."""
        return len(self.session_id)

    def _site_rows(self, site: str) -> IntArray:
        rows = np.flatnonzero(np.array([s == site for s in self.site_of], dtype=bool))
        out: IntArray = rows[np.argsort(self.slot[rows], kind="stable")].astype(np.int64)
        return out

    def site_rows(self, site: str) -> IntArray:
        """Rows of the sessions of ``site`` in slot order."""
        return self._rows[site]

    def connected(self, rows: IntArray) -> BoolArray:
        """Tell which of ``rows`` are connected."""
        out: BoolArray = self.status[rows] == CONNECTED
        return out

    # ------------------------------------------------------------------ per step
    def meter(self, k: int, site: str, soc: FloatArray, p_prev_w: FloatArray) -> None:
        """Book ``site``'s readings at step ``k`` per slot: SOC now, power of step ``k − 1``."""
        rows = self._rows[site]
        slots = self.slot[rows]
        live = self.status[rows] == CONNECTED
        self.soc[rows[live]] = soc[slots[live]]
        if k > 0:
            was = (self.arrival_k[rows] <= k - 1) & (self.status[rows] == CONNECTED)
            self.energy_kwh[rows[was], k - 1] = p_prev_w[slots[was]] * self.step_s / 3.6e6

    def depart(self, k: int) -> list[SessionEvent]:
        """Sessions leaving at step ``k`` (row order): release the connector, keep the SOC."""
        out = []
        for i in map(int, np.flatnonzero((self.status == CONNECTED) & (self.departure_k == k))):
            site = self.site_of[i]
            cid = self.sites[site].release(self.session_id[i])
            self.status[i] = LEFT
            self.soc_departure[i] = self.soc[i]
            out.append(SessionEvent(i, self.session_id[i], site, cid))
        return out

    def arrive(self, k: int) -> list[SessionEvent]:
        """Sessions arriving at step ``k`` (row order): a connector each, or rejected if full."""
        out = []
        for i in map(int, np.flatnonzero((self.status == WAITING) & (self.arrival_k == k))):
            site = self.site_of[i]
            cid = self.sites[site].allocate(self.session_id[i])
            self.status[i] = REJECTED if cid is None else CONNECTED
            self.connector[i] = cid
            out.append(SessionEvent(i, self.session_id[i], site, cid))
        return out

    # ------------------------------------------------------------------ meters and table
    def charged_kwh(self, i: int) -> float:
        """Energy charged by session ``i`` so far [kWh]."""
        return float(np.sum(np.clip(self.energy_kwh[i], 0, None)))

    def discharged_kwh(self, i: int) -> float:
        """Energy discharged by session ``i`` so far [kWh, ≥ 0]."""
        return float(-np.sum(np.clip(self.energy_kwh[i], None, 0)))

    def columns(self) -> dict[str, Any]:
        """Return the book's columns of the sessions table, one entry per session.

        ``session_id``, ``site``, ``slot``, ``connector_id`` (empty if never connected),
        ``status``, ``arrival_s``, ``departure_s`` (step times), ``energy_charged_kwh``,
        ``energy_discharged_kwh``.
        """
        return {
            "session_id": list(self.session_id),
            "site": list(self.site_of),
            "slot": self.slot,
            "connector_id": [c or "" for c in self.connector],
            "status": [STATUS_NAMES[int(x)] for x in self.status],
            "arrival_s": (self.arrival_k * self.step_s).astype(float),
            "departure_s": (self.departure_k * self.step_s).astype(float),
            "energy_charged_kwh": np.clip(self.energy_kwh, 0, None).sum(axis=1),
            "energy_discharged_kwh": -np.clip(self.energy_kwh, None, 0).sum(axis=1),
        }

    def frame(self, extra: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """One row per session: :meth:`columns`, then the caller's ``extra`` columns."""
        return pd.DataFrame({**self.columns(), **(extra or {})})


__all__ = [
    "CONNECTED",
    "LEFT",
    "REJECTED",
    "STATUS_NAMES",
    "WAITING",
    "SessionBook",
    "SessionEvent",
    "assign_slots",
]
