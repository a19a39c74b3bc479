"""mosaik adapter: one ``Profiles`` entity whose attributes are the scenario's profiles."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import TypeAdapter

from v2xcosim.config.profiles import ProfileSpec
from v2xcosim.core.timegrid import step_times
from v2xcosim.cosim.adapters import TimeBasedSimulator, guarded
from v2xcosim.profiles import ProfileSet

_PROFILES: TypeAdapter[dict[str, ProfileSpec]] = TypeAdapter(dict[str, ProfileSpec])


class ProfileSim(TimeBasedSimulator):
    """Serves each profile's value at the current step (values precomputed at set-up)."""

    def __init__(self) -> None:
        """Create the simulator (META is completed in :meth:`init`)."""
        super().__init__()
        self._set: ProfileSet | None = None
        self._step_s = 1
        self._t = 0

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """Sample every profile once on the run's time grid.

        ``profiles``: name -> profile section (JSON, paths absolute); ``start_utc`` (ISO 8601),
        ``n_steps`` and ``step_s`` [s]: the time grid.
        """
        profiles = _PROFILES.validate_python(sim_params["profiles"])
        times = step_times(
            dt.datetime.fromisoformat(sim_params["start_utc"]),
            int(sim_params["n_steps"]),
            int(sim_params["step_s"]),
        )
        self._set = guarded(sid, "Profiles", 0, lambda: ProfileSet(profiles, times))
        self._step_s = int(sim_params["step_s"])
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
