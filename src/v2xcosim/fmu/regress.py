"""Regression checks of any FMU against reference results: ``v2xcosim fmu regress``.

``check(fmu, ref_dir)`` opens the FMU safely (:func:`v2xcosim.fmu.archive.open_fmu`), reads and
validates the reference (:mod:`v2xcosim.fmu.reference`, FMI cross-check layout), runs the FMU
and compares every reference variable inside its tolerance tube (:mod:`v2xcosim.fmu.tube`).

The run is deterministic and independent of the reference's sampling: the FMU runs from
``StartTime`` to ``StopTime`` with the output (communication) interval ``StepSize`` from
``_ref.opt`` and ``RelTol`` as the solver tolerance (CVode for Model Exchange); input events add
communication points.  The comparison then interpolates linearly between the samples of either
signal.  Inputs from ``_in.csv`` are applied by fmpy (continuous Real inputs interpolated,
discrete ones held).

Real and Float32/64 variables are compared in a tolerance tube; integer, Boolean and
enumeration variables (FMI 2.0 Integer, FMI 3.0 Int8 ... UInt64) exactly, their reference and
input values parsed from text without a float round trip (see :mod:`v2xcosim.fmu.tube`).  String,
Binary, Clock and array variables are refused (exit 2) naming the compared types.

Bounds: the run's output points ``(StopTime - StartTime) / StepSize`` may not exceed
``max_points`` (:data:`MAX_OUTPUT_POINTS`, ``--max-points``), checked before the FMU is loaded;
the FMU runs in a child process stopped after ``timeout_s`` (:data:`DEFAULT_TIMEOUT_S`,
``--timeout-s``) of wall-clock time, so an FMU that hangs in any call (instantiation included)
or crashes the process ends with exit 2 naming the timeout or the crash.

A hash (FMU, model sources) or tool version different from the one recorded in the extension
file is reported as a note; the comparison alone decides the verdict.

Exit codes of the command: 0 every variable passes, 1 a variable fails, 2 an error.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import multiprocessing
import platform
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from v2xcosim import __version__
from v2xcosim.core.errors import ScenarioError, SimulationError
from v2xcosim.core.io import check_writable_dir
from v2xcosim.fmu.archive import OpenedFmu, open_fmu
from v2xcosim.fmu.reference import (
    FMI_TYPES,
    INTEGER_RANGES,
    Experiment,
    Reference,
    Table,
    exact_column,
    find_model,
    numpy_dtype,
    read_extension,
    read_opt,
    read_reference,
    read_table,
    ref_paths,
    validate_against_fmu,
    write_reference,
)
from v2xcosim.fmu.tube import FloatArray, TubeVerdict, compare, jump_segments, tube_at

__all__ = [
    "RegressionResult",
    "SimulationOutput",
    "VariableResult",
    "check",
    "register",
    "simulate",
    "sources_sha256",
    "tool_versions",
    "update_reference",
    "write_report",
]

DEFAULT_OUTPUT_POINTS = 500
"""Without ``_ref.opt``, ``--update`` samples ``(StopTime - StartTime) / 500``."""

DEFAULT_REL_TOL = 1e-6
"""Without ``_ref.opt`` and a default experiment tolerance, ``--update`` uses this RelTol."""

MAX_OUTPUT_POINTS = 1_000_000
"""Default bound on a run's output points (``--max-points``): 10**6 rows of 10 variables are
about 80 MB in memory (assumption: generous for cross-check references, which hold a few hundred
to a few thousand samples, while StepSize 1e-6 over an hour, 3.6e9 points, is refused)."""

DEFAULT_TIMEOUT_S = 600.0
"""Default wall-clock limit of one FMU run (``--timeout-s``), in seconds (assumption: the
project's reference runs take well under a second each)."""


@dataclass(frozen=True)
class VariableResult:
    """The verdict of one compared variable."""

    name: str
    verdict: TubeVerdict

    @property
    def passed(self) -> bool:
        """True if the variable stays inside its tube."""
        return self.verdict.passed


@dataclass(frozen=True)
class SimulationOutput:
    """The recorded result of one FMU run: time and one array per variable."""

    time: FloatArray
    values: dict[str, np.ndarray[Any, Any]]
    """One array per variable in the variable's own dtype (exact for integer types)."""


@dataclass
class RegressionResult:
    """The outcome of :func:`check`.

    Attributes:
        model: the reference's model name.
        fmu_path: the FMU that was run.
        fmu_sha256: its SHA-256.
        fmi_type: the interface that was run.
        variables: one result per compared variable, in reference order.
        notes: hash or tool-version differences against the recorded reference (informative).
        report_dir: where the report was written, if requested.

    """

    model: str
    fmu_path: Path
    fmu_sha256: str
    fmi_type: str
    variables: list[VariableResult]
    notes: list[str] = field(default_factory=list)
    report_dir: Path | None = None

    @property
    def passed(self) -> bool:
        """True if every variable passes."""
        return all(v.passed for v in self.variables)

    @property
    def failed(self) -> list[VariableResult]:
        """The failing variables."""
        return [v for v in self.variables if not v.passed]

    @property
    def exit_code(self) -> int:
        """0 if every variable passes, 1 otherwise."""
        return 0 if self.passed else 1

    def summary(self) -> str:
        """Return a human-readable multi-line summary."""
        lines = [f"FMU {self.fmu_path} ({self.fmi_type}) against reference {self.model!r}:"]
        width = max((len(v.name) for v in self.variables), default=1)
        for v in self.variables:
            d = v.verdict
            tag = "PASS" if d.passed else "FAIL"
            text = f"  {tag}  {v.name:<{width}}  max |deviation| {d.max_deviation:.6g} at t="
            text += f"{d.max_deviation_time:.6g}"
            if not d.passed:
                text += (
                    f"; first outside the tube at t={d.first_failure_time:.6g} "
                    f"({d.n_failed} of {d.n_points} points outside, up to {d.max_outside:.6g})"
                )
            lines.append(text)
        lines.extend(f"note: {n}" for n in self.notes)
        if self.report_dir is not None:
            lines.append(f"report: {self.report_dir}")
        n_fail = len(self.failed)
        lines.append(
            f"result: {'PASS' if self.passed else 'FAIL'} ({n_fail} of {len(self.variables)} "
            "variables outside their tolerance tube)"
        )
        return "\n".join(lines)


def tool_versions(opened: OpenedFmu | None = None) -> dict[str, str]:
    """Return the versions of the tools that produce and check a result."""
    import fmpy

    tools = {
        "python": platform.python_version(),
        "fmpy": str(fmpy.__version__),
        "numpy": np.__version__,
        "v2xcosim": __version__,
        "platform": f"{sys.platform}-{platform.machine()}",
    }
    if opened is not None:
        tools["fmu_generation_tool"] = str(opened.model_description.generationTool)
        tools["fmi_version"] = opened.fmi_version
    return tools


def sources_sha256(paths: Sequence[str | Path]) -> str:
    """Return one SHA-256 over model source files (name and content, sorted by name).

    Folders are walked recursively; the hash does not depend on the order of ``paths``.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(q for q in p.rglob("*") if q.is_file())
        elif p.is_file():
            files.append(p)
        else:
            raise ScenarioError(f"model source {p} not found. Check the --sources paths.")
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda q: q.as_posix()):
        digest.update(f.name.encode() + b"\0")
        digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()


def _choose_fmi_type(opened: OpenedFmu, requested: str | None) -> str:
    if requested is None:
        return opened.interfaces[0]
    if requested not in FMI_TYPES:
        raise ScenarioError(f"FMI type {requested!r}: use one of {', '.join(FMI_TYPES)}.")
    if requested not in opened.interfaces:
        raise ScenarioError(
            f"FMU {opened.path}: the {requested} interface is not available on this platform "
            f"(available: {', '.join(opened.interfaces)})."
        )
    return requested


def _input_array(opened: OpenedFmu, inputs: Reference | None) -> np.ndarray[Any, Any] | None:
    if inputs is None or inputs.inputs is None:
        return None
    table = inputs.inputs
    dtype: list[tuple[str, Any]] = [("time", np.float64)]
    for name in table.columns:
        dtype.append((name, numpy_dtype(str(opened.variables[name].type))))
    arr = np.zeros(table.time.size, dtype=dtype)
    arr["time"] = table.time
    for name, values in table.columns.items():
        kind = str(opened.variables[name].type)
        arr[name] = exact_column(table, name, kind) if kind in INTEGER_RANGES else values
    return arr


def _simulate_child(conn: Any, kwargs: dict[str, Any]) -> None:
    """Child process: run fmpy's simulate_fmu and send ``("ok", result)`` or ``("error", msg)``."""
    try:
        from fmpy import simulate_fmu

        result = simulate_fmu(**kwargs)
        conn.send(("ok", np.asarray(result)))
    except Exception as exc:  # fmpy raises bare Exception for every FMU failure
        conn.send(("error", str(exc).strip() or type(exc).__name__))
    finally:
        conn.close()


def _run_isolated(kwargs: dict[str, Any], timeout_s: float, what: str) -> Any:
    """Run ``simulate_fmu(**kwargs)`` in a child process stopped after ``timeout_s`` seconds.

    The child is started with ``spawn`` (no inherited threads or locks), so a hang or a crash in
    the FMU's C code cannot take the command with it.
    """
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_simulate_child, args=(sender, kwargs), daemon=True)
    proc.start()
    sender.close()
    try:
        if not receiver.poll(timeout_s):
            raise SimulationError(
                f"{what} did not finish within the timeout of {timeout_s:g} s (--timeout-s) and "
                "was stopped; an FMU call (instantiation, initialisation or a step) hangs or "
                "the run is too long. Fix the FMU or raise --timeout-s."
            )
        try:
            status, payload = receiver.recv()
        except (EOFError, OSError):
            proc.join(5.0)
            raise SimulationError(
                f"{what} crashed the process running it (exit code {proc.exitcode}); the FMU's "
                "binary is faulty. Fix or rebuild the FMU."
            ) from None
    finally:
        receiver.close()
        if proc.is_alive():
            proc.kill()
        proc.join()
    if status != "ok":
        raise SimulationError(
            f"{what} failed to run: {payload}. Check that the FMU's binary is built for this "
            "platform and runs with these inputs (fmpy simulate shows the FMU's log)."
        )
    return payload


