"""Faults of a run: kill -9 at random moments, ``run --resume``, faults in Python simulators.

The toy FMU's faults in C (an error status, ``abort()``, a segfault, SIGKILL, a hang while
stepping or while set up) are in ``tests/test_runner.py``; here:

* ``v2xcosim run --resume OUT`` restarts a run that died into its own folder and refuses a
  completed one, a changed one, a live one and a folder that holds no run;
* ``kill -9`` of ``v2xcosim run`` at 20 seeded random moments (``slow``): no folder is left whose
  ``metadata.json`` does not verify, no process is left, and ``--resume`` completes every
  folder that did not complete;
* a charging strategy of your own (Python, in the actors' simulator) that raises or hangs
  (``slow``, the Terni use case): exit 2 naming simulator, entity and simulated time.

Every wait is a poll with a generous limit: nothing here asserts on how long something took.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from v2x_helpers import DEMO, ROOT, cli, toy_overrides
from v2xcosim.core.rng import rng_for
from v2xcosim.core.runlock import LOCK_NAME, REQUEST_NAME
from v2xcosim.report.results import METADATA, verify_run_folder

LIMIT_S = 600.0
"""Generous limit of every wait (a run's set-up on a loaded 2-core machine included)."""

SHORT = ["time.duration_s=3600", "results.plots=false"]


def _sets(items: list[str]) -> list[str]:
    return [x for item in items for x in ("--set", item)]


def _run_argv(out: Path, extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    return ["run", str(DEMO), "--out", str(out), "--no-progress",
            *_sets([*toy_overrides(10), *SHORT, *extra])]


def _poll(what: str, done: Callable[[], bool], limit_s: float = LIMIT_S) -> None:
    end = time.monotonic() + limit_s
    while not done():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting for {what} after {limit_s:g} s")
        time.sleep(0.2)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(folder: Path, pid: int) -> None:
    (folder / LOCK_NAME).write_text(json.dumps(
        {"pid": pid, "host": socket.gethostname(), "started_utc": "2026-01-01T00:00:00Z"}))


def _died_run(out: Path) -> None:
    """``out`` as a run killed with kill -9 leaves it: stale lock, request, partial files."""
    out.mkdir()
    _write_lock(out, _dead_pid())
    (out / REQUEST_NAME).write_text(json.dumps(
        {"scenario": str(DEMO), "overrides": [*toy_overrides(10), *SHORT]}))
    (out / "grid.parquet").write_bytes(b"partial")
    (out / ".kpis.json.tmp-123").write_bytes(b"{")
    (out / "plots").mkdir()
    (out / "plots" / "x.png").write_bytes(b"png")


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_resume_restarts_a_run_that_died_into_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _died_run(out)
    # a plain run into the folder is refused and says how to resume
    assert cli(_run_argv(out)) == 2
    assert f"v2xcosim run --resume {out}" in capsys.readouterr().out
    assert cli(["run", "--resume", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert f"resuming {out}: a clean restart" in text and "KPIs:" in text
    assert verify_run_folder(out) == []
    assert not (out / "plots").exists() and not (out / ".kpis.json.tmp-123").exists()
    assert not (out / LOCK_NAME).exists()
    meta = json.loads((out / METADATA).read_text())
    assert meta["steps"] == 12 and meta["scenario"]["time"]["duration_s"] == 3600
    # the restarted run is the run the folder recorded: equal to a fresh run of it
    fresh = tmp_path / "fresh"
    assert cli(_run_argv(fresh)) == 0
    assert _files(out)["grid.parquet"] == _files(fresh)["grid.parquet"]
    # a completed, verified run is never touched
    before = _files(out)
    assert cli(["run", "--resume", str(out)]) == 2
    assert "holds a completed run whose metadata.json verifies" in capsys.readouterr().out
    assert _files(out) == before


def test_resume_refuses_a_changed_a_live_and_a_foreign_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def kept(out: Path) -> dict[str, bytes] | None:  # a dead run's stale lock may go
        return {k: v for k, v in _files(out).items() if k != LOCK_NAME} if out.is_dir() else None

    def refused(out: Path, expected: str, *extra: str) -> None:
        before = kept(out)
        assert cli(["run", "--resume", str(out), *extra]) == 2
        assert expected in capsys.readouterr().out
        assert kept(out) == before

    changed = tmp_path / "changed"
    _died_run(changed)
    (changed / METADATA).write_text(json.dumps({"manifest": {"grid.parquet": "0" * 64}}))
    refused(changed, "metadata.json that does not verify (grid.parquet: SHA-256 differs")

    live = tmp_path / "live"
    _died_run(live)
    _write_lock(live, os.getppid())  # a live process holds the folder
    refused(live, f"another run writes into this folder (pid {os.getppid()}")
    assert json.loads((live / LOCK_NAME).read_text())["pid"] == os.getppid()

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("not a run")
    refused(foreign, f"no record of a run in this folder ({REQUEST_NAME} is missing)")
    refused(tmp_path / "nowhere", "no such folder")
    refused(changed, "give no SCENARIO, --set, --out or --compare", "--set", "seed=1")


def test_a_run_that_fails_before_writing_leaves_no_request_behind(tmp_path: Path) -> None:
    # the toy FMU fails at once: the folder the run created goes, its request with it
    out = tmp_path / "out"
    assert cli(_run_argv(out, ["sites.0.fmu.parameters.hang_in_init=1",
                               "runner.startup_timeout_s=3"])) == 2
    assert not out.exists()


# ------------------------------------------------------------------ kill -9 at random moments
N_KILLS = 8
"""Kill moments: one drawn at random in each of ``N_KILLS`` equal slices of 1.1 x the run's span
(stratified), so eight kills reach set-up, stepping and writing alike, where 20 uniform draws
(the test's first form, 3.7 min under load) could still leave a stretch of the run untouched."""


def _children(out: Path) -> list[str]:
    ps = subprocess.run(["ps", "-eww", "-o", "pid=,args="], capture_output=True, text=True)
    return [line for line in ps.stdout.splitlines()
            if "v2xcosim" in line and str(out) in line and "ps -eww" not in line]


def _gone(out: Path) -> Callable[[], bool]:
    return lambda: not _children(out)


@pytest.mark.slow
def test_kill_9_at_random_moments_leaves_no_false_complete_folder(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TMPDIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "v2xcosim.cli"]
    # one undisturbed run: how long a run takes here and now (only to spread the kill moments)
    t0 = time.monotonic()
    ref = subprocess.run([*cmd, *_run_argv(tmp_path / "ref")], env=env, capture_output=True,
                         text=True, timeout=LIMIT_S, check=False)
    span_s = time.monotonic() - t0
    assert ref.returncode == 0, ref.stderr
    slice_s = 1.1 * span_s / N_KILLS
    draws = rng_for(1717, "tests/kill-9-moments").uniform(size=N_KILLS)
    moments = (np.arange(N_KILLS) + draws) * slice_s
    outcomes: dict[str, int] = {"complete": 0, "incomplete": 0}
    for i, delay_s in enumerate(sorted(moments)):
        out = tmp_path / f"run{i:02d}"
        proc = subprocess.Popen([*cmd, *_run_argv(out)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=float(delay_s))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        _poll("the killed run's child to die with it", _gone(out))
        if not out.exists():
            continue  # killed before it created its folder
        if (out / METADATA).exists():
            assert verify_run_folder(out) == [], f"kill after {delay_s:.2f} s"
            outcomes["complete"] += 1
            continue
        outcomes["incomplete"] += 1
        if not (out / REQUEST_NAME).exists():
            continue  # killed before the request was recorded: nothing of the run in there
        res = subprocess.run([*cmd, "run", "--resume", str(out), "--no-progress"], env=env,
                             capture_output=True, text=True, timeout=LIMIT_S, check=False)
        assert res.returncode == 0, (delay_s, res.stdout, res.stderr)
        assert verify_run_folder(out) == []
        ref_grid = (tmp_path / "ref" / "grid.parquet").read_bytes()
        assert (out / "grid.parquet").read_bytes() == ref_grid
    assert outcomes["incomplete"] > 0, outcomes  # the moments did hit the run


# ------------------------------------------------------------ Python faults in a simulator
STRATEGY = '''
import pathlib
import numpy as np

MARK = pathlib.Path(__file__).with_name("fault_at.txt")


class _Faulty:
    bidirectional = False

    def decide(self, inputs):
        if inputs.n_ev > 0:  # the first step with a car to decide for
            MARK.write_text(str(int(inputs.t_s)))
            self.fault()
        return np.zeros(inputs.n_ev)


class Raises(_Faulty):
    def fault(self):
        raise RuntimeError("planted failure of the strategy")


class Hangs(_Faulty):
    def fault(self):
        while True:
            pass
'''


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["Raises", "Hangs"])
def test_python_strategy_that_raises_or_hangs_names_simulator_entity_time(
    strategy: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "faulty_strategies.py").write_text(STRATEGY)
    out = tmp_path / "out"
    rc = cli(["run", str(ROOT / "scenarios" / "terni_v2g.toml"), "--out", str(out),
              "--no-progress", *_sets([
                  f"control.strategy=faulty_strategies:{strategy}",
                  f"control.strategy_path='{tmp_path}'", "time.duration_s=7200",
                  "time.start=2024-05-15T07:00:00+02:00",  # cars arrive for work
                  "results.plots=false", "runner.stall_timeout_s=15"])])
    text = "".join(capfd.readouterr())
    assert rc == 2, text
    assert "Traceback" not in text and text.count("v2xcosim: error:") == 1, text
    t_s = int((tmp_path / "fault_at.txt").read_text())  # where the strategy really stopped
    if strategy == "Raises":
        found = re.search(r"simulator (\S+), entity (\S+), t = (\d+) s: .*planted failure", text)
    else:
        found = re.search(r"hung in simulator (\S+), entity (\S+), at simulated time t = (\d+) s",
                          text)
        assert "runner.stall_timeout_s = 15 s" in text
    assert found is not None, text
    assert found.group(2) == "actors" and int(found.group(3)) == t_s, text
    assert not (out / METADATA).exists()
    assert not _children(out)


# ------------------------------------------------------------------- validate's own preflight
def test_validate_stops_an_fmu_that_hangs_while_instantiated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # fmi2Instantiate spins forever; validate loads the FMU in a child bounded by the limit
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setenv("V2XCOSIM_TOY_HANG_IN_INSTANTIATE", "1")
    argv = ["validate", str(DEMO), *_sets([*toy_overrides(10), "runner.startup_timeout_s=5"])]
    with monkeypatch.context() as m:
        m.chdir(tmp_path)
        assert cli(argv) == 2
    msg = capsys.readouterr().out
    assert "the FMU preflight" in msg and "runner.startup_timeout_s = 5 s" in msg, msg
    assert not list(private_tmp.iterdir()), "temporary files left"
    ps = subprocess.run(["ps", "-eww", "-o", "args="], capture_output=True, text=True).stdout
    assert not [ln for ln in ps.splitlines() if '"preflight": true' in ln and str(DEMO) in ln
                and "runner.startup_timeout_s=5" in ln]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]  # nothing written


def test_validate_reports_the_fmu_error_found_in_its_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a bad FMU-wide parameter is the FMU's own error, reported through the child's verdict
    argv = ["validate", str(DEMO), *_sets([*toy_overrides(10),
                                           "sites.0.fmu.parameters.no_such_parameter=1"])]
    assert cli(argv) == 2
    assert "no_such_parameter" in capsys.readouterr().out
