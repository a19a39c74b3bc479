"""mosaik adapter over any grid model (:class:`v2xcosim.grid.powerflow.GridCase`).

The model is built in ``init`` from an import string (``model = "package.module:factory"``,
mosaik's own convention) called with the JSON ``params``, so the same adapter serves every use
case and can run in another process.  Entities: one ``Grid`` (inputs: the model's
``grid_inputs``, e.g. profile values; outputs: slack power, losses, status, bus voltages,
line/transformer loading) and one ``Connection`` per charging site or flexibility provider
(inputs ``p_w``/``q_var``, a vector per EV or a scalar, W/var, load convention; outputs the
model's ``connection_outputs``, e.g. the charger voltages fed back time-shifted to the fleet).

``batch_steps`` > 0 (with ``end_s``, the run's end) solves that many steps at once
(:class:`~v2xcosim.grid.powerflow.BatchGridCase`) and sends their results as one
:func:`~v2xcosim.cosim.adapters.step_block` at the window's last step, None before it: only for a
world in which the result store is the only reader of the grid's outputs (nothing fed back).
"""

from __future__ import annotations

import importlib
import time as _time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.timers import STEP_TIMERS
from v2xcosim.cosim.adapters import TimeBasedSimulator, first_value, guarded, step_block
from v2xcosim.grid.powerflow import BatchGridCase, GridCase

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
        self._batch = 0
        self._end_s: Any = None
        self._window: list[tuple[int, int, dict[str, float], dict[str, dict[str, Any]]]] = []
        self._block: tuple[list[int], Sequence[tuple[Any, Mapping[str, Any]]]] | None = None

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """Build the model: ``model`` (import string of a factory), ``params`` (its JSON data).

        ``step_s`` [s] is the co-simulation step.
        """
        self._sid = sid
        self._step_s = int(sim_params["step_s"])
        self._batch = int(sim_params.get("batch_steps", 0))
        self._end_s = sim_params.get("end_s")
        if self._batch > 0 and self._end_s is None:
            raise ScenarioError("grid: batch_steps needs end_s (the run's end, s)")
        factory = load_factory(str(sim_params["model"]))
        params = dict(sim_params.get("params", {}))
        model = guarded(sid, "grid", 0, lambda: factory(params))
        self._model = model
        if self._batch > 0 and not isinstance(model, BatchGridCase):
            raise ScenarioError(
                f"grid.batch_steps = {self._batch}: the grid model {sim_params['model']} solves "
                "step by step only; set grid.batch_steps = 0"
            )
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
        if self._batch > 0:
            self._window.append((k, time, grid_in, conn_in))
            self._block = None
            assert self._end_s is not None
            if len(self._window) >= self._batch or time + self._step_s >= int(self._end_s):
                window, self._window = self._window, []
                assert isinstance(model, BatchGridCase)
                res = guarded(
                    self._sid,
                    "grid",
                    time,
                    lambda: model.solve_batch(
                        [w[0] for w in window],
                        [w[1] for w in window],
                        [w[2] for w in window],
                        [w[3] for w in window],
                    ),
                )
                self._block = ([w[1] for w in window], res)
        else:
            guarded(self._sid, "grid", time, lambda: model.solve(k, time, grid_in, conn_in))
        STEP_TIMERS.add("grid", _time.perf_counter() - t0)
        return time + self._step_s

    def get_data(self, outputs: Any) -> Any:
        """Network-wide results and each connection's outputs.

        Batched (``batch_steps`` > 0): None within a window, and at its last step a
        :func:`~v2xcosim.cosim.adapters.step_block` of every step's value.
        """
        model = self._model
        assert model is not None
        out: dict[str, dict[str, Any]] = {}
        if self._batch > 0:
            for eid, attrs in outputs.items():
                if self._block is None:
                    out[eid] = dict.fromkeys(attrs)
                    continue
                times, window = self._block
                rows = [g if eid == "grid" else c.get(eid[len("conn_") :], {}) for g, c in window]
                out[eid] = {a: step_block(times, [r.get(a) for r in rows]) for a in attrs}
            return out
        for eid, attrs in outputs.items():
            res = (
                model.grid_result()
                if eid == "grid"
                else model.connection_result(eid[len("conn_") :])
            )
            out[eid] = {a: res[a] for a in attrs}
        return out
