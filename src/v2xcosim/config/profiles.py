"""Profile sections (``[profiles.<name>]``): a file, pvlib clear-sky PV, or a constant."""

from __future__ import annotations

import typing
from typing import Annotated, Literal

from pydantic import Field, field_validator

from v2xcosim.config.base import PathText, Spec, resolve_file

ProfileUnit = Literal["W", "kW", "MW", "pu", "K", "degC", "EUR/MWh", "W/m2"]


class FileProfileSpec(Spec):
    """A time series from a CSV or parquet file with time-zone-aware timestamps."""

    kind: Literal["file"]
    file: PathText
    column: str
    unit: ProfileUnit
    time_column: str = "time"
    tz: str | None = Field(
        default=None, description="IANA zone for naive timestamps; None = timestamps must be aware"
    )
    interpolation: Literal["hold", "linear"] = "hold"
    fill_gaps: Literal["error", "hold", "linear"] = Field(
        default="error",
        description="irregular spacing (a gap) or data ending before the horizon: 'error', or "
        "fill explicitly ('hold'/'linear' inside the data; the last value held to the end)",
    )

    _resolve = field_validator("file")(resolve_file)


class ClearSkyPvSpec(Spec):
    """PV output per unit of peak power from pvlib's clear-sky model (Ineichen, Linke turbidity).

    ``pu = POA irradiance / 1000 W/m² × performance_ratio``, clipped to [0, 1].
    """

    kind: Literal["clearsky_pv"]
    latitude_deg: float = Field(ge=-90, le=90)
    longitude_deg: float = Field(ge=-180, le=180)
    altitude_m: float = 0.0
    tilt_deg: float = Field(default=30.0, ge=0, le=90)
    azimuth_deg: float = Field(default=180.0, ge=0, lt=360)
    performance_ratio: float = Field(default=0.85, gt=0, le=1)


class ConstantProfileSpec(Spec):
    """A constant value."""

    kind: Literal["constant"]
    value: float
    unit: ProfileUnit


ProfileSpec = Annotated[
    FileProfileSpec | ClearSkyPvSpec | ConstantProfileSpec, Field(discriminator="kind")
]

PROFILE_KINDS: frozenset[str] = frozenset(
    typing.get_args(m.model_fields["kind"].annotation)[0]
    for m in (FileProfileSpec, ClearSkyPvSpec, ConstantProfileSpec)
)
"""The ``kind`` tags of :data:`ProfileSpec` (read from the models, written once)."""
