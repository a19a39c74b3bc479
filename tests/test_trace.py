import datetime as dt

import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import PlugIn, StartCharging
from v2xcosim.core.trace import TRACE_COLUMNS, TraceRecorder
from v2xcosim.usecases.terni.steps import TERNI_STEPS

T0 = dt.datetime(2024, 5, 12, 6, 0, tzinfo=dt.UTC)


def test_rows_columns_and_unknown_step() -> None:
    tr = TraceRecorder(T0, "terni", TERNI_STEPS)
    msg = StartCharging(session_id="s", connector_id="c:1:1", time_utc=T0)
    tr.record(T0 + dt.timedelta(seconds=60), "7", "emsp", "cs_controller", "start", msg)
    df = tr.to_frame()
    assert list(df.columns) == list(TRACE_COLUMNS)
    assert df.iloc[0]["t_s"] == 60.0 and df.iloc[0]["payload_type"] == "StartCharging"
    assert df.iloc[0]["time_utc"] == "2024-05-12T06:01:00Z"
    with pytest.raises(ScenarioError, match="unknown step"):
        tr.record(T0, "99", "a", "b", "x", msg)
    assert set(TERNI_STEPS) >= {str(k) for k in range(1, 14)} | {"J1", "J5", "M1", "M4", "S1", "S4"}


def test_bad_payload_rejected() -> None:
    with pytest.raises(ScenarioError, match=r"PlugIn\.soc"):
        PlugIn(
            session_id="s",
            connector_id="c:1:1",
            time_utc=T0,
            soc=1.5,
            usable_capacity_kwh=50,
            p_max_charge_w=1,
            p_max_discharge_w=1,
        )
