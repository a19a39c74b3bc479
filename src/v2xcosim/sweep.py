"""``v2xcosim sweep SCENARIO --param KEY=V1,V2 ... [--seeds N]``: study variants on Dask.

The variants are the cartesian product of the ``--param`` values (keys in the ``--set`` syntax,
quoted parts for dotted names: ``sites.0.fmu.instance_parameters."solver.rtol"=1e-6,1e-8``),
times ``--seeds N`` seeds derived from the scenario's ``seed`` (:func:`sweep_seeds`).  Every
variant is validated before anything runs (a bad key: exit 2, naming it).  Each variant runs
on a Dask distributed cluster — a :class:`distributed.LocalCluster` of worker processes sized
to the machine, or the cluster whose scheduler ``--scheduler`` names — through the very
function ``v2xcosim run`` uses (:func:`v2xcosim.runner.run_watched`: a watched child process,
so a hung variant is stopped by the run's own watchdog, ``runner.startup_timeout_s`` and
``runner.stall_timeout_s``), into its own run folder ``OUT/<readable name>``; a variant is
therefore bit-identical to the same ``v2xcosim run``.  A failing variant is recorded with its
error and the others go on.  ``OUT/summary.parquet`` (one row per variant) and
``OUT/summary.png`` (each headline KPI against each parameter, mean over seeds with a 95 %
confidence band) are written atomically.  Re-running skips variants whose folder holds a
completed run (its ``metadata.json`` verifies, as for ``run --resume``).

Exit codes: 0 every variant ran and passed its checks; 1 a variant failed or a flagged check
failed; 2 bad input.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from v2xcosim.core.errors import ScenarioError, V2XError, plain_message

SUMMARY = "summary.parquet"
"""The sweep's table: one row per variant."""

SUMMARY_PLOT = "summary.png"
"""The sweep's plot: KPIs against parameters (static, for papers)."""

SUMMARY_REPORT = "summary.html"
"""The sweep's report: the variants' table and interactive charts of every KPI against every
parameter (mean over seeds, confidence band, each run), one self-contained file."""

SEED_STREAM = "sweep/seeds"
"""Random stream (:func:`v2xcosim.core.rng.rng_for`) the Monte Carlo seeds are drawn from."""

NAME_MAX = 120
"""Longest variant folder name [characters] before it is shortened with a hash (assumption:
well below the 255 bytes of common file systems, and still readable)."""

CONFIDENCE = 0.95
"""Two-sided confidence level of the band over seeds (Student's t interval of the mean)."""


