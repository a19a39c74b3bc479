"""KPIs of a ``sites`` run and the verdict of its flagged checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from v2xcosim.report.compare import checks_line
from v2xcosim.report.results import json_clean, vector_columns


def _kwh(power_w: np.ndarray[Any, Any], step_s: int) -> float:
    return float(np.nansum(power_w) * step_s / 3.6e6)


def compute_kpis(
    frames: Mapping[str, pd.DataFrame],
    sessions: pd.DataFrame,
    *,
    step_s: int,
    grid_limits: Mapping[str, float],
    checks: Mapping[str, bool],
) -> dict[str, Any]:
    """KPIs of a run and the verdict of the flagged checks.

    ``grid_limits``: ``v_min_pu``, ``v_max_pu``, ``max_line_loading_percent``,
    ``max_trafo_loading_percent``; ``checks``: which checks are flagged (ChecksSpec fields).
    """
    from v2xcosim.grid.limits import check_limits

    grid = frames["grid"]
    p = grid["p_slack_w"].to_numpy(dtype=float)
    rep = check_limits(
        vector_columns(grid, "vm_pu").to_numpy(dtype=float),
        vector_columns(grid, "line_loading_percent").to_numpy(dtype=float),
        vector_columns(grid, "trafo_loading_percent").to_numpy(dtype=float),
        v_min_pu=grid_limits["v_min_pu"],
        v_max_pu=grid_limits["v_max_pu"],
        max_line_loading_percent=grid_limits["max_line_loading_percent"],
        max_trafo_loading_percent=grid_limits["max_trafo_loading_percent"],
    )
    nonconv = int((grid["converged"].to_numpy() < 0.5).sum())
    kpis: dict[str, Any] = {
        "steps": len(grid),
        "nonconverged_steps": nonconv,
        "energy_import_kwh": _kwh(np.clip(p, 0, None), step_s),
        "energy_export_kwh": _kwh(np.clip(-p, 0, None), step_s),
        "peak_import_kw": float(np.nanmax(np.clip(p, 0, None)) / 1e3) if len(p) else 0.0,
        "peak_reverse_flow_kw": float(np.nanmax(np.clip(-p, 0, None)) / 1e3) if len(p) else 0.0,
        "reverse_flow_steps": int(np.sum(p < 0)),
        "losses_kwh": _kwh(grid["p_loss_w"].to_numpy(dtype=float), step_s),
        "vm_min_pu": rep.vm_min_pu,
        "vm_max_pu": rep.vm_max_pu,
        "voltage_violations": rep.voltage_violations,
        "line_loading_max_percent": rep.line_loading_max_percent,
        "trafo_loading_max_percent": rep.trafo_loading_max_percent,
        "line_overloads": rep.line_overloads,
        "trafo_overloads": rep.trafo_overloads,
        "sites": {},
    }
    missed_total = 0
    for label in sorted(k for k in frames if k.startswith("site_")):
        site_id = label[len("site_") :]
        frame = frames[label]
        p_ev = vector_columns(frame, "p_ac_w").to_numpy(dtype=float)
        soc = vector_columns(frame, "soc").to_numpy(dtype=float)
        ses = sessions[sessions["site"] == site_id]
        reached = 0
        # once per session, after the run
        for departure_s, ev, soc_target in zip(
            ses["departure_s"].tolist(), ses["ev"].tolist(), ses["soc_target"].tolist(), strict=True
        ):
            k = int(departure_s // step_s) - 1
            if 0 <= k < len(soc) and soc[k, int(ev)] >= float(soc_target) - 1e-3:
                reached += 1
        missed_total += len(ses) - reached
        kpis["sites"][site_id] = {
            "evs": int(p_ev.shape[1]),
            "sessions": len(ses),
            "sessions_reaching_target": reached,
            "ev_energy_ac_kwh": _kwh(p_ev.sum(axis=1), step_s),
            "ev_peak_kw": float(np.nanmax(p_ev.sum(axis=1)) / 1e3) if len(p_ev) else 0.0,
            "soc_min": float(np.nanmin(soc)) if soc.size else float("nan"),
            "soc_max": float(np.nanmax(soc)) if soc.size else float("nan"),
        }
    verdicts = {
        "convergence": nonconv == 0,
        "voltage_band": rep.voltage_violations == 0,
        "loading": rep.line_overloads == 0 and rep.trafo_overloads == 0,
        "soc_target": missed_total == 0,
    }
    kpis["checks"] = {
        name: {"flagged": bool(checks.get(name, False)), "passed": ok}
        for name, ok in verdicts.items()
    }
    kpis["checks_passed"] = all(ok for n, ok in verdicts.items() if checks.get(n, False))
    cleaned: dict[str, Any] = json_clean(kpis)
    return cleaned




def summary(kpis: Mapping[str, Any]) -> str:
    """Return the CLI's KPI summary of a ``sites`` run."""
    lines = [
        "KPIs:",
        f"  substation import {kpis['energy_import_kwh']:.1f} kWh, export "
        f"{kpis['energy_export_kwh']:.1f} kWh, peak import {kpis['peak_import_kw']:.1f} kW, "
        f"peak reverse flow {kpis['peak_reverse_flow_kw']:.1f} kW",
        f"  voltage {kpis['vm_min_pu']:.4f}–{kpis['vm_max_pu']:.4f} pu "
        f"({kpis['voltage_violations']} violations), line loading max "
        f"{kpis['line_loading_max_percent']:.1f} %, trafo max "
        f"{kpis['trafo_loading_max_percent']:.1f} %, losses {kpis['losses_kwh']:.1f} kWh",
        f"  non-converged steps {kpis['nonconverged_steps']}",
    ]
    for sid, s in kpis.get("sites", {}).items():
        lines.append(
            f"  site {sid}: {s['evs']} EVs, {s['sessions']} sessions "
            f"({s['sessions_reaching_target']} reached target), {s['ev_energy_ac_kwh']:.1f} kWh "
            f"charged, peak {s['ev_peak_kw']:.1f} kW"
        )
    lines.append(checks_line(kpis))
    return "\n".join(lines)
