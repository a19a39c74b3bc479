"""One self-contained HTML report of a run folder: interactive charts a person reads offline.

``v2xcosim report RUN_DIR`` (:mod:`v2xcosim.report_cli`) assembles it; this module holds the
generic parts every use case shares:

* :class:`RunView` — what the report reads of a complete run folder (``metadata.json``,
  ``kpis.json``, the parquet tables, the scenario's time zone);
* data functions (``*_data``, :func:`kpi_rows`, :func:`session_rows`, :func:`sgam_flows`) that
  return the numbers a chart shows, so tests compare them with the run's tables and KPIs;
* figure functions (``*_figure``) that turn them into plotly figures, and :class:`Panel` /
  :class:`Section`, the report's building blocks;
* :func:`generic_sections` (summary, KPIs, substation, voltage per feeder, loading, EVs,
  charging sites) and :func:`trace_sections` (the sequence chart of one session and the
  EMSA/SGAM plane), :func:`merge_sections` (a use case's own sections replace the generic ones
  of the same key or are added before the trace sections) and :func:`render`.

A use case contributes panels through its package (``UseCase.report_sections`` and
``UseCase.sgam_places``, :mod:`v2xcosim.usecases`), never by a test on its name here.
plotly.js is embedded once, inline (``plotly.offline.get_plotlyjs``): the file loads nothing
from the network.  Times are the scenario's local time (``time.timezone``), the zone and its
UTC offset on the axis label (:func:`v2xcosim.report.plots.local_axis`).  Powers follow the
load convention: + = drawn from the grid.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.config.common import TimeSpec
from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.io import atomic_write_bytes
from v2xcosim.report.compare import RESIDUE, rounded_delta
from v2xcosim.report.kpis import KPIS
from v2xcosim.report.plots import local_axis, masked_soc
from v2xcosim.report.results import METADATA, REPORT_NAME, vector_columns, verify_run_folder

FloatArray = npt.NDArray[np.float64]

SOC_PERCENTILES: tuple[float, ...] = (5.0, 25.0, 50.0, 75.0, 95.0)
"""Percentiles of the SOC band chart [%]."""
TOP_LINES = 5
"""Most loaded lines drawn one by one in the loading chart (the rest as their maximum)."""
DOMAINS: tuple[str, ...] = ("energy conversion", "energy transfer", "EV", "EV-user premises")
"""EMSA domains (columns of the plane), ``shared/design/use-cases.md``."""
ZONES: tuple[str, ...] = ("process", "field", "station", "operation", "enterprise", "market")
"""EMSA zones (rows of the plane, bottom to top), ``shared/design/use-cases.md``."""
TRACE_KEYS = ("sequence", "sgam")
"""Keys of the trace sections: use-case sections without a generic twin go before them."""


# ------------------------------------------------------------------------------ building blocks
@dataclass(frozen=True)
class Panel:
    """One chart (a plotly figure) or one block of HTML, with a title and a note below."""

    key: str
    title: str
    figure: Any = None
    html: str = ""
    note: str = ""


@dataclass(frozen=True)
class Section:
    """A titled group of panels; ``key`` lets a use case replace a generic section."""

    key: str
    title: str
    panels: tuple[Panel, ...]
    intro: str = ""


@dataclass
class RunView:
    """What the report reads of one complete run folder (tables are read on first use)."""

    folder: Path
    meta: Mapping[str, Any]
    kpis: Mapping[str, Any]
    time: TimeSpec
    label: str
    _tables: dict[str, pd.DataFrame | None] = field(default_factory=dict, repr=False)

    @property
    def scenario(self) -> Mapping[str, Any]:
        """The scenario as recorded in ``metadata.json``."""
        s = self.meta.get("scenario", {})
        return s if isinstance(s, Mapping) else {}

    @property
    def tz(self) -> dt.tzinfo:
        """The scenario's local time zone."""
        return self.time.tzinfo

    @property
    def step_s(self) -> int:
        """Co-simulation step [s]."""
        return int(self.time.step_s)

    @property
    def use_case(self) -> str:
        """The run's use case (``kpis.json`` ``use_case``, else ``sites``)."""
        return str(self.kpis.get("use_case") or self.scenario.get("use_case") or "sites")

    def table(self, name: str) -> pd.DataFrame | None:
        """Return ``<name>.parquet`` of the run folder, or None when the run has no such table."""
        if name not in self._tables:
            path = self.folder / f"{name}.parquet"
            self._tables[name] = pd.read_parquet(path) if path.is_file() else None
        return self._tables[name]

    def site_tables(self) -> dict[str, pd.DataFrame]:
        """Return the ``site_<id>`` tables by site id, sorted."""
        out: dict[str, pd.DataFrame] = {}
        for path in sorted(self.folder.glob("site_*.parquet")):
            frame = self.table(path.stem)
            if frame is not None:
                out[path.stem[len("site_") :]] = frame
        return out

    def local(self, time: pd.Series) -> tuple[pd.Series, str]:
        """Local wall-clock times of UTC ``time`` and the axis label naming the zone."""
        return local_axis(time, self.tz)


