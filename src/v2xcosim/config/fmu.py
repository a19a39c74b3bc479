"""FMU sections: which FMU models a fleet of EVs and how its variables map."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, field_validator, model_validator

from v2xcosim.config.base import ParamValue, PathText, Spec, resolve_file


class FmuInputsSpec(Spec):
    """FMU variable names of the charger inputs (None = the FMU has no such input).

    TOML has no null: an empty string (``vm = ""``) means None, e.g. to leave a charger's
    voltage input unconnected (no Q(U) feedback, which ``grid.batch_steps`` needs).
    """

    p_set: str = "p_set_w"
    q_set: str | None = "q_set_var"
    vm: str | None = "vm_pu"
    t_amb: str | None = "t_amb_k"

    @field_validator("q_set", "vm", "t_amb", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


class FmuOutputsSpec(Spec):
    """FMU variable names of the outputs the co-simulation uses, plus extra recorded ones."""

    p_ac: str = "p_ac_w"
    q_ac: str = "q_ac_var"
    soc: str = "soc"
    extra: list[str] = Field(
        default_factory=lambda: ["e_ac_j", "e_chem_j", "e_loss_j"],
        description="further FMU outputs exposed and recorded per EV",
    )


class FmuSpec(Spec):
    """Which FMU models the EVs of a site and how its variables map.

    ``model`` names a model built by :func:`v2xcosim.fmu.build.build_fmu`; ``path`` points at a
    ready ``.fmu`` (tests, external FMUs).  ``fleet = true`` builds/uses one fleet FMU with
    variables ``<vector_prefix>[i].<name>`` (1-based) for the whole site; ``false`` one single-EV
    FMU instance per vehicle.  ``parameters`` are set before initialisation: a scalar applies to
    every EV, a list gives one value per EV.  ``instance_parameters`` are FMU-wide parameters
    under their exact names, set once per FMU instance: for the project's FMUs ``solver.rtol``
    (the integrator's relative tolerance, default 1e-6) and, for fleet FMUs, ``solver.threads``
    (threads integrating the vehicles, default 0 = one per CPU and per 64 vehicles; results do not
    depend on it).
    """

    model: str | None = None
    path: PathText | None = None
    fleet: bool = True
    vector_prefix: str = "ev"
    parameters: dict[str, ParamValue] = Field(default_factory=dict)
    instance_parameters: dict[str, float | int | bool] = Field(default_factory=dict)
    soc_start_parameter: str = "soc_start"
    inputs: FmuInputsSpec = Field(default_factory=FmuInputsSpec)
    outputs: FmuOutputsSpec = Field(default_factory=FmuOutputsSpec)

    _resolve = field_validator("path")(lambda v, info: None if v is None else resolve_file(v, info))

    @field_validator("instance_parameters")
    @classmethod
    def _solver_ranges(cls, value: dict[str, float | int | bool]) -> dict[str, float | int | bool]:
        """``solver.rtol`` in (0, 1) and ``solver.threads`` a whole number >= 0 (shell limits)."""
        problems = solver_parameter_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FmuSpec:
        if self.model == "":  # lets ``--set sites.0.fmu.model=''`` switch a file to ``path``
            object.__setattr__(self, "model", None)
        if (self.model is None) == (self.path is None):
            raise ValueError(
                "give exactly one of 'model' (built by name) or 'path' (a .fmu file); "
                "model = '' counts as not given"
            )
        return self


def solver_parameter_problems(value: Mapping[str, object]) -> list[str]:
    """Range problems of the FMU-wide solver parameters in ``value`` (one message each).

    ``solver.rtol`` must be a number in (0, 1) (the shell's integrator needs a positive relative
    tolerance; 1 or more would accept any result); ``solver.threads`` a whole number from 0
    (automatic) to 4096 (assumption: far beyond a useful thread count, so a larger number
    is a typo).  Shared by every use case that passes FMU instance parameters (e.g. the sites'
    ``fmu.instance_parameters``).
    """
    problems: list[str] = []
    rtol = value.get("solver.rtol")
    if rtol is not None and (
        isinstance(rtol, bool) or not isinstance(rtol, int | float) or not 0 < rtol < 1
    ):
        problems.append(
            f"solver.rtol = {rtol!r}: a relative tolerance must be a number in (0, 1), "
            "e.g. 1e-6 (0 would ask the integrator for exact results)"
        )
    threads = value.get("solver.threads")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= 4096
    ):
        problems.append(
            f"solver.threads = {threads!r}: give a whole number from 0 (automatic: one per "
            "CPU and per 64 vehicles) to 4096"
        )
    return problems
