"""Decision logic of the three charging strategies (``control.strategy``), vectorised.

One call per step: :func:`decide` maps the connected EVs (arrays of :class:`EvArrays`), the
time, the DSO/price windows and the market commitments to per-connector P setpoints [W, load
convention].  The result always lies inside the CS EMS guard :func:`power_bounds` (SOC limits,
ratings, reachable departure SOC), so a strategy can never strand a user whose wish is feasible.

* ``uncontrolled`` — charge at full power from arrival until the wished departure SOC.
* ``smart`` — unidirectional: charge (up to the wished SOC) only in *charge windows* (hours
  with forecast reverse power flow at the primary substation), otherwise wait; the guard's
  must-charge rule charges late if the windows do not suffice.  Awarded flexibility
  (``flex_w``, + = consume more) is added on top, up to ``soc_max``.
* ``v2g`` — bidirectional: like ``smart`` and in addition discharges in *discharge windows*
  down to what the guard allows (``soc_min`` and a reachable wish); awarded flexibility of
  either sign is added.  A discharge window (:func:`windows`) is a step whose price is at or
  above the ``discharge_price_quantile`` of the remaining horizon **and** whose DSO forecast at
  the primary substation is an import larger than ``min_import_w``
  (``control.discharge_min_import_mw``): V2G never discharges into forecast reverse flow, and
  the margin covers the forecast error and the fleet's own discharge power, which could
  otherwise turn a small forecast import into reverse flow.

In ``smart`` and ``v2g`` an EV whose user did not join the campaign (``campaign`` False) is
charged as in ``uncontrolled``: the EMSP controls only consented sessions.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.cs_ems import EvArrays, power_bounds, soc_after

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Strategy = Literal["uncontrolled", "smart", "v2g"]
STRATEGIES: tuple[str, ...] = ("uncontrolled", "smart", "v2g")


def _as_mask(x: bool | BoolArray, n: int) -> BoolArray:
    out = np.broadcast_to(np.asarray(x, dtype=bool), (n,))
    return np.array(out, dtype=bool)


def decide(
    strategy: str,
    ev: EvArrays,
    t_s: float,
    dt_s: float,
    *,
    charge_window: bool | BoolArray = False,
    discharge_window: bool | BoolArray = False,
    flex_w: FloatArray | None = None,
    campaign: BoolArray | None = None,
) -> FloatArray:
    """P setpoints [W] per EV for the step ``[t_s, t_s + dt_s)`` (see the module docstring)."""
    if strategy not in STRATEGIES:
        raise ScenarioError(f"control.strategy: unknown {strategy!r}; use one of {STRATEGIES}")
    n = ev.soc.shape[0]
    to_target = dataclasses.replace(ev, soc_max=np.minimum(ev.soc_target, ev.soc_max))
    _, hi_target = power_bounds(to_target, t_s, dt_s)
    if strategy == "uncontrolled":
        return hi_target
    lo, hi = power_bounds(ev, t_s, dt_s)
    cw = _as_mask(charge_window, n)
    flex = np.zeros(n) if flex_w is None else np.asarray(flex_w, dtype=float)
    if flex.shape != (n,) or not np.all(np.isfinite(flex)):
        raise ScenarioError(f"decide: flex_w must be {n} finite values")
    joined = np.ones(n, dtype=bool) if campaign is None else _as_mask(campaign, n)
    if strategy == "smart":
        lo = np.maximum(lo, 0.0)
        base = np.where(cw, hi_target, 0.0)
    else:
        dw = _as_mask(discharge_window, n) & ~cw
        base = np.where(cw, hi_target, np.where(dw, lo, 0.0))
    p = np.clip(base + flex, lo, hi)
    out: FloatArray = np.where(joined, p, hi_target)
    return out


def plan(
    strategy: str,
    ev: EvArrays,
    t0_s: float,
    dt_s: float,
    charge_window: BoolArray,
    discharge_window: BoolArray,
    campaign: BoolArray | None = None,
    flex_w: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Forecast of the strategy over ``len(charge_window)`` steps.

    ``flex_w`` (n_ev × n_steps, optional) holds market commitments already awarded; without
    it the plan has none.

    Returns ``(p_w, soc_end)``, each (n_ev × n_steps): the power in each step and the SOC at
    its end.  EVs are taken as connected until their departure.  The EMSP uses the plan as the
    baseline it declares at gate closure and to size offers.
    """
    n_steps = len(charge_window)
    if len(discharge_window) != n_steps:
        raise ScenarioError("plan: charge_window and discharge_window need equal lengths")
    n = ev.soc.shape[0]
    if flex_w is not None and np.shape(flex_w) != (n, n_steps):
        raise ScenarioError(f"plan: flex_w must be ({n}, {n_steps})")
    p_out = np.zeros((n, n_steps))
    soc_out = np.zeros((n, n_steps))
    state = ev
    for k in range(n_steps):  # time loop; vectorised over EVs
        t = t0_s + k * dt_s
        p = decide(
            strategy,
            state,
            t,
            dt_s,
            charge_window=bool(charge_window[k]),
            discharge_window=bool(discharge_window[k]),
            flex_w=None if flex_w is None else flex_w[:, k],
            campaign=campaign,
        )
        soc = np.clip(soc_after(state, p, dt_s), 0.0, 1.0)
        p_out[:, k] = p
        soc_out[:, k] = soc
        state = dataclasses.replace(state, soc=soc)
    return p_out, soc_out


def windows(
    p_net_forecast_w: FloatArray,
    price_eur_per_mwh: FloatArray,
    discharge_price_quantile: float = 0.75,
    min_import_w: float = 0.0,
) -> tuple[BoolArray, BoolArray]:
    """Compute charge and discharge windows.

    Charge windows: forecast reverse flow, ``p_net < 0``; discharge windows: forecast import
    ``p_net > min_import_w`` (≥ 0) and price at or above the given quantile of the horizon's
    prices.  The two never overlap; a step with ``0 ≤ p_net ≤ min_import_w`` is neither.
    """
    p = np.asarray(p_net_forecast_w, dtype=float)
    price = np.asarray(price_eur_per_mwh, dtype=float)
    if p.shape != price.shape:
        raise ScenarioError("windows: forecast and price arrays need equal shapes")
    if not 0.0 <= discharge_price_quantile <= 1.0:
        raise ScenarioError("windows: discharge_price_quantile must be in [0, 1]")
    if not (math.isfinite(min_import_w) and min_import_w >= 0.0):
        raise ScenarioError("windows: min_import_w must be finite and >= 0")
    charge = p < 0.0
    discharge = (p > min_import_w) & (price >= np.quantile(price, discharge_price_quantile))
    return charge, discharge


__all__ = ["STRATEGIES", "Strategy", "decide", "plan", "windows"]
