"""Scenario schema of the Terni use case (``use_case = "terni"``).

Network, profiles, users and actors are built in from ``[terni]``, ``[control]``, ``[users]``,
``[market]`` and ``[dso]``; ``[grid]`` holds only the operating limits and power-flow options.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from v2xcosim.config.actors import ControlSpec, DsoSpec, MarketSpec, UsersSpec, is_import_string
from v2xcosim.config.base import Fraction, Spec
from v2xcosim.config.common import ScenarioBase
from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.strategies import load_strategy


class TerniSpec(Spec):
    """Network, profiles and KPI settings of the Terni use case (``grid.network = "terni"``).

    Network: :func:`v2xcosim.usecases.terni.network.build_terni_network`; profiles:
    :mod:`v2xcosim.usecases.terni.profiles` and :mod:`v2xcosim.usecases.terni.inputs` (each
    load its SimBench profile; PV over roof orientations × Kasten–Czeplak factor of a seeded
    AR(1) cloud cover per MV feeder; SimBench hydro; assumed temperature; F1/F2/F3 prices of
    the simulated month).
    """

    peak_load_mw: float = Field(
        default=20.0, gt=0, description="annual coincident peak of the background load"
    )
    commercial_energy_share: float = Field(
        default=0.6, gt=0, lt=1, description="commercial loads' share of the annual energy"
    )
    pv_mwp: float = Field(default=20.0, ge=0, description="total PV peak")
    connectors_per_site: int = Field(default=4, ge=1, le=64)
    connector_kw: float = Field(default=11.0, gt=0)
    oltc: bool = Field(default=True, description="HV/MV tap changer (DiscreteTapControl) active")
    oltc_vm_lower_pu: float = Field(default=0.99, gt=0)
    oltc_vm_upper_pu: float = Field(default=1.01, gt=0)
    cloud_mean_oktas: float = Field(default=1.0, ge=0, le=8)
    cloud_std_oktas: float = Field(default=1.0, ge=0)
    cloud_correlation_h: float = Field(default=3.0, gt=0)
    cloud_zone_correlation: float = Field(
        default=0.8, ge=0, le=1, description="correlation of two MV feeders' cloud paths"
    )
    pv_performance_ratio: float = Field(default=0.8, gt=0, le=1)
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


class TerniScenario(ScenarioBase):
    """A complete Terni scenario (``scenarios/terni_v2g.toml`` shows every key)."""

    use_case: Literal["terni"] = "terni"
    terni: TerniSpec = Field(default_factory=TerniSpec)
    control: ControlSpec = Field(default_factory=ControlSpec)
    users: UsersSpec = Field(default_factory=UsersSpec)
    market: MarketSpec = Field(default_factory=MarketSpec)
    dso: DsoSpec = Field(default_factory=DsoSpec)


def check(spec: TerniScenario) -> list[tuple[str, str]]:
    """Check a Terni scenario: it brings its own sites, PV, loads and profiles.

    A strategy of your own (``control.strategy = "module:Class"``) is imported here, from
    ``control.strategy_path`` (the scenario's folder) or an installed package, and checked
    against the strategy protocol, so a bad one is refused before any run.
    """
    problems: list[tuple[str, str]] = []
    c = spec.control
    if is_import_string(c.strategy):
        try:
            load_strategy(c.strategy, c.strategy_path)
        except ScenarioError as exc:
            problems.append(("control.strategy", str(exc)))
    if 900 % spec.time.step_s:
        problems.append(("time.step_s", "must divide 900 s (settlement quarter hour) for terni"))
    start = spec.time.start_utc
    if (start.minute * 60 + start.second) % 900 or start.microsecond:
        problems.append(("time.start", "must be on a quarter hour for terni"))
    if spec.time.duration_s % 900:
        problems.append(("time.duration_s", "must be a multiple of 900 s for terni"))
    from v2xcosim.usecases.terni.network import DEFAULT_LV_FEEDERS

    known = ["primary", *(f"feeder/{f.name}" for f in DEFAULT_LV_FEEDERS)]
    for zone in spec.dso.zones:
        if zone not in known:
            problems.append((f"dso.zones.{zone}", f"unknown zone; known: {', '.join(known)}"))
    from v2xcosim.config.fmu import solver_parameter_problems

    for msg in solver_parameter_problems(spec.terni.fmu_instance_parameters):
        problems.append(("terni.fmu_instance_parameters", msg))
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
