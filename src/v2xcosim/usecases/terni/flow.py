"""The Terni V2G use case end to end, one co-simulation step at a time (plain Python).

:class:`TerniUseCase` is the order of a step: it runs the actors — users, CS EMS, EMSP, DSO,
LFMP, batteries — through their own modules and records every information exchange with
Terni's step ids (:data:`~v2xcosim.usecases.terni.steps.TERNI_STEPS`).  The sessions are a
:class:`~v2xcosim.domain.sessions.SessionBook`, the market a
:class:`~v2xcosim.domain.market.cycle.MarketCycle` (timing, settlement and revenue split there)
with the DSO, the EMSP and the batteries of :mod:`v2xcosim.domain.market.participants`; all
that comes from the scenario is built by :mod:`v2xcosim.usecases.terni.wiring` (its
:func:`terni_setup`, :class:`TerniSetup` and :func:`network_spec` are re-exported here).  The
mosaik adapter :mod:`v2xcosim.usecases.terni.sims` only moves vectors.

**Order within a step** at time ``t`` (inputs: SOC at ``t`` and AC power of the previous step
per slot): meter the previous step → settle delivery windows that ended (S1 meters, sender
``cpo`` for the EMSP's sessions; S2 the DSO pays; S3 the users' incentives; S4 the EMSP's
share) → departures (11–13) → arrivals (1–8; 13 when the site is full) → per site the DriVe2X
exchange: CS EMS → EMSP ``SCADataEVs`` (9), the EMSP decides with ``control.strategy`` and
answers ``SetpointRequestResponse`` (10), the CS EMS dispatches within its SOC guard → market:
opening (D1 forecast, D2 requests; J1–J3 campaign sessions not yet joined see the requests and
join, J4 offers, J5 a user's car is in an offer) and gate closure (M1 baselines, M2–M4) → the
batteries apply their awards (:meth:`TerniUseCase.provider_power_w`).  In ``uncontrolled`` the
EMSP does not trade; the batteries (``[[market.providers]]``) bid in every strategy.

**Early departures and ageing.**  The session book knows when a car really leaves
(``TerniSetup.leave_k``); the EMSP, the strategy and the CS EMS only ever see the declared
departure (``dep_k``), so a car leaving early is simply gone: its flexibility is metered as
not delivered and its SOC falls short of the wish (``sessions.parquet``: ``left_early``).
Each step the actors also read every slot's capacity losses ``q_cal``/``q_cyc`` (FMU states,
time-shifted like the SOC); a session's losses at arrival and at departure give its
degradation cost (:meth:`TerniUseCase.sessions_frame`).

**Discharge rule.**  V2G discharge windows are the steps whose forecast in force (the last D1)
at the primary substation imports more than ``control.discharge_min_import_mw`` and whose
price is in the top ``1 − discharge_price_quantile`` of the remaining horizon
(:func:`~v2xcosim.domain.strategies.windows`); ``terni_steps.parquet`` records the forecast
in force, the windows and the EV and battery powers of every step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.messages import (
    Award,
    BaselineDeclaration,
    CampaignConfirmation,
    FlexibilityOffer,
    FlexibilityRequest,
    GridForecast,
    JoinCampaign,
    MarketResult,
    MeterData,
    OrderBook,
    Payment,
    PlugIn,
    SessionCreation,
    SessionData,
    Setpoint,
    StartCharging,
    StartRequest,
    StopCharging,
    UserPreferences,
)
from v2xcosim.core.timegrid import StepGrid
from v2xcosim.core.trace import TraceRecorder
from v2xcosim.domain.ageing import degradation_cost_eur, pack_cost_eur_per_kwh
from v2xcosim.domain.cs_ems import EvArrays
from v2xcosim.domain.emsp import DroppedOffer
from v2xcosim.domain.lfmp import SETTLEMENT_S, MarketSession
from v2xcosim.domain.market.cycle import MarketCycle, MarketEvent, MarketWindow, RevenueSplit
from v2xcosim.domain.market.participants import (
    BatteryProvider,
    DsoBuyer,
    EmspPortfolio,
    PortfolioPlan,
)
from v2xcosim.domain.sessions import CONNECTED
from v2xcosim.domain.strategies import (
    BuiltinStrategy,
    StrategyInputs,
    apply_strategy,
    load_strategy,
    plan,
    planning_headroom,
    windows,
)
from v2xcosim.domain.users import preferences, registration
from v2xcosim.interfaces import drive2x
from v2xcosim.usecases.terni import wiring
from v2xcosim.usecases.terni.schema import TerniScenario
from v2xcosim.usecases.terni.steps import TERNI_STEPS
from v2xcosim.usecases.terni.wiring import TerniSetup, network_spec, terni_setup

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class TerniUseCase:
    """All Terni actors for one run; :meth:`step` once per co-simulation step."""

    def __init__(
        self,
        spec: TerniScenario,
        setup: TerniSetup,
        zone_voltage: Mapping[str, tuple[float, Mapping[str, float], float]] | None = None,
    ) -> None:
        """Build the actors of ``spec`` on ``setup``.

        The DSO's zones come from ``setup.zones``
        (:func:`~v2xcosim.usecases.terni.wiring.zone_series`); ``zone_voltage`` holds the feeder
        zones' voltage models
        (:func:`~v2xcosim.usecases.terni.network.zone_voltage_models`).
        """
        self._zone_voltage = dict(zone_voltage or {})
        self.spec, self.s, self.strategy = spec, setup, spec.control.strategy
        self.controller = load_strategy(self.strategy, spec.control.strategy_path)
        if isinstance(self.controller, BuiltinStrategy) and self.controller.lp is not None:
            # the LP strategies keep the v2g rule: no EV discharges unless the forecast imports
            self.controller.lp.min_import_w = spec.control.discharge_min_import_mw * 1e6
            # the EMSP bears the cycle losses (Emsp.billed_kwh): they are priced at the energy
            # price it pays, not at the users' tariff (LpStrategy: who pays the cycle losses)
        self.bidirectional = self.controller.bidirectional  # the strategy may discharge
        self.dt, self.k_all, self.start = setup.step_s, setup.n_steps, setup.start_utc
        self.n = len(setup.users)
        self.grid = StepGrid(self.start, self.dt, self.k_all)
        self.trace = TraceRecorder(self.start, "terni", TERNI_STEPS)
        self._init_sessions()
        self._init_actors()
        self._init_market()

    def _init_sessions(self) -> None:
        """Build the session book, the EVs' fixed parameters and the users' campaign state."""
        self.book = wiring.session_book(self.spec, self.s)
        self.ev = wiring.ev_template(self.spec, self.s, bidirectional=self.bidirectional)
        self.campaign = self.s.users.campaign.copy()
        self.joined = np.zeros(self.n, dtype=bool)
        self.incentive_eur = np.zeros(self.n)
        users = self.s.users
        # capacity losses (cal, cyc) of each session's car at arrival and at departure
        self.q_arrival = np.stack([users.q_cal_start, users.q_cyc_start], axis=1)
        self.q_departure = self.q_arrival.copy()
        self._q_slot: dict[str, FloatArray] = {}  # site -> (slots × 2), at the current step
        self.zone_of, self.zone_parent = wiring.dso_zones(self.s)

    def _init_actors(self) -> None:
        """Build the DSO, the EMSP and the stationary batteries as market participants."""
        self.zone_series = wiring.zone_series(self.s)
        self.dso = wiring.dso(self.spec, self.zone_series, self._zone_voltage, self.zone_parent)
        self.emsp = wiring.emsp(self.spec, self.zone_parent, bidirectional=self.bidirectional)
        self.portfolio = EmspPortfolio(
            self.emsp,
            self.grid,
            zones=self.zone_of,
            thresholds_eur_per_mwh=self.s.users.price_threshold_eur_per_mwh,
            energy_kwh=self.book.energy_kwh,
            planner=self._plan,
            on_dropped=self._dropped,
        )
        self.flex_w = self.portfolio.flex_w
        # a merchant battery: it plans on the energy price and its wear only; the DSO's surplus
        # is worth something to it through the market (awards), not for free, so its capacity
        # is offered where the DSO asks for it (surplus value 0, a decision)
        self.batteries = {
            b.provider_id: BatteryProvider(
                b, self.grid, self._battery_signals, surplus_eur_per_mwh=0.0
            )
            for b in wiring.batteries(self.spec, self.zone_parent)
        }
        self.provider_p_w = {pid: b.p_w for pid, b in self.batteries.items()}
        self._provider_now = {pid: 0.0 for pid in self.batteries}

    def _init_market(self) -> None:
        """Build the market cycle and the strategy's windows set by the forecast in force."""
        self.charge_window = np.zeros(self.k_all, dtype=bool)
        self.discharge_window = np.zeros(self.k_all, dtype=bool)
        self.forecast_p_net_w = np.full(self.k_all, np.nan)
        # the forecast in force of each feeder zone (a site's LP relieves its own feeder)
        self.zone_forecast_w = {
            z: np.full(self.k_all, np.nan) for z in sorted(self.zone_parent) if z != wiring.PRIMARY
        }
        buyer = DsoBuyer(self.dso, self.grid, self._on_forecast)
        self.market = MarketCycle(
            self.grid,
            wiring.market_timing(self.spec),
            buyer,
            [self.portfolio, *self.batteries.values()],
            zone_parent=self.zone_parent,
            on_event=self._on_market,
        )

    def _battery_signals(self, k: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Prices and the DSO forecast in force from step ``k`` on (what a battery plans with)."""
        return self.s.price_eur_per_mwh[k:], self.forecast_p_net_w[k:]

    # ------------------------------------------------------------------ helpers
    @property
    def providers(self) -> tuple[str, ...]:
        """Ids of the other flexibility providers (stationary batteries)."""
        return tuple(self.batteries)

    def provider_power_w(self) -> dict[str, float]:
        """Power [W, load convention] each battery draws in the step last run."""
        return dict(self._provider_now)

    def _rec(self, k: int, step: str, src: str, dst: str, info: str, msg: object) -> None:
        self.trace.record(self.grid.utc(k), step, src, dst, info, msg)

    def _ev(self, rows: IntArray) -> EvArrays:
        return dataclasses.replace(
            self.ev.take(rows), soc=self.book.soc[rows], connected=self.book.connected(rows)
        )

    def _prefs(self, i: int) -> UserPreferences:
        prefs = preferences(self.s.users, i, self.start)
        return dataclasses.replace(prefs, departure_utc=self.grid.utc(int(self.s.dep_k[i])))

    def _campaign(self, rows: IntArray) -> BoolArray:
        if self.strategy == "uncontrolled":
            return np.zeros(len(rows), dtype=bool)
        out: BoolArray = self.campaign[rows]
        return out

    # ------------------------------------------------------------------ the step
    def step(
        self,
        k: int,
        soc_by_site: dict[str, list[float]],
        p_ac_by_site: dict[str, list[float]],
        q_by_site: dict[str, tuple[list[float], list[float]]] | None = None,
    ) -> dict[str, list[float]]:
        """Advance to step ``k``; inputs per site and slot; returns P setpoints per slot [W].

        ``q_by_site``: per site the slots' calendar and cycle capacity losses at ``k``
        (fractions); without it the cars' initial losses stand (no degradation is booked).
        """
        s = self.s
        for site in s.sites:
            soc = np.asarray(soc_by_site[site], dtype=float)
            self.book.meter(k, site, soc, np.asarray(p_ac_by_site[site], dtype=float))
            if q_by_site is not None:
                self._q_slot[site] = np.asarray(q_by_site[site], dtype=float).T
        self.market.settle(k)
        self._departures(k)
        self._arrivals(k)
        out = {site: self._site_setpoints(k, site) for site in s.sites}
        self._meter_q_open()
        self.market.step(k)
        for bat in self.batteries.values():
            bat.step(k)
        self._provider_now = {pid: float(p[k]) for pid, p in self.provider_p_w.items()}
        return out

    def plugged(self) -> dict[str, list[float]]:
        """Per site and slot: 1.0 while a session is plugged in (this step), else 0.0."""
        out = {}
        for site in self.s.sites:
            rows = self.s.site_rows(site)
            vec = np.zeros(self.s.fleet_size)
            vec[self.s.slot[rows]] = self.book.connected(rows).astype(float)
            out[site] = [float(x) for x in vec]
        return out

    def _q_of(self, i: int) -> FloatArray | None:
        """Capacity losses (cal, cyc) of session ``i``'s slot now, if the FMU reported them."""
        q = self._q_slot.get(self.s.users.site_id[i])
        return None if q is None else q[int(self.s.slot[i])]

    def _meter_q_open(self) -> None:
        """Sessions still plugged in: their latest losses stand as departure values."""
        for i in map(int, np.flatnonzero(self.book.status == CONNECTED)):
            q = self._q_of(i)
            if q is not None:
                self.q_departure[i] = q

    def _departures(self, k: int) -> None:
        users, book = self.s.users, self.book
        for ev in book.depart(k):
            i, sid, site, cid = ev.row, ev.session_id, ev.site, str(ev.connector_id)
            q = self._q_of(i)
            if q is not None:
                self.q_departure[i] = q
            uid = users.user_id[i]
            stop = StopCharging(
                session_id=sid,
                connector_id=cid,
                time_utc=self.grid.utc(k),
                soc=float(np.clip(book.soc[i], 0.0, 1.0)),
                reason="left early" if self.s.leave_k[i] < self.s.dep_k[i] else "departure",
            )
            self._rec(k, "11", uid, "emsp", f"session {sid}: stop, final settlement", stop)
            self._rec(k, "11", "emsp", f"cs_ems/{site}", f"session {sid}: stop at {cid}", stop)
            st = self.emsp.statement(
                uid,
                sid,
                energy_charged_kwh=book.charged_kwh(i),
                energy_discharged_kwh=book.discharged_kwh(i),
                soc_departure=float(np.clip(book.soc[i], 0.0, 1.0)),
                incentive_eur=float(self.incentive_eur[i]),
            )
            self._rec(k, "12", "emsp", uid, f"session {sid}: statistics and payments", st)
            self._rec(k, "13", uid, "parking", f"session {sid}: driver leaves", stop)

    def _arrivals(self, k: int) -> None:
        users = self.s.users
        for ev in self.book.arrive(k):
            i, sid, site, cid = ev.row, ev.session_id, ev.site, ev.connector_id
            uid = users.user_id[i]
            t = self.grid.utc(k)
            q = self._q_of(i)
            if q is not None:
                self.q_arrival[i] = self.q_departure[i] = q
            creation = SessionCreation(user_id=uid, session_id=sid, site_id=site, time_utc=t)
            self._rec(k, "1", uid, f"parking/{site}", f"session {sid}: arrives", creation)
            if cid is None:
                self._rec(k, "13", uid, f"parking/{site}", f"session {sid}: site full", creation)
                continue
            plug = PlugIn(
                session_id=sid,
                connector_id=cid,
                time_utc=t,
                soc=float(self.book.soc[i]),
                usable_capacity_kwh=float(self.ev.capacity_kwh[i]),
                p_max_charge_w=float(self.ev.p_max_charge_w[i]),
                p_max_discharge_w=float(self.ev.p_max_discharge_w[i]),
            )
            self._rec(k, "2", f"ev/{sid}", f"evse/{cid}", f"session {sid}: plug-in", plug)
            self._rec(k, "3", uid, "emsp", f"session {sid}: session creation", creation)
            reg = dataclasses.replace(registration(users, i, self.start), time_utc=t)
            self._rec(k, "4", uid, "emsp", f"session {sid}: consent and registration", reg)
            self._rec(k, "5", uid, "emsp", f"session {sid}: departure and SOC wish", self._prefs(i))
            start = StartRequest(user_id=uid, session_id=sid, time_utc=t)
            self._rec(k, "6", uid, "emsp", f"session {sid}: start", start)
            go = StartCharging(session_id=sid, connector_id=cid, time_utc=t)
            self._rec(k, "7", "emsp", f"cs_ems/{site}", f"session {sid}: start signal", go)
            self._rec(k, "8", f"cs_ems/{site}", f"evse/{cid}", f"session {sid}: start EVSE", go)

    def _site_setpoints(self, k: int, site: str) -> list[float]:
        """Run steps 9/10 over the DriVe2X interface, then the CS EMS dispatch (slot vector)."""
        s = self.s
        rows = s.site_rows(site)
        rows = rows[self.book.connected(rows)]
        p_slot = np.zeros(s.fleet_size)
        if len(rows) == 0:
            return [0.0] * s.fleet_size
        t = self.grid.utc(k)
        users = s.users
        sid_of = {self.book.connector[int(i)]: users.session_id[int(i)] for i in rows}
        row_of = {users.session_id[int(i)]: int(i) for i in rows}
        data = [
            SessionData(
                session_id=users.session_id[int(i)],
                connector_id=str(self.book.connector[int(i)]),
                time_utc=t,
                soc=float(np.clip(self.book.soc[int(i)], 0.0, 1.0)),
                usable_capacity_kwh=float(self.ev.capacity_kwh[int(i)]),
                departure_utc=self.grid.utc(int(s.dep_k[int(i)])),
            )
            for i in rows
        ]
        names = ", ".join(users.session_id[int(i)] for i in rows)
        sca = drive2x.to_sca_data(data, t)
        wire = drive2x.sca_data_json(sca)
        self._rec(k, "9", f"cs_ems/{site}", "emsp", f"SCA data of sessions {names}", sca)
        # --- EMSP side: parse the DriVe2X data and decide -------------------------------
        import drive2x_sca_interfaces as d2x

        received = drive2x.from_sca_data(
            d2x.SCADataEVs.model_validate_json(wire), {str(c): v for c, v in sid_of.items()}
        )
        rx = np.array([row_of[d.session_id] for d in received], dtype=np.int64)
        ev = dataclasses.replace(
            self._ev(rx),
            soc=np.array([d.soc for d in received]),
            capacity_kwh=np.array([d.usable_capacity_kwh for d in received]),
        )
        inputs = StrategyInputs(
            ev=ev,
            t_s=float(k * self.dt),
            dt_s=float(self.dt),
            charge_window=bool(self.charge_window[k]),
            discharge_window=bool(self.discharge_window[k]),
            flex_w=self.flex_w[rx, k],
            campaign=self._campaign(rx),
            forecast_p_net_w=self.forecast_p_net_w[k:],
            price_eur_per_mwh=self.s.price_eur_per_mwh[k:],
            flex_horizon_w=self.flex_w[rx, k:],
            ev_id=tuple(users.session_id[int(i)] for i in rx),
            context=f"site {site}",
            ev_zone=tuple(self.zone_of[int(i)] for i in rx),
            zone_forecast_p_net_w=self._zone_forecasts(k, {self.zone_of[int(i)] for i in rx}),
        )
        where = f"site {site}, step {k} ({t:%Y-%m-%d %H:%M} UTC)"
        p_req = apply_strategy(self.controller, inputs, name=self.strategy, where=where)
        sps = [
            Setpoint(connector_id=d.connector_id, time_utc=t, p_w=float(p))
            for d, p in zip(received, p_req, strict=True)
        ]
        req = drive2x.to_setpoint_request(site, t, sps)
        wire_sp = req.model_dump_json()
        self._rec(k, "10", "emsp", f"cs_ems/{site}", f"setpoints for sessions {names}", req)
        # --- CS EMS side: parse and dispatch within the guard ----------------------------
        got = drive2x.from_setpoint_request(drive2x.parse_setpoint_json(wire_sp))
        cs = self.book.sites[site]
        occ = cs.occupants()
        conn_rows = np.array([row_of[o] if o is not None else -1 for o in occ], dtype=np.int64)
        present = conn_rows >= 0
        safe = np.where(present, conn_rows, int(rows[0]))
        ev_c = dataclasses.replace(self._ev(safe), connected=present)
        request = np.zeros(cs.n_connectors)
        pos = {c: j for j, c in enumerate(cs.connector_ids)}
        for sp in got:
            request[pos[sp.connector_id]] = sp.p_w
        p_conn, _ = cs.dispatch(ev_c, float(k * self.dt), float(self.dt), request)
        for j in np.flatnonzero(present):
            p_slot[s.slot[conn_rows[j]]] = p_conn[j]
        return [float(x) for x in p_slot]

    # ------------------------------------------------------------------ market
    def _on_forecast(self, k: int, forecasts: list[GridForecast]) -> None:
        """D1; the published forecast sets the EMSP's charge/discharge windows from now on."""
        for f in forecasts:
            self._rec(k, "D1", "dso_forecast", "dso", f"{f.zone}: reverse flow and voltage", f)
        fc = next(f for f in forecasts if f.zone == wiring.PRIMARY)
        p_step = np.repeat(np.asarray(fc.p_net_w), SETTLEMENT_S // self.dt)[: self.k_all - k]
        for f in forecasts:
            if f.zone in self.zone_forecast_w:
                steps = np.repeat(np.asarray(f.p_net_w), SETTLEMENT_S // self.dt)
                self.zone_forecast_w[f.zone][k:] = steps[: self.k_all - k]
        c = self.spec.control
        cw, dw = windows(
            p_step,
            self.s.price_eur_per_mwh[k:],
            c.discharge_price_quantile,
            min_import_w=c.discharge_min_import_mw * 1e6,
        )
        self.charge_window[k:] = cw
        self.discharge_window[k:] = dw
        self.forecast_p_net_w[k:] = p_step

    def _plan(self, w: MarketWindow, reqs: Sequence[FlexibilityRequest]) -> PortfolioPlan | None:
        """J1–J3 for campaign sessions not yet joined, then the EMSP's plan (None: no trade)."""
        if self.strategy == "uncontrolled":
            return None
        k, users = w.open_k, self.s.users
        live = np.flatnonzero((self.book.status == CONNECTED) & self.campaign)
        for i in map(int, live):
            if self.joined[i]:
                continue
            uid, sid = users.user_id[i], users.session_id[i]
            shown = self.emsp.campaign_list(uid, reqs)
            self._rec(k, "J1", "emsp", uid, f"session {sid}: DSO requests", shown)
            self._rec(k, "J2", uid, "emsp", f"session {sid}: price and minimum SOC", self._prefs(i))
            join = JoinCampaign(user_id=uid, session_id=sid, join=True)
            self._rec(k, "J3", uid, "emsp", f"session {sid}: joins the campaign", join)
            self.joined[i] = True
        rows = np.arange(self.n, dtype=np.int64)
        ev = self._ev(rows)
        camp = self._campaign(rows)
        p_plan, soc_plan = plan(
            self.controller,
            ev,
            float(k * self.dt),
            float(self.dt),
            self.charge_window[k:],
            self.discharge_window[k:],
            campaign=camp,
            flex_w=self.flex_w[:, k:],
            forecast_p_net_w=self.forecast_p_net_w[k:],
            price_eur_per_mwh=self.s.price_eur_per_mwh[k:],
            name=self.strategy,
            where=f"the EMSP plan made at step {k}",
            ev_id=tuple(users.session_id),
            context="emsp plan",
            ev_zone=tuple(self.zone_of),
            zone_forecast_p_net_w=self._zone_forecasts(k, set(self.zone_forecast_w)),
        )
        headroom = planning_headroom(self.controller)
        return PortfolioPlan(ev, p_plan, soc_plan, camp & self.joined, power_headroom=headroom)

    def _zone_forecasts(self, k: int, zones: set[str]) -> dict[str, FloatArray]:
        """Return the forecast in force of each of ``zones`` from step ``k`` on [W]."""
        return {z: self.zone_forecast_w[z][k:] for z in sorted(zones) if z in self.zone_forecast_w}

    def _on_market(self, e: MarketEvent) -> None:
        """Record a market message with its step id (D2, J4/J5, M1–M4, S1–S4)."""
        k, msid, emsp = e.k, e.window.market_session_id, self.emsp.config.provider_id
        match e.payload:
            case FlexibilityRequest() as r:
                self._rec(k, "D2", "dso", "lfmp", f"request {r.request_id}: {r.p_mw:+.3f} MW", r)
            case FlexibilityOffer() as o:
                self._rec(k, "J4", e.party, "lfmp", f"offer {o.offer_id}: {o.p_mw:+.4f} MW", o)
                if e.party == emsp:
                    self._confirm(k, o.offer_id)
            case BaselineDeclaration() as b:
                self._rec(k, "M1", e.party, "lfmp", f"{msid}: baseline {b.zone}", b)
            case MarketSession() as ses:
                self._rec(k, "M1", "lfmp", "all", f"{msid}: gate closure", ses)
            case OrderBook() as ob:
                info = f"{msid}: {len(ob.requests)} requests, {len(ob.offers)} offers"
                self._rec(k, "M2", "lfmp", "lfmp", info, ob)
            case Award() as a:
                info = f"award {a.award_id}: {a.p_mw:+.4f} MW"
                self._rec(k, "M3", "lfmp", a.provider_id, info, a)
            case MarketResult() as res:
                for to in ("dso", *sorted({a.provider_id for a in res.awards})):
                    self._rec(k, "M4", "lfmp", to, f"{msid}: result", res)
            case MeterData() as md:
                sender = "cpo" if e.party == emsp else e.party
                self._rec(k, "S1", sender, "lfmp", f"{msid}: meter {md.zone}", md)
            case Payment() as pay:
                self._rec(k, "S2", pay.payer, pay.payee, f"{msid}: {pay.amount_eur:.2f} EUR", pay)
            case RevenueSplit() as split:
                self._pay_out(k, msid, split)

    def _dropped(self, k: int, d: DroppedOffer) -> None:
        """J4 not taken: an offer below the market's minimum bid size stays with the EMSP."""
        info = (
            f"request {d.request_id}: offer of {d.p_mw * 1e3:+.2f} kW at "
            f"{d.price_eur_per_mwh:g} EUR/MWh in {d.zone} ({d.n_sessions} sessions) not placed: "
            f"below market.min_offer_kw = {d.min_offer_kw:g} kW"
        )
        pid = self.emsp.config.provider_id
        self._rec(k, "J4", pid, pid, info, d)

    def _confirm(self, k: int, offer_id: str) -> None:
        """J5: tell each user whose session is in the EMSP's offer."""
        users = self.s.users
        for i in map(int, self.emsp.sessions_of(offer_id)):
            uid, sid = users.user_id[i], users.session_id[i]
            conf = CampaignConfirmation(user_id=uid, session_id=sid, offer_ids=(offer_id,))
            self._rec(k, "J5", "emsp", uid, f"session {sid}: in offer {offer_id}", conf)

    def _pay_out(self, k: int, msid: str, split: RevenueSplit) -> None:
        """S3: the users' incentives; S4: the EMSP's share."""
        users, pid = self.s.users, split.provider_id
        for i, v in split.to_assets.items():
            self.incentive_eur[i] += v
            uid = users.user_id[i]
            p = Payment(payer=pid, payee=uid, amount_eur=v, reason="incentive")
            info = f"session {users.session_id[i]}: incentive {v:.4f} EUR"
            self._rec(k, "S3", pid, uid, info, p)
        p = Payment(payer=pid, payee=pid, amount_eur=split.kept_eur, reason="emsp share")
        self._rec(k, "S4", pid, pid, f"{msid}: share {split.kept_eur:.4f} EUR", p)

    # ------------------------------------------------------------------ outputs
    def session_status(self) -> npt.NDArray[np.str_]:
        """Per session: ``completed``, ``left_early``, ``rejected`` or ``open_at_end``."""
        book = np.array(self.book.columns()["status"])
        early = (self.s.leave_k < self.s.dep_k) & (book == "completed")
        out: npt.NDArray[np.str_] = np.where(
            book == "open", "open_at_end", np.where(early, "left_early", book)
        )
        return out

    def sessions_frame(self) -> pd.DataFrame:
        """One row per session (``sessions.parquet``; columns in the scenario README).

        Money per session [EUR]: ``bill_eur`` = tariff × the energy billed (the EMSP's
        statement, :meth:`~v2xcosim.domain.emsp.Emsp.billed_kwh`: drawn less the V2G
        credit), ``incentive_eur`` (S3), ``degradation_eur`` = Δ(q_cal + q_cyc) between
        arrival and departure (end of the run if still plugged in) × capacity × pack price
        (:func:`~v2xcosim.domain.ageing.degradation_cost_eur`).  ``bill_uncontrolled_eur`` is
        the same session charged uncontrolled.  A session the run did not control (its user
        outside the campaign, or every session under ``uncontrolled``) *was* charged
        uncontrolled — the guard's full power to the target, whatever the strategy — so its
        counterfactual is its own bill, exactly.  A controlled session's is computed
        analytically: full power (the car's limit) from arrival until the CS EMS target (wish +
        ``target_margin_soc``, as the ``uncontrolled`` strategy charges) is reached or the car
        leaves, the energy drawn being min((target − arrival SOC)⁺ × capacity × (1 −
        q_arrival) / ``control.eta_charge``, P_max × stay) — the FMU's SOC counts the aged
        capacity; a car arriving at or above its target draws nothing.  That estimate is off by
        a few cents per session: the FMU's AC energy per unit of SOC is not ``capacity /
        eta_charge`` but varies with the SOC window (coulomb counting at an open-circuit
        voltage that rises with SOC), power and temperature (effective 0.88–0.96 against 0.92
        on the default day), and the guard, which trims the last step with the nominal
        capacity, overshoots the target by up to ~0.001 SOC; only a simulation of the car
        along the uncontrolled path would give those exactly.  ``net_change_eur`` = bill −
        incentive − uncontrolled bill (negative: the user pays less than uncontrolled); the
        degradation is reported apart (the uncontrolled session's own ageing is not simulated).
        """
        s, users, spec = self.s, self.s.users, self.spec
        b = self.book.columns()
        status = self.session_status()
        rejected, open_ = status == "rejected", status == "open_at_end"
        step = pd.Timedelta(seconds=self.dt)
        t0 = pd.Timestamp(self.start).tz_convert("UTC")
        arrival = t0 + step * s.arr_k
        left = pd.Series(t0 + step * np.where(rejected, s.arr_k, s.leave_k)).where(~open_)
        cap = users.capacity_kwh
        e_ch = np.asarray(b["energy_charged_kwh"], dtype=float)
        e_dis = np.asarray(b["energy_discharged_kwh"], dtype=float)
        tariff = spec.market.tariff_eur_per_kwh
        billed = [self.emsp.billed_kwh(c, d) for c, d in zip(e_ch, e_dis, strict=True)]
        bill = tariff * np.array(billed, dtype=float)
        pack = pack_cost_eur_per_kwh(spec.market.pack_cost_usd_per_kwh, spec.market.usd_per_eur)
        dq = self.q_departure - self.q_arrival
        degradation = degradation_cost_eur(dq.sum(axis=1), cap, pack)
        end_k = np.where(open_, self.k_all, s.leave_k)
        stay_h = np.where(rejected, 0.0, (end_k - s.arr_k) * self.dt / 3600.0)
        p_max_kw = self.ev.p_max_charge_w / 1e3
        need_kwh = np.maximum(users.soc_departure - users.soc_arrival, 0.0) * cap
        aged_kwh = cap * (1.0 - self.q_arrival.sum(axis=1))
        to_target_kwh = np.maximum(self.ev.soc_target - users.soc_arrival, 0.0) * aged_kwh
        e_unc = np.minimum(to_target_kwh / spec.control.eta_charge, p_max_kw * stay_h)
        controlled = self._campaign(np.arange(self.n, dtype=np.int64))
        bill_unc = np.where(controlled, tariff * e_unc, bill)
        soc_dep = np.where(rejected, users.soc_arrival, self.book.soc_departure)
        return pd.DataFrame(
            {
                "session_id": b["session_id"],
                "user_id": list(users.user_id),
                "site": b["site"],
                "arrival_utc": arrival,
                "departure_declared_utc": t0 + step * s.dep_k,
                "departure_utc": left,
                "soc_arrival": users.soc_arrival,
                "soc_wish": users.soc_departure,
                "soc_departure": np.where(open_, np.nan, soc_dep),
                "e_charged_kwh": e_ch,
                "e_discharged_kwh": e_dis,
                "bill_eur": bill,
                "incentive_eur": self.incentive_eur,
                "degradation_eur": degradation,
                "bill_uncontrolled_eur": bill_unc,
                "net_change_eur": bill - self.incentive_eur - bill_unc,
                "campaign": users.campaign,
                "status": status,
                # details: the car, the slot, the step times and the ageing states
                "vehicle_model": list(users.vehicle_model),
                "capacity_kwh": cap,
                "p_max_kw": p_max_kw,
                "v2g_capable": users.v2g_capable,
                "age_years": users.age_years,
                "soc_min": users.soc_min,
                "joined": self.joined,
                "slot": b["slot"],
                "connector_id": b["connector_id"],
                "arrival_s": b["arrival_s"],
                "departure_declared_s": (s.dep_k * self.dt).astype(float),
                "departure_s": b["departure_s"],
                "q_loss_arrival": self.q_arrival.sum(axis=1),
                "dq_cal": dq[:, 0],
                "dq_cyc": dq[:, 1],
                "unserved_energy_kwh": np.where(rejected, need_kwh, 0.0),
            }
        )

    def summary(self) -> dict[str, Any]:
        """Market and money totals of the run."""
        return {
            **self.market.totals(),
            "user_revenue_eur": float(self.incentive_eur.sum()),
            "flex_by_provider": self._by_provider(),
            "dso_forecast_reverse_flow_mwh": dict(self.dso.log.reverse_flow_mwh),
            "dso_requested_mwh": dict(self.dso.log.requested_mwh),
            "dso_forecast_load_bias": {z: self.dso.load_bias(z) for z in self.dso.zones},
        }

    def _by_provider(self) -> dict[str, dict[str, float]]:
        """Offers, awards, matched/delivered MWh and payments per provider (EMSP first)."""
        out: dict[str, dict[str, float]] = {}
        for pid in (self.emsp.config.provider_id, *self.batteries):
            row = self.market.provider_totals(pid)
            if pid in self.batteries:
                row.update(self.batteries[pid].totals())
            out[pid] = row
        return out

    def steps_frame(self) -> pd.DataFrame:
        """One row per step: DSO forecast in force, strategy windows, EV and battery powers."""
        ev_w = self.book.energy_kwh * 3.6e6 / self.dt
        data: dict[str, Any] = {
            "time_utc": [self.grid.utc(k).isoformat() for k in range(self.k_all)],
            "forecast_p_net_w": self.forecast_p_net_w,
            "charge_window": self.charge_window,
            "discharge_window": self.discharge_window,
            "ev_p_w": ev_w.sum(axis=0),
            "ev_discharge_w": -np.clip(ev_w, None, 0).sum(axis=0),
        }
        for pid, p in self.provider_p_w.items():
            data[f"p_provider_w__{pid}"] = p
        return pd.DataFrame(data)

    def awards_frame(self) -> pd.DataFrame:
        """Every award of the run in clearing order (per session: request order, then merit)."""
        return self.market.awards_frame()

    def settlement_frame(self) -> pd.DataFrame:
        """Return the settlement lines."""
        return self.market.settlement_frame()


__all__ = ["TerniSetup", "TerniUseCase", "network_spec", "terni_setup"]
