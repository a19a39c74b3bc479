"""mosaik adapter over :class:`v2xcosim.grid.powerflow.GridModel`.

Entities: ``Grid`` (inputs ``profile_<name>`` for the load/PV profiles; outputs slack power,
losses, status, bus voltages, line/trafo loading as vectors) and one ``Site`` per charging site
(inputs ``p_w``/``q_var`` vectors per EV; output ``vm_pu`` per EV, fed back time-shifted).
"""

from __future__ import annotations

from typing import Any

from v2xcosim.config.grid import GridSpec
from v2xcosim.cosim.adapters import TimeBasedSimulator, first_value, guarded
from v2xcosim.grid.powerflow import GridModel, GridResult, SiteConnection, result_to_dict

GRID_OUTPUTS = [
    "converged",
    "p_slack_w",
    "q_slack_var",
    "p_loss_w",
    "vm_pu",
    "line_loading_percent",
    "trafo_loading_percent",
]


class GridSim(TimeBasedSimulator):
    """One power flow per step over all sites."""

    def __init__(self) -> None:
        """Create the simulator (META is completed in :meth:`init`)."""
        super().__init__()
        self._model: GridModel | None = None
        self._result: GridResult | None = None
        self._sid = "Grid"
        self._step_s = 1
        self._pv_profiles: list[str] = []
        self._load_profile: str | None = None
        self._sites: list[str] = []

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """Build the network fresh from the JSON parameters.

        ``grid``: the grid section; ``sites``: site id -> bus name of each charger; ``step_s`` [s].
        """
        grid_spec = GridSpec.model_validate(sim_params["grid"])
        self._sid = sid
        self._step_s = int(sim_params["step_s"])
        sites = [SiteConnection(sid_, list(buses)) for sid_, buses in sim_params["sites"].items()]
        self._sites = [s.site_id for s in sites]
        self._model = guarded(sid, "grid", 0, lambda: GridModel(grid_spec, sites))
        self._pv_profiles = [pv.profile for pv in grid_spec.pv]
        self._load_profile = grid_spec.load_profile
        used = sorted({*self._pv_profiles, *([self._load_profile] if self._load_profile else [])})
        self.meta["models"] = {
            "Grid": {
                "public": True,
                "params": [],
                "attrs": [f"profile_{p}" for p in used] + GRID_OUTPUTS,
            },
            "Site": {"public": True, "params": ["site_id"], "attrs": ["p_w", "q_var", "vm_pu"]},
        }
        return self.meta

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """``Grid``: the network; ``Site``: the connection of site ``site_id``."""
        if model == "Grid":
            return [{"eid": "grid", "type": model}]
        site_id = str(model_params["site_id"])
        return [{"eid": f"site_{site_id}", "type": model}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Collect injections and run the power flow for step ``time // step_s``."""
        assert self._model is not None
        grid_in = inputs.get("grid", {})
        prof = {k[len("profile_") :]: float(first_value(v)) for k, v in grid_in.items()}
        load_pu = prof[self._load_profile] if self._load_profile else None
        pv_pu = [prof[p] for p in self._pv_profiles]
        ev_p: dict[str, Any] = {}
        ev_q: dict[str, Any] = {}
        for site in self._sites:
            data = inputs.get(f"site_{site}", {})
            if "p_w" in data:
                ev_p[site] = first_value(data["p_w"])
            if "q_var" in data:
                ev_q[site] = first_value(data["q_var"])
        model = self._model
        self._result = guarded(
            self._sid,
            "grid",
            time,
            lambda: model.step(
                time // self._step_s, time, load_pu=load_pu, pv_pu=pv_pu, ev_p_w=ev_p, ev_q_var=ev_q
            ),
        )
        return time + self._step_s

    def get_data(self, outputs: Any) -> Any:
        """Grid results and the per-EV voltages of each site."""
        assert self._result is not None
        grid = result_to_dict(self._result)
        out: dict[str, dict[str, Any]] = {}
        for eid, attrs in outputs.items():
            if eid == "grid":
                out[eid] = {a: grid[a] for a in attrs}
            else:
                out[eid] = {"vm_pu": self._result.site_vm_pu[eid[len("site_") :]]}
        return out
