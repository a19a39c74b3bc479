"""Sections every use case shares: time, grid options, results, checks, runner; the base model.

A use case's scenario model (``usecases/<name>/schema.py``) derives from :class:`ScenarioBase`
and adds exactly the sections it reads (``extra="forbid"``), so a key it would ignore is refused.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from v2xcosim.config.base import Identifier, Spec

MAX_STEPS_DEFAULT = 1_000_000
"""Default of ``runner.max_steps`` (assumption): ten years of 5-minute steps, far beyond any
shipped scenario (the week scenario has 2,016), while a mistyped horizon (10^12 s) is refused
before it fills memory; a run's tables hold one row per step."""

LAST_REPRESENTABLE_UTC = dt.datetime(2262, 4, 11, 23, 47, 16, tzinfo=dt.UTC)
"""``pandas.Timestamp.max`` rounded down to the second (int64 nanoseconds since 1970)."""


class TimeSpec(Spec):
    """Simulated horizon: ``start`` with a UTC offset, ``duration_s`` a multiple of ``step_s``."""

    start: AwareDatetime = Field(description="first step, ISO 8601 with UTC offset")
    duration_s: int = Field(gt=0, description="simulated horizon [s]")
    step_s: int = Field(gt=0, description="co-simulation step [s]")
    timezone: str | None = Field(
        default=None,
        description="IANA time zone of the site (e.g. Europe/Rome) for local-time tariffs, plots "
        "and reports across daylight-saving changes; None = the UTC offset of start",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; give an IANA name such as 'Europe/Rome'"
            ) from None
        return value

    @model_validator(mode="after")
    def _step_divides(self) -> TimeSpec:
        if self.duration_s % self.step_s != 0:
            raise ValueError(
                f"step_s = {self.step_s} does not divide duration_s = {self.duration_s}; "
                "choose a duration that is a whole number of steps"
            )
        return self

    @property
    def n_steps(self) -> int:
        """Number of co-simulation steps."""
        return self.duration_s // self.step_s

    @property
    def start_utc(self) -> dt.datetime:
        """Start time converted to UTC."""
        return self.start.astimezone(dt.UTC)

    @property
    def tzinfo(self) -> dt.tzinfo:
        """The local time zone: ``timezone`` if given, else the UTC offset of ``start``."""
        if self.timezone is not None:
            return zoneinfo.ZoneInfo(self.timezone)
        tz = self.start.tzinfo
        assert tz is not None  # AwareDatetime
        return tz


MAX_LOADING_PERCENT = 1000.0
"""Upper bound of the loading limits [%] (assumption): ten times the rating, beyond any short-term
overload rating of lines and transformers (IEC 60076-7 allows transformers 150-200 % for short
times); a larger limit switches the loading check off in effect and is almost always a typo."""


class GridOptions(Spec):
    """Operating limits and power-flow options of the network (balanced three-phase).

    ``v_min_pu``/``v_max_pu`` are the voltage band of the ``voltage_band`` check; the loading
    limits that of ``loading``; ``on_nonconvergence`` = ``abort`` stops the run at a power flow
    that does not converge, ``flag`` records the step as not converged (NaN results) and goes on.
    ``solver`` picks the power-flow backend: ``pandapower`` (``runpp``, the reference and the
    default) or ``pgm`` (power-grid-model, converted once from the same pandapower network and
    agreeing with it to 1e-6 pu; :mod:`v2xcosim.grid.pgm`).  ``batch_steps`` > 0 solves that
    many steps in one power-grid-model batch (same results as step by step; 2-20× less time per
    step): only for a run in which nothing reads the grid's results while it runs — the use
    cases refuse it where a loop closes through the grid (charger voltages fed back, an OLTC,
    actors reading the network).
    """

    v_min_pu: float = Field(default=0.9, gt=0)
    v_max_pu: float = Field(default=1.1, gt=0)
    max_line_loading_percent: float = Field(default=100.0, gt=0, le=MAX_LOADING_PERCENT)
    max_trafo_loading_percent: float = Field(default=100.0, gt=0, le=MAX_LOADING_PERCENT)
    on_nonconvergence: Literal["abort", "flag"] = "abort"
    max_iteration: int = Field(default=30, gt=0)
    tolerance_mva: float = Field(default=1e-8, gt=0)
    solver: Literal["pandapower", "pgm"] = Field(
        default="pandapower",
        description="power-flow backend: pandapower (runpp, reference) or pgm (power-grid-model)",
    )
    batch_steps: int = Field(
        default=0,
        ge=0,
        description="steps solved together in one power-grid-model batch (0: step by step); "
        "only where nothing reads the grid's results during the run",
    )

    @model_validator(mode="after")
    def _band(self) -> GridOptions:
        if self.v_min_pu >= self.v_max_pu:
            raise ValueError(f"v_min_pu = {self.v_min_pu} must be below v_max_pu = {self.v_max_pu}")
        if self.batch_steps > 0 and self.solver != "pgm":
            raise ValueError(
                f"batch_steps = {self.batch_steps} needs solver = 'pgm' (a power-grid-model "
                "batch); set solver = 'pgm' or batch_steps = 0"
            )
        return self


DEFAULT_CHUNK_STEPS = 4096
"""Steps the result store keeps in memory by default: every shipped scenario fits (the longest,
a week at 5-min steps, has 2016), a year at 15-min steps streams in nine chunks."""


