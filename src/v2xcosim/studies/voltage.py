"""``v2xcosim study voltage RUN_DIR [--out DIR] [--baseline RUN_DIR] [--fail-on-violation]``.

Reads a complete run folder (``metadata.json`` verifies; ``grid.parquet``; ``network.json``)
and writes, atomically, into ``--out`` (default ``<RUN_DIR>/study-voltage``):

* ``bus_voltage.csv`` — per bus: nominal voltage, level (LV/MV), substation, feeder, distance
  from the substation [km], min / p1 / p5 / p50 / p95 / p99 / max / mean of the step voltages
  [pu], the EN 50160 verdict over all weeks and the lowest weekly share within ±10 %;
* ``voltage_10min.csv`` — the 10-minute mean voltages (only when the step is ≤ 10 min);
* ``en50160.csv`` — the EN 50160 verdict per bus and week;
* ``trafo_flow.csv`` — hours, share, energy and peak of reverse flow per transformer;
* ``loading.csv`` — loading statistics of every line and transformer and hours above the limit;
* ``duration_curves.csv`` — loadings [%] and transformer powers [MW], sorted, against the share
  of time;
* ``feeder_voltage_<substation>.png`` — min and max voltage along each feeder against distance
  from the substation; ``loading_duration.png``, ``trafo_power_duration.png``;
* with ``--baseline``: ``comparison.csv`` (each quantity of both runs and the difference) and the
  baseline drawn dashed into every plot;
* ``study.json`` — what was studied and the verdicts (written last).

The computations are :mod:`v2xcosim.grid.studies.voltage`.  Exit 0, or 1 when a bus violates
EN 50160 and ``--fail-on-violation`` is given; 2 when a folder is not a complete run.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.io import atomic_write_bytes, write_json_atomic
from v2xcosim.grid.studies import voltage as vs
from v2xcosim.studies import add_common

OUT_NAME = "study-voltage"
"""Default output folder inside the run folder."""
MARKER = "study.json"
"""The file that marks a folder as a voltage study's output (and lists its files)."""
TOP_LINES = 10
"""Lines drawn in the loading duration plot (the most loaded ones)."""


