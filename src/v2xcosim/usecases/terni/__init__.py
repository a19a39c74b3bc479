"""Terni city centre, V2G: public bidirectional chargers against reverse power flow from PV.

Network (SimBench 1-MV-urban re-rated to Terni), profiles, users and actors (EV users, DSO,
EMSP, LFMP, CS EMS) are built in; the scenario file sets them through ``[terni]``,
``[control]``, ``[users]``, ``[market]`` and ``[dso]`` (:mod:`.schema`).  Every assumption and
its source is listed in ``scenarios/terni/README.md``.  This ``__init__`` stays light; the
network, profiles and actors load when a run needs them.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from v2xcosim.config.actors import Strategy
from v2xcosim.report.html import RunView, Section
from v2xcosim.usecases import NetworkLayout, net_demand_states
from v2xcosim.usecases.terni.report import SGAM_PLACES
from v2xcosim.usecases.terni.schema import TerniScenario, check
from v2xcosim.usecases.terni.steps import TERNI_STEPS
from v2xcosim.usecases.terni.world import COMPARE_KEYS, TerniPlan


class TerniUseCase:
    """The Terni V2G use case (see the package docstring); implements ``UseCase``."""

    name = "terni"
    trace_steps: Mapping[str, str] = TERNI_STEPS
    kpi_keys = COMPARE_KEYS
    power_flow_method = "pandapower runpp, Newton-Raphson, numba off, OLTC control"
    sgam_places: Mapping[str, tuple[str, str]] = SGAM_PLACES

    @property
    def schema(self) -> type[TerniScenario]:
        """Return :class:`~v2xcosim.usecases.terni.schema.TerniScenario`."""
        return TerniScenario

    @property
    def strategies(self) -> tuple[str, ...]:
        """Return the built-in values of ``control.strategy`` (read from the schema).

        ``control.strategy`` also takes ``"module:Class"``, a strategy of your own, imported and
        checked by :meth:`check`.
        """
        return tuple(typing.get_args(Strategy))

    def early_problems(self, data: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Refuse the first-stage spelling ``grid.network = "terni"`` with what to write instead."""
        grid = data.get("grid")
        if isinstance(grid, Mapping) and grid.get("network") == "terni":
            return [
                (
                    "grid.network",
                    '"terni" selects a use case now, not a network: write use_case = "terni" '
                    "at the top of the file (before any [table]) and delete grid.network",
                )
            ]
        return []

    def check(self, spec: TerniScenario) -> list[tuple[str, str]]:
        """Check the quarter-hour grid of the market and the flexibility providers."""
        return check(spec)

    def preflight(self, spec: TerniScenario) -> dict[str, Path]:
        """Build (cached) the fleet FMU sized for the largest site and check its parameters."""
        from v2xcosim.fmu.fleet import fleet_fmu_entries
        from v2xcosim.usecases.terni.world import preflight

        return fleet_fmu_entries(spec.terni.ev_model, preflight(spec))

    def plan(self, spec: TerniScenario, fmus: Mapping[str, Path]) -> TerniPlan:
        """Compute users, slots and profiles once; read the network's names and zone model."""
        from v2xcosim.fmu.fleet import fleet_fmus_of
        from v2xcosim.usecases.terni.world import plan

        return plan(spec, fleet_fmus_of(spec.terni.ev_model, fmus))

    def build_world(
        self, spec: TerniScenario, plan: TerniPlan, out_dir: Path, *, progress_fd: int | None
    ) -> Any:
        """Create the world of :mod:`v2xcosim.usecases.terni.world`."""
        from v2xcosim.usecases.terni.world import build_world

        return build_world(spec, plan, out_dir, progress_fd=progress_fd)

    def tables(self, spec: TerniScenario, plan: TerniPlan) -> list[str]:
        """Return the grid, profile, per-site and per-battery tables."""
        return (
            ["grid", "profiles"]
            + [f"site_{s}" for s in sorted(plan.setup.sites)]
            + [f"provider_{p.provider_id}" for p in spec.market.providers]
        )

    def kpis(
        self,
        spec: TerniScenario,
        plan: TerniPlan,
        out_dir: Path,
        frames: Mapping[str, pd.DataFrame],
    ) -> dict[str, Any]:
        """Return the Terni KPIs from the tables, sessions and the actors' summary."""
        from v2xcosim.usecases.terni.world import terni_kpis

        sessions = pd.read_parquet(out_dir / "sessions.parquet")
        actors = json.loads((out_dir / "terni_actors.json").read_text(encoding="utf-8"))
        return terni_kpis(spec, frames, sessions, actors)

    def plots(
        self,
        spec: TerniScenario,
        plan: TerniPlan,
        out_dir: Path,
        frames: Mapping[str, pd.DataFrame],
    ) -> None:
        """Write ``lv_sites.png``: the charging sites' LV transformers and voltages."""
        from v2xcosim.usecases.terni.plots import make_lv_site_plot
        from v2xcosim.usecases.terni.world import site_feeders

        feeders = site_feeders(spec)
        make_lv_site_plot(
            {site: frames[f"site_{site}"] for site in feeders},
            feeders,
            out_dir / "lv_sites.png",
            v_max_pu=spec.grid.v_max_pu,
            tz=spec.time.tzinfo,
        )

    def report_sections(self, run: RunView, baseline: RunView | None) -> list[Section]:
        """Return the sections of :mod:`.report` for the HTML report."""
        from v2xcosim.usecases.terni.report import report_sections

        return report_sections(run, baseline)

    def summary(self, kpis: Mapping[str, Any]) -> str:
        """Return the headline KPIs as a one-column table."""
        from v2xcosim.report.compare import checks_line, comparison_table

        table = comparison_table({"run": kpis}, self.kpi_keys)
        return f"KPIs (strategy {kpis.get('strategy')}):\n{table}\n{checks_line(kpis)}"

    def describe(self, spec: TerniScenario) -> str:
        """Return the strategy and the chargers."""
        from v2xcosim.usecases.terni.wiring import site_connectors

        t = spec.terni
        counts = site_connectors(spec)
        if len(set(counts.values())) == 1:
            chargers = f"{t.connectors_per_site} connectors of {t.connector_kw:g} kW per site"
            if t.placement is not None or t.lv_feeders is not None:
                n = next(iter(counts.values()))
                chargers = f"{n} connectors of {t.connector_kw:g} kW at each of {len(counts)} sites"
        else:
            chargers = (
                f"{sum(counts.values())} connectors of {t.connector_kw:g} kW at {len(counts)} sites"
            )
        return f"Terni, strategy {spec.control.strategy}, {chargers}" + (
            " [base case: no EVs]" if spec.base_case else ""
        )

    def network(self, spec: TerniScenario, plan: TerniPlan | None = None) -> NetworkLayout:
        """Return the re-rated network, each site's charger bus and the day's states.

        Loads are set to their own annual peak and the PV (``type = "PV"``) to its peak, so the
        states (:func:`~v2xcosim.usecases.net_demand_states` of the primary zone's load and PV,
        900-s means, as fractions of those sums) scale them uniformly; the hydro plant keeps
        its nominal output.  With the run's ``plan`` its network (a copy) and zone series are
        taken, nothing is built again.
        """
        import copy
        import datetime as dt

        from v2xcosim.usecases.terni.flow import network_spec, terni_setup
        from v2xcosim.usecases.terni.network import build_terni_network

        if plan is None:
            tn = build_terni_network(network_spec(spec))
            zone = terni_setup(spec, tn=tn).zones["primary"]  # reads tn, before it is changed
        else:
            tn = copy.deepcopy(plan.network)
            zone = plan.setup.zones["primary"]
        net = tn.net
        net.load.loc[tn.load_idx, "p_mw"] = tn.load_p_peak_mw
        net.load.loc[tn.load_idx, "q_mvar"] = tn.load_q_peak_mvar
        net.sgen.loc[tn.pv_idx, "p_mw"] = tn.pv_peak_mw
        net.sgen.loc[tn.pv_idx, "type"] = "PV"
        names = net.bus["name"]
        points = {
            site: [str(names.at[int(net.load.at[int(i), "bus"])])]
            for site, i in sorted(tn.ev_load_idx.items())
        }
        load_mw, pv_mw = float(tn.load_p_peak_mw.sum()), float(tn.pv_peak_mw.sum())
        start = spec.time.start_utc
        times = [
            (start + dt.timedelta(seconds=j * zone.interval_s)).isoformat() for j in range(zone.n)
        ]
        states = net_demand_states(
            times,
            [float(x) / 1e6 / load_mw for x in zone.load_w],
            [float(x) / 1e6 / pv_mw for x in zone.pv_w],
            load_mw,
            pv_mw,
        )
        return NetworkLayout(net, points, states)


USE_CASE = TerniUseCase()
"""The registered instance (``v2xcosim.usecases.terni:USE_CASE``)."""