@dataclass(frozen=True)
class Param:
    """One ``--param``: its key as written and its values as written (TOML text each)."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Variant:
    """One run of the sweep: its folder name, parameter values, seed and ``--set`` overrides."""

    name: str
    params: tuple[tuple[str, Any], ...]
    """(key as written, parsed value) per ``--param``."""
    seed: int | None
    overrides: tuple[str, ...]


def split_values(text: str) -> list[str]:
    """Split ``V1,V2,...`` at commas outside quotes and brackets (``[1,2],[3]`` is two values)."""
    values: list[str] = []
    depth = 0
    quote = ""
    current = ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append(current.strip())
            current = ""
            continue
        current += ch
    values.append(current.strip())
    return values


def parse_param(item: str) -> Param:
    """Parse ``KEY=V1,V2,...`` (``KEY`` as for ``--set``); refuse (exit 2) an empty value."""
    from v2xcosim.config.load import parse_value, split_key

    _, raw, key = split_key(item, what="--param")
    values = split_values(raw)
    if any(not v for v in values):
        raise ScenarioError(
            f"--param {item!r}: give one or more values separated by commas, "
            "e.g. --param control.strategy=smart,uncontrolled"
        )
    for value in values:
        parse_value(value, item, what="--param")
    if len(set(values)) != len(values):
        raise ScenarioError(f"--param {item!r}: a value is given twice")
    return Param(key, tuple(values))


def sweep_seeds(seed: int, n: int) -> list[int]:
    """Return ``n`` distinct seeds for Monte Carlo variants, derived from the scenario ``seed``.

    Drawn from the stream :data:`SEED_STREAM` (:func:`v2xcosim.core.rng.rng_for`) in
    [0, 2**31): the same scenario seed always gives the same seeds, and asking for more seeds
    keeps the first ones.
    """
    from v2xcosim.core.rng import rng_for

    rng = rng_for(seed, SEED_STREAM)
    seeds: list[int] = []
    while len(seeds) < n:
        s = int(rng.integers(0, 2**31))
        if s not in seeds:
            seeds.append(s)
    return seeds


def folder_name(params: Sequence[tuple[str, str]], seed: int | None) -> str:
    """Readable folder name of a variant: ``key=value__key=value__seed=N``, file-system safe.

    Characters other than letters, digits and ``_.=,+-`` become ``_``; a name longer than
    :data:`NAME_MAX` is cut and ends with 10 hex digits of the sha256 of the full name.
    """
    parts = [f"{k.replace(chr(34), '').replace(chr(39), '')}={v}" for k, v in params]
    if seed is not None:
        parts.append(f"seed={seed}")
    full = "__".join(parts) or "base"
    name = re.sub(r"[^A-Za-z0-9_.=,+-]+", "_", full).strip("._") or "variant"
    if len(name) > NAME_MAX:
        digest = hashlib.sha256(full.encode()).hexdigest()[:10]
        name = f"{name[: NAME_MAX - 12]}__{digest}"
    return name


def plan_variants(
    scenario: Path, base_overrides: Sequence[str], params: Sequence[Param], n_seeds: int
) -> list[Variant]:
    """Return every variant, each validated; raise one ScenarioError (exit 2) naming the bad ones.

    ``n_seeds`` = 0 keeps the scenario's own seed (no ``seed`` column value).
    """
    from v2xcosim.config.load import parse_value
    from v2xcosim.scenario import load_scenario

    if n_seeds < 0:
        raise ScenarioError(f"--seeds {n_seeds}: give a number of seeds >= 0")
    keys = [p.key for p in params]
    if len(set(keys)) != len(keys):
        raise ScenarioError("--param: a key is given twice; give all its values in one --param")
    base = load_scenario(scenario, base_overrides)
    seeds: list[int | None] = list(sweep_seeds(base.seed, n_seeds)) if n_seeds else [None]
    variants: list[Variant] = []
    problems: list[str] = []
    for combo in itertools.product(*(p.values for p in params)):
        pairs = list(zip(keys, combo, strict=True))
        for seed in seeds:
            overrides = [*base_overrides, *(f"{k}={v}" for k, v in pairs)]
            if seed is not None:
                overrides.append(f"seed={seed}")
            name = folder_name(pairs, seed)
            try:
                load_scenario(scenario, overrides)
            except ScenarioError as exc:
                setting = ", ".join(f"--param {k}={v}" for k, v in pairs)
                problems.append(f"variant {name} ({setting}): {exc}")
                continue
            parsed = tuple((k, parse_value(v, f"{k}={v}", what="--param")) for k, v in pairs)
            variants.append(Variant(name, parsed, seed, tuple(overrides)))
    if problems:
        raise ScenarioError(
            f"{len(problems)} of {len(problems) + len(variants)} variants are not valid "
            "scenarios (nothing was run):\n" + "\n".join(problems)
        )
    return variants


def completed_kpis(folder: Path) -> tuple[int, dict[str, Any]] | None:
    """Exit code and KPIs of a completed run in ``folder`` (``metadata.json`` verifies), or None."""
    from v2xcosim.report.results import METADATA, verify_run_folder

    if not (folder / METADATA).is_file() or verify_run_folder(folder):
        return None
    meta = json.loads((folder / METADATA).read_text(encoding="utf-8"))
    kpis = json.loads((folder / "kpis.json").read_text(encoding="utf-8"))
    return int(meta.get("exit_code", 0)), dict(kpis)


def run_variant(scenario: str, overrides: list[str], out: str) -> dict[str, Any]:
    """Run one variant into ``out`` as ``v2xcosim run`` does; return its outcome, never raise.

    Runs on a Dask worker.  A folder left by a run that died (it holds the run's request but no
    verifying ``metadata.json``) is emptied and run again, as ``run --resume`` does.
    """
    from v2xcosim.core.runlock import (
        REQUEST_NAME,
        claim_run_folder,
        reclaim_run_folder,
        write_request,
    )
    from v2xcosim.run_cli import _completed
    from v2xcosim.runner import run_watched_spec
    from v2xcosim.scenario import load_scenario

    t0 = time.monotonic()
    folder = Path(out)
    try:
        spec = load_scenario(scenario, overrides)
        if (folder / REQUEST_NAME).is_file():
            claim = reclaim_run_folder(folder, _completed)
        else:
            claim = claim_run_folder(folder)
        with claim:
            write_request(folder, Path(scenario), overrides)
            outcome = run_watched_spec(spec, Path(scenario), overrides, folder, progress=False)
    except V2XError as exc:
        return _outcome("error", 2, {}, plain_message(str(exc)), t0)
    except Exception as exc:  # a crash of our own code: recorded, the sweep goes on
        return _outcome("error", 2, {}, f"internal error {type(exc).__name__}: {exc}", t0)
    status = "ok" if outcome.exit_code == 0 else "checks failed"
    return _outcome(status, outcome.exit_code, outcome.kpis, "", t0)


def _outcome(
    status: str, exit_code: int, kpis: dict[str, Any], error: str, t0: float
) -> dict[str, Any]:
    return {
        "status": status,
        "exit_code": exit_code,
        "kpis": kpis,
        "error": error,
        "wall_s": time.monotonic() - t0,
    }


def flatten_kpis(kpis: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested KPIs to ``a.b`` keys; scalars kept, lists as JSON text."""
    flat: dict[str, Any] = {}
    for key, value in kpis.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_kpis(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(value, default=str)
        else:
            flat[name] = value
    return flat


def summary_frame(
    variants: Sequence[Variant], outcomes: Sequence[dict[str, Any]], out: Path
) -> pd.DataFrame:
    """Return the summary table: one row per variant.

    Columns ``variant``, ``param:KEY`` and ``seed``, status, error, exit code,
    wall time [s], ``reused`` (skipped: already complete), ``run_dir`` and ``kpi:NAME``.
    """
    rows: list[dict[str, Any]] = []
    for variant, res in zip(variants, outcomes, strict=True):
        row: dict[str, Any] = {"variant": variant.name}
        row.update({f"param:{k}": v for k, v in variant.params})
        row["seed"] = variant.seed
        row.update(
            {
                "status": res["status"],
                "error": res["error"],
                "exit_code": res["exit_code"],
                "wall_s": float(res["wall_s"]),
                "reused": bool(res.get("reused", False)),
                "run_dir": str(out / variant.name),
            }
        )
        row.update({f"kpi:{k}": v for k, v in flatten_kpis(res["kpis"]).items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    for col in frame.columns:  # parquet needs one type per column
        kinds = {type(v) for v in frame[col] if v is not None and not _is_nan(v)}
        numeric = kinds <= {int, float} and bool(kinds)
        if col == "seed" or (numeric and int in kinds and float not in kinds):
            frame[col] = frame[col].astype("Int64")
        elif numeric:
            frame[col] = frame[col].astype("float64")
        elif kinds == {bool}:
            frame[col] = frame[col].astype("boolean")
        elif len(kinds) > 0:
            frame[col] = frame[col].map(lambda v: None if v is None or _is_nan(v) else str(v))
    return frame


def _is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def seed_spread(frame: pd.DataFrame, param_col: str, kpi_col: str) -> pd.DataFrame:
    """Mean of ``kpi_col`` over seeds per value of ``param_col``, with a confidence band.

    Columns ``value``, ``n``, ``mean``, ``lo``, ``hi``: the Student's t interval of the mean at
    :data:`CONFIDENCE` (``mean ± t(1 - α/2, n - 1) · s / √n``, ``s`` the sample standard
    deviation); with one sample the band is the point.  Failed variants (no KPI) are left out.
    The other parameters are pooled.
    """
    from scipy import stats

    rows = []
    data = frame[[param_col, kpi_col]].dropna()
    for value, group in data.groupby(param_col, sort=True):
        y = group[kpi_col].astype(float).to_numpy()
        mean = float(y.mean())
        half = 0.0
        if len(y) > 1:
            t = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(y) - 1))
            half = t * float(y.std(ddof=1)) / math.sqrt(len(y))
        rows.append(
            {"value": value, "n": len(y), "mean": mean, "lo": mean - half, "hi": mean + half}
        )
    return pd.DataFrame(rows, columns=["value", "n", "mean", "lo", "hi"])


def plot_summary(frame: pd.DataFrame, kpi_cols: Sequence[str], path: Path) -> None:
    """Write the summary plot: one panel per (KPI, parameter), mean over seeds and its band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from v2xcosim.core.io import atomic_write_bytes

    params = [c for c in frame.columns if c.startswith("param:")] or ["seed"]
    kpis = [c for c in kpi_cols if c in frame.columns and frame[c].notna().any()]
    if not kpis:
        kpis = ["wall_s"]
    fig, axes = plt.subplots(
        len(kpis), len(params), figsize=(4.5 * len(params), 2.6 * len(kpis)), squeeze=False
    )
    for i, kpi in enumerate(kpis):
        for j, param in enumerate(params):
            ax = axes[i][j]
            spread = seed_spread(frame, param, kpi)
            x = list(range(len(spread)))
            ax.fill_between(x, spread["lo"], spread["hi"], alpha=0.3, label="95 % CI (seeds)")
            ax.plot(x, spread["mean"], marker="o", label="mean")
            pos = {v: k for k, v in enumerate(spread["value"])}
            pts = frame[[param, kpi]].dropna()
            ax.scatter([pos[v] for v in pts[param]], pts[kpi], s=10, color="k", alpha=0.5)
            ax.set_xticks(x, [str(v) for v in spread["value"]], fontsize=8)
            ax.set_xlabel(param.removeprefix("param:"), fontsize=8)
            ax.set_ylabel(kpi.removeprefix("kpi:"), fontsize=8)
            ax.tick_params(labelsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def summary_report(frame: pd.DataFrame, kpi_cols: Sequence[str], title: str) -> str:
    """Return the sweep's HTML report (self-contained, as ``v2xcosim report``'s pages).

    One chart per (KPI, parameter) with a KPI that has data: the mean over seeds per parameter
    value, its :data:`CONFIDENCE` band (:func:`seed_spread`) and every run as a point; the y
    axis names the KPI's unit from the KPI vocabulary.  Then the variants' table: parameters,
    seed, status, error and run folder.
    """
    import html

    from v2xcosim.report.html import Panel, Section, render
    from v2xcosim.report.kpis import KPIS

    go: Any = __import__("plotly.graph_objects", fromlist=["Figure"])
    params = [c for c in frame.columns if c.startswith("param:")] or ["seed"]
    kpis = [c for c in kpi_cols if c in frame.columns and frame[c].notna().any()]
    panels: list[Panel] = []
    for kpi in kpis:
        name = kpi.removeprefix("kpi:")
        unit = KPIS[name].unit if name in KPIS else ""
        for param in params:
            spread = seed_spread(frame, param, kpi)
            labels = [str(v) for v in spread["value"]]
            pts = frame[[param, kpi]].dropna()
            fig = go.Figure()
            fig.add_trace(
                go.Scatter(
                    x=labels + labels[::-1],
                    y=list(spread["hi"]) + list(spread["lo"])[::-1],
                    fill="toself",
                    line={"width": 0},
                    opacity=0.3,
                    name=f"{CONFIDENCE:.0%} CI of the mean (seeds)",
                    hoverinfo="skip",
                )
            )
            fig.add_trace(go.Scatter(x=labels, y=spread["mean"], mode="lines+markers", name="mean"))
            fig.add_trace(
                go.Scatter(
                    x=[str(v) for v in pts[param]],
                    y=pts[kpi],
                    mode="markers",
                    marker={"size": 6, "color": "black", "opacity": 0.5},
                    name="runs",
                )
            )
            fig.update_layout(
                title=f"{name} against {param.removeprefix('param:')}",
                xaxis_title=param.removeprefix("param:"),
                yaxis_title=f"{name} [{unit}]" if unit else name,
                height=340,
                margin={"l": 60, "r": 20, "t": 50, "b": 50},
            )
            key = re.sub(r"[^A-Za-z0-9_-]", "_", f"{name}--{param}")
            panels.append(Panel(key=key, title="", figure=fig))
    cols = [*params, *(["seed"] if "seed" not in params else []), "status", "error", "run_dir"]
    cols = [c for c in dict.fromkeys(cols) if c in frame.columns]
    head = "".join(f"<th>{html.escape(c.removeprefix('param:'))}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row[c]))}</td>" for c in cols) + "</tr>"
        for _, row in frame.iterrows()
    )
    table = Panel(key="variants", title="", html=f"<table><tr>{head}</tr>{body}</table>")
    ok = int((frame["status"] == "ok").sum()) if "status" in frame.columns else len(frame)
    sections = [
        Section("kpis", "KPIs against the parameters", tuple(panels)),
        Section("variants", f"Variants ({ok} of {len(frame)} ok)", (table,)),
    ]
    return render(title, sections, subtitle=f"{len(frame)} variants; {SUMMARY} holds the table")


def run_sweep(
    scenario: Path,
    variants: Sequence[Variant],
    out: Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Run the variants not yet complete on Dask; return one outcome per variant, in order."""
    import importlib

    from tqdm import tqdm

    dd: Any = importlib.import_module("dask.distributed")  # untyped: used through Any

    outcomes: dict[int, dict[str, Any]] = {}
    todo: list[int] = []
    for i, variant in enumerate(variants):
        done = completed_kpis(out / variant.name)
        if done is None:
            todo.append(i)
        else:
            status = "ok" if done[0] == 0 else "checks failed"
            outcomes[i] = {
                "status": status,
                "exit_code": done[0],
                "kpis": done[1],
                "error": "",
                "wall_s": 0.0,
                "reused": True,
            }
    print(f"sweep: {len(variants)} variants, {len(outcomes)} already complete, {len(todo)} to run")
    if todo:
        cluster: Any = None
        if scheduler is None:
            n = workers or os.cpu_count() or 1
            cluster = dd.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = dd.Client(cluster)
        else:
            client = dd.Client(scheduler)
        try:
            futures = {
                client.submit(
                    run_variant,
                    str(scenario.resolve()),
                    list(variants[i].overrides),
                    str((out / variants[i].name).resolve()),
                    key=f"v2xcosim-sweep-{variants[i].name}-{i}",
                    pure=False,
                ): i
                for i in todo
            }
            bar = tqdm(total=len(todo), unit="variant", file=sys.stderr, disable=not progress)
            for fut in dd.as_completed(list(futures)):
                i = futures[fut]
                try:
                    res: dict[str, Any] = fut.result()
                except Exception as exc:  # the worker died (killed, out of memory)
                    res = _outcome("error", 2, {}, f"{type(exc).__name__}: {exc}", time.monotonic())
                    res["wall_s"] = float("nan")
                outcomes[i] = res
                bar.update(1)
                tail = f": {res['error'].splitlines()[0]}" if res["error"] else ""
                bar.write(f"  {variants[i].name}: {res['status']}{tail}", file=sys.stdout)
            bar.close()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return [outcomes[i] for i in range(len(variants))]