def read_view(folder: Path, *, ignore: Iterable[str] = ()) -> RunView:
    """Read a complete run folder; anything else is a :class:`ScenarioError` saying what to do.

    ``ignore``: files (relative to the folder) that may exist without being in the manifest
    besides those :func:`~v2xcosim.report.results.is_derived` names (a report written into
    the folder under another name).
    """
    if not folder.exists():
        raise ScenarioError(f"{folder}: no such run folder; give the folder a run wrote (--out)")
    if not folder.is_dir():
        raise ScenarioError(f"{folder}: not a folder; give the folder a run wrote (--out)")
    problems = verify_run_folder(folder, derived=ignore)
    if problems:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise ScenarioError(
            f"{folder}: not a complete run folder ({'; '.join(problems[:3])}{more}); give the "
            "folder of a run that completed (v2xcosim run writes metadata.json last)"
        )
    meta = json.loads((folder / METADATA).read_text(encoding="utf-8"))
    kpi_path = folder / "kpis.json"
    if not kpi_path.is_file() or not (folder / "grid.parquet").is_file():
        raise ScenarioError(
            f"{folder}: no kpis.json or grid.parquet; the run was made by an older v2xcosim or "
            "is not a simulation run — run the scenario again"
        )
    kpis = json.loads(kpi_path.read_text(encoding="utf-8"))
    scenario = meta.get("scenario")
    try:
        time = TimeSpec.model_validate_json(json.dumps(scenario["time"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioError(
            f"{folder}/{METADATA}: scenario.time is missing or invalid ({exc}); run the "
            "scenario again"
        ) from None
    label = folder.resolve().name
    strategy = kpis.get("strategy")
    if isinstance(strategy, str) and strategy not in label:
        label = f"{label} ({strategy})"
    return RunView(folder=folder, meta=meta, kpis=kpis, time=time, label=label)


# ------------------------------------------------------------------------------------ numbers
def runs_of(mask: npt.ArrayLike) -> list[tuple[int, int]]:
    """Return the runs of True in ``mask`` as ``(first index, end index (exclusive))``."""
    m = np.asarray(mask, dtype=bool)
    spans: list[tuple[int, int]] = []
    k = 0
    n = len(m)
    while k < n:
        if m[k]:
            start = k
            while k < n and m[k]:
                k += 1
            spans.append((start, k))
        else:
            k += 1
    return spans


@dataclass(frozen=True)
class SubstationData:
    """Power through the slack (the substation to the upstream grid) [kW, + = import].

    ``reverse``: the runs of steps with reverse flow (``p_kw`` < 0) as ``(first, end)``.
    """

    time: pd.Series
    p_kw: FloatArray
    reverse: tuple[tuple[int, int], ...]


def substation_data(grid: pd.DataFrame) -> SubstationData:
    """Collect the substation power of ``grid.parquet`` (``p_slack_w``, W); NaN steps are no run."""
    p_kw = grid["p_slack_w"].to_numpy(dtype=float) / 1e3
    with np.errstate(invalid="ignore"):
        reverse = p_kw < 0.0
    return SubstationData(
        time=grid["time"].reset_index(drop=True),
        p_kw=p_kw,
        reverse=tuple(runs_of(reverse)),
    )


@dataclass(frozen=True)
class Envelope:
    """Lowest and highest bus voltage [pu] of one feeder at each step, and its buses."""

    vm_min_pu: FloatArray
    vm_max_pu: FloatArray
    buses: tuple[str, ...]


def feeder_envelopes(grid: pd.DataFrame, bus_feeder: Mapping[str, str]) -> dict[str, Envelope]:
    """Voltage envelope per feeder from the ``vm_pu[<bus>]`` columns.

    ``bus_feeder``: bus name -> feeder label (the voltage study's feeder layout); a bus
    without one goes to ``"other buses"``.  Steps without a power flow stay NaN.
    """
    vm = vector_columns(grid, "vm_pu")
    groups: dict[str, list[str]] = {}
    for col in vm.columns:
        bus = col[len("vm_pu[") : -1]
        groups.setdefault(bus_feeder.get(bus) or "other buses", []).append(col)
    out: dict[str, Envelope] = {}
    for feeder in sorted(groups):
        values = vm[groups[feeder]].to_numpy(dtype=float)
        ok = np.isfinite(values).any(axis=1)
        lo = np.full(len(values), np.nan)
        hi = np.full(len(values), np.nan)
        lo[ok] = np.nanmin(values[ok], axis=1)
        hi[ok] = np.nanmax(values[ok], axis=1)
        out[feeder] = Envelope(lo, hi, tuple(c[len("vm_pu[") : -1] for c in groups[feeder]))
    return out


def loading_data(grid: pd.DataFrame, *, top: int = TOP_LINES) -> dict[str, FloatArray]:
    """Return the loadings [%] to draw: each transformer, the ``top`` most loaded lines, their max.

    Keys: ``trafo <name>``, ``line <name>`` and ``all lines (max)``.
    """
    out: dict[str, FloatArray] = {}
    trafos = vector_columns(grid, "trafo_loading_percent")
    for col in trafos.columns:
        out[f"trafo {col[len('trafo_loading_percent[') : -1]}"] = trafos[col].to_numpy(float)
    lines = vector_columns(grid, "line_loading_percent")
    if lines.shape[1]:
        peaks = lines.max(axis=0, skipna=True).fillna(-math.inf)
        ordered = sorted(lines.columns, key=lambda c: (-float(peaks[c]), c))
        if lines.shape[1] > top:
            values = lines.to_numpy(dtype=float)
            ok = np.isfinite(values).any(axis=1)
            mx = np.full(len(values), np.nan)
            mx[ok] = np.nanmax(values[ok], axis=1)
            out["all lines (max)"] = mx
        for col in ordered[:top]:
            out[f"line {col[len('line_loading_percent[') : -1]}"] = lines[col].to_numpy(float)
    return out


def soc_band_data(tables: Mapping[str, pd.DataFrame]) -> dict[float, FloatArray]:
    """SOC percentiles over the EVs plugged in at each step, over all ``tables`` (same steps).

    Uses :func:`v2xcosim.report.plots.masked_soc` (a slot counts only while ``plugged``);
    a step with no EV plugged in is NaN.
    """
    frames = [masked_soc(f).to_numpy(dtype=float) for f in tables.values()]
    if not frames:
        return {}
    soc = np.concatenate(frames, axis=1)
    rows = np.isfinite(soc).any(axis=1)
    out: dict[float, FloatArray] = {}
    for q in SOC_PERCENTILES:
        band = np.full(soc.shape[0], np.nan)
        if rows.any():
            band[rows] = np.nanpercentile(soc[rows], q, axis=1)
        out[q] = band
    return out


def departure_data(sessions: pd.DataFrame) -> pd.DataFrame:
    """Completed sessions' ``session_id``, ``soc_wish`` and ``soc_departure`` (fractions)."""
    done = sessions[sessions["status"] == "completed"]
    return done[["session_id", "soc_wish", "soc_departure"]].reset_index(drop=True)


def site_power_data(tables: Mapping[str, pd.DataFrame]) -> dict[str, FloatArray]:
    """AC power of each charging site [kW]: Σ over its connectors of ``p_ac_w[...]`` (W)."""
    return {
        site: vector_columns(frame, "p_ac_w").to_numpy(dtype=float).sum(axis=1) / 1e3
        for site, frame in tables.items()
    }


@dataclass(frozen=True)
class KpiRow:
    """One KPI line: name, unit and definition (:data:`~v2xcosim.report.kpis.KPIS`), values.

    ``delta`` = value − baseline, rounded like the CLI's comparison table
    (:func:`v2xcosim.report.compare.rounded_delta`); None without a baseline or a value.
    """

    key: str
    unit: str
    definition: str
    value: float | None
    baseline: float | None = None
    delta: float | None = None


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    return None


def kpi_rows(
    kpis: Mapping[str, Any], keys: Sequence[str], baseline: Mapping[str, Any] | None = None
) -> list[KpiRow]:
    """Return the scalar KPIs ``keys`` of a run (and of a baseline) with units, definitions.

    Keys the run does not hold (or holds as a block) are left out.
    """
    rows: list[KpiRow] = []
    for key in keys:
        if key not in kpis or (kpis[key] is not None and _number(kpis[key]) is None):
            continue
        value = _number(kpis[key])
        kpi = KPIS.get(key)
        base = _number(baseline.get(key)) if baseline is not None else None
        delta = rounded_delta(base, value) if base is not None and value is not None else None
        rows.append(
            KpiRow(
                key,
                kpi.unit if kpi else "",
                kpi.definition if kpi else "",
                value,
                base,
                delta,
            )
        )
    return rows


def session_ids_of(trace: pd.DataFrame, ids: Iterable[str]) -> list[set[str]]:
    """For each trace row, the session ids (of ``ids``) its sender, receiver or info names.

    A name counts as a whole token or as the tail of a ``/``-separated token
    (``user/cs_x/s0006`` names ``cs_x/s0006``).
    """
    known = set(ids)
    out: list[set[str]] = []
    split = re.compile(r"[\s,;:()]+")
    for sender, receiver, info in zip(
        trace["sender"], trace["receiver"], trace["info"], strict=True
    ):
        found: set[str] = set()
        for text in (str(sender), str(receiver), str(info)):
            for tok in split.split(text):
                parts = tok.split("/")
                for i in range(len(parts)):
                    cand = "/".join(parts[i:])
                    if cand in known:
                        found.add(cand)
        out.append(found)
    return out


def default_session(trace: pd.DataFrame, ids: Sequence[str]) -> str | None:
    """Return the first session (in the order of ``ids``) with the most distinct trace steps."""
    if not len(trace) or not ids:
        return None
    steps: dict[str, set[str]] = {s: set() for s in ids}
    for step, found in zip(trace["step"], session_ids_of(trace, ids), strict=True):
        for s in found:
            steps[s].add(str(step))
    best = max(ids, key=lambda s: (len(steps[s]), -ids.index(s)))
    return best if steps[best] else None


def session_rows(trace: pd.DataFrame, session_id: str) -> pd.DataFrame:
    """Return the trace rows naming ``session_id``, in recording order."""
    mask = [session_id in found for found in session_ids_of(trace, [session_id])]
    return trace[np.asarray(mask, dtype=bool)].reset_index(drop=True)


def sequence_messages(rows: pd.DataFrame) -> pd.DataFrame:
    """One message per (step, sender, receiver, payload type), in the order first seen.

    Columns: ``step``, ``sender``, ``receiver``, ``payload_type``, ``info`` (of the first),
    ``n`` (messages), ``first_utc``, ``last_utc``.
    """
    cols = ["step", "sender", "receiver", "payload_type"]
    if not len(rows):
        return pd.DataFrame(columns=[*cols, "info", "n", "first_utc", "last_utc"])
    grouped = rows.groupby(cols, sort=False)
    out = grouped.agg(
        info=("info", "first"),
        n=("info", "size"),
        first_utc=("time_utc", "first"),
        last_utc=("time_utc", "last"),
    ).reset_index()
    return out


def actor_role(name: str) -> str:
    """Return the role of a trace actor: the name before the first ``/``, less ``_<number>``.

    ``user/cs_x/s0006`` -> ``user``, ``cs_ems/cs_x`` -> ``cs_ems``, ``bess_1`` -> ``bess``.
    """
    head = str(name).split("/", 1)[0]
    return re.sub(r"_\d+$", "", head)


def sgam_flows(trace: pd.DataFrame) -> pd.DataFrame:
    """Return the information flows between roles: ``sender``, ``receiver``, ``n``, ``steps``.

    Counted over every trace row; ``steps`` lists the step ids of the flow, in first-seen order.
    """
    if not len(trace):
        return pd.DataFrame(columns=["sender", "receiver", "n", "steps"])
    frame = pd.DataFrame(
        {
            "sender": [actor_role(s) for s in trace["sender"]],
            "receiver": [actor_role(r) for r in trace["receiver"]],
            "step": trace["step"].astype(str),
        }
    )
    out = (
        frame.groupby(["sender", "receiver"], sort=True)
        .agg(n=("step", "size"), steps=("step", lambda s: ", ".join(dict.fromkeys(s))))
        .reset_index()
    )
    return out


# ------------------------------------------------------------------------------------ figures
def _go() -> Any:
    import plotly.graph_objects as go

    return go


def figure_layout(fig: Any, title: str, x_label: str, y_label: str, **changes: Any) -> Any:
    """Give ``fig`` the report's layout: title, axis labels, size, margins, legend, hover.

    ``changes`` are plotly layout properties that replace the defaults (``height``,
    ``hovermode``, ``margin``) or add to them (``yaxis2``, ``barmode``).  Returns ``fig``.
    """
    layout: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 14}},
        "xaxis_title": x_label,
        "yaxis_title": y_label,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "height": 360,
        "legend": {"font": {"size": 10}},
        "hovermode": "x unified",
        "template": "plotly_white",
    }
    fig.update_layout(**{**layout, **changes})
    return fig


