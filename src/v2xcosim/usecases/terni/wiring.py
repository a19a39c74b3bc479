"""The only mapping from the Terni scenario schema to domain objects.

:func:`terni_setup` derives everything fixed before the run (network spec, profiles on the step
grid, the user population, the FMU slot of each session); the other functions build the actors
of :class:`~v2xcosim.usecases.terni.flow.TerniUseCase` from the scenario's sections.  Where a
domain dataclass and a scenario section share a field name the value passes by name
(:func:`_shared`); everything else (units, ranges, renamed keys) is mapped here, explicitly.

**Sessions and FMU slots.**  One fleet FMU per charging site with one vehicle *slot per
session* of the horizon (the site's sessions in arrival order; all sites use the size of the
largest so one FMU build serves all).  A slot is idle (0 W) until its session arrives and after
it leaves; its ``soc_start`` is the session's arrival SOC and its ``n_parallel`` scales the
pack to the session's capacity, its ``q_cal_start``/``q_cyc_start`` are the car's initial
capacity losses (from its age), so the EV state is exact from arrival on.  Arrival and
departure are rounded to the nearest step boundary (at least one step of stay); the dwell used
for feasibility is that simulated stay.

**Early departures.**  ``dep_k`` is the declared departure step (what the EMSP, the strategy
and the CS EMS are told); ``leave_k`` (≤ ``dep_k``, > ``arr_k``) when the car really leaves —
the session book uses it, nobody is told in advance.

**Zones.**  The DSO's zones are ``primary`` (the primary-substation area) and
``feeder/<LV feeder>`` inside it; a session is in the zone of its site's feeder.
:attr:`TerniSetup.zones` holds each zone's series
(:func:`~v2xcosim.usecases.terni.inputs.zone_series`: load, similar-day reference, PV,
clear-sky PV, cloud cover, hydro, at 900 s), the DSO's own forecast basis.

**The DSO** (:func:`zone_series`, :func:`dso`): one :class:`ZoneSeries` per zone from the
setup, limits from ``[dso]``, voltage models computed from the network.

**Random streams.**  The users draw from ``terni/users/<site>`` and the DSO's forecast errors
from ``terni/dso`` (:data:`USERS_STREAM`, :data:`DSO_STREAM`), fixed so Terni's draws never
change.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.timegrid import step_times
from v2xcosim.domain.cs_ems import ChargingSite, EvArrays
from v2xcosim.domain.dso import (
    Dso,
    ForecastConfig,
    Product,
    RequestConfig,
    VoltageModel,
    ZoneLimits,
)
from v2xcosim.domain.emsp import Emsp, EmspConfig
from v2xcosim.domain.lfmp import SETTLEMENT_S
from v2xcosim.domain.market.cycle import MarketTiming
from v2xcosim.domain.provider import StationaryBattery
from v2xcosim.domain.sessions import SessionBook, assign_slots
from v2xcosim.domain.users import (
    ITALY_2024_FLEET,
    UserPopulationSpec,
    UserTable,
    VehicleModel,
    draw_users,
)
from v2xcosim.domain.zones import ZoneSeries
from v2xcosim.usecases.terni.inputs import ElementInputs, InputSettings
from v2xcosim.usecases.terni.network import (
    DEFAULT_LV_FEEDERS,
    LvFeederSpec,
    TerniNetwork,
    TerniNetworkSpec,
)

if TYPE_CHECKING:  # the schema's check() imports this module
    from v2xcosim.usecases.terni.schema import TerniScenario

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FMU_REFERENCE_N_PARALLEL = 80.0
"""``n_parallel`` of the EV FMU's reference pack (``terni.fmu_reference_capacity_kwh``)."""

USERS_STREAM = "terni/users"
"""Random-stream prefix of the users (``<prefix>/<site>``), fixed so Terni's draws never change."""
DSO_STREAM = "terni/dso"
"""Random stream of the DSO's forecast errors."""

PRIMARY = "primary"
"""DSO zone of the primary-substation area (the LV feeders' zones lie inside it)."""


def _shared(section: BaseModel, cls: type) -> dict[str, Any]:
    """Values of ``section`` whose names are fields of dataclass ``cls``."""
    names = {f.name for f in dataclasses.fields(cls)} & set(type(section).model_fields)
    return section.model_dump(include=names)


