"""The Terni world on the generic simulators, its plan and its KPIs.

Data flow of one step (lock-step, ``time.step_s``)::

    Profiles                     Grid (every load and generator its own profile, computed in
        │                        the grid process by usecases.terni.inputs) ──────► Store
        └──t_amb_k──► Fleet (site) ──p_ac_w, q_ac_var──► Connection (site)
    Actor (site) ──p_set_w──┘ │  ▲ └──vm_pu at the charger bus (time-shifted)
        ▲──soc, p_ac_w, q_cal, q_cyc (time-shifted)
    Actor (battery) ──p_w──► Connection (battery)

One entity per charging site and per battery; a site's fleet, grid connection and actor write
one table, ``site_<id>.parquet`` (slot vectors ``p_ac_w``, ``q_ac_var``, ``soc``, ``e_ac_j``,
``q_cal``, ``q_cyc`` (capacity losses), ``p_set_w`` and ``plugged`` (1 while a session is
plugged in); scalars ``vm_pu`` at the charger bus, ``p_lv_trafo_w``, ``vm_lv_max_pu``,
``vm_lv_min_pu``), a battery ``provider_<id>.parquet`` (``p_w``).  The actors' flow writes
``trace.parquet``, ``sessions.parquet``, ``settlement.parquet``, ``terni_steps.parquet``,
``terni_awards.parquet`` and ``terni_actors.json``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from v2xcosim.config.common import spec_to_jsonable
from v2xcosim.core.errors import ScenarioError
from v2xcosim.cosim.fleet_sim import fleet_params
from v2xcosim.cosim.world import add_store, new_world, stop_all_on_error
from v2xcosim.domain.ageing import Q_START_MIN
from v2xcosim.fmu.fleet import FleetFmus
from v2xcosim.report.kpis import (
    energy_mwh,
    finite_max,
    finite_min,
    grid_kpis,
    peak_mw,
    ten_minute_kpis,
)
from v2xcosim.report.results import json_clean
from v2xcosim.usecases.terni.bound import BOUND_KPI_KEYS, lv_bound_kpis
from v2xcosim.usecases.terni.flow import TerniSetup, network_spec, terni_setup
from v2xcosim.usecases.terni.schema import TerniScenario
from v2xcosim.usecases.terni.wiring import fleet_size, input_settings

if TYPE_CHECKING:
    from v2xcosim.usecases.terni.inputs import GridInputs
    from v2xcosim.usecases.terni.network import TerniGridModel, TerniNetwork

KPI_KEYS: tuple[str, ...] = (
    "reverse_flow_energy_mwh",
    "reverse_flow_peak_mw",
    "voltage_violation_bus_hours",
    "max_line_loading_pct",
    "max_trafo_loading_pct",
    "flex_requested_mwh",
    "flex_delivered_mwh",
    "market_clearing_rate",
    "user_revenue_eur",
    "departure_soc_shortfall_kwh",
    "infeasible_sessions",
    "degradation_eur",
    "sessions_rejected",
    "unserved_energy_kwh",
    "early_departures",
    "early_departure_shortfall_kwh",
)
"""The KPIs every Terni ``kpis.json`` holds (issue list), besides further details."""

LV_KPI_KEYS: tuple[str, ...] = (
    "lv_reverse_flow_energy_mwh",
    "lv_reverse_flow_peak_mw",
    "lv_sites",
    *BOUND_KPI_KEYS,
)
"""Local (LV) KPIs at the charging sites' secondary substations (:func:`lv_site_kpis`) and the
perfect-foresight bound of their reverse flow (:mod:`v2xcosim.usecases.terni.bound`)."""


FLEET_OUTPUTS = {
    "p_ac_w": "p_ac_w",
    "q_ac_var": "q_ac_var",
    "soc": "soc",
    "e_ac_j": "e_ac_j",
    "q_cal": "battery.q_cal",
    "q_cyc": "battery.q_cyc",
}
"""Outputs of each site's fleet (attribute -> FMU variable); ``e_ac_j`` is the AC energy meter,
``q_cal``/``q_cyc`` the battery's calendar and cycle capacity losses (fractions, Schmalstieg)."""
ACTOR_FEEDBACK = ("soc", "p_ac_w", "q_cal", "q_cyc")
"""Fleet outputs each site's actor reads at the start of a step (time-shifted)."""
FLEET_INPUTS = {"p_set_w": "p_set_w", "vm_pu": "vm_pu", "f_hz": "f_hz", "t_amb_k": "t_amb_k"}
"""Inputs of each site's fleet (role -> FMU variable)."""
PROFILES = ("t_amb_k", "price_eur_per_mwh")
"""The profiles of a run (:class:`~v2xcosim.usecases.terni.flow.TerniSetup` fields)."""


