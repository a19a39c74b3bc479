"""``v2xcosim validate SCENARIO``, ``v2xcosim run SCENARIO [--out DIR] [--set k=v ...]``, ``serve``.

Exit codes: 0 ok; 1 the run completed but a flagged check failed; 2 bad input, crash, hang or
abort.  ``--set dotted.key=value`` overrides any scenario key (value parsed as TOML; list items
by index: ``--set sites.0.n_evs=20``; a key part holding dots is quoted, as in TOML:
``--set 'sites.0.fmu.instance_parameters."solver.rtol"=1e-7'``).  ``--out`` defaults to
``results/<scenario>-<UTC time>`` and must not be an existing non-empty folder; the run holds
its lock (``.v2xcosim.lock``) while it runs, so a second run into it is refused naming the first
(:mod:`v2xcosim.core.runlock`).  ``v2xcosim run --resume OUT`` restarts a run that died into
its own folder: the incomplete run's files are removed and the scenario and overrides it
recorded (``OUT/.v2xcosim-run.json``) run again; a folder holding a completed run, or one a live
run holds, is refused.  ``v2xcosim serve SIMULATOR --addr HOST:PORT`` runs one simulator for a
run whose scenario places it there (:mod:`v2xcosim.cosim.placement`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import re
import sys
from pathlib import Path
from typing import Any

from v2xcosim.core.errors import ScenarioError


def _add_common(p: argparse.ArgumentParser, *, optional: bool = False) -> None:
    if optional:
        p.add_argument("scenario", type=Path, nargs="?", default=None, help="scenario TOML file")
    else:
        p.add_argument("scenario", type=Path, help="scenario TOML file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key, e.g. --set time.step_s=60; quote a dotted name: "
        "'sites.0.fmu.instance_parameters.\"solver.rtol\"=1e-7' (repeatable)",
    )


def register(sub: Any) -> None:
    """Add the ``validate`` and ``run`` sub-commands to the top-level sub-parsers ``sub``."""
    val = sub.add_parser("validate", help="check a scenario file and its FMUs; report all problems")
    _add_common(val)
    val.set_defaults(handler=cmd_validate)
    run = sub.add_parser("run", help="run a scenario co-simulation")
    _add_common(run, optional=True)
    run.add_argument(
        "--out", type=Path, default=None, help="run folder (default results/<scenario>-<UTC time>)"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="OUT",
        help="restart the run that died in folder OUT (its scenario and overrides, same "
        "folder; the incomplete files are removed); refused for a completed run",
    )
    run.add_argument(
        "--compare",
        metavar="STRATEGY",
        default=None,
        help="use cases with strategies: also run with --set control.strategy=STRATEGY (a "
        "built-in name or a module:Class of your own) into <out>-STRATEGY and print a KPI "
        "comparison table",
    )
    run.add_argument(
        "--profile",
        action="store_true",
        help="print the split of the wall time into FMU steps, grid solve and framework "
        "(mosaik, actors, store, I/O), timed around the simulators' calls, and write it into "
        "the run folder (profile.json)",
    )
    run.set_defaults(handler=cmd_run)
    _register_serve(sub)


def _register_serve(sub: Any) -> None:
    from v2xcosim.cosim.placement import CONNECT_TIMEOUT_S, LOCAL_ONLY, SIMULATORS

    serve = sub.add_parser(
        "serve",
        help="run one simulator for a run on another machine or process (mosaik connect)",
        description="Listen on HOST:PORT for one run whose scenario says "
        'placement.SIMULATOR = "HOST:PORT", serve it, and exit when the run ends.',
    )
    servable = [name for name in SIMULATORS if name not in LOCAL_ONLY]
    serve.add_argument("simulator", choices=servable, help="the simulator to serve")
    serve.add_argument(
        "--addr",
        required=True,
        metavar="HOST:PORT",
        help="address to listen on, e.g. 127.0.0.1:5678 or 0.0.0.0:5678 (port 0: a free one)",
    )
    serve.add_argument(
        "--timeout",
        type=float,
        default=float(CONNECT_TIMEOUT_S),
        metavar="S",
        help=f"seconds to wait for the run to connect (default {CONNECT_TIMEOUT_S})",
    )
    serve.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve one simulator on ``--addr`` for one run (``v2xcosim serve``).

    Prints ``serving SIMULATOR on HOST:PORT`` once it listens (the port it got when 0 was
    asked for) and ``a run connected from HOST:PORT`` when the run has connected; exit 0 when
    the run has ended, 2 for a bad address, a port it cannot bind or
    no run within ``--timeout``.
    """
    from v2xcosim.cosim.placement import parse_address, serve

    addr = str(args.addr)
    try:
        host, port = parse_address(addr, any_port=True)
    except ValueError as exc:
        raise ScenarioError(f"serve --addr: {exc}") from None
    if not args.timeout > 0:
        raise ScenarioError(f"serve --timeout: {args.timeout:g} is not a positive duration [s]")

    def listening(bound_host: str, bound_port: int) -> None:
        print(f"serving {args.simulator} on {bound_host}:{bound_port}", flush=True)

    def connected(peer: str) -> None:
        print(f"a run connected from {peer}", flush=True)

    try:
        serve(
            args.simulator,
            host,
            port,
            timeout_s=args.timeout,
            on_listen=listening,
            on_connect=connected,
        )
    except OSError as exc:
        raise ScenarioError(
            f"serve --addr {addr}: cannot listen there ({exc}); choose another port or host"
        ) from None
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate the scenario (keys, references, files, FMU variable names).

    The FMUs are built, loaded and checked in a child process bounded by
    ``runner.startup_timeout_s`` (:func:`v2xcosim.runner.preflight_watched`): an FMU that hangs
    while it is instantiated stops ``validate`` with exit 2 naming the limit.
    """
    from v2xcosim import usecases
    from v2xcosim.runner import preflight_watched
    from v2xcosim.scenario import load_scenario

    spec = load_scenario(args.scenario, args.overrides)
    preflight_watched(args.scenario, args.overrides, timeout_s=spec.runner.startup_timeout_s)
    case = usecases.get(spec.use_case)
    print(
        f"{args.scenario}: ok — use case {spec.use_case}, {spec.time.n_steps} steps of "
        f"{spec.time.step_s} s, {case.describe(spec)}"
    )
    return 0


def _compare_overrides(case: Any, spec: Any, args: argparse.Namespace) -> list[str]:
    """Return the ``--compare`` run's overrides, checked before the first run starts."""
    from v2xcosim.scenario import load_scenario

    if not case.strategies:
        raise ScenarioError(
            f"--compare {args.compare}: use case {spec.use_case!r} has no strategies to compare"
        )
    overrides = [*args.overrides, f"control.strategy={args.compare}"]
    try:
        load_scenario(args.scenario, overrides)  # the reference run's scenario is valid too
    except ScenarioError as exc:
        if args.compare in case.strategies:
            raise
        raise ScenarioError(
            f"--compare {args.compare!r}: not a strategy of use case {spec.use_case!r}; "
            f"choose one of {', '.join(case.strategies)} or a strategy of your own that "
            f"control.strategy accepts:\n{exc}"
        ) from None
    return overrides


