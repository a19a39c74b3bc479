"""Porto's own panels of the HTML report: the building's connection, the car park, its EVs.

Built from the same data objects as Porto's PNG plots (:mod:`.plots`: ``connection_data``,
``carpark_data``, ``soc_band_data``, ``departure_data``), so the report and the PNGs show the
same numbers.  The scenario is read back from ``metadata.json`` to rebuild the tariff's periods
(:func:`.wiring.tariff`) and the DSO event's window; the V2B floors come from
``sessions.parquet`` (:func:`v2b_floors`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from v2xcosim.report.html import Panel, RunView, Section, figure_layout
from v2xcosim.usecases.porto.plots import (
    DEPARTURE_STYLE,
    PERIOD_COLOURS,
    PERIOD_NAMES,
    CarparkData,
    ConnectionData,
    DepartureData,
    SocBandData,
    carpark_data,
    connection_data,
    departure_data,
    period_spans,
    soc_band_data,
)

SGAM_PLACES: Mapping[str, tuple[str, str]] = {
    "ev": ("EV", "process"),
    "evse": ("energy transfer", "field"),
    "cs_controller": ("energy transfer", "station"),
    "cs_ems": ("energy transfer", "operation"),
    "user": ("EV-user premises", "field"),
    "web_app": ("EV-user premises", "enterprise"),
    "parking": ("EV-user premises", "operation"),
    "bems": ("energy conversion", "operation"),
    "dso": ("energy conversion", "enterprise"),
    "energy_market": ("energy conversion", "market"),
}
"""Trace role -> (EMSA domain, zone).  Assumption after the EMSA/SGAM layers of
``shared/design/use-cases.md``: the car in the process zone, the EVSE and the user's device in
the field, the CS controller at the station, CS EMS, parking management and the BEMS in
operations, the web app and the DSO's grid management as enterprises, the energy market in the
market zone."""


def connection(run: RunView) -> ConnectionData:
    """Return the connection chart's data of a Porto run (tariff periods from its scenario)."""
    from v2xcosim.core.timegrid import step_times
    from v2xcosim.usecases.porto.schema import PortoScenario
    from v2xcosim.usecases.porto.wiring import tariff

    spec = PortoScenario.model_validate_json(json.dumps(dict(run.scenario), default=str))
    grid = run.table("grid")
    assert grid is not None
    times = step_times(spec.time.start_utc, len(grid), run.step_s)
    events = _event_windows(run, spec, len(grid))
    contracted = float(run.kpis.get("contracted_kw") or spec.porto.tariff.contracted_kw)
    return connection_data(
        grid,
        [str(x) for x in tariff(spec).labels_at(times)],
        step_s=run.step_s,
        contracted_kw=contracted,
        contracted_is_peak=float(spec.porto.tariff.contracted_kw) <= 0.0,
        event=events[0] if events else None,
        more_events=events[1:],
    )


