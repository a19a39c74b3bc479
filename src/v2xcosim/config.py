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

import copy
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

from v2xcosim.core.errors import ScenarioError

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

    network: Literal["cigre_lv", "terni"] = Field(
        default="cigre_lv",
        description="cigre_lv (sites, PV and loads from this file) or terni (the Terni use case: "
        "network, profiles, users and actors from [terni], [control], [users], [market], [dso])",
    )
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
    every EV, a list gives one value per EV.  ``instance_parameters`` are FMU-wide parameters
    under their exact names, set once per FMU instance: for the project's FMUs ``solver.rtol``
    (the integrator's relative tolerance, default 1e-6) and, for fleet FMUs, ``solver.threads``
    (threads integrating the vehicles, default 0 = one per CPU and per 64 vehicles; results do not
    depend on it).
    """

    model: str | None = None
    path: Path | None = None
    fleet: bool = True
    vector_prefix: str = "ev"
    parameters: dict[str, ParamValue] = Field(default_factory=dict)
    instance_parameters: dict[str, float | int | bool] = Field(default_factory=dict)
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
    """Watchdog of a run (:class:`v2xcosim.runner.Watchdog`): two limits, one per phase.

    ``startup_timeout_s`` bounds the set-up (imports, FMU loading and instantiation, building the
    mosaik world) from the start of the run's process to its first step; ``stall_timeout_s``
    then bounds the time between completed steps.  A run over either limit is stopped (exit 2).
    """

    startup_timeout_s: float = Field(
        default=600.0, gt=0, description="limit [s] for set-up, until stepping begins"
    )
    stall_timeout_s: float = Field(
        default=120.0, gt=0, description="limit [s] between completed steps once stepping"
    )


# ------------------------------------------------------------------------ Terni use case
Strategy = Literal["uncontrolled", "smart", "v2g"]


class TerniSpec(_Spec):
    """Network, profiles and KPI settings of the Terni use case (``grid.network = "terni"``).

    Network: :func:`v2xcosim.usecases.terni.network.build_terni_network`; profiles:
    :mod:`v2xcosim.usecases.terni.profiles` (PV = clear sky × Kasten–Czeplak cloud factor of a
    seeded
    AR(1) cloud cover; SimBench load; assumed temperature; F1/F2/F3 prices).
    """

    peak_load_mw: float = Field(default=20.0, gt=0, description="sum of nominal background load")
    pv_mwp: float = Field(default=20.0, ge=0, description="total PV peak")
    connectors_per_site: int = Field(default=4, ge=1, le=64)
    connector_kw: float = Field(default=11.0, gt=0)
    oltc: bool = Field(default=True, description="HV/MV tap changer (DiscreteTapControl) active")
    oltc_vm_lower_pu: float = Field(default=0.99, gt=0)
    oltc_vm_upper_pu: float = Field(default=1.01, gt=0)
    cloud_mean_oktas: float = Field(default=1.0, ge=0, le=8)
    cloud_std_oktas: float = Field(default=1.0, ge=0)
    cloud_correlation_h: float = Field(default=3.0, gt=0)
    pv_performance_ratio: float = Field(default=0.8, gt=0, le=1)
    load_profile: str = Field(default="lv_urban6", description="SimBench load profile name")
    voltage_window_s: int = Field(
        default=600, gt=0, description="averaging window of voltage_violation_bus_hours"
    )
    fmu_soc_min: Fraction = Field(default=0.05, description="EV FMU BMS lower SOC limit")
    fmu_soc_max: Fraction = Field(default=0.95, description="EV FMU BMS upper SOC limit")
    fmu_reference_capacity_kwh: float = Field(
        default=59.0, gt=0, description="capacity of the EV FMU at n_parallel = 80"
    )
    fmu_instance_parameters: dict[str, float | int | bool] = Field(
        default_factory=dict,
        description="FMU-wide parameters of each site's fleet FMU (solver.rtol, solver.threads)",
    )

    @model_validator(mode="after")
    def _bands(self) -> TerniSpec:
        if self.oltc_vm_lower_pu >= self.oltc_vm_upper_pu:
            raise ValueError("oltc_vm_lower_pu must be below oltc_vm_upper_pu")
        if self.fmu_soc_min >= self.fmu_soc_max:
            raise ValueError("fmu_soc_min must be below fmu_soc_max")
        return self


class ControlSpec(_Spec):
    """Charging strategy and the CS EMS guard (``control.strategy``).

    ``uncontrolled``: full power from arrival to the wish; ``smart``: unidirectional, charges in
    forecast reverse-flow hours and sells up-flexibility; ``v2g``: bidirectional, also
    discharges in high-price steps whose DSO forecast imports more than
    ``discharge_min_import_mw`` at the primary substation, and sells flexibility both ways.
    """

    strategy: Strategy = "v2g"
    soc_max: Fraction = Field(default=0.91, description="upper SOC the EMSP/CS EMS may charge to")
    target_margin_soc: float = Field(
        default=0.005, ge=0, le=0.1, description="the guard aims this much above the wish"
    )
    eta_charge: float = Field(default=0.92, gt=0, le=1, description="guard/KPI efficiency")
    eta_discharge: float = Field(default=0.90, gt=0, le=1)
    discharge_price_quantile: Fraction = 0.75
    discharge_min_import_mw: float = Field(
        default=1.0,
        ge=0,
        description="v2g discharges only where the DSO forecast at the primary substation "
        "imports more than this (reverse-flow safety margin)",
    )


class UsersSpec(_Spec):
    """User population (:class:`v2xcosim.domain.users.UserPopulationSpec`); strategy-independent."""

    sessions_per_connector_per_day: float = Field(default=1.5, gt=0)
    commuter_share: Fraction = 0.5
    energy_mean_kwh: float = Field(default=8.4, gt=0)
    soc_departure_min: Fraction = 0.7
    soc_departure_max: Fraction = 0.9
    soc_min_min: Fraction = 0.2
    soc_min_max: Fraction = 0.4
    soc_arrival_floor: Fraction = 0.1
    price_threshold_median_eur_per_mwh: float = Field(default=60.0, ge=0)
    p_gdpr_consent: Fraction = 0.9
    p_v2g_opt_in: Fraction = 0.7

    @model_validator(mode="after")
    def _ranges(self) -> UsersSpec:
        if not self.soc_departure_min <= self.soc_departure_max:
            raise ValueError("soc_departure_min must not exceed soc_departure_max")
        if not self.soc_min_min <= self.soc_min_max <= self.soc_departure_min:
            raise ValueError("need soc_min_min <= soc_min_max <= soc_departure_min")
        return self


class ProviderSpec(_Spec):
    """Another flexibility provider on the LFMP: a stationary battery (``kind = "battery"``).

    :class:`v2xcosim.domain.provider.StationaryBattery` in DSO zone ``zone`` (``"primary"`` or
    ``"feeder/<LV feeder>"``), connected as a pandapower ``storage`` (load convention) at the
    bus named ``bus``; it offers at ``price_eur_per_mwh``.
    """

    provider_id: Identifier
    kind: Literal["battery"] = "battery"
    zone: str = "primary"
    bus: str = Field(default="MV3.101 Bus 13", description="pandapower bus name of the battery")
    capacity_kwh: float = Field(default=1000.0, gt=0)
    p_max_kw: float = Field(default=500.0, gt=0)
    soc_initial: Fraction = 0.5
    soc_min: Fraction = 0.1
    soc_max: Fraction = 0.9
    eta: float = Field(default=0.93, gt=0, le=1, description="one-way efficiency")
    price_eur_per_mwh: float = Field(default=50.0, ge=0, description="bid price")

    @model_validator(mode="after")
    def _soc_band(self) -> ProviderSpec:
        if not self.soc_min <= self.soc_initial <= self.soc_max:
            raise ValueError("need soc_min <= soc_initial <= soc_max")
        if self.provider_id in {"emsp", "dso", "lfmp"}:
            raise ValueError(f"provider_id {self.provider_id!r} is taken by another actor")
        return self


class MarketSpec(_Spec):
    """LFMP sessions and EMSP economics.

    A market session opens every ``period_s`` (from the run start): the DSO forecasts and
    publishes requests for the delivery window ``[open + delivery_lead_s, + period_s)``, the
    EMSP offers at opening, the gate closes ``gate_closure_after_s`` after opening.
    """

    period_s: int = Field(default=3600, gt=0)
    gate_closure_after_s: int = Field(default=900, ge=0)
    delivery_lead_s: int = Field(default=1800, gt=0)
    degradation_eur_per_mwh: float = Field(default=20.0, ge=0)
    emsp_margin_eur_per_mwh: float = Field(default=5.0, ge=0)
    price_step_eur_per_mwh: float = Field(default=10.0, gt=0)
    emsp_share: Fraction = 0.2
    tariff_eur_per_kwh: float = Field(default=0.45, ge=0)
    providers: list[ProviderSpec] = Field(
        default_factory=list, description="other flexibility providers ([[market.providers]])"
    )

    @model_validator(mode="after")
    def _timing(self) -> MarketSpec:
        if self.period_s % 900 or self.delivery_lead_s % 900:
            raise ValueError("period_s and delivery_lead_s must be multiples of 900 s")
        if self.gate_closure_after_s >= self.delivery_lead_s:
            raise ValueError("gate_closure_after_s must be below delivery_lead_s")
        return self


class DsoSpec(_Spec):
    """DSO forecast service and requests for the primary-substation zone."""

    export_limit_mw: float = Field(
        default=0.0, ge=0, description="reverse flow above this is requested as up-flexibility"
    )
    price_cap_eur_per_mwh: float = Field(default=200.0, ge=0)
    load_error_std: float = Field(default=0.03, ge=0)
    pv_error_std: float = Field(default=0.05, ge=0)
    max_window_intervals: int = Field(default=4, ge=1)


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
    terni: TerniSpec = Field(default_factory=TerniSpec)
    control: ControlSpec = Field(default_factory=ControlSpec)
    users: UsersSpec = Field(default_factory=UsersSpec)
    market: MarketSpec = Field(default_factory=MarketSpec)
    dso: DsoSpec = Field(default_factory=DsoSpec)

    @property
    def is_terni(self) -> bool:
        """The Terni use case (``grid.network = "terni"``)."""
        return self.grid.network == "terni"

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
    """Check references between sections: profiles, unique ids, bus names, result attrs."""
    problems: list[tuple[str, str]] = []
    if spec.is_terni:
        return _cross_check_terni(spec)
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


def _cross_check_terni(spec: ScenarioSpec) -> list[tuple[str, str]]:
    """Check a Terni scenario: it brings its own sites, PV, loads and profiles."""
    problems: list[tuple[str, str]] = []
    if spec.sites:
        problems.append(("sites", "must be empty with grid.network = 'terni' (built in)"))
    if spec.grid.pv:
        problems.append(("grid.pv", "must be empty with grid.network = 'terni' (PV is built in)"))
    if spec.grid.load_profile is not None:
        problems.append(("grid.load_profile", "not used with grid.network = 'terni'"))
    if 900 % spec.time.step_s:
        problems.append(("time.step_s", "must divide 900 s (settlement quarter hour) for terni"))
    start = spec.time.start_utc
    if (start.minute * 60 + start.second) % 900 or start.microsecond:
        problems.append(("time.start", "must be on a quarter hour for terni"))
    if spec.time.duration_s % 900:
        problems.append(("time.duration_s", "must be a multiple of 900 s for terni"))
    for j, attr in enumerate(spec.results.attrs):
        problems.append((f"results.attrs[{j}]", f"{attr!r}: terni records a fixed set"))
    seen: set[str] = set()
    for j, prov in enumerate(spec.market.providers):
        if prov.provider_id in seen:
            problems.append(
                (f"market.providers[{j}].provider_id", f"duplicate {prov.provider_id!r}")
            )
        seen.add(prov.provider_id)
        if prov.zone != "primary" and not prov.zone.startswith("feeder/"):
            problems.append(
                (f"market.providers[{j}].zone", "must be 'primary' or 'feeder/<LV feeder name>'")
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


def _delete_at(tree: Any, loc: Sequence[int | str]) -> None:
    """Delete the entry at ``loc`` (a pydantic error location) from nested dicts and lists."""
    node: Any = tree
    for part in loc[:-1]:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        else:
            return
    if not loc:
        return
    last = loc[-1]
    if isinstance(node, dict) and last in node:
        del node[last]
    elif isinstance(node, list) and isinstance(last, int) and 0 <= last < len(node):
        node[last] = None  # keep the indices of the other items


def _cross_check_without(
    data: Mapping[str, Any], locs: Sequence[tuple[int | str, ...]], base_dir: Path
) -> list[tuple[str, str]]:
    """Cross-reference problems of the data with the invalid entries removed (best effort).

    So that one run of ``v2xcosim validate`` reports the reference problems (unknown profile,
    bus, duplicate id) together with the field problems: the offending entries are dropped —
    the key itself, else its enclosing table (a site, a PV plant) — and, once the rest
    validates, the cross-checks run on it.
    """
    bad = {_loc_to_path(loc) for loc in locs}
    pending = [tuple(loc) for loc in locs]
    pruned: Any = copy.deepcopy(dict(data))
    for level in range(4):
        for loc in pending:
            _delete_at(pruned, loc[: max(len(loc) - level, 1)])
        for key in ("sites", "grid"):  # list items removed above leave None placeholders
            if isinstance(pruned.get(key), list):
                pruned[key] = [x for x in pruned[key] if x is not None]
        if isinstance(pruned.get("grid"), dict) and isinstance(pruned["grid"].get("pv"), list):
            pruned["grid"]["pv"] = [x for x in pruned["grid"]["pv"] if x is not None]
        try:
            spec = ScenarioSpec.model_validate(pruned, context={"base_dir": base_dir})
        except ValidationError as exc:
            pending = [tuple(e["loc"]) for e in exc.errors()]
            continue
        # items removed from a list shift the indices after them: drop those paths' findings
        shifted = [
            prefix
            for prefix, before, after in (
                ("sites[", data.get("sites"), spec.sites),
                ("grid.pv[", (data.get("grid") or {}).get("pv"), spec.grid.pv),
            )
            if isinstance(before, list) and len(before) != len(after)
        ]
        return [
            p
            for p in _cross_check(spec)
            if p[0] not in bad and not any(p[0].startswith(x) for x in shifted)
        ]
    return []


def spec_from_dict(
    data: Mapping[str, Any], *, base_dir: Path, source: str = "<dict>"
) -> ScenarioSpec:
    """Validate raw scenario data; raise :class:`ScenarioError` listing every problem."""
    try:
        spec = ScenarioSpec.model_validate(dict(data), context={"base_dir": base_dir})
    except ValidationError as exc:
        problems = [(_loc_to_path(e["loc"]), e["msg"]) for e in exc.errors()]
        problems += _cross_check_without(data, [e["loc"] for e in exc.errors()], base_dir)
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
    """Return the resolved scenario as JSON-compatible data (for ``metadata.json``)."""
    out: dict[str, Any] = spec.model_dump(mode="json")
    return out
