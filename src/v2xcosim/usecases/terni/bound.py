"""Perfect-foresight bound on reverse flow at the charging sites' LV transformers (after a run).

What the run's own sessions could have done at best, knowing the whole day: per charging site
the transformer's net power *without the EVs* is the realised transformer power
``p_lv_trafo_w`` (W at the MV side, + = import) minus the EVs' AC power at the site (the
``p_ac_w[...]`` slot columns of ``site_<id>.parquet``) — the change of the transformer's and
the feeder's losses with the EV power is neglected (a few per cent of the EV power at most;
assumption).  The sessions that got a connector are the storage units as they really stayed
(``sessions.parquet``; rejected sessions left at once): arrival, *real* departure (early
leavers included; for sessions still plugged in at the end, the declared departure after the
run, whose wish then counts only as far as full power after the run cannot add it), SOC at
arrival, wish + ``control.target_margin_soc`` capped at ``control.soc_max`` (what the CS EMS
charges to), the aged capacity
``capacity_kwh × (1 − q_loss_arrival)`` (the FMU's SOC counts it), the car's power limit,
``control.eta_charge``/``eta_discharge``, the user's ``soc_min``.  Users outside the campaign
charge uncontrolled (full power from arrival to the wish), as in every strategy.
:func:`~v2xcosim.domain.scheduler.reverse_flow_bound` then gives the least reverse-flow energy
the campaign sessions can leave with every wish kept:

* ``lv_reverse_flow_bound_smart_mwh`` — unidirectional charging (shifting only);
* ``lv_reverse_flow_bound_v2g_mwh`` — bidirectional, energy-neutral (each car still leaves
  with its wish; only cars that discharge on AC, ``v2g_capable``, may discharge).

Both are the same for every strategy of one scenario (same sessions, same base), so a run's
``lv_reverse_flow_energy_mwh`` against them tells how close its schedule came.  Also:
``lv_surplus_mwh`` — the sites' reverse-flow energy without any EV; and
``lv_session_energy_share_of_surplus`` — the energy the connected sessions need to reach their
wishes (grid side, ÷ ``eta_charge``) over ``lv_surplus_mwh``: how much of the surplus the
sessions could absorb at most without V2G.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from v2xcosim.domain.scheduler import StorageUnit, reverse_flow_bound
from v2xcosim.usecases.terni.schema import TerniScenario

BOUND_KPI_KEYS: tuple[str, ...] = (
    "lv_reverse_flow_bound_smart_mwh",
    "lv_reverse_flow_bound_v2g_mwh",
    "lv_surplus_mwh",
    "lv_session_energy_share_of_surplus",
)
"""The KPIs :func:`lv_bound_kpis` adds to a Terni ``kpis.json``."""


def site_base_w(table: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Return the transformer power without EVs [W, + = import]: ``p_lv_trafo_w`` − Σ EV."""
    cols = [c for c in table.columns if c.startswith("p_ac_w[")]
    p_ev = table[cols].to_numpy(dtype=float).sum(axis=1) if cols else 0.0
    out: np.ndarray[Any, np.dtype[np.float64]] = table["p_lv_trafo_w"].to_numpy(dtype=float) - p_ev
    return out


def session_units(
    spec: TerniScenario, sessions: pd.DataFrame, n_steps: int, *, bidirectional: bool
) -> list[StorageUnit]:
    """Storage units of the sessions that got a connector, as they really stayed (module doc)."""
    c = spec.control
    dt = float(spec.time.step_s)
    units = []
    served = (sessions["status"] != "rejected") & sessions["connector_id"].fillna("").astype(bool)
    for r in sessions[served].to_dict("records"):
        a = round(float(r["arrival_s"]) / dt)
        open_ = r["status"] == "open_at_end" or math.isnan(float(r["departure_s"]))
        d = round(float(r["departure_declared_s" if open_ else "departure_s"]) / dt)
        if d <= a:
            continue
        p_w = float(r["p_max_kw"]) * 1e3
        soc_max = float(c.soc_max)
        units.append(
            StorageUnit(
                capacity_kwh=float(r["capacity_kwh"]) * (1.0 - float(r["q_loss_arrival"])),
                soc0=float(np.clip(r["soc_arrival"], 0.0, 1.0)),
                p_charge_max_w=p_w,
                p_discharge_max_w=p_w if bidirectional and bool(r["v2g_capable"]) else 0.0,
                eta_charge=c.eta_charge,
                eta_discharge=c.eta_discharge,
                soc_min=float(min(r["soc_min"], soc_max)),
                soc_max=soc_max,
                arrival_k=a,
                departure_k=d,
                soc_wish=float(min(r["soc_wish"] + c.target_margin_soc, soc_max)),
                controllable=bool(r["campaign"]),
            )
        )
    return units


def lv_bound_kpis(
    spec: TerniScenario, sites: Mapping[str, pd.DataFrame], sessions: pd.DataFrame
) -> dict[str, float | None]:
    """Return the bound KPIs of :data:`BOUND_KPI_KEYS` [MWh, share] (module docstring).

    All are ``None`` (not assessable) when a step's power flow was flagged as not converged.

    ``sites`` maps each charging-site id to its table (``site_<id>.parquet``).
    """
    dt = float(spec.time.step_s)
    bound = {False: 0.0, True: 0.0}
    surplus_kwh = need_kwh = 0.0
    eta = spec.control.eta_charge
    for site, table in sorted(sites.items()):
        base = site_base_w(table)
        if not np.all(np.isfinite(base)):  # a flagged power flow: no realised day to bound
            return dict.fromkeys(BOUND_KPI_KEYS)
        surplus_kwh += float(np.clip(-base, 0.0, None).sum()) * dt / 3.6e6
        mine = sessions[sessions["site"] == site]
        for bidir in (False, True):
            units = session_units(spec, mine, len(base), bidirectional=bidir)
            e_kwh, _ = reverse_flow_bound(units, base, dt_s=dt)
            bound[bidir] += e_kwh
        for u in session_units(spec, mine, len(base), bidirectional=False):
            gap = max((u.soc_wish or 0.0) - u.soc0, 0.0) * u.capacity_kwh / eta
            stay_k = min(u.departure_k or 0, len(base)) - u.arrival_k
            stay_kwh = u.p_charge_max_w / 1e3 * stay_k * dt / 3600
            need_kwh += min(gap, stay_kwh)
    return {
        "lv_reverse_flow_bound_smart_mwh": bound[False] / 1e3,
        "lv_reverse_flow_bound_v2g_mwh": bound[True] / 1e3,
        "lv_surplus_mwh": surplus_kwh / 1e3,
        "lv_session_energy_share_of_surplus": need_kwh / surplus_kwh if surplus_kwh > 0 else None,
    }


__all__ = ["BOUND_KPI_KEYS", "lv_bound_kpis", "session_units", "site_base_w"]
