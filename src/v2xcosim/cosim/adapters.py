r"""Thin mosaik (API v3) adapters over the plain-Python domain code.

Each adapter receives its JSON parameters (``init``/``create``), rebuilds
its domain object and exchanges attributes that :func:`to_wire` turns into plain JSON data
(numbers, lists), so any of them can be moved to another process or machine with mosaik's
``cmd``/``connect`` sim config.  The conversion happens only where data crosses a process
(:func:`on_wire` in a placed simulator's process, the remote proxy for what is sent to it):
in-process, mosaik hands Python objects over unserialised, and nothing is converted each step.
Vectors carry one value per EV of a site (a fleet is one entity, not N).  Domain errors are
re-raised with the simulator, entity and simulated time in the message.

A failure that raises nothing — a segfault or ``abort()`` in an FMU's C code, a kill, a hang in C
or in Python — cannot name its place from inside the process.  So :func:`guarded`, the one
door into every simulator's work, also announces it: when the run's watchdog listens
(:func:`report_activity`), it writes ``"@<simulator>\t<entity>\t<time>"`` to the heartbeat pipe
before the call and ``"@"`` after it, and the watchdog names the simulator, entity and
simulated time of a run that died or hung inside (:class:`v2xcosim.runner.Watchdog`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import mosaik_api_v3
import numpy as np
from mosaik_api_v3.types import ModelDescription

from v2xcosim.core.errors import SimulationError, V2XError

T = TypeVar("T")

ACTIVITY_PREFIX = "@"
"""First character of an activity line on the heartbeat pipe (:func:`guarded`)."""

_activity_fd: list[int] = []
"""The heartbeat pipe's file descriptor while a watchdog listens (empty: nobody listens)."""


def report_activity(fd: int | None) -> None:
    """Announce every :func:`guarded` call on file descriptor ``fd`` (``None``: stop)."""
    _activity_fd[:] = [] if fd is None else [fd]


def _announce(text: str) -> None:
    if _activity_fd:
        os.write(_activity_fd[0], f"{ACTIVITY_PREFIX}{text}\n".encode())


class TimeBasedSimulator(mosaik_api_v3.Simulator):
    """Base of every adapter: a time-based API 3.0 simulator with a typed constructor."""

    def __init__(self, models: Mapping[str, ModelDescription] | None = None) -> None:
        """Create the simulator with ``models`` (completed in ``init`` where left empty)."""
        # mosaik_api_v3.Simulator.__init__ is untyped; this is the one call into it
        super().__init__(  # type: ignore[no-untyped-call]
            {"api_version": "3.0", "type": "time-based", "models": dict(models or {})}
        )


def to_wire(value: Any) -> Any:
    """Return ``value`` as plain JSON data: what a simulator in another process receives.

    numpy arrays become (nested) lists, numpy scalars Python numbers or booleans (a float32 is
    widened to the float64 of the same value), tuples lists; dicts (string keys only) and lists
    are converted element by element.  NaN stays NaN (JSON's ``NaN`` token, as mosaik encodes
    it).  Applied only at a process boundary: to a placed simulator's ``get_data`` answer
    (:func:`on_wire`) and to what the run sends to a placed simulator
    (:class:`v2xcosim.cosim.remote.WatchedProxy`); a receiver therefore gets the same values
    in-process and remote (a numpy array there, its list here).  Raises ``TypeError`` naming
    anything else.
    """
    if value is None or isinstance(value, str | bool | int | float):
        if isinstance(value, np.generic):  # np.float64 subclasses float
            return value.item()
        return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:  # JSON would turn them into strings: a remote receiver would see other keys
            raise TypeError(f"mapping keys must be strings for JSON, got {bad[0]!r}")
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    raise TypeError(f"{type(value).__name__} is not JSON data: {value!r}")


S = TypeVar("S", bound=mosaik_api_v3.Simulator)


def on_wire(sim: S) -> S:
    """Return ``sim`` with its ``get_data`` answers passed through :func:`to_wire`.

    For a simulator placed out of the run's process (``v2xcosim.cosim.placement``): its answers
    leave the process as JSON, which refuses numpy values; in-process simulators are not wrapped.
    """
    get_data = sim.get_data

    def get_data_on_wire(outputs: Any) -> Any:
        return to_wire(get_data(outputs))

    sim.get_data = get_data_on_wire  # type: ignore[method-assign]
    return sim


STEP_BLOCK = "block_times_s"
"""Key of a :func:`step_block`: a value that carries several past steps' values at once."""


def step_block(times_s: list[int], values: list[Any]) -> dict[str, Any]:
    """Return the values of an attribute at several steps, sent at the last of them.

    A simulator that solves a window of steps at once (a batched power flow) sends its results
    this way at the window's end; the result store records each at its own time
    (:class:`v2xcosim.cosim.store_sim.StoreSim`).  Only the store may receive it.
    """
    if len(times_s) != len(values):
        raise SimulationError(f"step block: {len(times_s)} times for {len(values)} values")
    return {STEP_BLOCK: list(times_s), "values": list(values)}


def is_step_block(value: Any) -> bool:
    """Return whether ``value`` is a :func:`step_block`."""
    return isinstance(value, Mapping) and STEP_BLOCK in value


def first_value(values: Mapping[str, Any]) -> Any:
    """Return the single value of one input attribute (mosaik maps source full id → value)."""
    if len(values) != 1:
        raise SimulationError(f"expected exactly one source, got {sorted(values)}")
    return next(iter(values.values()))


def guarded(sim: str, entity: str, time_s: int, fn: Callable[[], T]) -> T:
    """Run ``fn``; re-raise any failure naming simulator, entity and simulated time.

    Announced to a listening watchdog (:func:`report_activity`) before and after, so a crash or
    hang inside ``fn`` is reported with the same three names.
    """
    _announce(f"{sim}\t{entity}\t{time_s}")
    try:
        result = fn()
    except V2XError as exc:
        exc.args = (f"simulator {sim}, entity {entity}, t = {time_s} s: {exc}",)
        raise
    except Exception as exc:  # domain or library failure: name where it happened
        raise SimulationError(
            f"simulator {sim}, entity {entity}, t = {time_s} s: {type(exc).__name__}: {exc}"
        ) from exc
    _announce("")
    return result
