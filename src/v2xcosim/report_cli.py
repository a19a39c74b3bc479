"""``v2xcosim report RUN_DIR [--baseline RUN_DIR] [--out FILE] [--session ID]``.

Writes one self-contained HTML file (default ``RUN_DIR/report.html``, atomically): the
scenario and its assumptions, the KPI table (the baseline side by side with the deltas when
``--baseline`` is given), the grid, the EVs and charging sites, the use case's own sections
(``UseCase.report_sections``), the sequence chart of one session's trace and the EMSA/SGAM
plane (:mod:`v2xcosim.report.html`).  Feeders come from the voltage study's layout
(:mod:`v2xcosim.studies.voltage`, :func:`v2xcosim.grid.studies.voltage.feeder_layout`).

Exit 0, or 2 when RUN_DIR (or the baseline) is missing, not a run folder or incomplete.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from v2xcosim.core.errors import ScenarioError


def register(sub: Any) -> None:
    """Add the ``report`` command."""
    p = sub.add_parser(
        "report",
        help="write one self-contained HTML report of a completed run",
        description=(
            "One HTML file of a completed run, readable offline: scenario and assumptions, "
            "KPIs (against a baseline run with --baseline), substation power, voltage per "
            "feeder, loadings, EVs, charging sites, the use case's own panels, one session's "
            "sequence of messages and the EMSA/SGAM plane of the use case."
        ),
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a completed run folder")
    p.add_argument(
        "--baseline",
        type=Path,
        metavar="RUN_DIR",
        default=None,
        help="a run of the same scenario to compare with (e.g. the --compare run)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        default=None,
        help="HTML file (default RUN_DIR/report.html)",
    )
    p.add_argument(
        "--session",
        default=None,
        metavar="ID",
        help="session of the sequence chart (default: the first with the most distinct steps)",
    )
    p.set_defaults(handler=cmd_report)


def _inside(path: Path, folder: Path) -> str | None:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return None


def bus_feeders(run_dir: Path) -> dict[str, str]:
    """Bus name -> ``substation / feeder`` of the run's network (the voltage study's layout)."""
    from v2xcosim.grid.networks import NETWORK_JSON
    from v2xcosim.grid.studies.voltage import feeder_layout
    from v2xcosim.studies.inputs import load_network

    path = run_dir / NETWORK_JSON
    if not path.is_file():
        return {}
    layout = feeder_layout(load_network(path).net)
    out: dict[str, str] = {}
    for bus, row in layout.buses.iterrows():
        feeder = str(row.get("feeder") or "")
        sub = str(row.get("substation") or "")
        if feeder:
            out[str(bus)] = f"{sub} / {feeder}" if sub else feeder
    return out


def build_report(
    run_dir: Path,
    *,
    baseline_dir: Path | None = None,
    out: Path | None = None,
    session: str | None = None,
) -> Path:
    """Write the report of ``run_dir`` (and its baseline) and return its path."""
    from v2xcosim import usecases
    from v2xcosim.core.io import check_writable_dir
    from v2xcosim.report import html as rh

    target = out if out is not None else run_dir / rh.REPORT_NAME
    if target.exists() and target.is_dir():
        raise ScenarioError(f"--out {target}: is a folder; give a file name such as report.html")
    check_writable_dir(target.parent, "--out")
    own = _inside(target, run_dir)
    run = rh.read_view(run_dir, ignore=[own] if own else [])
    baseline = None
    if baseline_dir is not None:
        inside = _inside(target, baseline_dir)
        baseline = rh.read_view(baseline_dir, ignore=[inside] if inside else [])
        if baseline.use_case != run.use_case:
            raise ScenarioError(
                f"--baseline {baseline_dir}: a {baseline.use_case} run, but {run_dir} is a "
                f"{run.use_case} run; compare runs of the same use case"
            )
    case = usecases.get(run.use_case)
    try:
        import json

        spec = case.schema.model_validate_json(json.dumps(dict(run.scenario), default=str))
        describe = case.describe(spec)
    except ValueError:  # a scenario an older version recorded: the summary goes without it
        describe = ""
    sections = rh.generic_sections(
        run,
        baseline,
        kpi_keys=case.kpi_keys,
        describe=describe,
        bus_feeder=bus_feeders(run_dir),
    )
    sections += rh.trace_sections(
        run, session=session, places=case.sgam_places, steps=case.trace_steps
    )
    merged = rh.merge_sections(sections, case.report_sections(run, baseline))
    title = f"v2xcosim report: {run.label}"
    sub = f"use case {run.use_case}" + (f"; baseline {baseline.label}" if baseline else "")
    return rh.write_report(target, rh.render(title, merged, subtitle=sub))


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report; print its path."""
    path = build_report(
        args.run_dir, baseline_dir=args.baseline, out=args.out, session=args.session
    )
    print(f"report: {path}")
    return 0
