"""KPIs of a ``sites`` run and the verdict of its flagged checks.

Names, units and definitions are the shared vocabulary of :mod:`v2xcosim.report.kpis`; the grid
KPIs come from :func:`~v2xcosim.report.kpis.grid_kpis`, as for every use case.
``voltage_violation_bus_hours`` judges 10-minute mean voltages (EN 50160,
:data:`~v2xcosim.report.kpis.VOLTAGE_WINDOW_S`; the step if longer).  Besides those:
``voltage_violation_bus_steps``, ``overloaded_line_steps``, ``overloaded_trafo_steps`` (element ×
steps outside the limits at step values: what the ``voltage_band`` and ``loading`` checks
judge) and, per site in ``sites``: ``evs``, ``sessions``, ``sessions_reaching_target``,
``ev_energy_ac_kwh``, ``ev_peak_kw``, ``soc_min``, ``soc_max``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from v2xcosim.report.compare import checks_line
from v2xcosim.report.kpis import VOLTAGE_WINDOW_S, finite_max, finite_min, grid_kpis
from v2xcosim.report.results import json_clean, vector_columns


def _kwh(power_w: np.ndarray[Any, Any], step_s: int) -> float:
    return float(np.nansum(power_w) * step_s / 3.6e6)


def _fmt(value: Any, spec: str) -> str:
    """``value`` formatted, or ``n/a`` for a KPI without a value (``null``: no converged step)."""
    return "n/a" if value is None else format(value, spec)


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
    from v2xcosim.grid.limits import check_limits, check_verdict

    grid = frames["grid"]
    rep = check_limits(
        vector_columns(grid, "vm_pu").to_numpy(dtype=float),
        vector_columns(grid, "line_loading_percent").to_numpy(dtype=float),
        vector_columns(grid, "trafo_loading_percent").to_numpy(dtype=float),
        v_min_pu=grid_limits["v_min_pu"],
        v_max_pu=grid_limits["v_max_pu"],
        max_line_loading_percent=grid_limits["max_line_loading_percent"],
        max_trafo_loading_percent=grid_limits["max_trafo_loading_percent"],
    )
    kpis: dict[str, Any] = {
        **grid_kpis(
            grid,
            step_s=step_s,
            v_min_pu=grid_limits["v_min_pu"],
            v_max_pu=grid_limits["v_max_pu"],
            voltage_window_s=VOLTAGE_WINDOW_S,
        ),
        "voltage_violation_bus_steps": rep.voltage_violations,
        "overloaded_line_steps": rep.line_overloads,
        "overloaded_trafo_steps": rep.trafo_overloads,
        "sites": {},
    }
    nonconv = kpis["nonconverged_steps"]
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
            "ev_peak_kw": finite_max(p_ev.sum(axis=1)) / 1e3 if len(p_ev) else 0.0,
            "soc_min": finite_min(soc),
            "soc_max": finite_max(soc),
        }
    verdicts: dict[str, bool | None] = {
        "convergence": nonconv == 0,
        "voltage_band": rep.voltage_band_ok,
        "loading": rep.loading_ok,
        "soc_target": missed_total == 0,
    }
    kpis["checks"] = {
        name: check_verdict(checks.get(name, False), ok) for name, ok in verdicts.items()
    }
    kpis["checks_passed"] = all(ok is True for n, ok in verdicts.items() if checks.get(n, False))
    cleaned: dict[str, Any] = json_clean(kpis)
    return cleaned


def summary(kpis: Mapping[str, Any]) -> str:
    """Return the CLI's KPI summary of a ``sites`` run."""
    lines = [
        "KPIs:",
        f"  substation import {_fmt(kpis['import_energy_mwh'], '.4g')} MWh "
        f"(peak {_fmt(kpis['import_peak_mw'], '.4g')} MW), reverse flow "
        f"{_fmt(kpis['reverse_flow_energy_mwh'], '.4g')} MWh "
        f"(peak {_fmt(kpis['reverse_flow_peak_mw'], '.4g')} MW, "
        f"{kpis['reverse_flow_steps']} steps), losses {_fmt(kpis['losses_mwh'], '.4g')} MWh",
        f"  voltage {_fmt(kpis['vm_min_pu'], '.4f')}–{_fmt(kpis['vm_max_pu'], '.4f')} pu, "
        f"outside the band {kpis['voltage_violation_bus_hours']:.4g} bus·h (10-min means), "
        f"{kpis['voltage_violation_bus_steps']} bus·steps",
        f"  loading max line {_fmt(kpis['max_line_loading_pct'], '.1f')} %, trafo "
        f"{_fmt(kpis['max_trafo_loading_pct'], '.1f')} % "
        f"({kpis['overloaded_line_steps']} line·steps, {kpis['overloaded_trafo_steps']} "
        "trafo·steps overloaded)",
        f"  non-converged steps {kpis['nonconverged_steps']}",
    ]
    for sid, s in kpis.get("sites", {}).items():
        lines.append(
            f"  site {sid}: {s['evs']} EVs, {s['sessions']} sessions "
            f"({s['sessions_reaching_target']} reached target), "
            f"{_fmt(s['ev_energy_ac_kwh'], '.1f')} kWh charged, "
            f"peak {_fmt(s['ev_peak_kw'], '.1f')} kW"
        )
    lines.append(checks_line(kpis))
    return "\n".join(lines)
