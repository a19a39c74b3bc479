"""Porto's own plots: the series each figure draws, local time, and the files of a short run.

References: the tariff periods from the tariff engine itself on the same times, sums and
percentiles of small hand-made car-park tables (numpy over the plugged-in values listed by
hand), the run's own KPIs (energy charged, contracted power) for the files of a real run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest

from v2xcosim.scenario import load_scenario_as, run
from v2xcosim.usecases.porto.plots import (
    PLOT_FILES,
    carpark_data,
    carpark_figure,
    connection_data,
    connection_figure,
    departure_data,
    departure_figure,
    period_spans,
    soc_band_data,
    soc_band_figure,
)
from v2xcosim.usecases.porto.schema import PortoScenario
from v2xcosim.usecases.porto.tariff import mv_tariff

ROOT = Path(__file__).resolve().parents[1]
LISBON = ZoneInfo("Europe/Lisbon")
STEP_S = 900


def _times(start_local: str, n: int) -> pd.DatetimeIndex:
    t0 = pd.Timestamp(start_local).tz_convert("UTC")
    return pd.date_range(t0, periods=n, freq=f"{STEP_S}s")


def _num(local_naive: str) -> float:
    return float(mdates.date2num(pd.Timestamp(local_naive).to_pydatetime()))  # type: ignore[no-untyped-call]


def _patches(fig: Any, prefix: str) -> list[Any]:
    return [p for p in fig.axes[0].patches if str(p.get_gid() or "").startswith(prefix)]


def _line(ax: Any, label: str) -> Any:
    (line,) = [ln for ln in ax.lines if ln.get_label().startswith(label)]
    return line


def test_period_spans_are_runs_of_equal_labels() -> None:
    assert period_spans(["a", "a", "b", "a"]) == [(0, 2, "a"), (2, 3, "b"), (3, 4, "a")]
    assert period_spans(["x"]) == [(0, 1, "x")]
    assert period_spans([]) == []


def test_connection_plot_draws_import_terminal_periods_and_event_in_local_time() -> None:
    """Wednesday 9 July 2025 (WEST, UTC+1): summer ponta 09:15–12:15, event 14:00–17:00."""
    times = _times("2025-07-09T00:00:00+01:00", 96)
    k = np.arange(96)
    grid = pd.DataFrame(
        {
            "time": times,
            "p_slack_w": 8e6 + 3e6 * np.sin(k / 96 * np.pi),
            "p_terminal_w": 7.9e6 + 3e6 * np.sin(k / 96 * np.pi),
        }
    )
    labels = [str(x) for x in mv_tariff().labels_at(times)]
    d = connection_data(
        grid,
        labels,
        step_s=STEP_S,
        contracted_kw=11_000.0,
        contracted_is_peak=True,
        event=(56, 68, 11.7e6),  # steps 56..67 = 14:00–17:00 local
    )
    assert d.p_import_kw == pytest.approx(grid["p_slack_w"] / 1e3)
    assert d.event_limit_kw == 11_700.0
    fig = connection_figure(d, LISBON)
    ax = fig.axes[0]
    assert _line(ax, "import").get_ydata() == pytest.approx(d.p_import_kw)
    assert _line(ax, "terminal").get_ydata() == pytest.approx(d.p_terminal_kw)
    assert _line(ax, "contracted").get_ydata() == pytest.approx([11_000.0, 11_000.0])
    assert _line(ax, "DSO event").get_ydata() == pytest.approx([11_700.0, 11_700.0])
    # the x axis is wall-clock Lisbon time: first point at local midnight, not 23:00 UTC
    assert _line(ax, "import").get_xdata()[0] == pd.Timestamp("2025-07-09 00:00")
    assert "Europe/Lisbon, UTC+01:00" in ax.get_xlabel()
    # one shaded patch per run of equal periods, ponta exactly 09:15–12:15 local
    spans = period_spans(labels)
    assert len(_patches(fig, "period:")) == len(spans)
    (ponta,) = _patches(fig, "period:ponta")
    x0, x1 = ponta.get_x(), ponta.get_x() + ponta.get_width()
    assert (x0, x1) == pytest.approx((_num("2025-07-09 09:15"), _num("2025-07-09 12:15")))
    (event,) = _patches(fig, "dso_event")
    x0, x1 = event.get_x(), event.get_x() + event.get_width()
    assert (x0, x1) == pytest.approx((_num("2025-07-09 14:00"), _num("2025-07-09 17:00")))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for name in ("ponta", "cheias", "vazio normal", "super vazio"):
        assert name in legend


def test_connection_data_refuses_mismatched_periods() -> None:
    grid = pd.DataFrame(
        {"time": _times("2025-07-09T00:00:00+01:00", 2), "p_slack_w": 1.0, "p_terminal_w": 1.0}
    )
    with pytest.raises(ValueError, match="1 tariff periods for 2 steps"):
        connection_data(grid, ["ponta"], step_s=STEP_S, contracted_kw=0.0, contracted_is_peak=True)


def _carpark() -> pd.DataFrame:
    """Five slots, three steps; unplugged slots carry SOC values that must not count."""
    return pd.DataFrame(
        {
            "time": _times("2025-07-09T10:00:00+01:00", 3),
            "p_ac_w[0]": [11e3, 0.0, 0.0],
            "p_ac_w[1]": [-5e3, -11e3, 0.0],
            "p_ac_w[2]": [3e3, 7e3, 0.0],
            "p_ac_w[3]": [0.0, -2e3, 0.0],
            "p_ac_w[4]": [0.0, 0.0, 0.0],
            "plugged[0]": [1.0, 0.0, 0.0],
            "plugged[1]": [1.0, 1.0, 0.0],
            "plugged[2]": [1.0, 1.0, 0.0],
            "plugged[3]": [1.0, 1.0, 0.0],
            "plugged[4]": [0.0, 1.0, 0.0],
            "soc[0]": [0.50, 0.99, 0.99],
            "soc[1]": [0.30, 0.28, 0.99],
            "soc[2]": [0.70, 0.75, 0.99],
            "soc[3]": [0.60, 0.58, 0.99],
            "soc[4]": [0.99, 0.90, 0.99],
        }
    )


def test_carpark_plot_draws_signed_powers_and_cars_plugged_in() -> None:
    d = carpark_data(_carpark())
    assert d.charge_kw == pytest.approx([14.0, 7.0, 0.0])
    assert d.discharge_kw == pytest.approx([-5.0, -13.0, 0.0])
    assert d.net_kw == pytest.approx([9.0, -6.0, 0.0])
    assert d.n_plugged == pytest.approx([4.0, 4.0, 0.0])
    fig = carpark_figure(d, LISBON)
    ax, ax2 = fig.axes
    assert _line(ax, "net").get_ydata() == pytest.approx(d.net_kw)
    assert _line(ax2, "cars plugged in").get_ydata() == pytest.approx([4.0, 4.0, 0.0])
    assert "Europe/Lisbon" in ax.get_xlabel() and "kW" in ax.get_ylabel()
    gids = {c.get_gid() for c in ax.collections}
    assert {"charge", "discharge"} <= gids


def test_soc_bands_use_plugged_in_cars_only_with_the_v2b_floor() -> None:
    floors = {1: 0.25, 3: 0.35}  # slots 1 and 3 may discharge
    d = soc_band_data(_carpark(), floors)
    plugged = [[0.50, 0.30, 0.70, 0.60], [0.28, 0.75, 0.58, 0.90]]  # by hand from _carpark
    for q in (5.0, 25.0, 50.0, 75.0, 95.0):
        expected = [np.percentile(v, q) for v in plugged]
        assert d.bands[q][:2] == pytest.approx(expected)
        assert np.isnan(d.bands[q][2])  # nobody plugged in: no band, no warning
    assert d.v2b_median[:2] == pytest.approx([np.median([0.30, 0.60]), np.median([0.28, 0.58])])
    assert d.floor_min[:2] == pytest.approx([0.25, 0.25])
    assert d.floor_max[:2] == pytest.approx([0.35, 0.35])
    assert np.isnan(d.floor_min[2]) and np.isnan(d.v2b_median[2])
    fig = soc_band_figure(d, LISBON)
    ax = fig.axes[0]
    assert _line(ax, "median, all").get_ydata()[:2] == pytest.approx([0.55, 0.665])
    assert _line(ax, "median, V2B").get_ydata()[:2] == pytest.approx(d.v2b_median[:2])
    assert "v2b_floor" in {c.get_gid() for c in ax.collections}
    # without V2B sessions, no floor is drawn
    ax_none = soc_band_figure(soc_band_data(_carpark(), {}), LISBON).axes[0]
    assert "v2b_floor" not in {c.get_gid() for c in ax_none.collections}


def test_departure_plot_draws_completed_sessions_only() -> None:
    sessions = pd.DataFrame(
        {
            "status": ["completed", "open_at_end", "completed", "rejected", "completed"],
            "soc_wish": [0.7, 0.8, 0.92, 0.6, 0.65],
            "soc_departure": [0.71, np.nan, 0.92, 0.3, 0.60],
            "managed": [True, True, False, False, True],
            "v2b": [True, True, False, False, False],
        }
    )
    d = departure_data(sessions)
    assert d.soc_wish == pytest.approx([0.7, 0.92, 0.65])
    assert d.soc_departure == pytest.approx([0.71, 0.92, 0.60])
    assert d.kind == ("v2b", "unmanaged", "managed")
    fig = departure_figure(d)
    ax = fig.axes[0]
    points = {c.get_gid(): c.get_offsets().tolist() for c in ax.collections}
    assert points == {
        "v2b": [[0.7, 0.71]],
        "unmanaged": [[0.92, 0.92]],
        "managed": [[0.65, 0.60]],
    }
    assert "below their wish: 1" in ax.get_title()


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_a_short_run_writes_the_four_plots_from_its_tables(tmp_path: Path) -> None:
    """Six hours over the DSO event (Wednesday 14:00–17:00), strategy v2b."""
    from v2xcosim.usecases.porto.plots import make_porto_plots
    from v2xcosim.usecases.porto.world import plan, preflight

    spec = load_scenario_as(
        ROOT / "scenarios" / "porto_v2b.toml",
        PortoScenario,
        [
            "time.start=2025-07-09T12:00:00+01:00",
            "time.duration_s=21600",
            "results.plots=true",
            "dso_event.mode=fixed",  # a hand-placed window inside the six hours
            "dso_event.start=2025-07-09T14:00:00+01:00",
            "dso_event.end=2025-07-09T17:00:00+01:00",
            "dso_event.limit_mw=11.7",
        ],
    )
    out = tmp_path / "run"
    out.mkdir()
    run(spec, out)
    for name in PLOT_FILES.values():
        width, height = _png_size(out / name)
        assert width > 400 and height > 400
    kpis = json.loads((out / "kpis.json").read_text())
    frames = {k: pd.read_parquet(out / f"{k}.parquet") for k in ("grid", "carpark")}
    sessions = pd.read_parquet(out / "sessions.parquet")
    again = tmp_path / "again"
    again.mkdir()
    data = make_porto_plots(spec, plan(spec, preflight(spec)).setup, frames, sessions, again)
    # the drawn series against the run's own KPIs
    h = STEP_S / 3600.0
    assert data["carpark"].charge_kw.sum() * h == pytest.approx(kpis["ev_energy_charged_kwh"])
    assert -data["carpark"].discharge_kw.sum() * h / 1e3 == pytest.approx(
        kpis["ev_energy_discharged_to_building_mwh"]
    )
    assert data["connection"].contracted_kw == pytest.approx(kpis["contracted_kw"])
    assert data["connection"].p_import_kw.max() == pytest.approx(kpis["import_peak_mw"] * 1e3)
    assert data["connection"].event_limit_kw == pytest.approx(kpis["dso_event_limit_kw"])
    assert data["connection"].event_start_k == 8  # 14:00 local, two hours in
    assert len(data["departure"].soc_wish) == kpis["sessions_completed"]
    # plotting again from the same tables gives the same bytes
    for name in PLOT_FILES.values():
        assert (again / name).read_bytes() == (out / name).read_bytes()
