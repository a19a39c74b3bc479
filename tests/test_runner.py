"""Failure paths through the CLI (validate/run) with the watched child process."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from v2x_helpers import DEMO, cli, toy_overrides
from v2xcosim.cosim.store_sim import STEPPING_BEAT
from v2xcosim.runner import Watchdog


def sets(items: list[str]) -> list[str]:
    return [a for item in items for a in ("--set", item)]


SHORT = ["time.duration_s=3600", "results.plots=false"]


def test_validate_ok_and_bad(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["validate", str(DEMO), *sets(toy_overrides(10))]) == 0
    assert "ok" in capsys.readouterr().out
    assert cli(["validate", str(DEMO), *sets(["sites.0.n_evs=0"])]) == 2
    assert (
        cli(["validate", str(DEMO), *sets([*toy_overrides(10), "sites.0.fmu.inputs.p_set='x'"])])
        == 2
    )
    assert "no input 'ev[1].x'" in capsys.readouterr().out


def test_run_ok_prints_kpis_and_refuses_nonempty_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert (
        cli(
            ["run", str(DEMO), "--out", str(out), "--no-progress", *sets(toy_overrides(10) + SHORT)]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "KPIs:" in text and "checks: all flagged checks passed" in text
    assert (out / "metadata.json").is_file()
    assert cli(["run", str(DEMO), "--out", str(out), *sets(toy_overrides(10) + SHORT)]) == 2
    assert "not empty" in capsys.readouterr().out


def _run_demo(out: Path, overrides: list[str]) -> int:
    """Run the demo scenario on the toy FMU into ``out`` with extra overrides; the exit code."""
    return cli(["run", str(DEMO), "--out", str(out), "--no-progress", *sets(overrides)])


def test_flagged_check_failure_exits_1(tmp_path: Path) -> None:
    out = tmp_path / "run"
    rc = _run_demo(out, [*toy_overrides(10), *SHORT, "grid.v_min_pu=1.05"])
    assert rc == 1 and (out / "metadata.json").is_file()


def test_missing_file_exit_2_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    rc = _run_demo(out, [*toy_overrides(10), "profiles.household.file='data/nope.csv'"])
    assert rc == 2 and "nope.csv" in capsys.readouterr().out and not out.exists()


NOISE = ("Task was destroyed", "Traceback", "RuntimeWarning", "never retrieved")
"""What an aborted run must not print besides its one error line (mosaik's pending tasks)."""


def _fault(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], fault: str, extra: Sequence[str] = ()
) -> str:
    """Run the demo with ``fault``; exit 2, no metadata, one error line and nothing else."""
    out = tmp_path / "run"
    rc = _run_demo(out, [*toy_overrides(10), *SHORT, fault, *extra])
    assert rc == 2
    assert not (out / "metadata.json").exists()
    captured = capfd.readouterr()  # the child's output too (file descriptors, not sys.*)
    text = captured.out + captured.err
    assert not [n for n in NOISE if n in text], text
    assert text.count("v2xcosim: error:") == 1, text
    return text


