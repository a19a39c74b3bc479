"""mosaik adapter hosting a use case's actors: one ``Actor`` entity per site or provider.

The actors' step logic is plain Python (a *flow*, see :class:`Flow`) built in ``init`` from an
import string (``model = "package.module:factory"``, mosaik's own convention) called with the
JSON ``params``; the adapter only moves values in and out, so it serves every use case and can
run in another process.  The flow writes its own tables (trace, sessions, settlement) into the
run folder ``out_dir`` at the end of the step that reaches ``until_s`` when that is given, else in
``finalize``.  A simulator in another process must have written them before the run reads them:
mosaik returns from the run before a remote ``finalize`` has ended (it stops a child process
0.1 s after asking it to stop), while every step has completed by then.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from v2xcosim.core.errors import ScenarioError
from v2xcosim.cosim.adapters import TimeBasedSimulator, first_value, guarded


class Flow(Protocol):
    """A use case's actors, stepped once per co-simulation step."""

    attrs: Sequence[str]
    """Every attribute (input or output) any actor entity has."""

    def actors(self) -> Sequence[str]:
        """Return the actor ids (one mosaik entity each: a site, a provider, a building)."""
        ...

    def step(
        self, k: int, inputs: Mapping[str, Mapping[str, Any]]
    ) -> Mapping[str, Mapping[str, Any]]:
        """Advance to step ``k``; ``inputs`` and the result map actor id -> attribute -> value."""
        ...

    def finalize(self, out_dir: Path | None) -> None:
        """Write the flow's own tables into the run folder (``None``: write nothing)."""
        ...


def load_flow(target: str) -> Callable[[Mapping[str, Any]], Flow]:
    """Import ``"module:attr"`` and return the flow factory it names."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ScenarioError(f"flow {target!r}: expected 'package.module:factory'")
    factory: Callable[[Mapping[str, Any]], Flow] = getattr(importlib.import_module(module), attr)
    return factory


class FlowSim(TimeBasedSimulator):
    """Moves each actor's inputs in and its outputs out; the flow decides."""

    def __init__(self) -> None:
        """Create the simulator (META is completed in :meth:`init`)."""
        super().__init__()
        self._flow: Flow | None = None
        self._out: Mapping[str, Mapping[str, Any]] = {}
        self._out_dir: Path | None = None
        self._sid = "Actors"
        self._step_s = 1
        self._until_s: int | None = None
        self._written = False

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """Build the flow: ``model`` (factory import string), ``params`` (its JSON data).

        ``step_s`` [s]; ``out_dir`` (optional) is where the flow's tables are written, at the end
        of the last step before ``until_s`` [s] (optional: the run's end, mosaik's ``until``) or
        else in ``finalize``.
        """
        self._sid = sid
        self._step_s = int(sim_params["step_s"])
        until = sim_params.get("until_s")
        self._until_s = None if until is None else int(until)
        out = sim_params.get("out_dir")
        self._out_dir = None if out is None else Path(out)
        factory = load_flow(str(sim_params["model"]))
        params = dict(sim_params.get("params", {}))
        flow = guarded(sid, "actors", 0, lambda: factory(params))
        self._flow = flow
        self.meta["models"]["Actor"] = {
            "public": True,
            "params": ["actor_id"],
            "attrs": list(flow.attrs),
        }
        return self.meta

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """Create the entity of actor ``actor_id``."""
        assert self._flow is not None
        actor = str(model_params["actor_id"])
        if actor not in self._flow.actors():
            raise ScenarioError(f"actors: no actor {actor!r}; the flow has {self._flow.actors()}")
        return [{"eid": actor, "type": model}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Run the flow for step ``time // step_s``."""
        flow = self._flow
        assert flow is not None
        data = {eid: {a: first_value(v) for a, v in attrs.items()} for eid, attrs in inputs.items()}
        k = time // self._step_s
        self._out = guarded(self._sid, "actors", time, lambda: flow.step(k, data))
        if self._until_s is not None and time + self._step_s >= self._until_s:
            self._write_tables()
        return time + self._step_s

    def get_data(self, outputs: Any) -> Any:
        """Return the requested outputs of each actor."""
        return {eid: {a: self._out[eid][a] for a in attrs} for eid, attrs in outputs.items()}

    def finalize(self) -> None:
        """Let the flow write its tables, unless it did at the last step."""
        self._write_tables()

    def _write_tables(self) -> None:
        if self._flow is not None and not self._written:
            self._written = True
            self._flow.finalize(self._out_dir)
