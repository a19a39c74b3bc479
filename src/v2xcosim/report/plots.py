"""PNG plots of a run: substation power, voltage envelope, EV state of charge, LV sites."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from v2xcosim.report.results import atomic_write_bytes, vector_columns


def _save(fig: object, path: Path) -> None:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    atomic_write_bytes(path, buf.getvalue())


def make_plots(
    frames: Mapping[str, pd.DataFrame], out_dir: Path, *, v_min_pu: float, v_max_pu: float
) -> list[Path]:
    """Write the plots into ``out_dir``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    grid = frames["grid"]
    t = grid["time"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(t, grid["p_slack_w"] / 1e3, label="substation P (+ import, − reverse flow)")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_ylabel("kW")
    ax.set_title("Power at the substation (slack)")
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    _save(fig, out_dir / "substation_power.png")
    written.append(out_dir / "substation_power.png")

    vm = vector_columns(grid, "vm_pu")
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.fill_between(t, vm.min(axis=1), vm.max(axis=1), alpha=0.4, label="min–max over buses")
    ax.axhline(v_min_pu, color="r", ls="--", lw=0.8)
    ax.axhline(v_max_pu, color="r", ls="--", lw=0.8, label="limits")
    ax.set_ylabel("voltage [pu]")
    ax.set_title("Voltage envelope")
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    _save(fig, out_dir / "voltage_envelope.png")
    written.append(out_dir / "voltage_envelope.png")

    sites = sorted(k for k in frames if k.startswith("site_"))
    if sites:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        for label in sites:
            frame = frames[label]
            soc = vector_columns(frame, "soc")
            for col in soc.columns:
                ax.plot(frame["time"], soc[col], lw=0.8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("SOC [-]")
        ax.set_title("EV state of charge")
        fig.autofmt_xdate()
        fig.tight_layout()
        _save(fig, out_dir / "ev_soc.png")
        written.append(out_dir / "ev_soc.png")
    return written


def make_lv_site_plot(
    grid: pd.DataFrame,
    feeders: Mapping[str, str],
    path: Path,
    *,
    v_max_pu: float,
    tz: dt.tzinfo | None = None,
) -> Path:
    """Plot per charging site its MV/LV transformer power and its feeder's maximum voltage.

    ``grid`` is the Terni grid table (columns ``p_lv_trafo_w__<site>``, W at the MV side,
    + = the LV feeder imports, and ``vm_lv_max_pu__<site>``); ``feeders`` maps site id → LV
    feeder name (legend).  Times are shown in ``tz`` (UTC if None).  Writes ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = pd.to_datetime(grid["time"], utc=True)
    tz_label = "UTC"
    if tz is not None:
        t = t.dt.tz_convert(tz)
        offset = t.iloc[0].utcoffset() if len(t) else None
        tz_label = str(tz) if offset is None else f"UTC{_fmt_offset(offset)}"
    t = t.dt.tz_localize(None)  # plot wall-clock times (matplotlib would format in UTC)
    fig, (ax_p, ax_v) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for site, feeder in sorted(feeders.items()):
        label = f"{site} ({feeder})"
        ax_p.plot(t, grid[f"p_lv_trafo_w__{site}"] / 1e3, label=label)
        ax_v.plot(t, grid[f"vm_lv_max_pu__{site}"], label=label)
    ax_p.axhline(0.0, color="k", lw=0.6)
    ax_p.set_ylabel("P MV/LV transformer [kW]\n(+ LV imports, − reverse flow to MV)")
    ax_p.set_title("Charging sites: secondary (MV/LV) transformer power")
    ax_p.legend(loc="best", fontsize=8)
    ax_v.axhline(v_max_pu, color="r", ls="--", lw=0.8, label=f"limit {v_max_pu:g} pu")
    ax_v.set_ylabel("max LV feeder voltage [pu]")
    ax_v.set_title("Charging sites: highest voltage on the LV feeder")
    ax_v.set_xlabel(f"time [{tz_label}]")
    ax_v.legend(loc="best", fontsize=8)
    if len(t) and t.iloc[-1] - t.iloc[0] <= pd.Timedelta(days=1):
        import matplotlib.dates as mdates

        fmt = mdates.DateFormatter("%H:%M")  # type: ignore[no-untyped-call]
        ax_v.xaxis.set_major_formatter(fmt)
    fig.autofmt_xdate()
    fig.tight_layout()
    _save(fig, path)
    return path


def _fmt_offset(offset: dt.timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
