"""Thin mosaik (API v3) adapters over the plain-Python domain code.

Each adapter receives its JSON parameters (``init``/``create``), rebuilds
its domain object and exchanges only JSON-serialisable attributes (numbers, lists), so any of
them can be moved to another process or machine with mosaik's ``cmd``/``connect`` sim config.
Vectors carry one value per EV of a site (a fleet is one entity, not N).  Domain errors are
re-raised with the simulator, entity and simulated time in the message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import mosaik_api_v3
from mosaik_api_v3.types import ModelDescription

from v2xcosim.core.errors import SimulationError, V2XError

T = TypeVar("T")


class TimeBasedSimulator(mosaik_api_v3.Simulator):
    """Base of every adapter: a time-based API 3.0 simulator with a typed constructor."""

    def __init__(self, models: Mapping[str, ModelDescription] | None = None) -> None:
        """Create the simulator with ``models`` (completed in ``init`` where left empty)."""
        # mosaik_api_v3.Simulator.__init__ is untyped; this is the one call into it
        super().__init__(  # type: ignore[no-untyped-call]
            {"api_version": "3.0", "type": "time-based", "models": dict(models or {})}
        )


def first_value(values: Mapping[str, Any]) -> Any:
    """Return the single value of one input attribute (mosaik maps source full id → value)."""
    if len(values) != 1:
        raise SimulationError(f"expected exactly one source, got {sorted(values)}")
    return next(iter(values.values()))


def guarded(sim: str, entity: str, time_s: int, fn: Callable[[], T]) -> T:
    """Run ``fn``; re-raise any failure naming simulator, entity and simulated time."""
    try:
        return fn()
    except V2XError as exc:
        exc.args = (f"simulator {sim}, entity {entity}, t = {time_s} s: {exc}",)
        raise
    except Exception as exc:  # domain or library failure: name where it happened
        raise SimulationError(
            f"simulator {sim}, entity {entity}, t = {time_s} s: {type(exc).__name__}: {exc}"
        ) from exc