def register(studies: Any) -> None:
    """Add ``voltage`` to the ``study`` sub-parsers."""
    p = studies.add_parser(
        "voltage",
        help="bus voltages, EN 50160 per week, reverse flow, loadings of a completed run",
        description=(
            "Voltage study of a completed run: per-bus statistics, 10-min means and the EN "
            "50160 verdict per week, reverse-flow hours per transformer, line and transformer "
            "loading statistics and duration curves, voltage along each feeder."
        ),
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a completed run folder")
    p.add_argument(
        "--baseline",
        type=Path,
        metavar="RUN_DIR",
        default=None,
        help="a second run of the same network to compare with (e.g. uncontrolled charging)",
    )
    add_common(p)
    p.set_defaults(handler=cmd_voltage)


# ------------------------------------------------------------------------------- a run
@dataclass(frozen=True)
class RunData:
    """What the study reads of one run folder."""

    folder: Path
    label: str
    step_s: int
    start: pd.Timestamp
    span_s: float
    grid: pd.DataFrame
    net: Any
    line_limit_pct: float
    trafo_limit_pct: float


def _inside(out: Path | None, run_dir: Path) -> list[str]:
    """``out`` relative to ``run_dir`` when the study writes inside the run folder, else ``[]``."""
    if out is None:
        return []
    try:
        return [out.resolve().relative_to(run_dir.resolve()).as_posix()]
    except ValueError:
        return []


def read_run(folder: Path, *, out: Path | None = None) -> RunData:
    """Read and check a run folder; a folder that is not a complete run is a ScenarioError."""
    from v2xcosim.grid.networks import NETWORK_JSON
    from v2xcosim.report.results import METADATA, verify_run_folder
    from v2xcosim.studies.inputs import load_network, require_buses

    if not folder.is_dir():
        raise ScenarioError(f"{folder}: no such run folder")
    problems = verify_run_folder(folder, derived=_inside(out, folder))
    if problems:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        shown = "; ".join(problems[:3]) + more
        raise ScenarioError(
            f"{folder}: not a complete run folder ({shown}); give the folder of a run that "
            "completed (v2xcosim run writes metadata.json last)"
        )
    meta = json.loads((folder / METADATA).read_text(encoding="utf-8"))
    for name in ("grid.parquet", NETWORK_JSON):
        if not (folder / name).is_file():
            raise ScenarioError(
                f"{folder}: no {name}; the run was made by an older v2xcosim — run the "
                "scenario again to get a folder the grid studies can read"
            )
    scenario = meta.get("scenario", {})
    time = scenario.get("time", {})
    grid = pd.read_parquet(folder / "grid.parquet")
    if not len(grid):
        raise ScenarioError(f"{folder}/grid.parquet: no steps")
    times = pd.DatetimeIndex(grid["time"])
    step_s = int(time.get("step_s") or 0)
    if step_s <= 0:
        if len(times) < 2:
            raise ScenarioError(f"{folder}: the step length is neither recorded nor inferable")
        step_s = int((times[1] - times[0]).total_seconds())
    if not any(c.startswith("p_trafo_hv_w[") for c in grid.columns) and len(
        [c for c in grid.columns if c.startswith("trafo_loading_percent[")]
    ):
        raise ScenarioError(
            f"{folder}/grid.parquet: no per-transformer power (p_trafo_hv_w); the run was made "
            "by an older v2xcosim — run the scenario again"
        )
    layout = load_network(folder / NETWORK_JSON)
    buses = [c[len("vm_pu[") : -1] for c in grid.columns if c.startswith("vm_pu[")]
    if not buses:
        raise ScenarioError(f"{folder}/grid.parquet: no bus voltages (vm_pu[...])")
    require_buses(layout.net, buses, f"{folder}/{NETWORK_JSON} (buses of grid.parquet)")
    limits = scenario.get("grid", {})
    label = folder.resolve().name
    strategy = scenario.get("control", {}).get("strategy") if isinstance(scenario, dict) else None
    if isinstance(strategy, str):
        label = f"{label} ({strategy})"
    return RunData(
        folder=folder,
        label=label,
        step_s=step_s,
        start=times[0],
        span_s=float(len(grid) * step_s),
        grid=grid,
        net=layout.net,
        line_limit_pct=float(limits.get("max_line_loading_percent", 100.0)),
        trafo_limit_pct=float(limits.get("max_trafo_loading_percent", 100.0)),
    )


# ---------------------------------------------------------------------------- analysis
@dataclass
class Analysis:
    """The study's tables of one run (see the module docstring for each file)."""

    run: RunData
    layout: vs.FeederLayout
    buses: pd.DataFrame
    means: pd.DataFrame | None
    en50160: pd.DataFrame
    flows: pd.DataFrame
    loading: pd.DataFrame
    durations: pd.DataFrame
    extras: dict[str, Any] = field(default_factory=dict)


def analyse(run: RunData) -> Analysis:
    """Compute every table of the study for ``run``."""
    grid = run.grid
    vm = vs.vector(grid, "vm_pu")
    vn = vs.nominal_kv(run.net, list(vm.columns))
    layout = vs.feeder_layout(run.net)
    means = vs.ten_minute_means(vm, run.step_s)
    en = vs.en50160(means, vn, start=run.start, span_s=run.span_s)
    stats = vs.describe(vm, "pu")
    stats.index.name = "bus"
    place = layout.buses.reindex(stats.index)
    buses = pd.DataFrame(
        {
            "vn_kv": [vn[b] for b in stats.index],
            "level": [vs.rule_for(vn[b]).level for b in stats.index],
            "substation": place["substation"].fillna(""),
            "feeder": place["feeder"].fillna(""),
            "distance_km": place["distance_km"],
        },
        index=stats.index,
    ).join(stats)
    verdicts = en.groupby("bus", sort=False)["verdict"].agg(lambda v: vs.worst_verdict(v))
    buses["en50160"] = verdicts.reindex(buses.index)
    if means is None:
        buses["min_share_within_10pct"] = vs.NOT_ASSESSABLE
    else:
        share = pd.to_numeric(en["share_within_10pct"], errors="coerce")
        buses["min_share_within_10pct"] = share.groupby(en["bus"]).min().reindex(buses.index)

    p_w = vs.vector(grid, "p_trafo_hv_w")
    flows = vs.trafo_flows(p_w, run.step_s)
    trafo = run.net.trafo.assign(name=run.net.trafo["name"].astype(str)).drop_duplicates("name")
    trafo = trafo.set_index("name").reindex(flows.index)
    flows.insert(0, "sn_mva", trafo["sn_mva"].astype(float))
    flows.insert(1, "in_service", trafo["in_service"].fillna(False).astype(bool))
    lines = vs.vector(grid, "line_loading_percent")
    trafos = vs.vector(grid, "trafo_loading_percent")
    loading = pd.concat(
        [
            vs.loading_statistics(lines, run.step_s, run.line_limit_pct).assign(kind="line"),
            vs.loading_statistics(trafos, run.step_s, run.trafo_limit_pct).assign(kind="trafo"),
        ]
    )
    loading = loading[["kind", *[c for c in loading.columns if c != "kind"]]]
    curves = pd.concat(
        [
            lines.add_prefix("line_loading_percent[").add_suffix("]"),
            trafos.add_prefix("trafo_loading_percent[").add_suffix("]"),
            (p_w / 1e6).add_prefix("p_trafo_hv_mw[").add_suffix("]"),
        ],
        axis=1,
    ).reset_index(drop=True)
    return Analysis(
        run=run,
        layout=layout,
        buses=buses,
        means=means,
        en50160=en,
        flows=flows,
        loading=loading,
        durations=vs.duration_curve(curves),
    )


def comparison(study: Analysis, base: Analysis) -> pd.DataFrame:
    """Each quantity of the study run and the baseline side by side, and their difference."""
    rows: list[pd.DataFrame] = []

    def block(kind: str, a: pd.DataFrame, b: pd.DataFrame, cols: Sequence[str]) -> None:
        common = [e for e in a.index if e in b.index]
        for col in cols:
            x = pd.to_numeric(a.loc[common, col], errors="coerce")
            y = pd.to_numeric(b.loc[common, col], errors="coerce")
            rows.append(
                pd.DataFrame(
                    {
                        "kind": kind,
                        "element": common,
                        "quantity": col,
                        "run": x.to_numpy(),
                        "baseline": y.to_numpy(),
                        "difference": (x - y).to_numpy(),
                    }
                )
            )

    pcts = [f"{vs.percentile_name(q)}_pu" for q in vs.PERCENTILES]
    bus_cols = ["min_pu", *pcts, "max_pu", "mean_pu"]
    if study.means is not None and base.means is not None:
        bus_cols.append("min_share_within_10pct")
    block("bus", study.buses, base.buses, bus_cols)
    flow_cols = ["reverse_flow_hours", "reverse_flow_energy_mwh", "reverse_flow_peak_mw"]
    block("trafo", study.flows, base.flows, flow_cols)
    load_cols = ["max_pct", "p95_pct", "mean_pct", "hours_above_limit"]
    for kind in ("line", "trafo"):
        a = study.loading[study.loading["kind"] == kind]
        b = base.loading[base.loading["kind"] == kind]
        block(f"{kind} loading", a, b, load_cols)
    if not rows or not len(pd.concat(rows)):
        raise ScenarioError(
            f"--baseline {base.run.folder}: no bus, line or transformer in common with "
            f"{study.run.folder}; compare two runs of the same network"
        )
    return pd.concat(rows, ignore_index=True)


# ------------------------------------------------------------------------------- files
def _csv(frame: pd.DataFrame, path: Path, *, index: bool = True) -> Path:
    atomic_write_bytes(path, frame.to_csv(index=index, float_format="%.8g").encode("utf-8"))
    return path


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "substation"


def prepare_out(out: Path) -> None:
    """Create ``out``, or clear a previous voltage study there; refuse any other contents."""
    if out.exists() and not out.is_dir():
        raise ScenarioError(f"--out {out} is a file; choose a folder")
    if out.is_dir() and any(out.iterdir()):
        marker = out / MARKER
        try:
            previous = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            previous = {}
        if previous.get("study") != "voltage":
            raise ScenarioError(
                f"output folder {out} exists and is not empty (and holds no voltage study); "
                "choose another --out or remove it"
            )
        for name in [*previous.get("files", []), MARKER]:
            target = out / str(name)
            if target.parent == out and target.is_file():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def write_tables(study: Analysis, out: Path, base: Analysis | None) -> list[Path]:
    """Write the CSV tables into ``out``; return their paths."""
    files = [
        _csv(study.buses, out / "bus_voltage.csv"),
        _csv(study.en50160, out / "en50160.csv", index=False),
        _csv(study.flows, out / "trafo_flow.csv"),
        _csv(study.loading.rename_axis("element"), out / "loading.csv"),
        _csv(study.durations, out / "duration_curves.csv"),
    ]
    if study.means is not None:
        means = study.means.copy()
        means.index = pd.Index([t.isoformat() for t in means.index], name="time")
        files.append(_csv(means, out / "voltage_10min.csv"))
    if base is not None:
        files.append(_csv(comparison(study, base), out / "comparison.csv", index=False))
    return files


def _limits(ax: Any, level: str, lo: float, hi: float) -> None:
    """Zoom on the data (``lo``..``hi``) and draw the EN 50160 limits that fall in view."""
    rule = vs.LV_RULE if level == "LV" else vs.MV_RULE
    pad = max(0.2 * (hi - lo), 0.005)
    bottom, top = lo - pad, hi + pad
    limits = [1.0 - rule.band_pu, 1.0 + rule.band_pu]
    if rule.hard_min_pu is not None:
        limits.append(rule.hard_min_pu)
    for v in limits:
        if bottom <= v <= top:
            ax.axhline(v, color="r", ls="--" if v != rule.hard_min_pu else ":", lw=0.8)
    ax.set_ylim(bottom, top)
    shown = "/".join(f"{v:g}" for v in sorted(limits))
    ax.plot([], [], color="r", ls="--", lw=0.8, label=f"EN 50160 limits {shown} pu")


def _envelope(ax: Any, a: Analysis, sub: str, *, style: Mapping[str, Any] | None) -> list[str]:
    """Draw min and max voltage along the feeders of ``sub``; return the feeders drawn."""
    import matplotlib.pyplot as plt

    lines = a.layout.lines[a.layout.lines["substation"] == sub]
    dist = a.layout.buses["distance_km"]
    vmin, vmax = a.buses["min_pu"], a.buses["max_pu"]
    feeders = sorted(set(lines["feeder"]))
    cmap = plt.get_cmap("tab10")
    for k, feeder in enumerate(feeders):
        kw = dict(style) if style else {"color": cmap(k % 10), "lw": 1.2}
        for _, row in lines[lines["feeder"] == feeder].iterrows():
            ends = [row["from_bus"], row["to_bus"]]
            if not all(b in vmin.index for b in ends):
                continue
            x = [dist[b] for b in ends]
            ax.plot(x, [vmax[b] for b in ends], **kw)
            ax.plot(x, [vmin[b] for b in ends], **kw)
        if style is None:
            ax.plot([], [], color=cmap(k % 10), lw=1.2, label=feeder)
    return feeders


def write_plots(study: Analysis, out: Path, base: Analysis | None) -> list[Path]:
    """Write the feeder envelopes and duration curves into ``out``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from v2xcosim.report.plots import save_figure

    written: list[Path] = []
    dashed: dict[str, Any] = {"color": "0.45", "ls": "--", "lw": 0.9}
    for sub in vs.substations_with_feeders(study.layout):
        vn = float(study.layout.buses["vn_kv"][sub])
        level = vs.rule_for(vn).level
        fig, ax = plt.subplots(figsize=(9, 4.5))
        shown = [study]
        if base is not None and sub in set(base.layout.lines["substation"]):
            _envelope(ax, base, sub, style=dashed)  # below the study run
            ax.plot([], [], label=f"baseline: {base.run.label}", **dashed)
            shown.append(base)
        feeders = _envelope(ax, study, sub, style=None)
        if base is not None:
            ax.plot([], [], color="none", label=f"solid: {study.run.label}")
        on = [a.buses[a.buses["substation"] == sub] for a in shown]
        lo = min(float(x["min_pu"].min()) for x in on)
        hi = max(float(x["max_pu"].max()) for x in on)
        _limits(ax, level, lo if lo == lo else 0.9, hi if hi == hi else 1.1)
        ax.set_xlabel("distance from the substation [km]")
        ax.set_ylabel("voltage [pu]: min and max over the run")
        ax.set_title(f"Voltage along the feeders of {sub} ({vn:g} kV, {level})", fontsize=10)
        ax.legend(loc="best", fontsize=7, ncol=2 if len(feeders) > 6 else 1)
        fig.tight_layout()
        path = out / f"feeder_voltage_{_slug(sub)}.png"
        save_figure(fig, path)
        written.append(path)

    def curves(ax: Any, a: Analysis, prefix: str, names: Sequence[str], *, baseline: bool) -> None:
        d = a.durations
        if prefix == "p_trafo_hv_pct":  # power in % of each transformer's rating
            rated = a.flows["sn_mva"]
            d = pd.DataFrame(
                {
                    f"{prefix}[{n}]": d[f"p_trafo_hv_mw[{n}]"] / float(rated[n]) * 100.0
                    for n in names
                    if f"p_trafo_hv_mw[{n}]" in d.columns and n in rated.index
                },
                index=d.index,
            )
        for k, name in enumerate(names):
            col = f"{prefix}[{name}]"
            if col not in d.columns:
                continue
            kw: dict[str, Any] = {"color": plt.get_cmap("tab10")(k % 10), "lw": 1.1}
            if baseline:
                kw.update(ls="--", lw=0.9)
            ax.plot(d.index, d[col], label=None if baseline else name, **kw)

    in_service = study.flows[study.flows["in_service"]]
    trafo_names = [str(t) for t in in_service.index]
    line_load = study.loading[study.loading["kind"] == "line"]
    ranked = line_load["max_pct"].sort_values(ascending=False, na_position="last")
    top = [str(x) for x in ranked.index]
    top = top[:TOP_LINES]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    panels = (
        (axes[0], "trafo_loading_percent", trafo_names, "transformers", study.run.trafo_limit_pct),
        (axes[1], "line_loading_percent", top, f"{len(top)} most loaded lines", 0.0),
    )
    for ax, prefix, names, title, limit in panels:
        limit = limit or study.run.line_limit_pct
        curves(ax, study, prefix, names, baseline=False)
        if base is not None:
            curves(ax, base, prefix, names, baseline=True)
        ax.axhline(limit, color="r", ls="--", lw=0.8)
        ax.set_xlabel("share of time [%]")
        ax.set_ylabel("loading [%]")
        ax.set_title(f"Loading duration: {title}", fontsize=10)
        if names:
            ax.legend(loc="best", fontsize=6)
    if base is not None:
        fig.suptitle(f"solid: {study.run.label}; dashed: {base.run.label}", fontsize=8)
    fig.tight_layout()
    path = out / "loading_duration.png"
    save_figure(fig, path)
    written.append(path)

    fig, ax = plt.subplots(figsize=(9, 4))
    curves(ax, study, "p_trafo_hv_pct", trafo_names, baseline=False)
    if base is not None:
        curves(ax, base, "p_trafo_hv_pct", trafo_names, baseline=True)
        ax.set_title(
            f"Transformer power duration (solid: {study.run.label}; dashed: {base.run.label})",
            fontsize=9,
        )
    else:
        ax.set_title("Transformer power duration (below 0: reverse flow)", fontsize=10)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlabel("share of time [%]")
    ax.set_ylabel("P at the HV side [% of rating] (+ import)")
    if trafo_names:
        ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    path = out / "trafo_power_duration.png"
    save_figure(fig, path)
    written.append(path)
    return written


# ------------------------------------------------------------------------------- summary
def violations(study: Analysis) -> list[str]:
    """Buses whose EN 50160 verdict is ``violated`` in some week."""
    return [str(b) for b, v in study.buses["en50160"].items() if v == "violated"]


def _hours(s: float) -> str:
    return f"{s / 3600:.1f} h"


def summary(study: Analysis, out: Path, base: Analysis | None) -> str:
    """Return the printed summary of the study."""
    run, b = study.run, study.buses
    levels = b["level"].value_counts()
    lines = [
        f"voltage study of {run.folder}: {len(b)} buses "
        f"({int(levels.get('LV', 0))} LV, {int(levels.get('MV', 0))} MV), "
        f"{len(run.grid)} steps of {run.step_s} s ({_hours(run.span_s)})"
    ]
    vmin, vmax = b["min_pu"], b["max_pu"]
    if vmin.notna().any():
        lines.append(
            f"  voltage (steps): min {vmin.min():.4f} pu at {vmin.idxmin()}, "
            f"max {vmax.max():.4f} pu at {vmax.idxmax()}"
        )
    if study.means is None:
        lines.append(
            f"  EN 50160: {vs.NOT_ASSESSABLE} ({run.step_s} s > 10 min); "
            "the other results are computed from the steps"
        )
    else:
        bad = violations(study)
        note = ""
        if run.span_s < vs.WEEK_S:
            note = f" (assessed over the simulated {_hours(run.span_s)}, shorter than a week)"
        elif run.span_s % vs.WEEK_S:
            note = " (the last week is shorter: assessed over its span)"
        if bad:
            shown = ", ".join(bad[:6]) + (f" and {len(bad) - 6} more" if len(bad) > 6 else "")
            lines.append(f"  EN 50160: violated at {len(bad)} of {len(b)} buses: {shown}{note}")
        else:
            ok = int(b["en50160"].isin(["compliant", vs.INDICATIVE]).sum())
            word = "compliant" if run.span_s >= vs.WEEK_S else "indicatively compliant"
            lines.append(f"  EN 50160: {word} at {ok} of {len(b)} buses{note}")
    rev = study.flows[study.flows["reverse_flow_hours"] > 0]
    if len(rev):
        parts = [
            f"{t} {r['reverse_flow_hours']:.1f} h (peak {r['reverse_flow_peak_mw']:.3f} MW)"
            for t, r in rev.sort_values("reverse_flow_hours", ascending=False).iterrows()
        ]
        lines.append("  reverse flow: " + "; ".join(parts[:5]))
    else:
        lines.append("  reverse flow: none through any transformer")
    for kind in ("line", "trafo"):
        part = study.loading[study.loading["kind"] == kind]["max_pct"]
        if part.notna().any():
            lines.append(f"  max {kind} loading {part.max():.1f} % ({part.idxmax()})")
    if base is not None:
        common = [x for x in b.index if x in base.buses.index]
        d_min = float(vmin[common].min() - base.buses.loc[common, "min_pu"].min())
        d_max = float(vmax[common].max() - base.buses.loc[common, "max_pu"].max())
        h = float(study.flows["reverse_flow_hours"].sum())
        h0 = float(base.flows["reverse_flow_hours"].reindex(study.flows.index).sum())
        lines.append(
            f"  vs baseline {base.run.label}: min voltage {round(d_min, 4) + 0.0:+.4f} pu, "
            f"max voltage {round(d_max, 4) + 0.0:+.4f} pu, reverse-flow hours (all "
            f"transformers) {round(h - h0, 1) + 0.0:+.1f} h"
        )
    lines.append(f"  tables and plots: {out}")
    return "\n".join(lines)


def study_voltage(
    run_dir: Path, *, out: Path | None = None, baseline: Path | None = None
) -> tuple[Analysis, Path, str]:
    """Run the voltage study of ``run_dir`` (see the module docstring); return it, out, summary."""
    out = out if out is not None else run_dir / OUT_NAME
    run = read_run(run_dir, out=out)
    base_run = read_run(baseline) if baseline is not None else None
    study = analyse(run)
    base = analyse(base_run) if base_run is not None else None
    prepare_out(out)
    files = write_tables(study, out, base) + write_plots(study, out, base)
    text = summary(study, out, base)
    bad = violations(study)
    write_json_atomic(
        {
            "study": "voltage",
            "run": str(run_dir),
            "baseline": None if baseline is None else str(baseline),
            "step_s": run.step_s,
            "span_h": run.span_s / 3600.0,
            "en50160_assessable": study.means is not None,
            "full_week": run.span_s >= vs.WEEK_S,
            "buses": len(study.buses),
            "en50160_violated_buses": bad,
            "reverse_flow_hours": {
                str(k): float(v) for k, v in study.flows["reverse_flow_hours"].items()
            },
            "files": sorted(p.name for p in files),
        },
        out / MARKER,
    )
    return study, out, text


def cmd_voltage(args: argparse.Namespace) -> int:
    """``v2xcosim study voltage``: print the summary; exit 1 on a violation if asked to."""
    study, _, text = study_voltage(
        args.run_dir,
        out=None if args.out is None else Path(args.out),
        baseline=args.baseline,
    )
    print(text)
    if args.fail_on_violation and violations(study):
        return 1
    return 0


__all__ = [
    "OUT_NAME",
    "Analysis",
    "RunData",
    "analyse",
    "cmd_voltage",
    "comparison",
    "read_run",
    "register",
    "study_voltage",
    "summary",
    "violations",
]
