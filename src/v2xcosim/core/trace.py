"""The run's trace: one row per information exchange of a use case.

Columns: ``time_utc`` (ISO 8601, ``Z``), ``t_s`` (s since the run start), ``use_case``,
``step`` (use-case step id as text), ``sender``, ``receiver``, ``info`` (what is exchanged, in
words) and ``payload_type`` (the message class name, e.g. ``FlexibilityOffer``).

Each use case injects its own step vocabulary (step id -> description); a row with a step id
outside it is refused.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from v2xcosim.core.errors import ScenarioError

TRACE_COLUMNS: tuple[str, ...] = (
    "time_utc",
    "t_s",
    "use_case",
    "step",
    "sender",
    "receiver",
    "info",
    "payload_type",
)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class TraceRecorder:
    """Collects trace rows for one run (plain Python; the store adapter writes them out)."""

    def __init__(self, start_utc: dt.datetime, use_case: str, steps: Mapping[str, str]) -> None:
        """Record a run of ``use_case`` from ``start_utc`` (UTC); ``steps`` is its vocabulary.

        ``steps`` maps each step id the use case may record to its description.
        """
        if start_utc.utcoffset() != dt.timedelta(0):
            raise ScenarioError(f"trace: start_utc must be UTC, got {start_utc!r}")
        if not steps:
            raise ScenarioError(f"trace: use case {use_case!r} gives no step vocabulary")
        self.start_utc = start_utc
        self.use_case = use_case
        self._steps = dict(steps)
        self.rows: list[dict[str, Any]] = []

    def record(
        self,
        time_utc: dt.datetime,
        step: str,
        sender: str,
        receiver: str,
        info: str,
        payload: object,
    ) -> None:
        """Append one exchange; ``payload`` is the message object (its class name is stored)."""
        if step not in self._steps:
            raise ScenarioError(
                f"trace: unknown step id {step!r} for use case {self.use_case!r}; "
                f"known: {', '.join(self._steps)}"
            )
        if time_utc.utcoffset() != dt.timedelta(0):
            raise ScenarioError(f"trace: time_utc must be UTC, got {time_utc!r}")
        t_s = (time_utc - self.start_utc).total_seconds()
        if not math.isfinite(t_s):  # pragma: no cover - datetimes are always finite
            raise ScenarioError("trace: non-finite time")
        self.rows.append(
            {
                "time_utc": _iso(time_utc),
                "t_s": t_s,
                "use_case": self.use_case,
                "step": step,
                "sender": sender,
                "receiver": receiver,
                "info": info,
                "payload_type": type(payload).__name__,
            }
        )

    def steps(self) -> list[str]:
        """Return the step ids in recording order."""
        return [r["step"] for r in self.rows]

    def to_frame(self) -> Any:
        """Return the rows as a pandas DataFrame with :data:`TRACE_COLUMNS` (stable order)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(TRACE_COLUMNS))


__all__ = ["TRACE_COLUMNS", "TraceRecorder"]