@dataclass(frozen=True)
class TerniPlan:
    """What a Terni run derives once from its spec, before the world is built.

    ``setup`` (users, slots, profiles, the DSO's zone series) goes to the simulators as JSON;
    ``bus_names``, ``line_names`` and ``trafo_names`` label the grid table's vectors;
    ``grid_inputs`` (every load's and generator's values per step) goes to the grid simulator
    as JSON; ``network`` is the network as built, before any operating point was set (the
    run's ``network.json``, :meth:`~v2xcosim.usecases.terni.TerniUseCase.network`).
    """

    fmu_path: FleetFmus
    """The fleet's FMU, or its fleet FMUs by size beyond 1000 slots (``fleet_chunks``)."""
    setup: TerniSetup
    bus_names: tuple[str, ...]
    line_names: tuple[str, ...]
    trafo_names: tuple[str, ...]
    zone_voltage: dict[str, tuple[float, dict[str, float], float]]
    """Each feeder zone's linear voltage model for the DSO (:func:`zone_voltage_models`)."""
    grid_inputs: GridInputs
    network: TerniNetwork


def preflight(spec: TerniScenario) -> FleetFmus:
    """Build (cached) the ``terni.ev_model`` fleet FMU sized for the largest site; return it.

    Beyond :data:`~v2xcosim.fmu.fleet.MAX_FLEET_FMU_EVS` slots, the fleet FMUs by size that
    every site's vehicles are split over (:func:`~v2xcosim.fmu.fleet.fleet_fmus`).

    The FMU-wide parameters of ``terni.fmu_instance_parameters`` are checked against it here,
    before anything is written.
    """
    from v2xcosim.fmu.fleet import fleet_fmus, open_fleet

    n = fleet_size(spec)
    path = fleet_fmus(spec.terni.ev_model, n)
    try:
        open_fleet(
            path,
            n=n,
            fleet=True,
            inputs=[],
            outputs=list(FLEET_OUTPUTS.values()),
            parameters={},
            instance_parameters=spec.terni.fmu_instance_parameters,
            name="terni",
        ).close()
    except ScenarioError as exc:
        msg = str(exc).removeprefix("site terni: ")
        raise ScenarioError(f"terni.fmu_instance_parameters: {msg}") from None
    return path


