"""Helpers to compare the project's FMUs with rumoca's own simulation of the same Modelica source.

The harness models in tests/data/oracle drive a model's inputs with 60-s steps (their headers give
the formulas, recomputed here).  rumoca's ``Model.simulate`` cannot take time-varying inputs in
0.10.2, hence the harnesses; it also returns two samples at each event time (before and after):
:func:`rumoca_run` keeps the last one, and comparisons of algebraic outputs use mid-step times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import rumoca

from v2xcosim.fmu.runtime import run_fmu

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
ORACLE = Path(__file__).parent / "data" / "oracle"

S = (1.0, 0.5, -1.0, 0.0, -0.5, 0.25)  # active power factor per 6-step cycle
C = (0.5, -0.5, 0.0, 0.5, -1.0, 0.0)  # reactive power factor
U = (0.0, 1.0, -1.0, 0.5, -0.5)  # voltage factor (charger harness), 5-step cycle
G = (0.0, 1.0, -1.0, 0.5)  # frequency factor (charger harness), 4-step cycle


def ev_inputs(k: int) -> dict[str, float]:
    """Inputs of V2X_Oracle_EV / V2X_Oracle_EVDetailed during step k (t in [60k, 60k+60))."""
    j = k % 6
    return {
        "p_set_w": 11000.0 * S[j],
        "q_set_var": 5000.0 * C[j],
        "vm_pu": 1.0,
        "f_hz": 50.0,
        "t_amb_k": 298.15,
    }


def battery_inputs(k: int) -> dict[str, float]:
    """Inputs of V2X_Oracle_Battery during step k."""
    return {"p_dc_w": 11000.0 * S[k % 6], "t_amb_k": 298.15}


def charger_inputs(k: int) -> dict[str, float]:
    """Inputs of V2X_Oracle_Charger during step k."""
    j = k % 6
    return {
        "p_set_w": 11000.0 * S[j],
        "q_set_var": 5000.0 * C[j],
        "vm_pu": 1.0 + 0.08 * U[k % 5],
        "f_hz": 50.0 + 0.6 * G[k % 4],
        "v_dc_v": 360.0,
        "p_lim_charge_w": 1e6,
        "p_lim_discharge_w": 1e6,
    }


def terminal_inputs(k: int) -> dict[str, float]:
    """Inputs of V2X_Oracle_Terminal during hour k (t in [3600k, 3600k+3600))."""
    j = k % 6
    return {
        "t_out_k": 285.15 + 12.0 * S[j],
        "q_sol_w": 1e6 * (1.0 + S[j]),
        "q_int_w": 2e6 + 1.5e6 * C[j],
        "p_base_w": 5e6 + 1e6 * S[j],
    }


def rumoca_run(harness: str, *, t_end: float = 3600.0, dt: float = 30.0) -> dict[str, np.ndarray]:
    """Simulate a harness with rumoca (rtol 1e-8); one sample per time (the last at events)."""
    session = rumoca.Session(roots=[str(MODELS), str(ORACLE)])
    model = session.load(str(ORACLE / f"{harness}.mo"), model=harness)
    res = model.simulate(t=(0.0, t_end), dt=dt, config=rumoca.SimConfig(rtol=1e-8))
    t = np.asarray(res.time, dtype=float)
    keep = np.r_[np.diff(t) > 1e-6, True]  # last sample at each (event) time
    out = {"time": np.round(t[keep], 6)}
    for n in res.names:
        out[n] = np.asarray(res[n], dtype=float)[keep]
    return out


def fmu_run(
    fmu: Path,
    inputs: Callable[[int], dict[str, float]],
    names: Sequence[str],
    *,
    t_end: float = 3600.0,
    dt: float = 30.0,
    start: dict[str, float] | None = None,
    rtol: float = 1e-9,
    kind: str = "CoSimulation",
    step_s: float = 60.0,
) -> dict[str, np.ndarray]:
    """Run an FMU through the Co-Simulation interface with inputs held over steps of step_s."""
    n = round(t_end / dt)
    rows = []
    with run_fmu(fmu, kind=kind) as r:
        r.initialize({**(start or {}), "solver.rtol": rtol, **inputs(0)})
        for i in range(n + 1):
            t = i * dt
            k = min(int(t // step_s), int(t_end // step_s) - 1)
            u = inputs(k)
            r.set(list(u), list(u.values()))
            rows.append(r.get(list(names)))
            if i < n:
                r.do_step(dt)
    arr = np.array(rows)
    out = {"time": np.arange(n + 1) * dt}
    for j, nm in enumerate(names):
        out[nm] = arr[:, j]
    return out
