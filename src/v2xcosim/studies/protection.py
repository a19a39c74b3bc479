"""``v2xcosim study protection``: short-circuit currents and protection with V2G chargers feeding.

::

    v2xcosim study protection NET_OR_SCENARIO [--out DIR] [--k K] [--charger-kw [NAME=][Nx]KW]
        [--buses BUS[,BUS...]] [--other-sgens] [--fail-on-violation]

Computes IEC 60909 short-circuit currents at every bus without (base) and with the V2G chargers
feeding (:mod:`v2xcosim.grid.studies.shortcircuit`), then checks every protective device for
blinding and sympathetic tripping (:mod:`v2xcosim.grid.studies.protection`).  Writes into
``--out`` (default ``<input stem>-protection/`` beside the input), atomically:

* ``shortcircuit.csv`` — one row per fault bus;
* ``branch_currents.csv`` — line currents (magnitude, angle) per three-phase fault;
* ``protection.csv`` — one row per device and fault bus; ``protection.png``;
* ``summary.json`` — topology, chargers, counts, notes (every assumption made).

**Where the chargers are.**  From a scenario: one current source per connection point bus of
every charging site (``UseCase.network``), rated :data:`DEFAULT_CONNECTORS` ×
:data:`DEFAULT_CONNECTOR_KW` unless ``--charger-kw`` says otherwise (the use case's own
charger data are not read: generic code names no use case).  From a pandapower JSON file: the
``sgen`` rows with ``type == "v2g"``, with their own ``sn_mva`` and ``k``.  ``--k`` (default
:data:`~v2xcosim.grid.studies.shortcircuit.DEFAULT_K`) applies wherever ``k`` is missing.

Exit codes: 0 done, 1 a blinded fault or a sympathetic trip with ``--fail-on-violation``,
2 bad input.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from v2xcosim.core.errors import ScenarioError
from v2xcosim.report.results import json_clean
from v2xcosim.studies import add_common

DEFAULT_CONNECTORS = 8
"""Connectors per connection point where ``--charger-kw`` does not say (four double columns)."""

DEFAULT_CONNECTOR_KW = 11.0
"""Rating of one connector [kW] where ``--charger-kw`` does not say (11 kW, three-phase AC; a
documented default)."""

FILES = ("shortcircuit.csv", "branch_currents.csv", "protection.csv", "summary.json")


def register(studies: Any) -> None:
    """Add ``study protection`` to the ``study`` sub-parsers."""
    p = studies.add_parser(
        "protection",
        help="IEC 60909 short-circuit currents with V2G chargers; protection blinding and "
        "sympathetic tripping",
        description=(__doc__ or "").split("::")[0].strip(),
    )
    p.add_argument("source", help="scenario (.toml) or pandapower network (.json)")
    add_common(p)
    p.add_argument(
        "--k",
        type=float,
        default=None,
        help="charger fault current / rated current where the network gives none "
        "(default 1.5, the top of inverter data's 1.1-1.5)",
    )
    p.add_argument(
        "--charger-kw",
        action="append",
        default=[],
        metavar="[NAME=][Nx]KW",
        help="charger rating per connection point: '88', '8x11' for all, or "
        "'SITE_OR_BUS=4x22' for one (repeatable; default 8x11)",
    )
    p.add_argument(
        "--buses",
        action="append",
        default=[],
        metavar="BUS[,BUS...]",
        help="fault only these buses (names or indices; default: every supplied bus)",
    )
    p.add_argument(
        "--other-sgens",
        action="store_true",
        help="also feed the other sgens (PV, ...) as current sources in both cases",
    )
    p.set_defaults(handler=run)


def parse_ratings(values: Sequence[str]) -> tuple[dict[str, float], float | None]:
    """Parse ``--charger-kw`` values into ``{name: MVA}`` and a rating for all (MVA or None)."""
    named: dict[str, float] = {}
    everyone: float | None = None
    for text in values:
        key, sep, value = text.rpartition("=")
        count, x, kw = value.strip().lower().partition("x")
        try:
            total_kw = (int(count) * float(kw)) if x else float(count)
        except ValueError:
            total_kw = math.nan
        if not (math.isfinite(total_kw) and total_kw > 0) or (sep and not key.strip()):
            raise ScenarioError(
                f"--charger-kw {text!r}: expected [NAME=][COUNTx]KW with a positive rating, "
                "e.g. 88, 8x11 or cs_a=4x22"
            )
        if sep:
            named[key.strip()] = total_kw / 1000.0
        else:
            everyone = total_kw / 1000.0
    return named, everyone


def _bus_index(net: Any, name: str) -> int:
    hits = net.bus.index[net.bus["name"].astype(str) == name]
    if len(hits) != 1:
        raise ScenarioError(f"connection point bus {name!r} is not a unique bus of the network")
    return int(hits[0])


def scenario_chargers(
    net: Any,
    points: Mapping[str, Sequence[str]],
    named: Mapping[str, float],
    everyone: float | None,
    k: float,
) -> tuple[list[Any], set[str]]:
    """Return one charger per connection point bus; and the ``named`` keys used."""
    from v2xcosim.grid.studies.shortcircuit import Charger

    default = (
        everyone if everyone is not None else (DEFAULT_CONNECTORS * DEFAULT_CONNECTOR_KW / 1000.0)
    )
    out: list[Any] = []
    used: set[str] = set()
    for site in sorted(points):
        for bus_name in points[site]:
            key = next((x for x in (bus_name, site) if x in named), None)
            if key is not None:
                used.add(key)
            sn = named[key] if key is not None else default
            label = site if len(points[site]) == 1 else f"{site}@{bus_name}"
            out.append(Charger(label, _bus_index(net, bus_name), sn, k))
    return out, used


def _fault_buses(net: Any, values: Sequence[str]) -> list[int] | None:
    items = [v.strip() for text in values for v in text.split(",") if v.strip()]
    if not items:
        return None
    names = {str(n): int(i) for i, n in net.bus["name"].items()}
    out: list[int] = []
    unknown: list[str] = []
    for item in items:
        if item in names:
            out.append(names[item])
        elif item.isdigit() and int(item) in net.bus.index:
            out.append(int(item))
        else:
            unknown.append(item)
    if unknown:
        raise ScenarioError(f"--buses: not a bus name or index of the network: {unknown}")
    return list(dict.fromkeys(out))


def _csv(frame: Any, path: Path) -> None:
    from v2xcosim.core.io import atomic_write_bytes

    atomic_write_bytes(path, frame.to_csv(index=False, float_format="%.6g").encode("utf-8"))


def _plot(devices: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from v2xcosim.report.plots import save_figure

    d = devices.head(40)
    n = len(d)
    labels = [f"{r.device}" for r in d.itertuples()]
    fig, ax = plt.subplots(1, 2, figsize=(11, 1.2 + 0.28 * n), sharey=True)
    y = list(range(n))
    red = d["max_reach_reduction_pct"].fillna(0.0)
    colours = ["tab:red" if b else "tab:blue" for b in d["blinded_faults"] > 0]
    ax[0].barh(y, red, color=colours)
    ax[0].set_xlabel("largest current reduction, own-feeder fault [%]")
    ax[0].set_title("Blinding (red: a fault is no longer cleared)", fontsize=9)
    ratio = (d["max_neighbour_i_ka_v2g"] / d["pickup_ka"]).fillna(0.0)
    colours = ["tab:red" if s else "tab:blue" for s in d["sympathetic_faults"] > 0]
    ax[1].barh(y, ratio, color=colours)
    ax[1].axvline(1.0, color="k", lw=0.8, ls="--")
    ax[1].set_xlabel("largest current / pickup, neighbouring-feeder fault, V2G")
    ax[1].set_title("Sympathetic tripping (red: trips above pickup)", fontsize=9)
    ax[0].set_yticks(y, labels, fontsize=7)
    ax[0].invert_yaxis()
    for a in ax:
        a.grid(True, axis="x", alpha=0.3)
    fig.suptitle("Protection with V2G chargers feeding (IEC 60909 maximum, three-phase)")
    fig.tight_layout()
    save_figure(fig, path)


def _fmt_pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:+.2f} %"


def run(args: argparse.Namespace) -> int:
    """Run the study (the ``study protection`` handler); returns the exit code."""
    from v2xcosim.core.io import prepare_out_dir, write_json_atomic
    from v2xcosim.grid.studies import protection as prot
    from v2xcosim.grid.studies import shortcircuit as scm
    from v2xcosim.studies.inputs import load_network

    if args.k is not None and not (math.isfinite(args.k) and args.k > 0):
        raise ScenarioError(f"--k must be a positive number, got {args.k}")
    k = float(args.k) if args.k is not None else scm.DEFAULT_K
    named, everyone = parse_ratings(args.charger_kw)
    source = Path(args.source)
    layout = load_network(source)
    net = layout.net
    if source.suffix.lower() == ".toml":
        chargers, used = scenario_chargers(net, layout.connection_points, named, everyone, k)
        origin = "connection points of the scenario"
    else:
        chargers, used = scm.chargers_from_sgens(
            net, k=args.k, rating_mva=named, fallback_mva=everyone
        )
        origin = f"sgen rows with type == {scm.V2G_SGEN_TYPE!r}"
    unused = sorted(set(named) - used)
    if unused:
        raise ScenarioError(f"--charger-kw: no charger or connection point named {unused}")
    buses = _fault_buses(net, args.buses)
    sn = scm.study_net(net, chargers, other_sgens=args.other_sgens, default_k=k)
    sc = scm.short_circuit_study(sn, buses)
    feeders = prot.find_feeders(sn.net)
    notes = list(sc.notes)
    if not chargers:
        notes.insert(0, f"no V2G chargers found ({origin}): the V2G case equals the base case")
    has_devices = "protection" in sn.net and bool(
        len(sn.net.protection) and sn.net.protection["in_service"].astype(bool).any()
    )
    if not has_devices:
        notes += prot.add_default_relays(sn.net, feeders)
    devs, dev_notes = prot.devices(sn.net, feeders)
    notes += dev_notes
    bare = sorted({f.name for f in feeders} - {d.feeder for d in devs})
    if has_devices and bare:
        notes.append(
            f"{len(bare)} feeders without a protective device in the network: "
            + ", ".join(bare[:5])
            + (" ..." if len(bare) > 5 else "")
        )
    result = prot.protection_study(sn, sc, devs)
    if not devs:
        notes.append("nothing to protect: no feeder and no protection device on a line switch")
    out = Path(args.out) if args.out else source.with_name(f"{source.stem}-protection")
    prepare_out_dir(out)
    _csv(sc.table, out / "shortcircuit.csv")
    _csv(scm.branch_table(sn.net, sc), out / "branch_currents.csv")
    _csv(result.table, out / "protection.csv")
    written = list(FILES)
    if devs:
        _plot(result.devices, out / "protection.png")
        written.insert(3, "protection.png")
    topo = prot.topology(net)
    at_chargers = sc.table[sc.table["v2g_sn_kva"] > 0]
    summary: dict[str, Any] = {
        "source": str(source),
        "method": "IEC 60909-0:2016 equivalent voltage source (pandapower calc_sc); chargers "
        "as current sources k*In in the maximum case; protection on three-phase maximum faults",
        "buses_faulted": len(sc.table),
        "faults": list(sc.faults_done),
        "chargers": [
            {"name": c.name, "bus": c.bus, "sn_kva": c.sn_mva * 1000.0, "k": c.k} for c in chargers
        ],
        "chargers_from": origin,
        "topology": topo,
        "feeders": len(feeders),
        "devices": result.devices.to_dict(orient="records"),
        "blinded_faults": result.blinded,
        "sympathetic_trips": result.sympathetic,
        "violation": bool(result.blinded or result.sympathetic),
        "notes": notes,
    }
    write_json_atomic(json_clean(summary), out / "summary.json")
    _print_summary(source, net, chargers, topo, at_chargers, result, notes, out, written)
    violated = bool(result.blinded or result.sympathetic)
    return 1 if violated and args.fail_on_violation else 0


def _print_summary(
    source: Path,
    net: Any,
    chargers: Sequence[Any],
    topo: Mapping[str, Any],
    at_chargers: Any,
    result: Any,
    notes: Sequence[str],
    out: Path,
    written: Sequence[str],
) -> None:
    kva = sum(c.sn_mva for c in chargers) * 1000.0
    print(
        f"protection study of {source}: {len(net.bus)} buses, {len(net.line)} lines; "
        f"{len(chargers)} charger points, {kva:.0f} kVA in total"
    )
    couplers = topo["closed_couplers"]
    print(
        f"  topology as given (no N-1 cases): {len(couplers)} couplers closed"
        + (f" ({', '.join(couplers[:6])}{' ...' if len(couplers) > 6 else ''})" if couplers else "")
        + f", {len(topo['open_line_switches'])} line switches open, "
        f"{len(topo['out_of_service'])} out of service"
        + (f" ({', '.join(topo['out_of_service'][:4])})" if topo["out_of_service"] else "")
    )
    if len(at_chargers):
        ks = sorted({round(float(c.k), 3) for c in chargers})
        from v2xcosim.grid.studies.shortcircuit import DEFAULT_EXT_GRID

        grid = net.ext_grid[net.ext_grid["in_service"].astype(bool)]
        default = DEFAULT_EXT_GRID["s_sc_max_mva"]
        given = grid["s_sc_max_mva"] if "s_sc_max_mva" in grid.columns else [math.nan] * len(grid)
        ssc = ", ".join(f"{float(v) if math.isfinite(float(v)) else default:g}" for v in given)
        assumed = any("s_sc_max_mva" in n and "assumed" in n for n in notes)
        print(
            "  Ik'' max, 3-phase, at the charger buses [kA]: base -> V2G "
            f"(upstream S''sc max {ssc} MVA{' assumed' if assumed else ''}; "
            f"charger k = {', '.join(f'{k:g}' for k in ks)}; both scale the numbers)"
        )
        for r in at_chargers.itertuples():
            print(
                f"    {r.bus_name}: {r.ikss_ka_base:.3f} -> {r.ikss_ka_v2g:.3f} "
                f"({_fmt_pct(float(r.ikss_change_pct))})"
            )
    dev = result.devices
    if len(dev):
        red = dev["max_reach_reduction_pct"]
        worst = dev.loc[red.idxmax()] if red.notna().any() else None
        line = (
            f"  {len(dev)} protective devices: {result.blinded} blinded faults, "
            f"{result.sympathetic} sympathetic trips"
        )
        if worst is not None:
            line += (
                f"; largest reach reduction {float(worst['max_reach_reduction_pct']):.2f} % "
                f"({worst['device']}, fault at bus {int(worst['worst_fault_bus'])})"
            )
        print(line)
        print(
            "    blinding and sympathetic tripping are judged on the maximum 3-phase currents; "
            "a feeder without a neighbour at its substation cannot show a sympathetic trip"
        )
        flagged = result.table[result.table["blinded"] | result.table["sympathetic_trip"]]
        for r in flagged.head(8).itertuples():
            what = "blinded" if r.blinded else "sympathetic trip"
            print(
                f"    {what}: {r.device}, fault at {r.fault_bus_name} ({r.location}): "
                f"{r.i_ka_base:.3f} -> {r.i_ka_v2g:.3f} kA, pickup {r.pickup_ka:.3f} kA"
            )
        if len(flagged) > 8:
            print(f"    ... {len(flagged) - 8} more in protection.csv")
    else:
        print("  nothing to protect")
    for note in notes:
        print(f"  note: {note}")
    print(f"  wrote {out}/: {', '.join(written)}")


__all__ = ["DEFAULT_CONNECTORS", "DEFAULT_CONNECTOR_KW", "parse_ratings", "register", "run"]
