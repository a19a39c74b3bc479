"""``v2xcosim run --profile``: the wall time split into FMU steps, grid solve and framework.

No timing threshold: the tests check the bookkeeping (the parts add up to the wall time, the
number of timed calls is the number of simulator steps, the table has its three rows), which
holds on any machine.  Tolerance of the sum: 1e-9 s (float round-off of three sums of seconds).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from v2xcosim import cli
from v2xcosim.core.timers import StepTimers, profile_split, profile_table
from v2xcosim.report.results import verify_run_folder

ROOT = Path(__file__).resolve().parents[1]
ROWS = ("FMU steps", "grid solve", "framework (mosaik, actors, store, I/O)")


def test_split_adds_up_and_table_has_three_rows() -> None:
    t = StepTimers()
    t.add("fmu", 1.25)
    t.add("fmu", 0.75)
    t.add("grid", 3.0)
    split = profile_split(10.0, t)
    # hand calculation: 10 - (1.25 + 0.75) - 3 = 5 s of framework, 50 %
    assert split["fmu_s"] == 2.0
    assert split["grid_s"] == 3.0
    assert split["framework_s"] == 5.0
    assert split["framework_share"] == 0.5
    assert (split["fmu_calls"], split["grid_calls"]) == (2, 1)
    lines = profile_table(split).splitlines()
    body = [ln for ln in lines if ln.startswith(ROWS)]
    assert len(body) == 3
    assert body[2].split()[-2:] == ["5.000", "50.0"]
    t.reset()
    assert profile_split(1.0, t)["framework_s"] == 1.0


def test_timed_parts_longer_than_the_wall_time_are_refused() -> None:
    t = StepTimers()
    t.add("grid", 2.0)
    with pytest.raises(ValueError, match="not reset"):
        profile_split(1.0, t)


def test_run_profile_prints_and_writes_the_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = cli.main(
        [
            "run",
            str(ROOT / "scenarios" / "demo.toml"),
            "--set",
            "time.duration_s=3600",
            "--set",
            "results.plots=false",
            "--out",
            str(out),
            "--no-progress",
            "--profile",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    rows = [ln for ln in text.splitlines() if ln.startswith(ROWS)]
    assert [r.split("  ")[0].strip() for r in rows] == list(ROWS)
    assert "framework share:" in text
    split = json.loads((out / "profile.json").read_text())
    meta = json.loads((out / "metadata.json").read_text())
    assert "profile.json" in meta["manifest"]
    assert verify_run_folder(out) == []
    total = split["fmu_s"] + split["grid_s"] + split["framework_s"]
    assert total == pytest.approx(split["wall_s"], abs=1e-9)
    assert split["wall_s"] == meta["wall_s"]
    assert min(split["fmu_s"], split["grid_s"], split["framework_s"]) > 0.0
    # one timed call per simulator step: 12 steps of 300 s, one fleet (the demo's one site)
    assert split["fmu_calls"] == 12
    assert split["grid_calls"] == 12
    share = 100.0 * split["framework_s"] / split["wall_s"]
    assert f"framework share: {share:.1f} %" in text
