"""Adapter to the DriVe2X smart-charging interface (PyPI ``drive2x-sca-interfaces``).

Only this module sees the DriVe2X pydantic models and converts SOC between the project's
fraction and their percent:

* :func:`to_sca_data` — :class:`~v2xcosim.core.messages.SessionData` → ``SCADataEVs`` (SOC in %,
  usable capacity kWh, departure ``tdep`` in UTC), keyed by ``ConnectedEVId``
  (``charge_point:evse:connector``, the CS EMS connector ids);
* :func:`from_sca_data` — back to ``SessionData`` (SOC as fraction);
* :func:`to_setpoint_request` — per-connector :class:`~v2xcosim.core.messages.Setpoint` →
  ``SetpointRequestResponse`` (integer W per connector, negative = discharge — the same sign
  convention as the project);
* :func:`from_setpoint_request` — a request (e.g. from an external DriVe2X smart-charging
  algorithm in the EMSP's place) → ``Setpoint`` list.

JSON helpers give the wire format the DriVe2X services exchange.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import SessionData, Setpoint


def _models() -> Any:
    import drive2x_sca_interfaces as d2x

    return d2x


def _ev_id(connector_id: str) -> Any:
    d2x = _models()
    try:
        return d2x.ConnectedEVId.from_string(connector_id)
    except (ValueError, IndexError):
        raise ScenarioError(
            f"drive2x: connector id {connector_id!r} is not 'charge_point:evse:connector'"
        ) from None


def to_sca_data(sessions: Sequence[SessionData], valid_at_utc: dt.datetime) -> Any:
    """``SCADataEVs`` for the connected sessions (SOC fraction → %)."""
    d2x = _models()
    values = {}
    for s in sessions:
        values[_ev_id(s.connector_id)] = d2x.SCADatum(
            soc=s.soc * 100.0,
            usable_battery_capacity_kwh=s.usable_capacity_kwh,
            tdep=s.departure_utc.astimezone(dt.UTC),
        )
    if len(values) != len(sessions):
        raise ScenarioError("drive2x: two sessions on one connector")
    return d2x.SCADataEVs(values=values, soc_estimate_valid_at=valid_at_utc.astimezone(dt.UTC))


def from_sca_data(data: Any, session_of: Mapping[str, str]) -> list[SessionData]:
    """Convert ``SCADataEVs`` to ``SessionData`` (SOC % → fraction).

    ``session_of`` maps connector id → session id.  Sorted by connector id.
    """
    out = []
    for ev_id, datum in sorted(data.values.items(), key=lambda kv: str(kv[0])):
        cid = str(ev_id)
        if cid not in session_of:
            raise ScenarioError(f"drive2x: unknown connector {cid} in SCA data")
        out.append(
            SessionData(
                session_id=session_of[cid],
                connector_id=cid,
                time_utc=data.soc_estimate_valid_at.astimezone(dt.UTC),
                soc=datum.soc / 100.0,
                usable_capacity_kwh=datum.usable_battery_capacity_kwh,
                departure_utc=datum.tdep.astimezone(dt.UTC),
            )
        )
    return out


def to_setpoint_request(
    site_tag: str, slot_start_utc: dt.datetime, setpoints: Sequence[Setpoint]
) -> Any:
    """``SetpointRequestResponse`` with W per connector (rounded to the nearest integer W)."""
    d2x = _models()
    values = {}
    for sp in setpoints:
        if not math.isfinite(sp.p_w):
            raise ScenarioError(f"drive2x: non-finite setpoint for {sp.connector_id}")
        values[_ev_id(sp.connector_id)] = round(sp.p_w)
    return d2x.SetpointRequestResponse(
        site_tag=site_tag, expected_slot_start_time=slot_start_utc.astimezone(dt.UTC), values=values
    )


def from_setpoint_request(req: Any) -> list[Setpoint]:
    """Per-connector :class:`Setpoint` (Q = 0) from a ``SetpointRequestResponse``."""
    t = req.expected_slot_start_time.astimezone(dt.UTC)
    return [
        Setpoint(connector_id=str(k), time_utc=t, p_w=float(v))
        for k, v in sorted(req.values.items(), key=lambda kv: str(kv[0]))
    ]


def sca_data_json(data: Any) -> str:
    """Serialise an ``SCADataEVs`` to its wire JSON."""
    return str(data.model_dump_json())


def parse_setpoint_json(text: str) -> Any:
    """Parse and validate a ``SetpointRequestResponse`` JSON document."""
    d2x = _models()
    try:
        return d2x.SetpointRequestResponse.model_validate(json.loads(text))
    except Exception as exc:  # pydantic.ValidationError or json.JSONDecodeError
        raise ScenarioError(f"drive2x: invalid setpoint request: {exc}") from None


__all__ = [
    "from_sca_data",
    "from_setpoint_request",
    "parse_setpoint_json",
    "sca_data_json",
    "to_sca_data",
    "to_setpoint_request",
]
