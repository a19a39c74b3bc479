"""IEC 60909 short-circuit currents without and with V2G chargers feeding (pandapower ``calc_sc``).

IEC 60909-0:2016, what this module relies on (pandapower implements it; the study checks its
results against hand calculations in ``tests/test_study_protection.py``):

* the **equivalent voltage source at the short-circuit location**: every source is
  replaced by its internal impedance and one source ``c·Un/√3`` at the fault drives the
  current, ``Ik'' = c·Un/(√3·|Zk|)``; the voltage factor ``c`` after Table 1 as pandapower sets
  it: ``cmax`` = 1.1 and ``cmin`` = 1.0 above 1 kV, 1.1 / 0.9 at LV (``lv_tol_percent = 10``);
* network feeders ``Z_Q = c·UnQ²/S''kQ`` with their R/X, from ``ext_grid``;
* the transformer impedance correction factor ``K_T``, maximum case only (6.3.3);
* **power station units with full size converter** as current sources ``I_skPF = k·I_rG`` in
  the positive sequence — a bidirectional charger is one (``sgen`` with ``generator_type =
  "current_source"``, ``sn_mva``, ``k``);
* the **initial short-circuit current** with those sources superposed through the transfer
  impedances: ``Ik'' = c·Un/(√3·Zk) + (1/Zk)·Σ_j Z_fj·I_skPF,j``.  A charger at the faulted bus
  therefore adds its whole ``k·In``; one beyond the fault (no path but through the fault bus)
  as well; one on the source side ``|Z_fj/Z_ff|·k·In``.  pandapower adds this part by
  magnitude (``pandapower/shortcircuit/currents.py``, ``_current_source_current``);
* the **minimum short-circuit current** conditions: ``cmin``, converters neglected (so
  ``*_min_*_v2g`` equals ``*_min_*_base`` by construction) and the conductor resistance at the
  temperature ``θe`` at the end of the fault, ``R_L·(1 + 0.004/K·(θe − 20 °C))``.

pandapower's ``storage`` and ``load`` elements contribute nothing to a short circuit; chargers
that a network models that way are mirrored as current sources by the caller.

What is filled in where the network does not say (every such fill is listed in the study's
notes): the upstream grid's short-circuit power (:data:`DEFAULT_EXT_GRID`), the conductor
temperature at the end of the fault for the minimum case (:data:`DEFAULT_ENDTEMP_DEGREE`), and
a charger's ``k`` (:data:`DEFAULT_K`).  Other generators (``sgen`` that are not chargers — PV,
for instance) are taken out of both cases unless ``other_sgens=True``, so the difference
between the two cases is the chargers' alone.

Fault types: three-phase and two-phase (line-to-line) always; single-phase (line-to-earth) only
where the network carries zero-sequence data (:func:`zero_sequence_missing`).  Branch currents
(magnitude and angle at both ends of every line, per fault bus) come from the three-phase
maximum case, the only one in which pandapower 3.5 returns phasors; transformer branch
currents are left out (pandapower flags them as unreliable).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError

ComplexArray = npt.NDArray[np.complex128]

DEFAULT_K = 1.5
"""Charger fault current over rated current where the network does not give ``k``.

