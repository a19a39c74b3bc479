"""The Modelica → FMU pipeline on small test models (tests/data/models): mechanics, not physics.

Physics of the project's own models is checked in test_models_*.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import fmpy
import numpy as np
import pytest
from fmpy.validation import validate_fmu

from v2xcosim.core.errors import FmuCallError, ScenarioError
from v2xcosim.fmu.build import build_one
from v2xcosim.fmu.runtime import run_fmu

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
MODELS = DATA / "models"
K = 0.05  # decay rate of PipeTest.Lag, 1/s


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fmus")


@pytest.fixture(scope="module")
def lag(out_dir: Path) -> Path:
    return build_one("Lag", out_dir=out_dir, mdir=MODELS).path


@pytest.fixture(scope="module")
def lag_dopri(out_dir: Path) -> Path:
    return build_one("LagDopri", out_dir=out_dir, mdir=MODELS).path


@pytest.fixture(scope="module")
def lag_bs3(out_dir: Path) -> Path:
    return build_one("LagBs3", out_dir=out_dir, mdir=MODELS).path


@pytest.fixture(scope="module")
def lag_fleet(out_dir: Path) -> Path:
    return build_one("Lag", fleet=4, out_dir=out_dir, mdir=MODELS).path


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "v2xcosim.cli", *args],
        capture_output=True,
        text=True,
        env=e,
        check=False,
    )


def test_fmus_validate_and_declare_both_interfaces(
    lag: Path, lag_dopri: Path, lag_bs3: Path, lag_fleet: Path
) -> None:
    for f in (lag, lag_dopri, lag_bs3, lag_fleet):
        assert validate_fmu(str(f)) == []
        md = fmpy.read_model_description(str(f))
        assert md.coSimulation is not None and md.modelExchange is not None
        names = {v.name for v in md.modelVariables}
        assert "solver.rtol" in names
    md = fmpy.read_model_description(str(lag))
    byname = {v.name: v for v in md.modelVariables}
    assert byname["x"].unit == "1" and byname["k"].unit == "1/s"
    assert byname["k2"].causality == "calculatedParameter"
    assert byname["x"].initial == "calculated"  # start depends on the parameter x_start
    assert byname["x"].nominal is not None
    assert byname["u"].causality == "input"
    assert [u.variable.name for u in md.derivatives] == ["der(x)", "der(fast)"]
    fleet_md = fmpy.read_model_description(str(lag_fleet))
    fleet_names = {v.name for v in fleet_md.modelVariables}
    assert {"ev[1].x", "ev[4].u", "der(ev[3].x)"} <= fleet_names


@pytest.mark.parametrize("which", ["lag", "lag_dopri", "lag_bs3"])
def test_cosimulation_matches_analytic_solution(which: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(which)
    x0, u = 3.0, 0.02
    with run_fmu(path) as r:
        r.initialize({"x_start": x0, "solver.rtol": 1e-9})
        r.set(["u"], [u])
        for k in range(1, 31):
            r.do_step(10.0)
            x, z, w, fast = r.get(["x", "z", "w", "fast"])
            t = 10.0 * k
            exact = x0 * np.exp(-K * t) + u / K * (1 - np.exp(-K * t))
            assert x == pytest.approx(exact, rel=1e-7)
            assert z + 0.1 * z**3 - x == pytest.approx(0.0, abs=1e-12)  # Newton-solved block
            assert w == pytest.approx(np.sqrt(z), rel=1e-14)
            assert fast == pytest.approx(x, rel=1e-3)  # stiff companion tracks x


def test_model_exchange_with_fmpy_solver(lag: Path) -> None:
    res = fmpy.simulate_fmu(
        str(lag),
        fmi_type="ModelExchange",
        stop_time=100.0,
        output_interval=10.0,
        start_values={"x_start": 3.0},
        relative_tolerance=1e-8,
        output=["x", "z"],
    )
    exact = 3.0 * np.exp(-K * res["time"])
    np.testing.assert_allclose(res["x"], exact, rtol=1e-5)
    z = res["z"]
    np.testing.assert_allclose(z + 0.1 * z**3, res["x"], rtol=1e-10)


def test_fleet_model_exchange_with_fmpy_solver(lag_fleet: Path) -> None:
    """The fleet FMU's Model Exchange interface: every vehicle follows its own analytic solution
    (x_start differs per vehicle) and its own Newton-solved algebraic block."""
    starts = {f"ev[{i}].x_start": float(i) for i in range(1, 5)}
    res = fmpy.simulate_fmu(
        str(lag_fleet),
        fmi_type="ModelExchange",
        stop_time=100.0,
        output_interval=10.0,
        start_values=starts,
        relative_tolerance=1e-8,
        output=[f"ev[{i}].{n}" for i in range(1, 5) for n in ("x", "z")],
    )
    for i in range(1, 5):
        np.testing.assert_allclose(res[f"ev[{i}].x"], i * np.exp(-K * res["time"]), rtol=1e-5)
        z = res[f"ev[{i}].z"]
        np.testing.assert_allclose(z + 0.1 * z**3, res[f"ev[{i}].x"], rtol=1e-10)


def test_fleet_equals_single_fmus_bit_for_bit(lag: Path, lag_fleet: Path) -> None:
    inputs = [0.0, 0.01, 0.02, 0.05]
    starts = [1.0, 2.0, 3.0, 4.0]
    single = []
    for i in range(4):
        with run_fmu(lag) as r:
            r.initialize({"x_start": starts[i]})
            traj = []
            for k in range(20):
                r.set(["u"], [inputs[i] * (1 + 0.1 * k)])
                r.do_step(60.0)
                traj.append(r.get(["x", "z", "fast"]))
            single.append(np.array(traj))
    with run_fmu(lag_fleet) as r:
        r.initialize({f"ev[{i + 1}].x_start": starts[i] for i in range(4)})
        traj = []
        for k in range(20):
            r.set(
                [f"ev[{i + 1}].u" for i in range(4)],
                [inputs[i] * (1 + 0.1 * k) for i in range(4)],
            )
            r.do_step(60.0)
            traj.append(r.get([f"ev[{i + 1}].{n}" for i in range(4) for n in ("x", "z", "fast")]))
    fleet = np.array(traj).reshape(20, 4, 3)
    for i in range(4):
        assert np.array_equal(fleet[:, i, :], single[i])  # bit for bit


def test_state_save_restore_and_serialization_reproduce_trajectory(lag: Path) -> None:
    with run_fmu(lag) as r:
        r.initialize({"x_start": 2.0})
        r.set(["u"], [0.03])
        for _ in range(5):
            r.do_step(60.0)
        state = r.get_state()
        blob = r.serialize(state)
        first = []
        for k in range(10):
            r.set(["u"], [0.03 + 0.01 * k])
            r.do_step(60.0)
            first.append(r.get(["x", "z", "fast"]))
        for restored in (state, r.deserialize(blob)):
            r.set_state(restored, 300.0)
            again = []
            for k in range(10):
                r.set(["u"], [0.03 + 0.01 * k])
                r.do_step(60.0)
                again.append(r.get(["x", "z", "fast"]))
            assert np.array_equal(np.array(first), np.array(again))


def test_non_finite_value_is_an_error_naming_the_variable(lag: Path) -> None:
    with run_fmu(lag) as r:
        r.initialize({"x_start": 1.0})
        r.set(["u"], [-1.0])  # x turns negative, so w = sqrt(z) becomes NaN
        with pytest.raises(FmuCallError, match=r"variable w at t = "):
            for _ in range(10):
                r.do_step(60.0)
    with run_fmu(lag) as r:
        r.initialize()
        with pytest.raises(FmuCallError, match=r"non-finite value nan for variable u"):
            r.set(["u"], [float("nan")])


def test_values_outside_the_declared_range_are_errors(lag: Path, lag_fleet: Path) -> None:
    """min/max of the model: a parameter or input is checked when set, a calculated parameter
    when the FMU is initialised; the message names the variable, the value and the range."""
    with run_fmu(lag) as r, pytest.raises(
        FmuCallError, match=r"k = -0\.1 is outside its range \[0, inf\]"
    ):
        r.initialize({"k": -0.1})
    with run_fmu(lag) as r, pytest.raises(
        FmuCallError, match=r"k2 = 1\.2 is outside its range \[-inf, 1\].*it is calculated"
    ):
        r.initialize({"k": 0.6})
    with run_fmu(lag) as r:
        r.initialize({"k": 0.5})  # k2 = 1: the bounds are inclusive
        r.set(["u"], [5.0])
        r.do_step(60.0)
        with pytest.raises(FmuCallError, match=r"t = 60 s .*u = 7 is outside its range \[-5, 5\]"):
            r.set(["u"], [7.0])
    with run_fmu(lag_fleet) as r:
        r.initialize()
        with pytest.raises(FmuCallError, match=r"ev\[2\]\.u = -6 is outside its range \[-5, 5\]"):
            r.set(["ev[1].u", "ev[2].u"], [1.0, -6.0])


@pytest.mark.parametrize("threads", [1, 4])
def test_failing_vehicle_of_a_fleet_is_named(lag_fleet: Path, threads: int) -> None:
    """The first failing block is reported, whichever thread integrated it."""
    with run_fmu(lag_fleet) as r:
        r.initialize({"solver.threads": threads, **{f"ev[{i}].x_start": 1.0 for i in range(1, 5)}})
        r.set(["ev[3].u"], [-1.0])  # only vehicle 3 turns negative: w = sqrt(z) becomes NaN
        with pytest.raises(FmuCallError, match=r"variable ev\[3\]\.w at t = "):
            for _ in range(10):
                r.do_step(60.0)


def test_unknown_variable_name_is_an_error(lag: Path) -> None:
    with run_fmu(lag) as r, pytest.raises(ScenarioError, match=r"no variable named 'xx'.*'x'"):
        r.get(["xx"])


def test_rebuild_gives_identical_bytes_and_cache_hits(tmp_path: Path) -> None:
    a = build_one("Lag", out_dir=tmp_path / "a", mdir=MODELS, force=True)
    b = build_one("Lag", out_dir=tmp_path / "b", mdir=MODELS, force=True)
    assert not a.cached and not b.cached
    assert a.path.read_bytes() == b.path.read_bytes()
    c = build_one("Lag", out_dir=tmp_path / "a", mdir=MODELS)
    assert c.cached and c.path.read_bytes() == a.path.read_bytes()
    f = build_one("Lag", fleet=2, out_dir=tmp_path / "a", mdir=MODELS)
    assert f.key != a.key and f.path.name == "Lag_fleet2.fmu"


def test_source_change_invalidates_cache(tmp_path: Path) -> None:
    import shutil

    mdir = tmp_path / "models"
    shutil.copytree(MODELS, mdir)
    a = build_one("Lag", out_dir=tmp_path / "out", mdir=mdir)
    src = mdir / "PipeTest" / "package.mo"
    src.write_text(src.read_text().replace("= 0.05", "= 0.06"))
    b = build_one("Lag", out_dir=tmp_path / "out", mdir=mdir)
    assert not b.cached and a.key != b.key


def test_cache_keeps_the_three_most_recent_builds_of_a_model(tmp_path: Path) -> None:
    """Each source edit adds a cache entry; older ones are pruned, other models are untouched."""
    import shutil

    from v2xcosim.fmu.cache import CACHE_KEEP

    mdir = tmp_path / "models"
    shutil.copytree(MODELS, mdir)
    out = tmp_path / "out"
    other = build_one("LagDopri", out_dir=out, mdir=mdir)
    src = mdir / "PipeTest" / "package.mo"
    text = src.read_text()
    keys = []
    for k in range(5):
        src.write_text(text + f"\n// edit {k}\n")
        keys.append(build_one("Lag", out_dir=out, mdir=mdir).key)
    cached = sorted(p.name for p in (out / ".cache").glob("Lag-*.fmu"))
    assert len(cached) == CACHE_KEEP == 3
    assert {f"Lag-{k[:24]}.fmu" for k in keys[-3:]} == set(cached)
    # pruning is per model: the other model's entry stays
    assert (out / ".cache" / f"LagDopri-{other.key[:24]}.fmu").is_file()
    # going back to an earlier edit that is still cached is a cache hit
    src.write_text(text + "\n// edit 3\n")
    assert build_one("Lag", out_dir=out, mdir=mdir).cached


def test_cache_key_covers_every_module_that_writes_the_fmu() -> None:
    """Editing any module the build runs changes the cache key (and the GUID), so no stale reuse.

    subset.py only accepts or rejects sources, so it is left out of the key.
    """
    import ast

    from v2xcosim.fmu import cache

    pkg = Path(cache.__file__).parent
    seen: set[str] = set()
    todo = ["build"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((pkg / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("v2xcosim.fmu."):
                todo.append(str(node.module).rsplit(".", 1)[1])
    assert {f"{n}.py" for n in seen} - {"subset.py"} == set(cache.PIPELINE_MODULES)


def test_codes_written_by_python_match_the_shell_header() -> None:
    """v2x_config.h names the shell's V2X_SOLVER_* and V2X_P_* codes; Python and C agree on them."""
    import re

    from v2xcosim.fmu.meta import ParamKind
    from v2xcosim.fmu.registry import SOLVERS
    from v2xcosim.fmu.toolchain import SHELL_DIR

    text = (SHELL_DIR / "v2x_shell.h").read_text(encoding="utf-8")
    codes = {name: int(value) for name, value in re.findall(r"\b(V2X_\w+) = (-?\d+)", text)}
    solvers = {k: v for k, v in codes.items() if k.startswith("V2X_SOLVER_")}
    assert solvers == {f"V2X_SOLVER_{name.upper()}": code for name, code in SOLVERS.items()}
    p_kinds = {k: v for k, v in codes.items() if k.startswith("V2X_P_")}
    assert p_kinds == {kind.c_name: int(kind) for kind in ParamKind}


