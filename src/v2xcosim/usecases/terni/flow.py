"""The Terni V2G use case end to end, one co-simulation step at a time (plain Python).

:func:`terni_setup` derives everything fixed before the run from the scenario (network spec,
profiles on the step grid, the user population, the FMU slot of each session);
:class:`TerniUseCase` runs the actors each step — users, DSO, LFMP, EMSP, CS EMS — through
their own modules and records every information exchange in a :class:`~v2xcosim.core.trace.
TraceRecorder`.  The mosaik adapter :mod:`v2xcosim.usecases.terni.sims` only moves vectors.

**Sessions and FMU slots.**  One fleet FMU per charging site with one vehicle *slot per
session* of the horizon (the site's sessions in arrival order; all sites use the size of the
largest so one FMU build serves all).  A slot is idle (0 W) until its session arrives and after
it leaves; its ``soc_start`` is the session's arrival SOC and its ``n_parallel`` scales the
pack to the session's capacity, so the EV state is exact from arrival on.  Arrival and
departure are rounded to the nearest step boundary (at least one step of stay); the dwell used
for feasibility is that simulated stay.  Connectors are allocated by the CS EMS
(:class:`~v2xcosim.domain.cs_ems.ChargingSite`); a session finding the site full leaves
(``rejected``).

**Order within a step** at time ``t`` (inputs: SOC at ``t`` and AC power of the previous step
per slot): meter the previous step → settle delivery windows that ended (S1–S4) → departures
(11–13) → arrivals (1–9) → per site the DriVe2X exchange: CS EMS → EMSP ``SCADataEVs`` (9),
the EMSP decides with ``control.strategy`` and answers ``SetpointRequestResponse`` (10), the CS
EMS dispatches within its SOC guard → market: opening (D1, D2, J1–J5) and gate closure (M1–M4).

**Market timing** (``[market]``): a session opens every ``period_s``; the DSO forecasts the rest
of the horizon (D1) and requests flexibility for ``[open + delivery_lead_s, + period_s)`` (D2);
the EMSP plans with its strategy (the plan includes earlier awards) and offers (J4); the gate
closes ``gate_closure_after_s`` later (M1 baselines = the plan, M2–M4); awards become
per-session commitments added to the strategy's setpoints in the delivery window; after the
window the LFMP settles against the baseline with the metered energy (S1–S4).  In
``uncontrolled`` the EMSP does not trade (the DSO still publishes its requests).

**Other flexibility providers** (``[[market.providers]]``, :class:`~v2xcosim.domain.provider.
StationaryBattery`) bid on the same sessions in every strategy (J4 with the provider as
sender), declare their schedule with earlier awards as baseline (M1), and receive awards in
the LFMP's merit order (M3).  Each step after the market the battery applies the sum of its
active awards within its SOC band; that power is the setpoint of its pandapower ``storage``
(:meth:`TerniUseCase.provider_power_w`) and its meter (S1, sender = the provider), settled
and paid (S2) like the EMSP's delivery.

**Discharge rule.**  V2G discharge windows are the steps whose forecast in force (the last D1)
at the primary substation imports more than ``control.discharge_min_import_mw`` and whose
price is in the top ``1 − discharge_price_quantile`` of the remaining horizon
(:func:`~v2xcosim.domain.strategies.windows`); ``terni_steps.parquet`` records the forecast
in force, the windows and the EV and battery powers of every step.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError
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
)
from v2xcosim.core.timegrid import StepGrid, step_times
from v2xcosim.core.trace import TraceRecorder
from v2xcosim.domain.cs_ems import ChargingSite, EvArrays
from v2xcosim.domain.dso import Dso, ForecastConfig, ZoneModel
from v2xcosim.domain.emsp import Emsp, EmspConfig
from v2xcosim.domain.lfmp import SETTLEMENT_S, MarketSession
from v2xcosim.domain.market.cycle import (
    MarketCycle,
    MarketEvent,
    MarketTiming,
    MarketWindow,
    RevenueSplit,
    per_interval,
)
from v2xcosim.domain.market.participants import (
    BatteryProvider,
    DsoBuyer,
    EmspPortfolio,
    PortfolioPlan,
)
from v2xcosim.domain.provider import StationaryBattery
from v2xcosim.domain.sessions import CONNECTED, SessionBook, assign_slots
from v2xcosim.domain.strategies import decide, plan, windows
from v2xcosim.domain.users import (
    UserPopulationSpec,
    UserTable,
    draw_users,
    preferences,
    registration,
)
from v2xcosim.interfaces import drive2x
from v2xcosim.usecases.terni.network import DEFAULT_LV_FEEDERS, TerniNetworkSpec
from v2xcosim.usecases.terni.schema import TerniScenario
from v2xcosim.usecases.terni.steps import TERNI_STEPS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

FMU_REFERENCE_N_PARALLEL = 80.0
"""``n_parallel`` of the EV FMU's reference pack (``terni.fmu_reference_capacity_kwh``)."""

