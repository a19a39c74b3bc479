"""The FMU fleet wrapper and each mosaik adapter alone (called directly, no world)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from v2x_helpers import DEMO, toy_fmu, toy_overrides
from v2xcosim.core.errors import FmuCallError, ScenarioError, SimulationError
from v2xcosim.fmu.fleet import FmuFleet, ParamValue
from v2xcosim.scenario import load_scenario
from v2xcosim.usecases.sites.schema import SitesScenario
from v2xcosim.usecases.sites.wiring import (
    GRID_MODEL,
    grid_params,
    profile_series,
    site_fleet,
    site_sessions_of,
)
from v2xcosim.usecases.sites.world import SitesPlan, flow_params

OUT = ["p_ac_w", "q_ac_var", "soc", "e_ac_j", "e_chem_j", "e_loss_j"]


def make(fleet: bool, n: int = 3, **params: ParamValue) -> FmuFleet:
    return FmuFleet(
        toy_fmu(n if fleet else None),
        n=n,
        fleet=fleet,
        inputs=["p_set_w", "q_set_var", "vm_pu"],
        outputs=OUT,
        parameters={"p_rated_w": [11000.0, 7000.0, 3700.0], **params},
        name="s",
    )


@pytest.mark.parametrize("fleet", [True, False])
def test_fleet_steps_with_energy_balance_and_limits(fleet: bool) -> None:
    f = make(fleet)
    try:
        f.initialise(0.0, {"soc_start": [0.2, 0.5, 0.98]})
        p = np.array([20000.0, -5000.0, 3700.0])
        for k in range(24):
            out = f.step(
                k * 300.0, 300.0, {"p_set_w": p, "q_set_var": np.zeros(3), "vm_pu": np.ones(3)}
            )
        assert out["p_ac_w"][0] == 11000.0 and out["p_ac_w"][1] == -5000.0
        assert np.all(np.abs(out["p_ac_w"]) <= [11000.0, 7000.0, 3700.0])
        assert np.all((out["soc"] >= 0) & (out["soc"] <= 1 + 1e-9))
        np.testing.assert_allclose(out["e_ac_j"], out["e_chem_j"] + out["e_loss_j"], rtol=1e-12)
    finally:
        f.close()


def test_reset_reuses_instances_and_reproduces() -> None:
    f = make(True)
    try:
        runs = []
        for _ in range(2):
            f.initialise(0.0, {"soc_start": [0.2, 0.3, 0.4]})
            for k in range(5):
                out = f.step(
                    k * 60.0,
                    60.0,
                    {"p_set_w": np.full(3, 5e3), "q_set_var": np.zeros(3), "vm_pu": np.ones(3)},
                )
            runs.append(out["soc"].copy())
            f.reset()
        assert runs[0].tobytes() == runs[1].tobytes()
    finally:
        f.close()


def test_unknown_names_and_wrong_causality_are_load_time_errors() -> None:
    with pytest.raises(ScenarioError) as err:
        FmuFleet(
            toy_fmu(3),
            n=3,
            fleet=True,
            inputs=["p_set_ww", "soc"],
            outputs=["nope"],
            parameters={"x": 1.0},
            name="s",
        )
    msg = str(err.value)
    assert "'ev[1].p_set_ww'" in msg and "'ev[1].soc' has causality 'output'" in msg
    assert "no output 'ev[1].nope'" in msg and "no parameter 'ev[1].x'" in msg
    with pytest.raises(ScenarioError, match="holds 3 vehicles"):
        FmuFleet(toy_fmu(3), n=4, fleet=True, inputs=[], outputs=["soc"], parameters={}, name="s")


def test_nan_input_and_failed_call_are_named() -> None:
    f = make(True, fail_at_s=600.0)
    try:
        f.initialise(0.0, {})
        bad = {
            "p_set_w": np.array([0.0, np.nan, 0.0]),
            "q_set_var": np.zeros(3),
            "vm_pu": np.ones(3),
        }
        with pytest.raises(SimulationError, match="non-finite input p_set_w = nan for EV 1"):
            f.step(0.0, 300.0, bad)
        ok = dict(bad, p_set_w=np.zeros(3))
        f.step(0.0, 300.0, ok)
        f.step(300.0, 300.0, ok)
        with pytest.raises(FmuCallError, match="fmi2DoStep at simulated time t = 600") as err:
            f.step(600.0, 300.0, ok)
        assert err.value.function == "fmi2DoStep"
    finally:
        f.close()


def test_many_instantiations_leave_no_files_or_cwd_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    # a private temporary folder: other processes' FMU folders in /tmp cannot disturb the count
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cwd = Path.cwd()
    for _ in range(20):
        make(False).close()
    assert Path.cwd() == cwd
    assert list(tmp_path.glob("v2xcosim-fmu-*")) == []


def _spec(n: int = 4) -> SitesScenario:
    spec = load_scenario(DEMO, [*toy_overrides(n), "time.duration_s=3600"])
    assert isinstance(spec, SitesScenario)
    return spec


def test_fmu_adapter_alone() -> None:
    from v2xcosim.cosim.fleet_sim import FmuSim

    spec = _spec()
    site = spec.sites[0]
    sim = FmuSim()
    meta = sim.init("FMU-0", step_s=spec.time.step_s, outputs=site.fmu.outputs.extra)
    assert "e_ac_j" in meta["models"]["Fleet"]["attrs"]
    [ent] = sim.create(1, "Fleet", **site_fleet(site, toy_fmu(4), [0.1, 0.2, 0.3, 0.4]))
    eid = ent["eid"]
    assert (
        sim.step(
            0,
            {eid: {"p_set_w": {"c": [1e4, 0, 0, 0]}, "vm_pu": {"g": [1.0, None, 1.0, 1.0]}}},
            3600,
        )
        == 300
    )
    data = sim.get_data({eid: ["p_ac_w", "soc"]})
    assert data[eid]["p_ac_w"] == [1e4, 0.0, 0.0, 0.0]
    assert data[eid]["soc"][0] > 0.1 and data[eid]["soc"][1:] == [0.2, 0.3, 0.4]
    sim.finalize()


def test_grid_profile_actor_and_store_adapters_alone(tmp_path: Path) -> None:
    import pandas as pd

    from v2xcosim.cosim.flow_sim import FlowSim
    from v2xcosim.cosim.grid_sim import GridSim
    from v2xcosim.cosim.profile_sim import ProfileSim
    from v2xcosim.cosim.store_sim import StoreSim
    from v2xcosim.usecases.sites.flow import FLOW

    spec = _spec()
    site = spec.sites[0]
    prof = ProfileSim()
    prof.init("Profiles-0", series=profile_series(spec), step_s=spec.time.step_s)
    prof.create(1, "Profiles")
    prof.step(0, {}, 3600)
    values = prof.get_data({"profiles": ["household", "pv", "t_amb"]})["profiles"]
    assert values["t_amb"] == pytest.approx(298.15) and values["pv"] == 0.0

    grid = GridSim()
    grid.init("Grid-0", model=GRID_MODEL, params=grid_params(spec), step_s=spec.time.step_s)
    grid.create(1, "Grid")
    grid.create(1, "Connection", conn_id="residential")
    grid.step(
        0,
        {
            "grid": {"profile_household": {"p": values["household"]}, "profile_pv": {"p": 0.0}},
            "conn_residential": {"p_w": {"f": [11e3] * 4}, "q_var": {"f": [0.0] * 4}},
        },
        3600,
    )
    out = grid.get_data({"grid": ["converged", "p_slack_w"], "conn_residential": ["vm_pu"]})
    assert out["grid"]["converged"] == 1 and out["grid"]["p_slack_w"] > 44e3
    assert len(out["conn_residential"]["vm_pu"]) == 4

    ctl = FlowSim()
    sessions = {"residential": site_sessions_of(spec, site)}
    params = flow_params(spec, SitesPlan(fmus={}, sessions=sessions, profiles={}))
    ctl.init("Charging-0", model=FLOW, params=params, step_s=spec.time.step_s)
    ctl.create(1, "Actor", actor_id="residential")
    ctl.step(0, {"residential": {"soc": {"f": [0.1] * 4}}}, 3600)
    got = ctl.get_data({"residential": ["p_set_w", "connected"]})["residential"]
    assert set(got["p_set_w"]) <= {0.0, 11000.0} and len(got["connected"]) == 4

    store = StoreSim()
    store.init("Store-0")
    store.create(
        1,
        "Store",
        labels={"Grid-0.grid": "grid"},
        vector_labels={},
        out_dir=str(tmp_path),
        start_utc="2016-06-14T22:00:00+00:00",
        step_s=300,
    )
    store.step(
        0, {"store": {"p_slack_w": {"Grid-0.grid": 1.0}, "vm_pu": {"Grid-0.grid": [1, None]}}}, 9
    )
    store.step(
        300, {"store": {"p_slack_w": {"Grid-0.grid": 2.0}, "vm_pu": {"Grid-0.grid": [1, 1]}}}, 9
    )
    store.finalize()
    frame = pd.read_parquet(tmp_path / "grid.parquet")
    assert frame["p_slack_w"].tolist() == [1.0, 2.0] and np.isnan(frame["vm_pu[1]"][0])
    assert str(frame["time"].dt.tz) == "UTC"
