"""Scenario schema of the Terni use case (``use_case = "terni"``).

Network, profiles, users and actors are built in from ``[terni]``, ``[control]``, ``[users]``,
``[market]`` and ``[dso]``; ``[grid]`` holds only the operating limits and power-flow options.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from v2xcosim.config.actors import ControlSpec, DsoSpec, MarketSpec, UsersSpec, is_import_string
from v2xcosim.config.base import Fraction, Identifier, Spec
from v2xcosim.config.common import ScenarioBase
from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.strategies import load_strategy


class LvFeederShape(Spec):
    """Size of a detailed LV feeder at a secondary substation (one per charging zone).

    A radial ``NAYY 4x150 SE`` cable of ``n_nodes`` segments of ``segment_m`` behind a
    0.63 MVA 20/0.4 kV transformer, a house load peaking at ``node_load_kw`` and
    ``node_pv_kwp`` of rooftop PV at every node, the charging station at ``charger_node``
    (:class:`~v2xcosim.usecases.terni.network.LvFeederSpec`).  Defaults (assumption): six
    nodes of 15 kW / 15 kWp, so one feeder (90 kW, 90 kWp) fits inside the aggregated LV grid
    of most secondary substations it replaces part of (:mod:`~v2xcosim.usecases.terni.placement`).
    """

    n_nodes: int = Field(default=6, ge=1, le=50)
    segment_m: float = Field(default=40.0, gt=0, le=1000.0, description="cable per node [m]")
    node_load_kw: float = Field(default=15.0, ge=0, le=500.0, description="annual peak per node")
    node_pv_kwp: float = Field(default=15.0, ge=0, le=500.0, description="rooftop PV per node")
    charger_node: int = Field(default=3, ge=1, description="node of the charging station")

    @model_validator(mode="after")
    def _charger_on_feeder(self) -> LvFeederShape:
        if self.charger_node > self.n_nodes:
            raise ValueError(
                f"charger_node {self.charger_node} is beyond the feeder's n_nodes {self.n_nodes}"
            )
        return self


class PlacementSpec(LvFeederShape):
    """``[terni.placement]``: charging zones placed automatically over secondary substations.

    ``charging_zones`` LV feeders (one charging site each), spread round-robin over the MV
    feeders by :func:`~v2xcosim.usecases.terni.placement.place_lv_feeders` (the rule is in that
    module).  ``charge_points``: the connectors, either a total shared out as evenly as the
    count allows (the first zones take one more) or one count per zone; default
    ``terni.connectors_per_site`` in every zone.
    """

    charging_zones: int = Field(ge=1, le=133, description="LV feeders / charging sites")
    charge_points: int | list[int] | None = Field(
        default=None, description="connectors in all (shared out) or one count per zone"
    )

    @model_validator(mode="after")
    def _points(self) -> PlacementSpec:
        cp, z = self.charge_points, self.charging_zones
        if isinstance(cp, list):
            if len(cp) != z:
                raise ValueError(
                    f"charge_points lists {len(cp)} zones but charging_zones = {z}; "
                    "give one count per zone or the total as one number"
                )
            if any(not 1 <= n <= 64 for n in cp):
                raise ValueError("charge_points: every zone needs 1 to 64 connectors")
        elif cp is not None and not z <= cp <= 64 * z:
            raise ValueError(
                f"charge_points = {cp} cannot fill {z} charging zones with 1 to 64 connectors each"
            )
        return self


class LvFeederEntry(LvFeederShape):
    """One row of ``[[terni.lv_feeders]]``: a charging site's LV feeder, placed by hand.

    ``mv_bus`` names a secondary substation of the network (an MV bus with an aggregated LV
    grid, e.g. ``"MV3.101 Bus 13"``); ``n_connectors`` defaults to
    ``terni.connectors_per_site``.
    """

    name: Identifier
    site_id: Identifier
    mv_bus: str = Field(min_length=1)
    n_connectors: int | None = Field(default=None, ge=1, le=64)


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
    ev_model: Literal["EV", "EVQuasiStatic"] = Field(
        default="EV",
        description=(
            "model of the EV fleet FMU: 'EV' (dynamic: charger lag, RC pairs) or 'EVQuasiStatic' "
            "(the same vehicle at steady state, for 15-min steps; models/README.md)"
        ),
    )
    placement: PlacementSpec | None = Field(
        default=None, description="charging zones placed automatically (excludes lv_feeders)"
    )
    lv_feeders: list[LvFeederEntry] | None = Field(
        default=None, description="charging zones placed by hand (excludes placement)"
    )

    @model_validator(mode="after")
    def _bands(self) -> TerniSpec:
        if self.oltc_vm_lower_pu >= self.oltc_vm_upper_pu:
            raise ValueError("oltc_vm_lower_pu must be below oltc_vm_upper_pu")
        if self.fmu_soc_min >= self.fmu_soc_max:
            raise ValueError("fmu_soc_min must be below fmu_soc_max")
        if self.placement is not None and self.lv_feeders is not None:
            raise ValueError(
                "give either [terni.placement] (automatic) or [[terni.lv_feeders]] (by hand), "
                "not both"
            )
        if self.lv_feeders is not None:
            if not self.lv_feeders:
                raise ValueError("lv_feeders is empty: list at least one feeder or leave it out")
            for key in ("name", "site_id"):
                seen = [getattr(f, key) for f in self.lv_feeders]
                dup = sorted({v for v in seen if seen.count(v) > 1})
                if dup:
                    raise ValueError(f"lv_feeders: duplicate {key} {', '.join(dup)}")
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
    if spec.grid.batch_steps > 0:
        problems.append(
            (
                "grid.batch_steps",
                "terni closes loops through the grid (the chargers' voltages are fed back to the "
                "fleets one step later (Q(U)) and the site actors and the DSO read the network "
                "every step), so each step is solved before the next: set grid.batch_steps = 0",
            )
        )
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
    from v2xcosim.usecases.terni.wiring import feeder_problems, network_spec

    feeder_errors = feeder_problems(spec)
    problems.extend(feeder_errors)
    known: list[str] = []
    if not feeder_errors:  # the zone names are those of the scenario's LV feeders
        known = ["primary", *(f"feeder/{f.name}" for f in network_spec(spec).lv_feeders)]
        listed = ", ".join(known if len(known) <= 6 else [*known[:4], "…", known[-1]])
        for zone in spec.dso.zones:
            if zone not in known:
                problems.append(
                    (f"dso.zones.{zone}", f"unknown zone; {len(known)} known: {listed}")
                )
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
        elif known and prov.zone not in known:
            problems.append(
                (f"market.providers[{j}].zone", f"unknown zone {prov.zone!r}; {listed}")
            )
    return problems
