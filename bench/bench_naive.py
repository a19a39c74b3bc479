"""The naive baseline of the ``cases`` section: one FMU instance and one mosaik entity per EV.

Built from the project's components as a straightforward design would use them: each EV is a
mosaik entity holding its own single-EV FMU instance (``EV.fmu`` through
:class:`v2xcosim.fmu.fleet.FmuFleet` with ``n = 1``, the same model as one vehicle of the fleet
FMU), stepped with scalar inputs and outputs; the grid entity receives every EV's power as a
separate mosaik input and sums it; the network is solved by pandapower ``runpp(net)`` with its
default options every step (:class:`bench_cases.BenchGrid` with ``naive = True``).  The
FMU steps and the grid solves are timed like the project's adapters
(:data:`v2xcosim.core.timers.STEP_TIMERS`), so both sides split their wall time alike.
"""

from __future__ import annotations

import functools
import time as _time
from pathlib import Path
from typing import Any

import numpy as np

from v2xcosim.core.timers import STEP_TIMERS
from v2xcosim.cosim.adapters import TimeBasedSimulator, guarded, to_wire
from v2xcosim.cosim.grid_sim import GridSim
from v2xcosim.fmu.fleet import FmuFleet


class NaiveEvSim(TimeBasedSimulator):
    """One entity per EV, each with its own single-EV FMU instance."""

    def __init__(self) -> None:
        """Create the simulator."""
        super().__init__(
            {
                "EV": {
                    "public": True,
                    "params": ["fmu_path", "parameters", "soc_start"],
                    "attrs": ["p_set_w", "p_ac_w", "q_ac_var", "soc"],
                }
            }
        )
        self._evs: dict[str, FmuFleet] = {}
        self._p_set: dict[str, float] = {}
        self._out: dict[str, dict[str, float]] = {}
        self._step_s = 1

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """``step_s`` [s]."""
        self._step_s = int(sim_params["step_s"])
        return self.meta

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """Open and initialise one single-EV FMU instance for the new entity."""
        eid = f"ev{len(self._evs)}"
        fleet = FmuFleet(
            Path(model_params["fmu_path"]),
            n=1,
            fleet=False,
            inputs=["p_set_w"],
            outputs=["p_ac_w", "q_ac_var", "soc"],
            parameters=dict(model_params["parameters"]),
            name=eid,
        )
        fleet.initialise(0.0, {"soc_start": [float(model_params["soc_start"])]})
        self._evs[eid] = fleet
        self._p_set[eid] = 0.0
        return [{"eid": eid, "type": model}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Set each EV's setpoint and step its FMU, one entity after another."""
        for eid, fleet in self._evs.items():
            for src in inputs.get(eid, {}).get("p_set_w", {}).values():
                self._p_set[eid] = float(src)
            t0 = _time.perf_counter()
            res = guarded(
                "NaiveEV",
                eid,
                time,
                functools.partial(
                    fleet.step,
                    float(time),
                    float(self._step_s),
                    {"p_set_w": np.array([self._p_set[eid]])},
                ),
            )
            STEP_TIMERS.add("fmu", _time.perf_counter() - t0)
            self._out[eid] = {k: float(v[0]) for k, v in res.items()}
        return time + self._step_s

    def get_data(self, outputs: Any) -> Any:
        """Each EV's scalar outputs."""
        return to_wire(
            {eid: {a: self._out[eid][a] for a in attrs} for eid, attrs in outputs.items()}
        )

    def finalize(self) -> None:
        """Free every FMU instance."""
        for fleet in self._evs.values():
            fleet.close()


class NaiveGridSim(GridSim):
    """The generic grid adapter, with each connection's many EV inputs summed (W, var)."""

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Sum every EV's input per connection, then solve as the generic adapter does."""
        summed = {
            eid: {a: {"sum": float(sum(v.values()))} for a, v in attrs.items()}
            for eid, attrs in inputs.items()
        }
        return super().step(time, summed, max_advance)
