"""Write the recorded inputs, experiments and tolerances of the project's FMU references.

Run by ``make references REASON="..."`` before ``v2xcosim fmu regress --update`` regenerates each
``<Model>_ref.csv``.  The inputs are 60-s steps (the same 6-step cycle of charge and discharge
power as the oracle harnesses in tests/data/oracle), held constant within each step; a step change
is written as two rows at the same time (FMI cross-check convention).

Tolerances: the same sources and compiler give bit-identical FMUs, so the tube only has to absorb
floating-point differences between compilers and machines: relative 1e-5 on every variable and an
absolute floor per variable of about 1e-6 of its scale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

S = (1.0, 0.5, -1.0, 0.0, -0.5, 0.25)  # active power factor, 6-step cycle
C = (0.5, -0.5, 0.0, 0.5, -1.0, 0.0)  # reactive power factor
U = (0.0, 1.0, -1.0, 0.5, -0.5)  # voltage factor (chargers)
G = (0.0, 1.0, -1.0, 0.5)  # frequency factor (chargers)
STEP_S = 60.0

EV_VARS = {
    "soc": 1e-7, "soh": 1e-8, "v_pack_v": 1e-4, "i_pack_a": 1e-4, "t_cell_k": 1e-5,
    "p_ac_w": 1e-3, "q_ac_var": 1e-3, "p_dc_w": 1e-3, "e_ac_j": 1.0, "e_loss_j": 1.0,
}
BATTERY_VARS = {
    "soc": 1e-7, "soh": 1e-8, "v_pack_v": 1e-4, "i_pack_a": 1e-4, "t_cell_k": 1e-5,
    "q_cal": 1e-10, "q_cyc": 1e-10, "e_chem_j": 1.0, "e_loss_j": 1.0,
}
TERMINAL_VARS = {
    "t_air_k": 1e-6, "t_m_k": 1e-6, "q_hvac_w": 1.0, "p_el_w": 1.0, "e_el_j": 1e4, "e_hvac_j": 1e4,
}
CHARGER_VARS = {"p_ac_w": 1e-3, "q_ac_var": 1e-3, "p_dc_w": 1e-3, "p_loss_w": 1e-4}


def ev_inputs(k: int) -> dict[str, float]:
    """EV inputs during step k."""
    return {"p_set_w": 11000.0 * S[k % 6], "q_set_var": 5000.0 * C[k % 6], "vm_pu": 1.0,
            "f_hz": 50.0, "t_amb_k": 298.15}


def battery_inputs(k: int) -> dict[str, float]:
    """Battery inputs during step k."""
    return {"p_dc_w": 11000.0 * S[k % 6], "t_amb_k": 298.15}


def charger_inputs(k: int) -> dict[str, float]:
    """Stand-alone charger inputs during step k (grid support exercised through vm_pu, f_hz)."""
    return {"p_set_w": 11000.0 * S[k % 6], "q_set_var": 5000.0 * C[k % 6],
            "vm_pu": 1.0 + 0.08 * U[k % 5], "f_hz": 50.0 + 0.6 * G[k % 4], "v_dc_v": 360.0,
            "p_lim_charge_w": 1e6, "p_lim_discharge_w": 1e6}


def terminal_inputs(k: int) -> dict[str, float]:
    """Terminal inputs during hour k (the profile of tests/data/oracle/V2X_Oracle_Terminal.mo)."""
    return {"t_out_k": 285.15 + 12.0 * S[k % 6], "q_sol_w": 1e6 * (1.0 + S[k % 6]),
            "q_int_w": 2e6 + 1.5e6 * C[k % 6], "p_base_w": 5e6 + 1e6 * S[k % 6]}


STEPS_S = {"Terminal": 3600.0}  # step of the inputs when not STEP_S (a building moves in hours)

MODELS = {
    # name: (inputs, variables, stop time s)
    "EV": (ev_inputs, EV_VARS, 3600.0),
    "EVDetailed": (ev_inputs, EV_VARS, 1200.0),
    "Battery": (battery_inputs, BATTERY_VARS, 3600.0),
    "ChargerReduced": (charger_inputs, CHARGER_VARS, 1200.0),
    "ChargerDetailed": (charger_inputs, CHARGER_VARS, 600.0),
    "Terminal": (terminal_inputs, TERMINAL_VARS, 86400.0),
}


def write(root: Path, name: str) -> None:
    """Write ``<name>_in.csv``, ``<name>_ref.opt`` and the tolerances of ``<name>``."""
    fn, variables, stop = MODELS[name]
    step = STEPS_S.get(name, STEP_S)
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    cols = list(fn(0))
    rows = []
    n = int(stop // step)
    for k in range(n):
        t = k * step
        rows.append([t, *fn(k).values()])
        rows.append([t + step, *fn(k).values()])
    lines = ['"time",' + ",".join(f'"{c}"' for c in cols)]
    lines += [",".join(repr(float(x)) for x in r) for r in rows]
    (d / f"{name}_in.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (d / f"{name}_ref.opt").write_text(
        f"StartTime,0.0\nStopTime,{stop}\nStepSize,{step}\nRelTol,1e-06\n", encoding="utf-8"
    )
    ext_path = d / f"{name}_ref.v2x.json"
    ext = json.loads(ext_path.read_text(encoding="utf-8")) if ext_path.exists() else {
        "format": "v2xcosim-reference", "format_version": 1}
    ext["fmi_type"] = "CoSimulation"
    ext["tolerances"] = {
        "default": {"rel_tol": 1e-5, "time_abs_tol": 0.0, "time_rel_tol": 0.0},
        "variables": {v: {"abs_tol": a} for v, a in variables.items()},
    }
    ext_path.write_text(json.dumps(ext, indent=2) + "\n", encoding="utf-8")
    # the variable list for --update: an empty reference header
    ref = d / f"{name}_ref.csv"
    if not ref.exists():
        ref.write_text('"time",' + ",".join(f'"{v}"' for v in variables) + "\n0.0," +
                       ",".join("0.0" for _ in variables) + f"\n{stop}," +
                       ",".join("0.0" for _ in variables) + "\n", encoding="utf-8")


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    for m in sys.argv[1:] or list(MODELS):
        write(here, m)
        print(f"{m}: inputs, experiment and tolerances written to {here / m}")
