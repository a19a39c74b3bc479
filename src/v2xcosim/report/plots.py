"""PNG plots of a run: substation power, voltage envelope, EV state of charge; helpers."""

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
    save_figure(fig, out_dir / "substation_power.png")
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
    save_figure(fig, out_dir / "voltage_envelope.png")
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
        save_figure(fig, out_dir / "ev_soc.png")
        written.append(out_dir / "ev_soc.png")
    return written


def fmt_offset(offset: dt.timedelta) -> str:
    """Format a UTC offset as ``+02:00``."""
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