def _event_windows(run: RunView, spec: Any, n: int) -> list[tuple[int, int, float]]:
    """Return the run's DSO events as ``(start step, end step, limit W)``.

    The run's own record (``kpis.json`` ``dso_event_windows``: steps and kW, the windows the
    DSO called, forecast or fixed) when present; otherwise (a run from before that key) the
    scenario's fixed window.
    """
    windows = run.kpis.get("dso_event_windows")
    if isinstance(windows, list):
        return [(int(k0), int(k1), float(lim_kw) * 1e3) for k0, k1, lim_kw in windows if k0 < n]
    ev = spec.dso_event
    if ev is None or ev.start is None or ev.end is None or ev.limit_mw is None:
        return []
    k0 = int((ev.start - spec.time.start).total_seconds() // run.step_s)
    k1 = int((ev.end - spec.time.start).total_seconds() // run.step_s)
    return [(max(k0, 0), k1, ev.limit_mw * 1e6)] if k1 > 0 and k0 < n else []


def _connection_figure(run: RunView, d: ConnectionData) -> Any:
    import plotly.graph_objects as go

    t, label = run.local(d.time)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t, y=d.p_import_kw, name="import at the MV connection (EVs in)"))
    fig.add_trace(go.Scatter(x=t, y=d.p_terminal_kw, name="terminal alone", line={"dash": "dot"}))
    peak = float(np.nanmax(d.p_import_kw)) if np.isfinite(d.p_import_kw).any() else 0.0
    fig.add_trace(
        go.Scatter(
            x=[t.iloc[0], t.iloc[-1]],
            y=[d.contracted_kw, d.contracted_kw],
            name=f"contracted power billed {d.contracted_kw:,.0f} kW",
            mode="lines",
            line={"color": "black", "dash": "dash"},
        )
    )
    edges = [*t, t.iloc[-1] + pd.Timedelta(seconds=d.step_s)]
    seen: set[str] = set()
    for k0, k1, period in period_spans(d.period):
        fig.add_vrect(
            x0=edges[k0],
            x1=edges[k1],
            fillcolor=PERIOD_COLOURS.get(period, "#999999"),
            opacity=0.12,
            line_width=0,
            layer="below",
        )
        if period not in seen:  # a legend entry per period
            seen.add(period)
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    name=PERIOD_NAMES.get(period, period),
                    marker={"color": PERIOD_COLOURS.get(period, "#999999"), "symbol": "square"},
                )
            )
    events = [(d.event_start_k, d.event_end_k, d.event_limit_kw)] if d.event_start_k >= 0 else []
    for i, (k0, k1, limit_kw) in enumerate([*events, *d.more_events]):
        fig.add_vrect(
            x0=edges[k0], x1=edges[k1], line_width=1, line_color="red", fillcolor="rgba(0,0,0,0)"
        )
        fig.add_trace(
            go.Scatter(
                x=[edges[k0], edges[k1]],
                y=[limit_kw, limit_kw],
                mode="lines",
                name=f"DSO event limit {limit_kw:,.0f} kW",
                legendgroup="dso",
                showlegend=i == 0,
                line={"color": "red"},
            )
        )
    return figure_layout(
        fig,
        f"Building load against its peak ({peak:,.0f} kW) and the tariff periods",
        label,
        "P [kW]",
        height=380,
    )


def _carpark_figure(run: RunView, d: CarparkData) -> Any:
    import plotly.graph_objects as go

    t, label = run.local(d.time)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t, y=d.charge_kw, name="charging", line={"width": 1}))
    fig.add_trace(go.Scatter(x=t, y=d.discharge_kw, name="discharging (V2B)", line={"width": 1}))
    fig.add_trace(go.Scatter(x=t, y=d.net_kw, name="net"))
    fig.add_trace(
        go.Scatter(
            x=t,
            y=d.n_plugged,
            name="cars plugged in (right axis)",
            yaxis="y2",
            line={"color": "grey", "dash": "dot"},
        )
    )
    return figure_layout(
        fig,
        "Car park: charging-site power (+ charging, − V2B)",
        label,
        "P [kW]",
        yaxis2={
            "title": "cars plugged in",
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
            "tickmode": "auto",
            "tickformat": "d",
        },
        margin={"l": 60, "r": 60, "t": 40, "b": 50},
    )


def _band(fig: Any, t: pd.Series, lo: Any, hi: Any, colour: str, name: str) -> None:
    """Fill between the series ``lo`` and ``hi`` over ``t`` (one legend entry, ``name``)."""
    import plotly.graph_objects as go

    fig.add_trace(go.Scatter(x=t, y=hi, line={"width": 0}, showlegend=False))
    fig.add_trace(
        go.Scatter(x=t, y=lo, fill="tonexty", fillcolor=colour, line={"width": 0}, name=name)
    )


