"""The only mapping from the ``sites`` scenario schema to domain objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from v2xcosim.config.grid import GridSpec
from v2xcosim.core.timegrid import step_times
from v2xcosim.cosim.fleet_sim import fleet_params
from v2xcosim.domain.charging import Sessions, generate_sessions
from v2xcosim.fmu.fleet import FleetFmus
from v2xcosim.grid.powerflow import GridModel, SiteConnection
from v2xcosim.profiles import ProfileSet
from v2xcosim.usecases.sites.schema import SiteSpec, SitesScenario


def charger_buses(site: SiteSpec) -> list[str]:
    """Bus name of each EV's charger: EV ``i`` at ``buses[i % len(buses)]``."""
    return [site.buses[i % len(site.buses)] for i in range(site.n_evs)]


def site_sessions_of(spec: SitesScenario, site: SiteSpec) -> Sessions:
    """Draw the sessions of ``site`` with the seed and horizon of scenario ``spec``."""
    return generate_sessions(
        site.sessions,
        site_id=site.id,
        n_evs=site.n_evs,
        seed=spec.seed,
        start=spec.time.start,
        duration_s=spec.time.duration_s,
        step_s=spec.time.step_s,
    )


def site_sessions(spec: SitesScenario) -> dict[str, Sessions]:
    """Draw the sessions of every active site (seeded, deterministic)."""
    return {site.id: site_sessions_of(spec, site) for site in spec.active_sites}


def profile_series(spec: SitesScenario) -> dict[str, list[float]]:
    """Every profile of ``spec`` sampled once on the run's step times (canonical units)."""
    times = step_times(spec.time.start_utc, spec.time.n_steps, spec.time.step_s)
    values = ProfileSet(spec.profiles, times).values
    return {name: [float(x) for x in v] for name, v in values.items()}


def site_fleet(site: SiteSpec, fmu_path: FleetFmus, soc_start: list[float]) -> dict[str, Any]:
    """Return the ``Fleet`` entity parameters of ``site`` (its ``fmu`` section on roles)."""
    ins, outs = site.fmu.inputs, site.fmu.outputs
    inputs = {"p_set_w": ins.p_set}
    for role, name in (("q_set_var", ins.q_set), ("vm_pu", ins.vm), ("t_amb_k", ins.t_amb)):
        if name is not None:
            inputs[role] = name
    outputs = {"p_ac_w": outs.p_ac, "q_ac_var": outs.q_ac, "soc": outs.soc}
    outputs.update({x: x for x in outs.extra})
    return fleet_params(
        site_id=site.id,
        fmu_path=fmu_path,
        n=site.n_evs,
        inputs=inputs,
        outputs=outputs,
        parameters=site.fmu.parameters,
        start={site.fmu.soc_start_parameter: soc_start},
        instance_parameters=site.fmu.instance_parameters,
        fleet=site.fmu.fleet,
        prefix=site.fmu.vector_prefix,
        input_start={"t_amb_k": site.t_amb_k},
    )


GRID_MODEL = "v2xcosim.usecases.sites.wiring:grid_model"
"""Import string of the grid-model factory the generic grid simulator calls."""


def grid_params(spec: SitesScenario) -> dict[str, Any]:
    """Return the JSON data of :func:`grid_model`: the grid section and each site's buses."""
    return {
        "grid": spec.grid.model_dump(mode="json"),
        "sites": {s.id: charger_buses(s) for s in spec.active_sites},
    }


def grid_model(params: Mapping[str, Any]) -> GridModel:
    """Build the network of a sites scenario from :func:`grid_params` data."""
    sites = [SiteConnection(sid, list(buses)) for sid, buses in params["sites"].items()]
    # the JSON form of a validated spec
    return GridModel(GridSpec.model_validate(params["grid"], strict=False), sites)