def plan(spec: TerniScenario, fmu_path: FleetFmus) -> TerniPlan:
    """Build the network and its inputs once; compute the setup and the DSO's voltage models."""
    from v2xcosim.usecases.terni.inputs import element_inputs, grid_inputs
    from v2xcosim.usecases.terni.network import (
        build_terni_network,
        set_element_inputs,
        zone_voltage_models,
    )

    tn = build_terni_network(network_spec(spec))
    built = copy.deepcopy(tn)  # as built: the voltage models' power flows below change `tn`
    net = tn.net
    inputs = element_inputs(tn, input_settings(spec))
    setup = terni_setup(spec, tn=tn, inputs=inputs)
    # the DSO's voltage models, linearised at the clear-sky PV peak of the horizon (the
    # reverse-flow case), every element at its own value of that step
    k = int(np.argmax(inputs.sgen_clearsky_mw[:, inputs.sgen_is_pv].sum(axis=1)))

    def background() -> None:
        set_element_inputs(
            tn, inputs.load_p_mw[k], inputs.load_q_mvar[k], inputs.sgen_clearsky_mw[k]
        )

    zone_voltage = zone_voltage_models(tn, background)
    return TerniPlan(
        fmu_path=fmu_path,
        setup=setup,
        bus_names=tuple(str(n) for n in net.bus["name"]),
        line_names=tuple(str(n) for n in net.line["name"]),
        trafo_names=tuple(str(n) for n in net.trafo["name"]),
        zone_voltage=zone_voltage,
        grid_inputs=grid_inputs(inputs),
        network=built,
    )


def fleet(spec: TerniScenario, plan: TerniPlan, site: str) -> dict[str, Any]:
    """Return the ``Fleet`` entity of ``site``: one slot per session, the users' batteries."""
    s = plan.setup
    t = spec.terni
    rows = s.site_rows(site)
    n_par = np.full(s.fleet_size, 80.0)
    n_par[s.slot[rows]] = s.n_parallel[rows]
    return fleet_params(
        site_id=site,
        fmu_path=plan.fmu_path,
        n=s.fleet_size,
        inputs=FLEET_INPUTS,
        outputs=FLEET_OUTPUTS,
        parameters={
            "n_parallel": [float(x) for x in n_par],
            "p_rated_w": t.connector_kw * 1000.0,
            "soc_min": t.fmu_soc_min,
            "soc_max": t.fmu_soc_max,
        },
        start={
            "soc_start": s.slot_vector(site, s.users.soc_arrival, 0.5),
            "q_cal_start": s.slot_vector(site, s.users.q_cal_start, Q_START_MIN),
            "q_cyc_start": s.slot_vector(site, s.users.q_cyc_start, Q_START_MIN),
        },
        instance_parameters=t.fmu_instance_parameters,
    )


GRID_MODEL = "v2xcosim.usecases.terni.world:grid_model"
"""Import string of :func:`grid_model` for the generic grid simulator."""
FLOW = "v2xcosim.usecases.terni.actors:terni_flow"
"""Import string of the actors' flow for the generic actor host."""


def grid_model(params: Mapping[str, Any]) -> TerniGridModel:
    """Build the Terni network (storages, OLTC) of ``params["scenario"]``; ``params["inputs"]``.

    ``params["scenario"]`` is the spec's JSON, ``params["inputs"]`` the run's
    :class:`~v2xcosim.usecases.terni.inputs.GridInputs` as JSON (:attr:`TerniPlan.grid_inputs`,
    computed once in the parent); without it (a grid model on its own, e.g. in a test) they are
    computed here from the spec, deterministically and equal
    (:func:`~v2xcosim.usecases.terni.inputs.element_inputs`).
    """
    from v2xcosim.core.jsondata import from_json
    from v2xcosim.grid.powerflow import PowerFlowOptions
    from v2xcosim.usecases.terni.inputs import GridInputs, element_inputs, grid_inputs
    from v2xcosim.usecases.terni.network import (
        TerniGridModel,
        add_oltc_control,
        add_storage,
        build_terni_network,
    )

    # the JSON form of a validated spec (datetimes and paths as text, tuples as lists)
    spec = TerniScenario.model_validate(params["scenario"], strict=False)
    tn = build_terni_network(network_spec(spec))
    if "inputs" in params:
        inputs = from_json(GridInputs, params["inputs"])
    else:
        inputs = grid_inputs(element_inputs(tn, input_settings(spec)))
    for prov in spec.market.providers:
        add_storage(tn, prov.provider_id, prov.bus, prov.capacity_kwh)
    if spec.terni.oltc:
        add_oltc_control(tn, spec.terni.oltc_vm_lower_pu, spec.terni.oltc_vm_upper_pu)
    g = spec.grid
    return TerniGridModel(
        tn,
        PowerFlowOptions(g.max_iteration, g.tolerance_mva, g.on_nonconvergence, g.solver),
        inputs,
        oltc=spec.terni.oltc,
        providers=[p.provider_id for p in spec.market.providers],
    )


