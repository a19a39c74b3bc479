"""Scenario specification: pydantic v2 models, TOML loading and ``--set`` overrides.

A scenario is a TOML file in ``scenarios/``.  Keys carry their unit in the name (``step_s``,
``p_peak_kw``), unknown keys are refused, paths are relative to the scenario file, and every
problem is reported at once with its key path (``sites[0].fmu.parameters``) — the pattern of
power-grid-model's ``validation/errors.py``.  The typed API is equal to the files:
``ScenarioSpec.model_validate(dict, context={"base_dir": Path(...)})``.

Top-level keys: ``name``, ``description``, ``seed``, ``base_case``, ``[time]``, ``[grid]``
(with ``[[grid.pv]]``), ``[profiles.<name>]``, ``[[sites]]``, ``[results]``, ``[checks]``,
``[runner]``.  ``base_case = true`` (or ``--set base_case=true``) runs the scenario without
any EV: the charging sites are left out entirely, profiles, PV and loads stay.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from v2xcosim.errors import ScenarioError

_IDENT = r"^[A-Za-z][A-Za-z0-9_\-]*$"
Identifier = Annotated[str, Field(pattern=_IDENT, max_length=64)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
CosPhi = Annotated[float, Field(gt=0.0, le=1.0)]
ParamValue = float | int | bool | list[float]


class _Spec(BaseModel):
    """Base of every spec: frozen, unknown keys refused, finite floats only."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _resolve_file(value: Path, info: ValidationInfo) -> Path:
    """Resolve ``value`` against the scenario's folder (``context["base_dir"]``); must exist."""
    base = (info.context or {}).get("base_dir") if info.context is not None else None
    path = value if value.is_absolute() or base is None else Path(base) / value
    path = path.resolve()
    if not path.is_file():
        raise ValueError(
            f"file not found: {path} (paths are relative to the scenario file's folder)"
        )
    return path


class TimeSpec(_Spec):
    """Simulated horizon: ``start`` with a UTC offset, ``duration_s`` a multiple of ``step_s``."""

    start: AwareDatetime = Field(description="first step, ISO 8601 with UTC offset")
    duration_s: int = Field(gt=0, description="simulated horizon [s]")
    step_s: int = Field(gt=0, description="co-simulation step [s]")

    @model_validator(mode="after")
    def _step_divides(self) -> TimeSpec:
        if self.duration_s % self.step_s != 0:
            raise ValueError(
                f"step_s = {self.step_s} does not divide duration_s = {self.duration_s}; "
                "choose a duration that is a whole number of steps"
            )
        return self

    @property
    def n_steps(self) -> int:
        """Number of co-simulation steps."""
        return self.duration_s // self.step_s

    @property
    def start_utc(self) -> dt.datetime:
        """Start time converted to UTC."""
        return self.start.astimezone(dt.UTC)


ProfileUnit = Literal["W", "kW", "MW", "pu", "K", "degC", "EUR/MWh", "W/m2"]


class FileProfileSpec(_Spec):
    """A time series from a CSV or parquet file with time-zone-aware timestamps."""

    kind: Literal["file"]
    file: Path
    column: str
    unit: ProfileUnit
    time_column: str = "time"
    tz: str | None = Field(
        default=None, description="IANA zone for naive timestamps; None = timestamps must be aware"
    )
    interpolation: Literal["hold", "linear"] = "hold"
    fill_gaps: Literal["error", "hold", "linear"] = "error"

    _resolve = field_validator("file")(_resolve_file)


class ClearSkyPvSpec(_Spec):
    """PV output per unit of peak power from pvlib's clear-sky model (Ineichen, Linke turbidity).

    ``pu = POA irradiance / 1000 W/m² × performance_ratio``, clipped to [0, 1].
    """

    kind: Literal["clearsky_pv"]
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    altitude_m: float = 0.0
    tilt_deg: float = Field(default=30.0, ge=0, le=90)
    azimuth_deg: float = Field(default=180.0, ge=0, lt=360)
    performance_ratio: float = Field(default=0.85, gt=0, le=1)


class ConstantProfileSpec(_Spec):
    """A constant value."""

    kind: Literal["constant"]
    value: float
    unit: ProfileUnit


ProfileSpec = Annotated[
    FileProfileSpec | ClearSkyPvSpec | ConstantProfileSpec, Field(discriminator="kind")
]


class PvSpec(_Spec):
    """A PV system connected at ``bus`` (pandapower bus name)."""

    bus: str
    p_peak_kw: float = Field(gt=0)
    profile: str = Field(description="profile name giving output in pu of peak")
    cos_phi: CosPhi = Field(default=1.0, description="power factor; PV absorbs q when < 1")


