"""Signals, the run folder's lock and the child process's life (``v2xcosim run`` as a process).

Every wait is a poll with a long limit (a loaded 2-core machine): no test asserts on how long
something took.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from v2x_helpers import DEMO, ROOT, cli, toy_overrides
from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.runlock import LOCK_NAME, RunLock, claim_run_folder, pid_alive
from v2xcosim.runner import RUN_TMP_PREFIX, clean_stale_run_dirs

LIMIT_S = 300.0
"""Generous limit of every poll (set-up of a run on a loaded machine included)."""


def _poll(what: str, done: Callable[[], bool], limit_s: float = LIMIT_S) -> None:
    end = time.monotonic() + limit_s
    while not done():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting for {what} after {limit_s:g} s")
        time.sleep(0.2)


def _sets(items: list[str]) -> list[str]:
    return [x for item in items for x in ("--set", item)]


def _run_argv(out: Path, extra: list[str]) -> list[str]:
    return [
        "run",
        str(DEMO),
        "--out",
        str(out),
        "--no-progress",
        *_sets([*toy_overrides(10), "results.plots=false", *extra]),
    ]


def _start(tmp_path: Path, out: Path, extra: list[str], env_extra: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Start ``v2xcosim run`` as a process with a private temporary directory."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir(exist_ok=True)
    env = dict(os.environ)
    env["TMPDIR"] = str(private_tmp)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH", "")])]
    )
    env.update(env_extra or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "v2xcosim.cli", *_run_argv(out, extra)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, private_tmp


def _children(out: Path) -> list[int]:
    """Pids of run child processes of this test's run (its folder is in their arguments)."""
    ps = subprocess.run(["ps", "-eww", "-o", "pid=,args="], capture_output=True, text=True)
    return [
        int(line.split()[0])
        for line in ps.stdout.splitlines()
        if "v2xcosim.runner" in line and str(out) in line
    ]


def _run_dirs(private_tmp: Path) -> list[Path]:
    return list(private_tmp.glob(f"{RUN_TMP_PREFIX}*"))


def _wait_until_child_loaded_fmu(out: Path, private_tmp: Path) -> None:
    """Until the run's child exists and has extracted an FMU into its temporary folder."""
    _poll(
        "the run's child to extract its FMU",
        lambda: bool(_children(out)) and any(any(d.iterdir()) for d in _run_dirs(private_tmp)),
    )


HANG = ["sites.0.fmu.parameters.hang_at_s=900", "runner.stall_timeout_s=3600"]
"""The toy FMU spins in C from t = 900 s on; the stall limit is far away."""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_stops_a_run_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "out"
    proc, private_tmp = _start(tmp_path, out, HANG)
    try:
        _wait_until_child_loaded_fmu(out, private_tmp)
        _poll("the run folder's lock", (out / LOCK_NAME).is_file)
        if sig == signal.SIGTERM:  # meanwhile, a second run into the same folder is refused
            holder = json.loads((out / LOCK_NAME).read_text())
            assert holder["pid"] == proc.pid
            with pytest.raises(ScenarioError, match=f"another run .*pid {proc.pid} on host"):
                claim_run_folder(out)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=LIMIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines == [
        f"v2xcosim: error: stopped by {sig.name}; no process or temporary folder is left behind"
    ], stderr
    _poll("the run's child to be gone", lambda: not _children(out), 60.0)
    assert not list(private_tmp.iterdir()), "temporary files left"
    assert not (out / LOCK_NAME).exists(), "the lock was not released"
    assert not (out / "metadata.json").exists()


def test_kill_9_of_the_run_takes_its_child_and_the_next_run_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc, private_tmp = _start(tmp_path, out, HANG)
    try:
        _wait_until_child_loaded_fmu(out, private_tmp)
    finally:
        proc.kill()  # SIGKILL: the parent cannot clean up
    proc.communicate()
    # the hung child (spinning inside C) dies with its parent
    _poll("the orphaned child to die", lambda: not _children(out), 60.0)
    left = _run_dirs(private_tmp)
    assert left and all(d.name.startswith(f"{RUN_TMP_PREFIX}{proc.pid}-") for d in left)
    assert (out / LOCK_NAME).is_file()  # stale: its holder is dead
    # the next run removes the dead run's temporary folder and takes over its stale lock
    env = {"TMPDIR": str(private_tmp)}
    rc = subprocess.run(
        [sys.executable, "-m", "v2xcosim.cli", *_run_argv(out, ["time.duration_s=3600"])],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=LIMIT_S * 2,
    )
    assert rc.returncode == 0, rc.stderr
    assert not list(private_tmp.iterdir())
    assert (out / "metadata.json").is_file() and not (out / LOCK_NAME).exists()


def test_hang_while_loading_the_fmu_is_under_the_watchdog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # fmi2Instantiate spins forever: preflight itself hangs, so it must run in the watched child
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setenv("V2XCOSIM_TOY_HANG_IN_INSTANTIATE", "1")
    out = tmp_path / "out"
    rc = cli(_run_argv(out, ["runner.startup_timeout_s=5"]))
    msg = capsys.readouterr().out
    assert rc == 2
    assert "hung during set-up" in msg and "runner.startup_timeout_s = 5 s" in msg
    assert not out.exists(), "a run that failed before writing left its folder"
    assert not list(private_tmp.iterdir())
    assert not _children(out)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(folder: Path, pid: int, host: str) -> None:
    (folder / LOCK_NAME).write_text(
        json.dumps({"pid": pid, "host": host, "started_utc": "2026-01-01T00:00:00Z"})
    )


def test_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    _write_lock(live, os.getppid(), socket.gethostname())
    with pytest.raises(ScenarioError, match=rf"pid {os.getppid()} on host .* since 2026-01-01"):
        RunLock(live).acquire()
    assert json.loads((live / LOCK_NAME).read_text())["pid"] == os.getppid()  # untouched

    other_host = tmp_path / "remote"
    other_host.mkdir()
    _write_lock(other_host, _dead_pid(), "some-other-host")
    with pytest.raises(ScenarioError, match="some-other-host"):
        RunLock(other_host).acquire()

    dead = tmp_path / "dead"
    dead.mkdir()
    dead_pid = _dead_pid()
    _write_lock(dead, dead_pid, socket.gethostname())
    with claim_run_folder(dead) as folder:
        assert folder.lock.taken_over is not None and folder.lock.taken_over.pid == dead_pid
        assert json.loads((dead / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (dead / LOCK_NAME).exists()

    partial = tmp_path / "partial"
    partial.mkdir()
    _write_lock(partial, dead_pid, socket.gethostname())
    (partial / "grid.parquet").write_bytes(b"x")
    with pytest.raises(ScenarioError, match=f"partial results of a run that died .pid {dead_pid}"):
        claim_run_folder(partial)
    assert not (partial / LOCK_NAME).exists()  # the stale lock is gone, the results stay
    assert (partial / "grid.parquet").is_file()


def test_stale_run_dirs_of_dead_parents_only_are_removed(tmp_path: Path) -> None:
    dead = tmp_path / f"{RUN_TMP_PREFIX}{_dead_pid()}-abc"
    live = tmp_path / f"{RUN_TMP_PREFIX}{os.getpid()}-def"
    other = tmp_path / "v2xcosim-other-1"
    for d in (dead, live, other):
        (d / "sub").mkdir(parents=True)
    assert clean_stale_run_dirs(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and other.exists()
    assert pid_alive(os.getpid()) and not pid_alive(_dead_pid())
