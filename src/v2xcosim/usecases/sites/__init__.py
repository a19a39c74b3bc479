"""The file-configured use case: charging sites on a named network (``scenarios/demo.toml``).

Sites, PV plants, loads and profiles all come from the scenario file (:mod:`.schema`); each
site's EVs are one FMU fleet driven by the uncontrolled charging controller.  This package's
``__init__`` stays light: the world recipe, KPIs and plots are imported when a run needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from v2xcosim.report.html import RunView, Section
from v2xcosim.usecases import NetworkLayout, OperatingState, net_demand_states
from v2xcosim.usecases.sites.schema import SitesScenario, check

if TYPE_CHECKING:
    from v2xcosim.usecases.sites.world import SitesPlan


class SitesUseCase:
    """The ``sites`` use case (see the package docstring); implements ``UseCase``."""

    name = "sites"
    trace_steps: Mapping[str, str] = {}
    kpi_keys: tuple[str, ...] = (
        "import_energy_mwh",
        "import_peak_mw",
        "reverse_flow_energy_mwh",
        "reverse_flow_peak_mw",
        "vm_min_pu",
        "vm_max_pu",
        "voltage_violation_bus_hours",
        "voltage_violation_bus_steps",
        "max_line_loading_pct",
        "max_trafo_loading_pct",
        "losses_mwh",
        "nonconverged_steps",
    )
    power_flow_method = "pandapower runpp, Newton-Raphson, numba off"
    sgam_places: Mapping[str, tuple[str, str]] = {}
    """No trace, so no EMSA/SGAM plane."""

    @property
    def schema(self) -> type[SitesScenario]:
        """Return :class:`~v2xcosim.usecases.sites.schema.SitesScenario`."""
        return SitesScenario

    @property
    def strategies(self) -> tuple[str, ...]:
        """Return no strategies: each site's controller is configured in the file."""
        return ()

    def early_problems(self, data: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Return no problems: the sites schema has no legacy keys."""
        return []

    def check(self, spec: SitesScenario) -> list[tuple[str, str]]:
        """Check profiles, ids, bus names and result attributes against each other."""
        return check(spec)

    def preflight(self, spec: SitesScenario) -> dict[str, Path]:
        """Resolve every site's FMU and check the scenario's variable names against it."""
        from v2xcosim.usecases.sites.world import preflight

        return preflight(spec)

    def plan(self, spec: SitesScenario, fmus: Mapping[str, Path]) -> SitesPlan:
        """Draw every site's sessions and sample every profile, once."""
        from v2xcosim.usecases.sites.wiring import profile_series, site_sessions
        from v2xcosim.usecases.sites.world import SitesPlan

        return SitesPlan(
            fmus=dict(fmus), sessions=site_sessions(spec), profiles=profile_series(spec)
        )

    def build_world(
        self, spec: SitesScenario, plan: SitesPlan, out_dir: Path, *, progress_fd: int | None
    ) -> Any:
        """Create the world of :mod:`v2xcosim.usecases.sites.world`."""
        from v2xcosim.usecases.sites.world import build_world

        return build_world(spec, plan, out_dir, progress_fd=progress_fd)

    def tables(self, spec: SitesScenario, plan: SitesPlan) -> list[str]:
        """Return the grid table and one table per active site."""
        return ["grid"] + [f"site_{s.id}" for s in spec.active_sites]

    def kpis(
        self,
        spec: SitesScenario,
        plan: SitesPlan,
        out_dir: Path,
        frames: Mapping[str, pd.DataFrame],
    ) -> dict[str, Any]:
        """Write ``sessions.parquet``; return the KPIs and the flagged checks' verdict."""
        from v2xcosim.core.io import write_parquet_atomic
        from v2xcosim.usecases.sites.kpis import compute_kpis
        from v2xcosim.usecases.sites.world import sessions_frame

        write_parquet_atomic(sessions_frame(spec, plan.sessions), out_dir / "sessions.parquet")
        return compute_kpis(
            frames,
            pd.read_parquet(out_dir / "sessions.parquet"),
            step_s=spec.time.step_s,
            grid_limits={
                "v_min_pu": spec.grid.v_min_pu,
                "v_max_pu": spec.grid.v_max_pu,
                "max_line_loading_percent": spec.grid.max_line_loading_percent,
                "max_trafo_loading_percent": spec.grid.max_trafo_loading_percent,
            },
            checks=spec.checks.model_dump(),
        )

    def plots(
        self,
        spec: SitesScenario,
        plan: SitesPlan,
        out_dir: Path,
        frames: Mapping[str, pd.DataFrame],
    ) -> None:
        """Write nothing besides the generic plots."""

    def report_sections(self, run: RunView, baseline: RunView | None) -> list[Section]:
        """No sections of its own: the generic report covers a file-configured case."""
        return []

    def summary(self, kpis: Mapping[str, Any]) -> str:
        """Return the substation, voltage, loading and per-site summary."""
        from v2xcosim.usecases.sites.kpis import summary

        return summary(kpis)

    def describe(self, spec: SitesScenario) -> str:
        """Return the number of sites and EVs."""
        sites = spec.active_sites
        return f"{len(sites)} site(s), {sum(s.n_evs for s in sites)} EV(s)" + (
            " [base case: no EVs]" if spec.base_case else ""
        )

    def network(self, spec: SitesScenario, plan: Any = None) -> NetworkLayout:
        """Return the network with the scenario's PV plants (at peak) and the sites' buses.

        Each ``[[grid.pv]]`` plant is a static generator ``PV <k>`` (``type = "PV"``) at its
        bus with ``p_mw`` = its peak power, so a study sees the PV the scenario adds.  The
        ``plan`` is not needed (reading the network file is cheap).
        """
        import pandapower as pp

        from v2xcosim.grid.sources import load_source
        from v2xcosim.usecases.sites.wiring import charger_buses

        net = load_source(spec.grid.network)[0]
        index = {str(n): int(i) for i, n in net.bus["name"].items()}
        for k, pv in enumerate(spec.grid.pv):
            pp.create_sgen(
                net,
                index[pv.bus],
                p_mw=pv.p_peak_kw / 1000.0,
                q_mvar=0.0,
                name=f"PV {k}",
                type="PV",
            )
        return NetworkLayout(
            net,
            {s.id: sorted(set(charger_buses(s))) for s in spec.sites},
            self._states(spec, net),
        )

    def _states(self, spec: SitesScenario, net: Any) -> dict[str, OperatingState]:
        """Evening peak and noon surplus of the scenario's load and PV profiles."""
        from v2xcosim.core.timegrid import step_times
        from v2xcosim.usecases.sites.wiring import profile_series

        series = profile_series(spec)
        n = spec.time.n_steps
        g = spec.grid
        load = series[g.load_profile] if g.load_profile else [1.0] * n
        load_scale = [g.load_scaling * float(x) for x in load]
        peak = [pv.p_peak_kw / 1000.0 for pv in g.pv]
        pv_mw = sum(peak)
        # PV plants of different profiles: the peak-weighted mean of their profiles
        pv_scale = [
            sum(w * series[pv.profile][k] for w, pv in zip(peak, g.pv, strict=True)) / pv_mw
            if pv_mw
            else 0.0
            for k in range(n)
        ]
        times = [t.isoformat() for t in step_times(spec.time.start_utc, n, spec.time.step_s)]
        load_mw = float(net.load["p_mw"].astype(float).sum())
        return net_demand_states(times, load_scale, pv_scale, load_mw, pv_mw)


USE_CASE = SitesUseCase()
"""The registered instance (``v2xcosim.usecases.sites:USE_CASE``)."""
