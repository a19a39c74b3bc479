"""The smart-charging web app's backend at Porto airport (use-case steps 3–6, 11, 12, 16–20).

Plain Python (no mosaik).  One session per plugged-in stay, created from the parking
manager's accepted :class:`~v2xcosim.usecases.porto.parking.Decision` and the stay's car and
user (a row of :func:`~v2xcosim.usecases.porto.fleet.draw_fleet`'s table):

* :meth:`WebApp.plug_in` — step 3 session creation (the user opens the app at the charger);
  3.1 GDPR consent and registration, the first time a user comes (a user who refuses is asked
  again next time); 4 departure time (the stay's declared departure) and minimum SOC at
  departure (``soc_wish``) with the V2B floor (``soc_min``); 5 start; 6 the requirements to the
  CS EMS (:class:`SessionRequirements`).  A user who refuses consent does not use the app: the
  session is *not managed* — the CS EMS charges it as a plain charger does, at once and until
  full (``soc_wish`` 1, no discharge), and steps 4–5 do not happen.
* :meth:`WebApp.stop` — step 11 the user stops (or the car's departure stops it), 12 the
  end-of-session signal to the CS EMS.
* :meth:`WebApp.close` — 16 the CS EMS's statistics (:class:`SessionStatistics`, built with
  :func:`session_statistics` from the metered AC power), 17 the report, 18 statistics and bill to
  the user, 19 the parking release (:meth:`ParkingManager.release`), 20 the user leaves.

Steps 7–10 and 13–15 are the CS EMS's and CS controller's exchanges, recorded by them.

Every exchange goes through the ``record`` callback with the signature of
:meth:`v2xcosim.core.trace.TraceRecorder.record` — ``(time_utc, step, sender, receiver, info,
payload)``, the payload being the message (its class name is the trace's ``payload_type``), so a
use case passes ``TraceRecorder(start, "porto", PORTO_STEPS).record``.

**Bill** (:meth:`WebApp.bill`; the rule of :mod:`v2xcosim.domain.billing`, shared with the
street-charging use case's EMSP): the user pays ``tariff_eur_per_kwh`` ×
``(E_ch − E_dis/(η_c·η_d))⁺`` — the energy the BEMS borrowed is returned to him at the
tariff, so V2B never costs him the round trip — and
receives ``v2b_compensation_eur_per_kwh`` × ``E_dis`` for lending the car (wear and service);
net = cost − compensation.  ``E_ch``, ``E_dis``: energies charged and discharged at the charger
(AC meter) [kWh].  Defaults (**assumptions**, :class:`WebAppConfig`): tariff 0.30 EUR/kWh (the
order of a Portuguese public AC charge with network access and the Mobi.E fee; no official
figure used) and compensation 0.10 EUR/kWh discharged (five times the 20 EUR/MWh battery
degradation cost the street-charging EMSP prices a kWh of throughput at — so lending
pays).  The DriVe2X Porto demo compensates owners (drive2x.eu) without a published rate.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import (
    Registration,
    SessionCreation,
    StartRequest,
    StopCharging,
    UserPreferences,
    UserStatement,
)
from v2xcosim.core.units import J_PER_KWH, W_PER_KW
from v2xcosim.domain.billing import user_statement
from v2xcosim.usecases.porto.parking import Decision, ParkingManager

Record = Callable[[dt.datetime, str, str, str, str, object], None]
"""``(time_utc, step, sender, receiver, info, payload)``: :meth:`TraceRecorder.record`."""

WEB_APP = "web_app"
CS_EMS = "cs_ems"
PARKING = "parking"
SITE = "porto/long_term_car_park"


@dataclass(frozen=True)
class WebAppConfig:
    """Billing parameters [EUR/kWh; efficiencies in (0, 1]] (module docstring: assumptions).

    ``credit_eta_charge``, ``credit_eta_discharge``: each kWh fed back is credited at
    ``1/(η_c·η_d)`` kWh (:func:`v2xcosim.domain.billing.billed_kwh`); 1 each: net energy.
    """

    tariff_eur_per_kwh: float = 0.30
    v2b_compensation_eur_per_kwh: float = 0.10
    credit_eta_charge: float = 1.0
    credit_eta_discharge: float = 1.0

    def validate(self) -> None:
        """Raise :class:`ScenarioError` listing every bad parameter (key named)."""
        bad: list[str] = []
        for key in ("tariff_eur_per_kwh", "v2b_compensation_eur_per_kwh"):
            v = getattr(self, key)
            if not (math.isfinite(v) and v >= 0):
                bad.append(f"{key} must be finite and >= 0, got {v}")
        for key in ("credit_eta_charge", "credit_eta_discharge"):
            v = getattr(self, key)
            if not 0.0 < v <= 1.0:
                bad.append(f"{key} must be in (0, 1], got {v}")
        if bad:
            raise ScenarioError("porto web app: " + "; ".join(bad))


def _check_utc(obj: object, name: str) -> None:
    v = getattr(obj, name)
    if not isinstance(v, dt.datetime) or v.utcoffset() != dt.timedelta(0):
        raise ScenarioError(f"{type(obj).__name__}.{name}: must be a UTC datetime, got {v!r}")


def _check(obj: object, name: str, ok: bool, why: str) -> None:
    if not ok:
        raise ScenarioError(f"{type(obj).__name__}.{name}: {why}, got {getattr(obj, name)!r}")


def _frac(x: float) -> bool:
    return math.isfinite(x) and 0.0 <= x <= 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRequirements:
    """Step 6: what the web app tells the CS EMS about a session (W, SOC fractions, UTC).

    ``managed`` False: the user refused consent; charge at once to full, never discharge.
    ``p_max_discharge_w`` is 0 unless the car can do V2B and the user consented.
    """

    session_id: str
    user_id: str
    charger: int
    group: str
    time_utc: dt.datetime
    departure_utc: dt.datetime
    capacity_kwh: float
    soc_arrival: float
    soc_wish: float
    soc_min: float
    p_max_charge_w: float
    p_max_discharge_w: float
    managed: bool

    def __post_init__(self) -> None:
        _check_utc(self, "time_utc")
        _check_utc(self, "departure_utc")
        _check(self, "departure_utc", self.departure_utc > self.time_utc, "must be after time_utc")
        for name in ("soc_arrival", "soc_wish", "soc_min"):
            _check(self, name, _frac(getattr(self, name)), "must be a fraction in [0, 1]")
        _check(self, "soc_min", self.soc_min <= self.soc_wish, "must not exceed soc_wish")
        _check(self, "capacity_kwh", self.capacity_kwh > 0, "must be > 0")
        for name in ("p_max_charge_w", "p_max_discharge_w"):
            v = getattr(self, name)
            _check(self, name, math.isfinite(v) and v >= 0, "must be finite and >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStatistics:
    """Step 16: a session's statistics from the CS EMS (kWh at the AC meter, s, SOC fractions)."""

    session_id: str
    time_utc: dt.datetime
    energy_charged_kwh: float
    energy_discharged_kwh: float
    soc_arrival: float
    soc_end: float
    plugged_s: float

    def __post_init__(self) -> None:
        _check_utc(self, "time_utc")
        for name in ("energy_charged_kwh", "energy_discharged_kwh", "plugged_s"):
            v = getattr(self, name)
            _check(self, name, math.isfinite(v) and v >= 0, "must be finite and >= 0")
        for name in ("soc_arrival", "soc_end"):
            _check(self, name, _frac(getattr(self, name)), "must be a fraction in [0, 1]")


