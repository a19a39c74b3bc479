"""Porto's own plots: the connection against the terminal, the car park, SOC bands, departures.

Written into the run folder with ``results.plots = true`` (besides the generic plots of
:mod:`v2xcosim.report.plots`, whose helpers draw the local time axis and save the PNGs):

* ``porto_connection.png``: import at the MV connection and the terminal alone [kW], the
  contracted power billed (the week's largest 15-minute import when ``contracted_kw`` = 0),
  the tariff periods shaded and the DSO event window with its limit;
* ``porto_carpark_power.png``: the car park's charging (+) and discharging (−) power [kW],
  their net, and the cars plugged in (right axis);
* ``porto_soc_bands.png``: percentiles of the SOC over the cars plugged in at each step (5–95,
  25–75, median), the median of the V2B cars and the range of their V2B floors;
* ``porto_departure_soc.png``: per completed session the SOC at departure against the wish.

Each figure is built from a data object (``*_data``) by a ``*_figure`` function that returns
the matplotlib figure, so tests read the series drawn; :func:`make_porto_plots` writes the
files.  Times are shown in the scenario's local time (``time.timezone``, Europe/Lisbon) with
the zone and UTC offset on the axis label.  Powers: load convention (+ = drawn from the grid).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.report.plots import local_axis, masked_soc, save_figure
from v2xcosim.report.results import vector_columns

FloatArray = npt.NDArray[np.float64]

PLOT_FILES: dict[str, str] = {
    "connection": "porto_connection.png",
    "carpark": "porto_carpark_power.png",
    "soc": "porto_soc_bands.png",
    "departure": "porto_departure_soc.png",
}
"""File name of each Porto plot in the run folder."""
PERIOD_COLOURS: dict[str, str] = {
    "ponta": "#d62728",
    "cheias": "#ff7f0e",
    "vazio_normal": "#2ca02c",
    "super_vazio": "#1f77b4",
}
"""Shading of the tariff periods (:mod:`.tariff`)."""
PERIOD_NAMES: dict[str, str] = {
    "ponta": "ponta",
    "cheias": "cheias",
    "vazio_normal": "vazio normal",
    "super_vazio": "super vazio",
}
SOC_PERCENTILES: tuple[float, ...] = (5.0, 25.0, 50.0, 75.0, 95.0)
"""Percentiles of the SOC band plot [%]."""


def period_spans(labels: Sequence[str]) -> list[tuple[int, int, str]]:
    """Return runs of equal consecutive labels as ``(first step, end step (exclusive), label)``."""
    spans: list[tuple[int, int, str]] = []
    start = 0
    for k in range(1, len(labels) + 1):
        if k == len(labels) or labels[k] != labels[start]:
            spans.append((start, k, str(labels[start])))
            start = k
    return spans


def _edges(time: pd.Series, step_s: int) -> pd.Series:
    """Step start times plus the end of the last step (UTC), for shading whole steps."""
    t = pd.to_datetime(time, utc=True).reset_index(drop=True)
    end = t.iloc[-1] + pd.Timedelta(seconds=step_s) if len(t) else None
    return pd.concat([t, pd.Series([end])], ignore_index=True) if end is not None else t


@dataclass(frozen=True)
class ConnectionData:
    """Series of ``porto_connection.png`` (kW, load convention; times UTC, one per step).

    ``period``: the tariff period of each step; ``contracted_kw``: the contracted power
    billed; ``event_start_k``/``event_end_k``: the first DSO event's steps ``[start, end)`` (−1
    without an event in the run) and ``event_limit_kw`` its import limit; ``more_events``: the
    run's other events as ``(start, end, limit kW)``.
    """

    time: pd.Series
    step_s: int
    p_import_kw: FloatArray
    p_terminal_kw: FloatArray
    period: tuple[str, ...]
    contracted_kw: float
    contracted_is_peak: bool
    event_start_k: int = -1
    event_end_k: int = -1
    event_limit_kw: float = float("nan")
    more_events: tuple[tuple[int, int, float], ...] = ()


def connection_data(
    grid: pd.DataFrame,
    period: Sequence[str],
    *,
    step_s: int,
    contracted_kw: float,
    contracted_is_peak: bool,
    event: tuple[int, int, float] | None = None,
    more_events: Sequence[tuple[int, int, float]] = (),
) -> ConnectionData:
    """Collect the connection plot's series from ``grid.parquet`` (``p_slack_w``, W).

    ``period``: one tariff period per row; ``event``: ``(start step, end step, limit W)``;
    ``more_events``: further events in the same form.
    """
    n = len(grid)
    if len(period) != n:
        raise ValueError(f"connection_data: {len(period)} tariff periods for {n} steps")
    start, end, limit_w = event if event is not None else (-1, -1, float("nan"))
    if start >= n:
        start = end = -1
    return ConnectionData(
        time=grid["time"].reset_index(drop=True),
        step_s=step_s,
        p_import_kw=grid["p_slack_w"].to_numpy(dtype=float) / 1e3,
        p_terminal_kw=grid["p_terminal_w"].to_numpy(dtype=float) / 1e3,
        period=tuple(str(p) for p in period),
        contracted_kw=float(contracted_kw),
        contracted_is_peak=contracted_is_peak,
        event_start_k=int(start),
        event_end_k=int(min(end, n)) if start >= 0 else -1,
        event_limit_kw=float(limit_w) / 1e3,
        more_events=tuple(
            (int(a), int(min(b, n)), float(lw) / 1e3) for a, b, lw in more_events if a < n
        ),
    )


def _date_axis(ax: Any, t: pd.Series) -> None:
    import matplotlib.dates as mdates

    if len(t) and t.iloc[-1] - t.iloc[0] <= pd.Timedelta(days=1):
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
    else:
        ax.xaxis.set_major_locator(mdates.DayLocator())  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d %b"))  # type: ignore[no-untyped-call]


def connection_figure(d: ConnectionData, tz: dt.tzinfo | None) -> Any:
    """Figure of :class:`ConnectionData` (lines: import, terminal; spans: periods, event)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    t, t_label = local_axis(d.time, tz)
    edges, _ = local_axis(_edges(d.time, d.step_s), tz)
    fig, ax = plt.subplots(figsize=(11, 4.2))
    for k0, k1, label in period_spans(d.period):
        ax.axvspan(
            edges.iloc[k0],
            edges.iloc[k1],
            color=PERIOD_COLOURS.get(label, "0.8"),
            alpha=0.12,
            lw=0,
            gid=f"period:{label}",
        )
    ax.plot(
        t,
        d.p_import_kw,
        drawstyle="steps-post",
        lw=1.0,
        color="k",
        label="import at the MV connection",
    )
    ax.plot(
        t,
        d.p_terminal_kw,
        drawstyle="steps-post",
        lw=0.9,
        color="tab:purple",
        ls="--",
        label="terminal alone",
    )
    what = (
        "contracted power = the run's largest 15-min import"
        if d.contracted_is_peak
        else "contracted power"
    )
    ax.axhline(
        d.contracted_kw,
        color="tab:red",
        lw=0.9,
        ls=":",
        label=f"{what} {d.contracted_kw:,.0f} kW",
    )
    handles, _ = ax.get_legend_handles_labels()
    if d.event_start_k >= 0:
        x0, x1 = edges.iloc[d.event_start_k], edges.iloc[d.event_end_k]
        ax.axvspan(x0, x1, fill=False, hatch="//", ec="tab:red", lw=0.8, gid="dso_event")
        (limit,) = ax.plot(
            [x0, x1],
            [d.event_limit_kw, d.event_limit_kw],
            color="tab:red",
            lw=1.6,
            label=f"DSO event: import limit {d.event_limit_kw:,.0f} kW",
        )
        handles.append(limit)
        for a, b, lim_kw in d.more_events:
            x0, x1 = edges.iloc[a], edges.iloc[b]
            ax.axvspan(x0, x1, fill=False, hatch="//", ec="tab:red", lw=0.8, gid="dso_event")
            ax.plot([x0, x1], [lim_kw, lim_kw], color="tab:red", lw=1.6)
    present = [p for p in PERIOD_COLOURS if p in set(d.period)]
    handles += [Patch(color=PERIOD_COLOURS[p], alpha=0.3, label=PERIOD_NAMES[p]) for p in present]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    ax.set_ylabel("P [kW] (+ import)")
    ax.set_title("Airport MV connection: import, terminal alone, tariff periods, DSO event")
    ax.set_xlabel(t_label)
    _date_axis(ax, t)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class CarparkData:
    """Series of ``porto_carpark_power.png`` [kW; cars]: Σ max(P, 0), Σ min(P, 0), net."""

    time: pd.Series
    charge_kw: FloatArray
    discharge_kw: FloatArray
    net_kw: FloatArray
    n_plugged: FloatArray