def test_exception_in_fmu_names_simulator_entity_time(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    msg = _fault(tmp_path, capfd, "sites.0.fmu.parameters.fail_at_s=900")
    assert "FMU-0" in msg and "fleet_residential" in msg and "t = 900 s" in msg


def test_crash_in_c_code_is_caught(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    msg = _fault(tmp_path, capfd, "sites.0.fmu.parameters.crash_at_s=900")
    assert "SIGABRT" in msg and "after simulated time t = 600 s" in msg
    assert "in simulator FMU-0, entity fleet_residential, at simulated time t = 900 s" in msg


@pytest.mark.parametrize(
    ("switch", "signal_name"), [("segv_at_s", "SIGSEGV"), ("kill_at_s", "SIGKILL")]
)
def test_segfault_or_kill_of_the_simulation_names_simulator_entity_time(
    switch: str,
    signal_name: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a null-pointer write in the FMU's C code, or a SIGKILL as the OOM killer sends it: the
    # process dies without a word; the watchdog knows which simulator call it was in
    private_tmp = _private_tmp(tmp_path, monkeypatch)
    msg = _fault(tmp_path, capfd, f"sites.0.fmu.parameters.{switch}=900")
    assert f"died (killed by signal {signal_name})" in msg
    assert "in simulator FMU-0, entity fleet_residential, at simulated time t = 900 s" in msg
    assert "after simulated time t = 600 s" in msg
    _assert_run_cleaned_up(tmp_path, private_tmp)


def _private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder of this test only, where a child would put files on its own."""
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    return private_tmp


def _assert_run_cleaned_up(tmp_path: Path, private_tmp: Path) -> None:
    """The stopped run left neither temporary files nor processes."""
    assert not list(private_tmp.iterdir()), "the killed run left temporary files"
    ps = subprocess.run(["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True).stdout
    # only this test's run (its folder is in the child's arguments); other runs may be going on
    assert not [
        line for line in ps.splitlines() if "v2xcosim.runner" in line and str(tmp_path) in line
    ]


def test_hang_in_c_code_is_stopped_by_the_watchdog(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stall clock starts only when stepping begins, so however slow the set-up is on a
    # loaded machine (it is under runner.startup_timeout_s, 600 s), only a stuck step trips it.
    private_tmp = _private_tmp(tmp_path, monkeypatch)
    msg = _fault(
        tmp_path, capfd, "sites.0.fmu.parameters.hang_at_s=900", ["runner.stall_timeout_s=8"]
    )
    assert "hung in simulator FMU-0, entity fleet_residential, at simulated time t = 900 s" in msg
    assert "after simulated time t = 600 s" in msg and "runner.stall_timeout_s = 8 s" in msg
    _assert_run_cleaned_up(tmp_path, private_tmp)


def test_hang_during_set_up_is_stopped_under_the_startup_timeout(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The FMU spins in fmi2ExitInitializationMode, i.e. while the mosaik world is built.  With a
    # stall limit of an hour, only the set-up allowance can end this test in seconds.
    private_tmp = _private_tmp(tmp_path, monkeypatch)
    msg = _fault(
        tmp_path,
        capfd,
        "sites.0.fmu.parameters.hang_in_init=1",
        ["runner.startup_timeout_s=5", "runner.stall_timeout_s=3600"],
    )
    # (whether the child got as far as creating the FMU entity within 5 s depends on the load)
    assert "during set-up" in msg and "runner.startup_timeout_s = 5 s" in msg
    _assert_run_cleaned_up(tmp_path, private_tmp)


def _dog() -> Watchdog:
    """A watchdog whose child started at 1000 s of a fake clock: 12 steps of 300 s."""
    return Watchdog(
        startup_timeout_s=600.0, stall_timeout_s=8.0, n_steps=12, step_s=300, last_beat=1000.0
    )


def test_watchdog_gives_set_up_its_own_allowance() -> None:
    dog = _dog()
    assert dog.timeout_s == 600.0
    assert not dog.overdue(1000.0 + 599.0)  # a slow set-up: far over the stall limit, not a hang
    assert dog.overdue(1000.0 + 600.5)
    assert "hung during set-up" in dog.hang_message()
    assert "runner.startup_timeout_s = 600 s" in dog.hang_message()
    assert dog.where() == "during set-up (before the first step)"


def test_watchdog_stall_clock_starts_when_stepping_begins() -> None:
    dog = _dog()
    assert not dog.beat(STEPPING_BEAT, 1400.0)  # set-up took 400 s: fine
    assert dog.timeout_s == 8.0
    assert not dog.overdue(1408.0) and dog.overdue(1408.5)
    assert "hung in the first step (t = 0 s)" in dog.hang_message()
    assert dog.beat("0", 1405.0) and dog.beat("300", 1412.0)
    assert not dog.overdue(1420.0) and dog.overdue(1420.5)
    msg = dog.hang_message()
    assert "hung after simulated time t = 300 s (step 1)" in msg
    assert "runner.stall_timeout_s = 8 s" in msg
    assert dog.beat("3300", 1500.0)  # the last of 12 steps of 300 s
    assert dog.where() == "after the last step (t = 3300 s), while finishing the run"


def test_watchdog_names_the_simulator_call_the_child_is_in() -> None:
    dog = _dog()
    dog.enter("FMU-0\tfleet_a\t0")  # creating the entity
    assert dog.where() == (
        "in simulator FMU-0, entity fleet_a, at simulated time t = 0 s — during set-up "
        "(before the first step)"
    )
    dog.enter("")  # left the call
    assert dog.where() == "during set-up (before the first step)"
    assert dog.beat("0", 1010.0) and dog.beat("300", 1020.0)
    dog.enter("Grid-0\tgrid\t600")
    assert not dog.overdue(1028.0)  # entering a call is not progress: the stall clock runs on
    assert dog.overdue(1028.5)
    assert "hung in simulator Grid-0, entity grid, at simulated time t = 600 s — after " \
        "simulated time t = 300 s (step 1)" in dog.hang_message()


def test_watchdog_step_beat_without_stepping_beat_ends_set_up() -> None:
    dog = _dog()
    assert dog.beat("0", 1010.0)
    assert dog.stepping and dog.last_t == 0 and dog.timeout_s == 8.0


def test_store_beats_stepping_before_the_first_step(tmp_path: Path) -> None:
    from v2xcosim.cosim.store_sim import StoreSim

    r_fd, w_fd = os.pipe()
    try:
        sim = StoreSim()
        sim.create(
            1,
            "Store",
            labels={},
            out_dir=str(tmp_path),
            start_utc="2016-06-15T00:00:00+00:00",
            step_s=300,
            progress_fd=w_fd,
        )
        sim.setup_done()
        assert sim.step(0, {}, 300) == 300
        assert os.read(r_fd, 100) == b"stepping\n0\n"
    finally:
        os.close(r_fd)
        os.close(w_fd)


def test_power_flow_divergence_aborts(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    msg = _fault(tmp_path, capfd, "grid.load_scaling=2000.0")
    assert "did not converge" in msg and "Grid-0" in msg


def test_in_process_abort_raises_the_reason_and_ends_mosaik_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # scenario.run in this process: the power flow's own reason, and mosaik's other step tasks
    # cancelled and awaited (none destroyed pending, no unraisable warning at collection).
    import gc

    from v2xcosim.core.errors import SimulationError
    from v2xcosim.scenario import load_scenario, run

    spec = load_scenario(DEMO, [*toy_overrides(10), *SHORT, "grid.load_scaling=2000.0"])
    out = tmp_path / "run"
    out.mkdir()
    with pytest.raises(SimulationError, match="did not converge"):
        run(spec, out)
    gc.collect()
    assert not [r for r in caplog.records if "destroyed" in r.getMessage()]
    assert not (out / "metadata.json").exists()
