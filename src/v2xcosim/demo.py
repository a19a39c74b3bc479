"""``v2xcosim demo``: one EV charging and then discharging through its FMU.

Builds (or takes from the cache) the ``EV`` FMU, drives it with a charge/idle/discharge profile
at 60-s communication steps through the Co-Simulation interface, and writes a time series, a plot
and a summary into a fresh run folder.  The folder is assembled under a temporary name and renamed
when complete, so a folder with ``summary.json`` is always complete.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.io import check_writable_dir
from v2xcosim.fmu.build import build_fmu
from v2xcosim.fmu.registry import project_root
from v2xcosim.fmu.runtime import run_fmu

OUTPUTS = (
    "p_ac_w",
    "q_ac_var",
    "p_dc_w",
    "soc",
    "soh",
    "v_pack_v",
    "i_pack_a",
    "t_cell_k",
    "p_loss_charger_w",
    "p_loss_battery_w",
    "e_ac_j",
    "e_chem_j",
    "e_loss_j",
    "e_rc_j",
)


def profile_w(t_s: float, p_rated_w: float) -> float:
    """AC power setpoint (W, + = charging): 2 h charge, 15 min idle, 1 h discharge, idle."""
    if t_s < 7200.0:
        return p_rated_w
    if t_s < 8100.0:
        return 0.0
    if t_s < 11700.0:
        return -p_rated_w
    return 0.0


def simulate_one_ev(
    fmu: Path,
    *,
    p_rated_w: float = 11000.0,
    soc_start: float = 0.3,
    step_s: float = 60.0,
    horizon_s: float = 12600.0,
) -> dict[str, Any]:
    """Run the EV FMU over the demo profile; returns columns as numpy arrays."""
    n = round(horizon_s / step_s)
    cols: dict[str, Any] = {"t_s": np.arange(n + 1) * step_s, "p_set_w": np.zeros(n + 1)}
    for name in OUTPUTS:
        cols[name] = np.zeros(n + 1)
    with run_fmu(fmu) as r:
        r.initialize({"soc_start": soc_start, "vm_pu": 1.0, "f_hz": 50.0, "t_amb_k": 298.15})
        for k in range(n + 1):
            t = k * step_s
            p = profile_w(t, p_rated_w)
            r.set(["p_set_w"], [p])
            cols["p_set_w"][k] = p
            vals = r.get(list(OUTPUTS))
            for j, name in enumerate(OUTPUTS):
                cols[name][k] = vals[j]
            if k < n:
                r.do_step(step_s)
    return cols


def _plot(cols: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_h = cols["t_s"] / 3600.0
    fig, ax = plt.subplots(3, 1, figsize=(8, 8), sharex=True)
    ax[0].plot(t_h, cols["p_set_w"] / 1e3, "--", label="setpoint")
    ax[0].plot(t_h, cols["p_ac_w"] / 1e3, label="AC")
    ax[0].plot(t_h, cols["p_dc_w"] / 1e3, label="DC (battery)")
    ax[0].set_ylabel("power, kW (+ = charging)")
    ax[0].legend()
    ax[1].plot(t_h, cols["soc"])
    ax[1].set_ylabel("SOC (fraction)")
    ax[2].plot(t_h, cols["t_cell_k"] - 273.15)
    ax[2].set_ylabel("cell temperature, °C")
    ax[2].set_xlabel("time, h")
    fig.suptitle("v2xcosim demo: one EV through its FMU (60-s steps)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cmd_demo(args: argparse.Namespace) -> int:
    root = project_root()
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    out = Path(args.out) if args.out else root / "results" / f"demo-one-ev-{stamp}"
    check_writable_dir(out, "--out", reserve=len(".partial") + 1)  # + the .<name>.partial beside
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ScenarioError(f"output folder {out} exists and is not empty; choose another --out")
    fmu = build_fmu("EV")
    print(f"FMU: {fmu}")
    cols = simulate_one_ev(fmu)
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    import pandas as pd

    pd.DataFrame(cols).to_csv(tmp / "timeseries.csv", index=False)
    _plot(cols, tmp / "ev.png")
    e_ac_kwh = float(cols["e_ac_j"][-1] - cols["e_ac_j"][0]) / 3.6e6
    summary = {
        "fmu": str(fmu),
        "soc_start": float(cols["soc"][0]),
        "soc_max": float(np.max(cols["soc"])),
        "soc_end": float(cols["soc"][-1]),
        "ac_energy_net_kwh": e_ac_kwh,
        "losses_kwh": float(cols["e_loss_j"][-1] - cols["e_loss_j"][0]) / 3.6e6,
        "cell_temperature_max_c": float(np.max(cols["t_cell_k"]) - 273.15),
        "soh_end": float(cols["soh"][-1]),
    }
    (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        out.rmdir()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(out)
    print("one EV, 2 h charge at 11 kW, 15 min idle, 1 h V2G discharge at 11 kW (60-s steps):")
    for k, v in summary.items():
        if k != "fmu":
            print(f"  {k:28s} {v:.4f}")
    print(f"results: {out / 'timeseries.csv'}\nplot:    {out / 'ev.png'}")
    sys.stdout.flush()
    return 0


def register(sub: Any) -> None:
    """Add ``v2xcosim demo``."""
    p = sub.add_parser("demo", help="build the EV FMU and simulate one EV charging and discharging")
    p.add_argument("--out", help="run folder (default results/demo-one-ev-<UTC time>)")
    p.set_defaults(handler=_cmd_demo)