def carpark_data(carpark: pd.DataFrame) -> CarparkData:
    """Collect the car park's powers (slot vectors ``p_ac_w``, W) and plugged-in count."""
    p = vector_columns(carpark, "p_ac_w").to_numpy(dtype=float)
    plugged = vector_columns(carpark, "plugged").to_numpy(dtype=float)
    return CarparkData(
        time=carpark["time"].reset_index(drop=True),
        charge_kw=np.maximum(p, 0.0).sum(axis=1) / 1e3,
        discharge_kw=np.minimum(p, 0.0).sum(axis=1) / 1e3,
        net_kw=p.sum(axis=1) / 1e3,
        n_plugged=(plugged > 0.5).sum(axis=1).astype(float),
    )


def carpark_figure(d: CarparkData, tz: dt.tzinfo | None) -> Any:
    """Figure of :class:`CarparkData` (signed areas, net line; cars on a right axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, t_label = local_axis(d.time, tz)
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.fill_between(
        t,
        0.0,
        d.charge_kw,
        step="post",
        color="tab:green",
        alpha=0.5,
        label="charging (+)",
        gid="charge",
    )
    ax.fill_between(
        t,
        0.0,
        d.discharge_kw,
        step="post",
        color="tab:orange",
        alpha=0.6,
        label="V2B discharging (−)",
        gid="discharge",
    )
    ax.plot(t, d.net_kw, drawstyle="steps-post", color="k", lw=0.7, label="net")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_ylabel("car park P [kW] (+ charging, − discharging)")
    ax.set_xlabel(t_label)
    ax2 = ax.twinx()
    ax2.plot(
        t, d.n_plugged, drawstyle="steps-post", color="tab:blue", lw=0.9, label="cars plugged in"
    )
    ax2.set_ylabel("cars plugged in [-]", color="tab:blue")
    ax2.set_ylim(0, max(1.0, float(np.max(d.n_plugged, initial=0.0))) * 1.1)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=7, ncol=2)
    ax.set_title("Long-term car park: charging and V2B discharging power, cars plugged in")
    _date_axis(ax, t)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class SocBandData:
    """Series of ``porto_soc_bands.png``: SOC percentiles over the cars plugged in [-].

    ``bands``: percentile [%] -> one value per step (NaN where no car is plugged in);
    ``v2b_median``: median SOC of the plugged-in V2B cars; ``floor_min``/``floor_max``: the
    lowest and highest V2B floor among them (NaN where none).
    """

    time: pd.Series
    bands: dict[float, FloatArray]
    v2b_median: FloatArray
    floor_min: FloatArray
    floor_max: FloatArray


def _row_stat(values: FloatArray, fn: Any) -> FloatArray:
    out = np.full(values.shape[0], np.nan)
    rows = np.isfinite(values).any(axis=1)
    if rows.any():
        out[rows] = fn(values[rows])
    return out


def soc_band_data(carpark: pd.DataFrame, floor_by_slot: Mapping[int, float]) -> SocBandData:
    """SOC percentiles over the plugged-in slots only (``plugged[...]`` = 1).

    ``floor_by_slot``: slot -> V2B floor of the slot's session, for the sessions allowed to
    discharge (empty without V2B); only plugged-in ones count at a step.
    """
    soc = masked_soc(carpark).to_numpy(dtype=float)
    bands = {
        q: _row_stat(soc, lambda v, q=q: np.nanpercentile(v, q, axis=1)) for q in SOC_PERCENTILES
    }
    floors = np.full(soc.shape[1], np.nan)
    for slot, f in floor_by_slot.items():
        floors[int(slot)] = f
    v2b = np.where(np.isfinite(floors)[None, :], soc, np.nan)
    floor_plugged = np.where(np.isfinite(soc), floors[None, :], np.nan)
    return SocBandData(
        time=carpark["time"].reset_index(drop=True),
        bands=bands,
        v2b_median=_row_stat(v2b, lambda v: np.nanmedian(v, axis=1)),
        floor_min=_row_stat(floor_plugged, lambda v: np.nanmin(v, axis=1)),
        floor_max=_row_stat(floor_plugged, lambda v: np.nanmax(v, axis=1)),
    )


def soc_band_figure(d: SocBandData, tz: dt.tzinfo | None) -> Any:
    """Figure of :class:`SocBandData` (bands, medians, V2B floor range)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t, t_label = local_axis(d.time, tz)
    b = d.bands
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.fill_between(
        t,
        b[5.0],
        b[95.0],
        color="tab:blue",
        alpha=0.18,
        lw=0,
        label="5–95 % of plugged-in cars",
        gid="p5_95",
    )
    ax.fill_between(
        t, b[25.0], b[75.0], color="tab:blue", alpha=0.35, lw=0, label="25–75 %", gid="p25_75"
    )
    ax.plot(t, b[50.0], color="tab:blue", lw=1.2, label="median, all plugged-in cars")
    if np.isfinite(d.v2b_median).any():
        ax.plot(t, d.v2b_median, color="tab:orange", lw=1.0, label="median, V2B cars")
        ax.fill_between(
            t,
            d.floor_min,
            d.floor_max,
            color="tab:red",
            alpha=0.25,
            lw=0,
            label="V2B floor (range over plugged-in V2B cars)",
            gid="v2b_floor",
        )
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("SOC [-]")
    ax.set_xlabel(t_label)
    ax.legend(loc="lower left", fontsize=7, ncol=2)
    ax.set_title("SOC of the cars plugged in (percentiles over plugged-in sessions)")
    _date_axis(ax, t)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