@dataclass(frozen=True, slots=True, kw_only=True)
class ParkingRelease:
    """Step 19: the web app tells parking management the slot (charger) is free."""

    session_id: str
    charger: int
    time_utc: dt.datetime

    def __post_init__(self) -> None:
        _check_utc(self, "time_utc")


def session_statistics(
    session_id: str,
    time_utc: dt.datetime,
    p_w: npt.ArrayLike,
    step_s: float,
    *,
    soc_arrival: float,
    soc_end: float,
) -> SessionStatistics:
    """Statistics of a session from its metered AC power ``p_w`` [W, + = charging] per step.

    ``E_ch = Σ max(P, 0)·Δt``, ``E_dis = Σ max(−P, 0)·Δt`` [kWh]; time plugged = steps × Δt.
    """
    p = np.asarray(p_w, dtype=float)
    if p.ndim != 1 or not np.all(np.isfinite(p)):
        raise ScenarioError(f"porto web app: p_w of {session_id!r} must be finite, one per step")
    if not (math.isfinite(step_s) and step_s > 0):
        raise ScenarioError(f"porto web app: step_s must be finite and > 0, got {step_s}")
    return SessionStatistics(
        session_id=session_id,
        time_utc=time_utc,
        energy_charged_kwh=float(np.clip(p, 0.0, None).sum() * step_s / J_PER_KWH),
        energy_discharged_kwh=float(np.clip(-p, 0.0, None).sum() * step_s / J_PER_KWH),
        soc_arrival=soc_arrival,
        soc_end=soc_end,
        plugged_s=float(p.size * step_s),
    )