def _arrow(
    fig: Any, x0: float, y0: float, x1: float, y1: float, *, width: float, colour: str = ""
) -> None:
    """Draw an arrow from ``(x0, y0)`` to ``(x1, y1)`` in data coordinates.

    The sequence chart's messages and the SGAM plane's flows; plotly's colour unless ``colour``.
    """
    fig.add_annotation(
        x=x1,
        y=y1,
        ax=x0,
        ay=y0,
        xref="x",
        yref="y",
        axref="x",
        ayref="y",
        showarrow=True,
        arrowhead=2,
        arrowwidth=width,
        text="",
        **({"arrowcolor": colour} if colour else {}),
    )


def _edges(t: pd.Series, step_s: int) -> list[pd.Timestamp]:
    """Step starts plus the end of the last step (local times) for shading whole steps."""
    ts = list(pd.to_datetime(t))
    if ts:
        ts.append(ts[-1] + pd.Timedelta(seconds=step_s))
    return ts


def substation_figure(
    run: RunView, data: SubstationData, base: SubstationData | None = None
) -> Any:
    """Substation power [kW], reverse-flow periods shaded; the baseline dashed."""
    go = _go()
    t, label = run.local(data.time)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t, y=data.p_kw, name=f"{run.label}", mode="lines"))
    if base is not None:
        tb, _ = run.local(base.time)
        fig.add_trace(
            go.Scatter(x=tb, y=base.p_kw, name="baseline", mode="lines", line={"dash": "dash"})
        )
    edges = _edges(t, run.step_s)
    for k0, k1 in data.reverse:
        fig.add_vrect(
            x0=edges[k0], x1=edges[k1], fillcolor="orange", opacity=0.2, line_width=0, layer="below"
        )
    fig.add_hline(y=0.0, line={"color": "black", "width": 0.6})
    hours = sum(k1 - k0 for k0, k1 in data.reverse) * run.step_s / 3600.0
    return figure_layout(
        fig,
        f"Substation power (+ import, − reverse flow; shaded: reverse flow, {hours:g} h)",
        label,
        "P [kW]",
    )


