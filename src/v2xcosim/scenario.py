"""Assemble and run a scenario on mosaik: ``build_world(spec, ...)`` and ``run(spec, out_dir)``.

Data flow of one step (lock-step, ``time.step_s``)::

    Profiles ──load/PV──────────────────────────────► Grid ──► Store
    Controller ──p_set_w──► Fleet (FMUs) ──p_ac/q_ac──► Site ─┘
        ▲                      │  ▲                     │
        └──soc (time-shifted)──┘  └─vm_pu (time-shifted)┘

The two feedback edges are time-shifted: the controller decides with the SOC at the start of
the step, and the chargers' Q(U) uses the previous step's voltage.  All simulators run
in-process by default; their attributes are JSON data, so ``SIM_CONFIG`` entries can be switched
to ``cmd``/``connect`` to move one out of process.  Because mosaik returns normally after a
separate-process simulator fails, :func:`run` also checks that every step reached the store.
"""

from __future__ import annotations

import contextlib
import time as _time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from v2xcosim.config import ScenarioSpec, SiteSpec, spec_to_jsonable
from v2xcosim.core.errors import ScenarioError, SimulationError, V2XError
from v2xcosim.domain.charging import Sessions, site_sessions_of
from v2xcosim.fmu.archive import sha256_file
from v2xcosim.report.results import (
    compute_kpis,
    versions,
    write_json_atomic,
    write_metadata,
    write_parquet_atomic,
)

if TYPE_CHECKING:
    from mosaik import SimConfig

SIM_CONFIG: SimConfig = {
    "Profiles": {"python": "v2xcosim.cosim.profile_sim:ProfileSim"},
    "Grid": {"python": "v2xcosim.cosim.grid_sim:GridSim"},
    "FMU": {"python": "v2xcosim.cosim.fleet_sim:FmuSim"},
    "Charging": {"python": "v2xcosim.usecases.sites.sims:ChargingSim"},
    "Store": {"python": "v2xcosim.cosim.store_sim:StoreSim"},
}

GRID_REQUIRED = [
    "converged",
    "p_slack_w",
    "p_loss_w",
    "vm_pu",
    "line_loading_percent",
    "trafo_loading_percent",
]
GRID_OPTIONAL = ["q_slack_var"]
SITE_REQUIRED_FMU = ["p_ac_w", "q_ac_var", "soc"]
SITE_REQUIRED_CTL = ["connected"]
SITE_OPTIONAL_CTL = ["p_set_w"]


def resolve_fmu(site: SiteSpec) -> Path:
    """Return the ``.fmu`` of a site: its ``fmu.path``, or ``build_fmu(model)`` (cached build)."""
    if site.fmu.path is not None:
        return site.fmu.path
    assert site.fmu.model is not None
    try:
        from v2xcosim.fmu.build import build_fmu
    except ImportError as exc:
        raise ScenarioError(
            f"sites[{site.id}].fmu.model = {site.fmu.model!r}: the FMU build pipeline is not "
            f"available ({exc}); give fmu.path to a ready .fmu instead"
        ) from None
    return Path(build_fmu(site.fmu.model, fleet=site.n_evs if site.fmu.fleet else None))


def site_sessions(spec: ScenarioSpec) -> dict[str, Sessions]:
    """Draw the sessions of every active site (seeded, deterministic)."""
    return {site.id: site_sessions_of(spec, site) for site in spec.active_sites}


def preflight(spec: ScenarioSpec) -> dict[str, Path]:
    """Resolve every FMU and check the scenario's variable names against it (load time).

    Returns the FMU path of each active site.  Raises :class:`ScenarioError` naming the site,
    the FMU and the unknown variable.
    """
    if spec.is_terni:  # the Terni use case sizes and builds its own fleet FMU
        from v2xcosim.usecases.terni.world import preflight as terni_preflight

        return {"EV": terni_preflight(spec)}
    from v2xcosim.cosim.fleet_sim import ROLE_OUTPUTS
    from v2xcosim.fmu.fleet import FmuFleet

    paths: dict[str, Path] = {}
    for site in spec.active_sites:
        path = resolve_fmu(site)
        ins, outs = site.fmu.inputs, site.fmu.outputs
        inputs = [n for n in (ins.p_set, ins.q_set, ins.vm, ins.t_amb) if n is not None]
        outputs = list(dict.fromkeys([outs.p_ac, outs.q_ac, outs.soc, *outs.extra]))
        clash = sorted(set(outs.extra) & set(ROLE_OUTPUTS))
        if clash:
            raise ScenarioError(
                f"site {site.id}: fmu.outputs.extra repeats {clash}; those are always recorded"
            )
        fleet = FmuFleet(
            path,
            n=site.n_evs,
            fleet=site.fmu.fleet,
            inputs=inputs,
            outputs=outputs,
            parameters={**site.fmu.parameters, site.fmu.soc_start_parameter: 0.5},
            instance_parameters=site.fmu.instance_parameters,
            name=site.id,
            prefix=site.fmu.vector_prefix,
        )
        fleet.close()
        paths[site.id] = path
    return paths


