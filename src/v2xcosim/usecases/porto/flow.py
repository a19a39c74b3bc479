"""The Porto V2B use case, one co-simulation step at a time (plain Python, no mosaik).

:class:`PortoFlow` runs the actors — parking manager (:mod:`.parking`), smart-charging web app
(:mod:`.webapp`), CS EMS / CS controller (the SOC guard,
:func:`~v2xcosim.domain.cs_ems.power_bounds`) and the BEMS (:func:`v2xcosim.domain.bems.plan`)
— and records every information exchange with the use case's step ids
(:data:`~.steps.PORTO_STEPS`).  Inputs per step ``k`` (time ``t_k``), one value per FMU slot:
the SOC at ``t_k``, the AC power of step ``k−1`` and the capacity losses ``q_cal``/``q_cyc``
(time-shifted from the fleet FMU), and the connection's import of step ``k−1`` (time-shifted
from the power flow).  Output: a P setpoint per slot [W, load convention] for step ``k``.

**Order within a step**: meter step ``k−1`` → departures (11–20: stop, end of session, the
charger stops, statistics, report, bill, parking release) → bookings (1) → arrivals (2, then
3–6 in the web app, 7–10: charger start, handshake, session data to the CS EMS and the BEMS;
a stay the car park cannot take is rejected at 2) → signals (10.1: the tariff at step 0, the
DSO's import-limit event ``event_notice`` steps ahead) → the BEMS re-solves if anything
changed (arrival, departure, signal) or its plan is ``control.replan_h`` old, and sends its
schedule (10) → the CS EMS dispatches the schedule's current step within its SOC guard.

**Strategies**: ``uncontrolled`` — every car charges at full power from arrival to its wish
(no BEMS); ``smart`` — the BEMS without discharge; ``v2b`` — the BEMS with discharge of the
cars that can do V2B and whose users consented.  A user who refuses consent (3.1) is not
managed in any strategy: his car charges at full power to ``control.soc_max`` (plain
charging, :mod:`.webapp`), and the BEMS counts it as a fixed load.

**BEMS inputs** (re-solve at step ``k``): the terminal's load over ``control.horizon_h``
(the plan's profile: a perfect forecast, :mod:`.terminal`) scaled by the network losses
measured in the previous step (:meth:`PortoFlow._estimate_losses`) as base load ``B``; the energy
price and ponta mask of the tariff, the peak-hours price prorated to the run (the billing
period is the simulated horizon: ``price × days/30.4 × n_ponta(horizon ∩ run)/n_ponta(run)``,
:func:`~v2xcosim.domain.bems.peak_hours_price_eur_per_kw`), the contracted power = the larger
of ``porto.tariff.contracted_kw`` (carried in from the ratchet's months before) and the largest
15-minute import measured so far, each kW above it priced at what a new maximum costs in all:
the run's prorated charge plus the ratchet's remaining months
(:func:`~v2xcosim.domain.tariff.contracted_excess_eur_per_kw`, ``price × max(12, months)``),
the import limit less
``control.import_limit_margin_kw`` once the DSO has announced it, the users' V2B
compensation (κ) and each car's wear price (γ: ``control.wear_eur_per_kwh`` or, unset, the EV
FMU's marginal cycle ageing of that car in its own band, :func:`~.wiring.car_wear_eur_per_kwh`).
Each car is a
:class:`~v2xcosim.domain.scheduler.StorageUnit` with its SOC now, its capacity less the
FMU's capacity losses now (the FMU's SOC counts the aged capacity), its declared departure
and its target (wish + ``control.target_margin_soc``).

**Sessions table** (:meth:`PortoFlow.sessions_frame`): one row per stay, ``completed``
(left at its declared departure within the run), ``open_at_end`` or ``rejected``.  Energies at
the AC meter from the metered power; the bill and compensation by the web app's rule;
``degradation_eur`` = Δ(q_cal + q_cyc) of the car's FMU slot between arrival and departure
(end of the run if still parked) × capacity × pack price
(:func:`~v2xcosim.domain.ageing.degradation_cost_eur`, BNEF 2024 at the ECB 2024 rate);
``soc_min`` the user's V2B floor and ``soc_min_reached`` the lowest FMU SOC at a step start
while plugged in (departure included); ``soc_arrival`` of a car parked before the start is its
SOC at the start (:func:`~.fleet.soc_at_start`), ``e_charged_before_start_kwh`` the AC energy
that pre-start charging took (``(soc_start − soc_arrival) × aged capacity / η_c``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import SimulationError
from v2xcosim.core.messages import PlugIn, SessionData, StartCharging, StopCharging
from v2xcosim.core.timegrid import StepGrid
from v2xcosim.core.trace import TraceRecorder
from v2xcosim.domain.ageing import degradation_cost_eur, pack_cost_eur_per_kwh
from v2xcosim.domain.bems import peak_hours_price_eur_per_kw
from v2xcosim.domain.bems import plan as bems_plan
from v2xcosim.domain.cs_ems import EvArrays, power_bounds
from v2xcosim.domain.scheduler import StorageUnit
from v2xcosim.domain.tariff import DAYS_PER_MONTH, contracted_excess_eur_per_kw
from v2xcosim.usecases.porto import wiring
from v2xcosim.usecases.porto.parking import ParkingManager
from v2xcosim.usecases.porto.schema import PortoScenario
from v2xcosim.usecases.porto.steps import PORTO_STEPS
from v2xcosim.usecases.porto.webapp import (
    CS_EMS,
    PARKING,
    SessionRequirements,
    WebApp,
    session_statistics,
)
from v2xcosim.usecases.porto.wiring import PortoSetup

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

BEMS = "bems"
CS_CONTROLLER = "cs_controller"
DSO = "dso"
MARKET = "energy_market"


@dataclass(frozen=True, slots=True)
class TariffSignal:
    """Step 10.1: the supplier's time-of-use prices for the BEMS (EUR/MWh per step, UTC)."""

    time_utc: dt.datetime
    step_s: int
    price_eur_per_mwh: tuple[float, ...]
    peak_hours: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class ImportLimitEvent:
    """Step 10.1: the DSO's OpenADR-like event: import at most ``limit_w`` in the window."""

    event_id: str
    issued_utc: dt.datetime
    start_utc: dt.datetime
    end_utc: dt.datetime
    limit_w: float


