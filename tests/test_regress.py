"""Tests of ``v2xcosim fmu regress`` (tube, reference files, runs, update, report, CLI)."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import math
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v2xcosim.core.errors import ScenarioError, V2XError
from v2xcosim.fmu import regress
from v2xcosim.fmu.tube import Tolerance, compare


def _load_testkit() -> types.ModuleType:
    path = Path(__file__).parent / "fmus" / "testkit.py"
    spec = importlib.util.spec_from_file_location("v2x_fmu_testkit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("v2x_fmu_testkit", module)
    spec.loader.exec_module(module)
    return module


testkit = _load_testkit()


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Run ``v2xcosim fmu regress ...`` like cli.main does; return (code, stdout, stderr)."""
    parser = argparse.ArgumentParser(prog="v2xcosim")
    sub = parser.add_subparsers(dest="command", required=True)
    fmu_sub = sub.add_parser("fmu").add_subparsers(dest="fmu_command", required=True)
    regress.register(fmu_sub)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            args = parser.parse_args(["fmu", "regress", *argv])
            code = args.handler(args)
        except SystemExit as exc:
            code = int(exc.code) if isinstance(exc.code, int) else 2
        except V2XError as exc:
            print(f"v2xcosim: error: {exc}", file=sys.stderr)
            code = exc.exit_code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def fmus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("fmus")
    return {name: testkit.build_fmu(name, out) for name in testkit.FMUS}


@pytest.fixture
def lag_ref(tmp_path: Path) -> Path:
    ref = tmp_path / "lag_ref"
    testkit.write_lag_reference(ref)
    return ref


@pytest.fixture
def osc_ref(tmp_path: Path) -> Path:
    ref = tmp_path / "osc_ref"
    testkit.write_oscillator_reference(ref)
    return ref


# ------------------------------------------------------------------------- tube


def test_tube_identical_passes() -> None:
    t = np.linspace(0, 1, 11)
    v = compare(t, np.sin(t), t, np.sin(t), Tolerance(), 1.0)
    assert v.passed and v.first_failure_time is None and v.max_deviation == 0.0


def test_tube_visible_deviation_fails_where_fmpy_default_would_pass() -> None:
    # a 3 % deviation is inside fmpy's +-10 % band but must fail with our defaults
    t = np.linspace(0, 10, 1001)
    y = 1 + 0 * t
    actual = np.where(t >= 4.0, 1.03, 1.0)
    v = compare(t, y, t, actual, Tolerance(), 10.0)
    assert not v.passed
    assert v.first_failure_time == pytest.approx(4.0 - v.time_tol, abs=0.011)
    assert v.max_deviation == pytest.approx(0.03)


def test_tube_explicit_tolerances() -> None:
    t = np.linspace(0, 1, 101)
    y = np.ones_like(t)
    assert compare(t, y, t, y + 0.009, Tolerance(abs_tol=0.01, rel_tol=0.0), 1.0).passed
    assert not compare(t, y, t, y + 0.011, Tolerance(abs_tol=0.01, rel_tol=0.0), 1.0).passed
    assert compare(t, y, t, y * 1.049, Tolerance(abs_tol=0.0, rel_tol=0.05), 1.0).passed
    assert not compare(t, y, t, y * 1.051, Tolerance(abs_tol=0.0, rel_tol=0.05), 1.0).passed


def test_tube_time_tolerance_accepts_shifted_step_only_within_dt() -> None:
    t = np.array([0.0, 1.0, 1.0, 2.0])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    ta = np.array([0.0, 1.05, 1.05, 2.0])
    tol = Tolerance(abs_tol=1e-6, rel_tol=0.0, time_abs_tol=0.1, time_rel_tol=0.0)
    assert compare(t, y, ta, y, tol, 2.0).passed
    tight = Tolerance(abs_tol=1e-6, rel_tol=0.0, time_abs_tol=0.01, time_rel_tol=0.0)
    verdict = compare(t, y, ta, y, tight, 2.0)
    assert not verdict.passed
    assert 0.99 <= cast(float, verdict.first_failure_time) <= 1.05


