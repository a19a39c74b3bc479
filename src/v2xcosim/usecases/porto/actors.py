"""The Porto actors as a flow for the generic actor host (:mod:`v2xcosim.cosim.flow_sim`).

One actor, the car park (``carpark``): inputs ``soc``, ``p_ac_w``, ``q_cal``, ``q_cyc`` (slot
vectors, time-shifted from the fleet FMU) and ``p_import_w`` (the connection's import of the
previous step, time-shifted from the power flow); outputs ``p_set_w`` (W per slot, load
convention) and ``plugged`` (1 per slot whose session is plugged in during the step).  Every
decision is made by :class:`~v2xcosim.usecases.porto.flow.PortoFlow`; at the end the flow
writes ``trace.parquet``, ``sessions.parquet`` and ``porto_actors.json`` into the run folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from v2xcosim.core.io import write_json_atomic, write_parquet_atomic
from v2xcosim.core.jsondata import from_json
from v2xcosim.usecases.porto.flow import PortoFlow
from v2xcosim.usecases.porto.schema import PortoScenario
from v2xcosim.usecases.porto.wiring import PortoSetup

CARPARK = "carpark"
"""The actor id (and the grid connection id) of the long-term car park."""


class PortoActors:
    """Moves slot vectors into :class:`PortoFlow` and its setpoints out."""

    attrs = ("soc", "p_ac_w", "q_cal", "q_cyc", "p_import_w", "p_set_w", "plugged")

    def __init__(self, flow: PortoFlow) -> None:
        """Host ``flow`` (built once per run from the plan)."""
        self.flow = flow

    def actors(self) -> list[str]:
        """Return the one actor, the car park."""
        return [CARPARK]

    def step(self, k: int, inputs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """Run the car park's actors for step ``k``."""
        data = inputs[CARPARK]
        p_set = self.flow.step(
            k,
            list(data["soc"]),
            list(data["p_ac_w"]),
            list(data["q_cal"]),
            list(data["q_cyc"]),
            float(data["p_import_w"]),
        )
        s = self.flow.s
        plugged = np.zeros(s.fleet_size)
        rows = self.flow.connected()
        plugged[s.slot[rows]] = 1.0
        return {CARPARK: {"p_set_w": p_set, "plugged": [float(x) for x in plugged]}}

    def finalize(self, out_dir: Path | None) -> None:
        """Write the trace, the sessions and the actors' summary."""
        if out_dir is None:
            return
        write_parquet_atomic(self.flow.trace.to_frame(), out_dir / "trace.parquet")
        write_parquet_atomic(self.flow.sessions_frame(), out_dir / "sessions.parquet")
        write_json_atomic(self.flow.summary(), out_dir / "porto_actors.json")


def porto_flow(params: Mapping[str, Any]) -> PortoActors:
    """Build the actors from the plan: ``scenario`` and ``setup`` (JSON)."""
    spec = PortoScenario.model_validate(params["scenario"], strict=False)
    return PortoActors(PortoFlow(spec, from_json(PortoSetup, params["setup"])))
