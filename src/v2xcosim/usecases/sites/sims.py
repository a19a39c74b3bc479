"""mosaik adapter over the demo charging controller: one ``Controller`` entity per site.

Input ``soc`` (vector, time-shifted from the fleet: the SOC at the start of the step);
outputs ``p_set_w`` (vector, W, + = charging) and ``connected`` (vector of 0/1).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from v2xcosim.cosim.adapters import TimeBasedSimulator, first_value, guarded
from v2xcosim.domain.charging import Sessions, UncontrolledCharging


class ChargingSim(TimeBasedSimulator):
    """Vectorised per-site charging decisions."""

    def __init__(self) -> None:
        """Create the simulator."""
        super().__init__(
            {
                "Controller": {
                    "public": True,
                    "params": ["site_id", "p_max_kw", "capacity_kwh", "sessions"],
                    "attrs": ["soc", "p_set_w", "connected"],
                }
            }
        )
        self._step_s = 1
        self._ctl: dict[str, UncontrolledCharging] = {}
        self._out: dict[str, dict[str, Any]] = {}
        self._sid = "Charging"

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """Take ``step_s``, the co-simulation step [s]."""
        self._step_s = int(sim_params["step_s"])
        self._sid = sid
        return self.meta

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """Create the controller of site ``site_id`` over its drawn ``sessions`` (JSON)."""
        eid = f"ctl_{model_params['site_id']}"
        cap = model_params.get("capacity_kwh")
        self._ctl[eid] = UncontrolledCharging(
            float(model_params["p_max_kw"]),
            None if cap is None else float(cap),
            Sessions.from_json(model_params["sessions"]),
            self._step_s,
        )
        return [{"eid": eid, "type": model}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Decide the setpoints of every site for [time, time + step)."""
        for eid, ctl in self._ctl.items():
            soc = np.asarray(first_value(inputs[eid]["soc"]), dtype=float)
            p, plugged = guarded(self._sid, eid, time, functools.partial(ctl.setpoints, time, soc))
            self._out[eid] = {"p_set_w": p.tolist(), "connected": plugged.astype(int).tolist()}
        return time + self._step_s

    def get_data(self, outputs: Any) -> Any:
        """Return the requested setpoint vectors."""
        return {eid: {a: self._out[eid][a] for a in attrs} for eid, attrs in outputs.items()}