def test_tube_nan_and_short_actual_fail() -> None:
    t = np.linspace(0, 1, 11)
    y = np.zeros_like(t)
    bad = y.copy()
    bad[5] = np.nan
    v = compare(t, y, t, bad, Tolerance(), 1.0)
    assert not v.passed and v.first_failure_time == pytest.approx(0.5)
    assert math.isinf(v.max_deviation)
    short = compare(t, y, t[:6], y[:6], Tolerance(time_rel_tol=0.0), 1.0)
    assert not short.passed and short.first_failure_time == pytest.approx(0.6)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=40),
    st.floats(0.0, 0.5),
)
def test_tube_properties(values: list[float], frac: float) -> None:
    t = np.arange(len(values), dtype=float)
    y = np.asarray(values)
    tol = Tolerance(abs_tol=1.0, rel_tol=0.01, time_rel_tol=0.0)
    span = float(t[-1])
    # the reference lies in its own tube, and so does anything inside the value band
    assert compare(t, y, t, y, tol, span).passed
    half = np.maximum(1.0, 0.01 * np.abs(y))
    assert compare(t, y, t, y + frac * half, tol, span).passed
    # anything beyond the band at one knot fails, at that knot
    k = len(values) // 2
    off = y.copy()
    off[k] += 1.5 * half[k] + 1e-9
    verdict = compare(t, y, t, off, tol, span)
    assert not verdict.passed
    assert verdict.first_failure_time <= t[k]


# ------------------------------------------------------------------- real FMUs


def test_fmi2_cs_passes_own_reference(fmus: dict[str, Path], lag_ref: Path) -> None:
    result = regress.check(fmus["Lag"], lag_ref)
    assert result.passed, result.summary()
    assert result.fmi_type == "CoSimulation" and result.exit_code == 0
    assert [v.name for v in result.variables] == ["y"]


def test_fmi2_me_passes_own_reference(fmus: dict[str, Path], lag_ref: Path) -> None:
    result = regress.check(fmus["Lag"], lag_ref, fmi_type="ModelExchange")
    assert result.passed, result.summary()
    assert result.fmi_type == "ModelExchange"


def test_fmi3_cs_passes_own_reference(fmus: dict[str, Path], osc_ref: Path) -> None:
    code, out, err = run_cli([str(fmus["Oscillator"]), str(osc_ref)])
    assert code == 0, out + err
    assert "PASS  x" in out and "PASS  v" in out


def _perturb(ref_csv: Path, column: int, t_from: float, factor: float) -> None:
    lines = ref_csv.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        if float(cells[0]) >= t_from:
            cells[column] = repr(float(cells[column]) * factor)
        out.append(",".join(cells))
    ref_csv.write_text("\n".join(out) + "\n")


def test_perturbed_reference_fails_naming_variable_and_time(
    fmus: dict[str, Path], osc_ref: Path, tmp_path: Path
) -> None:
    _perturb(osc_ref / "Oscillator_ref.csv", 1, 2.0, 1.03)  # x * 1.03 from t = 2
    report = tmp_path / "report"
    code, out, err = run_cli([str(fmus["Oscillator"]), str(osc_ref), "--report", str(report)])
    assert code == 1, out + err
    fail_line = next(line for line in out.splitlines() if "FAIL  x" in line)
    first = float(fail_line.split("first outside the tube at t=")[1].split(" ")[0])
    assert 1.9 <= first <= 2.0
    assert "PASS  v" in out
    assert (report / "x.png").stat().st_size > 1000
    assert not (report / "v.png").exists()
    summary = (report / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("variable,verdict,first_failure_time")
    assert summary[1].startswith("x,fail,") and summary[2].startswith("v,pass,")
    assert "![x](x.png)" in (report / "summary.md").read_text()


def test_per_variable_tolerance_from_extension(fmus: dict[str, Path], lag_ref: Path) -> None:
    _perturb(lag_ref / "Lag_ref.csv", 1, 1.0, 1.03)
    assert regress.check(fmus["Lag"], lag_ref).exit_code == 1
    ext = {"tolerances": {"variables": {"y": {"rel_tol": 0.05}}}}
    (lag_ref / "Lag_ref.v2x.json").write_text(json.dumps(ext))
    assert regress.check(fmus["Lag"], lag_ref).exit_code == 0


# ----------------------------------------------------------- reference validation


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: (d / "Lag_ref.csv").write_text('"time","y"\n0,0\n1,0\n0.5,0\n'),
            "must not decrease",
        ),
        (lambda d: (d / "Lag_ref.csv").write_text('"time","y"\n0,0\n1,nan\n'), "not finite"),
        (
            lambda d: (d / "Lag_ref.csv").write_text('"time","nope"\n0,0\n1,0\n'),
            "'nope' is not a variable of the FMU",
        ),
        (
            lambda d: (d / "Lag_in.csv").write_text('"time","T"\n0,1\n3,1\n'),
            "causality 'parameter'",
        ),
        (lambda d: (d / "Lag_in.csv").write_text('"time","u"\n0,1\n2,1\n'), "do not cover"),
        (lambda d: (d / "Lag_ref.opt").unlink(), "file not found"),
        (lambda d: (d / "Lag_ref.opt").write_text("StartTime, 0\nStopTime, 3\n"), "missing"),
        (
            lambda d: (d / "Lag_ref.v2x.json").write_text('{"tolerances": {"default": {"x": 1}}}'),
            "unknown key",
        ),
        (
            lambda d: (d / "Lag_ref.v2x.json").write_text(
                '{"tolerances": {"variables": {"zz": {"abs_tol": 1}}}}'
            ),
            "'zz'",
        ),
    ],
)
def test_broken_reference_exits_2(
    fmus: dict[str, Path], lag_ref: Path, mutate: Callable[[Path], object], message: str
) -> None:
    mutate(lag_ref)
    code, _out, err = run_cli([str(fmus["Lag"]), str(lag_ref)])
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_bad_arguments_exit_2(
    fmus: dict[str, Path], lag_ref: Path, osc_ref: Path, tmp_path: Path
) -> None:
    assert run_cli([str(fmus["Lag"])])[0] == 2
    assert run_cli([str(tmp_path / "missing.fmu"), str(lag_ref)])[0] == 2
    assert run_cli([str(fmus["Lag"]), str(tmp_path / "nothing")])[0] == 2
    code, _, err = run_cli([str(fmus["Lag"]), str(lag_ref), "--update"])
    assert code == 2 and "--reason" in err
    with pytest.raises(ScenarioError, match="not available"):
        regress.check(fmus["Oscillator"], osc_ref, fmi_type="ModelExchange")


