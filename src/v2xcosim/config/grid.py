"""The grid section of a file-configured network: a named network, its loads and PV plants."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from v2xcosim.config.base import CosPhi, Spec
from v2xcosim.config.common import GridOptions


class PvSpec(Spec):
    """A PV system connected at ``bus`` (pandapower bus name)."""

    bus: str
    p_peak_kw: float = Field(gt=0)
    profile: str = Field(description="profile name giving output in pu of peak")
    cos_phi: CosPhi = Field(default=1.0, description="power factor; PV absorbs q when < 1")


class GridSpec(GridOptions):
    """A named network with its loads scaled by a profile and PV plants from the scenario file.

    ``network`` names a network of :mod:`v2xcosim.grid.networks`; ``load_profile`` (pu) scales
    every load's nominal P, ``load_cos_phi`` gives their Q; ``pv`` adds PV plants at named buses.
    """

    network: Literal["cigre_lv"] = Field(
        default="cigre_lv", description="built-in network (see v2xcosim.grid.networks)"
    )
    load_profile: str | None = Field(
        default=None, description="profile in pu scaling every load's nominal p; None = nominal"
    )
    load_scaling: float = Field(default=1.0, ge=0)
    load_cos_phi: CosPhi = 0.95
    pv: list[PvSpec] = Field(default_factory=list)