# ---------------------------------------------------------------------- before the run
def base_network(spec: TerniScenario) -> TerniNetworkSpec:
    """Return the scenario's network parameters without detailed LV feeders."""
    shared = _shared(spec.terni, TerniNetworkSpec)
    shared.pop("lv_feeders", None)  # the schema's table, mapped by _lv_feeders
    return TerniNetworkSpec(**shared, lv_feeders=())


def _shape(t: Any) -> dict[str, Any]:
    """Return the LV feeder size keys of ``[terni.placement]`` or a ``[[terni.lv_feeders]]`` row."""
    names = ("n_nodes", "segment_m", "node_load_kw", "node_pv_kwp", "charger_node")
    return {k: getattr(t, k) for k in names}


def _lv_feeders(spec: TerniScenario) -> tuple[LvFeederSpec, ...]:
    """Return the LV feeders, unchecked: explicit table, automatic placement or default."""
    t = spec.terni
    if t.lv_feeders is not None:
        return tuple(
            LvFeederSpec(
                name=e.name,
                site_id=e.site_id,
                mv_bus=e.mv_bus,
                n_connectors=t.connectors_per_site if e.n_connectors is None else e.n_connectors,
                connector_kw=t.connector_kw,
                **_shape(e),
            )
            for e in t.lv_feeders
        )
    if t.placement is not None:
        from v2xcosim.usecases.terni.placement import place_lv_feeders, split_points

        p = t.placement
        cp = p.charge_points
        if cp is None:
            connectors = (t.connectors_per_site,) * p.charging_zones
        elif isinstance(cp, int):
            connectors = split_points(cp, p.charging_zones)
        else:
            connectors = tuple(cp)
        template = LvFeederSpec(
            name="", site_id="", mv_bus="", connector_kw=t.connector_kw, **_shape(p)
        )
        return place_lv_feeders(base_network(spec), template, connectors)
    return tuple(
        dataclasses.replace(f, n_connectors=t.connectors_per_site, connector_kw=t.connector_kw)
        for f in DEFAULT_LV_FEEDERS
    )


def feeder_problems(spec: TerniScenario) -> list[tuple[str, str]]:
    """Problems of the scenario's charging zones, as ``(key path, message)``.

    ``[terni.placement]``: too many zones for the secondary substations that can hold a feeder
    (:func:`~v2xcosim.usecases.terni.placement.place_lv_feeders`); ``[[terni.lv_feeders]]``:
    unknown MV buses and feeders that overload their bus's aggregated LV grid
    (:func:`~v2xcosim.usecases.terni.placement.feeder_problems`).  The default feeders need no
    check (nor a network build).
    """
    t = spec.terni
    if t.placement is None and t.lv_feeders is None:
        return []
    from v2xcosim.usecases.terni import placement

    try:
        feeders = _lv_feeders(spec)
    except ScenarioError as exc:
        return [("terni.placement", str(exc).removeprefix("terni.placement: "))]
    if t.lv_feeders is None:
        return []
    return placement.feeder_problems(base_network(spec), feeders)


def network_spec(spec: TerniScenario) -> TerniNetworkSpec:
    """Return the Terni network parameters of the scenario, its LV feeders included.

    The feeders: ``[[terni.lv_feeders]]`` (checked by :func:`feeder_problems`), the automatic
    ``[terni.placement]`` (:mod:`~v2xcosim.usecases.terni.placement`) or, with neither, the
    three default feeders with ``terni.connectors_per_site`` connectors each.
    """
    problems = feeder_problems(spec)
    if problems:
        raise ScenarioError("; ".join(f"{k}: {m}" for k, m in problems))
    return dataclasses.replace(base_network(spec), lv_feeders=_lv_feeders(spec))


def site_connectors(spec: TerniScenario) -> dict[str, int]:
    """Charging-site id → number of connectors (of ``terni.connector_kw`` each)."""
    return {f.site_id: f.n_connectors for f in network_spec(spec).lv_feeders}


def input_settings(spec: TerniScenario) -> InputSettings:
    """Time grid, seed and PV model of the per-element inputs of the scenario."""
    from v2xcosim.usecases.terni.profiles import CloudSpec

    t = spec.terni
    clouds = CloudSpec(
        t.cloud_mean_oktas, t.cloud_std_oktas, t.cloud_correlation_h, t.cloud_zone_correlation
    )
    return InputSettings(
        start_utc=spec.time.start_utc,
        step_s=spec.time.step_s,
        n_steps=spec.time.n_steps,
        seed=spec.seed,
        clouds=clouds,
        performance_ratio=t.pv_performance_ratio,
    )