class GridSpec(_Spec):
    """The pandapower network and its operating limits (balanced three-phase)."""

    network: Literal["cigre_lv"] = "cigre_lv"
    load_profile: str | None = Field(
        default=None, description="profile in pu scaling every load's nominal p; None = nominal"
    )
    load_scaling: float = Field(default=1.0, ge=0)
    load_cos_phi: CosPhi = 0.95
    pv: list[PvSpec] = Field(default_factory=list)
    v_min_pu: float = Field(default=0.9, gt=0)
    v_max_pu: float = Field(default=1.1, gt=0)
    max_line_loading_percent: float = Field(default=100.0, gt=0)
    max_trafo_loading_percent: float = Field(default=100.0, gt=0)
    on_nonconvergence: Literal["abort", "flag"] = "abort"
    max_iteration: int = Field(default=30, gt=0)
    tolerance_mva: float = Field(default=1e-8, gt=0)

    @model_validator(mode="after")
    def _band(self) -> GridSpec:
        if self.v_min_pu >= self.v_max_pu:
            raise ValueError(f"v_min_pu = {self.v_min_pu} must be below v_max_pu = {self.v_max_pu}")
        return self


class FmuInputsSpec(_Spec):
    """FMU variable names of the charger inputs (None = the FMU has no such input)."""

    p_set: str = "p_set_w"
    q_set: str | None = "q_set_var"
    vm: str | None = "vm_pu"
    t_amb: str | None = "t_amb_k"


class FmuOutputsSpec(_Spec):
    """FMU variable names of the outputs the co-simulation uses, plus extra recorded ones."""

    p_ac: str = "p_ac_w"
    q_ac: str = "q_ac_var"
    soc: str = "soc"
    extra: list[str] = Field(
        default_factory=lambda: ["e_ac_j", "e_chem_j", "e_loss_j"],
        description="further FMU outputs exposed and recorded per EV",
    )


class FmuSpec(_Spec):
    """Which FMU models the EVs of a site and how its variables map.

    ``model`` names a model built by :func:`v2xcosim.fmu.build.build_fmu`; ``path`` points at a
    ready ``.fmu`` (tests, external FMUs).  ``fleet = true`` builds/uses one fleet FMU with
    variables ``<vector_prefix>[i].<name>`` (1-based) for the whole site; ``false`` one single-EV
    FMU instance per vehicle.  ``parameters`` are set before initialisation: a scalar applies to
    every EV, a list gives one value per EV.
    """

    model: str | None = None
    path: Path | None = None
    fleet: bool = True
    vector_prefix: str = "ev"
    parameters: dict[str, ParamValue] = Field(default_factory=dict)
    soc_start_parameter: str = "soc_start"
    inputs: FmuInputsSpec = Field(default_factory=FmuInputsSpec)
    outputs: FmuOutputsSpec = Field(default_factory=FmuOutputsSpec)

    _resolve = field_validator("path")(
        lambda v, info: None if v is None else _resolve_file(v, info)
    )

    @model_validator(mode="after")
    def _one_source(self) -> FmuSpec:
        if self.model == "":  # lets ``--set sites.0.fmu.model=''`` switch a file to ``path``
            object.__setattr__(self, "model", None)
        if (self.model is None) == (self.path is None):
            raise ValueError(
                "give exactly one of 'model' (built by name) or 'path' (a .fmu file); "
                "model = '' counts as not given"
            )
        return self


class SessionSpec(_Spec):
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


class ControllerSpec(_Spec):
    """Charging strategy of a site.  ``uncontrolled``: rated power from arrival to target SOC.

    ``capacity_kwh`` (optional, usable battery energy) lets the controller taper the last step
    so that the target SOC is not overshot.
    """

    kind: Literal["uncontrolled"] = "uncontrolled"
    p_max_kw: float = Field(gt=0)
    capacity_kwh: float | None = Field(default=None, gt=0)


class SiteSpec(_Spec):
    """A charging site: ``n_evs`` EVs on chargers at ``buses`` (EV i at ``buses[i % len]``)."""

    id: Identifier
    n_evs: int = Field(gt=0, le=100_000)
    buses: list[str] = Field(min_length=1)
    fmu: FmuSpec
    sessions: SessionSpec = Field(default_factory=SessionSpec)
    controller: ControllerSpec
    t_amb_profile: str | None = None
    t_amb_k: float = Field(default=293.15, gt=0, description="ambient temperature if no profile")


class ResultsSpec(_Spec):
    """Extra attributes to record as ``<entity>.<attr>`` (entity: grid, site.<id>, profile.<n>).

    Substation power, bus voltages, line/trafo loading, losses, status, EV power and SOC are
    always recorded (KPIs and plots need them).
    """

    attrs: list[str] = Field(default_factory=list)
    plots: bool = True