def _selected(
    spec: ScenarioSpec, entity: str, required: list[str], optional: list[str]
) -> list[str]:
    """Return the required attributes plus the optional ones chosen in ``results.attrs``.

    All optional ones if ``results.attrs`` is empty.
    """
    if not spec.results.attrs:
        return required + optional
    chosen = {a.rpartition(".")[2] for a in spec.results.attrs if a.rpartition(".")[0] == entity}
    unknown = chosen - set(required) - set(optional)
    if unknown:
        raise ScenarioError(
            f"results.attrs: {entity} has no attribute(s) {sorted(unknown)}; available: "
            f"{sorted(required + optional)}"
        )
    return required + [a for a in optional if a in chosen]


def build_world(
    spec: ScenarioSpec,
    out_dir: Path,
    fmu_paths: Mapping[str, Path],
    sessions: Mapping[str, Sessions],
    *,
    progress_fd: int | None = None,
) -> Any:
    """Create the mosaik world with every simulator, entity and connection of ``spec``."""
    import mosaik

    from v2xcosim.grid.networks import element_names

    js = spec_to_jsonable(spec)
    world = mosaik.World(
        SIM_CONFIG, time_resolution=1.0, skip_greetings=True, configure_logging=False
    )
    with stop_all_on_error(world):
        labels: dict[str, str] = {}
        vector_labels: dict[str, list[str]] = {}
        names = element_names(spec.grid.network)
        vector_labels["grid.vm_pu"] = list(names["bus"])
        vector_labels["grid.line_loading_percent"] = list(names["line"])
        vector_labels["grid.trafo_loading_percent"] = list(names["trafo"])

        prof_sim = world.start("Profiles", scenario=js)
        prof = prof_sim.Profiles()
        labels[prof.full_id] = "profiles"
        grid_sim = world.start("Grid", scenario=js)
        grid = grid_sim.Grid()
        labels[grid.full_id] = "grid"
        used = sorted(
            {pv.profile for pv in spec.grid.pv}
            | ({spec.grid.load_profile} if spec.grid.load_profile else set())
        )
        if used:
            world.connect(prof, grid, *[(p, f"profile_{p}") for p in used])
        store_sim = world.start("Store")
        store_links: list[tuple[Any, list[str]]] = [
            (grid, _selected(spec, "grid", GRID_REQUIRED, GRID_OPTIONAL)),
        ]
        prof_attrs = sorted(spec.profiles)
        if spec.results.attrs:
            prof_attrs = sorted(
                {
                    a.rpartition(".")[0][len("profile.") :]
                    for a in spec.results.attrs
                    if a.startswith("profile.")
                }
            )
        if prof_attrs:
            store_links.append((prof, prof_attrs))
        if spec.active_sites:
            fmu_sim = world.start("FMU", scenario=js)
            ctl_sim = world.start("Charging", scenario=js)
            for site in spec.active_sites:
                ses = sessions[site.id]
                soc0 = ses.soc_arrival.tolist()
                fleet = fmu_sim.Fleet(
                    site_id=site.id, fmu_path=str(fmu_paths[site.id]), soc_start=soc0
                )
                ctl = ctl_sim.Controller(site_id=site.id)
                conn = grid_sim.Site(site_id=site.id)
                label = f"site_{site.id}"
                labels[fleet.full_id] = label
                labels[ctl.full_id] = label
                world.connect(ctl, fleet, "p_set_w")
                world.connect(fleet, conn, ("p_ac_w", "p_w"), ("q_ac_var", "q_var"))
                world.connect(fleet, ctl, "soc", time_shifted=True, initial_data={"soc": soc0})
                if site.fmu.inputs.vm is not None:
                    world.connect(
                        conn,
                        fleet,
                        "vm_pu",
                        time_shifted=True,
                        initial_data={"vm_pu": [1.0] * site.n_evs},
                    )
                if site.t_amb_profile is not None and site.fmu.inputs.t_amb is not None:
                    world.connect(prof, fleet, (site.t_amb_profile, "t_amb_k"))
                extra = list(site.fmu.outputs.extra)
                store_links.append(
                    (fleet, SITE_REQUIRED_FMU + _selected(spec, f"site.{site.id}", [], extra))
                )
                store_links.append(
                    (ctl, _selected(spec, f"site.{site.id}", SITE_REQUIRED_CTL, SITE_OPTIONAL_CTL))
                )
        add_store(
            world,
            store_sim,
            spec,
            out_dir,
            labels,
            vector_labels,
            store_links,
            progress_fd=progress_fd,
        )
    return world


