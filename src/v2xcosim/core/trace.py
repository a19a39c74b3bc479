"""The run's trace: one row per information exchange of a use case.

Columns: ``time_utc`` (ISO 8601, ``Z``), ``t_s`` (s since the run start), ``use_case``,
``step`` (use-case step id as text), ``sender``, ``receiver``, ``info`` (what is exchanged, in
words) and ``payload_type`` (the message class name, e.g. ``FlexibilityOffer``).

Step ids of the Terni use case ("Terni city centre — short-term V2G against reverse power flow",
a bidirectional-charging use case written in the IEC 62559 use-case style; the project's summary
of its steps is :data:`TERNI_STEPS` below, see also ``scenarios/terni/README.md``):

* ``"1"``–``"13"``: the main flow, numbered as in the use case;
* ``"D1"``, ``"D2"``: the precondition "DSO assessment of future needs" — the forecast service
  produces the grid forecast (D1) and the DSO publishes flexibility requests on the LFMP (D2);
* ``"J1"``–``"J5"``: joining a campaign, in the use case's order (user sees the DSO requests →
  sets price/minimum-SOC preferences → asks to join → the EMSP places an offer → confirmation);
* ``"M1"``–``"M4"``: matching (gate closure with the declared baselines → the order book is
  collected → best offers picked per request → results published, as the issue's LFMP asks);
* ``"S1"``–``"S4"``: verification and settlement (metered data retrieved and verified → DSO
  releases payment → the EV owner receives the incentive → the EMSP keeps its share).
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

TERNI_STEPS: dict[str, str] = {
    "1": "driver arrives at the parking area",
    "2": "plugs into the bidirectional charger (ISO 15118-20 plug-in data)",
    "3": "opens the EMSP UI (session creation)",
    "4": "opts into bidirectional charging and a DSO campaign; GDPR consent, registration",
    "5": "sets departure time and preferred SOC at departure",
    "6": "starts the event",
    "7": "EMSP sends the start signal to the CS controller and starts trading on the LFMP",
    "8": "CS controller starts the EVSE (session details)",
    "9": "EVSE initialises with the car; real-time data streams",
    "10": "EMSP trades on the LFMP and sends setpoints to the CS controller",
    "11": "user stops; EVSE, CS EMS and web app told; final settlement triggered",
    "12": "web app summarises statistics and payments",
    "13": "driver leaves",
    "D1": "DSO forecast service: reverse flow and voltage forecast",
    "D2": "DSO publishes flexibility requests on the LFMP",
    "J1": "user sees the list of DSO flexibility requests",
    "J2": "user sets campaign preferences (price, minimum SOC)",
    "J3": "user asks to join a campaign",
    "J4": "EMSP places a flexibility offer on the marketplace",
    "J5": "user gets a confirmation",
    "M1": "market session closes (gate closure; baselines declared)",
    "M2": "marketplace collects the bids",
    "M3": "marketplace picks the best bid(s) for each DSO request",
    "M4": "marketplace publishes the result",
    "S1": "metered charging data retrieved and verified against the baseline",
    "S2": "DSO releases payment for the delivered flexibility",
    "S3": "EV owner receives the incentive",
    "S4": "EMSP receives its share",
}

USE_CASE_STEPS: dict[str, Mapping[str, str]] = {"terni": TERNI_STEPS}


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class TraceRecorder:
    """Collects trace rows for one run (plain Python; the store adapter writes them out)."""

    def __init__(self, start_utc: dt.datetime, use_case: str = "terni") -> None:
        """Create a recorder for a run starting at ``start_utc`` (UTC) of ``use_case``."""
        if start_utc.utcoffset() != dt.timedelta(0):
            raise ScenarioError(f"trace: start_utc must be UTC, got {start_utc!r}")
        if use_case not in USE_CASE_STEPS:
            raise ScenarioError(
                f"trace: unknown use case {use_case!r}; known: {sorted(USE_CASE_STEPS)}"
            )
        self.start_utc = start_utc
        self.use_case = use_case
        self._steps = USE_CASE_STEPS[use_case]
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


__all__ = ["TERNI_STEPS", "TRACE_COLUMNS", "USE_CASE_STEPS", "TraceRecorder"]