Inverter fault current contribution is about 1.1–1.5 × rated current (project data facts,
"Grid codes and limits"; pandapower's maintainers suggest about 1.3): the top of that range is
the worst case for both blinding and sympathetic tripping, and for equipment ratings."""

V2G_SGEN_TYPE = "v2g"
"""``sgen.type`` that marks a V2G charger in a pandapower network file."""

DEFAULT_EXT_GRID: dict[str, float] = {
    "s_sc_max_mva": 1000.0,
    "s_sc_min_mva": 500.0,
    "rx_max": 0.1,
    "rx_min": 0.1,
}
"""Upstream grid short-circuit data used where ``ext_grid`` has none (an assumption: no
public value was found for the HV level; with a 20 kV network fed through a transformer of
12 % short-circuit voltage, the transformer dominates ``Zk`` at the MV busbar)."""

DEFAULT_ENDTEMP_DEGREE = 160.0
"""Conductor temperature at the end of the fault [°C] for the minimum case where
``line.endtemp_degree`` is missing (an assumption between XLPE's 90 °C continuous and 250 °C
short-circuit limits; the resistance rises as ``1 + 0.004·(θe − 20)``)."""

FAULTS = ("3ph", "2ph", "1ph")
CASES = ("max", "min")

ZERO_SEQUENCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "line": ("r0_ohm_per_km", "x0_ohm_per_km", "c0_nf_per_km"),
    "trafo": ("vk0_percent", "vkr0_percent", "mag0_percent", "mag0_rx", "si0_hv_partial"),
    "ext_grid": ("x0x_max", "r0x0_max", "x0x_min", "r0x0_min"),
}
"""Zero-sequence data pandapower needs for a single-phase fault, per element table."""

CHARGER_PREFIX = "v2g charger "
"""Name prefix of the charger ``sgen`` rows a study network gets."""


@dataclass(frozen=True)
class Charger:
    """A V2G charger (or the chargers of one connection point) as a short-circuit current source.

    ``sn_mva`` is the rated apparent power, ``k`` the ratio of its fault current to its rated
    current (IEC 60909-0:2016: ``I_skPF = k·I_rG``).
    """

    name: str
    bus: int
    sn_mva: float
    k: float

    def contribution_ka(self, vn_kv: float) -> float:
        """Return the charger's own fault current ``k·Sn/(√3·Un)`` [kA] at a bus of ``vn_kv``."""
        return self.k * self.sn_mva / (math.sqrt(3.0) * vn_kv)


@dataclass
class StudyNet:
    """A copy of a network ready for IEC 60909, with the chargers as switchable current sources.

    ``notes`` lists every value filled in and every simplification (printed in the summary).
    """

    net: Any
    chargers: tuple[Charger, ...]
    charger_rows: tuple[int, ...]
    notes: list[str] = field(default_factory=list)

    def chargers_on(self, on: bool) -> None:
        """Switch the chargers' current sources into (V2G case) or out of (base case) service."""
        if self.charger_rows:
            self.net.sgen.loc[list(self.charger_rows), "in_service"] = on


@dataclass(frozen=True)
class LineCurrents:
    """Line currents of three-phase faults: phasors [kA] at both ends, one column per fault bus.

    ``i_from[l, f]`` flows from the line's ``from_bus`` into line ``lines[l]`` for a fault at
    ``fault_buses[f]``; ``i_to`` likewise from its ``to_bus``.  The angle reference is the
    pre-fault voltage ``c·Un/√3 ∠0°`` the equivalent voltage source method gives every bus.
    """

    lines: tuple[int, ...]
    fault_buses: tuple[int, ...]
    i_from: ComplexArray
    i_to: ComplexArray

    def leaving(self, line: int, bus: int, fault_bus: int, net: Any) -> complex:
        """Return the current leaving ``bus`` into ``line`` for a fault at ``fault_bus`` [kA]."""
        li = self.lines.index(line)
        fi = self.fault_buses.index(fault_bus)
        if int(net.line.at[line, "from_bus"]) == bus:
            return complex(self.i_from[li, fi])
        return complex(self.i_to[li, fi])


@dataclass
class ShortCircuitResult:
    """The study's tables: one row per fault bus, and line currents of the three-phase faults."""

    table: pd.DataFrame
    base_currents: LineCurrents
    v2g_currents: LineCurrents
    faults_done: tuple[str, ...]
    notes: list[str]


@contextlib.contextmanager
def _quiet_pandapower() -> Iterator[None]:
    """Silence pandapower's log lines and warnings around one calculation.

    ``calc_sc`` logs that branch results are "beta" and warns (a) through pandas about dtype
    downcasting and (b) that voltages and branch powers are not computed where a transformer's
    rated voltages differ from its buses' — the study uses neither.  Currents are unaffected.
    """
    log = logging.getLogger("pandapower")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"pandapower(\..*)?$")
            yield
    finally:
        log.setLevel(level)


