"""Run the Terni V2G use case on mosaik (``grid.network = "terni"``).

Data flow of one step (lock-step, ``time.step_s``)::

    TerniProfiles ──load/PV──► TerniGrid ──► Store
        └─t_amb──► TerniFleets ──p_ac (slot vector)──┘ ▲
    TerniActors ──p_set──┘  │  ▲ └── vm at the charger bus (time-shifted)
        ▲───soc, p_ac (time-shifted)

:func:`run` writes the core tables (``grid``, ``site_<id>``, ``profiles``, ``actors``), the
actors' ``trace.parquet``, ``terni_sessions.parquet``, ``settlement.parquet``,
``kpis.json`` (:func:`terni_kpis`, with the LV KPIs of :func:`lv_site_kpis`), plots (also
``lv_sites.png``) and ``metadata.json`` (last).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from v2xcosim.config.common import spec_to_jsonable
from v2xcosim.core.errors import ScenarioError
from v2xcosim.cosim.world import add_store, new_world, stop_all_on_error
from v2xcosim.report.results import json_clean
from v2xcosim.usecases.terni.schema import TerniScenario

if TYPE_CHECKING:
    from mosaik import SimConfig

SIM_CONFIG: SimConfig = {
    "TerniProfiles": {"python": "v2xcosim.usecases.terni.sims:TerniProfileSim"},
    "TerniGrid": {"python": "v2xcosim.usecases.terni.sims:TerniGridSim"},
    "TerniFleets": {"python": "v2xcosim.usecases.terni.sims:TerniFleetSim"},
    "TerniActors": {"python": "v2xcosim.usecases.terni.sims:TerniActorSim"},
    "Store": {"python": "v2xcosim.cosim.store_sim:StoreSim"},
}

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
    "battery_degradation_cost_eur",
)
"""The KPIs every Terni ``kpis.json`` holds (issue list), besides further details."""

LV_KPI_KEYS: tuple[str, ...] = ("lv_reverse_flow_energy_mwh", "lv_reverse_flow_peak_mw", "lv_sites")
"""Local (LV) KPIs at the charging sites' secondary substations (:func:`lv_site_kpis`)."""


def preflight(spec: TerniScenario) -> Path:
    """Build (cached) the fleet FMU sized for the largest site; return its path.

    The FMU-wide parameters of ``terni.fmu_instance_parameters`` are checked against it here,
    before anything is written.
    """
    from v2xcosim.fmu.build import build_fmu
    from v2xcosim.fmu.fleet import FmuFleet
    from v2xcosim.usecases.terni.flow import terni_setup
    from v2xcosim.usecases.terni.sims import FLEET_OUTPUTS

    n = terni_setup(spec).fleet_size
    path = Path(build_fmu("EV", fleet=n))
    try:
        FmuFleet(
            path,
            n=n,
            fleet=True,
            inputs=[],
            outputs=FLEET_OUTPUTS,
            parameters={},
            instance_parameters=spec.terni.fmu_instance_parameters,
            name="terni",
        ).close()
    except ScenarioError as exc:
        msg = str(exc).removeprefix("site terni: ")
        raise ScenarioError(f"terni.fmu_instance_parameters: {msg}") from None
    return path


