"""Failure paths through the CLI (validate/run) with the watched child process."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from v2x_helpers import DEMO, cli, toy_overrides


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


def _fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str, extra: Sequence[str] = ()
) -> str:
    out = tmp_path / "run"
    rc = _run_demo(out, [*toy_overrides(10), *SHORT, fault, *extra])
    assert rc == 2
    assert not (out / "metadata.json").exists()
    return capsys.readouterr().out


def test_exception_in_fmu_names_simulator_entity_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    msg = _fault(tmp_path, capsys, "sites.0.fmu.parameters.fail_at_s=900")
    assert "FMU-0" in msg and "fleet_residential" in msg and "t = 900 s" in msg


def test_crash_in_c_code_is_caught(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    msg = _fault(tmp_path, capsys, "sites.0.fmu.parameters.crash_at_s=900")
    assert "SIGABRT" in msg and "t = 600 s" in msg


def test_hang_in_c_code_is_stopped_by_the_watchdog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.setenv("TMPDIR", str(private_tmp))  # where a child would put files on its own
    msg = _fault(
        tmp_path, capsys, "sites.0.fmu.parameters.hang_at_s=900", ["runner.stall_timeout_s=8"]
    )
    assert "hung" in msg and "t = 600 s" in msg
    assert not list(private_tmp.iterdir()), "the killed run left temporary files"
    ps = subprocess.run(["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True).stdout
    # only this test's run (its folder is in the child's arguments); other runs may be going on
    assert not [
        line for line in ps.splitlines() if "v2xcosim.runner" in line and str(tmp_path) in line
    ]


def test_power_flow_divergence_aborts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    msg = _fault(tmp_path, capsys, "grid.load_scaling=2000.0")
    assert "did not converge" in msg and "Grid-0" in msg
