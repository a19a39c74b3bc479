from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.io import atomic_write_bytes, prepare_out_dir
from v2xcosim.cosim.recorder import ResultRecorder
from v2xcosim.report.kpis import GRID_KPI_KEYS, KPIS, grid_kpis, voltage_violation_bus_hours
from v2xcosim.report.results import verify_run_folder, write_metadata
from v2xcosim.usecases.sites.kpis import compute_kpis


def test_recorder_builds_sorted_tables_with_labels() -> None:
    rec = ResultRecorder(
        start=pd.Timestamp("2024-01-01T00:00Z"), step_s=60, vector_labels={"grid.vm_pu": ["a", "b"]}
    )
    for t in (0, 60):
        rec.record(t, "grid", "vm_pu", [1.0, None if t == 0 else 0.99])
        rec.record(t, "grid", "p_slack_w", None if t == 60 else 5.0)
    frame = rec.frames()["grid"]
    assert list(frame.columns) == ["time", "step", "p_slack_w", "vm_pu[a]", "vm_pu[b]"]
    assert frame["step"].tolist() == [0, 1]
    assert np.isnan(frame["p_slack_w"][1]) and np.isnan(frame["vm_pu[b]"][0])


def test_atomic_write_and_out_dir_rules(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"abc")
    assert target.read_bytes() == b"abc" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]
    with pytest.raises(ScenarioError, match="not empty"):
        prepare_out_dir(tmp_path)
    prepare_out_dir(tmp_path / "new" / "run")
    assert (tmp_path / "new" / "run").is_dir()


def test_manifest_verifies_and_detects_tampering(tmp_path: Path) -> None:
    assert "missing" in verify_run_folder(tmp_path)[0]
    (tmp_path / "a.parquet").write_bytes(b"1")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.png").write_bytes(b"2")
    write_metadata(tmp_path, {"seed": 1, "wall_s": 0.5})
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert set(meta["manifest"]) == {"a.parquet", "sub/b.png"}
    assert verify_run_folder(tmp_path) == []
    (tmp_path / "a.parquet").write_bytes(b"X")
    (tmp_path / "extra.json").write_text("{}")
    problems = verify_run_folder(tmp_path)
    assert any("a.parquet" in p for p in problems) and any("extra.json" in p for p in problems)


def test_a_report_written_after_the_run_keeps_the_folder_complete(tmp_path: Path) -> None:
    """``v2xcosim report`` writes report.html into a finished folder: resume and sweeps must
    still see it complete; any other unlisted file, or a report in a subfolder, is a problem."""
    (tmp_path / "a.parquet").write_bytes(b"1")
    write_metadata(tmp_path, {"seed": 1})
    (tmp_path / "report.html").write_text("<html></html>")
    assert verify_run_folder(tmp_path) == []
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "report.html").write_text("<html></html>")
    assert verify_run_folder(tmp_path) == ["sub/report.html: not listed in the manifest"]
    assert verify_run_folder(tmp_path, derived=["sub/report.html"]) == []  # a report's --out
    assert verify_run_folder(tmp_path, derived=["sub"]) == []  # a study's --out folder
    assert verify_run_folder(tmp_path, derived=["su"]) != []  # a folder, not a name's prefix


def test_study_folders_and_hidden_files_are_derived_outputs(tmp_path: Path) -> None:
    """Grid studies write into ``study-<name>/`` of a finished folder (one rule for report,
    studies, resume and sweeps); a file the run listed is still checked there."""
    (tmp_path / "study-voltage").mkdir()
    (tmp_path / "study-voltage" / "listed.csv").write_text("1")
    write_metadata(tmp_path, {"seed": 1})
    (tmp_path / "study-voltage" / "bus_voltage.csv").write_text("v")
    (tmp_path / "study-hosting" / "deep").mkdir(parents=True)
    (tmp_path / "study-hosting" / "deep" / "x.png").write_bytes(b"1")
    (tmp_path / ".partial").mkdir()
    (tmp_path / ".partial" / "x.parquet").write_bytes(b"1")
    assert verify_run_folder(tmp_path) == []
    (tmp_path / "study-voltage" / "listed.csv").unlink()
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "a.csv").write_text("1")
    assert verify_run_folder(tmp_path) == [
        "study-voltage/listed.csv: listed in the manifest but missing",
        "studies/a.csv: not listed in the manifest",
    ]


