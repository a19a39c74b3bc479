"""The Terni actors as a flow for the generic actor host (:mod:`v2xcosim.cosim.flow_sim`).

One actor per charging site (inputs ``soc``, ``p_ac_w`` and the capacity losses ``q_cal``,
``q_cyc``, slot vectors at the start of the step; outputs ``p_set_w``, W per slot, load
convention, and ``plugged``, 1 per slot whose session is plugged in during the step) and one
per stationary battery (output ``p_w``, the battery's power over the step, load convention).
Every decision is made by :class:`~v2xcosim.usecases.terni.flow.TerniUseCase`; at the end the
flow writes the trace and the use case's tables into the run folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from v2xcosim.core.io import write_json_atomic, write_parquet_atomic
from v2xcosim.core.jsondata import from_json
from v2xcosim.usecases.terni.flow import TerniSetup, TerniUseCase
from v2xcosim.usecases.terni.schema import TerniScenario


class TerniActors:
    """Moves slot vectors into :class:`TerniUseCase` and its setpoints out."""

    attrs = ("soc", "p_ac_w", "q_cal", "q_cyc", "p_set_w", "plugged", "p_w")

    def __init__(self, use_case: TerniUseCase) -> None:
        """Host ``use_case`` (built once per run from the plan)."""
        self.uc = use_case

    def actors(self) -> list[str]:
        """Return the charging sites and the batteries."""
        return [*self.uc.s.sites, *self.uc.providers]

    def step(self, k: int, inputs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """Run every actor for step ``k``."""
        sites = self.uc.s.sites
        soc = {s: list(inputs[s]["soc"]) for s in sites}
        p_ac = {s: list(inputs[s]["p_ac_w"]) for s in sites}
        q = {s: (list(inputs[s]["q_cal"]), list(inputs[s]["q_cyc"])) for s in sites}
        setpoints = self.uc.step(k, soc, p_ac, q)
        plugged = self.uc.plugged()
        out: dict[str, dict[str, Any]] = {
            s: {"p_set_w": v, "plugged": plugged[s]} for s, v in setpoints.items()
        }
        out.update({p: {"p_w": v} for p, v in self.uc.provider_power_w().items()})
        return out

    def finalize(self, out_dir: Path | None) -> None:
        """Write the trace, the session, settlement and market tables and the actor summary."""
        if out_dir is None:
            return
        uc = self.uc
        write_parquet_atomic(uc.trace.to_frame(), out_dir / "trace.parquet")
        write_parquet_atomic(uc.sessions_frame(), out_dir / "sessions.parquet")
        write_parquet_atomic(uc.settlement_frame(), out_dir / "settlement.parquet")
        write_parquet_atomic(uc.steps_frame(), out_dir / "terni_steps.parquet")
        write_parquet_atomic(uc.awards_frame(), out_dir / "terni_awards.parquet")
        write_json_atomic(uc.summary(), out_dir / "terni_actors.json")


def terni_flow(params: Mapping[str, Any]) -> TerniActors:
    """Build the actors from the plan: ``scenario`` and ``setup`` (JSON, with the DSO's zones)."""
    # the JSON form of a validated spec (datetimes and paths as text, tuples as lists)
    spec = TerniScenario.model_validate(params["scenario"], strict=False)
    return TerniActors(
        TerniUseCase(
            spec,
            from_json(TerniSetup, params["setup"]),
            zone_voltage={
                z: (float(vm0), {j: float(x) for j, x in sens.items()}, float(s_flex))
                for z, (vm0, sens, s_flex) in params.get("zone_voltage", {}).items()
            },
        )
    )
