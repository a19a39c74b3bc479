"""``v2xcosim validate SCENARIO`` and ``v2xcosim run SCENARIO [--out DIR] [--set k=v ...]``.

Exit codes: 0 ok; 1 the run completed but a flagged check failed; 2 bad input, crash, hang or
abort.  ``--set dotted.key=value`` overrides any scenario key (value parsed as TOML; list items
by index: ``--set sites.0.n_evs=20``).  ``--out`` defaults to ``results/<scenario>-<UTC time>``
and must not be an existing non-empty folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from v2xcosim.core.errors import ScenarioError


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", type=Path, help="scenario TOML file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key, e.g. --set time.step_s=60 (repeatable)",
    )


def register(sub: Any) -> None:
    """Add the ``validate`` and ``run`` sub-commands to the top-level sub-parsers ``sub``."""
    val = sub.add_parser("validate", help="check a scenario file and its FMUs; report all problems")
    _add_common(val)
    val.set_defaults(handler=cmd_validate)
    run = sub.add_parser("run", help="run a scenario co-simulation")
    _add_common(run)
    run.add_argument(
        "--out", type=Path, default=None, help="run folder (default results/<scenario>-<UTC time>)"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--compare",
        metavar="STRATEGY",
        choices=["uncontrolled", "smart", "v2g"],
        default=None,
        help="Terni scenarios: also run with --set control.strategy=STRATEGY into <out>-STRATEGY "
        "and print a KPI comparison table",
    )
    run.set_defaults(handler=cmd_run)


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate the scenario (keys, references, files, FMU variable names)."""
    from v2xcosim.config import load_scenario
    from v2xcosim.scenario import preflight

    spec = load_scenario(args.scenario, args.overrides)
    preflight(spec)
    sites = len(spec.active_sites)
    print(
        f"{args.scenario}: ok — {spec.time.n_steps} steps of {spec.time.step_s} s, "
        f"{sites} site(s), {sum(s.n_evs for s in spec.active_sites)} EV(s)"
        + (" [base case: no EVs]" if spec.base_case else "")
    )
    return 0


def _summary(kpis: dict[str, Any]) -> str:
    lines = [
        "KPIs:",
        f"  substation import {kpis['energy_import_kwh']:.1f} kWh, export "
        f"{kpis['energy_export_kwh']:.1f} kWh, peak import {kpis['peak_import_kw']:.1f} kW, "
        f"peak reverse flow {kpis['peak_reverse_flow_kw']:.1f} kW",
        f"  voltage {kpis['vm_min_pu']:.4f}–{kpis['vm_max_pu']:.4f} pu "
        f"({kpis['voltage_violations']} violations), line loading max "
        f"{kpis['line_loading_max_percent']:.1f} %, trafo max "
        f"{kpis['trafo_loading_max_percent']:.1f} %, losses {kpis['losses_kwh']:.1f} kWh",
        f"  non-converged steps {kpis['nonconverged_steps']}",
    ]
    for sid, s in kpis.get("sites", {}).items():
        lines.append(
            f"  site {sid}: {s['evs']} EVs, {s['sessions']} sessions "
            f"({s['sessions_reaching_target']} reached target), {s['ev_energy_ac_kwh']:.1f} kWh "
            f"charged, peak {s['ev_peak_kw']:.1f} kW"
        )
    failed = [n for n, c in kpis.get("checks", {}).items() if c["flagged"] and not c["passed"]]
    lines.append(
        "  checks: "
        + ("all flagged checks passed" if not failed else "FAILED: " + ", ".join(failed))
    )
    return "\n".join(lines)


def _terni_summary(kpis: dict[str, Any]) -> str:
    from v2xcosim.usecases.terni.world import comparison_table

    return f"KPIs (strategy {kpis.get('strategy')}):\n" + comparison_table({"run": kpis})


def cmd_run(args: argparse.Namespace) -> int:
    """Validate, then run in a watched child process; print the KPI summary."""
    from v2xcosim.config import load_scenario
    from v2xcosim.report.results import prepare_out_dir
    from v2xcosim.runner import run_watched
    from v2xcosim.scenario import preflight

    spec = load_scenario(args.scenario, args.overrides)
    preflight(spec)  # FMU names checked (and FMUs built) before anything is written
    out = args.out
    if out is None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        out = Path("results") / f"{spec.name}-{stamp}"
    prepare_out_dir(out)
    outcome = run_watched(
        args.scenario,
        args.overrides,
        out,
        startup_timeout_s=spec.runner.startup_timeout_s,
        stall_timeout_s=spec.runner.stall_timeout_s,
        n_steps=spec.time.n_steps,
        step_s=spec.time.step_s,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    terni = outcome.kpis.get("use_case") == "terni"
    print(_terni_summary(outcome.kpis) if terni else _summary(outcome.kpis))
    print(f"results: {out} ({outcome.wall_s:.1f} s)")
    if args.compare is None:
        return outcome.exit_code
    if not terni:
        raise ScenarioError("--compare needs a Terni scenario (grid.network = 'terni')")
    ref_out = out.with_name(f"{out.name}-{args.compare}")
    prepare_out_dir(ref_out)
    ref = run_watched(
        args.scenario,
        [*args.overrides, f"control.strategy={args.compare}"],
        ref_out,
        startup_timeout_s=spec.runner.startup_timeout_s,
        stall_timeout_s=spec.runner.stall_timeout_s,
        n_steps=spec.time.n_steps,
        step_s=spec.time.step_s,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    from v2xcosim.usecases.terni.world import comparison_table

    print(f"\ncomparison ({args.compare} → {spec.control.strategy}):")
    print(comparison_table({args.compare: ref.kpis, spec.control.strategy: outcome.kpis}))
    print(f"results: {ref_out} ({ref.wall_s:.1f} s)")
    return max(outcome.exit_code, ref.exit_code)
