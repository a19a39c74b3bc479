"""Scenario schema of the ``sites`` use case: charging sites on a named network.

Top-level keys: ``use_case = "sites"`` (the default), ``name``, ``description``, ``seed``,
``base_case``, ``[time]``, ``[grid]`` (with ``[[grid.pv]]``), ``[profiles.<name>]``,
``[[sites]]``, ``[results]``, ``[checks]``, ``[runner]``.  ``base_case = true`` runs the scenario
without any EV: the charging sites are left out entirely, profiles, PV and loads stay.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from v2xcosim.config.base import Fraction, Identifier, Spec
from v2xcosim.config.common import ResultsSpec, ScenarioBase
from v2xcosim.config.fmu import FmuSpec
from v2xcosim.config.grid import GridSpec
from v2xcosim.config.profiles import ProfileSpec
from v2xcosim.core.errors import ScenarioError
from v2xcosim.grid.sources import check_network, load_source


class SessionSpec(Spec):
    """Random charging sessions, one per EV and day, drawn from the EV's own seeded stream.

    Arrival time of day [h, local time of ``time.start``] ~ Normal(mean, std); duration ~
    Normal(mean, std) clipped to at least ``min_duration_h``; arrival SOC ~ Uniform(min, max).
    """

    arrival_mean_h: float = Field(default=8.5, ge=0, lt=24)
    arrival_std_h: float = Field(default=1.0, ge=0)
    duration_mean_h: float = Field(default=8.0, gt=0)
    duration_std_h: float = Field(default=1.5, ge=0)
    min_duration_h: float = Field(default=0.5, gt=0)
    soc_arrival_min: Fraction = 0.2
    soc_arrival_max: Fraction = 0.5
    soc_target: Fraction = 0.9

    @model_validator(mode="after")
    def _order(self) -> SessionSpec:
        if self.soc_arrival_min > self.soc_arrival_max:
            raise ValueError(
                f"soc_arrival_min = {self.soc_arrival_min} exceeds "
                f"soc_arrival_max = {self.soc_arrival_max}"
            )
        return self


class ControllerSpec(Spec):
    """Charging strategy of a site.  ``uncontrolled``: rated power from arrival to target SOC.

    ``capacity_kwh`` (optional, usable battery energy) lets the controller taper the last step
    so that the target SOC is not overshot.
    """

    kind: Literal["uncontrolled"] = "uncontrolled"
    p_max_kw: float = Field(gt=0)
    capacity_kwh: float | None = Field(default=None, gt=0)


class SiteSpec(Spec):
    """A charging site: ``n_evs`` EVs on chargers at ``buses`` (EV i at ``buses[i % len]``)."""

    id: Identifier
    n_evs: int = Field(gt=0, le=100_000)
    buses: list[str] = Field(min_length=1)
    fmu: FmuSpec
    sessions: SessionSpec = Field(default_factory=SessionSpec)
    controller: ControllerSpec
    t_amb_profile: str | None = None
    t_amb_k: float = Field(default=293.15, gt=0, description="ambient temperature if no profile")


class SitesResultsSpec(ResultsSpec):
    """Extra attributes to record as ``<entity>.<attr>`` (entity: grid, site.<id>, profile.<n>).

    Substation power, bus voltages, line/trafo loading, losses, status, EV power and SOC are
    always recorded (KPIs and plots need them).
    """

    attrs: list[str] = Field(default_factory=list)


class SitesScenario(ScenarioBase):
    """A complete ``sites`` scenario (``scenarios/demo.toml`` shows every key)."""

    use_case: Literal["sites"] = "sites"
    grid: GridSpec = Field(default_factory=GridSpec)
    profiles: dict[Identifier, ProfileSpec] = Field(default_factory=dict)
    sites: list[SiteSpec] = Field(default_factory=list)
    results: SitesResultsSpec = Field(default_factory=SitesResultsSpec)

    @property
    def active_sites(self) -> list[SiteSpec]:
        """The sites that take part in the run (none in the base case)."""
        return [] if self.base_case else list(self.sites)


def check(spec: SitesScenario) -> list[tuple[str, str]]:
    """Check references between sections: profiles, unique ids, bus names, result attrs."""
    problems: list[tuple[str, str]] = []
    names = set(spec.profiles)

    def need_profile(path: str, name: str | None) -> None:
        if name is not None and name not in names:
            known = ", ".join(sorted(names)) or "none defined"
            problems.append((path, f"unknown profile {name!r} (profiles: {known})"))

    need_profile("grid.load_profile", spec.grid.load_profile)
    for i, pv in enumerate(spec.grid.pv):
        need_profile(f"grid.pv[{i}].profile", pv.profile)
    seen: set[str] = set()
    for i, site in enumerate(spec.sites):
        need_profile(f"sites[{i}].t_amb_profile", site.t_amb_profile)
        if site.id in seen:
            problems.append((f"sites[{i}].id", f"duplicate site id {site.id!r}"))
        seen.add(site.id)
        for key, value in site.fmu.parameters.items():
            if isinstance(value, list) and len(value) != site.n_evs:
                problems.append(
                    (
                        f"sites[{i}].fmu.parameters.{key}",
                        f"a list needs one value per EV ({site.n_evs}), got {len(value)}",
                    )
                )
            vals = value if isinstance(value, list) else [value]
            if any(isinstance(v, float) and not math.isfinite(v) for v in vals):
                problems.append((f"sites[{i}].fmu.parameters.{key}", "must be finite"))
    try:
        buses = set(network_buses(spec.grid.network))
    except ScenarioError as exc:
        problems.append(("grid.network", str(exc)))
        buses = {pv.bus for pv in spec.grid.pv} | {b for s in spec.sites for b in s.buses}
    for i, pv in enumerate(spec.grid.pv):
        if pv.bus not in buses:
            problems.append((f"grid.pv[{i}].bus", f"no bus {pv.bus!r} in {spec.grid.network}"))
    for i, site in enumerate(spec.sites):
        for j, bus in enumerate(site.buses):
            if bus not in buses:
                problems.append(
                    (f"sites[{i}].buses[{j}]", f"no bus {bus!r} in {spec.grid.network}")
                )
    for j, attr in enumerate(spec.results.attrs):
        entity, _, name = attr.rpartition(".")
        ok_entity = (
            entity == "grid"
            or (entity.startswith("site.") and entity[5:] in seen)
            or (entity.startswith("profile.") and entity[8:] in names)
        )
        if not ok_entity or not name:
            problems.append(
                (
                    f"results.attrs[{j}]",
                    f"{attr!r} is not '<entity>.<attr>' with entity grid, site.<id> or "
                    "profile.<name> of this scenario",
                )
            )
    return problems


def network_buses(source: str) -> tuple[str, ...]:
    """Load and check the network ``source`` (:mod:`v2xcosim.grid.sources`); its bus names."""
    net, where = load_source(source)
    check_network(net, where)
    return tuple(str(n) for n in net.bus["name"].tolist())
