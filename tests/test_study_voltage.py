"""``v2xcosim study voltage``: EN 50160 statistics, flows, feeders and the command on real runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandapower.networks as pn
import pandas as pd
import pytest

from v2x_helpers import DEMO, toy_overrides
from v2xcosim.cli import main
from v2xcosim.grid.studies import voltage as vs
from v2xcosim.report.results import verify_run_folder, write_metadata
from v2xcosim.scenario import load_scenario, run

START = pd.Timestamp("2024-05-13T00:00:00Z")


def _week(values: dict[str, np.ndarray]) -> pd.DataFrame:
    """A hand-made week of 1008 10-min means per bus."""
    index = pd.date_range(START, periods=1008, freq="10min")
    return pd.DataFrame(values, index=index)


def _with(outside: int, value: float, n: int = 1008) -> np.ndarray:
    v = np.ones(n)
    v[:outside] = value
    return v


# ------------------------------------------------------------------ EN 50160 on known shares
def test_en50160_shares_of_a_hand_made_week() -> None:
    means = _week(
        {
            "lv 4 %": _with(40, 0.88),  # 40/1008 = 3.97 % outside ±10 %, all above −15 %
            "lv 6 %": _with(61, 0.88),  # 61/1008 = 6.05 % outside
            "lv one below -15 %": _with(1, 0.84),
            "lv at +10 %": _with(1008, 1.10),  # on the limit is inside
            "mv 1 %": _with(10, 0.88),  # 10/1008 = 0.99 % outside: 99.01 % inside
        "mv one below -15 %": _with(1, 0.84),  # 99.9 % inside, but one mean below -15 %
            "mv 4 %": _with(40, 0.88),
        }
    )
    kv = {b: (0.4 if b.startswith("lv") else 20.0) for b in means.columns}
    en = vs.en50160(means, kv, start=START, span_s=vs.WEEK_S).set_index("bus")
    verdict = en["verdict"].to_dict()
    assert verdict == {
        "lv 4 %": "compliant",
        "lv 6 %": "violated",
        "lv one below -15 %": "violated",
        "lv at +10 %": "compliant",
        "mv 1 %": "compliant",
        "mv one below -15 %": "violated",
        "mv 4 %": "violated",
    }
    assert en.loc["lv 4 %", "share_within_10pct"] == pytest.approx(100 * 968 / 1008)
    assert en.loc["lv one below -15 %", "share_within_10pct"] == pytest.approx(100 * 1007 / 1008)
    assert en.loc["lv 4 %", "level"] == "LV" and en.loc["mv 4 %", "level"] == "MV"
    assert en["full_week"].all() and (en["values_10min"] == 1008).all()
    assert (en["week"] == 1).all() and en["span_h"].iloc[0] == 168.0


def test_ten_minute_means_from_steps() -> None:
    index = pd.date_range(START, periods=25, freq="60s")
    vm = pd.DataFrame({"a": np.r_[np.full(10, 1.0), np.full(10, 0.9), np.full(5, 2.0)]}, index)
    vm["b"] = 1.0
    vm.loc[index[3], "b"] = np.nan  # a step without a power-flow result
    means = vs.ten_minute_means(vm, 60)
    assert means is not None and len(means) == 2  # the last 5 steps are no complete window
    assert means["a"].tolist() == pytest.approx([1.0, 0.9])
    assert np.isnan(means["b"].iloc[0]) and means["b"].iloc[1] == 1.0
    assert list(means.index) == [index[0], index[10]]


def test_step_longer_than_ten_minutes_is_not_assessable() -> None:
    index = pd.date_range(START, periods=8, freq="900s")
    vm = pd.DataFrame({"a": np.full(8, 0.8)}, index)
    assert vs.ten_minute_means(vm, 900) is None
    en = vs.en50160(None, {"a": 0.4}, start=START, span_s=8 * 900)
    row = en.iloc[0]
    for col in ("verdict", "share_within_10pct", "values_10min", "min_10min_pu"):
        assert row[col] == vs.NOT_ASSESSABLE
    assert vs.worst_verdict(en["verdict"]) == vs.NOT_ASSESSABLE


def test_runs_shorter_than_a_week_and_partial_weeks_are_flagged() -> None:
    short = vs.en50160(_week({"a": np.ones(1008)}).iloc[:12], {"a": 0.4}, start=START, span_s=7200)
    assert not short["full_week"].iloc[0] and short["span_h"].iloc[0] == 2.0
    assert short["verdict"].iloc[0] == vs.INDICATIVE  # two hours prove no week
    span = vs.WEEK_S + 86400
    weeks = vs.periods(START, span)
    assert [(b - a).days for a, b in weeks] == [7, 1]
    index = pd.date_range(START, periods=1152, freq="10min")
    means = pd.DataFrame({"a": np.r_[np.ones(1008), np.full(144, 0.8)]}, index)
    en = vs.en50160(means, {"a": 0.4}, start=START, span_s=span)
    assert en["verdict"].tolist() == ["compliant", "violated"]
    assert en["full_week"].tolist() == [True, False]
    assert vs.worst_verdict(en["verdict"]) == "violated"


def test_reverse_flow_hours_and_duration_curves() -> None:
    p = pd.DataFrame({"t1": [1e6, -2e6, -1e6, np.nan], "t2": [5e5, 5e5, 5e5, 5e5]})
    flows = vs.trafo_flows(p, 900)
    assert flows.loc["t1", "reverse_flow_hours"] == 0.5
    assert flows.loc["t1", "reverse_flow_share_pct"] == pytest.approx(200 / 3)
    assert flows.loc["t1", "reverse_flow_energy_mwh"] == pytest.approx(0.75)
    assert flows.loc["t1", "reverse_flow_peak_mw"] == 2.0
    assert flows.loc["t2", "reverse_flow_hours"] == 0.0
    curve = vs.duration_curve(p)
    assert curve["t1"].tolist()[:3] == [1e6, -1e6, -2e6] and np.isnan(curve["t1"].iloc[3])
    assert curve.index.tolist() == [25.0, 50.0, 75.0, 100.0]
    loading = vs.loading_statistics(pd.DataFrame({"l": [50.0, 120.0, 130.0]}), 600, 100.0)
    assert loading.loc["l", "hours_above_limit"] == pytest.approx(1 / 3)
    assert loading.loc["l", "max_pct"] == 130.0 and loading.loc["l", "p50_pct"] == 120.0


def test_feeder_layout_of_the_cigre_network() -> None:
    layout = vs.feeder_layout(pn.create_cigre_network_lv())
    b = layout.buses
    assert b.loc["Bus R18", "substation"] == "Bus R1"
    assert b.loc["Bus R18", "feeder"] == "Line R1-R2"
    assert b.loc["Bus R18", "distance_km"] == pytest.approx(0.345)
    assert b.loc["Bus R1", "distance_km"] == 0.0 and b.loc["Bus R1", "feeder"] == ""
    assert b.loc["Bus I2", "distance_km"] == pytest.approx(0.2)
    assert vs.substations_with_feeders(layout) == ["Bus R1", "Bus I1", "Bus C1"]
    assert layout.lines.loc["Line R10-R18", "feeder"] == "Line R1-R2"


# --------------------------------------------------------------------------- the command
def _demo_run(folder: Path, *overrides: str) -> Path:
    spec = load_scenario(DEMO, [*toy_overrides(10), "time.duration_s=7200", *overrides])
    folder.mkdir(parents=True)
    run(spec, folder)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("study")
    return {
        "ev": _demo_run(root / "ev"),
        "base": _demo_run(root / "base", "base_case=true"),
        "coarse": _demo_run(root / "coarse", "time.step_s=900"),
    }


def test_run_folder_holds_network_and_transformer_powers(runs: dict[str, Path]) -> None:
    out = runs["ev"]
    assert (out / "network.json").is_file() and verify_run_folder(out) == []
    grid = pd.read_parquet(out / "grid.parquet")
    p = grid[[c for c in grid.columns if c.startswith("p_trafo_hv_w[")]]
    q = grid[[c for c in grid.columns if c.startswith("q_trafo_hv_var[")]]
    assert p.shape[1] == q.shape[1] == 3
    # the CIGRE 20 kV node has no lines: the three transformers carry the slack power
    assert p.sum(axis=1).to_numpy() == pytest.approx(grid["p_slack_w"].to_numpy(), abs=1e-3)


def test_cli_writes_tables_and_plots(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "study"
    assert main(["study", "voltage", str(runs["ev"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "EN 50160: indicatively compliant at 44 of 44 buses" in printed
    assert "shorter than a week" in printed and str(out) in printed
    for name in (
        "bus_voltage.csv",
        "voltage_10min.csv",
        "en50160.csv",
        "trafo_flow.csv",
        "loading.csv",
        "duration_curves.csv",
        "feeder_voltage_Bus_R1.png",
        "loading_duration.png",
        "trafo_power_duration.png",
        "study.json",
    ):
        assert (out / name).is_file(), name
    buses = pd.read_csv(out / "bus_voltage.csv", index_col="bus")
    assert buses.loc["Bus R18", "distance_km"] == pytest.approx(0.345)
    assert buses.loc["Bus R18", "level"] == "LV" and buses.loc["Bus 0", "level"] == "MV"
    assert (buses["min_pu"] <= buses["p5_pu"]).all() and (buses["p95_pu"] <= buses["max_pu"]).all()
    assert (buses["en50160"] == vs.INDICATIVE).all()  # a 2-h run: indicative only
    means = pd.read_csv(out / "voltage_10min.csv", index_col="time")
    assert len(means) == 12 and means.shape[1] == 44  # 2 h of 5-min steps
    en = pd.read_csv(out / "en50160.csv")
    assert not en["full_week"].any() and (en["span_h"] == 2.0).all()
    flows = pd.read_csv(out / "trafo_flow.csv", index_col="trafo")
    assert set(flows.index) == {"Trafo R0-R1", "Trafo I0-I1", "Trafo C0-C1"}
    study = json.loads((out / "study.json").read_text())
    assert study["study"] == "voltage" and study["en50160_violated_buses"] == []


def test_default_out_is_inside_the_run_and_can_be_redone(runs: dict[str, Path]) -> None:
    folder = runs["ev"].parent / "again"
    shutil.copytree(runs["ev"], folder)
    assert main(["study", "voltage", str(folder)]) == 0
    assert (folder / "study-voltage" / "bus_voltage.csv").is_file()
    assert main(["study", "voltage", str(folder)]) == 0  # its own output is not a broken run


def test_baseline_puts_two_runs_side_by_side(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    code = main(
        ["study", "voltage", str(runs["ev"]), "--baseline", str(runs["base"]), "--out", str(out)]
    )
    assert code == 0
    cmp = pd.read_csv(out / "comparison.csv")
    assert set(cmp["kind"]) == {"bus", "trafo", "line loading", "trafo loading"}
    row = cmp[(cmp["element"] == "Bus R18") & (cmp["quantity"] == "min_pu")].iloc[0]
    assert row["difference"] == pytest.approx(row["run"] - row["baseline"])
    assert (out / "feeder_voltage_Bus_R1.png").is_file()


def test_step_over_ten_minutes_says_not_assessable(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "coarse"
    assert main(["study", "voltage", str(runs["coarse"]), "--out", str(out)]) == 0
    assert "not assessable at this step" in capsys.readouterr().out
    en = pd.read_csv(out / "en50160.csv")
    assert (en["verdict"] == vs.NOT_ASSESSABLE).all()
    assert (en["share_within_10pct"] == vs.NOT_ASSESSABLE).all()
    assert not (out / "voltage_10min.csv").exists()
    buses = pd.read_csv(out / "bus_voltage.csv", index_col="bus")
    assert buses["max_pu"].notna().all()  # everything else is still computed
    assert (out / "loading.csv").is_file() and (out / "trafo_flow.csv").is_file()


def test_violation_exits_1_only_when_asked(runs: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "low"
    shutil.copytree(runs["ev"], folder)
    grid = pd.read_parquet(folder / "grid.parquet")
    grid["vm_pu[Bus R18]"] = 0.84  # below EN 50160's −15 % all the time
    grid.to_parquet(folder / "grid.parquet", index=False)
    meta = json.loads((folder / "metadata.json").read_text())
    meta.pop("manifest")
    write_metadata(folder, meta)  # a complete run whose voltages violate
    assert main(["study", "voltage", str(folder), "--out", str(tmp_path / "a")]) == 0
    flagged = ["study", "voltage", str(folder), "--out", str(tmp_path / "b")]
    assert main([*flagged, "--fail-on-violation"]) == 1
    study = json.loads((tmp_path / "b" / "study.json").read_text())
    assert study["en50160_violated_buses"] == ["Bus R18"]


def test_folder_that_is_not_a_complete_run_is_refused(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "partial"
    shutil.copytree(runs["ev"], folder)
    (folder / "metadata.json").unlink()
    assert main(["study", "voltage", str(folder)]) == 2
    assert "not a complete run folder" in capsys.readouterr().err
    assert not (folder / "study-voltage").exists()
    tampered = tmp_path / "tampered"
    shutil.copytree(runs["ev"], tampered)
    (tampered / "network.json").write_text("{}")
    assert main(["study", "voltage", str(tampered)]) == 2
    assert "network.json: SHA-256 differs" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert main(["study", "voltage", str(runs["ev"]), "--out", str(busy)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["study", "voltage", str(tmp_path / "nowhere")]) == 2