def add_store(
    world: Any,
    store_sim: Any,
    spec: ScenarioSpec,
    out_dir: Path,
    labels: Mapping[str, str],
    vector_labels: Mapping[str, list[str]],
    store_links: list[tuple[Any, list[str]]],
    *,
    progress_fd: int | None,
) -> None:
    """Create the ``Store`` entity of ``store_sim`` and connect every ``(entity, attrs)`` to it."""
    store = store_sim.Store(
        labels=labels,
        vector_labels=vector_labels,
        out_dir=str(out_dir),
        start_utc=spec.time.start_utc.isoformat(),
        step_s=spec.time.step_s,
        progress_fd=progress_fd,
    )
    for entity, attrs in store_links:
        world.connect(entity, store, *attrs)


def shutdown_quietly(world: Any) -> None:
    """Stop every simulator of ``world`` after a failure (frees FMUs, ends mosaik cleanly).

    Their own errors are secondary to the one being reported.
    """
    with contextlib.suppress(Exception):
        world.shutdown()


@contextlib.contextmanager
def stop_all_on_error(world: Any) -> Iterator[None]:
    """While building ``world``: if a simulator fails to start, stop the others, then re-raise."""
    try:
        yield
    except BaseException:
        shutdown_quietly(world)
        raise


def run_world(world: Any, spec: ScenarioSpec) -> None:
    """Run ``world`` over the horizon of ``spec``; surface the simulators' domain errors.

    On failure the other simulators are shut down (freeing FMUs); a :class:`V2XError` anywhere
    in the exception chain (mosaik may wrap the simulator's exception) is re-raised as is, any
    other exception becomes a :class:`SimulationError`.
    """
    try:
        world.run(until=spec.time.duration_s, print_progress=False)
    except BaseException as exc:
        shutdown_quietly(world)
        if isinstance(exc, V2XError) or not isinstance(exc, Exception):
            raise
        cause: BaseException | None = exc
        while cause is not None:  # mosaik may wrap the simulator's exception
            if isinstance(cause, V2XError):
                raise cause from None
            cause = cause.__cause__ or cause.__context__
        raise SimulationError(f"the co-simulation failed: {type(exc).__name__}: {exc}") from exc


def finish_run(
    spec: ScenarioSpec,
    out_dir: Path,
    t0: float,
    frames: Mapping[str, pd.DataFrame],
    kpis: dict[str, Any],
    fmu_paths: Mapping[str, Path],
    solver: str,
    scenario_file: str | None,
) -> RunResult:
    """Write ``kpis.json``, the plots and ``metadata.json`` (last) of a run started at ``t0``.

    ``fmu_paths`` (name → ``.fmu``) and ``solver`` (power-flow method) go into the metadata.
    """
    write_json_atomic(kpis, out_dir / "kpis.json")
    if spec.results.plots:
        from v2xcosim.report.plots import make_plots

        make_plots(frames, out_dir, v_min_pu=spec.grid.v_min_pu, v_max_pu=spec.grid.v_max_pu)
    wall_s = _time.perf_counter() - t0
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
            "solver": {"power_flow": solver},
            "wall_s": wall_s,
            "steps": spec.time.n_steps,
            "exit_code": exit_code,
        },
    )
    return RunResult(exit_code=exit_code, kpis=kpis, out_dir=out_dir, wall_s=wall_s)


