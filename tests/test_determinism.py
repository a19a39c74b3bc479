"""Determinism: five reruns give identical result tables (decoded values and dtypes).

The demo (one hour from 17:30, its mean arrival time), the Terni day shortened to two hours
(``--set time.duration_s=7200``) and the Terni week shortened to Monday 08:00-10:00 (EVs arrive,
the market opens) each run five times in-process: three with the default solver
threads (one from another working directory), then with ``solver.threads`` = 1 and = 2 (the
fleet FMUs integrate their blocks on that many threads; one more from another working
directory).  Every parquet table of every run must equal the first run's exactly, column names,
order and dtypes included.  Plots are off (they are not result tables).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd
import pytest

from v2xcosim.scenario import load_scenario, run

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "demo": (
        ROOT / "scenarios" / "demo.toml",
        ["time.duration_s=3600", "time.start=2016-06-15T17:30:00+02:00", "results.plots=false"],
        "sites.0.fmu.instance_parameters",
    ),
    "terni": (
        ROOT / "scenarios" / "terni_v2g.toml",
        ["time.duration_s=7200", "results.plots=false"],
        "terni.fmu_instance_parameters",
    ),
    "terni_week": (
        ROOT / "scenarios" / "terni_v2g_week.toml",
        ["time.start=2024-05-13T08:00:00+02:00", "time.duration_s=7200", "results.plots=false"],
        "terni.fmu_instance_parameters",
    ),
}
# (threads override or None, run from another working directory)
RUNS = [(None, False), (None, False), (None, True), (1, False), (2, True)]


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {p.name: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_five_reruns_give_identical_tables(case: str, tmp_path: Path) -> None:
    path, sets, threads_key = CASES[case]
    first: dict[str, pd.DataFrame] | None = None
    for i, (threads, elsewhere) in enumerate(RUNS):
        extra = [] if threads is None else [f'{threads_key}={{"solver.threads" = {threads}}}']
        cwd = tmp_path / f"cwd{i}" if elsewhere else ROOT
        cwd.mkdir(exist_ok=True)
        out = tmp_path / f"run{i}"
        out.mkdir()
        with contextlib.chdir(cwd):
            spec = load_scenario(path, [*sets, *extra])
            result = run(spec, out)
        assert result.exit_code in (0, 1)
        tables = _tables(out)
        if first is None:
            first = tables
            assert len(first) >= 4 and len(first["grid.parquet"]) == spec.time.n_steps
            if case == "demo":  # EVs charge in this hour: the fleet FMU's threads are at work
                assert first["site_residential.parquet"].filter(like="p_ac").abs().sum().sum() > 0
            continue
        assert sorted(tables) == sorted(first), f"run {i}"
        for name, table in tables.items():
            pd.testing.assert_frame_equal(table, first[name], check_exact=True,
                                          obj=f"{case} run {i} {name}")
