from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest

from v2xcosim.config.profiles import ClearSkyPvSpec, FileProfileSpec
from v2xcosim.core.errors import ScenarioError
from v2xcosim.profiles import clearsky_pv_pu, read_file_profile, sample


def spec(path: Path, **kw: Any) -> FileProfileSpec:
    return FileProfileSpec(kind="file", file=path, column="v", unit=kw.pop("unit", "W"), **kw)


def write(tmp_path: Path, rows: Sequence[tuple[str, float | str]], name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_text("time,v\n" + "".join(f"{t},{v}\n" for t, v in rows))
    return path


def test_aware_timestamps_become_utc_and_units_convert(tmp_path: Path) -> None:
    p = write(tmp_path, [("2024-06-15T00:00:00+02:00", 1.0), ("2024-06-15T00:15:00+02:00", 2.0)])
    s = read_file_profile(spec(p, unit="kW"), "x")
    assert str(cast(pd.DatetimeIndex, s.index).tz) == "UTC"
    assert s.index[0] == pd.Timestamp("2024-06-14T22:00:00Z")
    assert s.tolist() == [1000.0, 2000.0]
    t = write(tmp_path, [("2024-06-15T00:00:00Z", 20.0), ("2024-06-15T01:00:00Z", 21.0)], "t.csv")
    assert read_file_profile(spec(t, unit="degC"), "t").iloc[0] == pytest.approx(293.15)


def test_naive_timestamps_need_tz(tmp_path: Path) -> None:
    p = write(tmp_path, [("2024-06-15T00:00:00", 1.0), ("2024-06-15T00:15:00", 2.0)])
    with pytest.raises(ScenarioError, match="no time zone"):
        read_file_profile(spec(p), "x")
    s = read_file_profile(spec(p, tz="Europe/Rome"), "x")
    assert s.index[0] == pd.Timestamp("2024-06-14T22:00:00Z")


def test_dst_day_ambiguous_local_time_refused_and_offsets_work(tmp_path: Path) -> None:
    # 2024-10-27 in Rome: 02:00-03:00 happens twice
    p = write(tmp_path, [("2024-10-27T02:30:00", 1.0), ("2024-10-27T02:45:00", 1.0)])
    with pytest.raises(ScenarioError, match="DST"):
        read_file_profile(spec(p, tz="Europe/Rome"), "x")
    rows = [
        (t.isoformat(), 1.0)
        for t in pd.date_range(
            "2024-10-27", "2024-10-28", freq="15min", tz="Europe/Rome", inclusive="left"
        )
    ]
    s = read_file_profile(spec(write(tmp_path, rows, "dst.csv")), "x")
    assert len(s) == 100  # a 25-hour day


def test_mixed_naive_and_aware_refused(tmp_path: Path) -> None:
    p = write(tmp_path, [("2024-06-15T00:00:00+02:00", 1.0), ("2024-06-15T00:15:00", 2.0)])
    with pytest.raises(ScenarioError, match="mix"):
        read_file_profile(spec(p), "x")


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ([("2024-01-01T00:00Z", 1), ("2024-01-01T00:00Z", 2)], "duplicate"),
        (
            [("2024-01-01T00:15Z", 1), ("2024-01-01T00:00Z", 2), ("2024-01-01T00:30Z", 2)],
            "not sorted",
        ),
        ([("2024-01-01T00:00Z", 1), ("2024-01-01T00:15Z", 2), ("2024-01-01T01:00Z", 2)], "gap"),
        ([("2024-01-01T00:00Z", 1), ("2024-01-01T00:15Z", "x")], "non-numeric"),
    ],
)
def test_bad_series_rejected(
    tmp_path: Path, rows: list[tuple[str, float | str]], match: str
) -> None:
    with pytest.raises(ScenarioError, match=match):
        read_file_profile(spec(write(tmp_path, rows)), "x")


def test_gap_allowed_with_fill_rule_and_sampling(tmp_path: Path) -> None:
    rows = [("2024-01-01T00:00Z", 0.0), ("2024-01-01T00:15Z", 1.0), ("2024-01-01T01:00Z", 4.0)]
    s = read_file_profile(spec(write(tmp_path, rows), fill_gaps="linear"), "x")
    times = pd.date_range("2024-01-01T00:00Z", periods=4, freq="15min")
    assert sample(s, times, "hold", "x").tolist() == [0.0, 1.0, 1.0, 1.0]
    assert sample(s, times, "linear", "x").tolist() == [0.0, 1.0, 2.0, 3.0]
    late = pd.date_range("2023-12-31T23:45Z", periods=2, freq="15min")
    with pytest.raises(ScenarioError, match="start"):
        sample(s, late, "hold", "x")
    long = pd.date_range("2024-01-01T00:00Z", periods=8, freq="15min")
    with pytest.raises(ScenarioError, match="end"):
        sample(s, long, "linear", "x")


def test_parquet_with_aware_column(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=3, freq="h", tz="Europe/Rome"),
            "v": [1.0, 2.0, 3.0],
        }
    )
    frame.to_parquet(tmp_path / "p.parquet")
    s = read_file_profile(spec(tmp_path / "p.parquet", unit="MW"), "x")
    assert s.index[0] == pd.Timestamp("2023-12-31T23:00Z") and s.iloc[2] == 3e6


def test_clearsky_pv_is_zero_at_night_and_peaks_at_noon() -> None:
    cs = ClearSkyPvSpec(kind="clearsky_pv", latitude_deg=42.56, longitude_deg=12.65, altitude_m=130)
    times = pd.date_range("2016-06-15T00:00+02:00", periods=96, freq="15min").tz_convert("UTC")
    pu = clearsky_pv_pu(cs, times)
    assert pu[:16].max() == 0.0 and pu[-8:].max() == 0.0
    assert 0.6 < pu.max() <= 0.85 + 1e-12
    noon = int(np.argmax(pu))
    assert 11.5 <= times[noon].tz_convert("Europe/Rome").hour + times[noon].minute / 60 <= 14.5