def population_spec(spec: TerniScenario) -> UserPopulationSpec:
    """Return the user population of ``[users]`` at the scenario's chargers.

    ``users.fleet`` (car models, kW → W) replaces :data:`~v2xcosim.domain.users.ITALY_2024_FLEET`
    when given.
    """
    u = spec.users
    fleet = ITALY_2024_FLEET
    if u.fleet is not None:
        fleet = tuple(
            VehicleModel(v.name, v.capacity_kwh, v.p_ac_max_kw * 1e3, v.v2g_ac, v.share)
            for v in u.fleet
        )
    return UserPopulationSpec(
        **_shared(u, UserPopulationSpec),
        vehicles=fleet,
        p_max_w=spec.terni.connector_kw * 1000.0,
        soc_departure_range=(u.soc_departure_min, u.soc_departure_max),
        soc_min_range=(u.soc_min_min, u.soc_min_max),
        early_departure_fraction_range=(
            u.early_departure_min_fraction,
            u.early_departure_max_fraction,
        ),
    )


def _take(users: UserTable, idx: IntArray) -> UserTable:
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(users):
        v = getattr(users, f.name)
        kw[f.name] = tuple(v[i] for i in idx) if isinstance(v, tuple) else v[idx]
    return UserTable(**kw)


@dataclasses.dataclass(frozen=True)
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
    leave_k: IntArray
    slot: IntArray
    fleet_size: int
    n_parallel: FloatArray
    zones: dict[str, ZoneSeries]
    """DSO zone → its series at 900 s (``primary``, ``feeder/<LV feeder>``)."""
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


@dataclasses.dataclass(frozen=True)
class _Sessions:
    """The drawn sessions of a horizon and their FMU slots (the network-free part of a setup)."""

    users: UserTable
    arr_k: IntArray
    dep_k: IntArray
    leave_k: IntArray
    slot: IntArray
    fleet_size: int
    n_parallel: FloatArray


def _sessions(spec: TerniScenario, net_spec: TerniNetworkSpec) -> _Sessions:
    """Draw the users of the horizon and give each session its FMU slot (module docstring)."""
    dt_s, k_all = spec.time.step_s, spec.time.n_steps
    start = spec.time.start_utc
    pop = population_spec(spec)
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
        sites=[(f.site_id, f.n_connectors) for f in net_spec.lv_feeders],
        stream_prefix=USERS_STREAM,
    )
    arr_k_all = np.rint(drawn.arrival_s / dt_s).astype(np.int64)
    keep = np.flatnonzero(arr_k_all < k_all).astype(np.int64)
    if spec.base_case:  # the documented switch: the same day without any EV session
        keep = keep[:0]
    users = _take(drawn, keep)
    arr_k = np.rint(users.arrival_s / dt_s).astype(np.int64)
    dep_k = np.maximum(np.rint(users.departure_s / dt_s).astype(np.int64), arr_k + 1)
    leave_k = np.clip(np.rint(users.departure_actual_s / dt_s).astype(np.int64), arr_k + 1, dep_k)
    sites = tuple(f.site_id for f in net_spec.lv_feeders)
    slot = assign_slots(users.site_id, sites)
    counts = [int(np.sum(np.array(users.site_id) == s)) for s in sites] if len(users) else [0]
    n_par = FMU_REFERENCE_N_PARALLEL * users.capacity_kwh / spec.terni.fmu_reference_capacity_kwh
    return _Sessions(
        users=users,
        arr_k=arr_k,
        dep_k=dep_k,
        leave_k=leave_k,
        slot=slot,
        fleet_size=max(1, *counts),
        n_parallel=n_par.astype(float),
    )


def fleet_size(spec: TerniScenario) -> int:
    """Slots of each site's fleet FMU (sessions of the busiest site; without the network).

    Equal to ``terni_setup(spec).fleet_size``; the users are drawn alone, so the FMU can be
    built and checked before the network and its inputs exist.
    """
    return _sessions(spec, network_spec(spec)).fleet_size


