"""The grid section of a file-configured network: a named network, its loads and PV plants."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from v2xcosim.config.base import CosPhi, PlantKw, Spec, resolve_file
from v2xcosim.config.common import GridOptions

NETWORK_FILE_SUFFIXES = (".json", ".m", ".mat")
"""A ``grid.network`` with one of these suffixes is a file (resolved against the scenario)."""


class PvSpec(Spec):
    """A PV system connected at ``bus`` (pandapower bus name)."""

    bus: str
    p_peak_kw: PlantKw = Field(description="peak power [kW], at most MAX_PLANT_KW")
    profile: str = Field(description="profile name giving output in pu of peak")
    cos_phi: CosPhi = Field(default=1.0, description="power factor; PV absorbs q when < 1")


class GridSpec(GridOptions):
    """A named network with its loads scaled by a profile and PV plants from the scenario file.

    ``network`` is a built-in network of :mod:`v2xcosim.grid.networks`, a SimBench code
    (``simbench:1-LV-rural1--0-sw``) or a network file (pandapower ``.json``, MATPOWER ``.m`` or
    ``.mat``; a path relative to the scenario file is resolved at validation, and the file must
    exist); the use case loads and checks it (:mod:`v2xcosim.grid.sources`).  ``load_profile``
    (pu) scales
    every load's nominal P, ``load_cos_phi`` gives their Q; ``pv`` adds PV plants at named buses.
    """

    network: str = Field(
        default="cigre_lv",
        min_length=1,
        description="a built-in network (cigre_lv), a SimBench code (simbench:CODE), or a "
        "pandapower .json / MATPOWER .m/.mat file relative to the scenario file",
    )
    load_profile: str | None = Field(
        default=None, description="profile in pu scaling every load's nominal p; None = nominal"
    )
    load_scaling: float = Field(default=1.0, ge=0)
    load_cos_phi: CosPhi = 0.95
    pv: list[PvSpec] = Field(default_factory=list)

    @field_validator("network")
    @classmethod
    def _network_file(cls, value: str, info: ValidationInfo) -> str:
        if Path(value).suffix.lower() in NETWORK_FILE_SUFFIXES:
            return str(resolve_file(Path(value), info))
        return value