@dataclass(frozen=True, slots=True)
class BemsSchedule:
    """Step 10: the BEMS's schedule for the CS EMS (W per session over its horizon)."""

    time_utc: dt.datetime
    session_ids: tuple[str, ...]
    horizon_steps: int
    import_w_now: float
    cost_eur: float


def discharge_floor(p_w: FloatArray, lo_w: FloatArray, p_min_w: float) -> FloatArray:
    """Return the setpoints ``p_w`` [W] with no discharge weaker than ``p_min_w``.

    A charger cannot discharge below a minimum current (``control.min_discharge_kw``): a
    discharge setpoint in ``(−p_min_w, 0)`` becomes ``−p_min_w`` if it is at least half of it
    and the guard's lower bound ``lo_w`` allows it, else 0 (no discharge; always within the
    guard's bounds, which contain the clipped setpoint and the zero a discharge may fall to).
    Charging setpoints are kept.
    """
    out = p_w.copy()
    weak = (out < 0.0) & (out > -p_min_w)
    up = weak & (out <= -0.5 * p_min_w) & (lo_w <= -p_min_w)
    out[weak] = 0.0
    out[up] = -p_min_w
    return out


def charge_floor(
    p_w: FloatArray, lo_w: FloatArray, hi_w: FloatArray, p_min_w: float, managed: BoolArray
) -> FloatArray:
    """Return the setpoints ``p_w`` [W] with no managed charging weaker than ``p_min_w``.

    IEC 61851-1's control pilot offers no less than 6 A (``control.min_charge_kw`` = 6 A × 3
    × 230 V = 4.1 kW): a managed car's charging setpoint in ``(0, p_min_w)`` becomes
    ``p_min_w`` if it is at least half of it or the guard must charge (``lo_w > 0``), else 0
    (the guard then allows 0).  Where the guard's upper bound ``hi_w`` is below ``p_min_w``
    (the car's top is less than one step at the minimum away) the setpoint is ``hi_w``: the
    charger offers 6 A and the car's BMS takes less as it tapers (**assumption**).
    Unmanaged cars (plain charging) and discharge setpoints are kept.
    """
    out = p_w.copy()
    weak = managed & (out > 0.0) & (out < p_min_w)
    up = weak & ((out >= 0.5 * p_min_w) | (lo_w > 0.0))
    out[weak] = 0.0
    out[up] = np.minimum(p_min_w, hi_w[up])
    return out


