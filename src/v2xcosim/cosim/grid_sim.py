"""mosaik adapter over any grid model (:class:`v2xcosim.grid.powerflow.GridCase`).

The model is built in ``init`` from an import string (``model = "package.module:factory"``,
mosaik's own convention) called with the JSON ``params``, so the same adapter serves every use
case and can run in another process.  Entities: one ``Grid`` (inputs: the model's
``grid_inputs``, e.g. profile values; outputs: slack power, losses, status, bus voltages,
line/transformer loading) and one ``Connection`` per charging site or flexibility provider
(inputs ``p_w``/``q_var``, a vector per EV or a scalar, W/var, load convention; outputs the
model's ``connection_outputs``, e.g. the charger voltages fed back time-shifted to the fleet).
"""

from __future__ import annotations

import importlib
import time as _time
from collections.abc import Callable, Mapping
from typing import Any

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.timers import STEP_TIMERS
from v2xcosim.cosim.adapters import TimeBasedSimulator, first_value, guarded
from v2xcosim.grid.powerflow import GridCase

CONNECTION_INPUTS = ["p_w", "q_var"]


def load_factory(target: str) -> Callable[[Mapping[str, Any]], GridCase]:
    """Import ``"module:attr"`` and return the grid-model factory it names."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ScenarioError(f"grid model {target!r}: expected 'package.module:factory'")
    factory: Callable[[Mapping[str, Any]], GridCase] = getattr(
        importlib.import_module(module), attr
    )
    return factory


class GridSim(TimeBasedSimulator):
    """One power flow per step over the whole network."""

    def __init__(self) -> None:
        """Create the simulator (META is completed in :meth:`init`)."""
        super().__init__()
        self._model: GridCase | None = None
        self._sid = "Grid"
        self._step_s = 1

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """Build the model: ``model`` (import string of a factory), ``params`` (its JSON data).

        ``step_s`` [s] is the co-simulation step.
        """
        self._sid = sid
        self._step_s = int(sim_params["step_s"])
        factory = load_factory(str(sim_params["model"]))
        params = dict(sim_params.get("params", {}))
        model = guarded(sid, "grid", 0, lambda: factory(params))
        self._model = model
        self.meta["models"] = {
            "Grid": {
                "public": True,
                "params": [],
                "attrs": list(model.grid_inputs) + list(model.grid_outputs),
            },
            "Connection": {
                "public": True,
                "params": ["conn_id"],
                "attrs": CONNECTION_INPUTS + list(model.connection_outputs),
            },
        }
        return self.meta

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """``Grid``: the network; ``Connection``: the connection ``conn_id`` of the model."""
        if model == "Grid":
            return [{"eid": "grid", "type": model}]
        assert self._model is not None
        conn = str(model_params["conn_id"])
        if conn not in self._model.connections():
            raise ScenarioError(
                f"grid: no connection {conn!r}; the model has {list(self._model.connections())}"
            )
        return [{"eid": f"conn_{conn}", "type": model}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Collect the inputs and solve the power flow for step ``time // step_s``."""
        model = self._model
        assert model is not None
        grid_in = {a: float(first_value(v)) for a, v in inputs.get("grid", {}).items()}
        conn_in = {
            eid[len("conn_") :]: {a: first_value(v) for a, v in data.items()}
            for eid, data in inputs.items()
            if eid.startswith("conn_")
        }
        k = time // self._step_s
        t0 = _time.perf_counter()
        guarded(self._sid, "grid", time, lambda: model.solve(k, time, grid_in, conn_in))
        STEP_TIMERS.add("grid", _time.perf_counter() - t0)
        return time + self._step_s

    def get_data(self, outputs: Any) -> Any:
        """Network-wide results and each connection's outputs."""
        model = self._model
        assert model is not None
        out: dict[str, dict[str, Any]] = {}
        for eid, attrs in outputs.items():
            res = (
                model.grid_result()
                if eid == "grid"
                else model.connection_result(eid[len("conn_") :])
            )
            out[eid] = {a: res[a] for a in attrs}
        return out