def _folder_suffix(strategy: str) -> str:
    """Return ``strategy`` as a folder-name suffix (``module:Class`` -> ``module_Class``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", strategy)


def _compare_out(out: Path, strategy: str) -> Path:
    """Return the ``--compare`` run's folder beside ``out``: ``<out>-STRATEGY``."""
    return out.with_name(f"{out.name}-{_folder_suffix(strategy)}")


def _completed(out: Path) -> str | None:
    """Why ``out`` holds a completed run (a ``metadata.json``), or None: what --resume keeps."""
    from v2xcosim.report.results import METADATA, verify_run_folder

    if not (out / METADATA).exists():
        return None
    problems = verify_run_folder(out)
    if not problems:
        return "the folder holds a completed run whose metadata.json verifies"
    return (
        f"the folder holds a metadata.json that does not verify ({problems[0]}); it was changed "
        "after the run completed — inspect it, or run again into another --out"
    )


def cmd_resume(args: argparse.Namespace) -> int:
    """Restart the run that died in ``args.resume`` into the same folder."""
    from v2xcosim import usecases
    from v2xcosim.core.runlock import read_request, reclaim_run_folder
    from v2xcosim.runner import run_watched_spec
    from v2xcosim.scenario import load_scenario

    out: Path = args.resume
    if args.scenario is not None or args.overrides or args.out is not None or args.compare:
        raise ScenarioError(
            "--resume OUT takes the scenario and --set overrides recorded in OUT; give no "
            "SCENARIO, --set, --out or --compare with it"
        )
    if not out.is_dir():
        raise ScenarioError(f"--resume {out}: no such folder; give the folder of a run")
    scenario, overrides = read_request(out)
    spec = load_scenario(scenario, overrides)  # still valid? (refused before removing anything)
    case = usecases.get(spec.use_case)
    with reclaim_run_folder(out, _completed):
        print(f"resuming {out}: a clean restart of {scenario} (the incomplete files removed)")
        outcome = run_watched_spec(
            spec, scenario, overrides, out, progress=not args.no_progress and sys.stderr.isatty()
        )
    print(case.summary(outcome.kpis))
    print(f"results: {out} ({outcome.wall_s:.1f} s)")
    return outcome.exit_code


