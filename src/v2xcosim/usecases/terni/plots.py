"""Terni's own plot: the charging sites' MV/LV transformers and LV feeder voltages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from v2xcosim.report.plots import local_axis, save_figure

MAX_LEGEND_SITES = 8
"""Most charging sites the plot names in a legend."""


def make_lv_site_plot(
    sites: Mapping[str, pd.DataFrame],
    feeders: Mapping[str, str],
    path: Path,
    *,
    v_max_pu: float,
    tz: dt.tzinfo | None = None,
) -> Path:
    """Plot per charging site its MV/LV transformer power and its feeder's maximum voltage.

    ``sites`` maps a site id to its table (columns ``time``, ``p_lv_trafo_w``, W at the MV side,
    + = the LV feeder imports, and ``vm_lv_max_pu``); ``feeders`` maps site id → LV feeder
    name (legend).  Times are shown in ``tz`` (UTC if None).  Writes ``path``.  Above
    :data:`MAX_LEGEND_SITES` sites the lines go without a per-site legend (it would cover the
    axes); ``kpis.json``'s ``lv_sites`` has each site's figures.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # wall-clock times, zone on the axis label (matplotlib would format in UTC)
    t, t_label = local_axis(next(iter(sites.values()))["time"], tz)
    fig, (ax_p, ax_v) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    few = len(feeders) <= MAX_LEGEND_SITES
    for site, feeder in sorted(feeders.items()):
        label = f"{site} ({feeder})" if few else None
        lw = 1.5 if few else 0.7
        ax_p.plot(t, sites[site]["p_lv_trafo_w"] / 1e3, label=label, lw=lw)
        ax_v.plot(t, sites[site]["vm_lv_max_pu"], label=label, lw=lw)
    ax_p.axhline(0.0, color="k", lw=0.6)
    ax_p.set_ylabel("P MV/LV transformer [kW]\n(+ LV imports, − reverse flow to MV)")
    every = "" if few else f" ({len(feeders)} sites, one line each)"
    ax_p.set_title(f"Charging sites: secondary (MV/LV) transformer power{every}")
    if few:
        ax_p.legend(loc="best", fontsize=8)
    ax_v.axhline(v_max_pu, color="r", ls="--", lw=0.8, label=f"limit {v_max_pu:g} pu")
    ax_v.set_ylabel("max LV feeder voltage [pu]")
    ax_v.set_title("Charging sites: highest voltage on the LV feeder")
    ax_v.set_xlabel(t_label)
    ax_v.legend(loc="best", fontsize=8)
    if len(t) and t.iloc[-1] - t.iloc[0] <= pd.Timedelta(days=1):
        import matplotlib.dates as mdates

        fmt = mdates.DateFormatter("%H:%M")  # type: ignore[no-untyped-call]
        ax_v.xaxis.set_major_formatter(fmt)
    fig.autofmt_xdate()
    fig.tight_layout()
    save_figure(fig, path)
    return path