def _soc_figure(run: RunView, d: SocBandData) -> Any:
    import plotly.graph_objects as go

    t, label = run.local(d.time)
    fig = go.Figure()
    for lo, hi, colour in (
        (5.0, 95.0, "rgba(31,119,180,0.15)"),
        (25.0, 75.0, "rgba(31,119,180,0.35)"),
    ):
        _band(fig, t, d.bands[lo], d.bands[hi], colour, f"p{lo:g}–p{hi:g}")
    fig.add_trace(go.Scatter(x=t, y=d.bands[50.0], name="median", line={"color": "#1f77b4"}))
    if np.isfinite(d.v2b_median).any():
        fig.add_trace(
            go.Scatter(
                x=t, y=d.v2b_median, name="median of the V2B cars", line={"color": "#ff7f0e"}
            )
        )
        # the floors' range over the plugged-in V2B cars, as soc.png draws it
        _band(
            fig,
            t,
            d.floor_min,
            d.floor_max,
            "rgba(214,39,40,0.25)",
            "V2B floor (range over plugged-in V2B cars)",
        )
    fig.update_yaxes(range=[0, 1])
    return figure_layout(fig, "EV state of charge over the cars plugged in", label, "SOC [-]")


def v2b_floors(sessions: pd.DataFrame | None) -> dict[int, float]:
    """Return FMU slot -> V2B floor (``soc_min``, SOC [-]) of each served V2B stay.

    From ``sessions.parquet`` (one slot per stay), the floors :func:`.plots.make_porto_plots`
    gives ``soc.png``: stays not rejected whose car can discharge (``v2b``).  Empty without the
    table or its ``soc_min`` column (a run recorded by an older version).
    """
    if sessions is None or not {"status", "v2b", "slot", "soc_min"} <= set(sessions.columns):
        return {}
    served = sessions[(sessions["status"] != "rejected") & sessions["v2b"].astype(bool)]
    return {
        int(slot): float(floor)
        for slot, floor in zip(served["slot"], served["soc_min"], strict=True)
    }


def _departure_figure(d: DepartureData) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    kinds = np.asarray(d.kind, dtype=object)
    for kind, (_, _, label) in DEPARTURE_STYLE.items():
        sel = kinds == kind
        if sel.any():
            fig.add_trace(
                go.Scatter(
                    x=d.soc_wish[sel],
                    y=d.soc_departure[sel],
                    mode="markers",
                    name=f"{label}: {int(sel.sum())}",
                )
            )
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="departure = wish",
            line={"dash": "dash", "color": "black"},
        )
    )
    short = int(np.sum(d.soc_departure < d.soc_wish - 1e-4))
    return figure_layout(
        fig,
        f"Departure SOC against the wish: {len(d.soc_wish)} completed, {short} below",
        "SOC wished at departure [-]",
        "SOC at departure [-]",
        height=420,
        hovermode="closest",
    )


def report_sections(run: RunView, baseline: RunView | None) -> list[Section]:
    """Return the building, car-park and EV sections (the EV one replaces the generic one)."""
    out: list[Section] = []
    grid = run.table("grid")
    if grid is not None and "p_terminal_w" in grid.columns:
        out.append(
            Section(
                "building",
                "Building (terminal) and its tariff",
                (Panel("connection", "", _connection_figure(run, connection(run))),),
            )
        )
    park = run.table("carpark")
    if park is not None:
        out.append(
            Section(
                "sites",
                "Charging site (car park)",
                (Panel("carpark-power", "", _carpark_figure(run, carpark_data(park))),),
            )
        )
        sessions = run.table("sessions")
        bands = soc_band_data(park, v2b_floors(sessions))
        ev = [Panel("soc-bands", "", _soc_figure(run, bands))]
        if sessions is not None:
            dep = departure_data(sessions)
            if len(dep.soc_wish):
                ev.append(Panel("departure-soc", "", _departure_figure(dep)))
        out.append(Section("ev", "EVs", tuple(ev)))
    return out


__all__ = ["SGAM_PLACES", "connection", "report_sections", "v2b_floors"]
