"""Load, preflight and run a scenario of any use case (``use_case`` picks it; default ``sites``).

The scenario schema is a pydantic discriminated union on the top-level key ``use_case``, built
from the use-case registry (:mod:`v2xcosim.usecases`): each member holds exactly the sections
its use case reads, so a key the use case would ignore is refused with its file position.  A
run is the same handful of steps for every use case (see :func:`run`); nothing here names one.
"""

from __future__ import annotations

import functools
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union

import pandas as pd
from pydantic import Field, TypeAdapter

from v2xcosim import usecases
from v2xcosim.config.common import ScenarioBase, horizon_problems, spec_to_jsonable
from v2xcosim.config.load import ScenarioSource, format_problems, read_scenario, validate
from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.io import atomic_write_bytes, write_json_atomic
from v2xcosim.core.timers import STEP_TIMERS, profile_split
from v2xcosim.cosim.placement import placement_problems
from v2xcosim.cosim.world import read_tables, run_world
from v2xcosim.fmu.archive import sha256_file
from v2xcosim.report.results import versions, write_metadata

SpecT = TypeVar("SpecT", bound=ScenarioBase)


@functools.cache
def scenario_adapter() -> TypeAdapter[Any]:
    """Return the discriminated union of every registered use case's scenario model."""
    models = tuple(usecases.get(name).schema for name in usecases.names())
    union: Any = models[0] if len(models) == 1 else Union[models]  # noqa: UP007
    return TypeAdapter(Annotated[union, Field(discriminator="use_case")])


def spec_from_source(source: ScenarioSource) -> ScenarioBase:
    """Validate raw scenario data of any use case; raise one error listing every problem.

    A file that selects no known use case, or a spelling a use case reports as changed (the
    meaning of the whole file differs), gets only that problem: the others would follow
    from it.
    """
    data = dict(source.data)
    data.setdefault("use_case", usecases.DEFAULT)
    tag = data["use_case"]
    early = [p for name in usecases.names() for p in usecases.get(name).early_problems(data)]
    if not isinstance(tag, str) or tag not in usecases.REGISTRY:
        early.append(
            ("use_case", f"{tag!r} is not a use case; choose one of {', '.join(usecases.names())}")
        )
    if early:
        raise ScenarioError(format_problems(source, early))
    case = usecases.get(tag)

    def check(spec: Any) -> list[tuple[str, str]]:
        return [
            *horizon_problems(spec.time, spec.runner),
            *placement_problems(spec.placement),
            *case.check(spec),
        ]

    spec: ScenarioBase = validate(
        ScenarioSource(data, source.name, source.base_dir, source.positions),
        scenario_adapter(),
        check,
        tag=tag,
    )
    return spec


def spec_from_dict(
    data: Mapping[str, Any], *, base_dir: Path, source: str = "<dict>"
) -> ScenarioBase:
    """Validate raw scenario data (the typed API equal to the files)."""
    return spec_from_source(ScenarioSource(dict(data), source, base_dir))


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> ScenarioBase:
    """Read, override and validate the scenario file ``path``."""
    return spec_from_source(read_scenario(path, overrides))


def load_scenario_as(path: str | Path, model: type[SpecT], overrides: Sequence[str] = ()) -> SpecT:
    """Load a scenario that must be of the use case whose model is ``model`` (typed API)."""
    spec = load_scenario(path, overrides)
    if not isinstance(spec, model):
        raise ScenarioError(
            f"scenario {path}: use_case = {spec.use_case!r}, but a {model.__name__} is needed"
        )
    return spec


def preflight(spec: ScenarioBase) -> dict[str, Path]:
    """Build and check every FMU of ``spec`` before anything is written; name -> ``.fmu``."""
    return usecases.get(spec.use_case).preflight(spec)


@dataclass(frozen=True)
class RunResult:
    """Outcome of a completed run: exit code 0 (checks passed) or 1, KPIs, folder."""

    exit_code: int
    kpis: dict[str, Any]
    out_dir: Path
    wall_s: float
    profile: dict[str, float | int] | None = None
    """The wall time's split (:func:`v2xcosim.core.timers.profile_split`) when profiled."""


PROFILE_JSON = "profile.json"
"""The file ``v2xcosim run --profile`` writes into the run folder (the wall time's split)."""


