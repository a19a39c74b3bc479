"""Batched power flow (``batch_steps``): a window of steps solved in one power-grid-model call.

References: the same steps solved one by one (``TerniGridModel.solve``, the path every shipped
run takes) on the Terni network with its storages, PV, background loads and EV sites; the
results must be the same numbers (power-grid-model solves each point of a batch from the same
start as a single solve).  Also: the result store records a window's block at each step's
time, the grid adapter sends a window's results at its last step (and flushes a short last
window at the run's end), and batching is refused where it cannot give the same results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from v2x_helpers import ROOT
from v2xcosim.config.common import spec_to_jsonable
from v2xcosim.core.errors import ScenarioError, SimulationError
from v2xcosim.cosim.adapters import is_step_block, step_block
from v2xcosim.cosim.grid_sim import GridSim
from v2xcosim.cosim.store_sim import StoreSim
from v2xcosim.grid.powerflow import PowerFlow, PowerFlowOptions
from v2xcosim.scenario import load_scenario
from v2xcosim.usecases.terni.network import TerniGridModel

TERNI = ROOT / "scenarios" / "terni_v2g.toml"


def _terni_model(solver: str, *, oltc: bool = False) -> TerniGridModel:
    from v2xcosim.usecases.terni.world import grid_model

    spec = load_scenario(
        TERNI, overrides=[f"grid.solver='{solver}'", f"terni.oltc={str(oltc).lower()}"]
    )
    return grid_model({"scenario": spec_to_jsonable(spec)})


def _conn_in(model: TerniGridModel, n: int) -> list[dict[str, dict[str, Any]]]:
    """Per step: EV powers per site (vectors), a battery's power; one site silent at step 3."""
    rng = np.random.default_rng(7)
    out: list[dict[str, dict[str, Any]]] = []
    for k in range(n):
        ci: dict[str, dict[str, Any]] = {}
        for j, site in enumerate(model.sites):
            if k == 3 and j == 0:
                continue  # sends nothing: keeps its previous power, as step by step
            p = rng.uniform(-11e3, 11e3, size=4)
            ci[site] = {"p_w": p.tolist(), "q_var": (0.1 * p).tolist()}
        for prov in model.providers:
            ci[prov] = {"p_w": float(rng.uniform(-50e3, 50e3))}
        out.append(ci)
    return out


def test_a_batch_gives_the_step_by_step_results_of_the_terni_network() -> None:
    steps = list(range(40, 52))
    times = [k * 300 for k in steps]
    ref = _terni_model("pgm")
    got = _terni_model("pgm")
    conn = _conn_in(ref, len(steps))
    assert ref.providers, "the scenario's battery makes the storage path part of the check"
    one_by_one = []
    for k, t, c in zip(steps, times, conn, strict=True):
        ref.solve(k, t, {}, c)
        one_by_one.append((ref.grid_result(), {s: ref.connection_result(s) for s in ref.sites}))
    batch = got.solve_batch(steps, times, [{}] * len(steps), conn)
    assert len(batch) == len(steps)
    for (g_ref, c_ref), (g_got, c_got) in zip(one_by_one, batch, strict=True):
        assert g_ref.keys() == g_got.keys()
        for key, value in g_ref.items():
            np.testing.assert_array_equal(np.asarray(g_got[key], float), np.asarray(value, float))
        assert c_ref == dict(c_got)
    # the step-3 silence kept the site's previous power: its transformer flow moved only with
    # the background, so step 3 differs from a batch where the site sends zero
    zeroed = [dict(c) for c in conn]
    zeroed[3] = {**zeroed[3], ref.sites[0]: {"p_w": [0.0], "q_var": [0.0]}}
    other = _terni_model("pgm").solve_batch(steps, times, [{}] * len(steps), zeroed)
    assert other[3][0]["p_trafo_hv_w"] != batch[3][0]["p_trafo_hv_w"]
    # the tables are left at the last point, as step by step: one more step agrees
    k = steps[-1] + 1
    ref.solve(k, k * 300, {}, conn[0])
    got.solve(k, k * 300, {}, conn[0])
    assert ref.grid_result()["vm_pu"] == got.grid_result()["vm_pu"]


