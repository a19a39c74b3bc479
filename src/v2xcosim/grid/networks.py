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

import copy
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


NETWORK_JSON = "network.json"
"""The file a run writes its network to (:func:`network_to_json`)."""

NOT_NETWORK = ("profiles",)
"""Tables of a network that are data, not network: left out of :func:`network_to_json`
(SimBench's yearly profiles would be about 10 MB per run)."""


def network_to_json(net: Any) -> str:
    """Return ``net`` as pandapower JSON (``pandapower.from_json`` reads it), byte-stable.

    The same network gives the same text in every process: the columns of each table are put
    in pandapower's own order, extra columns sorted after them (SimBench builds some tables with
    a column order that changes from process to process).  :data:`NOT_NETWORK` is left out.
    """
    import pandapower as pp
    import pandas as pd

    empty = pp.create_empty_network()
    out = copy.deepcopy(net)
    for key in NOT_NETWORK:
        if key in out:
            del out[key]
    for key in list(out.keys()):
        table = out[key]
        if isinstance(table, pd.DataFrame):
            std = list(empty[key].columns) if key in empty else []
            cols = [c for c in std if c in table.columns]
            cols += sorted((c for c in table.columns if c not in cols), key=str)
            out[key] = table[cols]
    text: str = pp.to_json(out)
    return text