USERS_STREAM = "terni/users"
"""Random-stream prefix of the users (``<prefix>/<site>``), fixed so Terni's draws never change."""
DSO_STREAM = "terni/dso"
"""Random stream of the DSO's forecast errors."""

SESSION_COLUMNS = (
    "session_id",
    "user_id",
    "site",
    "slot",
    "connector_id",
    "status",
    "arrival_s",
    "departure_s",
    "arrival_drawn_s",
    "departure_drawn_s",
    "capacity_kwh",
    "soc_arrival",
    "soc_wish",
    "soc_min",
    "campaign",
    "joined",
    "energy_charged_kwh",
    "energy_discharged_kwh",
    "incentive_eur",
)
"""Columns of ``terni_sessions.parquet`` in order."""


def network_spec(spec: TerniScenario) -> TerniNetworkSpec:
    """Return the Terni network parameters of the scenario."""
    t = spec.terni
    feeders = tuple(
        dataclasses.replace(f, n_connectors=t.connectors_per_site, connector_kw=t.connector_kw)
        for f in DEFAULT_LV_FEEDERS
    )
    return TerniNetworkSpec(peak_load_mw=t.peak_load_mw, pv_mwp=t.pv_mwp, lv_feeders=feeders)


def _take(users: UserTable, idx: IntArray) -> UserTable:
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(users):
        v = getattr(users, f.name)
        kw[f.name] = tuple(v[i] for i in idx) if isinstance(v, tuple) else v[idx]
    return UserTable(**kw)


@dataclass(frozen=True)
class TerniSetup:
    """Everything fixed before the run (deterministic in the scenario and seed)."""

    start_utc: dt.datetime
    step_s: int
    n_steps: int
    sites: tuple[str, ...]
    feeder_of: dict[str, str]
    users: UserTable
    arr_k: IntArray
    dep_k: IntArray
    slot: IntArray
    fleet_size: int
    n_parallel: FloatArray
    load_pu: FloatArray
    pv_pu: FloatArray
    t_amb_k: FloatArray
    price_eur_per_mwh: FloatArray

    def site_rows(self, site: str) -> IntArray:
        """Session rows of ``site`` in slot order."""
        rows = np.flatnonzero(np.array([s == site for s in self.users.site_id], dtype=bool))
        out: IntArray = rows[np.argsort(self.slot[rows], kind="stable")].astype(np.int64)
        return out

    def slot_vector(self, site: str, values: FloatArray, idle: float) -> list[float]:
        """Per-slot vector of ``values`` (per session) for ``site``; padding slots ``idle``."""
        out = np.full(self.fleet_size, idle)
        rows = self.site_rows(site)
        out[self.slot[rows]] = values[rows]
        return [float(x) for x in out]


