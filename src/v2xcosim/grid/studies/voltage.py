"""Voltage study computations: statistics, EN 50160 per week, reverse flow, loadings, feeders.

Plain functions on a run's grid table (columns ``vm_pu[<bus>]``, ``p_trafo_hv_w[<trafo>]``,
``line_loading_percent[<line>]``, ``trafo_loading_percent[<trafo>]``, one row per step, NaN
where the power flow did not converge) and on its pandapower network; no files, no plots.

EN 50160 (supply voltage variations, judged on 10-minute mean r.m.s. values per week; the rules
as collected in the project's design notes, ``shared/design/data-facts.md``, "Grid codes and
limits"):

* **LV** (nominal ≤ 1 kV): at least 95 % of the 10-min means of each week within ±10 % of the
  nominal voltage, and every 10-min mean within +10 % / −15 %;
* **MV** (nominal > 1 kV): at least 99 % of the 10-min means of each week within ±10 %.

A bus's nominal voltage is its ``vn_kv`` in the network (``vm_pu`` is relative to it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

TEN_MINUTES_S = 600
"""EN 50160's averaging interval of the supply voltage [s]."""
WEEK_S = 7 * 86400
"""EN 50160's assessment period [s]."""
LV_MAX_KV = 1.0
"""A bus of this nominal voltage or less follows the LV rules, above it the MV rules."""
PERCENTILES: tuple[int, ...] = (1, 5, 50, 95, 99)
"""Percentiles of every bus voltage and loading statistic."""
NOT_ASSESSABLE = "not assessable at this step"
"""The EN 50160 verdict and values when the run's step is longer than 10 minutes."""
NO_VALUES = "no 10-min values"
"""The EN 50160 verdict of a period without one complete, converged 10-min window."""
_EPS = 1e-9  # a 10-min mean exactly on a limit (1.1 pu) is inside the band


@dataclass(frozen=True)
class En50160Rule:
    """The voltage-variation rule of one voltage level (see the module docstring).

    ``band_pu`` the ±band around nominal; ``required_share`` the share of a week's 10-min means
    that must lie in it; ``hard_min_pu``/``hard_max_pu`` the limits every 10-min mean must keep
    (None: no such limit).
    """

    level: str
    required_share: float
    band_pu: float = 0.10
    hard_min_pu: float | None = None
    hard_max_pu: float | None = None

    def describe(self) -> str:
        """Return the rule in one line, e.g. ``≥ 95 % within ±10 %; all within +10/−15 %``."""
        text = f"≥ {self.required_share * 100:g} % within ±{self.band_pu * 100:g} %"
        if self.hard_min_pu is not None and self.hard_max_pu is not None:
            up = (self.hard_max_pu - 1.0) * 100
            down = (1.0 - self.hard_min_pu) * 100
            text += f"; all within +{up:.0f}/−{down:.0f} %"
        return text


INDICATIVE = "compliant over a partial week (indicative)"
"""The verdict of a period shorter than a week whose 10-min means meet the rule: EN 50160
judges whole weeks, so a shorter span can only indicate compliance."""


LV_RULE = En50160Rule("LV", required_share=0.95, hard_min_pu=0.85, hard_max_pu=1.10)
"""EN 50160 for LV buses."""
MV_RULE = En50160Rule("MV", required_share=0.99, hard_min_pu=0.85, hard_max_pu=1.10)
"""EN 50160:2010 for MV buses (supply voltage variations): 99 % of a week's 10-min means
within ±10 % and all of them within +10/−15 % (applied, for want of another rule here, to
every bus above 1 kV)."""


def rule_for(vn_kv: float) -> En50160Rule:
    """Return the EN 50160 rule of a bus of nominal voltage ``vn_kv`` [kV]."""
    return LV_RULE if vn_kv <= LV_MAX_KV else MV_RULE


