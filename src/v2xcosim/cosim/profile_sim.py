"""mosaik adapter: one ``Profiles`` entity whose attributes are the scenario's profiles."""

from __future__ import annotations

from typing import Any

from v2xcosim.cosim.adapters import TimeBasedSimulator, guarded, spec_from_json
from v2xcosim.profiles import ProfileSet, load_profiles


class ProfileSim(TimeBasedSimulator):
    """Serves each profile's value at the current step (values precomputed at set-up)."""

    def __init__(self) -> None:
        """Create the simulator (META is completed in :meth:`init`)."""
        super().__init__()
        self._set: ProfileSet | None = None
        self._step_s = 1
        self._t = 0

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """``scenario``: the resolved scenario as JSON data."""
        spec = spec_from_json(sim_params["scenario"])
        self._set = guarded(sid, "Profiles", 0, lambda: load_profiles(spec))
        self._step_s = spec.time.step_s
        self.meta["models"]["Profiles"] = {
            "public": True,
            "params": [],
            "attrs": sorted(self._set.values),
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
        assert self._set is not None
        k = self._t // self._step_s
        return {eid: {a: self._set.at(a, k) for a in attrs} for eid, attrs in outputs.items()}
