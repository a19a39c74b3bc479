"""Battery capacity fade before a run (Schmalstieg laws) and its cost.

The EV FMU (``models/V2X/Battery.mo``) integrates the capacity losses of Schmalstieg et al.,
J. Power Sources 257 (2014) 325–334 (NMC cell Sanyo UR18650E, 2.05 Ah), as states ``q_cal``
and ``q_cyc`` (fractions of the nominal capacity).  A vehicle that is not new starts with the
losses its past left; :func:`initial_losses` evaluates the same laws in closed form over a
stated history:

* calendar: ``q_cal = α · t_days^0.75``, ``α = (7.543·V − 23.75)·10⁶·exp(−6976/T)`` with V
  the cell open-circuit voltage [V] at the SOC the car is parked at and T [K];
* cycle: ``q_cyc = β · Q^0.5``, ``β = 7.348e-3·(V_rms − 3.667)² + 7.6e-4 + 4.081e-3·DOD`` with
  Q the cell charge throughput [Ah] counted in both directions (the FMU integrates |I|).

Q over the age: a car driven ``annual_km`` per year at ``kwh_per_km`` cycles that energy out of
and back into its pack, so its cells see ``2 × annual_kwh / capacity_kwh × q_cell_ah`` Ah a
year.  Every default below is an **assumption** (scenario README) except the laws, the cell
capacity and the OCV table (Schmalstieg et al. 2014, as in the FMU).

Marginal cycle wear (:func:`marginal_cycle_wear_eur_per_kwh`): the FMU integrates the cycle
law in its rate form ``dq_cyc/dAh = β²/(2·q_cyc)`` (the derivative of ``q = β·√Ah`` written with
``q``), so the cost of one more kWh of throughput follows from the pack's loss now.

Cost: :func:`degradation_cost_eur` prices an incremental loss Δq of a pack of nominal capacity
C at the replacement price per kWh (BloombergNEF battery price survey 2024: volume-weighted
average pack price **115 USD/kWh**, :data:`BNEF_2024_PACK_USD_PER_KWH`), converted at the ECB
2024 average reference rate **1.0824 USD per EUR** (:data:`ECB_2024_USD_PER_EUR`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError

FloatArray = npt.NDArray[np.float64]

OCV_SOC = np.linspace(0.0, 1.0, 11)
"""SOC points of :data:`OCV_CELL_V` (0, 0.1, …, 1)."""
OCV_CELL_V = np.array([3.331, 3.491, 3.581, 3.627, 3.655, 3.697, 3.775, 3.869, 3.965, 4.073, 4.162])
"""Cell OCV [V] of the Sanyo UR18650E (Schmalstieg et al. 2014; the FMU's ``ocv_tab_v``)."""
Q_CELL_AH = 2.05
"""Nominal cell capacity [Ah] (Sanyo UR18650E; the FMU's ``q_cell_ah``)."""
Q_START_MIN = 1e-4
"""Smallest initial loss the FMU accepts as a regular start (its default ``q_*_start``)."""

BNEF_2024_PACK_USD_PER_KWH = 115.0
"""BloombergNEF battery price survey 2024: volume-weighted average pack price [USD/kWh]."""
ECB_2024_USD_PER_EUR = 1.0824
"""ECB euro reference rate, 2024 annual average [USD per EUR]."""


def pack_cost_eur_per_kwh(
    usd_per_kwh: float = BNEF_2024_PACK_USD_PER_KWH, usd_per_eur: float = ECB_2024_USD_PER_EUR
) -> float:
    """Pack price [EUR/kWh] from a USD price and an exchange rate (USD per EUR)."""
    if usd_per_kwh < 0 or usd_per_eur <= 0:
        raise ScenarioError("pack cost: usd_per_kwh >= 0 and usd_per_eur > 0 required")
    return usd_per_kwh / usd_per_eur


def ocv_cell_v(soc: npt.ArrayLike) -> FloatArray:
    """Cell OCV [V] at ``soc`` (piecewise linear in the table, clipped to [0, 1])."""
    out: FloatArray = np.interp(np.clip(np.asarray(soc, dtype=float), 0, 1), OCV_SOC, OCV_CELL_V)
    return out


def calendar_alpha(v_cell: npt.ArrayLike, t_k: npt.ArrayLike) -> FloatArray:
    """Schmalstieg calendar factor α [1/day^0.75] at cell voltage [V] and temperature [K]."""
    v, t = np.asarray(v_cell, dtype=float), np.asarray(t_k, dtype=float)
    out: FloatArray = np.maximum((7.543 * v - 23.75) * 1e6 * np.exp(-6976.0 / t), 0.0)
    return out


def cycle_beta(v_rms: npt.ArrayLike, dod: npt.ArrayLike) -> FloatArray:
    """Schmalstieg cycle factor β [1/Ah^0.5] at V_rms [V] and depth of discharge (fraction)."""
    v, d = np.asarray(v_rms, dtype=float), np.asarray(dod, dtype=float)
    out: FloatArray = 7.348e-3 * (v - 3.667) ** 2 + 7.6e-4 + 4.081e-3 * d
    return out


@dataclass(frozen=True)
class AgeingHistory:
    """How the cars were used before the run (every value an **assumption**, README).

    ``annual_km`` driven per year at ``kwh_per_km`` (battery side); parked at ``soc_parked``
    at ``t_k`` (the annual mean temperature of the run's profile, e.g. 14.5 °C);
    cycled at ``v_rms_v`` and ``dod`` (the FMU's start values of its V_rms and DOD proxies).
    """

    annual_km: float = 11_000.0
    kwh_per_km: float = 0.17
    soc_parked: float = 0.6
    t_k: float = 287.65
    v_rms_v: float = 3.7
    dod: float = 0.3

    def __post_init__(self) -> None:
        if self.annual_km < 0 or self.kwh_per_km < 0 or self.t_k <= 0:
            raise ScenarioError("ageing history: annual_km, kwh_per_km >= 0 and t_k > 0 required")
        if not (0 <= self.soc_parked <= 1 and 0 <= self.dod <= 1):
            raise ScenarioError("ageing history: soc_parked and dod must be in [0, 1]")


def initial_losses(
    age_years: npt.ArrayLike, capacity_kwh: npt.ArrayLike, history: AgeingHistory
) -> tuple[FloatArray, FloatArray]:
    """Calendar and cycle losses ``(q_cal, q_cyc)`` [fraction] after ``age_years`` of use.

    Closed forms of the module docstring (365.25 days a year); each at least
    :data:`Q_START_MIN`, the FMU's regular start of its ``q^(−1/3)`` and ``1/q`` rate laws.
    """
    age = np.asarray(age_years, dtype=float)
    cap = np.asarray(capacity_kwh, dtype=float)
    if np.any(age < 0) or np.any(cap <= 0):
        raise ScenarioError("ageing: age_years >= 0 and capacity_kwh > 0 required")
    alpha = calendar_alpha(ocv_cell_v(history.soc_parked), history.t_k)
    q_cal = alpha * (age * 365.25) ** 0.75
    ah_cell = 2.0 * history.annual_km * history.kwh_per_km / cap * Q_CELL_AH * age
    q_cyc = cycle_beta(history.v_rms_v, history.dod) * np.sqrt(ah_cell)
    return np.maximum(q_cal, Q_START_MIN), np.maximum(q_cyc, Q_START_MIN)


OCV_MEAN_CELL_V = float((OCV_CELL_V.sum() - 0.5 * (OCV_CELL_V[0] + OCV_CELL_V[-1])) / 10.0)
"""Mean cell OCV over SOC 0..1 [V] (trapezoid; the FMU's ``ocv_mean_cell_v``): the FMU's
nominal pack energy is ``n_series·n_parallel·q_cell_ah·OCV_MEAN_CELL_V``."""


def marginal_cycle_wear_eur_per_kwh(
    q_cyc: npt.ArrayLike,
    *,
    v_rms_v: float = 3.7,
    dod: float = 0.3,
    pack_eur_per_kwh: float | None = None,
    v_cell_v: float = OCV_MEAN_CELL_V,
) -> FloatArray:
    """Cost [EUR per kWh of battery throughput] of the cycle ageing one more kWh causes.

    The FMU's law (``models/V2X/Battery.mo``): ``dq_cyc/dAh_cell = β²/(2·q_cyc)`` with
    ``β`` of :func:`cycle_beta` at its V_rms and DOD proxies (defaults: the FMU's start values
    ``v_rms_start_v`` = 3.7 V and ``dod_start`` = 0.3).  One kWh through a pack of ``C`` kWh
    (``C = n_s·n_p·Q_cell·V_mean``) at cell voltage ``v_cell_v`` moves
    ``Q_cell/C · V_mean/v_cell_v`` Ah through each cell, and a loss ``Δq`` costs
    ``Δq·C·pack price`` (:func:`degradation_cost_eur`), so::

        γ = β²/(2·q_cyc) · Q_cell · V_mean/v_cell_v · pack price

    independent of the pack's size.  Throughput counts both directions (the FMU integrates
    ``|I|``), as the BEMS's wear term does (``γ·(η_c·c + d/η_d)``, battery side).  Pack price
    default :func:`pack_cost_eur_per_kwh` (BNEF 2024).  ``q_cyc`` at least :data:`Q_START_MIN`.
    """
    q = np.asarray(q_cyc, dtype=float)
    price = pack_cost_eur_per_kwh() if pack_eur_per_kwh is None else pack_eur_per_kwh
    if np.any(~np.isfinite(q)) or np.any(q <= 0) or price < 0 or v_cell_v <= 0:
        raise ScenarioError(
            "marginal cycle wear: q_cyc finite and > 0, pack price >= 0, v_cell_v > 0 required"
        )
    beta = cycle_beta(v_rms_v, dod)
    slope_per_ah = beta**2 / (2.0 * np.maximum(q, Q_START_MIN))
    out: FloatArray = slope_per_ah * Q_CELL_AH * (OCV_MEAN_CELL_V / v_cell_v) * price
    return out


def band_cycling_proxies(soc_lo: float, soc_hi: float) -> tuple[float, float]:
    """Return the FMU's V_rms [V] and DOD proxies of a battery cycled daily through a SOC band.

    V_rms = the RMS cell OCV over ``[soc_lo, soc_hi]`` (uniform in SOC, as the throughput is;
    the FMU's ``v_rms_v`` is a throughput-weighted low-pass of ``v_cell²``, here without the
    resistive drop); DOD = ``soc_hi − soc_lo`` (the FMU's ``dod`` = half its low-passed daily
    SOC throughput: one discharge and one recharge through the band a day).
    """
    if not 0.0 <= soc_lo <= soc_hi <= 1.0:
        raise ScenarioError(f"band cycling: need 0 <= soc_lo <= soc_hi <= 1, got {soc_lo, soc_hi}")
    if soc_hi == soc_lo:
        return float(ocv_cell_v(soc_lo)), 0.0
    soc = np.linspace(soc_lo, soc_hi, 2001)
    v2 = ocv_cell_v(soc) ** 2
    mean_v2 = float(np.sum((v2[1:] + v2[:-1]) / 2.0) / (len(soc) - 1))
    return float(np.sqrt(mean_v2)), float(soc_hi - soc_lo)


def degradation_cost_eur(
    dq: npt.ArrayLike, capacity_kwh: npt.ArrayLike, pack_eur_per_kwh: float
) -> FloatArray:
    """Cost [EUR] of an incremental capacity loss ``dq`` (fraction) of packs of ``capacity_kwh``.

    ``dq × capacity × pack price``: the share of a replacement pack the loss uses up.
    """
    if pack_eur_per_kwh < 0:
        raise ScenarioError("degradation cost: pack price must be >= 0")
    out: FloatArray = (
        np.asarray(dq, dtype=float) * np.asarray(capacity_kwh, dtype=float) * pack_eur_per_kwh
    )
    return out


__all__ = [
    "BNEF_2024_PACK_USD_PER_KWH",
    "ECB_2024_USD_PER_EUR",
    "OCV_CELL_V",
    "OCV_MEAN_CELL_V",
    "Q_CELL_AH",
    "Q_START_MIN",
    "AgeingHistory",
    "band_cycling_proxies",
    "calendar_alpha",
    "cycle_beta",
    "degradation_cost_eur",
    "initial_losses",
    "marginal_cycle_wear_eur_per_kwh",
    "ocv_cell_v",
    "pack_cost_eur_per_kwh",
]