def _profile_text(split: dict[str, Any]) -> str:
    """Return the ``--profile`` printout: the table and the framework's share in %."""
    from v2xcosim.core.timers import profile_table

    share = 100.0 * float(split["framework_share"])
    return (
        "profile (timers around the simulators' step calls; framework = the rest of the wall "
        f"time):\n{profile_table(split)}\nframework share: {share:.1f} %"
    )


def cmd_run(args: argparse.Namespace) -> int:
    """Validate, then run in a watched child process; print the KPI summary."""
    from v2xcosim import usecases
    from v2xcosim.core.io import check_writable_dir
    from v2xcosim.core.runlock import claim_run_folder, write_request
    from v2xcosim.report.compare import comparison_table
    from v2xcosim.runner import run_watched_spec
    from v2xcosim.scenario import load_scenario

    if args.resume is not None:
        return cmd_resume(args)
    if args.scenario is None:
        raise ScenarioError("run: give a SCENARIO file (or --resume OUT for a run that died)")
    spec = load_scenario(args.scenario, args.overrides)
    case = usecases.get(spec.use_case)
    ref_overrides = None if args.compare is None else _compare_overrides(case, spec, args)
    out = args.out
    if out is None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        out = Path("results") / f"{spec.name}-{stamp}"
    ref_out = None if args.compare is None else _compare_out(out, args.compare)
    for folder in (out, ref_out):  # both runs' folders, before any work is done
        if folder is not None:
            check_writable_dir(folder, "--out")
    # The FMUs are built, loaded and checked (preflight) by the watched child, first thing:
    # loading or instantiating an FMU can hang, and only the watchdog can stop that.  A run
    # that fails there leaves nothing: the folder it created is removed again.
    watch = functools.partial(
        run_watched_spec,
        spec,
        progress=not args.no_progress and sys.stderr.isatty(),
        profile=bool(getattr(args, "profile", False)),
    )
    with claim_run_folder(out):
        write_request(out, args.scenario, args.overrides)
        outcome = watch(args.scenario, args.overrides, out)
    print(case.summary(outcome.kpis))
    if getattr(args, "profile", False) and outcome.profile is not None:
        print(_profile_text(outcome.profile))
    print(f"results: {out} ({outcome.wall_s:.1f} s)")
    if ref_overrides is None or ref_out is None:
        return outcome.exit_code
    with claim_run_folder(ref_out):
        write_request(ref_out, args.scenario, ref_overrides)
        ref = watch(args.scenario, ref_overrides, ref_out)
    strategy = outcome.kpis.get("strategy", "run")
    print(f"\ncomparison ({args.compare} → {strategy}):")
    print(comparison_table({args.compare: ref.kpis, str(strategy): outcome.kpis}, case.kpi_keys))
    print(f"results: {ref_out} ({ref.wall_s:.1f} s)")
    return max(outcome.exit_code, ref.exit_code)