def terni_setup(
    spec: TerniScenario, *, tn: TerniNetwork | None = None, inputs: ElementInputs | None = None
) -> TerniSetup:
    """Profiles, users and FMU slots of a Terni scenario (see the module docstring).

    ``tn`` and ``inputs``, when the caller has built them already, are the scenario's network
    and its per-element inputs (:func:`~v2xcosim.usecases.terni.inputs.element_inputs`).
    """
    from v2xcosim.usecases.terni.inputs import element_inputs, past_loads, zone_series
    from v2xcosim.usecases.terni.network import build_terni_network
    from v2xcosim.usecases.terni.profiles import ambient_temperature_k, price_eur_per_mwh

    dt_s, k_all = spec.time.step_s, spec.time.n_steps
    times = step_times(spec.time.start_utc, k_all, dt_s)
    mid = times + pd.Timedelta(seconds=dt_s / 2)
    net_spec = network_spec(spec)
    if tn is None:
        tn = build_terni_network(net_spec)
    if inputs is None:
        inputs = element_inputs(tn, input_settings(spec))
    # the DSO's metered past before the start: its level-correction window (0 h: none)
    past = past_loads(tn, input_settings(spec), spec.dso.level_window_h)
    zones = zone_series(tn, inputs, past)
    ses = _sessions(spec, net_spec)
    return TerniSetup(
        start_utc=spec.time.start_utc,
        step_s=dt_s,
        n_steps=k_all,
        sites=tuple(f.site_id for f in net_spec.lv_feeders),
        feeder_of={f.site_id: f.name for f in net_spec.lv_feeders},
        users=ses.users,
        arr_k=ses.arr_k,
        dep_k=ses.dep_k,
        leave_k=ses.leave_k,
        slot=ses.slot,
        fleet_size=ses.fleet_size,
        n_parallel=ses.n_parallel,
        zones=zones,
        t_amb_k=ambient_temperature_k(mid),
        price_eur_per_mwh=price_eur_per_mwh(times),
    )


# ---------------------------------------------------------------------- sessions and EVs
def session_book(spec: TerniScenario, setup: TerniSetup) -> SessionBook:
    """Return the sessions of the run at the sites' chargers, with the setup's FMU slots.

    The book holds when the cars really leave (``leave_k``), not the declared departure.
    """
    t, users = spec.terni, setup.users
    n_conn = site_connectors(spec)
    sites = {s: ChargingSite(s, n_conn[s], t.connector_kw * 1e3) for s in setup.sites}
    return SessionBook(
        users.session_id,
        users.site_id,
        setup.arr_k,
        setup.leave_k,
        sites,
        soc_arrival=users.soc_arrival,
        n_steps=setup.n_steps,
        step_s=setup.step_s,
        slot=setup.slot,
    )


def ev_template(spec: TerniScenario, setup: TerniSetup, *, bidirectional: bool) -> EvArrays:
    """Return every session's fixed EV parameters under ``[control]`` (none connected).

    Target = wish + ``target_margin_soc`` (at most ``soc_max``); power limited by the car's
    on-board charger and the connector; discharge only if the strategy is ``bidirectional``
    and the car can discharge on AC (``users.v2g_capable``).  The departure is the declared one.
    """
    c, users = spec.control, setup.users
    n = len(users)
    p_max = np.minimum(users.p_max_w, spec.terni.connector_kw * 1000.0)
    return EvArrays(
        soc=users.soc_arrival,
        capacity_kwh=users.capacity_kwh,
        departure_s=(setup.dep_k * setup.step_s).astype(float),
        soc_target=np.minimum(users.soc_departure + c.target_margin_soc, c.soc_max),
        soc_min=users.soc_min,
        soc_max=np.full(n, c.soc_max),
        p_max_charge_w=p_max,
        p_max_discharge_w=np.where(users.v2g_capable, p_max, 0.0) if bidirectional else np.zeros(n),
        connected=np.zeros(n, dtype=bool),
        eta_charge=c.eta_charge,
        eta_discharge=c.eta_discharge,
    )


def dso_zones(setup: TerniSetup) -> tuple[list[str], dict[str, str]]:
    """DSO zone of every session (its site's feeder) and each feeder zone's parent."""
    zone_of = [f"feeder/{setup.feeder_of[s]}" for s in setup.users.site_id]
    return zone_of, {f"feeder/{f}": PRIMARY for f in setup.feeder_of.values()}


# ---------------------------------------------------------------------- the DSO
def zone_series(setup: TerniSetup) -> tuple[ZoneSeries, ...]:
    """Return what the DSO knows of each zone (:attr:`TerniSetup.zones`), the primary first.

    Built by :func:`~v2xcosim.usecases.terni.inputs.zone_series` from the per-element inputs:
    realised load and PV, the similar-day load reference, clear-sky PV, the zone's cloud path and
    the hydro plant's output.
    """
    rest = [z for k, z in sorted(setup.zones.items()) if k != PRIMARY]
    return (setup.zones[PRIMARY], *rest)