def build_world(
    spec: TerniScenario, out_dir: Path, fmu_path: Path, *, progress_fd: int | None = None
) -> Any:
    """Assemble the mosaik world of a Terni scenario."""
    from v2xcosim.usecases.terni.flow import network_spec, terni_setup
    from v2xcosim.usecases.terni.network import build_terni_network
    from v2xcosim.usecases.terni.sims import FLEET_OUTPUTS, GRID_OUTPUTS, lv_site_attrs

    js = spec_to_jsonable(spec)
    setup = terni_setup(spec)
    tn = build_terni_network(network_spec(spec))
    net = tn.net
    world = new_world(SIM_CONFIG)
    with stop_all_on_error(world):
        prof = world.start("TerniProfiles", scenario=js).Profiles()
        grid = world.start("TerniGrid", scenario=js).Grid()
        fleets_sim = world.start("TerniFleets", scenario=js)
        actors = world.start("TerniActors", scenario=js, out_dir=str(out_dir)).Actors()
        labels = {prof.full_id: "profiles", grid.full_id: "grid", actors.full_id: "actors"}
        vector_labels = {
            "grid.vm_pu": [str(n) for n in net.bus["name"]],
            "grid.line_loading_percent": [str(n) for n in net.line["name"]],
            "grid.trafo_loading_percent": [str(n) for n in net.trafo["name"]],
        }
        world.connect(prof, grid, "load_pu", "pv_pu")
        store_links: list[tuple[Any, list[str]]] = [
            (grid, [*GRID_OUTPUTS, *lv_site_attrs(sorted(tn.ev_load_idx))]),
            (prof, ["load_pu", "pv_pu", "t_amb_k", "price_eur_per_mwh"]),
        ]
        actor_attrs: list[str] = []
        for site in setup.sites:
            fleet = fleets_sim.Fleet(site_id=site, fmu_path=str(fmu_path))
            labels[fleet.full_id] = f"site_{site}"
            soc0 = setup.slot_vector(site, setup.users.soc_arrival, 0.5)
            world.connect(actors, fleet, (f"p_set_w__{site}", "p_set_w"))
            world.connect(
                fleet, grid, ("p_ac_w", f"p_ev_w__{site}"), ("q_ac_var", f"q_ev_var__{site}")
            )
            world.connect(prof, fleet, "t_amb_k")
            world.connect(
                fleet,
                actors,
                ("soc", f"soc__{site}"),
                ("p_ac_w", f"p_ac_w__{site}"),
                time_shifted=True,
                initial_data={"soc": soc0, "p_ac_w": [0.0] * setup.fleet_size},
            )
            world.connect(
                grid,
                fleet,
                (f"vm_pu__{site}", "vm_pu"),
                time_shifted=True,
                initial_data={f"vm_pu__{site}": 1.0},
            )
            store_links.append((fleet, list(FLEET_OUTPUTS)))
            actor_attrs.append(f"p_set_w__{site}")
        for prov in spec.market.providers:  # stationary batteries: setpoint → pandapower storage
            attr = f"p_provider_w__{prov.provider_id}"
            world.connect(actors, grid, attr)
            actor_attrs.append(attr)
        store_links.append((actors, actor_attrs))
        add_store(
            world,
            world.start("Store"),
            spec.time,
            out_dir,
            labels,
            vector_labels,
            store_links,
            progress_fd=progress_fd,
        )
    return world


# ---------------------------------------------------------------------------- KPIs
def _max(values: Any) -> float:
    """Largest finite value (NaN marks a step whose power flow did not converge); NaN if none."""
    a = np.asarray(values, dtype=float)
    finite = a[np.isfinite(a)]
    return float(finite.max()) if finite.size else math.nan


def _min(values: Any) -> float:
    """Smallest finite value; NaN if none (see :func:`_max`)."""
    a = np.asarray(values, dtype=float)
    finite = a[np.isfinite(a)]
    return float(finite.min()) if finite.size else math.nan


def _sum(values: Any) -> float:
    """Sum over the finite values (a step without a power-flow result adds nothing)."""
    return float(np.nansum(np.asarray(values, dtype=float)))


