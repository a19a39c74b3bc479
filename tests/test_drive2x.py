import datetime as dt

import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import SessionData, Setpoint
from v2xcosim.interfaces.drive2x import (
    from_sca_data,
    from_setpoint_request,
    parse_setpoint_json,
    sca_data_json,
    to_sca_data,
    to_setpoint_request,
)

T = dt.datetime(2024, 5, 12, 10, 0, tzinfo=dt.UTC)


def test_session_data_round_trip_soc_percent() -> None:
    s = SessionData(
        session_id="s1",
        connector_id="cs-col1:2:1",
        time_utc=T,
        soc=0.765,
        usable_capacity_kwh=59.0,
        departure_utc=T + dt.timedelta(hours=5),
    )
    data = to_sca_data([s], T)
    text = sca_data_json(data)
    assert '"cs-col1:2:1":{"soc":76.5,"usable_battery_capacity_kwh":59.0' in text
    assert '"tdep":"2024-05-12T15:00:00Z"' in text
    back = from_sca_data(data, {"cs-col1:2:1": "s1"})
    assert back == [s]


def test_setpoints_sign_and_watts() -> None:
    sps = [
        Setpoint(connector_id="cs-col1:1:1", time_utc=T, p_w=-7400.4),
        Setpoint(connector_id="cs-col1:2:1", time_utc=T, p_w=11000.0),
    ]
    req = to_setpoint_request("terni", T, sps)
    text = req.model_dump_json()
    assert '"cs-col1:1:1":-7400' in text and '"cs-col1:2:1":11000' in text
    back = from_setpoint_request(parse_setpoint_json(text))
    assert [(b.connector_id, b.p_w) for b in back] == [
        ("cs-col1:1:1", -7400.0),
        ("cs-col1:2:1", 11000.0),
    ]


def test_errors() -> None:
    with pytest.raises(ScenarioError):
        to_setpoint_request("x", T, [Setpoint(connector_id="nocolons", time_utc=T, p_w=1.0)])
    with pytest.raises(ScenarioError, match="invalid setpoint"):
        parse_setpoint_json(
            '{"site_tag": "x", "expected_slot_start_time": "2024-05-12T10:00:00+02:00"}'
        )