class ResultsSpec(Spec):
    """What a run writes besides the fixed tables: plots (PNG) or not, and how it streams them.

    ``chunk_steps``: the result store holds at most that many steps in memory and streams older
    ones to the parquet tables (a year of 15-min steps is 35,040); the tables are the same
    either way.
    """

    plots: bool = True
    chunk_steps: int = Field(
        default=DEFAULT_CHUNK_STEPS,
        ge=1,
        description="steps the result store holds in memory before streaming older ones to parquet",
    )


class ChecksSpec(Spec):
    """Flagged checks: a completed run that fails one exits with code 1."""

    voltage_band: bool = True
    loading: bool = True
    convergence: bool = True
    soc_target: bool = False


class RunnerSpec(Spec):
    """Watchdog of a run (:class:`v2xcosim.runner.Watchdog`): two limits, one per phase.

    ``startup_timeout_s`` bounds the set-up (imports, FMU loading and instantiation, building the
    mosaik world) from the start of the run's process to its first step; ``stall_timeout_s``
    then bounds the time between completed steps.  A run over either limit is stopped (exit 2).
    """

    startup_timeout_s: float = Field(
        default=600.0, gt=0, description="limit [s] for set-up, until stepping begins"
    )
    stall_timeout_s: float = Field(
        default=120.0, gt=0, description="limit [s] between completed steps once stepping"
    )
    max_steps: int = Field(
        default=MAX_STEPS_DEFAULT,
        gt=0,
        description="largest number of co-simulation steps (time.duration_s / time.step_s) a "
        "scenario may ask for; raise it deliberately for a longer run",
    )


def horizon_problems(time: TimeSpec, runner: RunnerSpec) -> list[tuple[str, str]]:
    """Problems of the horizon as a whole: too many steps, an end beyond representable dates.

    Every step time must be a pandas ``Timestamp`` (nanoseconds since 1970 in 64 bits: up to
    :data:`LAST_REPRESENTABLE_UTC`), and the step count at most ``runner.max_steps``.
    """
    problems: list[tuple[str, str]] = []
    if time.n_steps > runner.max_steps:
        problems.append(
            (
                "time.duration_s",
                f"{time.duration_s} s in steps of {time.step_s} s are {time.n_steps} steps, more "
                f"than runner.max_steps = {runner.max_steps}; shorten the horizon, lengthen "
                "time.step_s, or raise runner.max_steps if you mean it",
            )
        )
    try:
        end = time.start_utc + dt.timedelta(seconds=time.duration_s)
    except OverflowError:
        end = None
    if end is None or end > LAST_REPRESENTABLE_UTC:
        problems.append(
            (
                "time.duration_s",
                f"start {time.start.isoformat()} + {time.duration_s} s ends after "
                f"{LAST_REPRESENTABLE_UTC.isoformat()}, the last representable time; shorten "
                "the horizon",
            )
        )
    return problems


class ScenarioBase(Spec):
    """What every scenario has, whatever its use case.

    ``use_case`` selects the use case (default ``"sites"``); ``base_case = true`` (or
    ``--set base_case=true``) runs the same scenario without any EV.  ``[placement]`` runs
    simulators in a child process or behind ``v2xcosim serve`` (the scenario loader checks it
    against the simulators of :mod:`v2xcosim.cosim.placement`).
    """

    use_case: str
    name: Identifier
    description: str = ""
    seed: int = Field(ge=0, lt=2**63)
    base_case: bool = Field(default=False, description="true = run without any EV")
    time: TimeSpec
    grid: GridOptions = Field(default_factory=GridOptions)
    results: ResultsSpec = Field(default_factory=ResultsSpec)
    checks: ChecksSpec = Field(default_factory=ChecksSpec)
    runner: RunnerSpec = Field(default_factory=RunnerSpec)
    placement: dict[str, str] = Field(
        default_factory=dict,
        description='simulator name -> "in-process" (default), "process" (a child process) or '
        '"host:port" (a running `v2xcosim serve`); checked by the scenario loader',
    )


PLACEHOLDER_TIME = TimeSpec(
    start=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), duration_s=900, step_s=900
)
"""Stand-in for a broken ``[time]`` while the other sections' cross-references are checked.

Only :func:`v2xcosim.config.load.validate` puts it in (never into a spec it returns); a check
that needs the real horizon (profile coverage) skips itself when :func:`is_placeholder` says
the horizon is this one, and problems reported under ``time`` are dropped."""

PLACEHOLDERS: dict[str, Any] = {"name": "unnamed", "seed": 0, "time": PLACEHOLDER_TIME}
"""Valid stand-ins for the required keys of :class:`ScenarioBase` (key -> value): a broken
required key is replaced by its stand-in so that the rest of the scenario is still checked
(every problem at once); the stand-in's own problems are never reported."""


def is_placeholder(value: object) -> bool:
    """Tell whether ``value`` is one of the stand-ins of :data:`PLACEHOLDERS` (by identity)."""
    return any(value is v for v in PLACEHOLDERS.values() if isinstance(v, BaseModel))


def spec_to_jsonable(spec: BaseModel) -> dict[str, Any]:
    """Return a resolved spec as JSON-compatible data (for ``metadata.json`` and simulators)."""
    out: dict[str, Any] = spec.model_dump(mode="json")
    return out