# ------------------------------------------------------------------------- update


def test_update_writes_reference_with_provenance(
    fmus: dict[str, Path], lag_ref: Path, tmp_path: Path
) -> None:
    sources = tmp_path / "lag.mo"
    sources.write_text("model Lag end Lag;\n")
    (lag_ref / "Lag_ref.csv").unlink()
    code, out, err = run_cli(
        [
            str(fmus["Lag"]),
            str(lag_ref),
            "--update",
            "--reason",
            "initial reference",
            "--sources",
            str(sources),
        ]
    )
    assert code == 0, err
    ext = json.loads((lag_ref / "Lag_ref.v2x.json").read_text())
    assert ext["fmu_sha256"] == regress.check(fmus["Lag"], lag_ref).fmu_sha256
    assert ext["model_sources_sha256"] == regress.sources_sha256([sources])
    assert ext["history"][-1]["reason"] == "initial reference"
    assert ext["history"][-1]["date"].endswith("+00:00")
    assert {"python", "fmpy", "numpy", "v2xcosim"} <= set(ext["tools"])
    assert ext["fmi_type"] == "CoSimulation"
    header = (lag_ref / "Lag_ref.csv").read_text().splitlines()[0]
    assert header == '"time","y"'
    # the regenerated reference passes, and a changed FMU hash / source is only a note
    assert regress.check(fmus["Lag"], lag_ref).passed
    ext["fmu_sha256"] = "0" * 64
    (lag_ref / "Lag_ref.v2x.json").write_text(json.dumps(ext))
    sources.write_text("model Lag parameter Real T = 1; end Lag;\n")
    code, out, _ = run_cli([str(fmus["Lag"]), str(lag_ref), "--sources", str(sources)])
    assert code == 0
    assert "FMU's sha256" in out and "model sources' sha256" in out
    # a second update appends to the history and keeps tolerances
    ext["tolerances"] = {"default": {"rel_tol": 0.01}, "variables": {}}
    (lag_ref / "Lag_ref.v2x.json").write_text(json.dumps(ext))
    regress.update_reference(fmus["Lag"], lag_ref, "tighter solver")
    ext2 = json.loads((lag_ref / "Lag_ref.v2x.json").read_text())
    assert [h["reason"] for h in ext2["history"]] == ["initial reference", "tighter solver"]
    assert ext2["tolerances"]["default"] == {"rel_tol": 0.01}


def test_update_new_model_uses_outputs_and_default_experiment(
    fmus: dict[str, Path], tmp_path: Path
) -> None:
    ref = tmp_path / "new"
    path = regress.update_reference(fmus["Oscillator"], ref, "first")
    assert path == ref / "Oscillator_ref.csv"
    assert (ref / "Oscillator_ref.opt").read_text().startswith("StartTime, 0.0\nStopTime, 5.0")
    assert regress.check(fmus["Oscillator"], ref).passed


def test_update_rejects_unknown_variable(fmus: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="'nope'"):
        regress.update_reference(fmus["Lag"], tmp_path / "r", "x", variables=["y", "nope"])
    assert not list((tmp_path / "r").glob("*"))
