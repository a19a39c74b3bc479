"""Porto airport, V2B: parked EVs support the terminal's energy balance (issue 14).

The second use-case package: the terminal as a thermal FMU (:mod:`.terminal`), its synthetic
weather (:mod:`.weather`), the Portuguese MV time-of-use tariff (:mod:`.tariff`, on the generic
engine :mod:`v2xcosim.domain.tariff`), the airport's MV network with its terminal substations
and the long-term car park's chargers (:mod:`.network`), the car park's stays and parking
manager (:mod:`.parking`), the EVs and their users' choices (:mod:`.fleet`), the smart-charging
web app's backend (:mod:`.webapp`), the step vocabulary of the trace (:mod:`.steps`), the
mapping from the scenario (:mod:`.schema`, :mod:`.wiring`), the step order of the actors with
the BEMS (:mod:`.flow`, :mod:`.actors`), the world and KPIs (:mod:`.world`) and its own
plots (:mod:`.plots`).  Every
assumption and its source is listed in ``scenarios/porto/README.md``.  This ``__init__`` stays
light; the network, weather and actors load when a run needs them.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from v2xcosim.report.html import RunView, Section
from v2xcosim.usecases import NetworkLayout
from v2xcosim.usecases.porto.report import SGAM_PLACES
from v2xcosim.usecases.porto.schema import PortoScenario, PortoStrategy, check
from v2xcosim.usecases.porto.steps import PORTO_STEPS

KPI_KEYS: tuple[str, ...] = (
    "building_peak_kw",
    "energy_cost_eur",
    "demand_charge_eur",
    "contracted_ratchet_eur",
    "reactive_energy_eur",
    "connection_bill_eur",
    "operator_net_cost_eur",
    "operator_net_cost_stock_adjusted_eur",
    "ev_energy_charged_kwh",
    "ev_energy_discharged_to_building_mwh",
    "ev_stored_energy_end_kwh",
    "departure_soc_shortfall_kwh",
    "battery_degradation_cost_eur",
    "degradation_calendar_eur",
    "degradation_cycle_eur",
    "ev_user_compensation_eur",
    "ev_user_bill_eur",
    "ev_stock_change_kwh",
    "ev_user_bill_stock_adjusted_eur",
    "sessions_rejected",
    "dso_events",
    "dso_event_limit_kw",
    "dso_event_import_max_kw",
    "dso_event_excess_kwh",
    "max_trafo_loading_pct",
    "vm_min_pu",
)
"""The headline KPIs, in the order of the summary and comparison tables."""


class PortoUseCase:
    """The Porto V2B use case (see the package docstring); implements ``UseCase``."""

    name = "porto"
    trace_steps: Mapping[str, str] = PORTO_STEPS
    kpi_keys = KPI_KEYS
    power_flow_method = "pandapower runpp, Newton-Raphson, numba off"
    sgam_places: Mapping[str, tuple[str, str]] = SGAM_PLACES

    @property
    def schema(self) -> type[PortoScenario]:
        """Return :class:`~v2xcosim.usecases.porto.schema.PortoScenario`."""
        return PortoScenario

    @property
    def strategies(self) -> tuple[str, ...]:
        """Return the values of ``control.strategy``: uncontrolled, smart, v2b."""
        return tuple(typing.get_args(PortoStrategy))

    def early_problems(self, data: Mapping[str, Any]) -> list[tuple[str, str]]:
        """No legacy spellings to refuse."""
        return []

    def check(self, spec: PortoScenario) -> list[tuple[str, str]]:
        """Check the quarter-hour grid, the event window and the SOC bands."""
        return check(spec)

    def preflight(self, spec: PortoScenario) -> dict[str, Path]:
        """Build (cached) the fleet FMU (one slot per session) and the terminal FMU."""
        from v2xcosim.usecases.porto.world import preflight

        return preflight(spec)

    def plan(self, spec: PortoScenario, fmus: Mapping[str, Path]) -> Any:
        """Compute stays, cars, slots and the terminal's and tariff's series once."""
        from v2xcosim.usecases.porto.world import plan

        return plan(spec, fmus)

    def build_world(
        self, spec: PortoScenario, plan: Any, out_dir: Path, *, progress_fd: int | None
    ) -> Any:
        """Create the world of :mod:`v2xcosim.usecases.porto.world`."""
        from v2xcosim.usecases.porto.world import build_world

        return build_world(spec, plan, out_dir, progress_fd=progress_fd)

    def tables(self, spec: PortoScenario, plan: Any) -> list[str]:
        """Return the grid, profile and car-park tables."""
        return ["grid", "profiles", "carpark"]

    def kpis(
        self, spec: PortoScenario, plan: Any, out_dir: Path, frames: Mapping[str, pd.DataFrame]
    ) -> dict[str, Any]:
        """Return the Porto KPIs from the tables, the sessions and the actors' summary."""
        from v2xcosim.usecases.porto.world import porto_kpis

        sessions = pd.read_parquet(out_dir / "sessions.parquet")
        actors = json.loads((out_dir / "porto_actors.json").read_text(encoding="utf-8"))
        return porto_kpis(spec, plan.setup, frames, sessions, actors)

    def plots(
        self, spec: PortoScenario, plan: Any, out_dir: Path, frames: Mapping[str, pd.DataFrame]
    ) -> None:
        """Write the Porto plots (:mod:`.plots`): connection, car park, SOC bands, departures."""
        from v2xcosim.usecases.porto.plots import make_porto_plots

        sessions = pd.read_parquet(out_dir / "sessions.parquet")
        make_porto_plots(spec, plan.setup, frames, sessions, out_dir)

    def report_sections(self, run: RunView, baseline: RunView | None) -> list[Section]:
        """Return the sections of :mod:`.report` for the HTML report."""
        from v2xcosim.usecases.porto.report import report_sections

        return report_sections(run, baseline)

    def summary(self, kpis: Mapping[str, Any]) -> str:
        """Return the headline KPIs as a one-column table."""
        from v2xcosim.report.compare import checks_line, comparison_table

        table = comparison_table({"run": kpis}, self.kpi_keys)
        return f"KPIs (strategy {kpis.get('strategy')}):\n{table}\n{checks_line(kpis)}"

    def describe(self, spec: PortoScenario) -> str:
        """Return the strategy, the chargers and the DSO event."""
        n = spec.porto.network
        ev = spec.dso_event
        if ev is None:
            event = ""
        elif ev.mode == "fixed":
            event = f", DSO import limit {ev.limit_mw:g} MW"
        else:
            event = f", DSO events at its forecast peak less {ev.shave_kw:g} kW"
        return (
            f"Porto airport, strategy {spec.control.strategy}, "
            f"{n.charger_groups * n.chargers_per_group} chargers of {n.charger_kw:g} kW{event}"
            + (" [base case: no EVs]" if spec.base_case else "")
        )

    def network(self, spec: PortoScenario, plan: Any = None) -> NetworkLayout:
        """Return the airport network (loads at 0 W) and the charger groups' buses."""
        from v2xcosim.usecases.porto.network import build_porto_network
        from v2xcosim.usecases.porto.wiring import network_spec

        pn = build_porto_network(network_spec(spec))
        names = pn.net.bus["name"]
        points = {"carpark": [str(names.at[b]) for b in pn.group_bus_idx.values()]}
        return NetworkLayout(pn.net, points)


USE_CASE = PortoUseCase()
"""The registered instance (``v2xcosim.usecases.porto:USE_CASE``)."""
