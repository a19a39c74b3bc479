"""Building blocks of every scenario schema: the strict base model, shared types, problems."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationInfo

_IDENT = r"^[A-Za-z][A-Za-z0-9_\-]*$"
Identifier = Annotated[str, Field(pattern=_IDENT, max_length=64)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
CosPhi = Annotated[float, Field(gt=0.0, le=1.0)]
ParamValue = float | int | bool | list[float]
MAX_PLANT_KW = 100_000.0
"""Upper bound [kW] of one generator or load plant in a scenario (assumption): 100 MW, the upper
end of what connects to a medium-voltage network; a larger value is almost always a unit slip
(W written for kW)."""

MAX_CHARGER_KW = 3_750.0
"""Upper bound [kW] of one charging point: the Megawatt Charging System's 3,000 A × 1,250 V
(CharIN MCS; SAE J3271), the most powerful charging standard."""

PlantKw = Annotated[float, Field(gt=0, le=MAX_PLANT_KW)]
ChargerKw = Annotated[float, Field(gt=0, le=MAX_CHARGER_KW)]
PathText = Annotated[Path, Strict(False)]
"""A file or folder path, written as text (TOML has no path type): the one str conversion."""


class Spec(BaseModel):
    """Base of every spec: frozen, unknown keys refused, finite floats only, strict types.

    ``strict``: a value must already have its field's type — ``"300"`` is not an int, ``"yes"``
    not a bool, ``1`` not a bool — so a quoted number or a word is refused with its key and
    line instead of being read as something the user did not write.  TOML gives numbers,
    booleans, lists and (offset) datetimes their own types, and ``--set`` values are read as
    TOML, so nothing valid needs a conversion; the exception is a path (:data:`PathText`).
    An int is accepted where a float is expected.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


def resolve_file(value: Path, info: ValidationInfo) -> Path:
    """Resolve ``value`` against the scenario's folder (``context["base_dir"]``); must exist."""
    base = (info.context or {}).get("base_dir") if info.context is not None else None
    path = value if value.is_absolute() or base is None else Path(base) / value
    path = path.resolve()
    if not path.is_file():
        raise ValueError(
            f"file not found: {path} (paths are relative to the scenario file's folder)"
        )
    return path


class Problem(NamedTuple):
    """One problem of a scenario: its key path (``sites[0].buses[1]``) and what is wrong."""

    path: str
    message: str
