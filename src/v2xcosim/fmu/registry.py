"""The model registry ``models/fmus.toml``: which Modelica classes become FMUs, and how.

Also where the registry and the built FMUs live (:func:`project_root`, :func:`models_dir`,
:func:`fmus_dir`) and how an FMU is named (:func:`identifier_for`).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from v2xcosim.core.errors import ScenarioError

_HERE = Path(__file__).resolve().parent

SOLVERS = {"sdirk": 1, "dopri": 2, "bs3": 3}
"""Co-Simulation integrators a model may choose, with the values of the shell's codes
``V2X_SOLVER_<NAME>`` (``shell/v2x_shell.h``)."""


def project_root() -> Path:
    """Return the directory that holds ``models/``: the working directory or the source checkout."""
    env = os.environ.get("V2XCOSIM_ROOT")
    if env:
        return Path(env).resolve()
    cwd = Path.cwd()
    if (cwd / "models" / "fmus.toml").is_file():
        return cwd
    return _HERE.parents[2]


def models_dir() -> Path:
    """Return the Modelica model directory (``<root>/models``)."""
    return project_root() / "models"


def fmus_dir() -> Path:
    """Return the default FMU output directory (``<root>/fmus``)."""
    return project_root() / "fmus"


@dataclass(frozen=True)
class ModelEntry:
    """One buildable model as listed in ``models/fmus.toml``."""

    name: str
    modelica_class: str
    solver: str = "sdirk"
    rtol: float = 1e-6
    fleet_prefix: str = "ev"
    description: str = ""


def read_registry(mdir: Path | None = None) -> dict[str, ModelEntry]:
    """Read ``models/fmus.toml``: which Modelica classes become FMUs, and with which solver."""
    mdir = mdir or models_dir()
    path = mdir / "fmus.toml"
    if not path.is_file():
        raise ScenarioError(
            f"{path}: not found; it lists the models to build (see models/README.md)"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: invalid TOML: {exc}") from None
    out: dict[str, ModelEntry] = {}
    errors: list[str] = []
    allowed = {"class", "solver", "rtol", "fleet_prefix", "description"}
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            errors.append(f"{path}: [{name}] must be a table")
            continue
        unknown = sorted(set(spec) - allowed)
        if unknown:
            errors.append(f"{path}: [{name}] unknown keys {unknown}; allowed: {sorted(allowed)}")
        if "class" not in spec:
            errors.append(f"{path}: [{name}].class is missing (the Modelica class, e.g. 'V2X.EV')")
            continue
        solver = str(spec.get("solver", "sdirk"))
        if solver not in SOLVERS:
            errors.append(f"{path}: [{name}].solver = {solver!r}; use one of {sorted(SOLVERS)}")
        rtol = float(spec.get("rtol", 1e-6))
        if not 0 < rtol < 1:
            errors.append(f"{path}: [{name}].rtol = {rtol}; must be in (0, 1)")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            errors.append(f"{path}: [{name}] is not a valid FMU model identifier")
        out[name] = ModelEntry(
            name=name,
            modelica_class=str(spec["class"]),
            solver=solver,
            rtol=rtol,
            fleet_prefix=str(spec.get("fleet_prefix", "ev")),
            description=str(spec.get("description", "")),
        )
    if errors:
        raise ScenarioError("\n".join(errors))
    return out


def identifier_for(name: str, fleet: int | None) -> str:
    """FMU model identifier (and file stem): ``EV`` or ``EV_fleet10``."""
    return f"{name}_fleet{fleet}" if fleet else name
