"""PNG plots of a run: substation power, voltage envelope, EV state of charge; helpers.

Times are shown in the scenario's local time (``time.timezone``) with the zone and its UTC
offset on the axis label (:func:`local_axis`).  The SOC plot shows a vehicle slot only while a
session is plugged in when the site table says so (columns ``plugged[<slot>]``, 1/0): a slot's
SOC is NaN outside its stays, so slots never plugged in draw nothing.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from v2xcosim.core.io import atomic_write_bytes
from v2xcosim.report.results import vector_columns


def save_figure(fig: object, path: Path) -> None:
    """Write ``fig`` as PNG to ``path`` atomically and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    atomic_write_bytes(path, buf.getvalue())


def local_axis(time: pd.Series, tz: dt.tzinfo | None) -> tuple[pd.Series, str]:
    """Wall-clock times of ``time`` (UTC) in ``tz`` (naive, for matplotlib) and an axis label.

    The label names the zone and the UTC offset of the first time, e.g.
    ``time [Europe/Rome, UTC+02:00]``; ``tz`` None keeps UTC.
    """
    t = pd.to_datetime(time, utc=True)
    label = "UTC"
    if tz is not None:
        t = t.dt.tz_convert(tz)
        offset = t.iloc[0].utcoffset() if len(t) else None
        label = str(tz) if offset is None else f"{tz}, UTC{fmt_offset(offset)}"
    return t.dt.tz_localize(None), f"time [{label}]"


def masked_soc(frame: pd.DataFrame) -> pd.DataFrame:
    """SOC columns of a site table, NaN where the slot's ``plugged[...]`` column is 0."""
    soc = vector_columns(frame, "soc")
    plugged = vector_columns(frame, "plugged")
    if plugged.shape[1] != soc.shape[1]:
        return soc
    return soc.where(plugged.to_numpy() > 0.5)


def make_plots(
    frames: Mapping[str, pd.DataFrame],
    out_dir: Path,
    *,
    v_min_pu: float,
    v_max_pu: float,
    tz: dt.tzinfo | None = None,
) -> list[Path]:
    """Write the plots into ``out_dir`` (times in ``tz``, UTC if None); return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    grid = frames["grid"]
    t, t_label = local_axis(grid["time"], tz)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(t, grid["p_slack_w"] / 1e3, label="substation P (+ import, − reverse flow)")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_ylabel("kW")
    ax.set_title("Power at the substation (slack)")
    ax.set_xlabel(t_label)
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    save_figure(fig, out_dir / "substation_power.png")
    written.append(out_dir / "substation_power.png")

    vm = vector_columns(grid, "vm_pu")
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.fill_between(t, vm.min(axis=1), vm.max(axis=1), alpha=0.4, label="min–max over buses")
    ax.axhline(v_min_pu, color="r", ls="--", lw=0.8)
    ax.axhline(v_max_pu, color="r", ls="--", lw=0.8, label="limits")
    ax.set_ylabel("voltage [pu]")
    ax.set_title("Voltage envelope")
    ax.set_xlabel(t_label)
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    save_figure(fig, out_dir / "voltage_envelope.png")
    written.append(out_dir / "voltage_envelope.png")

    sites = sorted(k for k in frames if k.startswith("site_"))
    if sites:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        for label in sites:
            frame = frames[label]
            soc = masked_soc(frame)
            t_site, _ = local_axis(frame["time"], tz)
            for col in soc.columns:
                if soc[col].notna().any():
                    ax.plot(t_site, soc[col], lw=0.8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("SOC [-]")
        ax.set_title("EV state of charge (while plugged in)")
        ax.set_xlabel(t_label)
        fig.autofmt_xdate()
        fig.tight_layout()
        save_figure(fig, out_dir / "ev_soc.png")
        written.append(out_dir / "ev_soc.png")
    return written


def fmt_offset(offset: dt.timedelta) -> str:
    """Format a UTC offset as ``+02:00``."""
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
