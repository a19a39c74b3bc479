"""10-minute mean KPIs (EN 50160 view), their notes, and the plots' time axis and SOC mask."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import numpy as np
import pandas as pd
import pytest

from v2xcosim.report.kpis import KPIS, TEN_MINUTE_KPI_KEYS, ten_minute_kpis, window_means
from v2xcosim.report.plots import local_axis, masked_soc


def _grid(vm: np.ndarray, line: np.ndarray, trafo: np.ndarray, step_s: int) -> pd.DataFrame:
    t = pd.date_range("2024-05-15T00:00Z", periods=len(vm), freq=f"{step_s}s")
    data: dict[str, object] = {"time": t}
    for j in range(vm.shape[1]):
        data[f"vm_pu[b{j}]"] = vm[:, j]
    data["line_loading_percent[l0]"] = line
    data["trafo_loading_percent[t0]"] = trafo
    return pd.DataFrame(data)


def test_ten_minute_means_against_a_hand_computed_series() -> None:
    # 300-s steps: windows of two steps; a 1.12 pu spike of one step is no 10-min violation
    vm = np.array([[1.00, 0.95], [1.12, 0.93], [1.04, 0.91], [1.06, 0.89], [1.30, 0.50]])
    line = np.array([10.0, 50.0, 20.0, 30.0, 99.0])
    trafo = np.array([40.0, 40.0, 60.0, 80.0, 0.0])
    k, notes = ten_minute_kpis(_grid(vm, line, trafo, 300), step_s=300)
    # means of (steps 0,1) and (2,3); the incomplete last window (step 4) is not judged
    assert k["vm_max_10min_pu"] == pytest.approx(max((1.00 + 1.12) / 2, (1.04 + 1.06) / 2))
    assert k["vm_min_10min_pu"] == pytest.approx((0.91 + 0.89) / 2)
    assert k["max_line_loading_10min_pct"] == pytest.approx(30.0)
    assert k["max_trafo_loading_10min_pct"] == pytest.approx(70.0)
    assert notes == []
    assert window_means(line, 300, 600).tolist() == [[30.0], [25.0]]
    assert all(key in KPIS for key in (*TEN_MINUTE_KPI_KEYS, "kpi_notes"))


def test_no_ten_minute_means_with_long_steps_says_so() -> None:
    vm = np.ones((4, 2))
    k, notes = ten_minute_kpis(_grid(vm, np.ones(4), np.ones(4), 900), step_s=900)
    assert all(k[key] is None for key in TEN_MINUTE_KPI_KEYS)
    assert len(notes) == 1 and "900 s > 600 s" in notes[0] and "vm_max_10min_pu" in notes[0]
    # a step that does not divide 10 min: means over the next whole number of steps, noted
    k, notes = ten_minute_kpis(_grid(np.ones((4, 1)), np.ones(4), np.ones(4), 450), step_s=450)
    assert k["vm_max_10min_pu"] == 1.0 and "means over 900 s" in notes[0]


def test_plots_show_local_time_and_soc_only_while_plugged_in() -> None:
    rome = zoneinfo.ZoneInfo("Europe/Rome")
    t, label = local_axis(pd.Series(pd.date_range("2024-05-15T10:00Z", periods=2, freq="h")), rome)
    assert label == "time [Europe/Rome, UTC+02:00]"
    assert t.iloc[0] == pd.Timestamp("2024-05-15 12:00") and t.dt.tz is None
    assert local_axis(pd.Series([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)]), None)[1] == "time [UTC]"
    frame = pd.DataFrame(
        {
            "soc[0]": [0.5, 0.6, 0.7],
            "soc[1]": [0.5, 0.5, 0.5],
            "plugged[0]": [0.0, 1.0, 1.0],
            "plugged[1]": [0.0, 0.0, 0.0],
        }
    )
    soc = masked_soc(frame)
    first = soc["soc[0]"].to_numpy()
    assert np.isnan(first[0]) and first[1:].tolist() == [0.6, 0.7]
    assert soc["soc[1]"].isna().all()  # a slot never plugged in draws nothing