@dataclass(frozen=True)
class DepartureData:
    """Points of ``porto_departure_soc.png``: completed sessions' wish and departure SOC [-].

    ``kind``: ``"v2b"`` (allowed to discharge), ``"managed"`` (smart charged) or
    ``"unmanaged"`` (no consent: charged at full power to ``control.soc_max``).
    """

    soc_wish: FloatArray
    soc_departure: FloatArray
    kind: tuple[str, ...]


def departure_data(sessions: pd.DataFrame) -> DepartureData:
    """Collect the completed sessions of ``sessions.parquet``."""
    done = sessions[sessions["status"] == "completed"]
    kind = tuple(
        "v2b" if v else ("managed" if m else "unmanaged")
        for v, m in zip(done["v2b"].astype(bool), done["managed"].astype(bool), strict=True)
    )
    return DepartureData(
        soc_wish=done["soc_wish"].to_numpy(dtype=float),
        soc_departure=done["soc_departure"].to_numpy(dtype=float),
        kind=kind,
    )


DEPARTURE_STYLE: dict[str, tuple[str, str, str]] = {
    "v2b": ("tab:orange", "o", "V2B (discharge allowed)"),
    "managed": ("tab:blue", "s", "smart charged"),
    "unmanaged": ("0.5", "^", "no consent (full power to soc_max)"),
}


