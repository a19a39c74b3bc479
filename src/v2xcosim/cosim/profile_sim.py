"""mosaik adapter: one ``Profiles`` entity serving precomputed time series step by step.

Every use case samples its profiles once per run, when it plans the run, and hands them over
as JSON data: ``series`` maps a name to one value per step (canonical units: W, K, pu, EUR/MWh).
The simulator only indexes them, so it can run in any process.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from v2xcosim.core.errors import SimulationError
from v2xcosim.cosim.adapters import TimeBasedSimulator


def check_series(series: Mapping[str, Sequence[float]], n_steps: int) -> None:
    """Refuse a series of the wrong length or with a non-finite value (names the step)."""
    for name, values in series.items():
        if len(values) != n_steps:
            raise SimulationError(f"profile {name}: {len(values)} values for {n_steps} steps")
        for k, v in enumerate(values):
            if not math.isfinite(v):
                raise SimulationError(f"profile {name}: value {v} at step {k} is not finite")


class ProfileSim(TimeBasedSimulator):
    """Serves each profile's value at the current step."""

    def __init__(self) -> None:
        """Create the simulator (META is completed in :meth:`init`)."""
        super().__init__()
        self._series: dict[str, list[float]] = {}
        self._step_s = 1
        self._t = 0

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """Take ``series`` (name -> one value per step) and ``step_s`` [s]."""
        self._series = {k: [float(x) for x in v] for k, v in sim_params["series"].items()}
        self._step_s = int(sim_params["step_s"])
        n = {len(v) for v in self._series.values()}
        check_series(self._series, n.pop() if len(n) == 1 else 0)
        self.meta["models"]["Profiles"] = {
            "public": True,
            "params": [],
            "attrs": sorted(self._series),
        }
        return self.meta

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """Create the one ``Profiles`` entity."""
        return [{"eid": "profiles", "type": model}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Advance to ``time`` [s]."""
        self._t = time
        return time + self._step_s

    def get_data(self, outputs: Any) -> Any:
        """Values of the requested profiles at the current step."""
        k = self._t // self._step_s
        return {eid: {a: self._series[a][k] for a in attrs} for eid, attrs in outputs.items()}
