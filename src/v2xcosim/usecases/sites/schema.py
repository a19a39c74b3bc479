"""Scenario schema of the ``sites`` use case: charging sites on a named network.

Top-level keys: ``use_case = "sites"`` (the default), ``name``, ``description``, ``seed``,
``base_case``, ``[time]``, ``[grid]`` (with ``[[grid.pv]]``), ``[profiles.<name>]``,
``[[sites]]``, ``[results]``, ``[checks]``, ``[runner]``.  ``base_case = true`` runs the scenario
without any EV: the charging sites are left out entirely, profiles, PV and loads stay.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from v2xcosim.config.base import ChargerKw, Fraction, Identifier, Spec
from v2xcosim.config.common import ResultsSpec, ScenarioBase
from v2xcosim.config.fmu import FmuSpec
from v2xcosim.config.grid import GridSpec
from v2xcosim.config.profiles import ProfileSpec
from v2xcosim.core.errors import ScenarioError
from v2xcosim.grid.sources import FILE_SUFFIXES, check_network, load_source

T_AMB_MIN_K = 173.15
"""Lowest ambient temperature [K] accepted (−100 °C), below the lowest ever measured on Earth,
−89.2 °C at Vostok (WMO Archive of Weather and Climate Extremes); above absolute zero."""
T_AMB_MAX_K = 343.15
"""Highest ambient temperature [K] accepted (70 °C), above the highest ever measured, 56.7 °C
in Death Valley (WMO Archive of Weather and Climate Extremes)."""

PROFILE_UNITS: dict[str, tuple[str, ...]] = {
    "grid.load_profile": ("pu",),
    "pv": ("pu",),
    "t_amb": ("K", "degC"),
}
"""The units a profile must be declared in for each use (scales in pu, temperatures)."""

GRID_REQUIRED = [
    "converged",
    "p_slack_w",
    "p_loss_w",
    "vm_pu",
    "line_loading_percent",
    "trafo_loading_percent",
    "p_trafo_hv_w",
    "q_trafo_hv_var",
]
"""Grid attributes always recorded."""
GRID_OPTIONAL = ["q_slack_var"]
"""Grid attributes recorded unless ``results.attrs`` leaves them out."""
SITE_REQUIRED_FMU = ["p_ac_w", "q_ac_var", "soc"]
SITE_REQUIRED_CTL = ["connected"]
SITE_OPTIONAL_CTL = ["p_set_w"]


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
    p_max_kw: ChargerKw = Field(description="charging power [kW], at most MAX_CHARGER_KW")
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
    t_amb_k: float = Field(
        default=293.15,
        ge=T_AMB_MIN_K,
        le=T_AMB_MAX_K,
        description="ambient temperature [K] if no profile",
    )


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

    def need_profile(path: str, name: str | None, use: str) -> None:
        if name is None:
            return
        if name not in names:
            known = ", ".join(sorted(names)) or "none defined"
            problems.append((path, f"unknown profile {name!r} (profiles: {known})"))
            return
        unit = getattr(spec.profiles[name], "unit", "pu")  # clear-sky PV gives pu
        if unit not in PROFILE_UNITS[use]:
            problems.append(
                (
                    f"profiles.{name}.unit",
                    f"profile {name!r} is used by {path}, which needs "
                    f"{' or '.join(PROFILE_UNITS[use])}, but is declared in {unit!r}",
                )
            )

    need_profile("grid.load_profile", spec.grid.load_profile, "grid.load_profile")
    for i, pv in enumerate(spec.grid.pv):
        need_profile(f"grid.pv[{i}].profile", pv.profile, "pv")
    seen: set[str] = set()
    from v2xcosim.fmu.fleet import MAX_SITE_EVS

    for i, site in enumerate(spec.sites):
        if site.n_evs > MAX_SITE_EVS:
            problems.append(
                (
                    f"sites[{i}].n_evs",
                    f"{site.n_evs} vehicles exceed the limit of MAX_SITE_EVS = {MAX_SITE_EVS} "
                    "per site (the largest site shown to run in reasonable time and memory: a "
                    "fleet FMU's model description grows by 32.5 kB per vehicle); split the "
                    "vehicles over several sites",
                )
            )
        need_profile(f"sites[{i}].t_amb_profile", site.t_amb_profile, "t_amb")
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
    problems += _profile_problems(spec)
    try:
        buses = set(network_buses(spec.grid.network))
    except ScenarioError as exc:
        problems.append(("grid.network", str(exc)))
        buses = {pv.bus for pv in spec.grid.pv} | {b for s in spec.sites for b in s.buses}
    else:
        if spec.grid.solver == "pgm":
            try:
                pgm_convertible(spec.grid.network)
            except ScenarioError as exc:
                problems.append(("grid.solver", str(exc)))
    if spec.grid.batch_steps > 0:
        for i, site in enumerate(spec.sites):
            if site.fmu.inputs.vm is not None:
                problems.append(
                    (
                        f"sites[{i}].fmu.inputs.vm",
                        f"grid.batch_steps = {spec.grid.batch_steps} solves the grid a window "
                        "at a time, but this site feeds the charger voltage back to its FMU "
                        "(one step later): unset the voltage input or set grid.batch_steps = 0",
                    )
                )
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
            continue
        known_attrs = _entity_attrs(spec, entity)
        if known_attrs is not None and name not in known_attrs:
            problems.append(
                (
                    f"results.attrs[{j}]",
                    f"{entity} has no attribute {name!r}; available: {', '.join(known_attrs)}",
                )
            )
    return problems


def _profile_problems(spec: SitesScenario) -> list[tuple[str, str]]:
    """Read every profile as the run will (files: parse, finite, sorted, coverage); ranges.

    Skipped when the horizon itself is refused (too many steps, beyond representable dates):
    that problem is reported by the generic horizon check; and while ``[time]`` is broken
    (its stand-in is in place, :func:`~v2xcosim.config.common.is_placeholder`): coverage of an
    unknown horizon cannot be judged.
    """
    from v2xcosim.config.common import horizon_problems, is_placeholder
    from v2xcosim.core.timegrid import step_times
    from v2xcosim.profiles import check_profiles

    if is_placeholder(spec.time) or horizon_problems(spec.time, spec.runner):
        return []
    times = step_times(spec.time.start_utc, spec.time.n_steps, spec.time.step_s)
    values, problems = check_profiles(spec.profiles, times)
    temperatures = {
        s.t_amb_profile
        for s in spec.sites
        if s.t_amb_profile in values  # read, and declared in a temperature unit
        and getattr(spec.profiles[s.t_amb_profile], "unit", None) in PROFILE_UNITS["t_amb"]
    }
    for name in sorted(temperatures):
        t_k = values[str(name)]
        bad = (t_k < T_AMB_MIN_K) | (t_k > T_AMB_MAX_K)
        if bad.any():
            k = int(bad.argmax())
            problems.append(
                (
                    f"profiles.{name}",
                    f"ambient temperature {float(t_k[k]):.2f} K at {times[k]} is outside "
                    f"[{T_AMB_MIN_K}, {T_AMB_MAX_K}] K (−100 to 70 °C); check the unit",
                )
            )
    return problems


def _entity_attrs(spec: SitesScenario, entity: str) -> list[str] | None:
    """Return the attributes ``results.attrs`` may name for ``entity`` (None: any)."""
    if entity == "grid":
        return sorted(GRID_REQUIRED + GRID_OPTIONAL)
    if entity.startswith("site."):
        site = next(s for s in spec.sites if s.id == entity[5:])
        return sorted(
            {*SITE_REQUIRED_FMU, *site.fmu.outputs.extra, *SITE_REQUIRED_CTL, *SITE_OPTIONAL_CTL}
        )
    return None


def pgm_convertible(source: str) -> None:
    """Raise :class:`ScenarioError` naming an element of ``source`` pgm does not convert."""
    from v2xcosim.grid.pgm import check_supported

    check_supported(load_source(source)[0])


def network_buses(source: str) -> tuple[str, ...]:
    """Load and check the network ``source`` (:mod:`v2xcosim.grid.sources`); its bus names.

    Remembered per process: building a network costs about a second (pandapower's CIGRE LV net
    1-4 s), and ``validate``, a sweep's up-front check and every variant ask for the same one.
    A network file is known by its resolved path, size and modification time, so an edited file
    is read again; a source that fails is not remembered.
    """
    return _network_buses(source, _file_identity(source))


def _file_identity(source: str) -> tuple[str, int, int] | None:
    """Return the resolved path, size [bytes] and mtime [ns] of a network file (None: a name)."""
    path = Path(source)
    if path.suffix.lower() not in FILE_SUFFIXES or not path.is_file():
        return None
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=16)
def _network_buses(source: str, identity: tuple[str, int, int] | None) -> tuple[str, ...]:
    del identity  # part of the cache key only
    net, where = load_source(source)
    check_network(net, where)
    return tuple(str(n) for n in net.bus["name"].tolist())