def _missing(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(True, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").isna()


def _fill_ext_grid(net: Any, notes: list[str]) -> None:
    if len(net.ext_grid) == 0 and len(net.gen) == 0:
        raise ScenarioError("the network has no ext_grid or gen: nothing feeds a short circuit")
    for column, value in DEFAULT_EXT_GRID.items():
        miss = _missing(net.ext_grid, column)
        if miss.any():
            net.ext_grid.loc[miss, column] = value
            notes.append(f"ext_grid {column} = {value:g} assumed ({int(miss.sum())} missing)")


def _fill_lines(net: Any, notes: list[str]) -> None:
    miss = _missing(net.line, "endtemp_degree")
    if len(net.line) and miss.any():
        net.line.loc[miss, "endtemp_degree"] = DEFAULT_ENDTEMP_DEGREE
        notes.append(
            f"line endtemp_degree = {DEFAULT_ENDTEMP_DEGREE:g} °C assumed for the minimum case "
            f"({int(miss.sum())} lines)"
        )
    if len(net.trafo):
        # pandapower fills a missing column with NaN (object dtype) and casts it later
        psu = net.trafo.get("power_station_unit", pd.Series(False, index=net.trafo.index))
        net.trafo["power_station_unit"] = psu.astype("boolean").fillna(False).astype(bool)


def _other_sgens(net: Any, include: bool, default_k: float, notes: list[str]) -> None:
    """Take non-charger sgens out (default) or model them as current sources with ``k``."""
    others = net.sgen.index[net.sgen["in_service"].astype(bool)]
    net.sgen["current_source"] = True
    if not len(others):
        return
    if not include:
        net.sgen.loc[others, "in_service"] = False
        notes.append(
            f"{len(others)} other sgen (PV, ...) left out of both cases: the difference is the "
            "chargers' alone (--other-sgens includes them)"
        )
        return
    p_mva = (net.sgen.loc[others, "p_mw"].abs() * net.sgen.loc[others, "scaling"]).astype(float)
    sn = pd.to_numeric(net.sgen.loc[others, "sn_mva"], errors="coerce")
    net.sgen.loc[others, "sn_mva"] = np.fmax(sn.fillna(0.0).to_numpy(), p_mva.to_numpy())
    if "k" not in net.sgen.columns:
        net.sgen["k"] = np.nan
    k_missing = _missing(net.sgen.loc[others], "k")
    net.sgen.loc[k_missing.index[k_missing], "k"] = default_k
    if "generator_type" not in net.sgen.columns:
        net.sgen["generator_type"] = None
    gtype = net.sgen.loc[others, "generator_type"]
    net.sgen.loc[gtype.index[gtype.isna()], "generator_type"] = "current_source"
    notes.append(
        f"{len(others)} other sgen included as current sources (sn_mva at least |p_mw|; "
        f"k = {default_k:g} where missing: {int(k_missing.sum())})"
    )


def study_net(
    net: Any,
    chargers: Sequence[Charger],
    *,
    other_sgens: bool = False,
    default_k: float = DEFAULT_K,
) -> StudyNet:
    """Return a deep copy of ``net`` ready for :func:`short_circuit_study`.

    The file's own V2G ``sgen`` rows (``type == "v2g"``) are taken out; ``chargers`` are added
    as current-source ``sgen`` rows (out of service until :meth:`StudyNet.chargers_on`).
    """
    import pandapower as pp

    work = copy.deepcopy(net)
    notes: list[str] = []
    _fill_ext_grid(work, notes)
    _fill_lines(work, notes)
    if len(work.sgen):
        marked = work.sgen["type"].astype(str) == V2G_SGEN_TYPE
        work.sgen.loc[marked, "in_service"] = False
        _other_sgens(work, other_sgens, default_k, notes)
    rows: list[int] = []
    for ch in chargers:
        if ch.bus not in work.bus.index:
            raise ScenarioError(f"charger {ch.name!r}: bus {ch.bus} is not in the network")
        if not (math.isfinite(ch.sn_mva) and ch.sn_mva > 0 and math.isfinite(ch.k) and ch.k > 0):
            raise ScenarioError(
                f"charger {ch.name!r}: sn_mva ({ch.sn_mva}) and k ({ch.k}) must be > 0"
            )
        rows.append(
            int(
                pp.create_sgen(
                    work,
                    ch.bus,
                    p_mw=0.0,
                    sn_mva=ch.sn_mva,
                    k=ch.k,
                    name=CHARGER_PREFIX + ch.name,
                    type=V2G_SGEN_TYPE,
                    generator_type="current_source",
                    current_source=True,
                    in_service=False,
                )
            )
        )
    if len(work.sgen):
        work.sgen["current_source"] = work.sgen["current_source"].astype(bool)
    return StudyNet(work, tuple(chargers), tuple(rows), notes)


def chargers_from_sgens(
    net: Any,
    *,
    k: float | None,
    rating_mva: Mapping[str, float],
    fallback_mva: float | None,
) -> tuple[list[Charger], set[str]]:
    """Return the in-service V2G ``sgen`` rows (``type == "v2g"``) of ``net`` as chargers.

    A row's own ``k`` and ``sn_mva`` win; where missing, ``k`` (else :data:`DEFAULT_K`) and
    ``rating_mva[sgen name or bus name]`` (else ``fallback_mva``) apply.  Returns the chargers
    and the keys of ``rating_mva`` that were used.
    """
    if not len(net.sgen):
        return [], set()
    sel = net.sgen[(net.sgen["type"].astype(str) == V2G_SGEN_TYPE) & net.sgen["in_service"]]
    out: list[Charger] = []
    used: set[str] = set()
    missing: list[str] = []
    for idx, row in sel.iterrows():
        name = str(row["name"]) if pd.notna(row.get("name")) else f"sgen {idx}"
        bus = int(row["bus"])
        bus_name = str(net.bus.at[bus, "name"])
        sn = float(row["sn_mva"]) if pd.notna(row.get("sn_mva")) else math.nan
        if not (math.isfinite(sn) and sn > 0):
            key = next((x for x in (name, bus_name) if x in rating_mva), None)
            if key is not None:
                sn = rating_mva[key]
                used.add(key)
            elif fallback_mva is not None:
                sn = fallback_mva
            else:
                missing.append(name)
                continue
        own_k = float(row["k"]) if "k" in row.index and pd.notna(row["k"]) else math.nan
        kk = own_k if math.isfinite(own_k) and own_k > 0 else (k if k is not None else DEFAULT_K)
        out.append(Charger(name, bus, sn, kk))
    if missing:
        raise ScenarioError(
            f"V2G sgen without sn_mva: {', '.join(missing)}; set sn_mva in the file or give "
            "--charger-kw NAME=KW (or one --charger-kw KW for all)"
        )
    return out, used


def zero_sequence_missing(net: Any) -> list[str]:
    """Return what a single-phase fault would need and the network lacks (empty: complete)."""
    missing: list[str] = []
    for table, columns in ZERO_SEQUENCE_COLUMNS.items():
        frame = net[table]
        frame = frame[frame["in_service"].astype(bool)] if len(frame) else frame
        if not len(frame):
            continue
        for column in columns:
            if _missing(frame, column).any():
                missing.append(f"{table}.{column}")
    if len(net.trafo):
        vg = net.trafo.loc[net.trafo["in_service"].astype(bool)].get("vector_group")
        if vg is None or vg.isna().any():
            missing.append("trafo.vector_group")
    return missing


def supplied_buses(net: Any) -> list[int]:
    """Return the in-service buses connected to a source (the possible fault locations)."""
    import pandapower.topology as top

    with _quiet_pandapower():
        unsupplied = {int(b) for b in top.unsupplied_buses(net)}
    live = net.bus.index[net.bus["in_service"].astype(bool)]
    return [int(b) for b in live if int(b) not in unsupplied]


def _calc(net: Any, fault: str, case: str, buses: Sequence[int], branch: bool) -> None:
    from pandapower.shortcircuit import calc_sc

    try:
        with _quiet_pandapower():
            calc_sc(
                net,
                bus=list(buses),
                fault=fault,
                case=case,
                branch_results=branch,
                return_all_currents=branch,
            )
    except Exception as exc:  # pandapower raises many kinds for missing short-circuit data
        raise ScenarioError(
            f"short-circuit calculation ({fault}, {case}) failed: {type(exc).__name__}: {exc}; "
            "check the network's short-circuit data (ext_grid s_sc_*_mva/rx_*, gen xdss_pu, "
            "sgen sn_mva/k)"
        ) from None


def _line_currents(net: Any, buses: Sequence[int]) -> LineCurrents:
    lines = tuple(int(i) for i in net.line.index)
    res = net.res_line_sc
    n_l, n_f = len(lines), len(buses)
    if n_l == 0:
        empty = np.zeros((0, n_f), dtype=np.complex128)
        return LineCurrents(lines, tuple(buses), empty, empty.copy())

    def phasor(mag: str, deg: str) -> ComplexArray:
        m = res[mag].to_numpy(dtype=float).reshape(n_l, n_f)
        a = np.deg2rad(res[deg].to_numpy(dtype=float).reshape(n_l, n_f))
        out: ComplexArray = (np.nan_to_num(m) * np.exp(1j * np.nan_to_num(a))).astype(np.complex128)
        return out

    expected = pd.MultiIndex.from_product([list(lines), list(buses)])
    if not res.index.equals(expected):  # pragma: no cover - guards pandapower's result layout
        res = res.reindex(expected)
    return LineCurrents(
        lines,
        tuple(buses),
        phasor("ikss_from_ka", "ikss_from_degree"),
        phasor("ikss_to_ka", "ikss_to_degree"),
    )


def _column(fault: str, case: str, scenario: str) -> str:
    kind = "" if fault == "3ph" else f"_{fault}"
    minimum = "_min" if case == "min" else ""
    return f"ikss{kind}{minimum}_ka_{scenario}"


def short_circuit_study(sn: StudyNet, buses: Sequence[int] | None = None) -> ShortCircuitResult:
    """Compute Ik'' at ``buses`` (default: every supplied bus) for base and V2G cases.

    Columns of the table: ``bus``, ``bus_name``, ``vn_kv``, ``v2g_sn_kva`` (chargers at the
    bus), then ``ikss[_2ph|_1ph][_min]_ka_{base|v2g}`` (three-phase maximum is
    ``ikss_ka_base``/``ikss_ka_v2g``), ``ikss_change_pct`` (three-phase maximum, V2G over base),
    and ``rk_ohm``/``xk_ohm`` (the base case's positive-sequence Thevenin impedance, maximum).
    """
    net = sn.net
    notes = list(sn.notes)
    supplied = supplied_buses(net)
    if buses is None:
        fault_buses = supplied
    else:
        ok = set(supplied)
        fault_buses = [b for b in buses if b in ok]
        dropped = [b for b in buses if b not in ok]
        if dropped:
            notes.append(f"buses without supply skipped: {dropped}")
    if not fault_buses:
        raise ScenarioError("no supplied bus to fault: check the network's sources and switches")
    skipped = len(net.bus) - len(supplied)
    if buses is None and skipped:
        notes.append(f"{skipped} buses without supply (or out of service) not faulted")
    zs_missing = zero_sequence_missing(net)
    faults = ["3ph", "2ph"]
    if zs_missing:
        shown = ", ".join(zs_missing[:6]) + (" ..." if len(zs_missing) > 6 else "")
        notes.append(f"1ph faults not computed: no zero-sequence data ({shown})")
    else:
        faults.append("1ph")
    table = pd.DataFrame(
        {
            "bus": fault_buses,
            "bus_name": net.bus.loc[fault_buses, "name"].astype(str).to_numpy(),
            "vn_kv": net.bus.loc[fault_buses, "vn_kv"].to_numpy(dtype=float),
        }
    )
    kva = dict.fromkeys(fault_buses, 0.0)
    for ch in sn.chargers:
        if ch.bus in kva:
            kva[ch.bus] += ch.sn_mva * 1000.0
    table["v2g_sn_kva"] = [kva[b] for b in fault_buses]
    currents: dict[str, LineCurrents] = {}
    rk = xk = np.full(len(fault_buses), np.nan)
    for scenario in ("base", "v2g"):
        sn.chargers_on(scenario == "v2g")
        for fault in FAULTS:
            for case in CASES:
                col = _column(fault, case, scenario)
                if fault not in faults:
                    table[col] = np.nan
                    continue
                branch = fault == "3ph" and case == "max"
                _calc(net, fault, case, fault_buses, branch)
                table[col] = net.res_bus_sc.loc[fault_buses, "ikss_ka"].to_numpy(dtype=float)
                if branch:
                    currents[scenario] = _line_currents(net, fault_buses)
                    if scenario == "base":
                        rk = net.res_bus_sc.loc[fault_buses, "rk_ohm"].to_numpy(dtype=float)
                        xk = net.res_bus_sc.loc[fault_buses, "xk_ohm"].to_numpy(dtype=float)
    sn.chargers_on(False)
    base = table["ikss_ka_base"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["ikss_change_pct"] = (table["ikss_ka_v2g"].to_numpy(dtype=float) / base - 1) * 100
    table["rk_ohm"] = rk
    table["xk_ohm"] = xk
    order = ["bus", "bus_name", "vn_kv", "v2g_sn_kva", "ikss_ka_base", "ikss_ka_v2g"]
    order.append("ikss_change_pct")
    for fault in FAULTS:
        for case in CASES:
            if (fault, case) != ("3ph", "max"):
                order += [_column(fault, case, "base"), _column(fault, case, "v2g")]
    table = table[[*order, "rk_ohm", "xk_ohm"]]
    return ShortCircuitResult(table, currents["base"], currents["v2g"], tuple(faults), notes)


def branch_table(net: Any, result: ShortCircuitResult) -> pd.DataFrame:
    """Return the line currents of the three-phase maximum faults, base and V2G, as one table.

    One row per (fault bus, line) with a current at either end: ``i_{from|to}_ka_{base|v2g}``
    and ``deg_{from|to}_{base|v2g}`` (angle against the pre-fault voltage, current flowing
    from that end's bus into the line).
    """
    b, v = result.base_currents, result.v2g_currents
    n_l, n_f = len(b.lines), len(b.fault_buses)
    if n_l == 0:
        return pd.DataFrame(columns=["fault_bus", "line", "line_name", "from_bus", "to_bus"])
    lines = np.repeat(np.asarray(b.lines), n_f)
    frame = pd.DataFrame(
        {
            "fault_bus": np.tile(np.asarray(b.fault_buses), n_l),
            "line": lines,
            "line_name": net.line.loc[lines, "name"].astype(str).to_numpy(),
            "from_bus": net.line.loc[lines, "from_bus"].to_numpy(dtype=int),
            "to_bus": net.line.loc[lines, "to_bus"].to_numpy(dtype=int),
        }
    )
    for tag, cur in (("base", b), ("v2g", v)):
        for end, arr in (("from", cur.i_from), ("to", cur.i_to)):
            flat = arr.reshape(-1)
            frame[f"i_{end}_ka_{tag}"] = np.abs(flat)
            frame[f"deg_{end}_{tag}"] = np.angle(flat, deg=True)
    mags = frame[[c for c in frame.columns if c.startswith("i_")]].to_numpy(dtype=float)
    frame = frame[mags.max(axis=1) > 1e-9]
    out: pd.DataFrame = frame.sort_values(["fault_bus", "line"], kind="stable")
    return out.reset_index(drop=True)


__all__ = [
    "DEFAULT_ENDTEMP_DEGREE",
    "DEFAULT_EXT_GRID",
    "DEFAULT_K",
    "V2G_SGEN_TYPE",
    "Charger",
    "LineCurrents",
    "ShortCircuitResult",
    "StudyNet",
    "branch_table",
    "chargers_from_sgens",
    "short_circuit_study",
    "study_net",
    "supplied_buses",
    "zero_sequence_missing",
]
