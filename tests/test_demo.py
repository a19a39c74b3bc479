"""The demo scenario end to end, with invariants and determinism."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from v2x_helpers import DEMO, cli, toy_overrides
from v2xcosim.report.results import vector_columns, verify_run_folder
from v2xcosim.scenario import RunResult, load_scenario, load_scenario_as, run
from v2xcosim.usecases.sites.schema import SitesScenario


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult]:
    out = tmp_path_factory.mktemp("demo")
    spec = load_scenario(DEMO, toy_overrides(10))
    return out, run(spec, out)


def test_demo_completes_with_all_files(demo_run: tuple[Path, RunResult]) -> None:
    out, res = demo_run
    assert res.exit_code == 0
    for name in (
        "grid.parquet",
        "site_residential.parquet",
        "profiles.parquet",
        "sessions.parquet",
        "kpis.json",
        "substation_power.png",
        "voltage_envelope.png",
        "ev_soc.png",
        "metadata.json",
    ):
        assert (out / name).is_file(), name
    assert verify_run_folder(out) == []
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["seed"] == 20240615 and meta["fmus"]["residential"]["sha256"]
    assert meta["wall_s"] > 0 and "pandapower" in meta["versions"]
    assert res.wall_s < 60


def test_demo_invariants(demo_run: tuple[Path, RunResult]) -> None:
    out, _ = demo_run
    grid = pd.read_parquet(out / "grid.parquet")
    site = pd.read_parquet(out / "site_residential.parquet")
    prof = pd.read_parquet(out / "profiles.parquet")
    assert len(grid) == len(site) == 288 and grid["converged"].all()
    # feeder power balance: slack = loads + EVs - PV + losses (nominal CIGRE loads x profile)
    import pandapower.networks as pn

    p_nom = pn.create_cigre_network_lv().load["p_mw"].sum() * 1e6
    spec = load_scenario_as(DEMO, SitesScenario)
    load = p_nom * spec.grid.load_scaling * prof["household"].to_numpy()
    pv = sum(pv.p_peak_kw for pv in spec.grid.pv) * 1e3 * prof["pv"].to_numpy()
    ev = vector_columns(site, "p_ac_w").sum(axis=1).to_numpy()
    resid = grid["p_slack_w"] - (load + ev - pv + grid["p_loss_w"])
    assert np.abs(resid).max() < 1.0  # W; runpp tolerance 1e-8 MVA
    # AC energy of each EV = change of battery energy + losses (FMU energy meters)
    e_ac = vector_columns(site, "e_ac_j").to_numpy()
    np.testing.assert_allclose(
        e_ac,
        vector_columns(site, "e_chem_j").to_numpy() + vector_columns(site, "e_loss_j").to_numpy(),
        rtol=1e-9,
        atol=1e-3,
    )
    np.testing.assert_allclose(
        e_ac[-1],
        vector_columns(site, "p_ac_w").sum() * 0
        + (vector_columns(site, "p_ac_w").to_numpy() * 300).sum(axis=0),
    )
    soc = vector_columns(site, "soc").to_numpy()
    assert soc.min() >= 0 and soc.max() <= 1 + 1e-9
    p = vector_columns(site, "p_ac_w").to_numpy()
    q = vector_columns(site, "q_ac_var").to_numpy()
    assert np.abs(p).max() <= 11000.0 + 1e-9 and np.hypot(p, q).max() <= 11000.0 + 1e-6
    # EVs draw power only while connected
    plugged = vector_columns(site, "connected").to_numpy()
    assert np.all(p[plugged == 0] == 0.0) and p.max() == 11000.0
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["sites"]["residential"]["sessions"] == 10


def test_determinism_bit_identical_data(tmp_path: Path) -> None:
    overrides = [*toy_overrides(10), "time.duration_s=21600", "results.plots=false"]
    digests = []
    for k in range(2):
        out = tmp_path / f"r{k}"
        out.mkdir()
        run(load_scenario(DEMO, overrides), out)
        meta = json.loads((out / "metadata.json").read_text())
        digests.append(meta["manifest"])
    assert digests[0] == digests[1]


def test_base_case_runs_without_evs(tmp_path: Path) -> None:
    res = run(load_scenario(DEMO, ["base_case=true", "time.duration_s=7200"]), tmp_path)
    assert res.exit_code == 0
    assert not (tmp_path / "site_residential.parquet").exists()
    assert res.kpis["sites"] == {}


def test_demo_with_the_project_ev_fmu(tmp_path: Path) -> None:
    """The demo as shipped: the EV fleet FMU comes from the Modelica pipeline (build_fmu)."""
    res = run(load_scenario(DEMO, ["time.duration_s=7200"]), tmp_path)
    assert res.exit_code in (0, 1)
    assert verify_run_folder(tmp_path) == []


def test_fleet_fmu_threads_do_not_change_results(tmp_path: Path) -> None:
    """sites.0.fmu.instance_parameters sets FMU-wide parameters; solver.threads = 2 integrates
    the fleet's vehicles on two threads and gives the same bits as one thread."""
    digests = []
    for threads in (1, 2):
        out = tmp_path / f"t{threads}"
        out.mkdir()
        setting = f'sites.0.fmu.instance_parameters={{"solver.threads" = {threads}}}'
        spec = load_scenario(DEMO, ["time.duration_s=7200", "results.plots=false", setting])
        res = run(spec, out)
        assert res.exit_code in (0, 1)
        digests.append(hashlib.sha256((out / "site_residential.parquet").read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_unknown_instance_parameter_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    setting = 'sites.0.fmu.instance_parameters={"solver.thread" = 2}'
    assert cli(["validate", str(DEMO), "--set", setting]) == 2
    out = capsys.readouterr().out
    assert "'solver.thread'" in out and "solver.threads" in out


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (
            "sites.0.fmu.parameters.tau_p_s=0.5",
            "fmu.parameters.tau_p_s: 0.5 is outside the range [1, inf]",
        ),
        (
            "sites.0.fmu.parameters.soc_max=[0.9, 0.9, 1.2, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]",
            "fmu.parameters.soc_max: EV 3: 1.2 is outside the range [0, 1]",
        ),
    ],
)
def test_parameter_outside_the_fmu_range_is_a_clear_error(
    setting: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A value outside the FMU's declared min/max is refused before the run, with the key path."""
    assert cli(["validate", str(DEMO), "--set", setting]) == 2
    out = capsys.readouterr().out
    assert "site residential: " + expected in out