class PortoFlow:
    """All Porto actors for one run; :meth:`step` once per co-simulation step."""

    def __init__(self, spec: PortoScenario, setup: PortoSetup) -> None:
        """Build the actors of ``spec`` on ``setup`` (:func:`~.wiring.porto_setup`)."""
        self.spec, self.s = spec, setup
        self.strategy = spec.control.strategy
        self.dt, self.k_all = setup.step_s, setup.n_steps
        self.grid = StepGrid(setup.start_utc, self.dt, self.k_all)
        self.trace = TraceRecorder(setup.start_utc, "porto", PORTO_STEPS)
        self.parking = ParkingManager(wiring.charger_groups(spec))
        self.webapp = WebApp(
            wiring.webapp_config(spec),
            start_utc=setup.start_utc,
            record=self.trace.record,
            parking=self.parking,
        )
        n, m = len(setup.stay_id), setup.fleet_size
        self.req: dict[int, SessionRequirements] = {}
        self.status = np.array(["pending"] * n, dtype=object)
        self.status[~setup.accepted] = "rejected"
        self.soc_arr = setup.soc_arrival.copy()
        self.soc_dep = np.full(n, np.nan)
        self.soc_low = np.full(n, np.nan)
        self.q_arr = np.stack([setup.q_cal_start, setup.q_cyc_start], axis=1)
        self.q_dep = self.q_arr.copy()
        self.p_hist = np.zeros((m, self.k_all))
        self.soc_now = np.zeros(m)
        self.q_now = np.zeros((m, 2))
        self.import_w: list[float] = []
        self.measured_max_w = 0.0
        self.loss_share = 0.0
        # the BEMS's last plan: step, session rows, powers (rows × horizon)
        self._plan_k = -1
        self._plan_rows: dict[int, int] = {}
        self._plan_p = np.zeros((0, 0))
        self.n_solves = 0
        t = spec.porto.tariff
        days = self.k_all * self.dt / 86400.0
        self.months = days / DAYS_PER_MONTH
        self.run_peak_steps = int(setup.peak_hours[: self.k_all].sum())
        self.peak_price_month = t.peak_power_eur_per_kw_month
        self.exceed_eur_per_kw = contracted_excess_eur_per_kw(
            t.contracted_power_eur_per_kw_month,
            period_days=days,
            ratchet_months=t.contracted_ratchet_months,
        )
        self.contracted_w = t.contracted_kw * 1e3
        self.replan_steps = max(1, math.ceil(spec.control.replan_h * 3600.0 / self.dt))
        self.pack_eur_per_kwh = pack_cost_eur_per_kwh()

    # ------------------------------------------------------------------ helpers
    def _t(self, k: int) -> dt.datetime:
        return self.grid.utc(k)

    def _rec(self, k: int, step: str, src: str, dst: str, info: str, msg: object) -> None:
        self.trace.record(self._t(k), step, src, dst, info, msg)

    def connected(self) -> IntArray:
        """Rows of the stays plugged in now."""
        out: IntArray = np.flatnonzero(self.status == "plugged").astype(np.int64)
        return out

    def _target(self, i: int) -> float:
        c = self.spec.control
        r = self.req[i]
        if not r.managed:
            return c.soc_max
        return min(r.soc_wish + c.target_margin_soc, c.soc_max)

    def _ev(self, rows: IntArray) -> EvArrays:
        c, s = self.spec.control, self.s
        slots = s.slot[rows]
        v2b = self.strategy == "v2b"
        return EvArrays(
            soc=np.clip(self.soc_now[slots], 0.0, 1.0),
            capacity_kwh=s.capacity_kwh[rows],
            departure_s=(s.dep_k[rows] * self.dt).astype(float),
            soc_target=np.array([self._target(int(i)) for i in rows], dtype=float),
            soc_min=np.array([self.req[int(i)].soc_min for i in rows], dtype=float),
            soc_max=np.full(len(rows), c.soc_max),
            p_max_charge_w=np.array([self.req[int(i)].p_max_charge_w for i in rows], dtype=float),
            p_max_discharge_w=np.array(
                [self.req[int(i)].p_max_discharge_w if v2b else 0.0 for i in rows], dtype=float
            ),
            connected=np.ones(len(rows), dtype=bool),
            eta_charge=c.eta_charge,
            eta_discharge=c.eta_discharge,
        )

    # ------------------------------------------------------------------ the step
    def step(
        self,
        k: int,
        soc: Sequence[float],
        p_ac_w: Sequence[float],
        q_cal: Sequence[float],
        q_cyc: Sequence[float],
        p_import_w: float,
    ) -> list[float]:
        """Advance to step ``k`` (module docstring); return the P setpoint per slot [W]."""
        self.soc_now = np.asarray(soc, dtype=float)
        self.q_now = np.stack([np.asarray(q_cal, float), np.asarray(q_cyc, float)], axis=1)
        if k >= 1:
            self.p_hist[:, k - 1] = np.asarray(p_ac_w, dtype=float)
            self._meter_import(k, float(p_import_w))
            self._estimate_losses(k, float(p_import_w), float(np.sum(p_ac_w)))
        changed = self._departures(k)
        self._bookings(k)
        changed |= self._arrivals(k)
        changed |= self._signals(k)
        rows = self.connected()
        for i in rows:
            self.q_dep[int(i)] = self.q_now[int(self.s.slot[i])]
        self._track_low(rows)
        out = np.zeros(self.s.fleet_size)
        if len(rows) == 0:
            return [0.0] * self.s.fleet_size
        if self.strategy != "uncontrolled" and (
            changed or self._plan_k < 0 or k - self._plan_k >= self.replan_steps
        ):
            self._solve(k, rows)
        ev = self._ev(rows)
        request = ev.p_max_charge_w.copy()  # uncontrolled and unmanaged: full power
        if self.strategy != "uncontrolled":
            j = k - self._plan_k
            for n, i in enumerate(rows):
                r = self._plan_rows.get(int(i))
                if r is not None and self.req[int(i)].managed and j < self._plan_p.shape[1]:
                    request[n] = self._plan_p[r, j]
        lo, hi = power_bounds(self._guard(ev, rows), float(k * self.dt), float(self.dt))
        p_w = np.clip(request, lo, hi)
        if self.strategy != "uncontrolled":
            managed = np.array([self.req[int(i)].managed for i in rows], dtype=bool)
            p_w = charge_floor(p_w, lo, hi, self.spec.control.min_charge_kw * 1e3, managed)
        out[self.s.slot[rows]] = discharge_floor(p_w, lo, self.spec.control.min_discharge_kw * 1e3)
        return [float(x) for x in out]

    def _guard(self, ev: EvArrays, rows: IntArray) -> EvArrays:
        """Return the guard's view of ``ev``: the FMU's aged capacity, the floor's efficiency.

        The FMU's SOC counts the capacity less its losses ``q_cal + q_cyc`` now, and its
        discharge takes more from the battery per kWh at the charger than the BEMS's
        ``η_d``: the guard limits a step's discharge with that capacity and
        ``control.guard_eta_discharge`` (a lower bound of the FMU's discharge efficiency,
        charger and cells), so the measured SOC minus one step's discharge stays above the
        floor.  Charging bounds use the same capacity with ``control.eta_charge``.
        """
        aged = ev.capacity_kwh * (1.0 - self.q_now[self.s.slot[rows]].sum(axis=1))
        return dataclasses.replace(
            ev,
            capacity_kwh=aged,
            eta_discharge=min(self.spec.control.guard_eta_discharge, ev.eta_discharge),
        )

    def _track_low(self, rows: IntArray) -> None:
        """Lowest SOC of each plugged-in session so far (the FMU's SOC at step starts)."""
        if len(rows):
            soc = self.soc_now[self.s.slot[rows]]
            self.soc_low[rows] = np.fmin(self.soc_low[rows], soc)

    def _meter_import(self, k: int, p_w: float) -> None:
        """Book step ``k−1``'s import; at a quarter hour's end, its mean sets the measured max."""
        self.import_w.append(p_w if math.isfinite(p_w) else 0.0)
        per_qh = 900 // self.dt
        if k % per_qh == 0:
            self.measured_max_w = max(self.measured_max_w, float(np.mean(self.import_w[-per_qh:])))

    def _estimate_losses(self, k: int, p_import_w: float, p_ev_w: float) -> None:
        """Network losses as a share of the load, from step ``k−1``'s meters (persistence).

        The connection's meter gives the import, the terminal's submeter and the chargers'
        meters the loads: ``(import − terminal − EVs) / (terminal + EVs)``.  The BEMS scales
        its forecast of the terminal by ``1 +`` this share, so an import limit at the
        connection is kept with the airport's own transformer and cable losses included.
        """
        load = float(self.s.p_terminal_w[k - 1]) + p_ev_w
        if math.isfinite(p_import_w) and load > 0:
            self.loss_share = max((p_import_w - load) / load, 0.0)

    def _departures(self, k: int) -> bool:
        s, dt_s = self.s, float(self.dt)
        rows = [int(i) for i in self.connected() if s.dep_k[i] == k]
        for i in rows:
            sid, slot = s.stay_id[i], int(s.slot[i])
            soc = float(np.clip(self.soc_now[slot], 0.0, 1.0))
            req = self.req[i]
            self.webapp.stop(k * dt_s, sid, soc, reason="departure")
            stop = StopCharging(
                session_id=sid,
                connector_id=str(req.charger),
                time_utc=self._t(k),
                soc=soc,
                reason="departure",
            )
            self._rec(k, "13", CS_EMS, CS_CONTROLLER, f"session {sid}: end of session", stop)
            self._rec(k, "14", CS_CONTROLLER, f"evse/{req.charger}", f"{sid}: stop, unlock", stop)
            self._rec(k, "15", CS_CONTROLLER, CS_EMS, f"session {sid}: ended", stop)
            stats = session_statistics(
                sid,
                self._t(k),
                self._metered(i, k),
                dt_s,
                soc_arrival=float(np.clip(self.soc_arr[i], 0.0, 1.0)),
                soc_end=soc,
            )
            self.webapp.close(stats)
            self.soc_dep[i] = soc
            self._track_low(np.array([i], dtype=np.int64))
            self.q_dep[i] = self.q_now[slot]
            self.status[i] = "completed"
        return bool(rows)

    def _metered(self, i: int, k_end: int) -> FloatArray:
        """AC power of stay ``i``'s slot over its plugged steps before ``k_end`` [W].

        A session that may not discharge books no discharge: the FMU's AC power at a 0 W
        setpoint may be a few mW below zero (the charger's filter), which is not V2B.
        """
        p = self.p_hist[int(self.s.slot[i]), int(self.s.arr_k[i]) : k_end]
        if self.req[i].p_max_discharge_w <= 0.0 or self.strategy != "v2b":
            p = np.maximum(p, 0.0)
        out: FloatArray = p.astype(float)
        return out

    def _bookings(self, k: int) -> None:
        s = self.s
        for i in map(int, np.flatnonzero(s.reserved & (s.booked_k == k))):
            sid, uid = s.stay_id[i], s.user_id[i]
            d = self.parking.book(sid, float(s.arr_k[i] * self.dt), float(s.dep_k[i] * self.dt))
            arr = self._t(int(s.arr_k[i]))
            info = (
                f"{sid}: books a slot with charger {d.charger} from {arr:%Y-%m-%d %H:%M}Z"
                if d.accepted
                else f"{sid}: booking refused ({d.reason})"
            )
            self._rec(k, "1", uid, PARKING, info, d)

    def _arrivals(self, k: int) -> bool:
        s, dt_s = self.s, float(self.dt)
        rows = [int(i) for i in np.flatnonzero(s.arr_k == k)]
        for i in rows:
            sid, uid = s.stay_id[i], s.user_id[i]
            d = self.parking.arrive(sid, k * dt_s, float(s.dep_k[i] * dt_s))
            if d.accepted != bool(s.accepted[i]) or (d.accepted and d.charger != s.charger[i]):
                raise SimulationError(
                    f"porto: parking decision for {sid} differs from the plan's "
                    f"({d.accepted}, {d.charger} vs {bool(s.accepted[i])}, {int(s.charger[i])})"
                )
            if not d.accepted:
                self._rec(k, "2", PARKING, uid, f"{sid}: no charger ({d.reason})", d)
                continue
            slot = int(s.slot[i])
            soc = float(np.clip(self.soc_now[slot], 0.0, 1.0))
            self.soc_arr[i] = soc
            self.q_arr[i] = self.q_dep[i] = self.q_now[slot]
            car = {
                "stay_id": sid,
                "user_id": uid,
                "capacity_kwh": float(s.capacity_kwh[i]),
                "soc_arrival": soc,
                "soc_min": float(s.soc_min[i]),
                "soc_wish": float(s.soc_wish[i]),
                "p_max_charge_kw": float(s.p_max_charge_kw[i]),
                "p_max_discharge_kw": float(s.p_max_discharge_kw[i]),
                "v2b": bool(s.v2b[i]),
                "consent": bool(s.consent[i]),
                "departure_s": float(s.dep_k[i] * dt_s),
            }
            plug = PlugIn(
                session_id=sid,
                connector_id=str(d.charger),
                time_utc=self._t(k),
                soc=soc,
                usable_capacity_kwh=float(s.capacity_kwh[i]),
                p_max_charge_w=float(s.p_max_charge_kw[i]) * 1e3,
                p_max_discharge_w=float(s.p_max_discharge_kw[i]) * 1e3,
            )
            self._rec(k, "2", uid, CS_CONTROLLER, f"{sid}: plugs in at charger {d.charger}", plug)
            req = self.webapp.plug_in(k * dt_s, d, car)
            self.req[i] = req
            start = StartCharging(session_id=sid, connector_id=str(d.charger), time_utc=self._t(k))
            info = f"{sid}: charger {d.charger} ({d.group}) selected, start"
            self._rec(k, "7", CS_EMS, CS_CONTROLLER, info, start)
            self._rec(k, "8", CS_CONTROLLER, f"ev/{sid}", f"{sid}: ISO 15118-20 handshake", plug)
            data = SessionData(
                session_id=sid,
                connector_id=str(d.charger),
                time_utc=self._t(k),
                soc=soc,
                usable_capacity_kwh=float(s.capacity_kwh[i]),
                departure_utc=req.departure_utc,
            )
            self._rec(k, "9", CS_CONTROLLER, CS_EMS, f"{sid}: session data (OCPP)", data)
            if self.strategy != "uncontrolled":
                self._rec(k, "10", CS_EMS, BEMS, f"{sid}: session data and bounds", data)
            self.status[i] = "plugged"
        return any(self.s.accepted[i] for i in rows)

    def _signals(self, k: int) -> bool:
        """10.1: the tariff at step 0, the DSO's event at its notice step; True if new."""
        if self.strategy == "uncontrolled":
            return False
        s, new = self.s, False
        if k == 0:
            sig = TariffSignal(
                time_utc=self._t(0),
                step_s=self.dt,
                price_eur_per_mwh=tuple(float(x) for x in s.price_eur_per_mwh),
                peak_hours=tuple(bool(x) for x in s.peak_hours),
            )
            self._rec(k, "10.1", MARKET, BEMS, "time-of-use prices and ponta hours", sig)
            new = True
        for n_ev, e in enumerate(s.events, start=1):
            if k != e.notice_k:
                continue
            ev = ImportLimitEvent(
                event_id=f"dso-event-{n_ev}",
                issued_utc=self._t(k),
                start_utc=self._t(e.start_k),
                end_utc=self._t(e.end_k),
                limit_w=e.limit_w,
            )
            info = f"import limit {e.limit_w / 1e6:.2f} MW from {ev.start_utc:%Y-%m-%d %H:%M}Z"
            self._rec(k, "10.1", DSO, BEMS, info, ev)
            new = True
        return new

    def _solve(self, k: int, rows: IntArray) -> None:
        """Re-solve the BEMS over the horizon from step ``k`` with the cars plugged in now."""
        s, c = self.s, self.spec.control
        h = s.horizon_steps
        ev = self._ev(rows)
        # the FMU's SOC counts the aged capacity: the BEMS plans with it (q_cal + q_cyc now)
        aged = ev.capacity_kwh * (1.0 - self.q_now[s.slot[rows]].sum(axis=1))
        units = [
            StorageUnit(
                capacity_kwh=float(aged[n]),
                soc0=float(ev.soc[n]),
                p_charge_max_w=float(ev.p_max_charge_w[n]),
                p_discharge_max_w=float(ev.p_max_discharge_w[n]),
                eta_charge=c.eta_charge,
                eta_discharge=c.eta_discharge,
                soc_min=float(min(ev.soc_min[n], ev.soc_max[n])),
                soc_max=float(ev.soc_max[n]),
                departure_k=max(int(s.dep_k[i]) - k, 1),
                soc_wish=float(ev.soc_target[n]),
                controllable=bool(self.req[int(i)].managed),
                wear_eur_per_kwh=float(s.wear_car_eur_per_kwh[i]),
            )
            for n, i in enumerate(rows)
        ]
        in_run = np.arange(k, k + h) < self.k_all
        mask = s.peak_hours[k : k + h] & in_run
        n_peak = int(mask.sum())
        lam = (
            0.0
            if self.run_peak_steps == 0
            else peak_hours_price_eur_per_kw(
                self.peak_price_month,
                horizon_peak_steps=n_peak,
                period_peak_steps=self.run_peak_steps,
                period_days=self.k_all * self.dt / 86400.0,
            )
        )
        # the DSO's limits the BEMS knows of: the limit less the margin in the windows; on
        # their shoulders the limit, or the building's own forecast where that is higher (no
        # charging may lift the import above the limit there; no discharge is owed for it)
        base_w = s.p_terminal_w[k : k + h] * (1.0 + self.loss_share)
        window_w = s.import_limit_w(k, h, announced_k=k, margin_w=c.import_limit_margin_kw * 1e3)
        shoulder_w = s.import_limit_w(
            k, h, announced_k=k, shoulder_steps=round(c.dso_shoulder_h * 3600.0 / self.dt)
        )
        limit_w = np.where(np.isfinite(window_w), window_w, np.maximum(shoulder_w, base_w))
        res = bems_plan(
            units,
            dt_s=float(self.dt),
            base_load_w=base_w,
            price_eur_per_mwh=s.price_eur_per_mwh[k : k + h],
            peak_hours=mask,
            peak_hours_eur_per_kw=lam,
            contracted_w=max(self.contracted_w, self.measured_max_w),
            exceedance_eur_per_kw=self.exceed_eur_per_kw,
            import_limit_w=limit_w if np.isfinite(limit_w).any() else None,
            compensation_eur_per_kwh=self.spec.porto.webapp.v2b_compensation_eur_per_kwh,
            wear_eur_per_kwh=None,  # each car's own (StorageUnit.wear_eur_per_kwh)
        )
        self._plan_k = k
        self._plan_rows = {int(i): n for n, i in enumerate(rows)}
        self._plan_p = res.p_ev_w
        self.n_solves += 1
        sched = BemsSchedule(
            time_utc=self._t(k),
            session_ids=tuple(s.stay_id[int(i)] for i in rows),
            horizon_steps=h,
            import_w_now=float(res.import_w[0]),
            cost_eur=float(res.total_eur),
        )
        info = f"schedule of {len(rows)} cars, import now {res.import_w[0] / 1e6:.3f} MW"
        self._rec(k, "10", BEMS, CS_EMS, info, sched)

    # ------------------------------------------------------------------ outputs
    def sessions_frame(self) -> pd.DataFrame:
        """One row per stay (``sessions.parquet``; module docstring)."""
        s, dt_s = self.s, float(self.dt)
        n = len(s.stay_id)
        t0 = pd.Timestamp(s.start_utc).tz_convert("UTC")
        step = pd.Timedelta(seconds=self.dt)
        status = np.where(self.status == "plugged", "open_at_end", self.status).astype(str)
        e_ch, e_dis = np.zeros(n), np.zeros(n)
        bill, comp, cost = np.zeros(n), np.zeros(n), np.zeros(n)
        managed = np.zeros(n, dtype=bool)
        may_v2b = np.zeros(n, dtype=bool)
        wish = s.soc_wish.copy()
        for i, req in self.req.items():
            stats = session_statistics(
                s.stay_id[i],
                self._t(min(int(s.dep_k[i]), self.k_all)),
                self._metered(i, min(int(s.dep_k[i]), self.k_all)),
                dt_s,
                soc_arrival=float(np.clip(self.soc_arr[i], 0.0, 1.0)),
                soc_end=float(np.clip(self.soc_now[int(s.slot[i])], 0.0, 1.0)),
            )
            st = self.webapp.bill(req.user_id, stats)
            e_ch[i], e_dis[i] = stats.energy_charged_kwh, stats.energy_discharged_kwh
            cost[i], comp[i], bill[i] = st.energy_cost_eur, st.incentive_eur, st.net_eur
            managed[i] = req.managed
            may_v2b[i] = req.p_max_discharge_w > 0 and self.strategy == "v2b"
            wish[i] = req.soc_wish if req.managed else self.spec.control.soc_max
        dq = self.q_dep - self.q_arr
        degradation = degradation_cost_eur(dq.sum(axis=1), s.capacity_kwh, self.pack_eur_per_kwh)
        rejected = status == "rejected"
        aged = s.capacity_kwh * (1.0 - s.q_cal_start - s.q_cyc_start)
        e_pre = (s.soc_start - s.soc_arrival) * aged / self.spec.control.eta_charge
        dep = pd.Series(t0 + step * s.dep_k).where(status == "completed")
        return pd.DataFrame(
            {
                "session_id": list(s.stay_id),
                "user_id": list(s.user_id),
                "charger": s.charger,
                "group": list(s.group),
                "arrival_utc": t0 + step * s.arr_k,
                "departure_declared_utc": t0 + step * s.dep_k,
                "departure_utc": dep,
                "soc_arrival": self.soc_arr,
                "soc_wish": wish,
                "soc_departure": np.where(rejected, s.soc_arrival, self.soc_dep),
                "soc_min": s.soc_min,
                "soc_min_reached": self.soc_low,
                "e_charged_kwh": e_ch,
                "e_discharged_kwh": e_dis,
                "energy_cost_eur": cost,
                "compensation_eur": comp,
                "bill_eur": bill,
                "degradation_eur": np.where(rejected, 0.0, degradation),
                "status": status,
                "managed": managed,
                "v2b": may_v2b,
                "reserved": s.reserved,
                "reason": list(s.reason),
                "vehicle_model": list(s.vehicle_model),
                "capacity_kwh": s.capacity_kwh,
                "p_max_kw": s.p_max_charge_kw,
                "slot": s.slot,
                "arrival_s": (s.arr_k * dt_s).astype(float),
                "departure_s": (s.dep_k * dt_s).astype(float),
                "dq_cal": dq[:, 0],
                "dq_cyc": dq[:, 1],
                "parked_before_s": s.parked_before_s,
                "e_charged_before_start_kwh": np.where(rejected, 0.0, e_pre),
                "unserved_energy_kwh": np.where(
                    rejected, np.maximum(s.soc_wish - s.soc_arrival, 0.0) * s.capacity_kwh, 0.0
                ),
            }
        )

    def summary(self) -> dict[str, Any]:
        """Totals of the actors: BEMS solves, the measured contracted power, the wear prices.

        ``bems_wear_eur_per_kwh``: the median car's; ``bems_wear_car_eur_per_kwh``: each slot's
        (the prices the BEMS uses).
        """
        return {
            "bems_solves": self.n_solves,
            "measured_max_15min_kw": self.measured_max_w / 1e3,
            "bems_wear_eur_per_kwh": self.s.wear_eur_per_kwh,
            "bems_wear_car_eur_per_kwh": self.s.slot_vector(self.s.wear_car_eur_per_kwh, 0.0),
        }


__all__ = ["BemsSchedule", "ImportLimitEvent", "PortoFlow", "TariffSignal", "discharge_floor"]