def test_pandapower_and_controllers_are_refused_with_the_fix() -> None:
    pp_model = _terni_model("pandapower")
    with pytest.raises(ScenarioError, match=r"grid.solver = 'pgm'.*batch_steps = 0"):
        pp_model.solve_batch([0], [0], [{}], [{}])
    oltc = _terni_model("pgm", oltc=True)
    with pytest.raises(ScenarioError, match=r"controller.*batch_steps = 0"):
        oltc.solve_batch([0], [0], [{}], [{}])
    with pytest.raises(SimulationError, match="horizon"):
        _terni_model("pgm").solve_batch([10**6], [0], [{}], [{}])
    model = _terni_model("pgm")
    bad = [{model.sites[0]: {"p_w": [float("nan")]}}]
    with pytest.raises(ScenarioError, match="not finite at step 5"):
        model.solve_batch([5], [1500], [{}], bad)


def test_a_diverging_point_is_solved_step_by_step_under_the_policy() -> None:
    flow_opts = PowerFlowOptions(max_iteration=1, on_nonconvergence="flag", solver="pgm")
    model = _terni_model("pgm")
    model.flow = PowerFlow(model.tn.net, flow_opts, name="terni network", tables=False)
    conn = _conn_in(model, 2)
    res = model.solve_batch([40, 41], [12000, 12300], [{}, {}], conn)
    # one Newton iteration does not converge: both steps flagged with NaN, as step by step
    assert [g["converged"] for g, _ in res] == [0.0, 0.0]
    assert all(np.isnan(g["p_slack_w"]) for g, _ in res)
    assert model.batch_arrays == [None, None]


def test_the_store_records_a_block_at_each_steps_time(tmp_path: Any) -> None:
    sim = StoreSim()
    sim.create(
        1,
        "Store",
        labels={"Grid-0.grid": "grid"},
        out_dir=str(tmp_path),
        start_utc="2024-05-15T00:00:00Z",
        step_s=60,
    )
    sim.step(0, {"store": {"p_w": {"Grid-0.grid": None}}}, 0)
    sim.step(60, {"store": {"p_w": {"Grid-0.grid": None}}}, 0)
    block = step_block([0, 60, 120], [1.0, 2.0, 3.0])
    assert is_step_block(block) and not is_step_block({"p_w": 1.0})
    sim.step(120, {"store": {"p_w": {"Grid-0.grid": block}}}, 0)
    sim.finalize()
    table = pd.read_parquet(tmp_path / "grid.parquet")
    assert table["p_w"].tolist() == [1.0, 2.0, 3.0]
    assert table["step"].tolist() == [0, 1, 2]
    with pytest.raises(SimulationError, match="2 times for 1 values"):
        step_block([0, 60], [1.0])