def build_world(
    spec: TerniScenario, plan: TerniPlan, out_dir: Path, *, progress_fd: int | None = None
) -> Any:
    """Assemble the mosaik world of a Terni scenario (see the module docstring)."""
    from v2xcosim.core.jsondata import to_json
    from v2xcosim.usecases.terni.network import GRID_OUTPUTS, SITE_OUTPUTS

    js = spec_to_jsonable(spec)
    setup = plan.setup
    step_s = spec.time.step_s
    world = new_world(spec.placement)
    with stop_all_on_error(world):
        series = {p: [float(x) for x in getattr(setup, p)] for p in PROFILES}
        prof = world.start("Profiles", series=series, step_s=step_s).Profiles()
        grid_sim = world.start(
            "Grid",
            model=GRID_MODEL,
            params={"scenario": js, "inputs": to_json(plan.grid_inputs)},
            step_s=step_s,
        )
        grid = grid_sim.Grid()
        fmu_sim = world.start("FMU", step_s=step_s, outputs=list(FLEET_OUTPUTS))
        actor_sim = world.start(
            "Actors",
            model=FLOW,
            params={
                "scenario": js,
                "setup": to_json(setup),
                "zone_voltage": plan.zone_voltage,
            },
            step_s=step_s,
            out_dir=str(out_dir),
            until_s=spec.time.duration_s,
        )
        labels = {prof.full_id: "profiles", grid.full_id: "grid"}
        vector_labels = {
            "grid.vm_pu": list(plan.bus_names),
            "grid.line_loading_percent": list(plan.line_names),
            "grid.trafo_loading_percent": list(plan.trafo_names),
            "grid.p_trafo_hv_w": list(plan.trafo_names),
            "grid.q_trafo_hv_var": list(plan.trafo_names),
        }
        store_links: list[tuple[Any, list[str]]] = [
            (grid, list(GRID_OUTPUTS)),
            (prof, list(PROFILES)),
        ]
        for site in setup.sites:
            ev = fmu_sim.Fleet(**fleet(spec, plan, site))
            conn = grid_sim.Connection(conn_id=site)
            actor = actor_sim.Actor(actor_id=site)
            for entity in (ev, conn, actor):
                labels[entity.full_id] = f"site_{site}"
            world.connect(actor, ev, "p_set_w")
            world.connect(ev, conn, ("p_ac_w", "p_w"), ("q_ac_var", "q_var"))
            world.connect(prof, ev, "t_amb_k")
            world.connect(
                ev,
                actor,
                *ACTOR_FEEDBACK,
                time_shifted=True,
                initial_data={
                    "soc": setup.slot_vector(site, setup.users.soc_arrival, 0.5),
                    "p_ac_w": [0.0] * setup.fleet_size,
                    "q_cal": setup.slot_vector(site, setup.users.q_cal_start, Q_START_MIN),
                    "q_cyc": setup.slot_vector(site, setup.users.q_cyc_start, Q_START_MIN),
                },
            )
            world.connect(conn, ev, "vm_pu", time_shifted=True, initial_data={"vm_pu": 1.0})
            store_links += [
                (ev, list(FLEET_OUTPUTS)),
                (conn, list(SITE_OUTPUTS)),
                (actor, ["p_set_w", "plugged"]),
            ]
        for prov in spec.market.providers:  # stationary batteries: setpoint → pandapower storage
            conn = grid_sim.Connection(conn_id=prov.provider_id)
            actor = actor_sim.Actor(actor_id=prov.provider_id)
            labels[actor.full_id] = f"provider_{prov.provider_id}"
            world.connect(actor, conn, "p_w")
            store_links.append((actor, ["p_w"]))
        add_store(
            world,
            world.start("Store"),
            spec.time,
            out_dir,
            labels,
            vector_labels,
            store_links,
            progress_fd=progress_fd,
            chunk_steps=spec.results.chunk_steps,
        )
    return world


