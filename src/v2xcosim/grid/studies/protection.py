"""Protection blinding and sympathetic tripping by V2G chargers, on IEC 60909 fault currents.

Input: a :class:`~v2xcosim.grid.studies.shortcircuit.StudyNet` and its
:class:`~v2xcosim.grid.studies.shortcircuit.ShortCircuitResult` (three-phase **maximum** case,
IEC 60909-0:2016, with the chargers as current sources ``k·In``).  The maximum case is used on
purpose: the minimum case ignores converters (IEC 60909-0:2016), so it cannot show what
chargers do to a relay.  (pandapower's pre-fault-voltage method, ``use_pre_fault_voltage``,
takes one fault bus per call with current sources; it is not used.)

**Feeders** (:func:`find_feeders`): a source bus is an in-service transformer's low-voltage
bus or an ``ext_grid``/``gen`` bus; its **busbar** is every bus reached through closed bus-bus
switches (couplers); every in-service line leaving a busbar is a **feeder head**, and the
feeder is every bus reached from it through lines and closed switches without crossing a
busbar or a transformer (same voltage level).  Feeders on one busbar are **neighbours**.

**Devices**: the network's own pandapower protection devices (``net.protection``:
``OCRelay`` DTOC/IDMT/IDTOC, ``Fuse``), evaluated with their own characteristics through
``pandapower.protection.run_protection.calculate_protection_times``.  A network without any
gets one default definite-time relay (:class:`StudyRelay`) at each feeder head, on the head's
line switch (a circuit breaker is added where the line has none): pickup ``I> = 1.2 × 1.25 ×
Ith`` of the head line (pandapower ``OCRelay``'s default overload and CT factors), operate time
0.5 s (an assumption).  ``OCRelay`` itself is not used for defaults: its constructor derives
pickups by splitting the first line (which needs bus geodata and prints), its manual-pickup
table reads ``I>>`` from the ``I>`` column, and its automatic time grading fails on networks
with transformers.

**Checks**, for every device and three-phase fault bus:

* own feeder (the device's downstream zone): **blinding** — chargers between the device and
  the fault feed part of the fault current, so the device sees less.  ``reach_reduction_pct``
  is that reduction; the fault is **blinded** when the device trips in the base case and not
  with the chargers.
* a neighbouring feeder: **sympathetic tripping** — the chargers on the device's (healthy)
  feeder feed the fault through it, backwards.  Flagged when the device trips in the V2G case.

Relays in pandapower are non-directional.  The **direction** column is computed here: the
current leaving the busbar into the protected line is compared with the pre-fault voltage,
``c·Un/√3 ∠0°`` at every bus in the equivalent voltage source method (memory polarisation);
forward when within ±90° of a characteristic angle of −45° (current lagging).  A directional
relay (ANSI 67) would block the reverse cases; the flag is raised for the non-directional
device the network has.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pandapower.protection.basic_protection_device import ProtectionDevice

from v2xcosim.grid.studies.shortcircuit import LineCurrents, ShortCircuitResult, StudyNet

DEFAULT_PICKUP_FACTOR = 1.2 * 1.25
"""Default relay pickup over the head line's ampacity (pandapower ``OCRelay`` defaults
``overload_factor = 1.2`` × ``ct_current_factor = 1.25``)."""

DEFAULT_TIME_S = 0.5
"""Default definite operate time [s] (an assumption, a common MV feeder setting)."""

CHARACTERISTIC_ANGLE_DEG = -45.0
"""Characteristic angle of the direction check [°], current against the pre-fault voltage."""

MIN_CURRENT_KA = 1e-6
"""Below this current [kA] a device sees no current and has no direction."""


class StudyRelay(ProtectionDevice):  # type: ignore[misc]  # pandapower is untyped
    """A non-directional definite-time overcurrent relay (DTOC, one stage) with explicit settings.

    A pandapower protection device: it sits in ``net.protection`` and answers
    ``protection_function(net, "sc")`` from ``net.res_switch_sc.ikss_ka`` as ``OCRelay`` does
    (trips when the current exceeds ``pickup_ka``, after ``time_s``).
    """

    def __init__(
        self,
        net: Any,
        switch_index: int,
        *,
        pickup_ka: float,
        time_s: float = DEFAULT_TIME_S,
        name: str | None = None,
        in_service: bool = True,
        overwrite: bool = True,
        **kwargs: Any,
    ) -> None:
        """Add the relay acting on switch ``switch_index`` to ``net.protection``."""
        super().__init__(net, in_service=in_service, overwrite=overwrite, **kwargs)
        self.switch_index = int(switch_index)
        self.pickup_ka = float(pickup_ka)
        self.time_s = float(time_s)
        self.name = name
        self.activation_parameter = "i_ka"
        self.tripped = False

    def reset_device(self) -> None:
        """Forget the last trip."""
        self.tripped = False

    def has_tripped(self) -> bool:
        """Return whether the last evaluated current tripped the relay."""
        return bool(self.tripped)

    def trip_time_s(self, i_ka: float) -> float:
        """Return the operate time for ``i_ka`` (``inf``: no trip)."""
        return self.time_s if i_ka > self.pickup_ka else math.inf

    def protection_function(self, net: Any, scenario: str = "sc") -> dict[str, Any]:
        """Evaluate the relay on the switch current of a short circuit or a power flow."""
        if scenario == "sc":
            i_ka = float(net.res_switch_sc.ikss_ka.at[self.switch_index])
        elif scenario == "pp":
            i_ka = float(net.res_switch.i_ka.at[self.switch_index])
        else:
            raise ValueError("scenario must be either sc or pp")
        t = self.trip_time_s(i_ka)
        self.tripped = math.isfinite(t)
        return {
            "switch_id": self.switch_index,
            "protection_type": type(self).__name__,
            "trip_melt": self.tripped,
            "activation_parameter": self.activation_parameter,
            "activation_parameter_value": i_ka,
            "trip_melt_time_s": t,
        }


@dataclass(frozen=True)
class Feeder:
    """A feeder: its head line, the busbar it leaves and its buses (one voltage level)."""

    name: str
    line: int
    head_bus: int
    busbar: frozenset[int]
    buses: frozenset[int]


@dataclass(frozen=True)
class Device:
    """A protective device acting on a line switch, with its zone and neighbouring feeders."""

    row: int
    name: str
    kind: str
    switch: int
    line: int
    bus: int
    feeder: str
    zone: frozenset[int]
    neighbours: frozenset[int]
    pickup_ka: float


@dataclass
class ProtectionResult:
    """``table`` (one row per device and fault bus), per-device summary, and notes."""

    table: pd.DataFrame
    devices: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def blinded(self) -> int:
        """Return the number of (device, fault) pairs lost to blinding."""
        return int(self.table["blinded"].sum()) if len(self.table) else 0

    @property
    def sympathetic(self) -> int:
        """Return the number of (device, fault) pairs with a sympathetic trip."""
        return int(self.table["sympathetic_trip"].sum()) if len(self.table) else 0


def _switch_open_lines(net: Any) -> set[int]:
    sw = net.switch
    if not len(sw):
        return set()
    cut = sw[(sw["et"] == "l") & ~sw["closed"].astype(bool)]
    return {int(e) for e in cut["element"]}


def _adjacency(net: Any) -> dict[int, list[tuple[int, int]]]:
    """Same-voltage-level graph: bus -> [(neighbour, line index or -1 for a coupler)]."""
    adj: dict[int, list[tuple[int, int]]] = {int(b): [] for b in net.bus.index}
    live = net.bus["in_service"].astype(bool)
    cut = _switch_open_lines(net)
    for idx, row in net.line.iterrows():
        a, b = int(row["from_bus"]), int(row["to_bus"])
        if bool(row["in_service"]) and int(idx) not in cut and live[a] and live[b]:
            adj[a].append((b, int(idx)))
            adj[b].append((a, int(idx)))
    for a, b in _couplers(net, closed=True):
        if live[a] and live[b]:
            adj[a].append((b, -1))
            adj[b].append((a, -1))
    return adj


def _couplers(net: Any, *, closed: bool) -> list[tuple[int, int]]:
    sw = net.switch
    if not len(sw):
        return []
    sel = sw[(sw["et"] == "b") & (sw["closed"].astype(bool) == closed)]
    return [(int(r["bus"]), int(r["element"])) for _, r in sel.iterrows()]


def _reach(adj: Mapping[int, list[tuple[int, int]]], start: int, blocked: set[int]) -> set[int]:
    seen = {start}
    todo = deque([start])
    while todo:
        bus = todo.popleft()
        for nxt, _ in adj[bus]:
            if nxt not in seen and nxt not in blocked:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _busbars(net: Any) -> list[frozenset[int]]:
    """Return the busbars of every source bus (buses joined by closed couplers)."""
    sources: set[int] = set()
    for table, column in (("trafo", "lv_bus"), ("ext_grid", "bus"), ("gen", "bus")):
        frame = net[table]
        if len(frame):
            sources |= {int(b) for b in frame.loc[frame["in_service"].astype(bool), column]}
    if len(net.trafo3w):
        t3 = net.trafo3w[net.trafo3w["in_service"].astype(bool)]
        sources |= {int(b) for b in t3["mv_bus"]} | {int(b) for b in t3["lv_bus"]}
    coupler_adj: dict[int, list[tuple[int, int]]] = {int(b): [] for b in net.bus.index}
    for a, b in _couplers(net, closed=True):
        coupler_adj[a].append((b, -1))
        coupler_adj[b].append((a, -1))
    out: list[frozenset[int]] = []
    for s in sorted(sources):
        bar = frozenset(_reach(coupler_adj, s, set()))
        if bar not in out:
            out.append(bar)
    return out


def find_feeders(net: Any) -> list[Feeder]:
    """Return every feeder of ``net`` (see the module docstring)."""
    adj = _adjacency(net)
    bars = _busbars(net)
    on_bar = set().union(*bars) if bars else set()
    feeders: list[Feeder] = []
    for bar in bars:
        for bus in sorted(bar):
            for nxt, line in adj[bus]:
                if line < 0 or nxt in bar:
                    continue
                buses = frozenset(_reach(adj, nxt, set(on_bar)))
                name = str(net.line.at[line, "name"]) if pd.notna(net.line.at[line, "name"]) else ""
                feeders.append(Feeder(name or f"line {line}", line, bus, bar, buses))
    return feeders


def _line_switch(net: Any, line: int, bus: int) -> int | None:
    sw = net.switch
    if not len(sw):
        return None
    hit = sw.index[(sw["et"] == "l") & (sw["element"] == line) & (sw["bus"] == bus)]
    return int(hit[0]) if len(hit) else None


def add_default_relays(net: Any, feeders: Sequence[Feeder]) -> list[str]:
    """Add a :class:`StudyRelay` at each feeder head (switch added where missing); notes."""
    import pandapower as pp

    notes: list[str] = []
    added = 0
    for f in feeders:
        ith = float(net.line.at[f.line, "max_i_ka"]) * float(net.line.at[f.line, "parallel"])
        if not (math.isfinite(ith) and ith > 0):
            notes.append(f"feeder {f.name}: line has no max_i_ka, no default relay")
            continue
        sw = _line_switch(net, f.line, f.head_bus)
        if sw is None:
            sw = int(
                pp.create_switch(
                    net,
                    f.head_bus,
                    f.line,
                    et="l",
                    closed=True,
                    type="CB",
                    name=f"study CB {f.name}",
                )
            )
            added += 1
        StudyRelay(net, sw, pickup_ka=DEFAULT_PICKUP_FACTOR * ith, name=f"relay {f.name}")
    if feeders:
        notes.append(
            f"no protection devices in the network: default DTOC relay at each of "
            f"{len(feeders)} feeder heads (I> = {DEFAULT_PICKUP_FACTOR:g} × Ith of the head "
            f"line, t> = {DEFAULT_TIME_S:g} s; {added} circuit breakers added)"
        )
    return notes


def _pickup_ka(obj: Any) -> float:
    if isinstance(obj, StudyRelay):
        return obj.pickup_ka
    kind = type(obj).__name__
    if kind == "OCRelay":
        values = [getattr(obj, a, None) for a in ("I_s", "I_g", "I_gg")]
        finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        return min(finite) if finite else math.nan
    if kind == "Fuse":
        start = getattr(obj, "i_start_a", None) or getattr(obj, "rated_i_a", None)
        return float(start) / 1000.0 if start else math.nan
    return math.nan


def _kind(obj: Any) -> str:
    if isinstance(obj, StudyRelay):
        return "default DTOC"
    if type(obj).__name__ == "OCRelay":
        return f"OCRelay {getattr(obj, 'oc_relay_type', '')}".strip()
    return type(obj).__name__


def devices(net: Any, feeders: Sequence[Feeder]) -> tuple[list[Device], list[str]]:
    """Return the in-service protection devices on line switches, with zones; and notes."""
    notes: list[str] = []
    if "protection" not in net or not len(net.protection):
        return [], notes
    adj = _adjacency(net)
    bars = [f.busbar for f in feeders]
    on_bar: set[int] = set().union(*bars) if bars else set()
    by_line = {f.line: f for f in feeders}
    out: list[Device] = []
    skipped: list[str] = []
    prot = net.protection[net.protection["in_service"].astype(bool)]
    for row, obj in prot["object"].items():
        sw = int(getattr(obj, "switch_index", -1))
        name = str(getattr(obj, "name", None) or f"{type(obj).__name__} {row}")
        if sw not in net.switch.index or net.switch.at[sw, "et"] != "l":
            skipped.append(name)
            continue
        line, bus = int(net.switch.at[sw, "element"]), int(net.switch.at[sw, "bus"])
        far = int(
            net.line.at[line, "to_bus"]
            if net.line.at[line, "from_bus"] == bus
            else net.line.at[line, "from_bus"]
        )
        zone = _reach(adj, far, {bus} | (on_bar - {far}))
        if zone & on_bar:
            notes.append(
                f"{name}: the zone beyond the device is meshed with a busbar; "
                "only the next bus is taken as its own zone"
            )
            zone = {far}
        feeder = by_line.get(line) or next((f for f in feeders if far in f.buses), None)
        neighbours: set[int] = set()
        if feeder is not None:
            for other in feeders:
                if other.busbar == feeder.busbar and other.buses != feeder.buses:
                    neighbours |= other.buses
        out.append(
            Device(
                row=int(row),
                name=name,
                kind=_kind(obj),
                switch=sw,
                line=line,
                bus=bus,
                feeder=feeder.name if feeder is not None else "",
                zone=frozenset(zone),
                neighbours=frozenset(neighbours - zone),
                pickup_ka=_pickup_ka(obj),
            )
        )
    if skipped:
        notes.append(f"devices not on a line switch, not evaluated: {', '.join(skipped)}")
    return out, notes


def _direction(i: complex) -> str:
    if abs(i) < MIN_CURRENT_KA:
        return "none"
    rel = math.degrees(math.atan2(i.imag, i.real)) - CHARACTERISTIC_ANGLE_DEG
    return "forward" if math.cos(math.radians(rel)) > 0 else "reverse"


def _trip_times(
    net: Any, devs: Sequence[Device], currents: LineCurrents, fault_bus: int
) -> tuple[list[complex], list[float]]:
    """Currents at the devices and their trip times (pandapower's calculate_protection_times)."""
    from pandapower.protection.run_protection import calculate_protection_times

    phasors = [currents.leaving(d.line, d.bus, fault_bus, net) for d in devs]
    ikss = pd.Series(0.0, index=net.switch.index)
    for d, i in zip(devs, phasors, strict=True):
        ikss.at[d.switch] = abs(i)
    net.res_switch_sc = pd.DataFrame({"ikss_ka": ikss})
    res = calculate_protection_times(net, "sc")
    rows = list(net.protection.index[net.protection["in_service"].astype(bool)])
    times = res["trip_melt_time_s"].to_numpy(dtype=float)
    by_row = dict(zip(rows, times, strict=True))
    return phasors, [float(by_row[d.row]) for d in devs]


def protection_study(
    sn: StudyNet, sc: ShortCircuitResult, devs: Sequence[Device]
) -> ProtectionResult:
    """Evaluate every device for faults in its zone and on neighbouring feeders, base and V2G.

    Columns: ``device``, ``device_type``, ``switch``, ``feeder``, ``fault_bus``,
    ``fault_bus_name``, ``location`` (``own feeder``/``neighbouring feeder``), ``pickup_ka``,
    ``i_ka_{base|v2g}`` and ``deg_{base|v2g}`` (current leaving the busbar side into the
    line), ``direction_{base|v2g}``, ``t_trip_s_{base|v2g}`` (``inf``: no trip),
    ``reach_reduction_pct``, ``blinded``, ``sympathetic_trip``.
    """
    net = sn.net
    faults = list(sc.base_currents.fault_buses)
    fault_set = set(faults)
    rows: list[dict[str, Any]] = []
    if devs:
        base: dict[int, tuple[list[complex], list[float]]] = {}
        v2g: dict[int, tuple[list[complex], list[float]]] = {}
        wanted = set().union(*(d.zone | d.neighbours for d in devs)) & fault_set
        for f in faults:
            if f in wanted:
                base[f] = _trip_times(net, devs, sc.base_currents, f)
                v2g[f] = _trip_times(net, devs, sc.v2g_currents, f)
        names = net.bus["name"].astype(str)
        for j, d in enumerate(devs):
            for location, buses in (("own feeder", d.zone), ("neighbouring feeder", d.neighbours)):
                for f in sorted(buses & fault_set):
                    ib, tb = base[f][0][j], base[f][1][j]
                    iv, tv = v2g[f][0][j], v2g[f][1][j]
                    own = location == "own feeder"
                    rows.append(
                        {
                            "device": d.name,
                            "device_type": d.kind,
                            "switch": d.switch,
                            "feeder": d.feeder,
                            "fault_bus": f,
                            "fault_bus_name": names[f],
                            "location": location,
                            "pickup_ka": d.pickup_ka,
                            "i_ka_base": abs(ib),
                            "i_ka_v2g": abs(iv),
                            "deg_base": math.degrees(math.atan2(ib.imag, ib.real)),
                            "deg_v2g": math.degrees(math.atan2(iv.imag, iv.real)),
                            "direction_base": _direction(ib),
                            "direction_v2g": _direction(iv),
                            "t_trip_s_base": tb,
                            "t_trip_s_v2g": tv,
                            "reach_reduction_pct": (
                                (abs(ib) - abs(iv)) / abs(ib) * 100.0
                                if own and abs(ib) > MIN_CURRENT_KA
                                else math.nan
                            ),
                            "blinded": own and math.isfinite(tb) and not math.isfinite(tv),
                            "sympathetic_trip": not own and math.isfinite(tv),
                        }
                    )
    columns = [
        "device",
        "device_type",
        "switch",
        "feeder",
        "fault_bus",
        "fault_bus_name",
        "location",
        "pickup_ka",
        "i_ka_base",
        "i_ka_v2g",
        "deg_base",
        "deg_v2g",
        "direction_base",
        "direction_v2g",
        "t_trip_s_base",
        "t_trip_s_v2g",
        "reach_reduction_pct",
        "blinded",
        "sympathetic_trip",
    ]
    table = pd.DataFrame(rows, columns=columns)
    return ProtectionResult(table, _device_summary(devs, table))


def _device_summary(devs: Iterable[Device], table: pd.DataFrame) -> pd.DataFrame:
    out = []
    for d in devs:
        mine = table[table["device"] == d.name]
        own = mine[mine["location"] == "own feeder"]
        nb = mine[mine["location"] == "neighbouring feeder"]
        red = own["reach_reduction_pct"].dropna()
        worst = int(red.to_numpy().argmax()) if len(red) else -1
        out.append(
            {
                "device": d.name,
                "device_type": d.kind,
                "feeder": d.feeder,
                "pickup_ka": d.pickup_ka,
                "own_faults": len(own),
                "max_reach_reduction_pct": float(red.max()) if len(red) else math.nan,
                "worst_fault_bus": int(own.loc[red.index[worst], "fault_bus"])
                if worst >= 0
                else -1,
                "blinded_faults": int(own["blinded"].sum()),
                "neighbour_faults": len(nb),
                "max_neighbour_i_ka_v2g": float(nb["i_ka_v2g"].max()) if len(nb) else math.nan,
                "sympathetic_faults": int(nb["sympathetic_trip"].sum()),
            }
        )
    return pd.DataFrame(out)


def topology(net: Any) -> dict[str, Any]:
    """Describe the studied switching state: couplers, open switches, elements out of service."""

    def names(frame: pd.DataFrame, mask: Any, label: str) -> list[str]:
        sel = frame[mask]
        return [
            str(n) if pd.notna(n) and str(n) else f"{label} {i}" for i, n in sel["name"].items()
        ]

    sw = net.switch
    closed_couplers = (
        names(sw, (sw["et"] == "b") & sw["closed"].astype(bool), "switch") if len(sw) else []
    )
    open_couplers = (
        names(sw, (sw["et"] == "b") & ~sw["closed"].astype(bool), "switch") if len(sw) else []
    )
    open_line = (
        names(sw, (sw["et"] != "b") & ~sw["closed"].astype(bool), "switch") if len(sw) else []
    )
    out_of_service: list[str] = []
    for table in ("line", "trafo", "trafo3w", "ext_grid", "gen"):
        frame = net[table]
        if len(frame):
            out_of_service += names(frame, ~frame["in_service"].astype(bool), table)
    return {
        "closed_couplers": closed_couplers,
        "open_couplers": open_couplers,
        "open_line_switches": open_line,
        "out_of_service": out_of_service,
        "n_minus_1": "none: the switching state of the network as given",
    }


__all__ = [
    "CHARACTERISTIC_ANGLE_DEG",
    "DEFAULT_PICKUP_FACTOR",
    "DEFAULT_TIME_S",
    "Device",
    "Feeder",
    "ProtectionResult",
    "StudyRelay",
    "add_default_relays",
    "devices",
    "find_feeders",
    "protection_study",
    "topology",
]