EV_KEYS: tuple[str, ...] = (
    "stay_id",
    "user_id",
    "capacity_kwh",
    "soc_arrival",
    "soc_min",
    "soc_wish",
    "p_max_charge_kw",
    "p_max_discharge_kw",
    "v2b",
    "consent",
    "departure_s",
)
"""Keys :meth:`WebApp.plug_in` reads from a stay's car (a row of the fleet table)."""


@dataclass
class _Session:
    requirements: SessionRequirements
    plugged_s: float
    state: str = "started"
    stopped_s: float = math.nan
    statement: UserStatement | None = None
    stats: SessionStatistics | None = None


class WebApp:
    """The web app's backend for one run (module docstring); times in s since ``start_utc``."""

    def __init__(
        self,
        config: WebAppConfig,
        *,
        start_utc: dt.datetime,
        record: Record,
        parking: ParkingManager | None = None,
    ) -> None:
        """Create the backend; ``parking`` (if given) is told of each release (step 19)."""
        config.validate()
        if start_utc.utcoffset() != dt.timedelta(0):
            raise ScenarioError(f"porto web app: start_utc must be UTC, got {start_utc!r}")
        self.config = config
        self.start_utc = start_utc
        self._record = record
        self._parking = parking
        self._registered: set[str] = set()
        self._sessions: dict[str, _Session] = {}

    def _utc(self, t_s: float, what: str) -> dt.datetime:
        if not math.isfinite(t_s):
            raise ScenarioError(f"porto web app: {what}: time {t_s} s must be finite")
        return self.start_utc + dt.timedelta(seconds=float(t_s))

    def _session(self, session_id: str, state: str, what: str) -> _Session:
        s = self._sessions.get(session_id)
        if s is None:
            raise ScenarioError(f"porto web app: {what} of unknown session {session_id!r}")
        if s.state != state:
            raise ScenarioError(
                f"porto web app: {what} of session {session_id!r}: it is {s.state!r}, not {state!r}"
            )
        return s

    def plug_in(self, t_s: float, decision: Decision, ev: Mapping[str, Any]) -> SessionRequirements:
        """Run steps 3–6 for the car ``ev`` plugged in at ``t_s`` at ``decision``'s charger."""
        missing = [k for k in EV_KEYS if k not in ev]
        if missing:
            raise ScenarioError(f"porto web app: the car lacks keys {missing}")
        sid, uid = str(ev["stay_id"]), str(ev["user_id"])
        if not decision.accepted or decision.charger < 0:
            raise ScenarioError(
                f"porto web app: stay {sid!r} was rejected ({decision.reason}); no session"
            )
        if decision.stay_id != sid:
            raise ScenarioError(
                f"porto web app: decision of {decision.stay_id!r} given for the car of {sid!r}"
            )
        if sid in self._sessions:
            raise ScenarioError(f"porto web app: session {sid!r} exists already")
        t = self._utc(t_s, f"plug-in of {sid!r}")
        dep_s = float(ev["departure_s"])
        if not (math.isfinite(dep_s) and dep_s > t_s):
            raise ScenarioError(
                f"porto web app: departure_s of {sid!r} ({dep_s}) must be after the plug-in "
                f"({t_s} s)"
            )
        dep = self._utc(dep_s, f"departure of {sid!r}")
        consent = bool(ev["consent"])
        creation = SessionCreation(user_id=uid, session_id=sid, site_id=SITE, time_utc=t)
        info = f"session {sid}: created at charger {decision.charger}"
        self._record(t, "3", uid, WEB_APP, info, creation)
        if uid not in self._registered:
            reg = Registration(user_id=uid, time_utc=t, gdpr_consent=consent, v2g_opt_in=consent)
            info = "accepts GDPR terms, registers" if consent else "refuses GDPR terms"
            self._record(t, "3.1", uid, WEB_APP, f"session {sid}: {info}", reg)
            if consent:
                self._registered.add(uid)
        v2b = bool(ev["v2b"]) and consent
        req = SessionRequirements(
            session_id=sid,
            user_id=uid,
            charger=decision.charger,
            group=decision.group,
            time_utc=t,
            departure_utc=dep,
            capacity_kwh=float(ev["capacity_kwh"]),
            soc_arrival=float(ev["soc_arrival"]),
            soc_wish=float(ev["soc_wish"]) if consent else 1.0,
            soc_min=float(ev["soc_min"]) if consent else 0.0,
            p_max_charge_w=float(ev["p_max_charge_kw"]) * W_PER_KW,
            p_max_discharge_w=float(ev["p_max_discharge_kw"]) * W_PER_KW if v2b else 0.0,
            managed=consent,
        )
        if consent:
            prefs = UserPreferences(
                user_id=uid,
                session_id=sid,
                departure_utc=dep,
                soc_departure=req.soc_wish,
                soc_min=req.soc_min,
                price_threshold_eur_per_mwh=0.0,
            )
            info = (
                f"session {sid}: departure {dep:%Y-%m-%d %H:%M}Z, "
                f"SOC at departure {req.soc_wish:.2f}, floor {req.soc_min:.2f}"
            )
            self._record(t, "4", uid, WEB_APP, info, prefs)
            start = StartRequest(user_id=uid, session_id=sid, time_utc=t)
            self._record(t, "5", uid, WEB_APP, f"session {sid}: start", start)
        mode = ("V2B" if v2b else "smart charging") if consent else "plain charging"
        self._record(t, "6", WEB_APP, CS_EMS, f"session {sid}: requirements, {mode}", req)
        self._sessions[sid] = _Session(requirements=req, plugged_s=float(t_s))
        return req

    def stop(
        self, t_s: float, session_id: str, soc: float, *, reason: str = "user stop"
    ) -> StopCharging:
        """Run steps 11–12: the user stops ``session_id`` at ``t_s`` with the car at ``soc``."""
        s = self._session(session_id, "started", "stop")
        t = self._utc(t_s, f"stop of {session_id!r}")
        if t_s < s.plugged_s:
            raise ScenarioError(
                f"porto web app: stop of {session_id!r} at {t_s} s is before its plug-in "
                f"({s.plugged_s} s)"
            )
        req = s.requirements
        msg = StopCharging(
            session_id=session_id, connector_id=str(req.charger), time_utc=t, soc=soc, reason=reason
        )
        self._record(t, "11", req.user_id, WEB_APP, f"session {session_id}: stop ({reason})", msg)
        self._record(t, "12", WEB_APP, CS_EMS, f"session {session_id}: end of session", msg)
        s.state, s.stopped_s = "stopped", float(t_s)
        return msg

    def bill(self, user_id: str, stats: SessionStatistics) -> UserStatement:
        """Return the bill of a session from its statistics (module docstring's rule)."""
        c = self.config
        return user_statement(
            user_id,
            stats.session_id,
            energy_charged_kwh=stats.energy_charged_kwh,
            energy_discharged_kwh=stats.energy_discharged_kwh,
            soc_departure=stats.soc_end,
            tariff_eur_per_kwh=c.tariff_eur_per_kwh,
            incentive_eur=c.v2b_compensation_eur_per_kwh * stats.energy_discharged_kwh,
            eta_charge=c.credit_eta_charge,
            eta_discharge=c.credit_eta_discharge,
        )

    def close(self, stats: SessionStatistics) -> UserStatement:
        """Run steps 16–20: statistics in, report and bill out, slot released, user leaves."""
        sid = stats.session_id
        s = self._session(sid, "stopped", "statistics")
        t = stats.time_utc
        if t < self._utc(s.stopped_s, sid):
            raise ScenarioError(f"porto web app: statistics of {sid!r} dated before its stop")
        req = s.requirements
        if req.p_max_discharge_w == 0.0 and stats.energy_discharged_kwh > 0.0:
            raise ScenarioError(
                f"porto web app: statistics of {sid!r} show {stats.energy_discharged_kwh} kWh "
                "discharged, but the session may not discharge"
            )
        self._record(t, "16", CS_EMS, WEB_APP, f"session {sid}: statistics", stats)
        st = self.bill(req.user_id, stats)
        self._record(t, "17", WEB_APP, WEB_APP, f"session {sid}: report built", st)
        info = (
            f"session {sid}: {st.energy_charged_kwh:.2f} kWh in, "
            f"{st.energy_discharged_kwh:.2f} kWh out, pays {st.net_eur:.2f} EUR"
        )
        self._record(t, "18", WEB_APP, req.user_id, info, st)
        t_rel_s = (t - self.start_utc).total_seconds()
        if self._parking is not None:
            self._parking.release(sid, t_rel_s)
        rel = ParkingRelease(session_id=sid, charger=req.charger, time_utc=t)
        self._record(t, "19", WEB_APP, PARKING, f"session {sid}: charger {req.charger} free", rel)
        self._record(t, "20", req.user_id, PARKING, f"session {sid}: user leaves", rel)
        s.state, s.stats, s.statement = "closed", stats, st
        return st

    def requirements(self, session_id: str) -> SessionRequirements:
        """Return the step-6 requirements of ``session_id``."""
        s = self._sessions.get(session_id)
        if s is None:
            raise ScenarioError(f"porto web app: unknown session {session_id!r}")
        return s.requirements

    def table(self) -> pd.DataFrame:
        """Return every session: requirements, state, statistics and bill (NaN until closed)."""
        rows = []
        for sid, s in self._sessions.items():
            r = s.requirements
            st, stats = s.statement, s.stats
            rows.append(
                {
                    "session_id": sid,
                    "user_id": r.user_id,
                    "charger": r.charger,
                    "group": r.group,
                    "managed": r.managed,
                    "v2b": r.p_max_discharge_w > 0,
                    "state": s.state,
                    "plugged_s": s.plugged_s,
                    "stopped_s": s.stopped_s,
                    "time_plugged_s": stats.plugged_s if stats else math.nan,
                    "soc_arrival": r.soc_arrival,
                    "soc_wish": r.soc_wish,
                    "soc_end": stats.soc_end if stats else math.nan,
                    "energy_charged_kwh": st.energy_charged_kwh if st else math.nan,
                    "energy_discharged_kwh": st.energy_discharged_kwh if st else math.nan,
                    "energy_cost_eur": st.energy_cost_eur if st else math.nan,
                    "compensation_eur": st.incentive_eur if st else math.nan,
                    "net_eur": st.net_eur if st else math.nan,
                }
            )
        return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


TABLE_COLUMNS: tuple[str, ...] = (
    "session_id",
    "user_id",
    "charger",
    "group",
    "managed",
    "v2b",
    "state",
    "plugged_s",
    "stopped_s",
    "time_plugged_s",
    "soc_arrival",
    "soc_wish",
    "soc_end",
    "energy_charged_kwh",
    "energy_discharged_kwh",
    "energy_cost_eur",
    "compensation_eur",
    "net_eur",
)
"""Columns of :meth:`WebApp.table` (kWh, EUR, s since the run start, SOC fractions)."""

__all__ = [
    "CS_EMS",
    "EV_KEYS",
    "PARKING",
    "SITE",
    "TABLE_COLUMNS",
    "WEB_APP",
    "ParkingRelease",
    "Record",
    "SessionRequirements",
    "SessionStatistics",
    "WebApp",
    "WebAppConfig",
    "session_statistics",
]
