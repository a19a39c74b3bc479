"""mosaik adapter over :class:`v2xcosim.fmu.fleet.FmuFleet`: one ``Fleet`` entity per site.

Inputs (vectors of one value per EV unless noted): ``p_set_w``, ``q_set_var``, ``vm_pu``
(time-shifted from the grid; a diverged grid step keeps the last valid voltage) and
``t_amb_k`` (scalar, broadcast).  Outputs: ``p_ac_w``, ``q_ac_var``, ``soc`` and the site's
``fmu.outputs.extra`` under their FMU names.  Inputs keep their last value when not sent.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from v2xcosim.config.fmu import FmuSpec
from v2xcosim.cosim.adapters import TimeBasedSimulator, first_value, guarded
from v2xcosim.fmu.fleet import FmuFleet

ROLE_INPUTS = ["p_set_w", "q_set_var", "vm_pu", "t_amb_k"]
ROLE_OUTPUTS = ["p_ac_w", "q_ac_var", "soc"]


class _Site:
    def __init__(self, fleet: FmuFleet, in_map: dict[str, str], out_map: dict[str, str]) -> None:
        self.fleet = fleet
        self.in_map = in_map  # role → FMU base name
        self.out_map = out_map  # exposed attr → FMU base name
        n = fleet.n
        self.inputs = {
            "p_set_w": np.zeros(n),
            "q_set_var": np.zeros(n),
            "vm_pu": np.ones(n),
            "t_amb_k": np.full(n, 293.15),
        }
        self.outputs: dict[str, Any] = {}


class FmuSim(TimeBasedSimulator):
    """Hosts the EV FMUs of every site."""

    def __init__(self) -> None:
        """Create the simulator (META is completed in :meth:`init`)."""
        super().__init__()
        self._sites: dict[str, _Site] = {}
        self._step_s = 1
        self._sid = "FMU"

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """Take ``step_s`` [s] and ``extra_outputs`` (further FMU outputs any fleet exposes)."""
        self._step_s = int(sim_params["step_s"])
        self._sid = sid
        extra = sorted(set(sim_params.get("extra_outputs", [])))
        self.meta["models"]["Fleet"] = {
            "public": True,
            "params": ["site_id", "fmu", "n_evs", "fmu_path", "soc_start", "t_amb_k"],
            "attrs": ROLE_INPUTS + ROLE_OUTPUTS + [x for x in extra if x not in ROLE_OUTPUTS],
        }
        return self.meta

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """Create one fleet entity for site ``site_id``.

        ``n_evs`` EVs of the FMU section ``fmu`` (JSON) from ``fmu_path``, start SOCs
        ``soc_start``, ambient temperature ``t_amb_k`` until an input arrives.
        """
        site_id = str(model_params["site_id"])
        fmu = FmuSpec.model_validate(model_params["fmu"])
        n_evs = int(model_params["n_evs"])
        ins, outs = fmu.inputs, fmu.outputs
        in_map = {"p_set_w": ins.p_set}
        for role, name in (("q_set_var", ins.q_set), ("vm_pu", ins.vm), ("t_amb_k", ins.t_amb)):
            if name is not None:
                in_map[role] = name
        out_map = {"p_ac_w": outs.p_ac, "q_ac_var": outs.q_ac, "soc": outs.soc}
        out_map.update({x: x for x in outs.extra})
        eid = f"fleet_{site_id}"

        def build() -> FmuFleet:
            fleet = FmuFleet(
                Path(model_params["fmu_path"]),
                n=n_evs,
                fleet=fmu.fleet,
                inputs=list(in_map.values()),
                outputs=list(dict.fromkeys(out_map.values())),
                parameters=fmu.parameters,
                instance_parameters=fmu.instance_parameters,
                name=site_id,
                prefix=fmu.vector_prefix,
            )
            try:
                fleet.initialise(
                    0.0,  # FMU time = mosaik time [s] since the scenario start
                    {fmu.soc_start_parameter: list(model_params["soc_start"])},
                )
            except BaseException:
                fleet.close()
                raise
            return fleet

        entry = _Site(guarded(self._sid, eid, 0, build), in_map, out_map)
        entry.inputs["t_amb_k"][:] = float(model_params["t_amb_k"])
        self._sites[eid] = entry
        return [{"eid": eid, "type": model}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Set each fleet's inputs and advance all FMUs by one step."""
        step_s = self._step_s
        for eid, site in self._sites.items():
            for attr, srcs in inputs.get(eid, {}).items():
                value = first_value(srcs)
                if attr == "vm_pu":
                    arr = np.array([np.nan if v is None else v for v in value], dtype=float)
                    ok = np.isfinite(arr)  # diverged grid step: keep the last valid voltage
                    site.inputs[attr][ok] = arr[ok]
                else:
                    site.inputs[attr][:] = np.asarray(value, dtype=float)
            fmu_in = {name: site.inputs[role] for role, name in site.in_map.items()}
            res = guarded(
                self._sid,
                eid,
                time,
                functools.partial(site.fleet.step, float(time), float(step_s), fmu_in),
            )
            site.outputs = {attr: res[name].tolist() for attr, name in site.out_map.items()}
        return time + step_s

    def get_data(self, outputs: Any) -> Any:
        """Return the requested output vectors."""
        return {
            eid: {a: self._sites[eid].outputs[a] for a in attrs} for eid, attrs in outputs.items()
        }

    def finalize(self) -> None:
        """Free every FMU instance and extraction folder."""
        for site in self._sites.values():
            site.fleet.close()
