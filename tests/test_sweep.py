"""``v2xcosim sweep``: variants on a local Dask cluster, failures recorded, resume, the summary.

The demo scenario is cut to one evening hour (17:00-18:00, when the EVs arrive, so the seeds
matter) without plots, so that a variant takes seconds.  ``grid.load_scaling = 1000`` is a
valid scenario whose power flow does not converge at the first step (``on_nonconvergence =
"abort"``): the variant fails at run time, not at validation.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from goldens.digest import folder_golden
from v2xcosim.cli import main
from v2xcosim.config.load import apply_overrides, parse_override
from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.runlock import read_request
from v2xcosim.report.results import METADATA, verify_run_folder
from v2xcosim.scenario import load_scenario
from v2xcosim.sweep import (
    SUMMARY,
    SUMMARY_PLOT,
    SUMMARY_REPORT,
    folder_name,
    parse_param,
    seed_spread,
    split_values,
    summary_report,
    sweep_seeds,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scenarios" / "demo.toml"
SHORT = [
    "--set",
    "time.start=2016-06-15T17:00:00+02:00",
    "--set",
    "time.duration_s=3600",
    "--set",
    "results.plots=false",
]
RTOL = 'sites.0.fmu.instance_parameters."solver.rtol"=1e-7'
"""A quoted dotted FMU parameter name, one value: every variant has it."""


def test_set_quotes_a_dotted_key_part() -> None:
    assert parse_override(RTOL) == (
        ["sites", "0", "fmu", "instance_parameters", "solver.rtol"],
        1e-7,
    )
    assert parse_override("a.'b=c'.d=x") == (["a", "b=c", "d"], "x")
    data = apply_overrides({"a": {"b.c": 1}}, ['a."b.c"=2', "a.b.c=3"])
    assert data == {"a": {"b.c": 2, "b": {"c": 3}}}
    spec: Any = load_scenario(DEMO, [RTOL])
    assert spec.sites[0].fmu.instance_parameters == {"solver.rtol": 1e-7}
    for bad in ['a."b=1', 'a."b"c=1', "a..b=1", "=1", "nokey"]:
        with pytest.raises(ScenarioError, match="--set"):
            parse_override(bad)


def test_param_values_and_names() -> None:
    assert split_values("1,[2, 3],'a,b', x") == ["1", "[2, 3]", "'a,b'", "x"]
    p = parse_param(RTOL.replace("1e-7", "1e-6,1e-8"))
    assert p.key == 'sites.0.fmu.instance_parameters."solver.rtol"'
    assert p.values == ("1e-6", "1e-8")
    for bad in ["a=1,,2", "a=1,1", "a.b"]:
        with pytest.raises(ScenarioError, match="--param"):
            parse_param(bad)
    name = folder_name([("control.strategy", "smart"), (p.key, "1e-6")], 3)
    assert (
        name == "control.strategy=smart__sites.0.fmu.instance_parameters.solver.rtol=1e-6__seed=3"
    )
    assert folder_name([("a", "x y/z")], None) == "a=x_y_z"
    long = folder_name([("k", "v" * 300)], None)
    assert len(long) == 120 and long != folder_name([("k", "v" * 301)], None)


def test_seeds_are_derived_from_the_scenario_seed() -> None:
    five = sweep_seeds(20240615, 5)
    assert len(set(five)) == 5 and all(0 <= s < 2**31 for s in five)
    assert sweep_seeds(20240615, 3) == five[:3]
    assert sweep_seeds(20240616, 3) != five[:3]


def test_seed_spread_is_the_t_interval_of_the_mean() -> None:
    frame = pd.DataFrame({"param:x": [1, 1, 1, 2, 2], "kpi:y": [1.0, 2.0, 3.0, 5.0, float("nan")]})
    spread = seed_spread(frame, "param:x", "kpi:y")
    # x = 1: mean 2, s = 1, n = 3; t(0.975, 2) = 4.303 (Student's t table)
    half = 4.303 / math.sqrt(3)
    assert spread["n"].tolist() == [3, 1]
    assert spread["mean"].tolist() == pytest.approx([2.0, 5.0])
    assert spread["lo"].tolist() == pytest.approx([2.0 - half, 5.0], abs=1e-3)
    assert spread["hi"].tolist() == pytest.approx([2.0 + half, 5.0], abs=1e-3)


def test_bad_param_key_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    rc = main(["sweep", str(DEMO), *SHORT, "--param", "grid.no_such_key=1,2", "--out", str(out)])
    assert rc == 2
    assert "grid.no_such_key" in capsys.readouterr().err
    assert not out.exists()


def _sweep(out: Path) -> int:
    return main(
        [
            "sweep",
            str(DEMO),
            *SHORT,
            "--param",
            "grid.load_scaling=3.0,1000.0",
            "--param",
            RTOL,
            "--seeds",
            "3",
            "--workers",
            "2",
            "--no-progress",
            "--out",
            str(out),
        ]
    )


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, int]:
    out = tmp_path_factory.mktemp("sweep") / "out"
    rc = _sweep(out)
    return out, pd.read_parquet(out / SUMMARY), rc


@pytest.mark.slow
def test_sweep_records_the_failing_variants_and_completes_the_others(
    swept: tuple[Path, pd.DataFrame, int],
) -> None:
    out, frame, rc = swept
    assert rc == 1
    assert len(frame) == 6
    assert sorted(frame["seed"].unique().tolist()) == sorted(sweep_seeds(20240615, 3))
    ok = frame[frame["param:grid.load_scaling"] == 3.0]
    bad = frame[frame["param:grid.load_scaling"] == 1000.0]
    assert ok["status"].tolist() == ["ok"] * 3
    assert bad["status"].tolist() == ["error"] * 3
    assert all("did not converge" in e for e in bad["error"])
    assert (frame['param:sites.0.fmu.instance_parameters."solver.rtol"'] == 1e-7).all()
    for _, row in ok.iterrows():
        folder = Path(str(row["run_dir"]))
        assert folder == out / str(row["variant"])
        assert verify_run_folder(folder) == []
        kpis = json.loads((folder / "kpis.json").read_text())
        assert row["kpi:losses_mwh"] == kpis["losses_mwh"]
    for _, row in bad.iterrows():
        assert not Path(str(row["run_dir"])).exists()
    # the seeds draw different sessions: the KPIs of the seeds differ
    assert ok["kpi:import_energy_mwh"].nunique() == 3
    assert (out / SUMMARY_PLOT).stat().st_size > 0
    page = (out / SUMMARY_REPORT).read_text()
    assert "chart-losses_mwh--param_grid_load_scaling" in page
    assert page.count("<tr>") == 1 + len(frame)  # header + one row per variant
    assert "Variants (3 of 6 ok)" in page and "did not converge" in page


def test_summary_report_draws_the_seed_spread() -> None:
    frame = pd.DataFrame(
        {
            "param:x": [1, 1, 2, 2],
            "seed": [5, 6, 5, 6],
            "status": ["ok", "ok", "ok", "error"],
            "error": ["", "", "", "boom"],
            "run_dir": ["a", "b", "c", "d"],
            "kpi:losses_mwh": [1.0, 3.0, 4.0, None],
        }
    )
    page = summary_report(frame, ["kpi:losses_mwh", "kpi:absent"], "t")
    assert "losses_mwh [MWh]" in page and "absent" not in page
    assert page.count('id="chart-') == 1 and "Variants (3 of 4 ok)" in page
    # the mean and the t band of x = 1: mean 2, half width t(0.975, 1) * sqrt(2) / sqrt(2) = 12.706
    spread = seed_spread(frame, "param:x", "kpi:losses_mwh")
    assert spread["mean"].tolist() == [2.0, 4.0]
    assert spread["hi"].iloc[0] == pytest.approx(2.0 + 12.7062047, rel=1e-6)
    assert "src=" not in page.split("<body>", 1)[1]  # nothing loaded from outside


@pytest.mark.slow
def test_a_variant_equals_the_same_run_alone(
    swept: tuple[Path, pd.DataFrame, int], tmp_path: Path
) -> None:
    _, frame, _ = swept
    folder = Path(str(frame[frame["status"] == "ok"]["run_dir"].iloc[0]))
    scenario, overrides = read_request(folder)
    alone = tmp_path / "alone"
    sets = [x for item in overrides for x in ("--set", item)]
    assert main(["run", str(scenario), *sets, "--out", str(alone), "--no-progress"]) == 0
    assert folder_golden(alone) == folder_golden(folder)


@pytest.mark.slow
def test_a_resumed_sweep_runs_no_complete_variant_again(
    swept: tuple[Path, pd.DataFrame, int],
) -> None:
    out, first, _ = swept
    ok = first[first["status"] == "ok"]
    stamps = {d: (Path(d) / METADATA).stat().st_mtime_ns for d in ok["run_dir"]}
    assert _sweep(out) == 1
    again = pd.read_parquet(out / SUMMARY)
    assert again["variant"].tolist() == first["variant"].tolist()
    assert again["reused"].tolist() == (first["status"] == "ok").tolist()
    assert {d: (Path(d) / METADATA).stat().st_mtime_ns for d in ok["run_dir"]} == stamps
    pd.testing.assert_series_equal(
        again["kpi:losses_mwh"], first["kpi:losses_mwh"], check_names=True
    )


@pytest.mark.slow
def test_sweep_uses_an_existing_cluster_and_leaves_it_running(tmp_path: Path) -> None:
    import importlib

    dd: Any = importlib.import_module("dask.distributed")  # untyped: used through Any
    out = tmp_path / "sweep"
    with (
        dd.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        dd.Client(cluster) as client,
    ):
        args = ["sweep", str(DEMO), *SHORT, "--param", "grid.load_scaling=3.0", "--no-progress"]
        assert main([*args, "--scheduler", cluster.scheduler_address, "--out", str(out)]) == 0
        answers = client.run(lambda: "alive")
        assert list(answers.values()) == ["alive"]
    frame = pd.read_parquet(out / SUMMARY)
    assert frame["variant"].tolist() == ["grid.load_scaling=3.0"]
    assert frame["status"].tolist() == ["ok"]
    assert verify_run_folder(out / "grid.load_scaling=3.0") == []
