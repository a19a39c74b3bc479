"""Everything the adapters send between simulators survives JSON unchanged (real short runs).

A simulator in another process or on another machine receives its inputs as JSON
(``mosaik_api_v3.connection.encode``), so every value an adapter's ``get_data`` returns must be
plain JSON data once :func:`to_wire` has converted it: dicts with string keys, lists, strings,
numbers, booleans and ``None``.  A numpy array or scalar would be refused by mosaik only when
the receiver happens to be remote; here every output of every adapter in a real run is checked,
whichever simulator receives it.  The conversion is made only where data leaves a process: in a
placed simulator's process (its answers) and in the remote proxy (what the run sends to it).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mosaik_api_v3.connection import encode

from v2xcosim.cosim.adapters import TimeBasedSimulator, to_wire
from v2xcosim.cosim.fleet_sim import FmuSim
from v2xcosim.cosim.flow_sim import FlowSim
from v2xcosim.cosim.grid_sim import GridSim
from v2xcosim.cosim.profile_sim import ProfileSim

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = (ProfileSim, GridSim, FmuSim, FlowSim)


def _not_plain(value: Any, path: str = "") -> list[str]:
    """Return the paths of every value in ``value`` that is not plain JSON data."""
    if value is None or type(value) in (str, int, bool):
        return []
    if type(value) is float:
        return []
    if type(value) is list:
        return [p for i, v in enumerate(value) for p in _not_plain(v, f"{path}[{i}]")]
    if type(value) is dict:
        bad = [f"{path}.{k!r} (key)" for k in value if type(k) is not str]
        return bad + [p for k, v in value.items() for p in _not_plain(v, f"{path}.{k}")]
    return [f"{path}: {type(value).__module__}.{type(value).__name__}"]


def _same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN (JSON's NaN token decodes to NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b) and type(a) is type(b)


def test_to_wire_turns_numpy_into_plain_json() -> None:
    raw = {
        "v": np.array([0.1, np.nan, 1 / 3]),
        "m": np.arange(4, dtype=np.int64).reshape(2, 2),
        "s": np.float64(2.5),
        "f32": np.float32(0.1),
        "i": np.int32(-7),
        "b": np.bool_(True),
        "t": (1, np.int64(2)),
        "n": {"x": [np.float64(1.0), None]},
    }
    wire = to_wire(raw)
    assert _not_plain(wire) == []
    assert wire["m"] == [[0, 1], [2, 3]] and wire["i"] == -7 and wire["b"] is True
    assert wire["f32"] == float(np.float32(0.1))  # the float32's exact value, widened
    assert wire["v"][0] == 0.1 and math.isnan(wire["v"][1]) and wire["v"][2] == 1 / 3
    assert wire["t"] == [1, 2] and wire["n"] == {"x": [1.0, None]}
    assert _same(json.loads(json.dumps(wire)), wire)


def test_to_wire_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(TypeError, match="set"):
        to_wire({"x": {1, 2}})
    with pytest.raises(TypeError, match="keys must be strings"):
        to_wire({"x": {3: 1.0}})  # JSON would hand the key over as "3"


class NumpySim(TimeBasedSimulator):
    """A simulator answering with numpy values, as a fleet's vectors could be."""

    def get_data(self, outputs: Any) -> Any:
        return {
            eid: {a: np.array([0.5, np.nan]) if a == "v" else np.int64(3) for a in attrs}
            for eid, attrs in outputs.items()
        }


def test_placed_simulator_answers_plain_json_and_in_process_one_is_not_converted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from v2xcosim.cosim import placement

    monkeypatch.setitem(placement.SIMULATORS, "Numpy", f"{__name__}:NumpySim")
    request = {"e": ["v", "n"]}
    raw = NumpySim().get_data(request)  # in-process: handed over as it is, no per-step work
    assert isinstance(raw["e"]["v"], np.ndarray) and isinstance(raw["e"]["n"], np.int64)
    placed = placement.simulator("Numpy").get_data(request)
    assert _not_plain(placed) == []
    assert placed["e"]["v"][0] == 0.5 and math.isnan(placed["e"]["v"][1])
    assert placed["e"]["n"] == 3
    assert _same(json.loads(json.dumps(placed)), placed)


def test_remote_proxy_sends_plain_json() -> None:
    """What an in-process simulator hands to a placed one goes over the wire as plain JSON."""
    import asyncio

    from v2xcosim.cosim.remote import WatchedProxy

    class Channel:
        """Encodes as mosaik's channel does and answers with the request it received."""

        def __init__(self) -> None:
            self.sent: list[Any] = []
            self._name = "Numpy-0"

        async def send(self, request: Any) -> Any:
            encode(request)  # TypeError on anything JSON cannot carry
            self.sent.append(request)
            return json.loads(json.dumps(request))

        async def next_request(self) -> Any:
            await asyncio.Event().wait()  # mosaik never asks anything here

    class Remote:
        sid = "Numpy-0"

    async def step() -> Any:
        channel = Channel()
        proxy = WatchedProxy(
            channel,  # type: ignore[arg-type]
            Remote(),
            asyncio.StreamReader(),
            name="Numpy",
            where="test",
        )
        inputs = {"e": {"v": {"FMU-0.site": np.array([1.5, np.nan])}}}
        try:
            return await proxy.send(["step", (0, inputs, 3600), {}])
        finally:
            proxy._reader_task.cancel()

    with pytest.raises(TypeError):
        encode({"v": np.array([1.5])})  # what the proxy has to prevent
    sent = asyncio.run(step())
    assert _not_plain(sent) == []
    assert sent[0] == "step" and sent[1][0] == 0 and sent[1][2] == 3600
    v = sent[1][1]["e"]["v"]["FMU-0.site"]
    assert v[0] == 1.5 and math.isnan(v[1])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "overrides"),
    [
        ("demo.toml", ["time.duration_s=3600"]),
        ("terni_v2g.toml", ["time.duration_s=3600"]),
        (
            "porto_v2b.toml",
            [
                "time.start=2025-07-09T14:00:00+01:00",
                "time.duration_s=3600",
                "dso_event.mode=fixed",  # an event inside the hour (step 10.1's payload)
                "dso_event.start=2025-07-09T14:00:00+01:00",
                "dso_event.end=2025-07-09T17:00:00+01:00",
                "dso_event.limit_mw=11.7",
            ],
        ),
    ],
)
def test_every_adapter_output_of_a_real_run_is_plain_json(
    scenario: str, overrides: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from v2xcosim.scenario import load_scenario, run

    sent: dict[str, list[Any]] = {cls.__name__: [] for cls in ADAPTERS}
    for cls in ADAPTERS:
        original = cls.get_data

        def spy(
            self: Any, outputs: Any, _original: Any = original, _name: str = cls.__name__
        ) -> Any:
            data = _original(self, outputs)
            sent[_name].append(data)
            return data

        monkeypatch.setattr(cls, "get_data", spy)
    spec = load_scenario(ROOT / "scenarios" / scenario, overrides)
    out = tmp_path / "run"
    out.mkdir()
    run(spec, out)
    for name, batches in sent.items():
        assert batches, f"{name} sent nothing in the run"
        for data in batches:
            wire = to_wire(data)  # what leaves the process of a placed simulator
            assert _not_plain(wire) == [], name
            assert _same(json.loads(json.dumps(wire)), wire), name