def envelope_figure(
    run: RunView, time: pd.Series, envelopes: Mapping[str, Envelope], v_min: float, v_max: float
) -> Any:
    """Min–max voltage band per feeder [pu] with the limits."""
    go = _go()
    t, label = run.local(time)
    fig = go.Figure()
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    for i, (feeder, env) in enumerate(envelopes.items()):
        colour = palette[i % len(palette)]
        fig.add_trace(
            go.Scatter(
                x=t,
                y=env.vm_max_pu,
                name=f"{feeder} max",
                legendgroup=feeder,
                line={"color": colour, "width": 1},
            )
        )
        fig.add_trace(
            go.Scatter(
                x=t,
                y=env.vm_min_pu,
                name=f"{feeder} min ({len(env.buses)} buses)",
                legendgroup=feeder,
                fill="tonexty",
                line={"color": colour, "width": 1},
            )
        )
    for v in (v_min, v_max):
        fig.add_hline(y=v, line={"color": "red", "dash": "dash", "width": 0.8})
    return figure_layout(
        fig, "Voltage envelope per feeder (min–max over its buses)", label, "V [pu]"
    )


def loading_figure(
    run: RunView, time: pd.Series, series: Mapping[str, FloatArray], limits: tuple[float, float]
) -> Any:
    """Line and transformer loadings [%] with the limits."""
    go = _go()
    t, label = run.local(time)
    fig = go.Figure()
    for name, values in series.items():
        dash = "solid" if name.startswith("trafo") else "dot"
        fig.add_trace(go.Scatter(x=t, y=values, name=name, line={"dash": dash, "width": 1.2}))
    line_limit, trafo_limit = limits
    fig.add_hline(y=line_limit, line={"color": "red", "dash": "dash", "width": 0.8})
    if trafo_limit != line_limit:
        fig.add_hline(y=trafo_limit, line={"color": "darkred", "dash": "dash", "width": 0.8})
    return figure_layout(fig, "Line and transformer loading", label, "loading [%]")