def test_kpis_energy_and_checks() -> None:
    t = pd.date_range("2024-01-01", periods=4, freq="15min", tz="UTC")
    grid = pd.DataFrame(
        {
            "time": t,
            "step": range(4),
            "converged": [1.0, 1.0, 0.0, 1.0],
            "p_slack_w": [4000.0, -2000.0, np.nan, 0.0],
            "p_loss_w": [100.0, 100.0, np.nan, 0.0],
            "vm_pu[a]": [1.0, 1.2, np.nan, 1.0],
            "line_loading_percent[l]": [10.0, 20, np.nan, 0],
            "trafo_loading_percent[t]": [50.0, 50, np.nan, 0],
        }
    )
    site = pd.DataFrame(
        {
            "time": t,
            "step": range(4),
            "p_ac_w[0]": [4000.0, 0, 0, 0],
            "soc[0]": [0.5, 0.6, 0.7, 0.95],
        }
    )
    sessions = pd.DataFrame(
        {"site": ["x"], "ev": [0], "departure_s": [3600.0], "soc_target": [0.9]}
    )
    k = compute_kpis(
        {"grid": grid, "site_x": site},
        sessions,
        step_s=900,
        grid_limits={
            "v_min_pu": 0.9,
            "v_max_pu": 1.1,
            "max_line_loading_percent": 100,
            "max_trafo_loading_percent": 100,
        },
        checks={"convergence": True, "voltage_band": False, "loading": True, "soc_target": True},
    )
    assert k["import_energy_mwh"] == pytest.approx(1e-3)
    assert k["reverse_flow_energy_mwh"] == pytest.approx(5e-4)
    assert k["import_peak_mw"] == 4e-3 and k["reverse_flow_peak_mw"] == 2e-3
    assert k["reverse_flow_steps"] == 1 and k["losses_mwh"] == pytest.approx(5e-5)
    assert k["nonconverged_steps"] == 1 and k["voltage_violation_bus_steps"] == 1
    # 900-s steps are longer than the 10-min window: each step is judged, 1 bus x 0.25 h
    assert k["voltage_violation_bus_hours"] == 0.25
    assert k["max_line_loading_pct"] == 20.0 and k["max_trafo_loading_pct"] == 50.0
    assert k["overloaded_line_steps"] == 0 and k["overloaded_trafo_steps"] == 0
    assert k["sites"]["x"]["sessions_reaching_target"] == 1
    assert k["sites"]["x"]["ev_energy_ac_kwh"] == pytest.approx(1.0)
    assert k["checks"]["convergence"] == {"flagged": True, "passed": False}
    assert k["checks_passed"] is False
    json.dumps(k, allow_nan=False)


def _grid(**cols: list[float]) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    return pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n, freq="5min"), **cols})


def test_grid_kpis_skip_nonconverged_steps() -> None:
    nan = np.nan
    grid = _grid(
        converged=[1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0],
        p_slack_w=[2e6, -1e6, -3e6, 1e6, nan, 0.0, -0.0],
        p_loss_w=[1e5, 1e5, 1e5, 1e5, nan, 1e5, 1e5],
        **{
            # 300-s steps, 10-min windows of 2 steps: a's second window has the mean 1.105,
            # b's first 0.895 (outside 0.9..1.1); the NaN window and the incomplete last
            # window are not judged, whatever their values
            "vm_pu[a]": [1.0, 1.0, 1.12, 1.09, nan, 0.85, 0.8],
            "vm_pu[b]": [0.89, 0.9, 1.0, 1.0, nan, 1.0, 1.0],
            "line_loading_percent[l]": [10.0, 20.0, 30.0, 40.0, nan, 0.0, 0.0],
            "trafo_loading_percent[t]": [50.0, 60.0, 70.0, 80.0, nan, 0.0, 0.0],
        },
    )
    k = grid_kpis(grid, step_s=300, v_min_pu=0.9, v_max_pu=1.1)
    assert tuple(k) == GRID_KPI_KEYS
    assert k["steps"] == 7 and k["nonconverged_steps"] == 1
    assert k["import_energy_mwh"] == pytest.approx(3e6 * 300 / 3.6e9)
    assert k["reverse_flow_energy_mwh"] == pytest.approx(4e6 * 300 / 3.6e9)
    assert (k["import_peak_mw"], k["reverse_flow_peak_mw"], k["reverse_flow_steps"]) == (2, 3, 2)
    assert k["losses_mwh"] == pytest.approx(6e5 * 300 / 3.6e9)
    assert (k["vm_min_pu"], k["vm_max_pu"]) == (0.8, 1.12)
    assert k["voltage_violation_bus_hours"] == pytest.approx(2 * 600 / 3600)
    assert (k["max_line_loading_pct"], k["max_trafo_loading_pct"]) == (40.0, 80.0)


