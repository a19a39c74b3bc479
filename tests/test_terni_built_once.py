"""A Terni run builds its network and per-element inputs once (the plan) and reuses them.

Each reuse is compared with what building again gives: the grid simulator fed the plan's
inputs against the one computing its own, ``network.json``'s network from the plan against the
one built without a run, the FMU size without the network against the full setup; and the
per-step write of every element's value against a pandas write per element.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from v2xcosim.config.common import spec_to_jsonable
from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.jsondata import from_json, to_json
from v2xcosim.cosim.grid_sim import GridSim
from v2xcosim.grid.networks import network_to_json
from v2xcosim.scenario import load_scenario_as
from v2xcosim.usecases.terni import USE_CASE
from v2xcosim.usecases.terni.inputs import GridInputs
from v2xcosim.usecases.terni.schema import TerniScenario
from v2xcosim.usecases.terni.wiring import fleet_size, terni_setup
from v2xcosim.usecases.terni.world import GRID_MODEL, TerniPlan, plan

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "terni_v2g.toml"
SHORT = ["time.start=2024-05-15T11:00:00+02:00", "time.duration_s=3600", "control.strategy=v2g"]


@pytest.fixture(scope="module")
def spec() -> TerniScenario:
    return load_scenario_as(SCENARIO, TerniScenario, SHORT)


@pytest.fixture(scope="module")
def run_plan(spec: TerniScenario) -> TerniPlan:
    return plan(spec, Path("EV.fmu"))  # the FMU path is only carried, not opened


def _grid_outputs(params: dict[str, Any], site: str, steps: int) -> list[dict[str, Any]]:
    sim = GridSim()
    sim.init("Grid-0", model=GRID_MODEL, params=params, step_s=300)
    sim.create(1, "Grid")
    sim.create(1, "Connection", conn_id=site)
    out = []
    for k in range(steps):
        sim.step(k * 300, {"grid": {}, f"conn_{site}": {"p_w": {"f": [11e3 * k]}}}, 300)
        out.append(sim.get_data({"grid": ["p_slack_w", "vm_pu"], f"conn_{site}": ["vm_pu"]}))
    return out


def test_grid_inputs_round_trip_bit_for_bit(run_plan: TerniPlan) -> None:
    back = from_json(GridInputs, to_json(run_plan.grid_inputs))
    for name in ("load_p_mw", "load_q_mvar", "sgen_p_mw"):
        a, b = getattr(run_plan.grid_inputs, name), getattr(back, name)
        assert a.shape == b.shape == (12, a.shape[1]) and a.tobytes() == b.tobytes()


def test_grid_fed_the_plans_inputs_equals_the_grid_computing_them(
    spec: TerniScenario, run_plan: TerniPlan
) -> None:
    js = spec_to_jsonable(spec)
    site = run_plan.setup.sites[0]
    fed = _grid_outputs({"scenario": js, "inputs": to_json(run_plan.grid_inputs)}, site, 3)
    own = _grid_outputs({"scenario": js}, site, 3)
    assert fed == own  # exact: the same element values, the same power flows
    # the inputs are used: other values give other flows
    doubled = to_json(
        GridInputs(
            *(
                2.0 * getattr(run_plan.grid_inputs, n)
                for n in ("load_p_mw", "load_q_mvar", "sgen_p_mw")
            )
        )
    )
    other = _grid_outputs({"scenario": js, "inputs": doubled}, site, 1)
    assert other[0]["grid"]["p_slack_w"] != own[0]["grid"]["p_slack_w"]


def test_network_from_the_plan_equals_the_network_built_alone(
    spec: TerniScenario, run_plan: TerniPlan
) -> None:
    alone = USE_CASE.network(spec)
    reused = USE_CASE.network(spec, run_plan)
    assert network_to_json(reused.net) == network_to_json(alone.net)
    assert reused.connection_points == alone.connection_points
    assert reused.states == alone.states
    # the plan's network stays as built (a copy was set to peak)
    again = USE_CASE.network(spec, run_plan)
    assert network_to_json(again.net) == network_to_json(alone.net)


def test_fleet_size_without_the_network(spec: TerniScenario) -> None:
    assert fleet_size(spec) == terni_setup(spec).fleet_size
    day = load_scenario_as(SCENARIO, TerniScenario, ["control.strategy=v2g"])
    n = fleet_size(day)
    assert n == terni_setup(day).fleet_size and n > fleet_size(spec) >= 1


def test_set_element_inputs_equals_writing_each_element(run_plan: TerniPlan) -> None:
    """The column writes give the network, bit for bit, that a pandas write per element gives."""
    import copy

    from v2xcosim.usecases.terni.network import set_element_inputs

    fast, slow = copy.deepcopy(run_plan.network), copy.deepcopy(run_plan.network)
    g = run_plan.grid_inputs
    sites = sorted(fast.ev_load_idx)
    for k in (0, g.n_steps - 1):
        ev_w = {s: 7.4e3 * (j + 1) - 2e4 * k for j, s in enumerate(sites)}
        ev_var = {sites[0]: -1.5e3 * (k + 1)}
        set_element_inputs(fast, g.load_p_mw[k], g.load_q_mvar[k], g.sgen_p_mw[k], ev_w, ev_var)
        net = slow.net  # reference: one .loc write per element
        for j, row in enumerate(slow.load_idx):
            net.load.loc[row, "p_mw"] = g.load_p_mw[k, j]
            net.load.loc[row, "q_mvar"] = g.load_q_mvar[k, j]
        for j, row in enumerate(net.sgen.index):
            net.sgen.loc[row, "p_mw"] = g.sgen_p_mw[k, j]
        for s, p_w in ev_w.items():
            net.load.loc[slow.ev_load_idx[s], "p_mw"] = p_w / 1e6
        for s, q_var in ev_var.items():
            net.load.loc[slow.ev_load_idx[s], "q_mvar"] = q_var / 1e6
        for table in ("load", "sgen"):
            a, b = fast.net[table], net[table]
            assert list(a.dtypes) == list(b.dtypes)
            for col in ("p_mw", "q_mvar"):
                assert a[col].to_numpy().tobytes() == b[col].to_numpy().tobytes()
    assert fast.net.load.loc[fast.ev_load_idx[sites[0]], "q_mvar"] == -1.5e3 * g.n_steps / 1e6
    with pytest.raises(ScenarioError, match="unknown charging site 'nowhere'"):
        set_element_inputs(fast, g.load_p_mw[0], g.load_q_mvar[0], g.sgen_p_mw[0], {"nowhere": 1.0})
    with pytest.raises(ScenarioError, match=r"EV reactive power of .* is not finite"):
        set_element_inputs(
            fast, g.load_p_mw[0], g.load_q_mvar[0], g.sgen_p_mw[0], None, {sites[0]: float("nan")}
        )