def sessions_frame(spec: ScenarioSpec, sessions: Mapping[str, Sessions]) -> pd.DataFrame:
    """All sessions as one table (site, ev, arrival/departure in s and UTC, SOCs)."""
    rows: list[dict[str, Any]] = []
    start = pd.Timestamp(spec.time.start_utc)
    for site_id in sorted(sessions):
        s = sessions[site_id]
        for ev in range(s.n_evs):
            for k in np.flatnonzero(np.isfinite(s.arrival_s[ev])):
                a, d = float(s.arrival_s[ev, k]), float(s.departure_s[ev, k])
                rows.append(
                    {
                        "site": site_id,
                        "ev": ev,
                        "arrival_s": a,
                        "departure_s": d,
                        "arrival": start + pd.Timedelta(seconds=a),
                        "departure": start + pd.Timedelta(seconds=d),
                        "soc_arrival": float(s.soc_arrival[ev]) if k == 0 else float("nan"),
                        "soc_target": float(s.soc_target[ev]),
                    }
                )
    cols = [
        "site",
        "ev",
        "arrival_s",
        "departure_s",
        "arrival",
        "departure",
        "soc_arrival",
        "soc_target",
    ]
    return pd.DataFrame(rows, columns=cols)


@dataclass(frozen=True)
class RunResult:
    """Outcome of a completed run: exit code 0 (checks passed) or 1, KPIs, folder."""

    exit_code: int
    kpis: dict[str, Any]
    out_dir: Path
    wall_s: float


def run(
    spec: ScenarioSpec,
    out_dir: Path,
    *,
    progress_fd: int | None = None,
    scenario_file: str | None = None,
) -> RunResult:
    """Run ``spec`` into the (existing, empty) folder ``out_dir``; see the module docstring."""
    if spec.is_terni:  # grid.network = "terni": v2xcosim.usecases.terni.world
        from v2xcosim.usecases.terni.world import run as terni_run

        return terni_run(spec, out_dir, progress_fd, scenario_file)
    t0 = _time.perf_counter()
    fmu_paths = preflight(spec)
    sessions = site_sessions(spec)
    world = build_world(spec, out_dir, fmu_paths, sessions, progress_fd=progress_fd)
    run_world(world, spec)
    frames = _read_tables(spec, out_dir)
    write_parquet_atomic(sessions_frame(spec, sessions), out_dir / "sessions.parquet")
    kpis = compute_kpis(
        frames,
        pd.read_parquet(out_dir / "sessions.parquet"),
        step_s=spec.time.step_s,
        grid_limits={
            "v_min_pu": spec.grid.v_min_pu,
            "v_max_pu": spec.grid.v_max_pu,
            "max_line_loading_percent": spec.grid.max_line_loading_percent,
            "max_trafo_loading_percent": spec.grid.max_trafo_loading_percent,
        },
        checks=spec.checks.model_dump(),
    )
    solver = "pandapower runpp, Newton-Raphson, numba off"
    return finish_run(spec, out_dir, t0, frames, kpis, fmu_paths, solver, scenario_file)


def _read_tables(spec: ScenarioSpec, out_dir: Path) -> dict[str, pd.DataFrame]:
    """Read the store's tables and check that every step reached the store."""
    expected = spec.time.n_steps
    names = ["grid"] + [f"site_{s.id}" for s in spec.active_sites]
    frames: dict[str, pd.DataFrame] = {}
    for name in names:
        path = out_dir / f"{name}.parquet"
        if not path.is_file():
            raise SimulationError(
                f"the run ended without results for {name}: no step reached the result store "
                "(a simulator failed or stopped; see the messages above)"
            )
        frames[name] = pd.read_parquet(path)
        got = len(frames[name])
        if got != expected:
            last = int(frames[name]["step"].max()) if got else -1
            raise SimulationError(
                f"the run stopped early: {name} reached the result store for {got} of "
                f"{expected} steps (last step {last}, t = {(last + 1) * spec.time.step_s} s "
                "missing); a simulator failed there — see the messages above"
            )
    prof = out_dir / "profiles.parquet"
    if prof.is_file():
        frames["profiles"] = pd.read_parquet(prof)
    return frames