def _vector(frame: pd.DataFrame, attr: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    cols = [c for c in frame.columns if c.startswith(f"{attr}[")]
    return frame[cols].to_numpy(dtype=float)


def lv_site_kpis(grid: pd.DataFrame, feeders: Mapping[str, str], dt_s: int) -> dict[str, Any]:
    """LV KPIs of the charging sites from the grid table (see the scenario README).

    ``feeders`` maps each charging-site id to its LV feeder name.  Per site: reverse-flow
    (LV → MV) and import energy [MWh] and reverse-flow peak [MW] through its MV/LV transformer
    (column ``p_lv_trafo_w__<site>``, W at the MV side, + = import), and the extreme voltages
    [pu] over the feeder's LV buses and at the charger bus over the horizon.  Totals:
    ``lv_reverse_flow_energy_mwh`` = Σ over the sites; ``lv_reverse_flow_peak_mw`` = peak over
    the steps of the summed per-transformer reverse flow Σ_site max(−P_site, 0).
    """
    per_site: dict[str, Any] = {}
    reverse_sum = np.zeros(len(grid))
    for site, feeder in sorted(feeders.items()):
        p = grid[f"p_lv_trafo_w__{site}"].to_numpy(dtype=float)
        reverse = np.clip(-p, 0.0, None)
        reverse_sum += reverse
        vm_charger = grid[f"vm_pu__{site}"].to_numpy(dtype=float)
        per_site[site] = {
            "feeder": feeder,
            "reverse_flow_energy_mwh": _sum(reverse) * dt_s / 3.6e9,
            "reverse_flow_peak_mw": _max(reverse) / 1e6 if len(reverse) else 0.0,
            "import_energy_mwh": _sum(np.clip(p, 0.0, None)) * dt_s / 3.6e9,
            "vm_max_pu": _max(grid[f"vm_lv_max_pu__{site}"].to_numpy(dtype=float)),
            "vm_min_pu": _min(grid[f"vm_lv_min_pu__{site}"].to_numpy(dtype=float)),
            "vm_charger_max_pu": _max(vm_charger),
            "vm_charger_min_pu": _min(vm_charger),
        }
    return {
        "lv_reverse_flow_energy_mwh": float(
            sum(v["reverse_flow_energy_mwh"] for v in per_site.values())
        ),
        "lv_reverse_flow_peak_mw": _max(reverse_sum) / 1e6 if len(grid) else 0.0,
        "lv_sites": per_site,
    }


def terni_kpis(
    spec: TerniScenario,
    frames: Mapping[str, pd.DataFrame],
    sessions: pd.DataFrame,
    actors: Mapping[str, Any],
) -> dict[str, Any]:
    """Compute the Terni KPIs (see the scenario README for every definition)."""
    from v2xcosim.domain.kpis import (
        battery_degradation_cost_eur,
        departure_soc_shortfall_kwh,
        feasible_sessions,
        infeasible_sessions,
        market_clearing_rate,
    )

    dt_s = spec.time.step_s
    grid = frames["grid"]
    p = grid["p_slack_w"].to_numpy(dtype=float)
    reverse = np.clip(-p, 0.0, None)
    vm = _vector(grid, "vm_pu")
    w = max(1, math.ceil(spec.terni.voltage_window_s / dt_s))
    n_blocks = vm.shape[0] // w
    bus_hours = 0.0
    if n_blocks:
        means = vm[: n_blocks * w].reshape(n_blocks, w, vm.shape[1]).mean(axis=1)
        bad = (means < spec.grid.v_min_pu) | (means > spec.grid.v_max_pu)
        bus_hours = float(bad.sum() * w * dt_s / 3600.0)
    # sessions: departure SOC from the fleet tables (slot state at the end of the last step)
    done = sessions[sessions["status"] == "completed"]
    soc_dep = np.zeros(len(done))
    throughput_kwh = 0.0
    for site in sorted(set(sessions["site"])):
        frame = frames[f"site_{site}"]
        soc = _vector(frame, "soc")
        p_ac = _vector(frame, "p_ac_w")
        throughput_kwh += float(np.abs(p_ac).sum() * dt_s / 3.6e6)
        sites_col = done["site"].tolist()
        dep_col = done["departure_s"].to_numpy(dtype=float)
        slot_col = done["slot"].to_numpy(dtype=np.int64)
        for j in range(len(done)):
            if sites_col[j] == site:
                soc_dep[j] = soc[int(dep_col[j] // dt_s) - 1, int(slot_col[j])]
    dwell = (done["departure_s"] - done["arrival_s"]).to_numpy(dtype=float)
    feasible = feasible_sessions(
        done["soc_arrival"].to_numpy(dtype=float),
        done["soc_wish"].to_numpy(dtype=float),
        done["capacity_kwh"].to_numpy(dtype=float),
        np.full(len(done), spec.terni.connector_kw * 1000.0),
        dwell,
        eta_charge=spec.control.eta_charge,
    )
    shortfall = departure_soc_shortfall_kwh(
        soc_dep,
        done["soc_wish"].to_numpy(dtype=float),
        done["capacity_kwh"].to_numpy(dtype=float),
        feasible,
        tol_soc=1e-4,
    )
    checks = evaluate_checks(spec, grid, shortfall)
    requested = float(actors["flex_requested_mwh"])
    matched = float(actors["flex_matched_mwh"])
    rate = market_clearing_rate(min(matched, requested), requested)
    counts = sessions["status"].value_counts()
    kpis: dict[str, Any] = {
        "use_case": "terni",
        "strategy": spec.control.strategy,
        "steps": len(grid),
        "reverse_flow_energy_mwh": _sum(reverse) * dt_s / 3.6e9,
        "reverse_flow_peak_mw": _max(reverse) / 1e6 if len(reverse) else 0.0,
        "import_energy_mwh": _sum(np.clip(p, 0.0, None)) * dt_s / 3.6e9,
        "voltage_violation_bus_hours": bus_hours,
        "vm_min_pu": _min(vm),
        "vm_max_pu": _max(vm),
        **lv_site_kpis(grid, site_feeders(spec), dt_s),
        "max_line_loading_pct": _max(_vector(grid, "line_loading_percent")),
        "max_trafo_loading_pct": _max(_vector(grid, "trafo_loading_percent")),
        "losses_mwh": _sum(grid["p_loss_w"].to_numpy(dtype=float)) * dt_s / 3.6e9,
        "flex_requested_mwh": requested,
        "flex_matched_mwh": matched,
        "flex_delivered_mwh": float(actors["flex_delivered_mwh"]),
        "market_clearing_rate": None if math.isnan(rate) else rate,
        "dso_payments_eur": float(actors["dso_payments_eur"]),
        "user_revenue_eur": float(actors["user_revenue_eur"]),
        "departure_soc_shortfall_kwh": shortfall,
        "infeasible_sessions": infeasible_sessions(feasible),
        "sessions": len(sessions),
        "sessions_completed": int(counts.get("completed", 0)),
        "sessions_open_at_end": int(counts.get("open", 0)),
        "sessions_rejected": int(counts.get("rejected", 0)),
        "ev_energy_charged_kwh": float(sessions["energy_charged_kwh"].sum()),
        "ev_energy_discharged_kwh": float(sessions["energy_discharged_kwh"].sum()),
        "battery_throughput_kwh": throughput_kwh,
        "battery_degradation_cost_eur": battery_degradation_cost_eur(
            [throughput_kwh], spec.market.degradation_eur_per_mwh
        ),
        "market": {
            k: actors[k] for k in ("market_sessions", "flex_requests", "flex_offers", "flex_awards")
        },
        "flex_by_provider": actors.get("flex_by_provider", {}),
        "q_import_max_mvar": _max(grid["q_slack_var"].to_numpy(dtype=float)) / 1e6,
        "q_export_max_mvar": _max(np.clip(-grid["q_slack_var"].to_numpy(dtype=float), 0.0, None))
        / 1e6,
        "nonconverged_steps": int((grid["converged"].to_numpy() < 0.5).sum()),
        "checks": checks,
        "checks_passed": all(c["passed"] for c in checks.values() if c["flagged"]),
    }
    cleaned: dict[str, Any] = json_clean(kpis)
    return cleaned


def evaluate_checks(
    spec: TerniScenario, grid: pd.DataFrame, shortfall_kwh: float
) -> dict[str, dict[str, bool]]:
    """Verdict of each check of ``[checks]`` (``flagged``: a failure makes the run exit 1).

    ``voltage_band``: every bus within ``grid.v_min_pu``..``grid.v_max_pu`` at every step (the
    step values, whatever the step size; the EN 50160 10-minute view is the KPI
    ``voltage_violation_bus_hours``); ``loading``: every line and transformer within its limit;
    ``convergence``: every power flow converged; ``soc_target``: no departure-SOC shortfall of a
    feasible session (:func:`~v2xcosim.domain.kpis.departure_soc_shortfall_kwh`).
    """
    from v2xcosim.grid.limits import check_limits

    rep = check_limits(
        _vector(grid, "vm_pu"),
        _vector(grid, "line_loading_percent"),
        _vector(grid, "trafo_loading_percent"),
        v_min_pu=spec.grid.v_min_pu,
        v_max_pu=spec.grid.v_max_pu,
        max_line_loading_percent=spec.grid.max_line_loading_percent,
        max_trafo_loading_percent=spec.grid.max_trafo_loading_percent,
    )
    verdicts = {
        "convergence": bool((grid["converged"].to_numpy() >= 0.5).all()),
        "voltage_band": rep.voltage_violations == 0,
        "loading": rep.line_overloads == 0 and rep.trafo_overloads == 0,
        "soc_target": shortfall_kwh <= 0.0,
    }
    flagged = spec.checks.model_dump()
    return {name: {"flagged": bool(flagged[name]), "passed": ok} for name, ok in verdicts.items()}


def site_feeders(spec: TerniScenario) -> dict[str, str]:
    """Charging-site id → LV feeder name of the scenario's network."""
    from v2xcosim.usecases.terni.flow import network_spec

    return {f.site_id: f.name for f in network_spec(spec).lv_feeders}


COMPARE_KEYS: tuple[str, ...] = (
    *KPI_KEYS[:2],
    "lv_reverse_flow_energy_mwh",
    "lv_reverse_flow_peak_mw",
    *KPI_KEYS[2:],
    "ev_energy_charged_kwh",
    "ev_energy_discharged_kwh",
)
"""The KPIs :func:`comparison_table` shows, in this order."""


__all__ = [
    "KPI_KEYS",
    "LV_KPI_KEYS",
    "build_world",
    "lv_site_kpis",
    "preflight",
    "site_feeders",
    "terni_kpis",
]