def check_output_points(experiment: Experiment, max_points: int) -> None:
    """Refuse an experiment with more than ``max_points`` output points, before any run."""
    points = experiment.span / experiment.step_size + 1
    if points > max_points:
        raise ScenarioError(
            f"the experiment asks for {points:.4g} output points (StopTime - StartTime = "
            f"{experiment.span:g} s, StepSize = {experiment.step_size:g} s), more than the limit "
            f"of {max_points} (--max-points). Use a larger StepSize in _ref.opt or raise "
            "--max-points."
        )


def simulate(
    opened: OpenedFmu,
    experiment: Experiment,
    variables: Sequence[str],
    *,
    inputs: Reference | None = None,
    fmi_type: str | None = None,
    max_points: int = MAX_OUTPUT_POINTS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> SimulationOutput:
    """Run an opened FMU over ``experiment`` and record ``variables`` every ``StepSize``.

    The run happens in a child process stopped after ``timeout_s`` seconds; more than
    ``max_points`` output points are refused before it starts.

    Raises:
        ScenarioError: a variable name the FMU does not have (fmpy would ignore it silently),
            or too many output points.
        SimulationError: the FMU failed to load or run, crashed, or hit the timeout.

    """
    check_output_points(experiment, max_points)
    unknown = [n for n in variables if n not in opened.variables]
    if unknown:
        raise ScenarioError(
            f"FMU {opened.path} has no variable(s) {', '.join(map(repr, unknown))}. "
            "Check the names (they are case-sensitive)."
        )
    kind = _choose_fmi_type(opened, fmi_type)
    signals = _input_array(opened, inputs)
    kwargs: dict[str, Any] = {
        "filename": str(opened.unzipdir),
        "validate": True,
        "start_time": experiment.start_time,
        "stop_time": experiment.stop_time,
        "solver": "CVode",
        "step_size": experiment.step_size,
        "relative_tolerance": experiment.rel_tol,
        "output_interval": experiment.step_size,
        "record_events": True,
        "fmi_type": kind,
        "input": signals,
        "output": list(variables),
        "remote_platform": None,
        "timeout": None,
    }
    what = f"FMU {opened.path} ({kind}) from t={experiment.start_time} to t={experiment.stop_time}"
    result = _run_isolated(kwargs, timeout_s, what)
    time = np.asarray(result["time"], dtype=np.float64)
    values = {
        n: np.asarray(result[n])
        if opened.variables[n].type in INTEGER_RANGES
        else np.asarray(result[n], dtype=np.float64)
        for n in variables
    }
    if time.size == 0:
        raise SimulationError(f"FMU {opened.path} returned no samples. Check the experiment.")
    return SimulationOutput(time=time, values=values)


def _notes(reference: Reference, opened: OpenedFmu, sources_hash: str | None) -> list[str]:
    ext = reference.extension
    notes: list[str] = []
    if ext.fmu_sha256 and ext.fmu_sha256 != opened.sha256:
        notes.append(
            f"the FMU's sha256 {opened.sha256} differs from the recorded {ext.fmu_sha256} "
            "(the comparison decides the verdict)"
        )
    if sources_hash and ext.model_sources_sha256 and sources_hash != ext.model_sources_sha256:
        notes.append(
            f"the model sources' sha256 {sources_hash} differs from the recorded "
            f"{ext.model_sources_sha256} (the comparison decides the verdict)"
        )
    now = tool_versions(opened)
    changed = [
        f"{k} {ext.tools[k]} -> {now[k]}"
        for k in sorted(ext.tools)
        if k in now and ext.tools[k] != now[k]
    ]
    if changed:
        notes.append("tool versions differ from the recorded ones: " + ", ".join(changed))
    return notes


def check(
    fmu_path: str | Path,
    ref_dir: str | Path,
    model: str | None = None,
    report_dir: str | Path | None = None,
    *,
    fmi_type: str | None = None,
    model_sources: Sequence[str | Path] | None = None,
    max_points: int = MAX_OUTPUT_POINTS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> RegressionResult:
    """Run the FMU against the reference in ``ref_dir`` and compare every variable.

    Args:
        fmu_path: the FMU archive (FMI 2.0 or 3.0, Co-Simulation or Model Exchange).
        ref_dir: the reference folder (cross-check layout, see :mod:`v2xcosim.fmu.reference`).
        model: the reference's model name; default: the only one in ``ref_dir`` or the FMU's
            model name.
        report_dir: if given, write plots of failing variables and a summary table there.
        fmi_type: ``"CoSimulation"`` or ``"ModelExchange"``; default: the extension file's
            ``fmi_type``, else Co-Simulation if available.
        model_sources: model source files/folders to compare with the recorded hash.
        max_points: the bound on output points (see the module docstring).
        timeout_s: the wall-clock limit of the FMU run [s].

    Raises:
        ScenarioError: bad FMU archive, bad reference or arguments (exit code 2).
        SimulationError: the FMU failed to run, crashed or hit the timeout (exit code 2).

    """
    ref_root = Path(ref_dir)
    sources_hash = sources_sha256(model_sources) if model_sources else None
    with open_fmu(fmu_path) as opened:
        name = find_model(ref_root, model, (opened.model_name,))
        reference = read_reference(ref_root, name)
        check_output_points(reference.experiment, max_points)
        validate_against_fmu(reference, opened.variables)
        kind = _choose_fmi_type(opened, fmi_type or reference.extension.fmi_type)
        kinds = {n: str(opened.variables[n].type) for n in reference.variables}
        output = simulate(
            opened,
            reference.experiment,
            reference.variables,
            inputs=reference,
            fmi_type=kind,
            max_points=max_points,
            timeout_s=timeout_s,
        )
        notes = _notes(reference, opened, sources_hash)
        sha = opened.sha256
    results = []
    for n in reference.variables:
        discrete = kinds[n] in INTEGER_RANGES
        y_ref = (
            exact_column(reference.result, n, kinds[n]) if discrete else reference.result.columns[n]
        )
        results.append(
            VariableResult(
                n,
                compare(
                    reference.result.time,
                    y_ref,
                    output.time,
                    output.values[n],
                    reference.extension.tolerance_for(n),
                    reference.experiment.span,
                    discrete=discrete,
                ),
            )
        )
    result = RegressionResult(name, Path(fmu_path), sha, kind, results, notes)
    if report_dir is not None:
        write_report(result, reference, output, Path(report_dir))
        result.report_dir = Path(report_dir)
    return result


def _default_experiment(opened: OpenedFmu) -> Experiment:
    exp = opened.model_description.defaultExperiment
    start = float(exp.startTime) if exp is not None and exp.startTime is not None else 0.0
    stop = float(exp.stopTime) if exp is not None and exp.stopTime is not None else start + 1.0
    step = (
        float(exp.stepSize)
        if exp is not None and exp.stepSize is not None
        else (stop - start) / DEFAULT_OUTPUT_POINTS
    )
    tol = float(exp.tolerance) if exp is not None and exp.tolerance is not None else None
    return Experiment(start, stop, step, tol if tol else DEFAULT_REL_TOL)


def update_reference(
    fmu_path: str | Path,
    ref_dir: str | Path,
    reason: str,
    *,
    model: str | None = None,
    variables: Sequence[str] | None = None,
    fmi_type: str | None = None,
    model_sources: Sequence[str | Path] | None = None,
    max_points: int = MAX_OUTPUT_POINTS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Regenerate the reference of ``model`` in ``ref_dir`` by running the FMU.

    The experiment comes from an existing ``_ref.opt`` (else the FMU's default experiment with
    ``StepSize = (StopTime - StartTime) / 500`` if it has none); the variables from ``variables``,
    else the existing ``_ref.csv``'s columns, else the FMU's outputs.  An existing ``_in.csv``
    is applied and kept.  The extension file keeps its tolerances and gets the new hashes, tool
    versions and a history entry with ``reason`` and the UTC date.  The new reference is
    validated (names exist, increasing time, no NaN) before anything is written.

    Returns:
        the path of the written ``<Model>_ref.csv``.

    """
    if not reason or not reason.strip():
        raise ScenarioError('--update needs --reason "..." saying why the reference changes.')
    ref_root = Path(ref_dir)
    ref_root.mkdir(parents=True, exist_ok=True)
    sources_hash = sources_sha256(model_sources) if model_sources else None
    with open_fmu(fmu_path) as opened:
        found = sorted(p.name[: -len("_ref.csv")] for p in ref_root.glob("*_ref.csv"))
        name = model or (found[0] if len(found) == 1 else opened.model_name)
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
            raise ScenarioError(f"model name {name!r}: use letters, digits, '_', '.', '+', '-'.")
        paths = ref_paths(ref_root, name)
        experiment = (
            read_opt(paths["opt"]) if paths["opt"].exists() else _default_experiment(opened)
        )
        extension = read_extension(paths["ext"])
        if variables:
            names = list(variables)
        elif paths["ref"].exists():
            names = list(read_table(paths["ref"]).columns)
        else:
            names = [
                v.name for v in opened.model_description.modelVariables if v.causality == "output"
            ]
        if not names:
            raise ScenarioError(
                f"FMU {opened.path} has no outputs; name the variables to record with --variables."
            )
        inputs = read_table(paths["in"]) if paths["in"].exists() else None
        # the new reference's names and range, validated before the run
        span = np.array([experiment.start_time, experiment.stop_time])
        planned = Table(paths["ref"], span, {n: np.zeros(2) for n in names})
        probe = Reference(name, ref_root, experiment, planned, inputs, extension)
        validate_against_fmu(probe, opened.variables)
        kind = _choose_fmi_type(opened, fmi_type or extension.fmi_type)
        output = simulate(
            opened,
            experiment,
            names,
            inputs=probe,
            fmi_type=kind,
            max_points=max_points,
            timeout_s=timeout_s,
        )
        bad = [
            n
            for n, v in output.values.items()
            if v.dtype.kind == "f" and not np.all(np.isfinite(v))
        ]
        if bad:
            raise SimulationError(
                f"FMU {opened.path} produced NaN/inf for {', '.join(bad)}; a reference must be "
                "finite. Fix the model or the experiment; nothing was written."
            )
        if np.any(np.diff(output.time) < 0):
            raise SimulationError(f"FMU {opened.path} returned decreasing times; nothing written.")
        tools = tool_versions(opened)
        extension = replace(
            extension,
            fmi_type=kind,
            fmu_sha256=opened.sha256,
            model_sources_sha256=sources_hash or extension.model_sources_sha256,
            tools=tools,
            history=[
                *extension.history,
                {
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "reason": reason.strip(),
                    "fmu_sha256": opened.sha256,
                    "model_sources_sha256": sources_hash,
                    "tools": tools,
                },
            ],
        )
    write_reference(ref_root, name, experiment, output.time, output.values, extension)
    return paths["ref"]


def _safe_file_name(name: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "variable"
    candidate = base
    i = 2
    while candidate.lower() in used:
        candidate = f"{base}_{i}"
        i += 1
    used.add(candidate.lower())
    return candidate


def write_report(
    result: RegressionResult, reference: Reference, output: SimulationOutput, report_dir: Path
) -> None:
    """Write ``summary.csv``, ``summary.md`` and a PNG per failing variable to ``report_dir``.

    Each plot shows the reference, the tolerance tube and the actual signal, with the first
    time outside the tube marked.  Uses the Agg canvas directly (no global backend change).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    report_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    plots: dict[str, str] = {}
    exp = reference.experiment
    for v in result.failed:
        t_ref = reference.result.time
        y_ref = reference.result.columns[v.name]
        d = v.verdict
        inside = (output.time >= t_ref[0]) & (output.time <= t_ref[-1])
        grid = np.union1d(t_ref, output.time[inside])
        half = np.maximum(d.abs_tol, d.rel_tol * np.abs(y_ref))
        discrete = output.values[v.name].dtype.kind != "f"
        jumps = jump_segments(t_ref, y_ref, half, discrete=discrete)
        tube = tube_at(t_ref, y_ref, grid, d.abs_tol, d.rel_tol, d.time_tol, jumps)
        fig = Figure(figsize=(8, 4.5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.fill_between(
            grid, tube.lower, tube.upper, color="tab:green", alpha=0.25, label="tolerance tube"
        )
        ax.plot(t_ref, y_ref, color="tab:green", label="reference")
        ax.plot(
            output.time,
            output.values[v.name].astype(np.float64),
            color="tab:red",
            linestyle="--",
            label="actual",
        )
        if d.first_failure_time is not None:
            ax.axvline(
                d.first_failure_time,
                color="k",
                linewidth=0.8,
                label=f"first outside t={d.first_failure_time:.6g}",
            )
        ax.set_xlabel("time [s]")
        ax.set_ylabel(v.name)
        ax.set_title(f"{result.model}: {v.name} (FAIL)")
        ax.set_xlim(exp.start_time, exp.stop_time)
        ax.legend(loc="best")
        fig.tight_layout()
        file = _safe_file_name(v.name, used) + ".png"
        fig.savefig(report_dir / file, dpi=100)
        plots[v.name] = file
    header = [
        "variable",
        "verdict",
        "first_failure_time",
        "max_deviation",
        "max_deviation_time",
        "max_outside",
        "points_outside",
        "points",
        "abs_tol",
        "rel_tol",
        "time_tol",
        "plot",
    ]
    rows = []
    for v in result.variables:
        d = v.verdict
        rows.append(
            [
                v.name,
                "pass" if d.passed else "fail",
                "" if d.first_failure_time is None else repr(d.first_failure_time),
                repr(d.max_deviation),
                repr(d.max_deviation_time),
                repr(d.max_outside),
                str(d.n_failed),
                str(d.n_points),
                repr(d.abs_tol),
                repr(d.rel_tol),
                repr(d.time_tol),
                plots.get(v.name, ""),
            ]
        )
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    (report_dir / "summary.csv").write_text(buf.getvalue(), encoding="utf-8")
    md = [
        f"# Regression check: {result.model}",
        "",
        f"- FMU: `{result.fmu_path}` ({result.fmi_type}), sha256 `{result.fmu_sha256}`",
        f"- verdict: **{'PASS' if result.passed else 'FAIL'}** "
        f"({len(result.failed)} of {len(result.variables)} variables fail)",
        *[f"- note: {n}" for n in result.notes],
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *[
            "| "
            + " | ".join(
                c if i != len(header) - 1 or not c else f"![{r[0]}]({c})" for i, c in enumerate(r)
            )
            + " |"
            for r in rows
        ],
        "",
    ]
    (report_dir / "summary.md").write_text("\n".join(md), encoding="utf-8")


def _handle(args: argparse.Namespace) -> int:
    fmi_type = {"cs": "CoSimulation", "me": "ModelExchange", None: None}[args.fmi_type]
    sources = args.sources or None
    if args.update:
        if args.report is not None:
            raise ScenarioError("--report cannot be combined with --update.")
        check_writable_dir(args.ref_dir, "REF_DIR (written by --update)")
        variables = [v.strip() for v in args.variables.split(",")] if args.variables else None
        path = update_reference(
            args.fmu,
            args.ref_dir,
            args.reason or "",
            model=args.model,
            variables=variables,
            fmi_type=fmi_type,
            model_sources=sources,
            max_points=args.max_points,
            timeout_s=args.timeout_s,
        )
        print(f"reference written: {path}")
        return 0
    if args.reason is not None or args.variables is not None:
        raise ScenarioError("--reason and --variables are only used with --update.")
    if args.report is not None:
        check_writable_dir(args.report, "--report")
    result = check(
        args.fmu,
        args.ref_dir,
        args.model,
        args.report,
        fmi_type=fmi_type,
        model_sources=sources,
        max_points=args.max_points,
        timeout_s=args.timeout_s,
    )
    print(result.summary())
    return result.exit_code


def register(fmu_sub: Any) -> None:
    """Add the ``regress`` sub-command to the ``fmu`` command group."""
    parser = fmu_sub.add_parser(
        "regress",
        help="run an FMU and compare its outputs with reference results",
        description=(
            "Run FMU with the inputs of REF_DIR (FMI cross-check layout: <Model>_in.csv, "
            "<Model>_ref.csv, <Model>_ref.opt, optional <Model>_ref.v2x.json) and compare the "
            "results in tolerance tubes. Exit code 0: all pass, 1: a variable fails, 2: error."
        ),
    )
    parser.add_argument("fmu", type=Path, help="the FMU file")
    parser.add_argument("ref_dir", type=Path, help="the reference folder")
    parser.add_argument("--model", help="the model name of the reference (default: detected)")
    parser.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="write plots of failing variables and a summary table to DIR",
    )
    parser.add_argument(
        "--fmi-type",
        choices=("cs", "me"),
        help="interface to run (default: recorded, else Co-Simulation)",
    )
    parser.add_argument(
        "--sources",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="model sources to hash and compare with (or record in) the reference",
    )
    parser.add_argument(
        "--update", action="store_true", help="regenerate the reference instead of checking it"
    )
    parser.add_argument("--reason", help="why the reference is regenerated (with --update)")
    parser.add_argument("--variables", help="comma-separated variables to record (with --update)")
    parser.add_argument(
        "--max-points",
        type=_positive_int,
        default=MAX_OUTPUT_POINTS,
        metavar="N",
        help=f"refuse runs with more output points (default {MAX_OUTPUT_POINTS})",
    )
    parser.add_argument(
        "--timeout-s",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"stop an FMU run after S seconds of wall-clock time (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.set_defaults(handler=_handle)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number > 0")
    return value