def _mw(x: float | None) -> float:
    return math.inf if x is None else x * 1e6


def dso(
    spec: TerniScenario,
    series: Sequence[ZoneSeries],
    voltage: Mapping[str, tuple[float, Mapping[str, float], float]],
    zone_parent: Mapping[str, str],
) -> Dso:
    """Return the DSO of ``[dso]`` for the zones of ``series``.

    ``voltage[zone] = (vm0_pu, {zone_j: s_j}, s_flex)`` [pu, pu/W] is the linear voltage model
    the use case computed from its network
    (:func:`~v2xcosim.usecases.terni.network.zone_voltage_models`); it applies to a zone that
    has ``vm_max_pu``/``vm_min_pu``.
    """
    d = spec.dso
    zones = []
    for s in series:
        z = d.zone(s.zone)
        vm = None
        if s.zone in voltage and (z.vm_max_pu is not None or z.vm_min_pu is not None):
            vm0, sens, s_flex = voltage[s.zone]
            vm = VoltageModel(
                vm0,
                dict(sens),
                vm_max_pu=z.vm_max_pu,
                vm_min_pu=z.vm_min_pu,
                flex_pu_per_w=s_flex,
            )
        limits = ZoneLimits(
            s.zone,
            reverse_flow_limit_w=_mw(z.reverse_flow_limit_mw),
            import_limit_w=_mw(z.import_limit_mw),
            voltage=vm,
            rationale=z.rationale,
        )
        zones.append((s, limits))
    return Dso(
        "dso",
        zones,
        ForecastConfig(**_shared(d, ForecastConfig), interval_s=SETTLEMENT_S),
        seed=spec.seed,
        stream=DSO_STREAM,
        requests=RequestConfig(**_shared(d, RequestConfig)),
        product=Product(
            d.product,
            availability_price_eur_per_mw_h=d.availability_price_eur_per_mw_h,
            activation_price_eur_per_mwh=d.price_cap_eur_per_mwh,
        ),
        zone_parent=zone_parent,
    )


# ---------------------------------------------------------------------- actors
def emsp(spec: TerniScenario, zone_parent: dict[str, str], *, bidirectional: bool) -> Emsp:
    """Return the EMSP of ``[market]`` (offering discharge if the strategy is bidirectional).

    The V2G credit's efficiencies are ``[control]``'s ``eta_charge``/``eta_discharge``: the
    EMSP bills the users as if their cars had not cycled (:meth:`Emsp.billed_kwh`).
    """
    cfg = EmspConfig(
        **_shared(spec.market, EmspConfig),
        bidirectional=bidirectional,
        credit_eta_charge=spec.control.eta_charge,
        credit_eta_discharge=spec.control.eta_discharge,
    )
    return Emsp(cfg, spec.time.start_utc, zone_parent=zone_parent)


def batteries(spec: TerniScenario, zone_parent: dict[str, str]) -> list[StationaryBattery]:
    """Return the stationary batteries of ``[[market.providers]]`` (their zones must exist)."""
    zones = {PRIMARY, *zone_parent}
    out = []
    for prov in spec.market.providers:
        if prov.zone not in zones:
            raise ScenarioError(
                f"market.providers: {prov.provider_id}: unknown zone {prov.zone!r}; "
                f"known: {', '.join(sorted(zones))}"
            )
        out.append(
            StationaryBattery(
                **_shared(prov, StationaryBattery),
                p_max_w=prov.p_max_kw * 1e3,
                soc=prov.soc_initial,
                bid_price_eur_per_mwh=prov.price_eur_per_mwh,
                min_offer_w=spec.market.min_offer_kw * 1e3,
                zone_parent=zone_parent,
            )
        )
    return out


def market_timing(spec: TerniScenario) -> MarketTiming:
    """Return the opening period, gate closure and delivery lead of ``[market]``."""
    return MarketTiming(**_shared(spec.market, MarketTiming))


__all__ = [
    "DSO_STREAM",
    "FMU_REFERENCE_N_PARALLEL",
    "PRIMARY",
    "USERS_STREAM",
    "TerniSetup",
    "base_network",
    "batteries",
    "dso",
    "dso_zones",
    "emsp",
    "ev_template",
    "feeder_problems",
    "fleet_size",
    "input_settings",
    "market_timing",
    "network_spec",
    "population_spec",
    "session_book",
    "site_connectors",
    "terni_setup",
    "zone_series",
]