def departure_figure(d: DepartureData) -> Any:
    """Scatter of :class:`DepartureData` with the line departure = wish."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5.0))
    kinds = np.asarray(d.kind, dtype=object)
    for kind, (colour, marker, label) in DEPARTURE_STYLE.items():
        sel = kinds == kind
        if sel.any():
            ax.scatter(
                d.soc_wish[sel],
                d.soc_departure[sel],
                s=14,
                c=colour,
                marker=marker,
                alpha=0.7,
                label=f"{label}: {int(sel.sum())}",
                gid=kind,
            )
    ax.plot([0, 1], [0, 1], color="k", lw=0.7, ls="--", label="departure SOC = wish")
    short = int(np.sum(d.soc_departure < d.soc_wish - 1e-4))
    values = np.concatenate([d.soc_wish, d.soc_departure])
    values = values[np.isfinite(values)]
    lo = max(0.0, math.floor((float(values.min()) - 0.05) * 10.0) / 10.0) if values.size else 0.0
    ax.set_xlim(lo, 1.0)
    ax.set_ylim(lo, 1.0)
    ax.set_aspect("equal")
    ax.set_xlabel("SOC wished at departure [-]")
    ax.set_ylabel("SOC at departure [-]")
    ax.set_title(f"Completed sessions: {len(d.soc_wish)}, below their wish: {short}", fontsize=10)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return fig


def make_porto_plots(
    spec: Any, setup: Any, frames: Mapping[str, pd.DataFrame], sessions: pd.DataFrame, out_dir: Path
) -> dict[str, Any]:
    """Write the four Porto plots into ``out_dir``; return each plot's data by key.

    ``spec``: the :class:`~.schema.PortoScenario`; ``setup``: its
    :class:`~.wiring.PortoSetup`; ``frames``: the run's tables (``grid``, ``carpark``);
    ``sessions``: ``sessions.parquet`` (one row per stay, in the setup's stay order).
    """
    from v2xcosim.core.timegrid import step_times
    from v2xcosim.usecases.porto.wiring import tariff

    tz = spec.time.tzinfo
    step_s = int(spec.time.step_s)
    grid, park = frames["grid"], frames["carpark"]
    times = step_times(spec.time.start_utc, len(grid), step_s)
    tou = tariff(spec)
    p = grid["p_slack_w"].to_numpy(dtype=float)
    q = grid["q_slack_var"].to_numpy(dtype=float)
    ok = np.isfinite(p) & np.isfinite(q)
    contracted = float(spec.porto.tariff.contracted_kw)
    bill = tou.bill(
        np.where(ok, p, 0.0), np.where(ok, q, 0.0), times, step_s=step_s, contracted_kw=contracted
    )
    event = None
    more: list[tuple[int, int, float]] = []
    if setup.events:
        event = (int(setup.event_start_k), int(setup.event_end_k), float(setup.event_limit_w))
        more = [(e.start_k, e.end_k, e.limit_w) for e in setup.events[1:]]
    data: dict[str, Any] = {
        "connection": connection_data(
            grid,
            [str(x) for x in tou.labels_at(times)],
            step_s=step_s,
            contracted_kw=float(bill["contracted_kw"]),
            contracted_is_peak=contracted <= 0.0,
            event=event,
            more_events=more,
        ),
        "carpark": carpark_data(park),
    }
    served = sessions[(sessions["status"] != "rejected") & sessions["v2b"].astype(bool)]
    row_of = {sid: k for k, sid in enumerate(setup.stay_id)}
    floors = {
        int(slot): float(setup.soc_min[row_of[str(sid)]])
        for sid, slot in zip(served["session_id"], served["slot"], strict=True)
    }
    data["soc"] = soc_band_data(park, floors)
    data["departure"] = departure_data(sessions)
    figures = {
        "connection": connection_figure(data["connection"], tz),
        "carpark": carpark_figure(data["carpark"], tz),
        "soc": soc_band_figure(data["soc"], tz),
        "departure": departure_figure(data["departure"]),
    }
    for key, fig in figures.items():
        save_figure(fig, out_dir / PLOT_FILES[key])
    return data


__all__ = [
    "PLOT_FILES",
    "CarparkData",
    "ConnectionData",
    "DepartureData",
    "SocBandData",
    "carpark_data",
    "carpark_figure",
    "connection_data",
    "connection_figure",
    "departure_data",
    "departure_figure",
    "make_porto_plots",
    "period_spans",
    "soc_band_data",
    "soc_band_figure",
]
