"""Network builders from pandapower's bundled test networks (no downloads).

Each builder returns a fresh ``pandapowerNet`` so that no solver state leaks between runs.

* ``cigre_lv`` — CIGRE Task Force C6.04.02 European LV benchmark (Strunz et al., "Benchmark
  systems for network integration of renewable and distributed energy resources", CIGRE
  TB 575, 2014) as shipped by ``pandapower.networks.create_cigre_network_lv``: a 20 kV slack
  feeding residential (R), industrial (I) and commercial (C) 0.4 kV sub-networks through three
  transformers (0.5, 0.15, 0.3 MVA).  Bus names are ``"Bus R11"`` etc.

A use case that builds its own network (from SimBench, with its own re-rating) does so in its
package and offers it through ``UseCase.network``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from v2xcosim.core.errors import ScenarioError


def _cigre_lv() -> Any:
    import pandapower.networks as pn

    return pn.create_cigre_network_lv()


BUILDERS: dict[str, Callable[[], Any]] = {"cigre_lv": _cigre_lv}


def build(name: str) -> Any:
    """Build a fresh pandapower network ``name`` (see :data:`BUILDERS`)."""
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise ScenarioError(
            f"grid.network: unknown network {name!r}; available: {', '.join(sorted(BUILDERS))}"
        ) from None
    net = builder()
    names = net.bus["name"].tolist()
    if len(set(names)) != len(names):  # pragma: no cover - guards future builders
        raise ScenarioError(f"grid.network {name!r}: bus names are not unique")
    return net


@functools.cache
def bus_names(name: str) -> tuple[str, ...]:
    """Return the bus names of network ``name`` in bus-index order."""
    return tuple(str(n) for n in build(name)["bus"]["name"].tolist())


@functools.cache
def element_names(name: str) -> dict[str, tuple[str, ...]]:
    """Names of the buses, lines and transformers of network ``name`` in index order."""
    net = build(name)
    return {
        "bus": tuple(str(n) for n in net.bus["name"].tolist()),
        "line": tuple(str(n) for n in net.line["name"].tolist()),
        "trafo": tuple(str(n) for n in net.trafo["name"].tolist()),
    }