def soc_band_figure(run: RunView, time: pd.Series, bands: Mapping[float, FloatArray]) -> Any:
    """SOC percentile bands over the EVs plugged in."""
    go = _go()
    t, label = run.local(time)
    fig = go.Figure()
    pairs = [(5.0, 95.0, "rgba(31,119,180,0.15)"), (25.0, 75.0, "rgba(31,119,180,0.35)")]
    for lo, hi, colour in pairs:
        if lo in bands and hi in bands:
            fig.add_trace(go.Scatter(x=t, y=bands[hi], line={"width": 0}, showlegend=False))
            fig.add_trace(
                go.Scatter(
                    x=t,
                    y=bands[lo],
                    fill="tonexty",
                    fillcolor=colour,
                    line={"width": 0},
                    name=f"p{lo:g}–p{hi:g}",
                )
            )
    if 50.0 in bands:
        fig.add_trace(go.Scatter(x=t, y=bands[50.0], name="median", line={"color": "#1f77b4"}))
    fig.update_yaxes(range=[0, 1])
    return figure_layout(fig, "EV state of charge over the EVs plugged in", label, "SOC [-]")


def departure_figure(d: pd.DataFrame) -> Any:
    """Departure SOC against the wish per completed session, with the line departure = wish."""
    go = _go()
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=d["soc_wish"],
            y=d["soc_departure"],
            mode="markers",
            text=d["session_id"],
            name="completed sessions",
            hovertemplate="%{text}<br>wish %{x:.3f}<br>departure %{y:.3f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="departure = wish", line={"dash": "dash"})
    )
    short = int((d["soc_departure"] < d["soc_wish"] - 1e-4).sum())
    return figure_layout(
        fig,
        f"Departure SOC against the wish: {len(d)} completed, {short} below",
        "SOC wished at departure [-]",
        "SOC at departure [-]",
        hovermode="closest",
    )


def lines_figure(
    run: RunView,
    time: pd.Series,
    series: Mapping[str, FloatArray],
    title: str,
    y_label: str,
    base: Mapping[str, FloatArray] | None = None,
) -> Any:
    """Time series by name (and a baseline's, dashed)."""
    go = _go()
    t, label = run.local(time)
    fig = go.Figure()
    for name, values in series.items():
        fig.add_trace(go.Scatter(x=t, y=values, name=name, line={"width": 1.2}))
    for name, values in (base or {}).items():
        fig.add_trace(
            go.Scatter(x=t, y=values, name=f"{name} (baseline)", line={"dash": "dash", "width": 1})
        )
    return figure_layout(fig, title, label, y_label)


def sequence_figure(run: RunView, messages: pd.DataFrame, session_id: str) -> Any:
    """Sequence chart: one lifeline per actor, one arrow per message (top to bottom)."""
    go = _go()
    actors: list[str] = list(dict.fromkeys([*messages["sender"], *messages["receiver"]]))
    x_of = {a: i for i, a in enumerate(actors)}
    n = len(messages)
    fig = go.Figure()
    for a in actors:
        fig.add_shape(
            type="line",
            x0=x_of[a],
            x1=x_of[a],
            y0=0.5,
            y1=-n - 0.5,
            line={"color": "#bbbbbb", "width": 1},
        )
    mid_x, mid_y, text = [], [], []
    for i, m in enumerate(messages.itertuples(index=False)):
        y = -(i + 1)
        x0, x1 = float(x_of[str(m.sender)]), float(x_of[str(m.receiver)])
        first = _local_text(run, str(m.first_utc))
        span = first if m.n == 1 else f"{first} … {_local_text(run, str(m.last_utc))}"
        times = "" if m.n == 1 else f" ×{m.n}"
        if x0 == x1:  # a message to itself: a small loop
            x1 = x0 + 0.3
        _arrow(fig, x0, y, x1, y, width=1.2)
        fig.add_annotation(
            x=(x0 + x1) / 2,
            y=y,
            text=f"{m.step}: {m.payload_type}{times}",
            showarrow=False,
            yshift=9,
            font={"size": 10},
        )
        mid_x.append((x0 + x1) / 2)
        mid_y.append(y)
        text.append(f"step {m.step} ({span}){times}<br>{html.escape(str(m.info))[:160]}")
    fig.add_trace(
        go.Scatter(
            x=mid_x,
            y=mid_y,
            mode="markers",
            marker={"size": 6, "color": "#1f77b4"},
            text=text,
            hovertemplate="%{text}<extra></extra>",
            name="messages",
            showlegend=False,
        )
    )
    fig.update_xaxes(
        tickvals=list(range(len(actors))),
        ticktext=actors,
        side="top",
        range=[-0.6, len(actors) - 0.4],
        showgrid=False,
    )
    fig.update_yaxes(visible=False, range=[-n - 1, 1])
    fig.update_layout(
        title={"text": f"Session {session_id}: {n} distinct messages", "font": {"size": 14}},
        height=max(320, 34 * n + 140),
        margin={"l": 20, "r": 20, "t": 90, "b": 20},
        template="plotly_white",
        hovermode="closest",
    )
    return fig