def terni_setup(spec: TerniScenario) -> TerniSetup:
    """Profiles, users and FMU slots of a Terni scenario (see the module docstring)."""
    from v2xcosim.usecases.terni.profiles import (
        CloudSpec,
        ambient_temperature_k,
        load_pu,
        price_eur_per_mwh,
        pv_pu,
    )

    dt_s, k_all = spec.time.step_s, spec.time.n_steps
    start = spec.time.start_utc
    times = step_times(spec.time.start_utc, spec.time.n_steps, spec.time.step_s)
    mid = times + pd.Timedelta(seconds=dt_s / 2)
    t = spec.terni
    clouds = CloudSpec(t.cloud_mean_oktas, t.cloud_std_oktas, t.cloud_correlation_h)
    net_spec = network_spec(spec)
    sites = tuple(f.site_id for f in net_spec.lv_feeders)
    u = spec.users
    pop = UserPopulationSpec(
        sessions_per_connector_per_day=u.sessions_per_connector_per_day,
        commuter_share=u.commuter_share,
        energy_mean_kwh=u.energy_mean_kwh,
        p_max_w=t.connector_kw * 1000.0,
        soc_departure_range=(u.soc_departure_min, u.soc_departure_max),
        soc_min_range=(u.soc_min_min, u.soc_min_max),
        soc_arrival_floor=u.soc_arrival_floor,
        price_threshold_median_eur_per_mwh=u.price_threshold_median_eur_per_mwh,
        p_gdpr_consent=u.p_gdpr_consent,
        p_v2g_opt_in=u.p_v2g_opt_in,
    )
    local = pd.Timestamp(start).tz_convert(pop.timezone)
    end_local = (pd.Timestamp(start) + pd.Timedelta(seconds=spec.time.duration_s)).tz_convert(
        pop.timezone
    )
    n_days = (end_local.normalize() - local.normalize()).days + 1
    drawn = draw_users(
        pop,
        seed=spec.seed,
        start_utc=start,
        n_days=n_days,
        sites=[(s, t.connectors_per_site) for s in sites],
        stream_prefix=USERS_STREAM,
    )
    arr_k_all = np.rint(drawn.arrival_s / dt_s).astype(np.int64)
    keep = np.flatnonzero(arr_k_all < k_all).astype(np.int64)
    if spec.base_case:  # the documented switch: the same day without any EV session
        keep = keep[:0]
    users = _take(drawn, keep)
    arr_k = np.rint(users.arrival_s / dt_s).astype(np.int64)
    dep_k = np.maximum(np.rint(users.departure_s / dt_s).astype(np.int64), arr_k + 1)
    slot = assign_slots(users.site_id, sites)
    counts = [int(np.sum(np.array(users.site_id) == s)) for s in sites] if len(users) else [0]
    n_par = FMU_REFERENCE_N_PARALLEL * users.capacity_kwh / t.fmu_reference_capacity_kwh
    return TerniSetup(
        start_utc=start,
        step_s=dt_s,
        n_steps=k_all,
        sites=sites,
        feeder_of={f.site_id: f.name for f in net_spec.lv_feeders},
        users=users,
        arr_k=arr_k,
        dep_k=dep_k,
        slot=slot,
        fleet_size=max(1, *counts),
        n_parallel=n_par.astype(float),
        load_pu=load_pu(times, t.load_profile),
        pv_pu=pv_pu(mid, clouds=clouds, seed=spec.seed, performance_ratio=t.pv_performance_ratio),
        t_amb_k=ambient_temperature_k(mid),
        price_eur_per_mwh=price_eur_per_mwh(times),
    )


