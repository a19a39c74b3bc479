"""Assemble and run a mosaik world: start-up, the result store, the run, reading the tables back.

Every use case's world recipe uses these helpers; none of them names a use case.  mosaik
returns normally after a separate-process simulator fails, so :func:`read_tables` also checks
that every step reached the store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from v2xcosim.config.common import TimeSpec
from v2xcosim.core.errors import SimulationError, V2XError
from v2xcosim.cosim.placement import sim_config

SIM_CONFIG: dict[str, Any] = sim_config()
"""The simulators every use case's world uses, one of each kind, all in-process (mosaik
``sim_config``; :mod:`v2xcosim.cosim.placement` moves any but ``Store`` elsewhere)."""


START_TIMEOUT_S = 3600.0
"""mosaik's limit [s] on a remote simulator's ``init`` call (its default, 10 s, is shorter than
building a large network on a loaded machine).  A run's set-up is bounded by the watchdog
instead (``runner.startup_timeout_s``)."""


def new_world(placement: Mapping[str, str] | None = None) -> Any:
    """Return a mosaik world (1-s time resolution, quiet start-up) with its simulators placed.

    ``placement``: the scenario's ``[placement]`` table, simulator name -> ``"in-process"``,
    ``"process"`` or ``"host:port"`` (:func:`v2xcosim.cosim.placement.sim_config`).
    """
    import mosaik

    return mosaik.World(
        sim_config(placement),
        mosaik_config={"start_timeout": START_TIMEOUT_S},
        time_resolution=1.0,
        skip_greetings=True,
        configure_logging=False,
    )


def add_store(
    world: Any,
    store_sim: Any,
    time: TimeSpec,
    out_dir: Path,
    labels: Mapping[str, str],
    vector_labels: Mapping[str, list[str]],
    store_links: list[tuple[Any, list[str]]],
    *,
    progress_fd: int | None,
    chunk_steps: int = 0,
    hold_steps: int = 0,
) -> None:
    """Create the ``Store`` entity of ``store_sim`` and connect every ``(entity, attrs)`` to it.

    ``chunk_steps`` > 0 streams the results to parquet in chunks of about that many steps
    (``results.chunk_steps``); ``hold_steps`` keeps that many more for a batched grid's late
    window (``grid.batch_steps``).
    """
    store = store_sim.Store(
        labels=labels,
        vector_labels=vector_labels,
        out_dir=str(out_dir),
        start_utc=time.start_utc.isoformat(),
        step_s=time.step_s,
        progress_fd=progress_fd,
        chunk_steps=chunk_steps,
        hold_steps=hold_steps,
    )
    for entity, attrs in store_links:
        world.connect(entity, store, *attrs)


def _cancel_pending_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel every unfinished task of ``loop`` and wait until each has ended.

    When one simulator raises, mosaik's scheduler returns from its ``gather`` while the other
    simulators' step tasks still wait for their inputs; left pending, they are destroyed with
    the closed loop ("Task was destroyed but it is pending!").  Cancelling and awaiting them
    ends them properly (what ``asyncio.run`` does on exit); their outcomes are collected, so
    none is reported as "never retrieved".
    """
    if loop.is_closed() or loop.is_running():
        return
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


def shutdown_quietly(world: Any) -> None:
    """Stop every simulator of ``world`` after a failure (frees FMUs, ends mosaik cleanly).

    The simulators' pending step tasks are cancelled and awaited first, then mosaik stops the
    simulators and closes its event loop; if that fails, the loop is closed here.  Errors on
    the way are secondary to the one being reported.
    """
    loop: asyncio.AbstractEventLoop | None = getattr(world, "loop", None)
    if loop is not None:
        with contextlib.suppress(Exception):
            _cancel_pending_tasks(loop)
    with contextlib.suppress(Exception):
        world.shutdown()
    # a failed simulator may refuse to stop, and then mosaik never marks its world as shut
    # down: its finaliser warns ("AsyncWorld was never shut down") whenever the world is
    # collected, in whatever comes next.  Everything that could be stopped is stopped here.
    inner = getattr(world, "_async_world", None)
    if inner is not None and hasattr(inner, "_shutdown_performed"):
        inner._shutdown_performed = True
    if loop is not None and not loop.is_closed() and not loop.is_running():
        with contextlib.suppress(Exception):
            loop.close()


@contextlib.contextmanager
def stop_all_on_error(world: Any) -> Iterator[None]:
    """While building ``world``: if a simulator fails to start, stop the others, then re-raise."""
    try:
        yield
    except BaseException:
        shutdown_quietly(world)
        raise


def run_world(world: Any, duration_s: int) -> None:
    """Run ``world`` for ``duration_s`` simulated seconds; surface the simulators' domain errors.

    On failure the other simulators are shut down (freeing FMUs); a :class:`V2XError` anywhere
    in the exception chain (mosaik may wrap the simulator's exception) is re-raised as is, any
    other exception becomes a :class:`SimulationError`.
    """
    try:
        world.run(until=duration_s, print_progress=False)
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


def read_tables(
    out_dir: Path, names: Sequence[str], n_steps: int, step_s: int
) -> dict[str, pd.DataFrame]:
    """Read the store's tables ``names`` (and ``profiles`` if written); check every step is in."""
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
        if got != n_steps:
            last = int(frames[name]["step"].max()) if got else -1
            raise SimulationError(
                f"the run stopped early: {name} reached the result store for {got} of "
                f"{n_steps} steps (last step {last}, t = {(last + 1) * step_s} s missing); a "
                "simulator failed there — see the messages above"
            )
    prof = out_dir / "profiles.parquet"
    if "profiles" not in frames and prof.is_file():
        frames["profiles"] = pd.read_parquet(prof)
    return frames