def _local_text(run: RunView, iso_utc: str) -> str:
    t = pd.Timestamp(iso_utc)
    t = t.tz_localize("UTC") if t.tzinfo is None else t
    return str(t.tz_convert(run.tz).strftime("%d %b %H:%M"))


def sgam_figure(
    flows: pd.DataFrame, places: Mapping[str, tuple[str, str]]
) -> tuple[Any, list[str]]:
    """Draw the EMSA/SGAM plane: domains × zones, each role placed, flows with their counts.

    Returns the figure and the roles of the trace that ``places`` does not place (left out).
    """
    go = _go()
    roles = sorted(set(flows["sender"]) | set(flows["receiver"]))
    placed = [r for r in roles if r in places]
    missing = [r for r in roles if r not in places]
    cell: dict[tuple[str, str], list[str]] = {}
    for r in placed:
        cell.setdefault(places[r], []).append(r)
    pos: dict[str, tuple[float, float]] = {}
    for (domain, zone), members in cell.items():
        cx, cy = DOMAINS.index(domain), ZONES.index(zone)
        for j, r in enumerate(members):
            off = (j - (len(members) - 1) / 2) * (0.8 / max(len(members), 1))
            pos[r] = (cx + off, cy + (0.12 if j % 2 else -0.12))
    fig = go.Figure()
    mx, my, mt = [], [], []
    for f in flows.itertuples(index=False):
        s, r = str(f.sender), str(f.receiver)
        if s not in pos or r not in pos:
            continue
        (x0, y0), (x1, y1) = pos[s], pos[r]
        n = int(str(f.n))
        width = 1.0 + math.log10(max(n, 1))
        if s == r:
            x1, y1 = x0 + 0.12, y0 + 0.25
        _arrow(fig, x0, y0, x1, y1, width=width, colour="rgba(31,119,180,0.6)")
        mx.append((x0 + x1) / 2)
        my.append((y0 + y1) / 2)
        mt.append(f"{s} → {r}: {n} messages (steps {f.steps})")
    fig.add_trace(
        go.Scatter(
            x=mx,
            y=my,
            mode="markers+text",
            text=[t.split(": ")[1].split(" ")[0] for t in mt],
            textfont={"size": 9, "color": "#1f77b4"},
            marker={"size": 4, "color": "#1f77b4"},
            hovertext=mt,
            hoverinfo="text",
            name="information flows (messages)",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[pos[r][0] for r in placed],
            y=[pos[r][1] for r in placed],
            mode="markers+text",
            text=placed,
            textposition="top center",
            marker={"size": 14, "color": "#ff7f0e", "line": {"color": "black", "width": 1}},
            hovertext=[f"{r}: {places[r][0]} / {places[r][1]}" for r in placed],
            hoverinfo="text",
            name="actors",
        )
    )
    for i in range(len(DOMAINS) + 1):
        fig.add_shape(
            type="line",
            x0=i - 0.5,
            x1=i - 0.5,
            y0=-0.5,
            y1=len(ZONES) - 0.5,
            line={"color": "#cccccc", "width": 1},
        )
    for j in range(len(ZONES) + 1):
        fig.add_shape(
            type="line",
            x0=-0.5,
            x1=len(DOMAINS) - 0.5,
            y0=j - 0.5,
            y1=j - 0.5,
            line={"color": "#cccccc", "width": 1},
        )
    fig.update_xaxes(
        tickvals=list(range(len(DOMAINS))),
        ticktext=list(DOMAINS),
        range=[-0.5, len(DOMAINS) - 0.5],
        showgrid=False,
        zeroline=False,
        title="EMSA domain",
    )
    fig.update_yaxes(
        tickvals=list(range(len(ZONES))),
        ticktext=list(ZONES),
        range=[-0.5, len(ZONES) - 0.5],
        showgrid=False,
        zeroline=False,
        title="EMSA zone",
    )
    fig.update_layout(
        title={
            "text": "EMSA/SGAM plane: actors and the run's information flows (counted)",
            "font": {"size": 14},
        },
        height=620,
        margin={"l": 90, "r": 20, "t": 40, "b": 60},
        template="plotly_white",
        hovermode="closest",
    )
    return fig, missing


