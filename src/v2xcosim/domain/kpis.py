"""Session, market and battery KPIs as pure functions of arrays (energies kWh/MWh, money EUR).

* ``departure_soc_shortfall_kwh`` — Σ over *feasible* sessions of ``max(wish − soc_dep, 0) ×
  capacity``; a wish is feasible when the energy needed ``(wish − soc_arrival) × capacity ≤
  p_rated × η_ch × dwell`` (:func:`feasible_sessions`).  Must be 0 in every strategy.
* ``infeasible_sessions`` — count of sessions whose wish was infeasible (reported separately).
* battery wear is priced from the FMU's ageing states, :mod:`v2xcosim.domain.ageing`.
* ``market_clearing_rate`` — matched MWh / requested MWh (NaN when nothing was requested).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _arr(x: npt.ArrayLike, name: str) -> FloatArray:
    a = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(a)):
        raise ScenarioError(f"KPI input {name} has non-finite values")
    return a


def feasible_sessions(
    soc_arrival: npt.ArrayLike,
    soc_wish: npt.ArrayLike,
    capacity_kwh: npt.ArrayLike,
    p_rated_w: npt.ArrayLike,
    dwell_s: npt.ArrayLike,
    eta_charge: float = 0.92,
) -> BoolArray:
    """Flag sessions whose energy needed is ≤ rated power × efficiency × dwell time."""
    need = np.maximum(_arr(soc_wish, "soc_wish") - _arr(soc_arrival, "soc_arrival"), 0.0) * _arr(
        capacity_kwh, "capacity_kwh"
    )
    can = (
        _arr(p_rated_w, "p_rated_w")
        * eta_charge
        * np.maximum(_arr(dwell_s, "dwell_s"), 0.0)
        / 3.6e6
    )
    out: BoolArray = need <= can + 1e-9
    return out


def departure_soc_shortfall_kwh(
    soc_departure: npt.ArrayLike,
    soc_wish: npt.ArrayLike,
    capacity_kwh: npt.ArrayLike,
    feasible: npt.ArrayLike,
    tol_soc: float = 1e-6,
) -> float:
    """Σ shortfall [kWh] over feasible sessions (shortfalls below ``tol_soc`` count as 0)."""
    gap = _arr(soc_wish, "soc_wish") - _arr(soc_departure, "soc_departure")
    gap = np.where(gap > tol_soc, gap, 0.0)
    mask = np.asarray(feasible, dtype=bool)
    return float(np.sum(gap * _arr(capacity_kwh, "capacity_kwh") * mask))


def infeasible_sessions(feasible: npt.ArrayLike) -> int:
    """Count sessions whose departure wish could not be met even at full power."""
    return int(np.sum(~np.asarray(feasible, dtype=bool)))


def battery_throughput_kwh(p_battery_w: npt.ArrayLike, dt_s: float) -> FloatArray:
    """Throughput per EV [kWh]: Σ |P| × Δt over the last axis (time) of ``p_battery_w``."""
    if dt_s <= 0:
        raise ScenarioError("battery_throughput_kwh: dt_s must be > 0")
    p = _arr(p_battery_w, "p_battery_w")
    out: FloatArray = np.sum(np.abs(p), axis=-1) * dt_s / 3.6e6
    return out


def market_clearing_rate(matched_mwh: float, requested_mwh: float) -> float:
    """Compute matched / requested energy; NaN when nothing was requested."""
    if matched_mwh < 0 or requested_mwh < 0 or matched_mwh > requested_mwh * (1 + 1e-9) + 1e-12:
        raise ScenarioError(
            f"market_clearing_rate: need 0 <= matched ({matched_mwh}) "
            f"<= requested ({requested_mwh})"
        )
    return float("nan") if requested_mwh == 0 else matched_mwh / requested_mwh


__all__ = [
    "battery_throughput_kwh",
    "departure_soc_shortfall_kwh",
    "feasible_sessions",
    "infeasible_sessions",
    "market_clearing_rate",
]