def test_unsupported_construct_names_file_line_and_construct(tmp_path: Path) -> None:
    res = _cli("fmu", "build", "--models", str(DATA / "models_bad"), "--out", str(tmp_path))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "Bad/package.mo:6: when-clause" in res.stderr
    assert "reinit" in res.stderr and "models/README.md" in res.stderr
    assert "'Modelica subset accepted by the FMU pipeline'" in res.stderr
    section = "## Modelica subset accepted by the FMU pipeline"
    assert section in (ROOT / "models" / "README.md").read_text(encoding="utf-8").splitlines()
    assert not list(tmp_path.iterdir())  # a failed build leaves nothing, not even a cache folder


def test_bad_sources_are_reported_before_a_missing_compiler(tmp_path: Path) -> None:
    """What the user can fix in the model comes first, even on a machine without a compiler."""
    out = tmp_path / "out"
    res = _cli(
        "fmu",
        "build",
        "--models",
        str(DATA / "models_bad"),
        "--out",
        str(out),
        env={"CC": "/nonexistent/cc"},
    )
    assert res.returncode == 2
    assert "Bad/package.mo:6: when-clause" in res.stderr
    assert "no C compiler" not in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()


def test_missing_compiler_is_a_clear_error(tmp_path: Path) -> None:
    res = _cli(
        "fmu",
        "build",
        "Lag",
        "--models",
        str(MODELS),
        "--out",
        str(tmp_path),
        "--force",
        env={"CC": "/nonexistent/cc"},
    )
    assert res.returncode == 2
    assert "no C compiler found" in res.stderr and "apt-get install gcc" in res.stderr
    assert "Traceback" not in res.stderr
    assert not list(tmp_path.iterdir())


