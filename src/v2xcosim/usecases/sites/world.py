"""The ``sites`` world: profiles, one power flow, FMU fleets and their controllers, the store.

Data flow of one step (lock-step, ``time.step_s``)::

    Profiles ──load/PV──────────────────────────────► Grid ──► Store
    Controller ──p_set_w──► Fleet (FMUs) ──p_ac/q_ac──► Site ─┘
        ▲                      │  ▲                     │
        └──soc (time-shifted)──┘  └─vm_pu (time-shifted)┘

The two feedback edges are time-shifted: the controller decides with the SOC at the start of
the step, and the chargers' Q(U) uses the previous step's voltage.  Every simulator gets JSON
parameters only, so an entry of :data:`v2xcosim.cosim.world.SIM_CONFIG` can be switched to
``cmd``/``connect`` to move it out of process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from v2xcosim.core.errors import ScenarioError
from v2xcosim.cosim.fleet_sim import ROLE_OUTPUTS
from v2xcosim.cosim.world import add_store, new_world, stop_all_on_error
from v2xcosim.domain.charging import Sessions
from v2xcosim.fmu.fleet import FleetFmus, fleet_fmu_entries, fleet_fmus, fleet_fmus_of, open_fleet
from v2xcosim.usecases.sites.flow import FLOW
from v2xcosim.usecases.sites.schema import (
    GRID_OPTIONAL,
    GRID_REQUIRED,
    SITE_OPTIONAL_CTL,
    SITE_REQUIRED_CTL,
    SITE_REQUIRED_FMU,
    SiteSpec,
    SitesScenario,
)
from v2xcosim.usecases.sites.wiring import GRID_MODEL, grid_params, site_fleet


@dataclass(frozen=True)
class SitesPlan:
    """What a ``sites`` run derives from its spec once: FMUs, sessions, sampled profiles."""

    fmus: Mapping[str, Path]
    sessions: Mapping[str, Sessions]
    profiles: Mapping[str, list[float]]


def resolve_fmu(site: SiteSpec) -> FleetFmus:
    """Return the ``.fmu`` of a site: its ``fmu.path``, or ``build_fmu(model)`` (cached build).

    A built fleet of more than :data:`~v2xcosim.fmu.fleet.MAX_FLEET_FMU_EVS` vehicles runs as
    several fleet FMUs: their paths by size (:func:`~v2xcosim.fmu.fleet.fleet_fmus`).
    """
    if site.fmu.path is not None:
        return site.fmu.path
    assert site.fmu.model is not None
    try:
        from v2xcosim.fmu.build import build_fmu
    except ImportError as exc:
        raise ScenarioError(
            f"sites[{site.id}].fmu.model = {site.fmu.model!r}: the FMU build pipeline is not "
            f"available ({exc}); give fmu.path to a ready .fmu instead"
        ) from None
    if site.fmu.fleet:
        return fleet_fmus(site.fmu.model, site.n_evs)
    return Path(build_fmu(site.fmu.model))


def preflight(spec: SitesScenario) -> dict[str, Path]:
    """Resolve every FMU and check the scenario's variable names against it (load time).

    Returns the FMU path of each active site.  Raises :class:`ScenarioError` naming the site,
    the FMU and the unknown variable.
    """
    paths: dict[str, Path] = {}
    for site in spec.active_sites:
        path = resolve_fmu(site)
        ins, outs = site.fmu.inputs, site.fmu.outputs
        inputs = [n for n in (ins.p_set, ins.q_set, ins.vm, ins.t_amb) if n is not None]
        outputs = list(dict.fromkeys([outs.p_ac, outs.q_ac, outs.soc, *outs.extra]))
        clash = sorted(set(outs.extra) & set(ROLE_OUTPUTS))
        if clash:
            raise ScenarioError(
                f"site {site.id}: fmu.outputs.extra repeats {clash}; those are always recorded"
            )
        fleet = open_fleet(
            path,
            n=site.n_evs,
            fleet=site.fmu.fleet,
            inputs=inputs,
            outputs=outputs,
            parameters={**site.fmu.parameters, site.fmu.soc_start_parameter: 0.5},
            instance_parameters=site.fmu.instance_parameters,
            name=site.id,
            prefix=site.fmu.vector_prefix,
        )
        fleet.close()
        paths.update(fleet_fmu_entries(site.id, path))
    return paths


def _selected(
    spec: SitesScenario, entity: str, required: list[str], optional: list[str]
) -> list[str]:
    """Return the required attributes plus the optional ones chosen in ``results.attrs``.

    All optional ones if ``results.attrs`` is empty.  Unknown names were refused by the
    scenario check (:func:`~v2xcosim.usecases.sites.schema.check`); an entity's attributes
    may be split over two simulators, so names of the other one are skipped here.
    """
    if not spec.results.attrs:
        return required + optional
    chosen = {a.rpartition(".")[2] for a in spec.results.attrs if a.rpartition(".")[0] == entity}
    return required + [a for a in optional if a in chosen]


def flow_params(spec: SitesScenario, plan: SitesPlan) -> dict[str, Any]:
    """Return the JSON data of the sites flow: each site's controller and drawn sessions."""
    return {
        "step_s": spec.time.step_s,
        "sites": {
            site.id: {
                "p_max_kw": site.controller.p_max_kw,
                "capacity_kwh": site.controller.capacity_kwh,
                "sessions": plan.sessions[site.id].to_json(),
            }
            for site in spec.active_sites
        },
    }


