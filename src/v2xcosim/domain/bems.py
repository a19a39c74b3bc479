r"""Building energy management (BEMS): the parked EVs' flexibility against a building's tariff.

One horizon of a rolling-horizon optimiser (generic: no use case, no mosaik).  Given over
``T`` steps of ``Δt`` seconds the building's forecast base load ``B_k`` [W] (HVAC and all
other loads, not controllable; PV as a negative part), the energy price ``π_k`` [EUR/MWh] of
the tariff period of each step, the peak-hours mask ``M`` with its power price, a contracted
power with an exceedance price, an optional import limit per step (a DSO event, OpenADR-like:
a window with a maximum import) and the parked EVs as
:class:`~v2xcosim.domain.scheduler.StorageUnit`\ s, :func:`plan` returns the EVs' powers and
SOC, the connection's import per step and each cost term.  Re-solve it on arrivals, departures
and new signals and apply the first step (the caller's loop; see *Rolling horizon*).

**Formulation** — the LP of :func:`v2xcosim.domain.scheduler.schedule` (one site holding every
EV; its connection terms added there for this purpose) with the units' own energy price 0:
all energy is priced at the connection.  ``N_k = B_k + Σ_u P_uk`` is the connection's net
power (load convention, + = import).  Minimised [EUR]::

    Σ_k π_k·max(N_k, 0)·Δt                    energy by period (export is not credited)
  + λ_M·mean_{k∈M} max(N_k, 0)                 peak-hours power ("potência em horas de ponta":
                                               energy in the peak hours ÷ their hours)
  + λ_C·max(max_k N_k − P_C, 0)                contracted-power exceedance (epigraph variable)
  + Σ_uk γ_u·(η_c·c_uk + d_uk/η_d)·Δt          battery wear (γ: cycle_wear_eur_per_kwh)
  + Σ_uk κ·d_uk·Δt                             user compensation per kWh discharged (grid side)
  + Σ_k σ·max(N_k − L_k, 0)·Δt                 import-limit excess (soft, reported)
  + τ·max_k max(N_k − L_k, 0)                   the largest excess (one epigraph variable)
  + ρ·Σ_u w_u                                  departure-wish shortfall (as in the scheduler)
  + tie-break (scheduler, ≤ 0.1 EUR/MWh)

subject to the scheduler's SOC dynamics, SOC bands, power limits (``p_discharge_max_w = 0``:
unidirectional) and departure wish, and **no export beyond** ``export_limit_w`` ``X``:
``N_k ≥ min(B_k, −X)`` — the EVs never push the connection below ``−X``, nor deepen an export
the building causes on its own (PV), so staying idle is always feasible.  Default ``X = 0``:
V2B serves the building and does not sell to the MV grid (the use case's goal; a supply
tariff does not pay for export).

**Guarantee**: every EV reaches its departure wish whenever it is reachable by charging at full
power from arrival (the scheduler's pre-clipped wish).  The import limit and every price are
soft against it: unless given, ``ρ`` is set to at least twice the largest marginal cost one
kWh of charging can incur (energy, peak-hours and exceedance prices per kWh of one step, the
limit penalty, wear), divided by the lowest charging efficiency, and never below the
scheduler's 50 EUR/kWh; so a kWh stored is always worth more than any term it raises.

**Priorities** (defaults, assumptions): ``σ`` = :data:`IMPORT_LIMIT_EUR_PER_KWH` (10 EUR/kWh,
fifty times the dearest energy price of a supply tariff): the limit is kept whenever the EVs
can keep it; when they cannot, :attr:`BemsPlan.import_limit_excess_w` reports by how much.
``τ`` = :data:`IMPORT_LIMIT_PEAK_EUR_PER_KW` (10 EUR/kW): σ alone prices the kWh above the
limit wherever they fall, so with too little energy in the EVs the excess could land in a
few steps at any level; τ makes the LP spread the unavoidable excess evenly over the limited
steps (each kW of the horizon's largest excess costs as much as one hour of it at σ).
In a rolling horizon the term sees the steps still ahead only: what is past is metered.

**Prorating the power charges**: a tariff bills the peak-hours mean and the contracted power per
billing period (e.g. EUR/(kW·month)).  Over a horizon that is part of the billing period, the
horizon's peak-hour steps add ``mean_horizon × n_horizon / n_period`` to the period's mean
(``n`` = peak-hour steps), so the price per kW of the horizon's mean is
:func:`peak_hours_price_eur_per_kw` = ``price × months billed × n_horizon / n_period``.  The
contracted power is a maximum: in a rolling horizon pass ``contracted_w`` = the larger of the
declared power and the largest 15-minute import already measured in the billing period (only
an excess over that costs more), with ``exceedance_eur_per_kw`` what one kW of new maximum
costs in all: the billing period's prorated charge and, under a contracted-power ratchet, the
months the new maximum stays billed after it
(:func:`~v2xcosim.domain.tariff.contracted_excess_eur_per_kw`: ``price × max(R, months)``; a
caller without a ratchet passes the prorated price alone).  The exceedance is taken per
step: with 15-minute steps that is the tariff's 15-minute mean; with shorter steps it is an
upper bound of it.

**Rolling horizon**: the caller re-solves with the EVs' SOC now, sessions' remaining steps and
updated forecasts and signals, and applies the first step; ``plan`` keeps no state.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.scheduler import (
    TIE_BREAK_EUR_PER_KWH,
    WISH_PENALTY_EUR_PER_KWH,
    Site,
    StorageUnit,
    schedule,
)
from v2xcosim.domain.tariff import DAYS_PER_MONTH

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

IMPORT_LIMIT_EUR_PER_KWH = 10.0
"""σ: penalty per kWh of import above a DSO limit (assumption: far above any energy price)."""

IMPORT_LIMIT_PEAK_EUR_PER_KW = 10.0
"""τ: penalty per kW of the horizon's largest import above a DSO limit (assumption: σ × 1 h;
any τ > 0 flattens an unavoidable excess, its size only weighs flattening against the other
terms)."""


def peak_hours_price_eur_per_kw(
    price_eur_per_kw_month: float,
    *,
    horizon_peak_steps: int,
    period_peak_steps: int,
    period_days: float,
) -> float:
    """Price of 1 kW of the horizon's mean peak-hour import [EUR/kW] (module docstring).

    ``price_eur_per_kw_month`` [EUR/(kW·month)] × months billed (``period_days`` /
    :data:`~v2xcosim.domain.tariff.DAYS_PER_MONTH`, the tariff engine's proration) ×
    ``horizon_peak_steps / period_peak_steps`` (the horizon's share of the billing period's
    peak-hour steps).  0 when the horizon holds no peak-hour step.
    """
    if not (math.isfinite(price_eur_per_kw_month) and price_eur_per_kw_month >= 0):
        raise ScenarioError(
            f"bems: price_eur_per_kw_month must be finite and >= 0, got {price_eur_per_kw_month}"
        )
    if not (0 <= horizon_peak_steps <= period_peak_steps and period_peak_steps >= 1):
        raise ScenarioError(
            "bems: need 0 <= horizon_peak_steps <= period_peak_steps and period_peak_steps "
            f">= 1, got {horizon_peak_steps}, {period_peak_steps}"
        )
    if not (math.isfinite(period_days) and period_days > 0):
        raise ScenarioError(f"bems: period_days must be > 0, got {period_days}")
    months = period_days / DAYS_PER_MONTH
    return price_eur_per_kw_month * months * horizon_peak_steps / period_peak_steps


@dataclass(frozen=True)
class BemsPlan:
    """The optimiser's answer over the horizon (powers W, load convention; costs EUR).

    ``p_ev_w`` / ``soc_ev``: per EV and step (0 W and NaN where absent).  ``import_w``: the
    connection's net power ``B + Σ P`` per step (negative = export, never below
    ``min(B, −export_limit_w)``).  ``import_limit_excess_w``: import above the limit per step
    (0 where kept or no limit).  ``wish_shortfall_kwh``: per EV, as the scheduler reports it.
    Cost terms as in the module docstring; ``objective_eur`` the LP's value, which exceeds
    :attr:`total_eur` by the tie-break only.
    """

    p_ev_w: FloatArray
    soc_ev: FloatArray
    import_w: FloatArray
    import_limit_excess_w: FloatArray
    wish_shortfall_kwh: FloatArray
    energy_eur: float
    peak_hours_eur: float
    exceedance_eur: float
    wear_eur: float
    compensation_eur: float
    import_limit_eur: float
    wish_penalty_eur: float
    objective_eur: float
    dt_s: float

    @property
    def total_eur(self) -> float:
        """Sum of the cost terms [EUR] (the objective without the tie-break)."""
        return (
            self.energy_eur
            + self.peak_hours_eur
            + self.exceedance_eur
            + self.wear_eur
            + self.compensation_eur
            + self.import_limit_eur
            + self.wish_penalty_eur
        )

    @property
    def import_limit_excess_kwh(self) -> float:
        """Energy imported above the limit over the horizon [kWh]."""
        return float(self.import_limit_excess_w.sum()) / 1e3 * self.dt_s / 3600.0

    @property
    def discharged_kwh(self) -> FloatArray:
        """Energy each EV delivers at the grid side over the horizon [kWh]."""
        out: FloatArray = np.maximum(-self.p_ev_w, 0.0).sum(axis=1) / 1e3 * self.dt_s / 3600.0
        return out


def _series(x: npt.ArrayLike, n: int, name: str, *, lo: float | None = 0.0) -> FloatArray:
    """``x`` as ``n`` floats (a scalar is repeated); NaN, -inf or values below ``lo`` rejected."""
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ScenarioError(f"bems: {name} must be numbers") from None
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.shape != (n,):
        raise ScenarioError(
            f"bems: {name} has shape {a.shape}; give one value per step ({n},) like base_load_w"
        )
    if np.any(np.isnan(a)) or np.any(a == -np.inf):
        raise ScenarioError(f"bems: {name} has NaN or -inf values; give numbers for every step")
    if lo is not None and np.any(a < lo):
        k = int(np.flatnonzero(a < lo)[0])
        raise ScenarioError(f"bems: {name}[{k}] = {a[k]} must be >= {lo}")
    return a


def _scalar(x: float, name: str, *, allow_inf: bool = False) -> float:
    v = float(x)
    if math.isnan(v) or v < 0 or (math.isinf(v) and not allow_inf):
        raise ScenarioError(f"bems: {name} must be a finite number >= 0, got {x}")
    return v


def plan(
    evs: Sequence[StorageUnit],
    *,
    dt_s: float,
    base_load_w: npt.ArrayLike,
    price_eur_per_mwh: npt.ArrayLike,
    peak_hours: npt.ArrayLike | None = None,
    peak_hours_eur_per_kw: float = 0.0,
    contracted_w: float = math.inf,
    exceedance_eur_per_kw: float = 0.0,
    import_limit_w: npt.ArrayLike | None = None,
    import_limit_eur_per_kwh: float = IMPORT_LIMIT_EUR_PER_KWH,
    import_limit_peak_eur_per_kw: float = IMPORT_LIMIT_PEAK_EUR_PER_KW,
    export_limit_w: float = 0.0,
    compensation_eur_per_kwh: float = 0.0,
    wear_eur_per_kwh: float | None = None,
    wish_penalty_eur_per_kwh: float | None = None,
) -> BemsPlan:
    """Optimise the EVs' powers over one horizon (the LP of the module docstring).

    ``base_load_w``: the building's forecast net load per step [W] (defines ``T``).
    ``price_eur_per_mwh``: energy price per step (or one for all), ≥ 0.  ``peak_hours``: bools
    per step (the tariff's peak period); ``peak_hours_eur_per_kw``: price of 1 kW of the mean
    import over those steps, prorated (:func:`peak_hours_price_eur_per_kw`).
    ``contracted_w`` / ``exceedance_eur_per_kw``: contracted power and the price of each kW of
    the largest import above it.  ``import_limit_w``: maximum import per step (``inf`` = no
    limit), soft at ``import_limit_eur_per_kwh`` per kWh above it and
    ``import_limit_peak_eur_per_kw`` per kW of the largest step above it.
    ``export_limit_w``: export the EVs may cause (default 0 W).  ``compensation_eur_per_kwh``:
    paid to users per kWh discharged (grid side; assumption of the caller).
    ``wear_eur_per_kwh``: γ for every EV (``None``: each unit's own ``wear_eur_per_kwh``).
    ``wish_penalty_eur_per_kwh``: ρ (``None``: automatic, module
    docstring).  Bad input → :class:`ScenarioError` naming the argument.
    """
    if not (math.isfinite(dt_s) and dt_s > 0):
        raise ScenarioError(f"bems: dt_s must be > 0 s, got {dt_s}")
    base_arr = np.asarray(base_load_w, dtype=float)
    if base_arr.ndim != 1 or len(base_arr) == 0:
        raise ScenarioError(
            f"bems: base_load_w must be a 1-D series of at least one step, got shape "
            f"{base_arr.shape}"
        )
    t_n = len(base_arr)
    base = _series(base_arr, t_n, "base_load_w", lo=None)
    if not np.all(np.isfinite(base)):
        raise ScenarioError("bems: base_load_w has non-finite values")
    price = _series(price_eur_per_mwh, t_n, "price_eur_per_mwh")
    if not np.all(np.isfinite(price)):
        raise ScenarioError("bems: price_eur_per_mwh has non-finite values")
    mask = np.zeros(t_n, dtype=bool)
    if peak_hours is not None:
        m = np.asarray(peak_hours)
        if m.dtype.kind != "b" or m.shape != (t_n,):
            raise ScenarioError(
                f"bems: peak_hours must be {t_n} bools (True in peak-hour steps), got dtype "
                f"{m.dtype} and shape {m.shape}"
            )
        mask = m.astype(bool)
    lam_m = _scalar(peak_hours_eur_per_kw, "peak_hours_eur_per_kw")
    p_c = _scalar(contracted_w, "contracted_w", allow_inf=True)
    lam_c = _scalar(exceedance_eur_per_kw, "exceedance_eur_per_kw")
    limit = (
        np.full(t_n, math.inf)
        if import_limit_w is None
        else _series(import_limit_w, t_n, "import_limit_w")
    )
    sigma = _scalar(import_limit_eur_per_kwh, "import_limit_eur_per_kwh")
    tau = _scalar(import_limit_peak_eur_per_kw, "import_limit_peak_eur_per_kw")
    x_exp = _scalar(export_limit_w, "export_limit_w", allow_inf=True)
    kappa = _scalar(compensation_eur_per_kwh, "compensation_eur_per_kwh")
    units = list(evs)
    for i, u in enumerate(units):
        if not isinstance(u, StorageUnit):
            raise ScenarioError(f"bems: evs[{i}] is a {type(u).__name__}, not a StorageUnit")
    if wear_eur_per_kwh is not None:
        gamma = _scalar(wear_eur_per_kwh, "wear_eur_per_kwh")
        units = [dataclasses.replace(u, wear_eur_per_kwh=gamma) for u in units]
    units = [dataclasses.replace(u, discharge_eur_per_kwh=kappa) for u in units]
    dt_h = dt_s / 3600.0
    if wish_penalty_eur_per_kwh is None:
        n_m = max(int(mask.sum()), 1)
        per_kwh = (
            float(price.max()) / 1e3
            + lam_m / (n_m * dt_h)
            + lam_c / dt_h
            + sigma
            + tau / dt_h
            + max((u.wear_eur_per_kwh * u.eta_charge for u in units), default=0.0)
            + TIE_BREAK_EUR_PER_KWH
        )
        eta_min = min((u.eta_charge for u in units), default=1.0)
        rho = max(WISH_PENALTY_EUR_PER_KWH, 2.0 * per_kwh / eta_min)
    else:
        rho = _scalar(wish_penalty_eur_per_kwh, "wish_penalty_eur_per_kwh")

    site = Site(
        units=tuple(range(len(units))),
        # Σ P ≥ −max(B + X, 0)  ⇔  N ≥ min(B, −X)
        p_export_max_w=np.maximum(base + x_exp, 0.0),
        base_net_w=base,
        import_eur_per_kwh=price / 1e3,
        mean_mask=mask,
        mean_import_eur_per_kw=lam_m,
        peak_floor_w=0.0 if math.isinf(p_c) else p_c,
        peak_eur_per_kw=0.0 if math.isinf(p_c) else lam_c,
        soft_import_max_w=limit,
        soft_import_eur_per_kwh=sigma,
        soft_peak_eur_per_kw=tau,
    )
    out = schedule(
        units,
        n_steps=t_n,
        dt_s=dt_s,
        price_eur_per_mwh=0.0,
        sites=[site],
        wish_penalty_eur_per_kwh=rho,
    )

    # ---- cost terms from the powers, by the formulas of the module docstring -----------------
    net = base + out.p_w.sum(axis=0)
    imp_kw = np.maximum(net, 0.0) / 1e3
    c_kw = np.maximum(out.p_w, 0.0) / 1e3
    d_kw = np.maximum(-out.p_w, 0.0) / 1e3
    gam = np.array([u.wear_eur_per_kwh for u in units], dtype=float).reshape(-1, 1)
    etc = np.array([u.eta_charge for u in units], dtype=float).reshape(-1, 1)
    etd = np.array([u.eta_discharge for u in units], dtype=float).reshape(-1, 1)
    excess_w = np.where(np.isfinite(limit), np.maximum(net - limit, 0.0), 0.0)
    exceed_eur = 0.0 if math.isinf(p_c) else lam_c * max(float(net.max()) - p_c, 0.0) / 1e3
    return BemsPlan(
        p_ev_w=out.p_w,
        soc_ev=out.soc_end,
        import_w=net,
        import_limit_excess_w=excess_w,
        wish_shortfall_kwh=out.wish_shortfall_kwh,
        energy_eur=float(np.sum(price / 1e3 * imp_kw) * dt_h),
        peak_hours_eur=lam_m * float(imp_kw[mask].mean()) if mask.any() else 0.0,
        exceedance_eur=exceed_eur,
        wear_eur=float(np.sum(gam * (etc * c_kw + d_kw / etd)) * dt_h),
        compensation_eur=kappa * float(d_kw.sum()) * dt_h,
        import_limit_eur=sigma * float(excess_w.sum()) / 1e3 * dt_h
        + tau * float(excess_w.max(initial=0.0)) / 1e3,
        wish_penalty_eur=rho * float(out.wish_shortfall_kwh.sum()),
        objective_eur=out.cost_eur,
        dt_s=float(dt_s),
    )


__all__ = [
    "IMPORT_LIMIT_EUR_PER_KWH",
    "IMPORT_LIMIT_PEAK_EUR_PER_KW",
    "BemsPlan",
    "peak_hours_price_eur_per_kw",
    "plan",
]
