"""The ``sites`` actors: one uncontrolled charging controller per site (plain Python).

Hosted by the generic :class:`v2xcosim.cosim.flow_sim.FlowSim` (factory :func:`sites_flow`):
one actor per site; input ``soc`` (vector, the SOC at the start of the step); outputs
``p_set_w`` (vector, W, + = charging) and ``connected`` (vector of 0/1).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from v2xcosim.domain.charging import Sessions, UncontrolledCharging


class SitesFlow:
    """The controllers of every site, stepped together."""

    attrs = ("soc", "p_set_w", "connected")

    def __init__(self, controllers: Mapping[str, UncontrolledCharging], step_s: int) -> None:
        """Step ``controllers`` (site id -> controller) every ``step_s`` s."""
        self.controllers = dict(controllers)
        self.step_s = step_s

    def actors(self) -> list[str]:
        """Return the site ids."""
        return list(self.controllers)

    def step(self, k: int, inputs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """Decide every site's setpoints for [k, k + 1) from the SOC at the start of the step."""
        out: dict[str, dict[str, Any]] = {}
        for site, ctl in self.controllers.items():
            soc = np.asarray(inputs[site]["soc"], dtype=float)
            p, plugged = ctl.setpoints(k * self.step_s, soc)
            out[site] = {"p_set_w": p.tolist(), "connected": plugged.astype(int).tolist()}
        return out

    def finalize(self, out_dir: Path | None) -> None:
        """Write nothing: the sessions table is written by the use case after the run."""


FLOW = "v2xcosim.usecases.sites.flow:sites_flow"
"""Import string of :func:`sites_flow` for the generic actor host."""


def sites_flow(params: Mapping[str, Any]) -> SitesFlow:
    """Build the flow from JSON: ``step_s``; per site ``p_max_kw``, ``capacity_kwh``, sessions."""
    step_s = int(params["step_s"])
    controllers = {
        site: UncontrolledCharging(
            float(p["p_max_kw"]),
            None if p["capacity_kwh"] is None else float(p["capacity_kwh"]),
            Sessions.from_json(p["sessions"]),
            step_s,
        )
        for site, p in params["sites"].items()
    }
    return SitesFlow(controllers, step_s)