class _Counting:
    """A batch grid model that returns each step's index (the adapter's bookkeeping only)."""

    grid_inputs: Sequence[str] = ()
    grid_outputs: Sequence[str] = ("k",)
    connection_outputs: Sequence[str] = ("p_sum_w",)

    def __init__(self) -> None:
        self.windows: list[list[int]] = []

    def connections(self) -> list[str]:
        return ["a"]

    def solve(self, step: int, time_s: int, grid_in: Any, conn_in: Any) -> None:
        raise AssertionError("batched: solve is not called")

    def grid_result(self) -> dict[str, Any]:
        return {}

    def connection_result(self, conn_id: str) -> dict[str, Any]:
        return {}

    def solve_batch(
        self,
        steps: Sequence[int],
        times_s: Sequence[int],
        grid_in: Sequence[Mapping[str, float]],
        conn_in: Sequence[Mapping[str, Mapping[str, Any]]],
    ) -> list[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
        self.windows.append(list(steps))
        return [
            ({"k": float(k)}, {"a": {"p_sum_w": float(np.sum(c["a"]["p_w"]))}})
            for k, c in zip(steps, conn_in, strict=True)
        ]


class _Stepwise(_Counting):
    """The same model without :meth:`solve_batch`: it solves step by step only."""

    solve_batch = None  # type: ignore[assignment]


def stepwise_model(params: Mapping[str, Any]) -> Any:
    """Factory of a grid model that cannot batch (``test_grid_batch:stepwise_model``)."""
    return _Stepwise()


LAST: list[_Counting] = []


def counting_model(params: Mapping[str, Any]) -> _Counting:
    """Factory for the adapter test (``test_grid_batch:counting_model``)."""
    LAST[:] = [_Counting()]
    return LAST[0]


def test_the_grid_adapter_sends_each_window_at_its_end_and_flushes_the_last() -> None:
    sim = GridSim()
    sim.init("Grid", step_s=60, model="test_grid_batch:counting_model", batch_steps=4, end_s=600)
    sim.create(1, "Grid")
    sim.create(1, "Connection", conn_id="a")
    sent = []
    for k in range(10):  # 10 steps: windows of 4, 4 and a last one of 2 at the run's end
        sim.step(k * 60, {"conn_a": {"p_w": {"src": [1.0, float(k)]}}}, 10**9)
        sent.append(sim.get_data({"grid": ["k"], "conn_a": ["p_sum_w"]}))
    assert LAST[0].windows == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert sent[0] == {"grid": {"k": None}, "conn_a": {"p_sum_w": None}}
    end = sent[3]["grid"]["k"]
    assert end == step_block([0, 60, 120, 180], [0.0, 1.0, 2.0, 3.0])
    assert sent[9]["conn_a"]["p_sum_w"] == step_block([480, 540], [9.0, 10.0])
    with pytest.raises(ScenarioError, match="step by step only"):
        GridSim().init(
            "Grid", step_s=60, model="test_grid_batch:stepwise_model", batch_steps=4, end_s=600
        )
    with pytest.raises(ScenarioError, match="needs end_s"):
        GridSim().init("Grid", step_s=60, model="test_grid_batch:counting_model", batch_steps=4)


def _tables(folder: Any) -> dict[str, pd.DataFrame]:
    return {p.name: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


def test_the_cli_runs_the_demo_batched_with_the_step_by_step_tables(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from v2x_helpers import DEMO, cli

    common = [
        "--set",
        "grid.solver='pgm'",
        "--set",
        "sites.0.fmu.inputs.vm=''",  # no voltage fed back: nothing reads the grid while it runs
        "--set",
        "results.plots=false",
    ]
    step, batch = tmp_path / "step", tmp_path / "batch"
    assert cli(["run", str(DEMO), "--out", str(step), *common]) == 0
    # 288 steps in windows of 50: five full windows and a last one of 38 at the run's end
    batched = ["--set", "grid.batch_steps=50", *common]
    assert cli(["run", str(DEMO), "--out", str(batch), *batched]) == 0
    a, b = _tables(step), _tables(batch)
    assert a.keys() == b.keys() and "grid.parquet" in a
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
    assert (step / "kpis.json").read_text() == (batch / "kpis.json").read_text()
    capsys.readouterr()
    # refused where a loop closes through the grid, or without power-grid-model
    pgm_batch = ["--set", "grid.solver='pgm'", "--set", "grid.batch_steps=50"]
    assert cli(["validate", str(DEMO), *pgm_batch]) == 2
    assert "sites[0].fmu.inputs.vm" in capsys.readouterr().out
    assert cli(["validate", str(DEMO), "--set", "grid.batch_steps=50"]) == 2
    assert "needs solver = 'pgm'" in capsys.readouterr().out
    terni = ["--set", "grid.solver='pgm'", "--set", "grid.batch_steps=4"]
    assert cli(["validate", str(TERNI), *terni]) == 2
    assert "terni closes loops through the grid" in capsys.readouterr().out
