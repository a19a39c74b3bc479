"""mosaik adapter over :class:`v2xcosim.fmu.fleet.FmuFleet`: one ``Fleet`` entity per site.

Every use case describes each fleet with JSON parameters (:func:`fleet_params` builds them):
the FMU, the number of vehicles, which FMU variable plays which input role, which outputs are
exposed under which attribute, parameters and start values.  Input roles (vectors of one value
per EV; a scalar is broadcast): ``p_set_w`` and ``q_set_var`` (setpoints, load convention),
``vm_pu`` (time-shifted from the grid; a step whose power flow failed, NaN, keeps the last valid
voltage), ``t_amb_k`` and ``f_hz``.  Inputs keep their last value when not sent.
"""

from __future__ import annotations

import functools
import time as _time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from v2xcosim.core.timers import STEP_TIMERS
from v2xcosim.cosim.adapters import TimeBasedSimulator, first_value, guarded
from v2xcosim.fmu.fleet import ChunkedFleet, FmuFleet, ParamValue, open_fleet

INPUT_START: dict[str, float] = {
    "p_set_w": 0.0,
    "q_set_var": 0.0,
    "vm_pu": 1.0,
    "t_amb_k": 293.15,
    "f_hz": 50.0,
}
"""Input roles and the value each has until one arrives (no power, nominal grid, 20 °C)."""

ROLE_INPUTS = list(INPUT_START)
ROLE_OUTPUTS = ["p_ac_w", "q_ac_var", "soc"]
"""Outputs every fleet exposes (AC power and reactive power, load convention; SOC)."""
FLEET_PARAMS = [
    "site_id",
    "fmu_path",
    "n",
    "fleet",
    "prefix",
    "inputs",
    "outputs",
    "parameters",
    "instance_parameters",
    "start",
    "input_start",
]
"""The model parameters of a ``Fleet`` entity (:func:`fleet_params`)."""


def fleet_params(
    *,
    site_id: str,
    fmu_path: Path | Mapping[int, Path],
    n: int,
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
    parameters: Mapping[str, ParamValue],
    start: Mapping[str, list[float]],
    instance_parameters: Mapping[str, float | int | bool] | None = None,
    fleet: bool = True,
    prefix: str = "ev",
    input_start: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Return the JSON parameters of one ``Fleet`` entity (see the module docstring).

    ``inputs``: role -> FMU variable; ``outputs``: exposed attribute -> FMU variable;
    ``parameters`` set before initialisation (scalar for all EVs or one value per EV);
    ``start``: parameters set at initialisation, one value per EV (e.g. the start SOC);
    ``input_start``: role -> value until an input arrives (default :data:`INPUT_START`).
    ``fmu_path``: one FMU, or fleet FMUs by size (:func:`v2xcosim.fmu.fleet.build_fleet_fmus`)
    over which the ``n`` vehicles are split (:func:`v2xcosim.fmu.fleet.fleet_chunks`).
    """
    unknown = sorted(set(inputs) - set(INPUT_START))
    if unknown:
        raise ValueError(f"fleet {site_id}: unknown input role(s) {unknown}; known {ROLE_INPUTS}")
    return {
        "site_id": site_id,
        "fmu_path": (
            {str(k): str(v) for k, v in fmu_path.items()}
            if isinstance(fmu_path, Mapping)
            else str(fmu_path)
        ),
        "n": n,
        "fleet": fleet,
        "prefix": prefix,
        "inputs": dict(inputs),
        "outputs": dict(outputs),
        "parameters": dict(parameters),
        "instance_parameters": dict(instance_parameters or {}),
        "start": {k: list(v) for k, v in start.items()},
        "input_start": dict(input_start or {}),
    }


class _Fleet:
    def __init__(self, fleet: FmuFleet | ChunkedFleet, params: Mapping[str, Any]) -> None:
        self.fleet = fleet
        self.in_map: dict[str, str] = dict(params["inputs"])  # role → FMU name
        self.out_map: dict[str, str] = dict(params["outputs"])  # attr → FMU name
        start = {**INPUT_START, **params["input_start"]}
        self.inputs = {role: np.full(fleet.n, float(start[role])) for role in INPUT_START}
        self.outputs: dict[str, Any] = {}


class FmuSim(TimeBasedSimulator):
    """Hosts the EV fleets of every site (one entity per site)."""

    def __init__(self) -> None:
        """Create the simulator (META is completed in :meth:`init`)."""
        super().__init__()
        self._fleets: dict[str, _Fleet] = {}
        self._sid = "FMU"
        self._step_s = 1

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """Take ``step_s`` [s] and ``outputs``: every attribute any fleet will expose."""
        self._step_s = int(sim_params["step_s"])
        self._sid = sid
        extra = [a for a in sim_params.get("outputs", []) if a not in ROLE_OUTPUTS]
        self.meta["models"]["Fleet"] = {
            "public": True,
            "params": FLEET_PARAMS,
            "attrs": ROLE_INPUTS + ROLE_OUTPUTS + sorted(set(extra)),
        }
        return self.meta

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """Create the fleet entity ``fleet_<site_id>`` from :func:`fleet_params` data."""
        site_id = str(model_params["site_id"])
        eid = f"fleet_{site_id}"
        p = model_params

        def build() -> FmuFleet | ChunkedFleet:
            raw = p["fmu_path"]
            fmu = (
                {int(k): Path(v) for k, v in raw.items()} if isinstance(raw, Mapping) else Path(raw)
            )
            fleet = open_fleet(
                fmu,
                n=int(p["n"]),
                fleet=bool(p.get("fleet", True)),
                inputs=list(p["inputs"].values()),
                outputs=list(dict.fromkeys(p["outputs"].values())),
                parameters=p["parameters"],
                instance_parameters=p.get("instance_parameters", {}),
                name=site_id,
                prefix=str(p.get("prefix", "ev")),
            )
            try:
                # FMU time = mosaik time [s] since the scenario start
                fleet.initialise(0.0, {k: list(v) for k, v in p["start"].items()})
            except BaseException:
                fleet.close()
                raise
            return fleet

        self._fleets[eid] = _Fleet(guarded(self._sid, eid, 0, build), p)
        return [{"eid": eid, "type": model}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Set each fleet's inputs and advance all FMUs by one step."""
        for eid, site in self._fleets.items():
            for attr, srcs in inputs.get(eid, {}).items():
                raw = first_value(srcs)
                if isinstance(raw, Sequence):
                    raw = [np.nan if v is None else v for v in raw]
                value = np.broadcast_to(np.asarray(raw, dtype=float), site.inputs[attr].shape)
                if attr == "vm_pu":  # a step whose power flow failed: keep the last voltage
                    ok = np.isfinite(value)
                    site.inputs[attr][ok] = value[ok]
                else:
                    site.inputs[attr][:] = value
            fmu_in = {name: site.inputs[role] for role, name in site.in_map.items()}
            t0 = _time.perf_counter()
            res = guarded(
                self._sid,
                eid,
                time,
                functools.partial(site.fleet.step, float(time), float(self._step_s), fmu_in),
            )
            STEP_TIMERS.add("fmu", _time.perf_counter() - t0)
            site.outputs = {attr: res[name].tolist() for attr, name in site.out_map.items()}
        return time + self._step_s

    def get_data(self, outputs: Any) -> Any:
        """Return the requested output vectors."""
        return {
            eid: {a: self._fleets[eid].outputs[a] for a in attrs} for eid, attrs in outputs.items()
        }

    def finalize(self) -> None:
        """Free every FMU instance and extraction folder."""
        for site in self._fleets.values():
            site.fleet.close()