class ChecksSpec(_Spec):
    """Flagged checks: a completed run that fails one exits with code 1."""

    voltage_band: bool = True
    loading: bool = True
    convergence: bool = True
    soc_target: bool = False


class RunnerSpec(_Spec):
    """Watchdog: the run is aborted when no step completes for ``stall_timeout_s``."""

    stall_timeout_s: float = Field(default=120.0, gt=0)


class ScenarioSpec(_Spec):
    """A complete scenario; see the module docstring for the file layout."""

    name: Identifier
    description: str = ""
    seed: int = Field(ge=0, lt=2**63)
    base_case: bool = Field(default=False, description="true = run without any EV")
    time: TimeSpec
    grid: GridSpec = Field(default_factory=GridSpec)
    profiles: dict[Identifier, ProfileSpec] = Field(default_factory=dict)
    sites: list[SiteSpec] = Field(default_factory=list)
    results: ResultsSpec = Field(default_factory=ResultsSpec)
    checks: ChecksSpec = Field(default_factory=ChecksSpec)
    runner: RunnerSpec = Field(default_factory=RunnerSpec)

    @property
    def active_sites(self) -> list[SiteSpec]:
        """The sites that take part in the run (none in the base case)."""
        return [] if self.base_case else list(self.sites)


# --------------------------------------------------------------------------------- loading


def _loc_to_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"file", "clearsky_pv", "constant"} and out.startswith("profiles."):
            continue  # discriminator tag inserted by pydantic, not a key
        else:
            out += ("." if out else "") + str(part)
    return out or "<top level>"


def _format_problems(source: str, problems: Sequence[tuple[str, str]]) -> str:
    lines = [f"scenario {source}: {len(problems)} problem(s):"]
    lines += [f"  - {path}: {msg}" for path, msg in problems]
    lines.append("Fix the keys above (see scenarios/demo.toml for a complete example).")
    return "\n".join(lines)


def _cross_check(spec: ScenarioSpec) -> list[tuple[str, str]]:
    """References between sections: profiles, unique ids, bus names, result attributes."""
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
    from v2xcosim.grid.networks import bus_names

    buses = set(bus_names(spec.grid.network))
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


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse ``dotted.key=value``; the value is read as TOML (a bare word falls back to text)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ScenarioError(
            f"--set {item!r}: expected dotted.key=value, e.g. --set time.step_s=60 "
            "or --set sites.0.n_evs=20"
        )
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if re.fullmatch(r"[A-Za-z0-9_./:\-+]*", raw.strip()) is None:
            raise ScenarioError(
                f"--set {item!r}: the value is not valid TOML (quote text: key='some text')"
            ) from None
        value = raw.strip()
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of the raw scenario ``data`` with each ``--set`` override applied."""
    import copy

    out = copy.deepcopy(data)
    for item in overrides:
        keys, value = parse_override(item)
        node: Any = out
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            where = ".".join(keys[: depth + 1])
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    raise ScenarioError(
                        f"--set {item!r}: {where!r} needs an index below {len(node)}"
                    )
                if last:
                    node[int(key)] = value
                else:
                    node = node[int(key)]
            elif isinstance(node, dict):
                if last:
                    node[key] = value
                else:
                    node = node.setdefault(key, {})
            else:
                raise ScenarioError(f"--set {item!r}: {where!r} is inside a plain value")
    return out


def spec_from_dict(
    data: Mapping[str, Any], *, base_dir: Path, source: str = "<dict>"
) -> ScenarioSpec:
    """Validate raw scenario data; raise :class:`ScenarioError` listing every problem."""
    try:
        spec = ScenarioSpec.model_validate(dict(data), context={"base_dir": base_dir})
    except ValidationError as exc:
        problems = [(_loc_to_path(e["loc"]), e["msg"]) for e in exc.errors()]
        raise ScenarioError(_format_problems(source, problems)) from None
    problems = _cross_check(spec)
    if problems:
        raise ScenarioError(_format_problems(source, problems))
    return spec


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> ScenarioSpec:
    """Read, override and validate the scenario file ``path``."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"scenario file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"scenario {path}: not UTF-8 text: {exc}") from None
    data = apply_overrides(data, overrides)
    return spec_from_dict(data, base_dir=path.resolve().parent, source=str(path))


def spec_to_jsonable(spec: ScenarioSpec) -> dict[str, Any]:
    """The resolved scenario as JSON-compatible data (for ``metadata.json``)."""
    out: dict[str, Any] = spec.model_dump(mode="json")
    return out
