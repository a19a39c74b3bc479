"""Where a Terni scenario's charging zones sit: LV feeders at secondary substations.

A scenario declares its charging zones in one of three ways (``[terni]`` in the schema,
:mod:`v2xcosim.usecases.terni.schema`):

* nothing: the three hand-placed feeders :data:`~v2xcosim.usecases.terni.network.DEFAULT_LV_FEEDERS`
  (``scenarios/terni_v2g.toml``), as they always were;
* ``[terni.placement]``: ``charging_zones`` LV feeders placed automatically by
  :func:`place_lv_feeders` (the rule below) with ``charge_points`` connectors shared out by
  :func:`split_points`;
* ``[[terni.lv_feeders]]``: an explicit table, checked by :func:`feeder_problems`.

**Secondary substations** (:func:`secondary_substations`) are the MV buses of the scenario's
network that carry one of SimBench's aggregated LV grids (a ``lv_*`` load; 133 in
``1-MV-urban``).  Each has its MV feeder (the cloud zone ``mv<k>`` of
:func:`~v2xcosim.usecases.terni.inputs.cloud_zones`), its cable distance from the primary
substation's MV busbar, and the annual peak load and rooftop PV of the aggregate there.

**Capacity rule.**  A detailed LV feeder replaces its own share of the aggregate of its MV bus
(:func:`~v2xcosim.usecases.terni.network.build_terni_network`: by annual peak for the load, by
kWp for the PV).  So that nothing is counted twice or invented, the feeders on one MV bus may
together hold at most the aggregate's annual peak load (n_nodes × node_load_kw) and at most its
rooftop PV (n_nodes × node_pv_kwp).  The three default feeders predate this rule and are kept
as they are (8 × 15 kW = 120 kW against 109 kW aggregated: their bus loses its aggregate load
entirely and gains 11 kW; see ``scenarios/terni/README.md``).

**Placement rule** (:func:`place_lv_feeders`, deterministic, no random draw):

1. candidates: the secondary substations whose aggregate can hold one feeder of the
   scenario's size (capacity rule), grouped by MV feeder; in each MV feeder sorted by cable
   distance from the MV busbar (ties: bus index);
2. zones go round-robin over the MV feeders in the order of their number (``mv1``, ``mv2``,
   …), skipping an MV feeder whose candidates are used up; zone ``k`` (1-based, in that order)
   is feeder ``LV<k>`` with charging site ``cs_zone<k>`` (zero-padded to at least two digits);
3. an MV feeder that received ``n`` zones out of ``m`` candidates gives its ``j``-th zone
   (``j = 0 … n−1``) the candidate at position ``⌊(j + ½)·m / n⌋``: spread from the busbar to
   the feeder's end, so the zones see different cloud zones and different voltages.

``charge_points`` as one number ``C`` over ``Z`` zones (:func:`split_points`): zone ``k`` gets
``⌊C/Z⌋ + 1`` connectors for ``k ≤ C mod Z``, else ``⌊C/Z⌋`` — Terni's 94 points in 28 zones
(terninrete.it, ilsole24ore.com) are 10 zones × 4 + 18 × 3.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from v2xcosim.core.errors import ScenarioError
from v2xcosim.usecases.terni.network import LvFeederSpec, TerniNetworkSpec

MIN_NAME_DIGITS = 2
"""Zone numbers in the automatic names (``LV01``, ``cs_zone01``) have at least this many digits."""


@dataclass(frozen=True)
class SecondarySubstation:
    """An MV bus with an aggregated LV grid: where a detailed LV feeder may hang.

    ``distance_km``: cable length from the primary substation's MV busbar along the shortest
    path (open switches respected); ``load_peak_kw``: Σ of the annual peaks of the bus's
    background loads; ``pv_kwp``: Σ of its aggregated rooftop PV (``lv_RES``), both as scaled
    by the scenario's ``peak_load_mw``/``pv_mwp``.
    """

    mv_bus: str
    bus: int
    mv_feeder: str
    distance_km: float
    load_peak_kw: float
    pv_kwp: float


def _bus(sub: SecondarySubstation) -> int:
    return sub.bus


def _feeder_number(mv_feeder: str) -> int:
    return int(mv_feeder.removeprefix("mv"))


@functools.lru_cache(maxsize=8)
def secondary_substations(base: TerniNetworkSpec) -> tuple[SecondarySubstation, ...]:
    """Return the secondary substations of ``base``'s network (built without detailed LV feeders).

    In MV feeder order, then by distance, then by bus index.  Cached per process: the
    network spec is frozen and hashable.
    """
    import numpy as np
    import pandapower.topology as top

    from v2xcosim.usecases.terni.inputs import cloud_zones
    from v2xcosim.usecases.terni.network import build_terni_network

    tn = build_terni_network(dataclasses.replace(base, lv_feeders=()))
    net = tn.net
    mv_busbar = tn.bus_index(tn.mv_busbar)
    dist = top.calc_distance_to_bus(net, mv_busbar, respect_switches=True)
    zone = cloud_zones(tn)
    profile = net.load["profile"].astype(str)
    lv_buses = sorted({int(b) for b in net.load.loc[profile.str.startswith("lv_"), "bus"]})
    load_bus = net.load.loc[tn.load_idx, "bus"].to_numpy()
    pv = net.sgen[net.sgen["type"] == "lv_RES"]
    out = []
    for b in lv_buses:
        out.append(
            SecondarySubstation(
                mv_bus=str(net.bus.at[b, "name"]),
                bus=b,
                mv_feeder=zone[b],
                distance_km=float(dist[b]),
                load_peak_kw=float(np.sum(tn.load_p_peak_mw[load_bus == b])) * 1e3,
                pv_kwp=float(pv.loc[pv["bus"] == b, "p_mw"].sum()) * 1e3,
            )
        )
    out.sort(key=lambda s: (_feeder_number(s.mv_feeder), s.distance_km, s.bus))
    return tuple(out)


def feeder_load_kw(f: LvFeederSpec) -> float:
    """Annual peak of a detailed feeder's house loads [kW] (each node peaks at node_load_kw)."""
    return f.n_nodes * f.node_load_kw