# ---------------------------------------------------------------------------- KPIs
def _vector(frame: pd.DataFrame, attr: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    cols = [c for c in frame.columns if c.startswith(f"{attr}[")]
    return frame[cols].to_numpy(dtype=float)


def lv_site_kpis(
    sites: Mapping[str, pd.DataFrame], feeders: Mapping[str, str], dt_s: int
) -> dict[str, Any]:
    """LV KPIs of the charging sites from their tables (see the scenario README).

    ``sites`` maps each charging-site id to its table (``site_<id>.parquet``), ``feeders`` to
    its LV feeder name.  Per site: reverse-flow
    (LV → MV) and import energy [MWh] and reverse-flow peak [MW] through its MV/LV transformer
    (column ``p_lv_trafo_w``, W at the MV side, + = import), and the extreme voltages
    [pu] over the feeder's LV buses and at the charger bus over the horizon.  Totals:
    ``lv_reverse_flow_energy_mwh`` = Σ over the sites; ``lv_reverse_flow_peak_mw`` = peak over
    the steps of the summed per-transformer reverse flow Σ_site max(−P_site, 0).
    """
    per_site: dict[str, Any] = {}
    n = len(next(iter(sites.values()))) if sites else 0
    reverse_sum = np.zeros(n)
    for site, feeder in sorted(feeders.items()):
        table = sites[site]
        p = table["p_lv_trafo_w"].to_numpy(dtype=float)
        reverse = np.clip(-p, 0.0, None)
        reverse_sum += reverse
        vm_charger = table["vm_pu"].to_numpy(dtype=float)
        per_site[site] = {
            "feeder": feeder,
            "reverse_flow_energy_mwh": energy_mwh(reverse, dt_s),
            "reverse_flow_peak_mw": peak_mw(reverse),
            "import_energy_mwh": energy_mwh(np.clip(p, 0.0, None), dt_s),
            "vm_max_pu": finite_max(table["vm_lv_max_pu"].to_numpy(dtype=float)),
            "vm_min_pu": finite_min(table["vm_lv_min_pu"].to_numpy(dtype=float)),
            "vm_charger_max_pu": finite_max(vm_charger),
            "vm_charger_min_pu": finite_min(vm_charger),
        }
    return {
        "lv_reverse_flow_energy_mwh": float(
            sum(v["reverse_flow_energy_mwh"] for v in per_site.values())
        ),
        "lv_reverse_flow_peak_mw": peak_mw(reverse_sum),
        "lv_sites": per_site,
    }


def session_kpis(sessions: pd.DataFrame, *, eta_charge: float) -> dict[str, Any]:
    """Session KPIs from ``sessions.parquet`` (see the scenario README for every definition).

    ``departure_soc_shortfall_kwh`` judges the sessions that stayed to their declared departure
    (``completed``) and whose wish was feasible: (wish − arrival SOC) × capacity ≤ the car's
    P_max × ``eta_charge`` × simulated stay; ``early_departure_shortfall_kwh`` sums the gaps of
    the cars that left early (they announced the longer stay); ``unserved_energy_kwh`` the
    energy need of the rejected sessions (site full).
    """
    from v2xcosim.domain.kpis import (
        departure_soc_shortfall_kwh,
        feasible_sessions,
        infeasible_sessions,
    )

    status = sessions["status"]
    done = sessions[status == "completed"]
    early = sessions[status == "left_early"]
    dwell = (done["departure_s"] - done["arrival_s"]).to_numpy(dtype=float)
    feasible = feasible_sessions(
        done["soc_arrival"].to_numpy(dtype=float),
        done["soc_wish"].to_numpy(dtype=float),
        done["capacity_kwh"].to_numpy(dtype=float),
        done["p_max_kw"].to_numpy(dtype=float) * 1000.0,
        dwell,
        eta_charge=eta_charge,
    )
    shortfall = departure_soc_shortfall_kwh(
        done["soc_departure"].to_numpy(dtype=float),
        done["soc_wish"].to_numpy(dtype=float),
        done["capacity_kwh"].to_numpy(dtype=float),
        feasible,
        tol_soc=1e-4,
    )
    early_gap = departure_soc_shortfall_kwh(
        early["soc_departure"].to_numpy(dtype=float),
        early["soc_wish"].to_numpy(dtype=float),
        early["capacity_kwh"].to_numpy(dtype=float),
        np.ones(len(early), dtype=bool),
        tol_soc=1e-4,
    )
    counts = status.value_counts()
    return {
        "departure_soc_shortfall_kwh": shortfall,
        "infeasible_sessions": infeasible_sessions(feasible),
        "sessions": len(sessions),
        "sessions_completed": int(counts.get("completed", 0)),
        "early_departures": int(counts.get("left_early", 0)),
        "early_departure_shortfall_kwh": early_gap,
        "sessions_open_at_end": int(counts.get("open_at_end", 0)),
        "sessions_rejected": int(counts.get("rejected", 0)),
        "unserved_energy_kwh": float(sessions["unserved_energy_kwh"].sum()),
        "ev_energy_charged_kwh": float(sessions["e_charged_kwh"].sum()),
        "ev_energy_discharged_kwh": float(sessions["e_discharged_kwh"].sum()),
        "degradation_eur": float(sessions["degradation_eur"].sum()),
        "bill_eur": float(sessions["bill_eur"].sum()),
        "bill_uncontrolled_eur": float(sessions["bill_uncontrolled_eur"].sum()),
        "net_change_eur": float(sessions["net_change_eur"].sum()),
    }


def terni_kpis(
    spec: TerniScenario,
    frames: Mapping[str, pd.DataFrame],
    sessions: pd.DataFrame,
    actors: Mapping[str, Any],
) -> dict[str, Any]:
    """Compute the Terni KPIs (see the scenario README for every definition)."""
    from v2xcosim.domain.kpis import market_clearing_rate

    dt_s = spec.time.step_s
    grid = frames["grid"]
    feeders = site_feeders(spec)
    q_slack = grid["q_slack_var"].to_numpy(dtype=float)
    grid_part = grid_kpis(
        grid,
        step_s=dt_s,
        v_min_pu=spec.grid.v_min_pu,
        v_max_pu=spec.grid.v_max_pu,
        voltage_window_s=spec.terni.voltage_window_s,
    )
    ten_min, notes = ten_minute_kpis(grid, step_s=dt_s, window_s=spec.terni.voltage_window_s)
    throughput_kwh = 0.0
    for site in sorted(set(sessions["site"])):
        p_ac = _vector(frames[f"site_{site}"], "p_ac_w")
        throughput_kwh += float(np.abs(p_ac).sum() * dt_s / 3.6e6)
    ses = session_kpis(sessions, eta_charge=spec.control.eta_charge)
    checks = evaluate_checks(spec, grid, ses["departure_soc_shortfall_kwh"])
    requested = float(actors["flex_requested_mwh"])
    matched = float(actors["flex_matched_mwh"])
    rate = market_clearing_rate(min(matched, requested), requested)
    kpis: dict[str, Any] = {
        "use_case": "terni",
        "strategy": spec.control.strategy,
        **grid_part,
        **ten_min,
        **lv_site_kpis({s: frames[f"site_{s}"] for s in feeders}, feeders, dt_s),
        **lv_bound_kpis(spec, {s: frames[f"site_{s}"] for s in feeders}, sessions),
        "flex_requested_mwh": requested,
        "flex_matched_mwh": matched,
        "flex_delivered_mwh": float(actors["flex_delivered_mwh"]),
        "market_clearing_rate": None if math.isnan(rate) else rate,
        "dso_payments_eur": float(actors["dso_payments_eur"]),
        "dso_forecast_load_bias": dict(actors.get("dso_forecast_load_bias", {})),
        "user_revenue_eur": float(actors["user_revenue_eur"]),
        **ses,
        "battery_throughput_kwh": throughput_kwh,
        "market": {
            k: actors[k] for k in ("market_sessions", "flex_requests", "flex_offers", "flex_awards")
        },
        "flex_by_provider": actors.get("flex_by_provider", {}),
        "q_import_max_mvar": finite_max(q_slack) / 1e6,
        "q_export_max_mvar": finite_max(np.clip(-q_slack, 0.0, None)) / 1e6,
        "checks": checks,
        "checks_passed": all(c["passed"] for c in checks.values() if c["flagged"]),
        "kpi_notes": notes,
    }
    cleaned: dict[str, Any] = json_clean(kpis)
    return cleaned


def evaluate_checks(
    spec: TerniScenario, grid: pd.DataFrame, shortfall_kwh: float
) -> dict[str, dict[str, bool | str]]:
    """Verdict of each check of ``[checks]`` (``flagged``: a failure makes the run exit 1).

    ``voltage_band``: every bus within ``grid.v_min_pu``..``grid.v_max_pu`` at every step (the
    step values, whatever the step size; the EN 50160 10-minute view is the KPI
    ``voltage_violation_bus_hours``); ``loading``: every line and transformer within its limit;
    ``convergence``: every power flow converged; ``soc_target``: no departure-SOC shortfall of a
    feasible session (:func:`~v2xcosim.domain.kpis.departure_soc_shortfall_kwh`).
    """
    from v2xcosim.grid.limits import check_limits, check_verdict

    rep = check_limits(
        _vector(grid, "vm_pu"),
        _vector(grid, "line_loading_percent"),
        _vector(grid, "trafo_loading_percent"),
        v_min_pu=spec.grid.v_min_pu,
        v_max_pu=spec.grid.v_max_pu,
        max_line_loading_percent=spec.grid.max_line_loading_percent,
        max_trafo_loading_percent=spec.grid.max_trafo_loading_percent,
    )
    verdicts: dict[str, bool | None] = {
        "convergence": bool((grid["converged"].to_numpy() >= 0.5).all()),
        "voltage_band": rep.voltage_band_ok,  # None: no converged step, not assessable
        "loading": rep.loading_ok,
        "soc_target": shortfall_kwh <= 0.0,
    }
    flagged = spec.checks.model_dump()
    return {name: check_verdict(flagged[name], ok) for name, ok in verdicts.items()}


def site_feeders(spec: TerniScenario) -> dict[str, str]:
    """Charging-site id → LV feeder name of the scenario's network."""
    return {f.site_id: f.name for f in network_spec(spec).lv_feeders}


COMPARE_KEYS: tuple[str, ...] = (
    *KPI_KEYS[:2],
    "lv_reverse_flow_energy_mwh",
    "lv_reverse_flow_bound_smart_mwh",
    "lv_reverse_flow_bound_v2g_mwh",
    "lv_session_energy_share_of_surplus",
    "lv_reverse_flow_peak_mw",
    *KPI_KEYS[2:],
    "ev_energy_charged_kwh",
    "ev_energy_discharged_kwh",
    "net_change_eur",
)
"""The KPIs :func:`comparison_table` shows, in this order."""


__all__ = [
    "KPI_KEYS",
    "LV_KPI_KEYS",
    "build_world",
    "lv_site_kpis",
    "preflight",
    "session_kpis",
    "site_feeders",
    "terni_kpis",
]
