"""Terni's own panels of the HTML report: the flexibility market and the LV charging sites.

The market panel reads what the run recorded: the DSO's requests and the placed offers from the
trace (steps ``D2`` and ``J4``, their ``info`` text ``request dso/r1: +0.383 MW`` and ``offer
emsp/o1: +0.0104 MW``), the awards from ``terni_awards.parquet`` and the settlement from
``settlement.parquet``.  The LV panel is the data of ``lv_sites.png`` (:mod:`.plots`): each
site's MV/LV transformer power and its feeder's highest voltage.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from v2xcosim.report.html import Panel, RunView, Section, lines_figure

SGAM_PLACES: Mapping[str, tuple[str, str]] = {
    "ev": ("EV", "process"),
    "evse": ("energy transfer", "field"),
    "cs_ems": ("energy transfer", "station"),
    "cpo": ("energy transfer", "operation"),
    "user": ("EV-user premises", "field"),
    "parking": ("EV-user premises", "station"),
    "emsp": ("EV-user premises", "enterprise"),
    "dso_forecast": ("energy conversion", "enterprise"),
    "dso": ("energy conversion", "operation"),
    "bess": ("energy conversion", "field"),
    "lfmp": ("energy conversion", "market"),
}
"""Trace role -> (EMSA domain, zone).  Assumption after the EMSA/SGAM layers of
``shared/design/use-cases.md``: the car's BMS in the process zone, EVSE and the user's device in
the field, the site's CS EMS at the station, CPO and DSO operations, EMSP and the DSO's
forecast service as enterprises, the LFMP in the market zone; the battery provider (``bess``)
is a field asset of the energy-conversion domain.  ``all`` (a market session opened to every
participant) has no place."""

_MW = re.compile(r"^(request|offer) (\S+): ([+-]?[0-9.eE+-]+) MW")


def market_messages(trace: pd.DataFrame) -> pd.DataFrame:
    """Return the requests (``D2``) and placed offers (``J4`` to the LFMP) [MW].

    Columns: ``time_utc``, ``kind`` (request/offer), ``id``, ``sender``, ``p_mw``.
    """
    rows = []
    sel = trace[trace["step"].isin(["D2", "J4"]) & (trace["receiver"] == "lfmp")]
    for t, sender, info in zip(sel["time_utc"], sel["sender"], sel["info"], strict=True):
        m = _MW.match(str(info))
        if m:
            rows.append((t, m.group(1), m.group(2), str(sender), float(m.group(3))))
    return pd.DataFrame(rows, columns=["time_utc", "kind", "id", "sender", "p_mw"])


def _market_figure(run: RunView, msgs: pd.DataFrame, awards: pd.DataFrame | None) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    label = "time"
    for kind, symbol in (("request", "diamond"), ("offer", "circle")):
        sel = msgs[msgs["kind"] == kind]
        if len(sel):
            t, label = run.local(pd.to_datetime(sel["time_utc"], utc=True))
            fig.add_trace(
                go.Scatter(
                    x=t,
                    y=sel["p_mw"],
                    mode="markers",
                    marker={"symbol": symbol, "size": 9},
                    name=f"{kind}s ({len(sel)})",
                    text=[f"{i} by {s}" for i, s in zip(sel["id"], sel["sender"], strict=True)],
                    hovertemplate="%{text}: %{y:.4f} MW<extra></extra>",
                )
            )
    if awards is not None and len(awards):
        t, label = run.local(pd.to_datetime(awards["start_utc"], utc=True))
        fig.add_trace(
            go.Bar(
                x=t,
                y=awards["p_mw"],
                name=f"awards ({len(awards)}), delivery interval start",
                text=awards["provider_id"],
                hovertemplate="%{text}: %{y:.4f} MW<extra></extra>",
                opacity=0.6,
            )
        )
    fig.update_layout(
        title={"text": "Flexibility market: requests, offers (when placed) and awards"},
        xaxis_title=label,
        yaxis_title="flexibility [MW]",
        height=360,
        template="plotly_white",
        hovermode="closest",
        margin={"l": 60, "r": 20, "t": 40, "b": 50},
    )
    return fig


def _settlement_figure(run: RunView, settlement: pd.DataFrame) -> Any:
    import plotly.graph_objects as go

    t, label = run.local(pd.to_datetime(settlement["interval_start_utc"], utc=True))
    fig = go.Figure()
    who = [
        f"{a} ({p})" for a, p in zip(settlement["award_id"], settlement["provider_id"], strict=True)
    ]
    fig.add_trace(go.Bar(x=t, y=settlement["promised_mwh"], name="promised [MWh]", text=who))
    fig.add_trace(go.Bar(x=t, y=settlement["delivered_mwh"], name="delivered [MWh]", text=who))
    fig.add_trace(
        go.Scatter(
            x=t,
            y=settlement["amount_eur"],
            name="paid [EUR] (right axis)",
            mode="markers",
            yaxis="y2",
            text=who,
        )
    )
    fig.update_layout(
        title={
            "text": f"Settlement: {len(settlement)} awards, "
            f"{float(settlement['amount_eur'].sum()):.2f} EUR paid"
        },
        xaxis_title=label,
        yaxis_title="energy [MWh]",
        yaxis2={"title": "EUR", "overlaying": "y", "side": "right"},
        barmode="group",
        height=360,
        template="plotly_white",
        margin={"l": 60, "r": 60, "t": 40, "b": 50},
    )
    return fig


def _provider_table(kpis: Mapping[str, Any]) -> str:
    by = kpis.get("flex_by_provider") or {}
    if not isinstance(by, Mapping) or not by:
        return ""
    cols = ["offers", "awards", "matched_mwh", "delivered_mwh", "payments_eur"]
    out = ["<table><tr><th>provider</th>", *[f"<th>{c}</th>" for c in cols], "</tr>"]
    for name, row in sorted(by.items()):
        cells = "".join(f"<td>{float(row[c]):.4g}</td>" if c in row else "<td>—</td>" for c in cols)
        out.append(f"<tr><td>{html.escape(str(name))}</td>{cells}</tr>")
    out.append("</table>")
    return "".join(out)


def report_sections(run: RunView, baseline: RunView | None) -> list[Section]:
    """Return the market and LV-site sections (each left out when the run has none)."""
    sections: list[Section] = []
    trace = run.table("trace")
    awards = run.table("terni_awards")
    settlement = run.table("settlement")
    panels: list[Panel] = []
    msgs = (
        market_messages(trace)
        if trace is not None
        else market_messages(
            pd.DataFrame(columns=["time_utc", "step", "sender", "receiver", "info"])
        )
    )
    if len(msgs) or (awards is not None and len(awards)):
        panels.append(Panel("market", "", _market_figure(run, msgs, awards)))
    if settlement is not None and len(settlement):
        panels.append(
            Panel(
                "settlement",
                "",
                _settlement_figure(run, settlement),
                html=_provider_table(run.kpis),
                note="Delivered = clip(metered − baseline, 0, promised) (flex_delivered_mwh).",
            )
        )
    if panels:
        sections.append(Section("market", "Flexibility market and settlement", tuple(panels)))
    sites = run.site_tables()
    trafo = {
        s: f["p_lv_trafo_w"].to_numpy(dtype=float) / 1e3
        for s, f in sites.items()
        if "p_lv_trafo_w" in f.columns
    }
    vmax = {
        s: f["vm_lv_max_pu"].to_numpy(dtype=float)
        for s, f in sites.items()
        if "vm_lv_max_pu" in f.columns
    }
    if trafo:
        time = next(iter(sites.values()))["time"]
        lv = [
            Panel(
                "lv-trafo",
                "",
                lines_figure(
                    run,
                    time,
                    trafo,
                    "Charging sites: MV/LV transformer power (+ LV imports)",
                    "P [kW]",
                ),
            )
        ]
        if vmax and any(np.isfinite(v).any() for v in vmax.values()):
            lv.append(
                Panel(
                    "lv-voltage",
                    "",
                    lines_figure(
                        run,
                        time,
                        vmax,
                        "Charging sites: highest voltage on the LV feeder",
                        "V [pu]",
                    ),
                )
            )
        sections.append(Section("lv-sites", "LV feeders of the charging sites", tuple(lv)))
    return sections


__all__ = ["SGAM_PLACES", "market_messages", "report_sections"]
