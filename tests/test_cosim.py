"""The generic simulators and the JSON hand-over of a run's plan."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from v2xcosim.core.errors import ScenarioError, SimulationError
from v2xcosim.core.jsondata import from_json, to_json
from v2xcosim.cosim.flow_sim import FlowSim, load_flow
from v2xcosim.cosim.grid_sim import GridSim, load_factory
from v2xcosim.cosim.profile_sim import ProfileSim, check_series

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class _Inner:
    names: tuple[str, ...]
    flags: np.ndarray


@dataclasses.dataclass(frozen=True)
class _Plan:
    start: dt.datetime
    n: int
    x: np.ndarray
    k: np.ndarray
    inner: _Inner
    by_site: dict[str, str]


def test_plan_round_trips_through_json_bit_for_bit() -> None:
    plan = _Plan(
        start=dt.datetime(2024, 5, 15, 22, tzinfo=dt.UTC),
        n=3,
        x=np.array([0.1, 1 / 3, -2.5e-300, np.pi]),
        k=np.arange(6, dtype=np.int64).reshape(2, 3),
        inner=_Inner(("a", "b"), np.array([True, False])),
        by_site={"s": "LV1"},
    )
    back = from_json(_Plan, json.loads(json.dumps(to_json(plan))))
    assert back.start == plan.start and back.n == 3 and back.by_site == {"s": "LV1"}
    assert back.x.dtype == plan.x.dtype and back.x.tobytes() == plan.x.tobytes()
    assert back.k.dtype == np.int64 and back.k.shape == (2, 3) and (back.k == plan.k).all()
    assert back.inner.names == ("a", "b") and back.inner.flags.dtype == np.bool_


def test_large_arrays_round_trip_as_bytes() -> None:
    """Above PACKED_MIN_ELEMENTS an array travels as base64 bytes: the same bits, any dtype."""
    from v2xcosim.core.jsondata import PACKED_MIN_ELEMENTS

    rng = np.random.default_rng(3)
    n = PACKED_MIN_ELEMENTS + 1
    x = rng.standard_normal(n)
    x[:4] = [np.nan, np.inf, -0.0, 5e-324]
    for a in (x.reshape(1, n), np.arange(n, dtype=np.int32), x.astype(">f8"), x < 0):
        packed = to_json(a)
        assert "base64" in packed and "values" not in packed
        back = from_json(_Arr, json.loads(json.dumps({"a": packed})))
        assert back.a.shape == a.shape and back.a.dtype == a.dtype.newbyteorder("=")
        assert np.array_equal(back.a.astype(a.dtype).view(np.uint8), a.view(np.uint8))
        assert back.a.flags.writeable
    assert "values" in to_json(np.zeros(PACKED_MIN_ELEMENTS))  # small: a list of numbers


@dataclasses.dataclass(frozen=True)
class _Arr:
    a: np.ndarray


def test_terni_setup_round_trips() -> None:
    from v2xcosim.scenario import load_scenario_as
    from v2xcosim.usecases.terni.flow import TerniSetup, terni_setup
    from v2xcosim.usecases.terni.schema import TerniScenario

    setup = terni_setup(load_scenario_as(ROOT / "scenarios" / "terni_v2g.toml", TerniScenario))
    back = from_json(TerniSetup, json.loads(json.dumps(to_json(setup))))
    assert back.users.session_id == setup.users.session_id
    for f in dataclasses.fields(setup):
        a, b = getattr(setup, f.name), getattr(back, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), f.name


def test_profile_sim_serves_series_and_refuses_bad_ones() -> None:
    sim = ProfileSim()
    meta = sim.init("P-0", series={"b": [1.0, 2.0], "a": [3.0, 4.0]}, step_s=900)
    assert meta["models"]["Profiles"]["attrs"] == ["a", "b"]
    sim.create(1, "Profiles")
    sim.step(900, {}, 1800)
    assert sim.get_data({"profiles": ["a", "b"]}) == {"profiles": {"a": 4.0, "b": 2.0}}
    with pytest.raises(SimulationError, match="profile x: value nan at step 1"):
        check_series({"x": [0.0, float("nan")]}, 2)
    with pytest.raises(SimulationError, match="profile x: 1 values for 2 steps"):
        check_series({"x": [0.0]}, 2)


def test_import_strings_are_checked() -> None:
    with pytest.raises(ScenarioError, match=r"expected 'package\.module:factory'"):
        load_factory("v2xcosim.usecases.sites.wiring")
    with pytest.raises(ScenarioError, match=r"expected 'package\.module:factory'"):
        load_flow(":x")


class _Echo:
    attrs = ("x", "y")

    def __init__(self) -> None:
        self.written: Path | None = None

    def actors(self) -> list[str]:
        return ["a", "b"]

    def step(self, k: int, inputs: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        return {eid: {"y": v["x"] * 10 + k} for eid, v in inputs.items()}

    def finalize(self, out_dir: Path | None) -> None:
        self.written = out_dir


ECHO = _Echo()


def echo_flow(params: dict[str, object]) -> _Echo:
    return ECHO


def test_flow_sim_hosts_any_flow(tmp_path: Path) -> None:
    sim = FlowSim()
    sim.init("A-0", model=f"{__name__}:echo_flow", params={}, step_s=60, out_dir=str(tmp_path))
    assert [e["eid"] for e in sim.create(1, "Actor", actor_id="a")] == ["a"]
    with pytest.raises(ScenarioError, match="no actor 'c'"):
        sim.create(1, "Actor", actor_id="c")
    assert sim.step(120, {"a": {"x": {"src": 2.0}}, "b": {"x": {"src": 3.0}}}, 600) == 180
    assert sim.get_data({"a": ["y"], "b": ["y"]}) == {"a": {"y": 22.0}, "b": {"y": 32.0}}
    sim.finalize()
    assert ECHO.written == tmp_path


def test_grid_sim_refuses_an_unknown_connection() -> None:
    from v2xcosim.scenario import load_scenario_as
    from v2xcosim.usecases.sites.schema import SitesScenario
    from v2xcosim.usecases.sites.wiring import GRID_MODEL, grid_params

    spec = load_scenario_as(ROOT / "scenarios" / "demo.toml", SitesScenario)
    sim = GridSim()
    meta = sim.init("G-0", model=GRID_MODEL, params=grid_params(spec), step_s=300)
    assert "q_slack_var" in meta["models"]["Grid"]["attrs"]
    with pytest.raises(ScenarioError, match="no connection 'nope'"):
        sim.create(1, "Connection", conn_id="nope")