def build_world(
    spec: SitesScenario, plan: SitesPlan, out_dir: Path, *, progress_fd: int | None = None
) -> Any:
    """Create the mosaik world with every simulator, entity and connection of ``spec``."""
    from v2xcosim.grid.sources import load_source

    world = new_world(spec.placement)
    with stop_all_on_error(world):
        labels: dict[str, str] = {}
        vector_labels: dict[str, list[str]] = {}
        net = load_source(spec.grid.network)[0]
        names = {t: [str(n) for n in net[t]["name"]] for t in ("bus", "line", "trafo")}
        vector_labels["grid.vm_pu"] = list(names["bus"])
        vector_labels["grid.line_loading_percent"] = list(names["line"])
        for attr in ("trafo_loading_percent", "p_trafo_hv_w", "q_trafo_hv_var"):
            vector_labels[f"grid.{attr}"] = list(names["trafo"])

        prof_sim = world.start("Profiles", series=plan.profiles, step_s=spec.time.step_s)
        prof = prof_sim.Profiles()
        labels[prof.full_id] = "profiles"
        grid_sim = world.start(
            "Grid",
            model=GRID_MODEL,
            params=grid_params(spec),
            step_s=spec.time.step_s,
            batch_steps=spec.grid.batch_steps,  # 0: step by step (schema: only if nothing reads)
            end_s=spec.time.duration_s,
        )
        grid = grid_sim.Grid()
        labels[grid.full_id] = "grid"
        used = sorted(
            {pv.profile for pv in spec.grid.pv}
            | ({spec.grid.load_profile} if spec.grid.load_profile else set())
        )
        if used:
            world.connect(prof, grid, *[(p, f"profile_{p}") for p in used])
        store_sim = world.start("Store")
        store_links: list[tuple[Any, list[str]]] = [
            (grid, _selected(spec, "grid", GRID_REQUIRED, GRID_OPTIONAL)),
        ]
        prof_attrs = sorted(spec.profiles)
        if spec.results.attrs:
            prof_attrs = sorted(
                {
                    a.rpartition(".")[0][len("profile.") :]
                    for a in spec.results.attrs
                    if a.startswith("profile.")
                }
            )
        if prof_attrs:
            store_links.append((prof, prof_attrs))
        if spec.active_sites:
            extra = sorted({x for s in spec.active_sites for x in s.fmu.outputs.extra})
            fmu_sim = world.start("FMU", step_s=spec.time.step_s, outputs=extra)
            ctl_sim = world.start(
                "Actors", model=FLOW, params=flow_params(spec, plan), step_s=spec.time.step_s
            )
            for site in spec.active_sites:
                ses = plan.sessions[site.id]
                soc0 = ses.soc_arrival.tolist()
                fleet = fmu_sim.Fleet(**site_fleet(site, fleet_fmus_of(site.id, plan.fmus), soc0))
                ctl = ctl_sim.Actor(actor_id=site.id)
                conn = grid_sim.Connection(conn_id=site.id)
                label = f"site_{site.id}"
                labels[fleet.full_id] = label
                labels[ctl.full_id] = label
                world.connect(ctl, fleet, "p_set_w")
                world.connect(fleet, conn, ("p_ac_w", "p_w"), ("q_ac_var", "q_var"))
                world.connect(fleet, ctl, "soc", time_shifted=True, initial_data={"soc": soc0})
                if site.fmu.inputs.vm is not None:
                    world.connect(
                        conn,
                        fleet,
                        "vm_pu",
                        time_shifted=True,
                        initial_data={"vm_pu": [1.0] * site.n_evs},
                    )
                if site.t_amb_profile is not None and site.fmu.inputs.t_amb is not None:
                    world.connect(prof, fleet, (site.t_amb_profile, "t_amb_k"))
                site_extra = list(site.fmu.outputs.extra)
                store_links.append(
                    (fleet, SITE_REQUIRED_FMU + _selected(spec, f"site.{site.id}", [], site_extra))
                )
                store_links.append(
                    (ctl, _selected(spec, f"site.{site.id}", SITE_REQUIRED_CTL, SITE_OPTIONAL_CTL))
                )
        add_store(
            world,
            store_sim,
            spec.time,
            out_dir,
            labels,
            vector_labels,
            store_links,
            progress_fd=progress_fd,
            chunk_steps=spec.results.chunk_steps,
            hold_steps=spec.grid.batch_steps,
        )
    return world


def sessions_frame(spec: SitesScenario, sessions: Mapping[str, Sessions]) -> pd.DataFrame:
    """All sessions as one table (site, ev, arrival/departure in s and UTC, SOCs)."""
    rows: list[dict[str, Any]] = []
    start = pd.Timestamp(spec.time.start_utc)
    for site_id in sorted(sessions):
        s = sessions[site_id]
        for ev in range(s.n_evs):
            for k in np.flatnonzero(np.isfinite(s.arrival_s[ev])):
                a, d = float(s.arrival_s[ev, k]), float(s.departure_s[ev, k])
                rows.append(
                    {
                        "site": site_id,
                        "ev": ev,
                        "arrival_s": a,
                        "departure_s": d,
                        "arrival": start + pd.Timedelta(seconds=a),
                        "departure": start + pd.Timedelta(seconds=d),
                        "soc_arrival": float(s.soc_arrival[ev]) if k == 0 else float("nan"),
                        "soc_target": float(s.soc_target[ev]),
                    }
                )
    cols = [
        "site",
        "ev",
        "arrival_s",
        "departure_s",
        "arrival",
        "departure",
        "soc_arrival",
        "soc_target",
    ]
    return pd.DataFrame(rows, columns=cols)