def run(
    spec: ScenarioBase,
    out_dir: Path,
    *,
    progress_fd: int | None = None,
    scenario_file: str | None = None,
    profile: bool = False,
) -> RunResult:
    """Run ``spec`` into the (existing, empty) folder ``out_dir``.

    preflight -> plan (computed once) -> world -> mosaik -> tables (every step checked) ->
    ``network.json`` -> KPIs -> plots -> ``kpis.json`` and ``metadata.json`` (last, with the
    manifest).  ``profile``: also write ``profile.json`` (before ``metadata.json``, so it is in
    the manifest), the split of the wall time into FMU steps, grid solves and framework
    (:mod:`v2xcosim.core.timers`); it is returned in :attr:`RunResult.profile` either way.
    """
    case = usecases.get(spec.use_case)
    STEP_TIMERS.reset()
    t0 = _time.perf_counter()
    fmus = case.preflight(spec)
    plan = case.plan(spec, fmus)
    world = case.build_world(spec, plan, out_dir, progress_fd=progress_fd)
    run_world(world, spec.time.duration_s)
    frames = read_tables(out_dir, case.tables(spec, plan), spec.time.n_steps, spec.time.step_s)
    write_network(spec, out_dir, plan)
    kpis = case.kpis(spec, plan, out_dir, frames)
    if spec.results.plots:
        case.plots(spec, plan, out_dir, frames)
    method = power_flow_method(spec.grid.solver, case.power_flow_method)
    return finish_run(spec, out_dir, t0, frames, kpis, fmus, method, scenario_file, profile=profile)


def power_flow_method(solver: str, use_case_method: str) -> str:
    """How the power flow of a run was solved, for ``metadata.json`` (``grid.solver``).

    ``use_case_method`` describes the use case's pandapower set-up; with ``pgm`` the same network
    and controllers are solved by power-grid-model (:mod:`v2xcosim.grid.pgm`).
    """
    if solver == "pandapower":
        return use_case_method
    from importlib.metadata import version

    return (
        f"power-grid-model {version('power-grid-model')} Newton-Raphson, converted once from "
        f"the pandapower network (in place of: {use_case_method})"
    )


def write_network(spec: ScenarioBase, out_dir: Path, plan: Any = None) -> Path:
    """Write the run's network (``UseCase.network``) as pandapower JSON, ``network.json``.

    Every use case's run folder holds it, so grid studies can read the topology, lengths and
    ratings afterwards (feeder distances).  ``plan`` is the run's plan: the use case takes
    the network built for it rather than building it again.  Written atomically;
    byte-stable across runs.
    """
    from v2xcosim.grid.networks import NETWORK_JSON, network_to_json

    path = out_dir / NETWORK_JSON
    net = usecases.get(spec.use_case).network(spec, plan).net
    atomic_write_bytes(path, network_to_json(net).encode("utf-8"))
    return path


def finish_run(
    spec: ScenarioBase,
    out_dir: Path,
    t0: float,
    frames: Mapping[str, pd.DataFrame],
    kpis: dict[str, Any],
    fmu_paths: Mapping[str, Path],
    solver: str,
    scenario_file: str | None,
    *,
    profile: bool = False,
) -> RunResult:
    """Write ``kpis.json``, the plots, ``profile.json`` (if ``profile``), ``metadata.json``."""
    write_json_atomic(kpis, out_dir / "kpis.json")
    if spec.results.plots:
        from v2xcosim.report.plots import make_plots

        make_plots(
            frames,
            out_dir,
            v_min_pu=spec.grid.v_min_pu,
            v_max_pu=spec.grid.v_max_pu,
            tz=spec.time.tzinfo,
        )
    wall_s = _time.perf_counter() - t0
    split = profile_split(wall_s, STEP_TIMERS)
    if profile:
        write_json_atomic(split, out_dir / PROFILE_JSON)
    exit_code = 0 if kpis["checks_passed"] else 1
    write_metadata(
        out_dir,
        {
            "scenario": spec_to_jsonable(spec),
            "scenario_file": scenario_file,
            "seed": spec.seed,
            "versions": versions(),
            "fmus": {
                sid: {"file": p.name, "sha256": sha256_file(p)} for sid, p in fmu_paths.items()
            },
            "solver": {"power_flow": solver, "grid_solver": spec.grid.solver},
            "wall_s": wall_s,
            "steps": spec.time.n_steps,
            "exit_code": exit_code,
        },
    )
    return RunResult(exit_code=exit_code, kpis=kpis, out_dir=out_dir, wall_s=wall_s, profile=split)


__all__ = [
    "RunResult",
    "ScenarioError",
    "load_scenario",
    "load_scenario_as",
    "preflight",
    "run",
    "scenario_adapter",
    "spec_from_dict",
]
