"""``v2xcosim study hosting``: hosting capacity for V2G chargers at chosen buses.

::

    v2xcosim study hosting NET_OR_SCENARIO --bus B [--bus B ...] [--step-kw N] [--charger-kw P]
        [--v-min-pu V] [--v-max-pu V] [--max-loading-pct L] [--peak-load-scale S]
        [--noon-load-scale S] [--max-kw P] [--k K] [--out DIR] [--fail-on-violation]

The largest charger power at each bus (one bus at a time, the others at their base state)
before the first voltage, thermal or protection violation, charging at the evening peak and
discharging at the noon surplus (:mod:`v2xcosim.grid.studies.hosting`).  Writes into ``--out``
(default ``<input stem>-hosting/`` beside the input), atomically:

* ``hosting.csv`` — one row per bus and direction;
* ``hosting_<bus>.png`` — voltage extremes and the largest loading against the added power;
* ``summary.json`` — inputs, limits, results and notes.

A scenario's states come from its own profiles (the steps of largest and smallest net demand,
``UseCase.network(spec).states``); a network file's from ``--peak-load-scale`` and
``--noon-load-scale``.

Exit codes: 0 done, 1 a base state already violates a limit (hosting 0) with
``--fail-on-violation``, 2 bad input (an unknown bus, for instance).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from v2xcosim.core.errors import ScenarioError
from v2xcosim.studies import add_common

COLUMNS = (
    "bus",
    "direction",
    "state",
    "hosting_kw",
    "chargers",
    "criterion",
    "element",
    "value_at_hosting",
    "value_above",
    "limit",
)
"""Columns of ``hosting.csv``."""


def register(studies: Any) -> None:
    """Add ``study hosting`` to the ``study`` sub-parsers."""
    p = studies.add_parser(
        "hosting",
        help="hosting capacity for V2G chargers per bus (voltage, thermal, protection limits)",
        description=(__doc__ or "").split("::")[0].strip(),
    )
    p.add_argument("source", help="scenario (.toml) or network (.json, .m, SimBench code, ...)")
    p.add_argument(
        "--bus",
        action="append",
        required=True,
        metavar="BUS",
        help="bus name to study (repeatable)",
    )
    add_common(p)
    p.add_argument(
        "--step-kw",
        type=float,
        default=11.0,
        help="search step [kW] before bisecting to 1 kW (default 11, one charger)",
    )
    p.add_argument(
        "--charger-kw",
        type=float,
        default=11.0,
        help="rating of one charger [kW], to count chargers (default 11)",
    )
    p.add_argument("--v-min-pu", type=float, default=0.9, help="lowest bus voltage (default 0.9)")
    p.add_argument("--v-max-pu", type=float, default=1.1, help="highest bus voltage (default 1.1)")
    p.add_argument(
        "--max-loading-pct",
        type=float,
        default=100.0,
        help="largest line/transformer loading [%%] (default 100)",
    )
    p.add_argument(
        "--peak-load-scale",
        type=float,
        default=1.0,
        help="load scale of the evening-peak state, PV off (default 1.0)",
    )
    p.add_argument(
        "--noon-load-scale",
        type=float,
        default=0.3,
        help="load scale of the noon-surplus state, sgens at p_mw (default 0.3)",
    )
    p.add_argument(
        "--max-kw",
        type=float,
        default=5000.0,
        help="search limit [kW] per bus and direction (default 5000)",
    )
    p.add_argument(
        "--k",
        type=float,
        default=None,
        help="charger fault current / rated current for the protection criterion (default 1.5)",
    )
    p.set_defaults(handler=run)


def _check_args(args: argparse.Namespace) -> None:
    positive = ("step_kw", "charger_kw", "v_max_pu", "max_loading_pct", "max_kw")
    for name in positive:
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            flag = name.replace("_", "-")
            raise ScenarioError(f"--{flag} must be a positive number, got {value}")
    for name in ("peak_load_scale", "noon_load_scale", "v_min_pu"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value >= 0):
            raise ScenarioError(f"--{name.replace('_', '-')} must be a number >= 0, got {value}")
    if args.v_min_pu >= args.v_max_pu:
        raise ScenarioError(f"--v-min-pu {args.v_min_pu} must be below --v-max-pu {args.v_max_pu}")
    if args.k is not None and not (math.isfinite(args.k) and args.k > 0):
        raise ScenarioError(f"--k must be a positive number, got {args.k}")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "bus"


def _plot(results: Sequence[Any], limits: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from v2xcosim.report.plots import save_figure

    fig, ax = plt.subplots(2, len(results), figsize=(5.5 * len(results), 6.5), squeeze=False)
    for j, r in enumerate(results):
        c = r.curve[r.curve["converged"]]
        top, bottom = ax[0][j], ax[1][j]
        top.plot(c["added_kw"], c["vm_max_pu"], "o-", ms=3, label="max voltage")
        top.plot(c["added_kw"], c["vm_min_pu"], "o-", ms=3, label="min voltage")
        top.axhline(limits.v_max_pu, color="tab:red", ls="--", lw=0.8)
        top.axhline(limits.v_min_pu, color="tab:red", ls="--", lw=0.8)
        top.set_ylabel("bus voltage [pu]")
        bottom.plot(c["added_kw"], c["max_loading_pct"], "o-", ms=3, label="max loading")
        bottom.axhline(limits.max_loading_pct, color="tab:red", ls="--", lw=0.8)
        bottom.set_ylabel("largest line/transformer loading [%]")
        if c["ikss_ratio"].notna().any():
            twin = bottom.twinx()
            twin.plot(c["added_kw"], c["ikss_ratio"], "s:", ms=3, color="tab:purple")
            twin.set_ylabel("Ik'' max / rating", color="tab:purple")
        for a in (top, bottom):
            a.axvline(r.hosting_kw, color="k", lw=0.8)
            a.grid(True, alpha=0.3)
        top.legend(fontsize=8)
        top.set_title(
            f"{r.direction} at {r.state}: {r.hosting_kw:.0f} kW ({r.criterion})", fontsize=9
        )
        bottom.set_xlabel("added charger power [kW]")
    fig.suptitle(f"Hosting capacity at {results[0].bus_name}")
    fig.tight_layout()
    save_figure(fig, path)


def _scales(layout: Any, state: str) -> tuple[float, float] | None:
    """Return a scenario's (load, PV) scale of ``state``, or None for a bare network file."""
    st = layout.states.get(state)
    return None if st is None else (st.load_scale, st.pv_scale)