def test_unknown_model_and_bad_fleet(tmp_path: Path) -> None:
    res = _cli("fmu", "build", "Nope", "--models", str(MODELS), "--out", str(tmp_path))
    assert res.returncode == 2 and "unknown model 'Nope'" in res.stderr and "Lag" in res.stderr
    res = _cli(
        "fmu", "build", "Lag", "--fleet", "0", "--models", str(MODELS), "--out", str(tmp_path)
    )
    assert res.returncode == 2 and "--fleet must be a positive integer" in res.stderr


@pytest.mark.parametrize(
    ("body", "line", "construct"),
    [
        (
            "  Real y;\nequation\n  der(x) = -x;\n  y = if x > 0.5 then 1 else 2;\n",
            7,
            "'if' outside noEvent",
        ),
        ("  Real y;\nequation\n  der(x) = -x;\n  y = floor(x);\n", 7, "floor() outside noEvent"),
        ("initial equation\n  x = 1;\nequation\n  der(x) = -x;\n", 4, "initial equation"),
        ("  Real y(start=0, fixed=false);\nequation\n  der(x) = -x;\n  y = x;\n", 4, "fixed=false"),
        ("  Real y;\nequation\n  der(x) = -x;\n  y = pre(x);\n", 7, "pre()"),
    ],
)
def test_subset_violations_are_reported_with_line(
    tmp_path: Path, body: str, line: int, construct: str
) -> None:
    mdir = tmp_path / "models"
    (mdir / "Sub").mkdir(parents=True)
    src = "package Sub\n model M\n  Real x(start=1, fixed=true);\n" + body + " end M;\nend Sub;\n"
    (mdir / "Sub" / "package.mo").write_text(src)
    (mdir / "fmus.toml").write_text('[M]\nclass = "Sub.M"\n')
    res = _cli("fmu", "build", "--models", str(mdir), "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"Sub/package.mo:{line}: " in res.stderr
    assert construct in res.stderr


def test_user_function_is_rejected(tmp_path: Path) -> None:
    mdir = tmp_path / "models"
    (mdir / "Sub").mkdir(parents=True)
    (mdir / "Sub" / "package.mo").write_text(
        "package Sub\n function f\n  input Real u;\n  output Real y;\n"
        " algorithm\n  y := 2*u;\n end f;\n"
        " model M\n  Real x(start=1, fixed=true);\n"
        " equation\n  der(x) = -f(x);\n end M;\nend Sub;\n"
    )
    (mdir / "fmus.toml").write_text('[M]\nclass = "Sub.M"\n')
    res = _cli("fmu", "build", "--models", str(mdir), "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "Sub/package.mo:2: user function" in res.stderr


def test_fmu_sources_rebuild_with_fmpy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sources/ is complete: fmpy's own build (CMake) recompiles the binary, which runs the same."""
    import shutil
    import zipfile

    from fmpy.build import build_platform_binary

    from v2xcosim.fmu.build import build_fmu

    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    original = build_fmu("EV")
    unzipped = tmp_path / "ev"
    with zipfile.ZipFile(original) as zf:
        zf.extractall(unzipped)
    shutil.rmtree(unzipped / "binaries")
    (tmp_path / "build").mkdir()
    build_platform_binary(str(unzipped.resolve()), build_dir=str(tmp_path / "build"))
    rebuilt = tmp_path / "EV_rebuilt.fmu"
    with zipfile.ZipFile(rebuilt, "w") as zf:
        for p in sorted(unzipped.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(unzipped).as_posix())
    assert validate_fmu(str(rebuilt)) == []
    runs = []
    for path in (original, rebuilt):
        with run_fmu(path) as r:
            r.initialize({"soc_start": 0.4, "vm_pu": 1.0, "f_hz": 50.0, "t_amb_k": 298.15})
            traj = []
            for k in range(10):
                r.set(["p_set_w"], [11000.0 if k < 5 else -7000.0])
                r.do_step(60.0)
                traj.append(r.get(["soc", "p_ac_w", "t_cell_k"]))
            runs.append(np.array(traj))
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-9, atol=1e-9)
