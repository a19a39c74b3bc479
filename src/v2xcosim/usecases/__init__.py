"""Floor 4: use cases as packages behind one small protocol, found through a registry.

A use case (``sites``, ...) is a package ``v2xcosim.usecases.<name>`` whose
``__init__`` exposes ``USE_CASE``, an object implementing :class:`UseCase`.  Generic code (the
scenario loader, the runner, the CLI) asks the registry by the scenario's top-level
``use_case`` key and never names a use case; the registry holds import strings
(``"module:attr"``, mosaik's own convention), so a use case's heavy imports (SimBench, pvlib,
pandapower networks) load only when that use case runs.  Use cases never import each other.

Adding a use case: a package with ``schema.py`` (its pydantic scenario model on
:class:`v2xcosim.config.common.ScenarioBase`, exactly the sections it reads), ``wiring`` from
schema to domain objects, its world recipe, KPIs and plots, and one line in :data:`REGISTRY`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from v2xcosim.config.common import ScenarioBase
from v2xcosim.core.errors import ScenarioError
from v2xcosim.report.html import RunView, Section

REGISTRY: dict[str, str] = {
    "sites": "v2xcosim.usecases.sites:USE_CASE",
    "porto": "v2xcosim.usecases.porto:USE_CASE",
    "terni": "v2xcosim.usecases.terni:USE_CASE",
}
"""Use-case name (the scenario's ``use_case``) -> import string of its :class:`UseCase`."""

DEFAULT = "sites"
"""The use case of a scenario file without a ``use_case`` key."""


@dataclass(frozen=True)
class OperatingState:
    """A characteristic operating point of a scenario's network, from its own profiles.

    ``load_scale`` multiplies every load's ``p_mw``/``q_mvar`` of :attr:`NetworkLayout.net`;
    ``pv_scale`` every PV static generator's (``sgen.type == "PV"``; other generators stay);
    ``time_utc`` is the step it was taken from (ISO 8601) and ``why`` says how it was chosen.
    """

    load_scale: float
    pv_scale: float
    time_utc: str
    why: str


def net_demand_states(
    times_utc: Sequence[str],
    load_scale: Sequence[float],
    pv_scale: Sequence[float],
    load_mw: float,
    pv_mw: float,
) -> dict[str, OperatingState]:
    """Return the evening-peak and noon-surplus states of a run's profiles.

    ``evening_peak`` is the step of the largest net demand ``load_scale·load_mw −
    pv_scale·pv_mw`` (the worst case for charging), ``noon_surplus`` the step of the smallest
    (the largest PV surplus: the worst case for discharging).
    """
    demand = [a * load_mw - b * pv_mw for a, b in zip(load_scale, pv_scale, strict=True)]
    hi = max(range(len(demand)), key=demand.__getitem__)
    lo = min(range(len(demand)), key=demand.__getitem__)
    return {
        "evening_peak": OperatingState(
            float(load_scale[hi]),
            float(pv_scale[hi]),
            times_utc[hi],
            f"the step of the largest net demand ({demand[hi]:.3f} MW)",
        ),
        "noon_surplus": OperatingState(
            float(load_scale[lo]),
            float(pv_scale[lo]),
            times_utc[lo],
            f"the step of the smallest net demand ({demand[lo]:.3f} MW)",
        ),
    }


@dataclass(frozen=True)
class NetworkLayout:
    """A use case's pandapower network and where its chargers connect, buildable without a run.

    ``net`` is a fresh pandapower network (loads at nominal power, PV at peak);
    ``connection_points`` maps each charging site (or other connection owner) to the names of
    the buses its chargers are connected to; ``states`` are operating points of the scenario.
    """

    net: Any
    connection_points: Mapping[str, Sequence[str]] = field(default_factory=dict)
    states: Mapping[str, OperatingState] = field(default_factory=dict)
    """Characteristic operating points from the scenario's profiles (empty for a bare file)."""


class UseCase(Protocol):
    """What a use case offers to the generic scenario code (:mod:`v2xcosim.scenario`).

    One run is: ``preflight`` (FMUs built and checked, nothing written) -> ``plan`` (everything
    the run needs, computed once) -> ``build_world`` -> mosaik runs -> the store's ``tables`` are
    read back -> ``kpis`` -> ``plots`` -> ``kpis.json`` and ``metadata.json`` (last).
    """

    name: str
    """The registry name (``use_case`` in scenario files)."""
    trace_steps: Mapping[str, str]
    """Step id -> description of the actor trace (empty when the use case keeps no trace)."""
    kpi_keys: tuple[str, ...]
    """Headline KPIs, in the order of the summary and comparison tables."""
    power_flow_method: str
    """How the power flow is solved (recorded in ``metadata.json``)."""
    sgam_places: Mapping[str, tuple[str, str]]
    """Trace role (an actor's name before ``/``) -> (EMSA domain, zone) for the report's
    EMSA/SGAM plane (:data:`v2xcosim.report.html.DOMAINS`, ``ZONES``); empty: no plane."""

    @property
    def schema(self) -> type[ScenarioBase]:
        """Return the pydantic model of this use case's scenario files."""
        ...

    @property
    def strategies(self) -> tuple[str, ...]:
        """Return the built-in ``control.strategy`` values (empty: no strategies).

        ``run --compare`` takes these, or any other value the use case's schema and ``check``
        accept (such as an import string of a strategy of your own).
        """
        ...

    def early_problems(self, data: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Return the problems this use case sees in any raw scenario data (legacy keys)."""
        ...

    def check(self, spec: Any) -> list[tuple[str, str]]:
        """Return the cross-reference problems of a validated spec, as ``(key path, message)``."""
        ...

    def preflight(self, spec: Any) -> dict[str, Path]:
        """Build (cached) and check every FMU the run needs; write nothing; name -> ``.fmu``."""
        ...

    def plan(self, spec: Any, fmus: Mapping[str, Path]) -> Any:
        """Return everything the run needs that is derived from the spec, computed once per run."""
        ...

    def build_world(self, spec: Any, plan: Any, out_dir: Path, *, progress_fd: int | None) -> Any:
        """Create the mosaik world (simulators, entities, connections, the result store)."""
        ...

    def tables(self, spec: Any, plan: Any) -> list[str]:
        """Return the store tables a complete run leaves (each must hold one row per step)."""
        ...

    def kpis(
        self, spec: Any, plan: Any, out_dir: Path, frames: Mapping[str, pd.DataFrame]
    ) -> dict[str, Any]:
        """KPIs of a completed run (may write further tables); ``checks_passed`` included."""
        ...

    def plots(
        self, spec: Any, plan: Any, out_dir: Path, frames: Mapping[str, pd.DataFrame]
    ) -> None:
        """Write the use case's own plots (besides the generic ones)."""
        ...

    def summary(self, kpis: Mapping[str, Any]) -> str:
        """Return the KPI summary the CLI prints after a run."""
        ...

    def report_sections(self, run: RunView, baseline: RunView | None) -> list[Section]:
        """Return this use case's own sections of the HTML report (``v2xcosim report``).

        A section whose ``key`` is a generic one (``ev``, ``sites``, ...) replaces it; others
        are added before the trace sections (:func:`v2xcosim.report.html.merge_sections`).
        """
        ...

    def describe(self, spec: Any) -> str:
        """Return one line for ``v2xcosim validate``: what the scenario holds."""
        ...

    def network(self, spec: Any, plan: Any = None) -> NetworkLayout:
        """Return the scenario's network and connection points, without running anything.

        ``plan``: within a run, the run's plan (:meth:`plan`), so a use case can take the
        network it built there instead of building it again (``network.json``); ``None``
        outside a run.  Either way the result is the same.
        """
        ...


def names() -> list[str]:
    """Return the registered use-case names."""
    return sorted(REGISTRY)


def get(name: str) -> UseCase:
    """Return the use case registered as ``name`` (imports its package on first use)."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ScenarioError(
            f"use_case = {name!r} is not a use case; known: {', '.join(names())}"
        ) from None
    module, _, attr = target.partition(":")
    case: UseCase = getattr(importlib.import_module(module), attr)
    return case


__all__ = [
    "DEFAULT",
    "REGISTRY",
    "NetworkLayout",
    "OperatingState",
    "UseCase",
    "get",
    "names",
    "net_demand_states",
]