def run(args: argparse.Namespace) -> int:
    """Run the study (the ``study hosting`` handler); returns the exit code."""
    import pandas as pd

    from v2xcosim.core.io import atomic_write_bytes, prepare_out_dir, write_json_atomic
    from v2xcosim.grid.studies import hosting as hc
    from v2xcosim.report.results import json_clean
    from v2xcosim.studies.inputs import load_network

    _check_args(args)
    source = Path(args.source)
    buses = list(dict.fromkeys(str(b) for b in args.bus))
    layout = load_network(args.source, buses=buses)
    net = layout.net
    index = {str(n): int(i) for i, n in net.bus["name"].items()}
    limits = hc.Limits(args.v_min_pu, args.v_max_pu, args.max_loading_pct)
    results: list[Any] = []
    for name in buses:
        for direction in hc.DIRECTIONS:
            results.append(
                hc.hosting_capacity(
                    net,
                    index[name],
                    direction,
                    limits,
                    step_kw=args.step_kw,
                    max_kw=args.max_kw,
                    peak_load_scale=args.peak_load_scale,
                    noon_load_scale=args.noon_load_scale,
                    k=args.k,
                    scales=_scales(layout, hc.DIRECTIONS[direction]),
                )
            )
    notes = list(dict.fromkeys(n for r in results for n in r.notes if "base state" not in n))
    lines = net.line[net.line["in_service"].astype(bool)]
    ratings = set(lines["max_i_ka"].round(6))
    if len(lines) > 1 and len(ratings) == 1:
        notes.append(
            f"all {len(lines)} lines have the same rating ({ratings.pop():g} kA): likely a "
            "placeholder of the network data, so thermal limits may be far from the real ones"
        )
    for name, st in layout.states.items():
        notes.append(
            f"{name} from the scenario's profiles: {st.why} at {st.time_utc} UTC "
            f"(loads x {st.load_scale:.3g}, PV x {st.pv_scale:.3g})"
        )
    rows = [
        {
            "bus": r.bus_name,
            "direction": r.direction,
            "state": r.state,
            "hosting_kw": r.hosting_kw,
            "chargers": math.floor(r.hosting_kw / args.charger_kw + 1e-9),
            "criterion": r.criterion,
            "element": r.element,
            "value_at_hosting": r.value,
            "value_above": r.value_over,
            "limit": r.limit,
        }
        for r in results
    ]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    out = Path(args.out) if args.out else source.with_name(f"{source.stem}-hosting")
    prepare_out_dir(out)
    atomic_write_bytes(
        out / "hosting.csv", table.to_csv(index=False, float_format="%.6g").encode("utf-8")
    )
    written = ["hosting.csv"]
    for name in buses:
        png = f"hosting_{_slug(name)}.png"
        _plot([r for r in results if r.bus_name == name], limits, out / png)
        written.append(png)
    violated = [r for r in results if r.base_violation]
    summary: dict[str, Any] = {
        "source": str(source),
        "method": "AC power flow (pandapower runpp) per added power; steps of step_kw, then "
        "bisection to 1 kW; protection: IEC 60909 max Ik'' with chargers as current sources",
        "limits": {
            "v_min_pu": limits.v_min_pu,
            "v_max_pu": limits.v_max_pu,
            "max_loading_pct": limits.max_loading_pct,
        },
        "states": {
            name: (
                f"loads x {st.load_scale:.6g}, PV x {st.pv_scale:.6g} ({st.why} at "
                f"{st.time_utc} UTC, from the scenario's profiles)"
            )
            for name, st in layout.states.items()
        }
        or {
            "evening_peak": f"loads x {args.peak_load_scale}, every sgen out of service; "
            "studied for charging",
            "noon_surplus": f"loads x {args.noon_load_scale}, sgens at p_mw; studied for "
            "discharging",
        },
        "step_kw": args.step_kw,
        "charger_kw": args.charger_kw,
        "max_kw": args.max_kw,
        "results": rows,
        "base_violations": [f"{r.bus_name} {r.direction}" for r in violated],
        "violation": bool(violated),
        "notes": notes,
    }
    write_json_atomic(json_clean(summary), out / "summary.json")
    written.append("summary.json")
    print(
        f"hosting study of {source}: {len(buses)} buses; limits {limits.v_min_pu}-"
        f"{limits.v_max_pu} pu, {limits.max_loading_pct:g} % loading; "
        f"charger {args.charger_kw:g} kW"
    )
    for row in rows:
        what = row["criterion"] if not row["element"] else f"{row['criterion']} at {row['element']}"
        print(
            f"  {row['bus']}, {row['direction']} ({row['state']}): {row['hosting_kw']:.0f} kW "
            f"= {row['chargers']} chargers; limited by {what}"
        )
    for r in violated:
        print(
            f"  violation: {r.bus_name} {r.direction}: the {r.state} state already violates "
            f"{r.criterion} ({r.element})"
        )
    for note in notes:
        print(f"  note: {note}")
    print(f"  wrote {out}/: {', '.join(written)}")
    return 1 if violated and args.fail_on_violation else 0


__all__ = ["COLUMNS", "register", "run"]