def test_grid_kpis_of_no_converged_step_are_nan_not_warnings() -> None:
    nan = np.nan
    grid = _grid(
        converged=[0.0, 0.0],
        p_slack_w=[nan, nan],
        p_loss_w=[nan, nan],
        **{"vm_pu[a]": [nan, nan], "line_loading_percent[l]": [nan, nan]},
    )
    # pytest turns warnings into errors (pyproject); no trafo columns at all
    k = grid_kpis(grid, step_s=300, v_min_pu=0.9, v_max_pu=1.1)
    assert k["import_energy_mwh"] == 0.0 and k["losses_mwh"] == 0.0
    assert k["reverse_flow_steps"] == 0 and k["voltage_violation_bus_hours"] == 0.0
    for key in ("import_peak_mw", "reverse_flow_peak_mw", "vm_min_pu", "max_trafo_loading_pct"):
        assert np.isnan(k[key]), key
    empty = grid_kpis(grid.iloc[:0], step_s=300, v_min_pu=0.9, v_max_pu=1.1)
    assert empty["steps"] == 0 and empty["import_peak_mw"] == 0.0


def test_voltage_window_is_the_step_when_the_step_is_longer() -> None:
    vm = np.array([[0.8], [1.0], [1.0]])
    assert voltage_violation_bus_hours(vm, 900, v_min_pu=0.9, v_max_pu=1.1) == 0.25
    # 10-min window of 60-s steps: mean 0.933 is inside the band, the 3 steps are not a window
    assert voltage_violation_bus_hours(vm, 60, v_min_pu=0.9, v_max_pu=1.1) == 0.0
    assert voltage_violation_bus_hours(vm, 60, v_min_pu=0.9, v_max_pu=1.1, window_s=60) == 1 / 60


def test_kpi_names_carry_their_unit() -> None:
    suffix_unit = {"_mwh": "MWh", "_mw": "MW", "_kwh": "kWh", "_kw": "kW", "_pct": "%"}
    suffix_unit |= {"_pu": "pu", "_eur": "EUR", "_mvar": "Mvar", "_bus_hours": "bus·h"}
    suffix_unit |= {"_eur_per_kwh": "EUR/kWh"}
    for name, kpi in KPIS.items():
        assert kpi.definition, name
        for suffix in sorted(suffix_unit, key=len, reverse=True):  # the longest unit first
            if name.endswith(suffix):
                assert kpi.unit == suffix_unit[suffix], name
                break
        if name.endswith("_steps"):
            assert kpi.unit.endswith("steps"), name


def test_every_kpi_of_every_golden_is_in_the_vocabulary() -> None:
    goldens = json.loads((Path(__file__).parent / "goldens" / "goldens.json").read_text())
    for case, golden in goldens.items():
        kpis = golden["kpis"]
        names = set(kpis)
        for block in ("sites", "lv_sites"):
            for site in kpis.get(block, {}).values():
                names |= set(site)
        assert not names - set(KPIS), case


def test_checks_on_all_diverged_steps_fail_as_not_assessable() -> None:
    # every power flow diverged (on_nonconvergence = "flag"): there is nothing to judge, so the
    # voltage and loading checks must not pass; convergence fails; KPIs count the steps
    nan = np.nan
    grid = _grid(
        step=[0.0, 1.0, 2.0],
        converged=[0.0, 0.0, 0.0],
        p_slack_w=[nan, nan, nan],
        p_loss_w=[nan, nan, nan],
        **{
            "vm_pu[a]": [nan, nan, nan],
            "line_loading_percent[l]": [nan, nan, nan],
            "trafo_loading_percent[t]": [nan, nan, nan],
        },
    )
    site = pd.DataFrame(
        {"time": grid["time"], "step": range(3), "p_ac_w[0]": [0.0] * 3, "soc[0]": [0.5] * 3}
    )
    no_sessions = pd.DataFrame({"site": [], "ev": [], "departure_s": [], "soc_target": []})
    limits = {
        "v_min_pu": 0.9,
        "v_max_pu": 1.1,
        "max_line_loading_percent": 100,
        "max_trafo_loading_percent": 100,
    }
    flagged = {"convergence": True, "voltage_band": True, "loading": True, "soc_target": False}
    k = compute_kpis(
        {"grid": grid, "site_x": site}, no_sessions, step_s=300, grid_limits=limits, checks=flagged
    )
    assert k["nonconverged_steps"] == 3
    for name in ("voltage_band", "loading"):
        assert k["checks"][name]["passed"] is False, name
        assert "not assessable" in k["checks"][name]["reason"]
    assert k["checks"]["convergence"] == {"flagged": True, "passed": False}
    assert k["checks_passed"] is False
    from v2xcosim.report.compare import checks_line

    assert "voltage_band (not assessable)" in checks_line(k)
    # one converged step within limits is enough to judge (and pass) the band and loading
    grid.loc[1, ["converged", "vm_pu[a]", "line_loading_percent[l]"]] = [1.0, 1.0, 10.0]
    k = compute_kpis(
        {"grid": grid, "site_x": site}, no_sessions, step_s=300, grid_limits=limits, checks=flagged
    )
    assert k["checks"]["voltage_band"] == {"flagged": True, "passed": True}
    assert k["checks"]["loading"] == {"flagged": True, "passed": True}
    assert k["checks"]["convergence"]["passed"] is False and k["nonconverged_steps"] == 2