class TerniUseCase:
    """All Terni actors for one run; :meth:`step` once per co-simulation step."""

    def __init__(
        self,
        spec: TerniScenario,
        setup: TerniSetup,
        zone_load_w: float,
        zone_pv_w: float,
        zone_gen_w: float = 0.0,
    ) -> None:
        """Actors of ``spec``; ``zone_*``: nominal load, PV peak, constant other generation [W].

        The zone values describe the primary-substation area for the DSO forecast
        (:class:`~v2xcosim.domain.dso.ZoneModel`).
        """
        self.spec = spec
        self.s = setup
        self.strategy = spec.control.strategy
        self.dt = setup.step_s
        self.k_all = setup.n_steps
        self.start = setup.start_utc
        users = setup.users
        self.n = len(users)
        self.trace = TraceRecorder(self.start, "terni", TERNI_STEPS)
        c = spec.control
        self.cap = users.capacity_kwh
        self.target = np.minimum(users.soc_departure + c.target_margin_soc, c.soc_max)
        self.p_max = np.minimum(users.p_max_w, spec.terni.connector_kw * 1000.0)
        self.campaign = users.campaign.copy()
        self.incentive_eur = np.zeros(self.n)
        self.joined = np.zeros(self.n, dtype=bool)
        self.zone_of = [f"feeder/{setup.feeder_of[s]}" for s in users.site_id]
        self.zone_parent = {f"feeder/{f}": "primary" for f in setup.feeder_of.values()}
        self.book = SessionBook(
            users.session_id,
            users.site_id,
            setup.arr_k,
            setup.dep_k,
            {
                sid: ChargingSite(
                    sid, spec.terni.connectors_per_site, spec.terni.connector_kw * 1e3
                )
                for sid in setup.sites
            },
            soc_arrival=users.soc_arrival,
            n_steps=self.k_all,
            step_s=self.dt,
            slot=setup.slot,
        )
        d = spec.dso
        self.dso = Dso(
            "dso",
            [
                ZoneModel(
                    "primary",
                    load_nom_w=zone_load_w,
                    pv_peak_w=zone_pv_w,
                    gen_const_w=zone_gen_w,
                    export_limit_w=d.export_limit_mw * 1e6,
                    price_cap_eur_per_mwh=d.price_cap_eur_per_mwh,
                )
            ],
            ForecastConfig(d.load_error_std, d.pv_error_std, SETTLEMENT_S),
            seed=spec.seed,
            max_window_intervals=d.max_window_intervals,
            stream=DSO_STREAM,
        )
        m = spec.market
        self.emsp = Emsp(
            EmspConfig(
                degradation_eur_per_mwh=m.degradation_eur_per_mwh,
                margin_eur_per_mwh=m.emsp_margin_eur_per_mwh,
                price_step_eur_per_mwh=m.price_step_eur_per_mwh,
                emsp_share=m.emsp_share,
                tariff_eur_per_kwh=m.tariff_eur_per_kwh,
                bidirectional=self.strategy == "v2g",
            ),
            self.start,
            zone_parent=self.zone_parent,
        )
        zones = {"primary", *self.zone_parent}
        self.batteries: dict[str, StationaryBattery] = {}
        for prov in m.providers:
            if prov.zone not in zones:
                raise ScenarioError(
                    f"market.providers: {prov.provider_id}: unknown zone {prov.zone!r}; "
                    f"known: {', '.join(sorted(zones))}"
                )
            self.batteries[prov.provider_id] = StationaryBattery(
                prov.provider_id,
                prov.zone,
                capacity_kwh=prov.capacity_kwh,
                p_max_w=prov.p_max_kw * 1e3,
                soc=prov.soc_initial,
                soc_min=prov.soc_min,
                soc_max=prov.soc_max,
                eta=prov.eta,
                bid_price_eur_per_mwh=prov.price_eur_per_mwh,
                zone_parent=self.zone_parent,
            )
        self.charge_window = np.zeros(self.k_all, dtype=bool)
        self.discharge_window = np.zeros(self.k_all, dtype=bool)
        self.forecast_p_net_w = np.full(self.k_all, np.nan)
        self.grid = StepGrid(self.start, self.dt, self.k_all)
        self.per_interval = per_interval(self.grid)
        self.portfolio = EmspPortfolio(
            self.emsp,
            self.grid,
            zones=self.zone_of,
            thresholds_eur_per_mwh=users.price_threshold_eur_per_mwh,
            energy_kwh=self.book.energy_kwh,
            planner=self._plan,
        )
        self.flex_w = self.portfolio.flex_w
        self.battery_providers = {
            pid: BatteryProvider(bat, self.grid) for pid, bat in self.batteries.items()
        }
        self.provider_p_w = {pid: bp.p_w for pid, bp in self.battery_providers.items()}
        self.market = MarketCycle(
            self.grid,
            MarketTiming(m.period_s, m.gate_closure_after_s, m.delivery_lead_s),
            DsoBuyer(self.dso, self.grid, setup.load_pu, setup.pv_pu, self._on_forecast),
            [self.portfolio, *self.battery_providers.values()],
            zone_parent=self.zone_parent,
            on_event=self._on_market,
        )
        self._provider_now: dict[str, float] = {pid: 0.0 for pid in self.batteries}

    # ------------------------------------------------------------------ helpers
    @property
    def providers(self) -> tuple[str, ...]:
        """Ids of the other flexibility providers (stationary batteries)."""
        return tuple(self.batteries)

    def provider_power_w(self) -> dict[str, float]:
        """Power [W, load convention] each battery draws in the step last run."""
        return dict(self._provider_now)

    def _utc(self, k: int) -> dt.datetime:
        return self.start + dt.timedelta(seconds=k * self.dt)

    def _rec(
        self, k: int, step: str, sender: str, receiver: str, info: str, payload: object
    ) -> None:
        self.trace.record(self._utc(k), step, sender, receiver, info, payload)

    def _ev(self, rows: IntArray) -> EvArrays:
        c = self.spec.control
        bidir = self.strategy == "v2g"
        return EvArrays(
            soc=self.book.soc[rows],
            capacity_kwh=self.cap[rows],
            departure_s=(self.s.dep_k[rows] * self.dt).astype(float),
            soc_target=self.target[rows],
            soc_min=self.s.users.soc_min[rows],
            soc_max=np.full(len(rows), c.soc_max),
            p_max_charge_w=self.p_max[rows],
            p_max_discharge_w=self.p_max[rows] if bidir else np.zeros(len(rows)),
            connected=self.book.connected(rows),
            eta_charge=c.eta_charge,
            eta_discharge=c.eta_discharge,
        )

    def _campaign(self, rows: IntArray) -> BoolArray:
        if self.strategy == "uncontrolled":
            return np.zeros(len(rows), dtype=bool)
        out: BoolArray = self.campaign[rows]
        return out

    # ------------------------------------------------------------------ the step
    def step(
        self, k: int, soc_by_site: dict[str, list[float]], p_ac_by_site: dict[str, list[float]]
    ) -> dict[str, list[float]]:
        """Advance to step ``k``; inputs per site and slot; returns P setpoints per slot [W]."""
        s = self.s
        for site in s.sites:
            soc = np.asarray(soc_by_site[site], dtype=float)
            self.book.meter(k, site, soc, np.asarray(p_ac_by_site[site], dtype=float))
        self.market.settle(k)
        self._departures(k)
        self._arrivals(k)
        out = {site: self._site_setpoints(k, site) for site in s.sites}
        self.market.step(k)
        for bp in self.battery_providers.values():
            bp.step(k)
        self._provider_now = {pid: float(p[k]) for pid, p in self.provider_p_w.items()}
        return out

    def _departures(self, k: int) -> None:
        users, book = self.s.users, self.book
        for ev in book.depart(k):
            i, sid, site, cid = ev.row, ev.session_id, ev.site, str(ev.connector_id)
            uid = users.user_id[i]
            stop = StopCharging(
                session_id=sid,
                connector_id=cid,
                time_utc=self._utc(k),
                soc=float(np.clip(book.soc[i], 0.0, 1.0)),
                reason="departure",
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
            t = self._utc(k)
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
                usable_capacity_kwh=float(self.cap[i]),
                p_max_charge_w=float(self.p_max[i]),
                p_max_discharge_w=float(self.p_max[i]),
            )
            self._rec(k, "2", f"ev/{sid}", f"evse/{cid}", f"session {sid}: plug-in", plug)
            self._rec(k, "3", uid, "emsp", f"session {sid}: session creation", creation)
            reg = registration(users, i, self.start)
            reg = dataclasses.replace(reg, time_utc=t)
            self._rec(k, "4", uid, "emsp", f"session {sid}: consent and registration", reg)
            prefs = preferences(users, i, self.start)
            prefs = dataclasses.replace(prefs, departure_utc=self._utc(int(self.s.dep_k[i])))
            self._rec(k, "5", uid, "emsp", f"session {sid}: departure and SOC wish", prefs)
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
        t = self._utc(k)
        users = s.users
        sid_of = {self.book.connector[int(i)]: users.session_id[int(i)] for i in rows}
        row_of = {users.session_id[int(i)]: int(i) for i in rows}
        data = [
            SessionData(
                session_id=users.session_id[int(i)],
                connector_id=str(self.book.connector[int(i)]),
                time_utc=t,
                soc=float(np.clip(self.book.soc[int(i)], 0.0, 1.0)),
                usable_capacity_kwh=float(self.cap[int(i)]),
                departure_utc=self._utc(int(s.dep_k[int(i)])),
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
        p_req = decide(
            self.strategy,
            ev,
            float(k * self.dt),
            float(self.dt),
            charge_window=bool(self.charge_window[k]),
            discharge_window=bool(self.discharge_window[k]),
            flex_w=self.flex_w[rx, k],
            campaign=self._campaign(rx),
        )
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
        fc = forecasts[0]
        self._rec(k, "D1", "dso_forecast", "dso", "reverse flow and voltage forecast", fc)
        p_step = np.repeat(np.asarray(fc.p_net_w), self.per_interval)[: self.k_all - k]
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
            self._rec(
                k,
                "J1",
                "emsp",
                uid,
                f"session {sid}: DSO requests",
                self.emsp.campaign_list(uid, reqs),
            )
            prefs = preferences(users, int(i), self.start)
            prefs = dataclasses.replace(prefs, departure_utc=self._utc(int(self.s.dep_k[i])))
            self._rec(k, "J2", uid, "emsp", f"session {sid}: price and minimum SOC", prefs)
            join = JoinCampaign(user_id=uid, session_id=sid, join=True)
            self._rec(k, "J3", uid, "emsp", f"session {sid}: joins the campaign", join)
            self.joined[i] = True
        rows = np.arange(self.n, dtype=np.int64)
        ev = self._ev(rows)
        camp = self._campaign(rows)
        p_plan, soc_plan = plan(
            self.strategy,
            ev,
            float(k * self.dt),
            float(self.dt),
            self.charge_window[k:],
            self.discharge_window[k:],
            campaign=camp,
            flex_w=self.flex_w[:, k:],
        )
        return PortfolioPlan(ev, p_plan, soc_plan, camp & self.joined)

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
    def sessions_frame(self) -> pd.DataFrame:
        """One row per session: times, SOCs, status, connector, slot, energies, money."""
        users = self.s.users
        extra = {
            "user_id": list(users.user_id),
            "arrival_drawn_s": users.arrival_s,
            "departure_drawn_s": users.departure_s,
            "capacity_kwh": users.capacity_kwh,
            "soc_arrival": users.soc_arrival,
            "soc_wish": users.soc_departure,
            "soc_min": users.soc_min,
            "campaign": users.campaign,
            "joined": self.joined,
            "incentive_eur": self.incentive_eur,
        }
        return self.book.frame(extra, SESSION_COLUMNS)

    def summary(self) -> dict[str, Any]:
        """Market and money totals of the run."""
        return {
            **self.market.totals(),
            "user_revenue_eur": float(self.incentive_eur.sum()),
            "flex_by_provider": self._by_provider(),
        }

    def _by_provider(self) -> dict[str, dict[str, float]]:
        """Offers, awards, matched/delivered MWh and payments per provider (EMSP first)."""
        out: dict[str, dict[str, float]] = {}
        for pid in (self.emsp.config.provider_id, *self.battery_providers):
            row = self.market.provider_totals(pid)
            if pid in self.battery_providers:
                p = self.provider_p_w[pid]
                row["energy_charged_kwh"] = float(np.clip(p, 0, None).sum() * self.dt / 3.6e6)
                row["energy_discharged_kwh"] = float(-np.clip(p, None, 0).sum() * self.dt / 3.6e6)
                row["soc_end"] = float(self.battery_providers[pid].battery.soc)
            out[pid] = row
        return out

    def steps_frame(self) -> pd.DataFrame:
        """One row per step: DSO forecast in force, strategy windows, EV and battery powers."""
        ev_w = self.book.energy_kwh * 3.6e6 / self.dt
        data: dict[str, Any] = {
            "time_utc": [self._utc(k).isoformat() for k in range(self.k_all)],
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