def vector(frame: pd.DataFrame, attr: str) -> pd.DataFrame:
    """Return the columns ``attr[<name>]`` of ``frame`` renamed to ``<name>``, indexed by time."""
    prefix = f"{attr}["
    cols = [c for c in frame.columns if c.startswith(prefix) and c.endswith("]")]
    out = frame[cols].astype(float)
    out.columns = [c[len(prefix) : -1] for c in cols]
    if "time" in frame.columns:
        out.index = pd.DatetimeIndex(frame["time"])
    return out


# --------------------------------------------------------------------------- statistics
def percentile_name(q: float) -> str:
    """Column name of percentile ``q``: ``p1``, ``p50``, ..."""
    return f"p{q:g}"


def describe(frame: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Per column of ``frame`` (steps × elements): min, percentiles, max, mean; NaN skipped.

    Columns are named ``min_<unit>``, ``p1_<unit>``, ... ``max_<unit>``, ``mean_<unit>``, and
    ``steps`` counts the finite values.  A column without any finite value gives NaN.
    """
    values = frame.to_numpy(dtype=float)
    finite = np.isfinite(values)
    rows: dict[str, Any] = {"steps": finite.sum(axis=0)}
    with np.errstate(all="ignore"):
        masked = np.where(finite, values, np.nan)
        has = finite.any(axis=0)
        safe = np.where(has[None, :], masked, 0.0)
        rows[f"min_{unit}"] = np.where(has, np.nanmin(safe, axis=0), np.nan)
        for q in PERCENTILES:
            rows[f"{percentile_name(q)}_{unit}"] = np.where(
                has, np.nanpercentile(safe, q, axis=0), np.nan
            )
        rows[f"max_{unit}"] = np.where(has, np.nanmax(safe, axis=0), np.nan)
        rows[f"mean_{unit}"] = np.where(has, np.nanmean(safe, axis=0), np.nan)
    return pd.DataFrame(rows, index=pd.Index(frame.columns, name="element"))


def window_steps(step_s: int) -> int:
    """Return the steps per 10-min window, ``ceil(600 / step_s)`` (EN 50160 needs ≤ 600 s)."""
    return max(1, math.ceil(TEN_MINUTES_S / step_s))


def assessable(step_s: int) -> bool:
    """Whether 10-min means (and so EN 50160) can be formed from steps of ``step_s`` seconds."""
    return step_s <= TEN_MINUTES_S


def ten_minute_means(vm: pd.DataFrame, step_s: int) -> pd.DataFrame | None:
    """10-minute means of step voltages ``vm`` (rows = steps from the run's start, by time).

    A window is :func:`window_steps` consecutive steps counted from the first step (as
    :func:`v2xcosim.report.kpis.voltage_violation_bus_hours` does); a last, incomplete window is
    dropped and a window holding a NaN step (no power-flow result) has no mean (NaN).  The
    index is each window's start.  None when ``step_s`` > 600 s: not assessable.
    """
    if not assessable(step_s):
        return None
    w = window_steps(step_s)
    n = len(vm) // w
    values = vm.to_numpy(dtype=float)[: n * w].reshape(n, w, vm.shape[1])
    means = values.mean(axis=1)  # NaN anywhere in a window -> NaN, without a warning
    return pd.DataFrame(means, index=vm.index[: n * w : w], columns=vm.columns)


def periods(start: pd.Timestamp, span_s: float) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Consecutive weeks from ``start`` covering ``span_s`` seconds; the last may be shorter."""
    out: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    k = 0
    while k * WEEK_S < span_s or not out:
        a = start + pd.Timedelta(seconds=k * WEEK_S)
        b = start + pd.Timedelta(seconds=min((k + 1) * WEEK_S, span_s))
        out.append((a, b))
        k += 1
    return out


def en50160(
    means: pd.DataFrame | None,
    vn_kv: Mapping[str, float],
    *,
    start: pd.Timestamp,
    span_s: float,
) -> pd.DataFrame:
    """EN 50160 voltage-variation verdict per bus and week (one row each).

    ``means`` are the 10-min means (:func:`ten_minute_means`; None: the step is too long),
    ``vn_kv`` each bus's nominal voltage, ``start``/``span_s`` the simulated time.  Weeks run
    from ``start``; a run (or a last week) shorter than a week is assessed over its span and
    flagged (``full_week`` false).  Columns: ``bus``, ``level``, ``rule``, ``week``,
    ``period_start``, ``period_end``, ``span_h``, ``full_week``, ``values_10min``,
    ``share_within_10pct`` [%], ``min_10min_pu``, ``max_10min_pu``, ``verdict``
    (``compliant``, ``violated``, :data:`INDICATIVE` for a period shorter than a week,
    :data:`NOT_ASSESSABLE` or :data:`NO_VALUES`).  Without
    ``means`` the numeric EN 50160 columns hold :data:`NOT_ASSESSABLE` as well.
    """
    rows: list[dict[str, Any]] = []
    weeks = periods(start, span_s)
    for bus, kv in vn_kv.items():
        rule = rule_for(float(kv))
        for k, (a, b) in enumerate(weeks, start=1):
            row: dict[str, Any] = {
                "bus": bus,
                "level": rule.level,
                "rule": rule.describe(),
                "week": k,
                "period_start": a.isoformat(),
                "period_end": b.isoformat(),
                "span_h": (b - a).total_seconds() / 3600.0,
                "full_week": (b - a).total_seconds() >= WEEK_S,
            }
            if means is None:
                row.update(
                    values_10min=NOT_ASSESSABLE,
                    share_within_10pct=NOT_ASSESSABLE,
                    min_10min_pu=NOT_ASSESSABLE,
                    max_10min_pu=NOT_ASSESSABLE,
                    verdict=NOT_ASSESSABLE,
                )
            else:
                col = means[bus]
                in_period = (col.index >= a) & (col.index < b)
                v = col.to_numpy(dtype=float)[in_period]
                row.update(judge(v[np.isfinite(v)], rule))
                if row["verdict"] == "compliant" and not row["full_week"]:
                    row["verdict"] = INDICATIVE  # a share of less than a week proves no week
            rows.append(row)
    return pd.DataFrame(rows)


def judge(values: np.ndarray[Any, np.dtype[np.float64]], rule: En50160Rule) -> dict[str, Any]:
    """Judge one bus-week of finite 10-min means [pu] by ``rule``."""
    n = int(values.size)
    if not n:
        return {
            "values_10min": 0,
            "share_within_10pct": math.nan,
            "min_10min_pu": math.nan,
            "max_10min_pu": math.nan,
            "verdict": NO_VALUES,
        }
    inside = (values >= 1.0 - rule.band_pu - _EPS) & (values <= 1.0 + rule.band_pu + _EPS)
    share = float(inside.sum()) / n
    ok = share >= rule.required_share
    if rule.hard_min_pu is not None:
        ok = ok and bool((values >= rule.hard_min_pu - _EPS).all())
    if rule.hard_max_pu is not None:
        ok = ok and bool((values <= rule.hard_max_pu + _EPS).all())
    return {
        "values_10min": n,
        "share_within_10pct": share * 100.0,
        "min_10min_pu": float(values.min()),
        "max_10min_pu": float(values.max()),
        "verdict": "compliant" if ok else "violated",
    }


def worst_verdict(verdicts: Iterable[str]) -> str:
    """One verdict of several weeks: violated > no values > not assessable > indicative > ok."""
    seen = set(verdicts)
    for v in ("violated", NO_VALUES, NOT_ASSESSABLE, INDICATIVE, "compliant"):
        if v in seen:
            return v
    return NO_VALUES


# --------------------------------------------------------------------- flows and loadings
def trafo_flows(p_w: pd.DataFrame, step_s: int) -> pd.DataFrame:
    """Reverse flow per transformer from its HV-side active power [W, + = the LV side imports].

    ``reverse_flow_hours``: steps with P < 0 × step; ``reverse_flow_share_pct`` of the steps
    with a result; ``reverse_flow_energy_mwh`` Σ max(−P, 0) × Δt; ``reverse_flow_peak_mw``;
    ``import_energy_mwh`` and ``import_peak_mw`` likewise for P > 0.  NaN steps count nowhere.
    """
    p = p_w.to_numpy(dtype=float)
    finite = np.isfinite(p)
    with np.errstate(invalid="ignore"):
        rev = np.where(finite, np.clip(-p, 0.0, None), 0.0)
        imp = np.where(finite, np.clip(p, 0.0, None), 0.0)
    n_rev = (rev > 0.0).sum(axis=0)
    n_ok = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_ok > 0, n_rev / np.maximum(n_ok, 1) * 100.0, np.nan)
    return pd.DataFrame(
        {
            "reverse_flow_hours": n_rev * step_s / 3600.0,
            "reverse_flow_share_pct": share,
            "reverse_flow_energy_mwh": rev.sum(axis=0) * step_s / 3.6e9,
            "reverse_flow_peak_mw": rev.max(axis=0, initial=0.0) / 1e6,
            "import_energy_mwh": imp.sum(axis=0) * step_s / 3.6e9,
            "import_peak_mw": imp.max(axis=0, initial=0.0) / 1e6,
        },
        index=pd.Index(p_w.columns, name="trafo"),
    )


def loading_statistics(loading_pct: pd.DataFrame, step_s: int, limit_pct: float) -> pd.DataFrame:
    """Return loading statistics per element [%] and the hours above ``limit_pct``."""
    stats = describe(loading_pct, "pct")
    values = loading_pct.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        above = (values > limit_pct).sum(axis=0)
    stats["limit_pct"] = limit_pct
    stats["hours_above_limit"] = above * step_s / 3600.0
    return stats


def duration_curve(frame: pd.DataFrame) -> pd.DataFrame:
    """Each column sorted from its largest value down (NaN last) against the share of time.

    Row k holds the (k+1)-th largest value; ``share_of_time_pct`` = (k + 1) / steps × 100 is the
    share of the steps at which the value is reached or exceeded.
    """
    n = len(frame)
    data = {c: np.sort(frame[c].to_numpy(dtype=float))[::-1] for c in frame.columns}
    for c, v in data.items():  # np.sort puts NaN last; reversed it comes first: move it back
        finite = v[np.isfinite(v)]
        data[c] = np.concatenate([finite, np.full(n - finite.size, np.nan)])
    out = pd.DataFrame(data)
    out.index = pd.Index((np.arange(n) + 1) / max(n, 1) * 100.0, name="share_of_time_pct")
    return out


# -------------------------------------------------------------------------------- feeders
@dataclass(frozen=True)
class FeederLayout:
    """Where every bus and line sits: substation, feeder and distance from the substation.

    ``buses`` (index = bus name): ``vn_kv``, ``substation`` (the bus the network part is fed
    from: a transformer's LV bus or the external grid's bus), ``feeder`` (the line leaving the
    substation that feeds the bus; empty at the substation itself), ``distance_km`` (shortest
    path along in-service lines and closed switches).  ``lines`` (index = line name):
    ``from_bus``, ``to_bus``, ``substation``, ``feeder``.  A bus no substation reaches has NaN.
    """

    buses: pd.DataFrame
    lines: pd.DataFrame


def feeder_layout(net: Any) -> FeederLayout:
    """Compute the :class:`FeederLayout` of a pandapower network (pandapower's topology tools).

    The graph holds the in-service lines (weight = length in km) and closed bus-bus switches
    (weight 0), no transformers: each connected part is one voltage level behind one
    substation.  Its roots are the LV buses of in-service transformers and the external grids'
    buses; a bus belongs to its nearest root.  The substation is the root and every bus at
    distance 0 from it (a busbar with its couplers); each group of buses that stays connected
    without the substation is one feeder, named after the line that connects it to the
    substation.
    """
    import pandapower.topology as top

    names = net.bus["name"].astype(str)
    g = top.create_nxgraph(
        net,
        respect_switches=True,
        include_trafos=False,
        include_trafo3ws=False,
        include_impedances=False,
        include_dclines=False,
        include_tcsc=False,
        include_vsc=False,
        include_line_dc=False,
        multi=True,
    )
    roots: list[int] = []
    trafo = net.trafo[net.trafo["in_service"].astype(bool)]
    roots += [int(b) for b in trafo["lv_bus"]]
    if "trafo3w" in net and len(net.trafo3w):
        t3 = net.trafo3w[net.trafo3w["in_service"].astype(bool)]
        roots += [int(b) for b in t3["mv_bus"]] + [int(b) for b in t3["lv_bus"]]
    ext = net.ext_grid[net.ext_grid["in_service"].astype(bool)]
    roots += [int(b) for b in ext["bus"]]
    roots = list(dict.fromkeys(roots))
    live = set(int(b) for b in net.bus.index[net.bus["in_service"].astype(bool)])

    distance: dict[int, float] = {}
    root_of: dict[int, int] = {}
    for r in roots:
        if r not in live:
            continue
        for node, d in top.calc_distance_to_bus(net, r, g=g).items():
            b = int(node)
            if b in live and (b not in distance or float(d) < distance[b]):
                distance[b], root_of[b] = float(d), r
    feeder_of: dict[int, str] = {}
    line_from = net.line["from_bus"].astype(int)
    line_to = net.line["to_bus"].astype(int)
    line_on = net.line["in_service"].astype(bool)
    for r in sorted(set(root_of.values())):
        own = {b for b, x in root_of.items() if x == r}
        station = {b for b in own if distance[b] <= 0.0}
        rest = own - station
        if not rest:
            continue
        for nodes in top.connected_components(g.subgraph(rest)):
            part = {int(x) for x in nodes}
            links = sorted(
                str(net.line.at[i, "name"])
                for i in net.line.index[line_on]
                if (line_from[i] in station and line_to[i] in part)
                or (line_to[i] in station and line_from[i] in part)
            )
            label = links[0] if links else f"from {names[min(part)]}"
            for x in part:
                feeder_of[x] = label

    bus_rows = []
    for idx in net.bus.index:
        b = int(idx)
        root = root_of.get(b)
        bus_rows.append(
            {
                "bus": names[b],
                "vn_kv": float(net.bus.at[b, "vn_kv"]),
                "substation": names[root] if root is not None else "",
                "feeder": feeder_of.get(b, ""),
                "distance_km": distance.get(b, math.nan),
            }
        )
    buses = pd.DataFrame(bus_rows).set_index("bus")
    line_rows = []
    for i in net.line.index[line_on]:
        f, t = int(line_from[i]), int(line_to[i])
        if f not in root_of or t not in root_of:
            continue
        line_rows.append(
            {
                "line": str(net.line.at[i, "name"]),
                "from_bus": names[f],
                "to_bus": names[t],
                "substation": names[root_of[f]],
                "feeder": feeder_of.get(f) or feeder_of.get(t, ""),
            }
        )
    lines = pd.DataFrame(
        line_rows, columns=["line", "from_bus", "to_bus", "substation", "feeder"]
    ).set_index("line")
    return FeederLayout(buses=buses, lines=lines)


def substations_with_feeders(layout: FeederLayout) -> list[str]:
    """Names of the substations with at least one line behind them, in network order."""
    seen = layout.lines["substation"].tolist()
    return list(dict.fromkeys(seen))


def nominal_kv(net: Any, buses: Sequence[str]) -> dict[str, float]:
    """Nominal voltage [kV] of each bus in ``buses`` (by name)."""
    kv = dict(zip(net.bus["name"].astype(str), net.bus["vn_kv"].astype(float), strict=True))
    return {b: kv[b] for b in buses}


__all__ = [
    "INDICATIVE",
    "LV_MAX_KV",
    "LV_RULE",
    "MV_RULE",
    "NOT_ASSESSABLE",
    "NO_VALUES",
    "PERCENTILES",
    "TEN_MINUTES_S",
    "WEEK_S",
    "En50160Rule",
    "FeederLayout",
    "assessable",
    "describe",
    "duration_curve",
    "en50160",
    "feeder_layout",
    "judge",
    "loading_statistics",
    "nominal_kv",
    "periods",
    "rule_for",
    "substations_with_feeders",
    "ten_minute_means",
    "trafo_flows",
    "vector",
    "window_steps",
    "worst_verdict",
]