def feeder_pv_kwp(f: LvFeederSpec) -> float:
    """Rooftop PV of a detailed feeder [kWp]."""
    return f.n_nodes * f.node_pv_kwp


def fits(sub: SecondarySubstation, load_kw: float, pv_kwp: float) -> bool:
    """Whether the aggregate at ``sub`` holds ``load_kw`` of peak and ``pv_kwp`` of PV."""
    tol = 1e-9
    return load_kw <= sub.load_peak_kw + tol and pv_kwp <= sub.pv_kwp + tol


def split_points(charge_points: int, zones: int) -> tuple[int, ...]:
    """Connectors per zone: ``charge_points`` over ``zones`` as evenly as the count allows.

    The first ``charge_points mod zones`` zones take one more.  Every zone needs one.
    """
    if zones < 1 or charge_points < zones:
        raise ScenarioError(
            f"terni.placement: {charge_points} charge points cannot fill {zones} charging "
            "zones (at least one each); lower charging_zones or raise charge_points"
        )
    base, extra = divmod(charge_points, zones)
    return tuple(base + 1 if k < extra else base for k in range(zones))


def zone_names(zones: int) -> tuple[tuple[str, str], ...]:
    """(LV feeder name, charging-site id) of automatic zones ``1 … zones``."""
    w = max(MIN_NAME_DIGITS, len(str(zones)))
    return tuple((f"LV{k:0{w}d}", f"cs_zone{k:0{w}d}") for k in range(1, zones + 1))