# ------------------------------------------------------------------------------------ sections
def _fmt(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{v if abs(v) >= RESIDUE else 0.0:.4g}"


def kpi_table_html(rows: Sequence[KpiRow], *, label: str, base_label: str | None) -> str:
    """Return the KPI table: name, unit, (baseline,) value, (Δ,) definition."""
    head = ["KPI", "unit"]
    if base_label is not None:
        head += [f"baseline: {base_label}", label, "Δ (run − baseline)"]
    else:
        head += [label]
    head.append("definition")
    out = ['<table class="kpis"><thead><tr>']
    out += [f"<th>{html.escape(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for r in rows:
        cells = [f"<code>{html.escape(r.key)}</code>", html.escape(r.unit)]
        if base_label is not None:
            cells += [_fmt(r.baseline), _fmt(r.value)]
            cells.append(f"{r.delta:+.4g}" if r.delta is not None else "n/a")
        else:
            cells.append(_fmt(r.value))
        cells.append(html.escape(r.definition))
        attrs = f' data-kpi="{html.escape(r.key)}"'
        out.append(f"<tr{attrs}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def assumptions(scenario: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """``(key path, text)`` of every ``rationale``/``source``/``assumption``/``note`` string."""
    out: list[tuple[str, str]] = []
    for k, v in scenario.items():
        path = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out += assumptions(v, path)
        elif isinstance(v, str) and k in ("rationale", "source", "assumption", "note", "why"):
            out.append((path, v))
    return out


def summary_html(run: RunView, describe: str, baseline: RunView | None) -> str:
    """Scenario summary, the assumptions recorded in the scenario and its provenance."""
    s = run.scenario
    t = run.time
    tz = run.tz
    start_local = t.start.astimezone(tz)
    rows = [
        ("description", str(s.get("description", ""))),
        ("use case", run.use_case),
        ("what it holds", describe),
        ("strategy", str(run.kpis.get("strategy", "—"))),
        ("start", f"{start_local:%Y-%m-%d %H:%M} ({tz}, UTC{start_local:%z})"),
        ("duration", f"{t.duration_s / 3600:g} h in steps of {t.step_s} s"),
        ("scenario file", str(run.meta.get("scenario_file", ""))),
        ("seed", str(run.meta.get("seed", ""))),
        ("run folder", str(run.folder)),
        ("run wall time", f"{float(run.meta.get('wall_s') or 0.0):.1f} s"),
    ]
    if baseline is not None:
        rows.append(("baseline", f"{baseline.label} ({baseline.folder})"))
    parts = ['<table class="summary">']
    parts += [f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows if v]
    parts.append("</table>")
    notes = assumptions(s)
    kpi_notes = run.kpis.get("kpi_notes") or []
    if notes or kpi_notes:
        parts.append("<h3>Assumptions recorded with the scenario</h3><ul>")
        parts += [f"<li><code>{html.escape(k)}</code>: {html.escape(v)}</li>" for k, v in notes]
        parts += [f"<li>KPI note: {html.escape(str(n))}</li>" for n in kpi_notes]
        parts.append("</ul>")
    versions = run.meta.get("versions", {})
    if isinstance(versions, Mapping) and versions:
        parts.append("<details><summary>versions</summary><ul>")
        parts += [
            f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in versions.items()
        ]
        parts.append("</ul></details>")
    parts.append("<details><summary>the whole scenario (metadata.json)</summary><pre>")
    parts.append(html.escape(json.dumps(s, indent=2, sort_keys=True, default=str)))
    parts.append("</pre></details>")
    return "".join(parts)


def generic_sections(
    run: RunView,
    baseline: RunView | None,
    *,
    kpi_keys: Sequence[str],
    describe: str,
    bus_feeder: Mapping[str, str],
) -> list[Section]:
    """Summary, KPIs and the charts every run with a grid and charging sites has."""
    grid = run.table("grid")
    assert grid is not None  # read_view checked it
    base_grid = baseline.table("grid") if baseline is not None else None
    sections = [
        Section(
            "summary",
            "Scenario",
            (Panel("summary", "", html=summary_html(run, describe, baseline)),),
        ),
        Section(
            "kpis",
            "Key performance indicators",
            (
                Panel(
                    "kpi-table",
                    "",
                    html=kpi_table_html(
                        kpi_rows(run.kpis, kpi_keys, baseline.kpis if baseline else None),
                        label=run.label,
                        base_label=baseline.label if baseline else None,
                    ),
                    note="Units and definitions: the KPI vocabulary (README, KPI table).",
                ),
            ),
        ),
    ]
    limits = run.scenario.get("grid", {})
    v_min = float(limits.get("v_min_pu", 0.9)) if isinstance(limits, Mapping) else 0.9
    v_max = float(limits.get("v_max_pu", 1.1)) if isinstance(limits, Mapping) else 1.1
    sub = substation_data(grid)
    base_sub = substation_data(base_grid) if base_grid is not None else None
    grid_panels = [Panel("substation-power", "", substation_figure(run, sub, base_sub))]
    sections.append(Section("substation", "Substation", tuple(grid_panels)))
    envelopes = feeder_envelopes(grid, bus_feeder)
    if envelopes:
        sections.append(
            Section(
                "voltage",
                "Voltage per feeder",
                (
                    Panel(
                        "voltage-envelope",
                        "",
                        envelope_figure(run, grid["time"], envelopes, v_min, v_max),
                        note="Feeders from the voltage study's layout (v2xcosim study voltage).",
                    ),
                ),
            )
        )
    loads = loading_data(grid)
    if loads:
        line_limit = (
            float(limits.get("max_line_loading_percent", 100.0))
            if isinstance(limits, Mapping)
            else 100.0
        )
        trafo_limit = (
            float(limits.get("max_trafo_loading_percent", 100.0))
            if isinstance(limits, Mapping)
            else 100.0
        )
        sections.append(
            Section(
                "loading",
                "Line and transformer loading",
                (
                    Panel(
                        "loading",
                        "",
                        loading_figure(run, grid["time"], loads, (line_limit, trafo_limit)),
                    ),
                ),
            )
        )
    sites = run.site_tables()
    ev_panels: list[Panel] = []
    if sites:
        bands = soc_band_data(sites)
        time = next(iter(sites.values()))["time"]
        if any(np.isfinite(b).any() for b in bands.values()):
            ev_panels.append(Panel("soc-bands", "", soc_band_figure(run, time, bands)))
    sessions = run.table("sessions")
    if sessions is not None and {"status", "soc_wish", "soc_departure"} <= set(sessions.columns):
        dep = departure_data(sessions)
        if len(dep):
            ev_panels.append(Panel("departure-soc", "", departure_figure(dep)))
    if ev_panels:
        sections.append(Section("ev", "EVs", tuple(ev_panels)))
    if sites:
        power = site_power_data(sites)
        base_power = site_power_data(baseline.site_tables()) if baseline is not None else None
        time = next(iter(sites.values()))["time"]
        sections.append(
            Section(
                "sites",
                "Charging sites",
                (
                    Panel(
                        "site-power",
                        "",
                        lines_figure(
                            run,
                            time,
                            power,
                            "Charging-site AC power (+ charging, − V2G)",
                            "P [kW]",
                            base_power,
                        ),
                    ),
                ),
            )
        )
    return sections


def trace_sections(
    run: RunView,
    *,
    session: str | None,
    places: Mapping[str, tuple[str, str]],
    steps: Mapping[str, str],
) -> list[Section]:
    """Return the sequence chart of one session and the EMSA/SGAM plane (none without a trace).

    ``session``: the session to draw; None picks :func:`default_session`.  An unknown id is a
    :class:`ScenarioError` naming a few known ones.
    """
    trace = run.table("trace")
    if trace is None or not len(trace):
        return []
    sessions = run.table("sessions")
    ids = [str(s) for s in sessions["session_id"]] if sessions is not None else []
    out: list[Section] = []
    if session is not None and session not in ids:
        raise ScenarioError(
            f"--session {session!r}: no such session in {run.folder}/sessions.parquet; "
            f"known, e.g.: {', '.join(ids[:5])}"
        )
    chosen = session if session is not None else default_session(trace, ids)
    if chosen is not None:
        messages = sequence_messages(session_rows(trace, chosen))
        legend = "".join(
            f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>"
            for k, v in steps.items()
            if k in set(messages["step"].astype(str))
        )
        out.append(
            Section(
                "sequence",
                "Use-case sequence of one session",
                (
                    Panel(
                        "sequence",
                        "",
                        sequence_figure(run, messages, chosen),
                        note="Repeated messages are drawn once (×n, first … last time). "
                        "Steps:<ul>" + legend + "</ul>",
                    ),
                ),
                intro="Choose another session with --session ID (ids in sessions.parquet).",
            )
        )
    flows = sgam_flows(trace)
    if places and len(flows):
        fig, missing = sgam_figure(flows, places)
        note = "Actors placed by the use case (assumption, after the EMSA/SGAM domains and zones)."
        if missing:
            note += " Not placed (left out): " + ", ".join(html.escape(m) for m in missing) + "."
        out.append(Section("sgam", "EMSA/SGAM plane", (Panel("sgam", "", fig, note=note),)))
    return out


def merge_sections(generic: Sequence[Section], own: Sequence[Section]) -> list[Section]:
    """Merge a use case's sections into the generic ones.

    A use case's section replaces the generic one of the same key; new ones go before the
    trace sections (:data:`TRACE_KEYS`), in their order.  Sections without panels are dropped.
    """
    by_key = {s.key: s for s in own}
    out = [by_key.pop(s.key, s) for s in generic]
    new = [s for s in own if s.key in by_key]
    at = next((i for i, s in enumerate(out) if s.key in TRACE_KEYS), len(out))
    out[at:at] = new
    return [s for s in out if s.panels]


# ------------------------------------------------------------------------------------ render
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;
max-width:1200px;padding:0 16px 40px;color:#222}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-top:12px}
h3{font-size:15px}nav a{margin-right:12px;font-size:13px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
table.kpis td:nth-child(n+3){text-align:right;font-variant-numeric:tabular-nums}
table.kpis td:last-child{text-align:left;color:#555}
.note{font-size:12px;color:#555}pre{font-size:11px;max-height:400px;overflow:auto}
"""


def render(title: str, sections: Sequence[Section], *, subtitle: str = "") -> str:
    """Return the whole HTML page: plotly.js once, inline; a div per chart; no external URL."""
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    config = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "png"}}
    body: list[str] = []
    nav = " ".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
    for s in sections:
        body.append(f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2>')
        if s.intro:
            body.append(f'<p class="note">{html.escape(s.intro)}</p>')
        for p in s.panels:
            if p.title:
                body.append(f"<h3>{html.escape(p.title)}</h3>")
            if p.html:
                body.append(p.html)
            if p.figure is not None:
                body.append(
                    pio.to_html(
                        p.figure,
                        include_plotlyjs=False,
                        full_html=False,
                        div_id=f"chart-{p.key}",
                        config=config,
                    )
                )
            if p.note:
                body.append(f'<div class="note">{p.note}</div>')
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f'<h1>{html.escape(title)}</h1><p class="note">{html.escape(subtitle)}</p>'
        f"<nav>{nav}</nav>" + "".join(body) + "</body></html>\n"
    )


def write_report(path: Path, page: str) -> Path:
    """Write ``page`` to ``path`` atomically (temporary name, fsync, rename)."""
    atomic_write_bytes(path, page.encode("utf-8"))
    return path


__all__ = [
    "DOMAINS",
    "REPORT_NAME",
    "ZONES",
    "Envelope",
    "KpiRow",
    "Panel",
    "RunView",
    "Section",
    "SubstationData",
    "actor_role",
    "default_session",
    "departure_data",
    "feeder_envelopes",
    "figure_layout",
    "generic_sections",
    "kpi_rows",
    "kpi_table_html",
    "lines_figure",
    "loading_data",
    "merge_sections",
    "read_view",
    "render",
    "runs_of",
    "sequence_messages",
    "session_rows",
    "sgam_flows",
    "site_power_data",
    "soc_band_data",
    "substation_data",
    "trace_sections",
    "write_report",
]