def cmd_sweep(args: argparse.Namespace) -> int:
    """Validate every variant, run them on Dask, write the summary table and plot."""
    from v2xcosim import usecases
    from v2xcosim.core.io import atomic_write_bytes, check_writable_dir, write_parquet_atomic
    from v2xcosim.scenario import load_scenario

    if not args.params and not args.seeds:
        raise ScenarioError("sweep: give at least one --param KEY=V1,V2 or --seeds N")
    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers {args.workers}: give a number of workers >= 1")
    params = [parse_param(item) for item in args.params]
    spec = load_scenario(args.scenario, args.overrides)
    variants = plan_variants(args.scenario, args.overrides, params, args.seeds)
    out: Path = args.out if args.out is not None else Path("results") / f"{spec.name}-sweep"
    check_writable_dir(out, "--out", reserve=max(len(v.name) for v in variants))
    out.mkdir(parents=True, exist_ok=True)
    outcomes = run_sweep(
        args.scenario,
        variants,
        out,
        scheduler=args.scheduler,
        workers=args.workers,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    frame = summary_frame(variants, outcomes, out)
    write_parquet_atomic(frame, out / SUMMARY)
    case = usecases.get(spec.use_case)
    kpi_cols = [f"kpi:{k}" for k in case.kpi_keys]
    plot_summary(frame, kpi_cols, out / SUMMARY_PLOT)
    page = summary_report(frame, kpi_cols, f"Sweep of {spec.name}")
    atomic_write_bytes(out / SUMMARY_REPORT, page.encode("utf-8"))
    failed = [o for o in outcomes if o["status"] != "ok"]
    print(
        f"sweep: {len(outcomes) - len(failed)} of {len(outcomes)} variants ok; "
        f"summary {out / SUMMARY}, report {out / SUMMARY_REPORT}, plot {out / SUMMARY_PLOT}"
    )
    return 1 if failed else 0


def register(sub: Any) -> None:
    """Add the ``sweep`` sub-command to the top-level sub-parsers ``sub``."""
    p = sub.add_parser(
        "sweep", help="run scenario variants (parameter values x seeds) on a Dask cluster"
    )
    p.add_argument("scenario", type=Path, help="scenario TOML file")
    p.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="a scenario key (as for --set; quote dotted names: "
        "'sites.0.fmu.instance_parameters.\"solver.rtol\"=1e-6,1e-8') and its values "
        "(repeatable: the cartesian product runs)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=0,
        metavar="N",
        help="also run each combination with N seeds derived from the scenario's seed",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key in every variant (repeatable)",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="sweep folder (default results/<scenario>-sweep)"
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="address of the scheduler of an existing Dask cluster (default: a local cluster)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes of the local cluster (default: one per CPU)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_sweep)