@functools.lru_cache(maxsize=8)
def place_lv_feeders(
    base: TerniNetworkSpec, template: LvFeederSpec, connectors: tuple[int, ...]
) -> tuple[LvFeederSpec, ...]:
    """One LV feeder like ``template`` per entry of ``connectors`` (module docstring's rule).

    ``template`` gives the feeder's size, charger node and connector rating (its name, site
    and MV bus are replaced); ``connectors[k]`` is zone ``k + 1``'s connector count.
    """
    zones = len(connectors)
    load_kw, pv_kwp = feeder_load_kw(template), feeder_pv_kwp(template)
    by_feeder: dict[str, list[SecondarySubstation]] = {}
    for sub in secondary_substations(base):
        if fits(sub, load_kw, pv_kwp):
            by_feeder.setdefault(sub.mv_feeder, []).append(sub)
    order = sorted(by_feeder, key=_feeder_number)
    room = sum(len(v) for v in by_feeder.values())
    if zones > room:
        raise ScenarioError(
            f"terni.placement: {zones} charging zones, but only {room} secondary substations "
            f"can hold an LV feeder of {load_kw:g} kW peak and {pv_kwp:g} kWp PV (their "
            "aggregated LV grid must cover it); lower charging_zones, n_nodes, node_load_kw "
            "or node_pv_kwp"
        )
    # round-robin over the MV feeders, skipping those whose candidates are used up
    taken = dict.fromkeys(order, 0)
    assigned: list[tuple[str, int]] = []
    i = 0
    while len(assigned) < zones:
        f = order[i % len(order)]
        if taken[f] < len(by_feeder[f]):
            assigned.append((f, taken[f]))
            taken[f] += 1
        i += 1
    names = zone_names(zones)
    out = []
    for k, (f, j) in enumerate(assigned):
        m, n = len(by_feeder[f]), taken[f]
        sub = by_feeder[f][int((j + 0.5) * m / n)]
        name, site = names[k]
        out.append(
            dataclasses.replace(
                template, name=name, site_id=site, mv_bus=sub.mv_bus, n_connectors=connectors[k]
            )
        )
    return tuple(out)


def feeder_problems(
    base: TerniNetworkSpec, feeders: Sequence[LvFeederSpec], key: str = "terni.lv_feeders"
) -> list[tuple[str, str]]:
    """Problems of an explicit feeder table: unknown MV buses and the capacity rule.

    Each problem is ``(key path, message)``: ``<key>[<j>].mv_bus`` for a bus that is not a
    secondary substation (with the count and a few examples of those that are), and the
    feeders that overload the aggregate of their MV bus (module docstring).
    """
    subs = {s.mv_bus: s for s in secondary_substations(base)}
    problems: list[tuple[str, str]] = []
    shared: dict[str, list[int]] = {}
    for j, f in enumerate(feeders):
        if f.mv_bus not in subs:
            examples = ", ".join(repr(s.mv_bus) for s in sorted(subs.values(), key=_bus)[:4])
            problems.append(
                (
                    f"{key}[{j}].mv_bus",
                    f"{f.mv_bus!r} is no secondary substation (an MV bus with an aggregated LV "
                    f"grid) of the network; {len(subs)} are, e.g. {examples}",
                )
            )
            continue
        shared.setdefault(f.mv_bus, []).append(j)
    for bus, rows in shared.items():
        sub = subs[bus]
        load = sum(feeder_load_kw(feeders[j]) for j in rows)
        pv = sum(feeder_pv_kwp(feeders[j]) for j in rows)
        if not fits(sub, load, pv):
            which = ", ".join(f"[{j}]" for j in rows)
            problems.append(
                (
                    f"{key}[{rows[-1]}]",
                    f"feeders {which} on {bus!r} hold {load:g} kW peak and {pv:g} kWp PV, but "
                    f"its aggregated LV grid has {sub.load_peak_kw:.1f} kW and "
                    f"{sub.pv_kwp:.1f} kWp; use fewer or smaller feeders (n_nodes, "
                    "node_load_kw, node_pv_kwp) or another mv_bus",
                )
            )
    return problems


__all__ = [
    "SecondarySubstation",
    "feeder_load_kw",
    "feeder_problems",
    "feeder_pv_kwp",
    "fits",
    "place_lv_feeders",
    "secondary_substations",
    "split_points",
    "zone_names",
]
