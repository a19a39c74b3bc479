r"""Storage schedules by linear programming: EV sessions and stationary batteries (generic).

One linear program (LP) over a horizon of ``T`` steps of ``Δt`` hours for a set of *storage
units* — EV sessions (connected now or announced) and stationary batteries — solved with
:func:`scipy.optimize.linprog` (``method="highs"``, sparse matrices; no integers are needed).
Used by the ``smart``/``v2g`` strategies (rolling horizon,
:mod:`v2xcosim.domain.strategies`), the stationary battery (:mod:`v2xcosim.domain.provider`),
the building energy management (:mod:`v2xcosim.domain.bems`, through the connection terms)
and, with prices zero, the perfect-foresight bound on reverse flow (:func:`reverse_flow_bound`).

**Variables** (per unit ``u`` and step ``k`` in which it is present, ``a_u ≤ k < b_u``; kW and
kWh internally): charge power ``c_uk ≥ 0`` and discharge power ``d_uk ≥ 0`` at the grid side,
stored energy ``e_uk`` at the end of step ``k``; per unit with a departure wish a slack
``w_u ≥ 0`` [kWh]; per site with a base profile a reverse-flow variable ``r_sk ≥ 0`` [kW]; per
commitment a shortfall ``s_jk ≥ 0`` [kW]; per site with connection terms (below) an import
``g_sk ≥ 0`` [kW], a peak excess ``z_s ≥ 0`` [kW] and a soft-limit excess ``v_sk ≥ 0`` [kW].
The unit's grid power is ``P_uk = c_uk − d_uk`` (load convention, + = charging).

**Constraints**

* SOC dynamics: ``e_uk = e_u,k−1 + (η_c·c_uk − d_uk/η_d)·Δt`` with ``e_u,a−1 = SOC0·C``.
* SOC band: ``min(soc_min, SOC0)·C ≤ e_uk ≤ max(soc_max, SOC0)·C`` (an EV arriving outside
  its band is not forced back in at once); ``0 ≤ c ≤ P_ch,max``; ``0 ≤ d ≤ P_dis,max`` (0 for
  a unidirectional unit; 0 where ``discharge_allowed`` is False for the unit and step).
* Departure wish (EVs): ``e_u,b−1 + w_u ≥ SOC*·C`` where ``SOC*`` is the wish **pre-clipped to
  what is reachable** by charging at full power from the start (``min(wish, soc_max, SOC0 +
  η_c·P_ch,max·n_steps·Δt/C)``), and ``w_u`` costs ``wish_penalty_eur_per_kwh`` (default
  50 EUR/kWh, far above any energy price): the wish is met whenever it is feasible, and when a
  site cap makes it infeasible the LP gets as close as it can.  If the departure lies beyond
  the horizon the constraint applies at the horizon's end to ``SOC*`` less what full power
  after the horizon still adds (the CS EMS guard's must-charge rule,
  :func:`~v2xcosim.domain.cs_ems.power_bounds`).  **No unpaid overfill**: an EV leaving in the
  horizon ends at ``e_u,b−1 ≤ max(SOC*, SOC0)·C`` — awarded up-flexibility is delivered by
  shifting charge earlier, never by charging the user more than the wish.
* Stationary units (no departure): ``e_u,T−1 ≥ soc_end·C`` (default: the SOC now), so the
  battery does not sell off its content at the horizon's end.
* Site caps (per site ``s`` and step): ``−P_exp,max ≤ Σ_{u∈s} P_uk ≤ P_imp,max``.
* Reverse flow at a site with a base profile ``B_sk`` (net power without the units, load
  convention): ``r_sk ≥ −(B_sk + Σ_{u∈s} P_uk)``.  Minimising ``r`` is maximising the forecast
  surplus ``max(−B, 0)`` the units absorb (``absorbed = surplus − r``; the same LP as "absorbed
  ≤ surplus" but exact when a discharge would itself cause reverse flow).
* Commitments (awards): per step a committed delta ``δ_jk`` of a group of units against a
  baseline ``β_jk``: ``s_jk ≥ β_jk + δ_jk − Σ P`` where ``δ > 0`` (consume more),
  ``s_jk ≥ Σ P − β_jk − δ_jk`` where ``δ < 0``.
* Connection terms of a site (each only where its price is set, so an LP without them is
  unchanged); ``N_sk = B_sk + Σ_{u∈s} P_uk`` is the connection's net power (``B = 0`` without a
  base profile):

  - import ``g_sk ≥ N_sk`` (and ``≥ 0``), priced per kWh (``import_eur_per_kwh``, ≥ 0, so
    ``g = max(N, 0)`` at the optimum: export is not credited) and, for a **mean over a
    mask** ``M`` (e.g. a tariff's peak hours), ``λ_M/|M|`` per kW in each masked step: the
    mean import over ``M`` priced at ``λ_M`` EUR/kW;
  - **peak** epigraph ``z_s ≥ N_sk − F_s`` for every step (``F_s`` a floor such as a
    contracted power): ``λ_z·z_s`` prices the largest net power above the floor;
  - **soft per-step upper bound** ``v_sk ≥ N_sk − L_sk`` where ``L_sk`` is finite, priced
    ``σ_s`` per kWh: a limit such as a DSO event, kept whenever the units can keep it and
    else exceeded by the least energy; and its **largest excess** ``y_s ≥ N_sk − L_sk``
    (``y_s ≥ 0``, one epigraph variable over the finite-limit steps), priced ``τ_s`` per kW:
    when the energy above the limit cannot be avoided it is spread evenly rather than left
    in a few steps.

**Objective** [EUR]::

    Σ_uk π_k·(c_uk − d_uk)·Δt                       energy cost (π_k in EUR/kWh)
  + Σ_uk γ_u·(η_c·c_uk + d_uk/η_d)·Δt              battery wear (γ_u EUR/kWh throughput)
  + Σ_uk ε·(1 − k/T)·c_uk·Δt + ε·d_uk·Δt            tie-break (ε = 1e-4 EUR/kWh)
  + Σ_u ρ·w_u                                      wish shortfall (ρ EUR/kWh)
  + Σ_sk λ_sk·r_sk·Δt                               reverse flow (λ EUR/kWh, "surplus value")
  + Σ_jk σ_j·s_jk·Δt                                award shortfall (σ EUR/kWh)
  + Σ_uk κ_u·d_uk·Δt                                discharge compensation (κ EUR/kWh)
  + Σ_sk (π^g_sk·Δt + λ_M,s·[k∈M_s]/|M_s|)·g_sk     connection import and its masked mean
  + Σ_s λ_z,s·z_s + Σ_sk σ_s·v_sk·Δt                peak above the floor, soft-limit excess
  + Σ_s τ_s·y_s                                     largest soft-limit excess

The **tie-break** makes the LP charge as late as possible and not cycle when it is otherwise
indifferent (equal prices, no surplus): a charge one step earlier costs ``ε/T`` more; every
kWh discharged costs ``ε``.  It is 0.1 EUR/MWh at most, far below any price difference that
matters.  **Cycling**: selling one kWh at step ``j`` that was bought at step ``i`` needs
``1/(η_c·η_d)`` kWh bought and wears ``2γ/η_d`` (``γ·η_c`` per kWh bought, ``γ/η_d`` per kWh
sold), so the LP discharges to recharge (or charges to discharge later) only if ``π_j − π_i >
(1/(η_c·η_d) − 1)·π_i + 2γ/η_d`` (+ the tie-break): a discharge is never followed by a
recharge that costs more than it earned, in the prices the LP is given.

**Wear cost** :func:`cycle_wear_eur_per_kwh`: the Schmalstieg et al. (2014) cycle law
``ΔQ_loss = β·√Ah`` (relative capacity loss, Ah of one cell's charge throughput) linearised at
the pack's current throughput: ``γ = dΔQ/dAh · Ah_cell/kWh_pack · C · pack cost =
β/(2√Ah)·Q_cell·pack cost`` [EUR per kWh of pack throughput] — the value of the capacity lost
at the pack's price (BNEF 2024: 115 USD/kWh).

**Size and speed**: variables exist only for steps in which a unit is present; matrices are
built vectorised as ``scipy.sparse`` COO.  Budget per re-solve: median ≤ 50 ms, max ≤ 500 ms.
Every :func:`linprog` call is timed into :data:`SOLVE_STATS` (:class:`SolveStats`: wall-clock
``time.perf_counter()`` durations with the LP's size; read by the project's benchmark, never
by the model, so it cannot change a result).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.optimize import linprog

from v2xcosim.core.errors import ScenarioError, SimulationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

TIE_BREAK_EUR_PER_KWH = 1e-4
"""ε of the tie-break (module docstring): 0.1 EUR/MWh, below any price difference that matters."""

WISH_PENALTY_EUR_PER_KWH = 50.0
"""ρ: cost of a missing kWh at departure (assumption: far above any energy price)."""


class SolveStats:
    """Collector of the LP solves of this process: duration and size of each ``linprog`` call.

    Always on and cheap (one ``time.perf_counter()`` pair and a list append per solve); the
    durations are wall-clock seconds, so they include what other load on the machine costs.
    ``reset()`` before a measured run, ``times_s()`` after it.
    """

    def __init__(self) -> None:
        """Start empty."""
        self._t_s: list[float] = []
        self._size: list[tuple[int, int]] = []

    def record(self, t_s: float, n_vars: int, n_rows: int) -> None:
        """Add one solve of ``t_s`` seconds on an LP of ``n_vars`` columns and ``n_rows`` rows."""
        self._t_s.append(t_s)
        self._size.append((n_vars, n_rows))

    def reset(self) -> None:
        """Forget every solve recorded so far."""
        self._t_s.clear()
        self._size.clear()

    def times_s(self) -> FloatArray:
        """Durations [s] of the solves since the last :meth:`reset`, in call order."""
        return np.array(self._t_s, dtype=float)

    def sizes(self) -> list[tuple[int, int]]:
        """``(variables, constraint rows)`` of each solve, in call order."""
        return list(self._size)

    def __len__(self) -> int:
        """Return the number of solves recorded."""
        return len(self._t_s)


SOLVE_STATS = SolveStats()
"""The process-wide :class:`SolveStats` every :func:`schedule` call records into."""

# --- Schmalstieg et al. 2014 cycle-ageing law (NMC, Sanyo UR18650E) -------------------------
SCHMALSTIEG_CELL_AH = 2.05
"""Nominal capacity of the Sanyo UR18650E cell of Schmalstieg et al. (2014) [Ah]."""

PACK_COST_USD_PER_KWH_2024 = 115.0
"""BloombergNEF battery price survey 2024: volume-weighted average pack price [USD/kWh]."""

EUR_PER_USD = 0.92
"""Exchange rate [EUR/USD] (assumption: about the 2024 average)."""


def schmalstieg_beta(v_rms: float = 3.7, dod: float = 0.5) -> float:
    """Cycle-ageing factor β of Schmalstieg et al. (2014) [1/√Ah].

    ``β = 7.348e-3·(V_rms − 3.667)² + 7.6e-4 + 4.081e-3·DOD`` (J. Power Sources 257 (2014)
    325–334; valid near 1C and 35 °C).  Defaults (assumption): ``V_rms`` 3.7 V, about the NMC
    open-circuit voltage at 50 % SOC (3.697 V, same paper's OCV table), and DOD 0.5, a typical
    daily swing of an EV or a stationary battery.
    """
    if not (math.isfinite(v_rms) and 0.0 <= dod <= 1.0):
        raise ScenarioError("schmalstieg_beta: v_rms finite and dod in [0, 1] required")
    return 7.348e-3 * (v_rms - 3.667) ** 2 + 7.6e-4 + 4.081e-3 * dod


def cycle_wear_eur_per_kwh(
    throughput_efc: float = 300.0,
    *,
    v_rms: float = 3.7,
    dod: float = 0.5,
    pack_cost_eur_per_kwh: float = PACK_COST_USD_PER_KWH_2024 * EUR_PER_USD,
) -> float:
    """Marginal wear cost γ [EUR per kWh of battery throughput] from the Schmalstieg cycle law.

    ``ΔQ_loss = β·√Ah`` (fraction of capacity; Ah = one cell's charge throughput, charge and
    discharge counted).  Linearised at the current throughput ``Ah0 = 2·EFC·Q_cell`` (``EFC``
    = equivalent full cycles so far): ``dΔQ/dAh = β/(2√Ah0)``.  One kWh through a pack of
    ``C`` kWh moves ``Q_cell/C`` Ah through each cell and the lost capacity is worth ``C ×
    pack cost`` per unit of ΔQ, so ``γ = β/(2√Ah0)·Q_cell·pack cost`` — independent of the pack
    size.  ``throughput_efc`` default 300 (assumption: a pack a few years old; the law's slope
    is infinite at zero throughput).  Pack cost default: BNEF 2024, 115 USD/kWh ×
    :data:`EUR_PER_USD`.  With the defaults γ ≈ 0.0092 EUR/kWh (9.2 EUR/MWh).
    """
    if not (throughput_efc > 0 and pack_cost_eur_per_kwh >= 0):
        raise ScenarioError("cycle_wear_eur_per_kwh: throughput_efc > 0, pack cost >= 0 required")
    ah0 = 2.0 * throughput_efc * SCHMALSTIEG_CELL_AH
    slope_per_ah = schmalstieg_beta(v_rms, dod) / (2.0 * math.sqrt(ah0))
    return slope_per_ah * SCHMALSTIEG_CELL_AH * pack_cost_eur_per_kwh


@dataclass(frozen=True)
class StorageUnit:
    """One EV session or stationary battery as the LP sees it (powers W, energy kWh, SOC 0–1).

    ``arrival_k``: first step of the horizon in which the unit is present (0: now).
    ``departure_k``: first step in which it is gone (may exceed the horizon); ``None`` for a
    stationary battery.  ``soc0``: SOC at the start of step ``arrival_k``.  ``soc_wish``: the
    SOC wished at departure (EVs; ``None``: no wish).  ``soc_end``: stationary units' SOC at the
    horizon's end at least (default ``soc0``).  ``controllable`` False: the unit charges at full
    power to its wish from arrival (a user outside the campaign) and the LP only accounts for it
    in site sums.  ``wear_eur_per_kwh``: γ (:func:`cycle_wear_eur_per_kwh`).
    ``discharge_eur_per_kwh``: κ, paid per kWh discharged at the grid side (e.g. the user's
    compensation for V2B energy).
    """

    capacity_kwh: float
    soc0: float
    p_charge_max_w: float
    p_discharge_max_w: float = 0.0
    eta_charge: float = 0.92
    eta_discharge: float = 0.92
    soc_min: float = 0.0
    soc_max: float = 1.0
    arrival_k: int = 0
    departure_k: int | None = None
    soc_wish: float | None = None
    soc_end: float | None = None
    controllable: bool = True
    wear_eur_per_kwh: float = 0.0
    discharge_eur_per_kwh: float = 0.0

    def __post_init__(self) -> None:
        bad = []
        if not self.capacity_kwh > 0:
            bad.append("capacity_kwh > 0")
        if not (math.isfinite(self.soc0) and 0.0 <= self.soc0 <= 1.0):
            bad.append("soc0 in [0, 1]")
        if not (self.p_charge_max_w >= 0 and self.p_discharge_max_w >= 0):
            bad.append("power limits >= 0")
        if not (0 < self.eta_charge <= 1 and 0 < self.eta_discharge <= 1):
            bad.append("efficiencies in (0, 1]")
        if not 0.0 <= self.soc_min <= self.soc_max <= 1.0:
            bad.append("0 <= soc_min <= soc_max <= 1")
        if self.departure_k is not None and self.departure_k <= self.arrival_k:
            bad.append("departure_k > arrival_k")
        if not self.wear_eur_per_kwh >= 0:
            bad.append("wear_eur_per_kwh >= 0")
        if not (math.isfinite(self.discharge_eur_per_kwh) and self.discharge_eur_per_kwh >= 0):
            bad.append("discharge_eur_per_kwh finite and >= 0")
        if bad:
            raise ScenarioError(f"StorageUnit: need {', '.join(bad)}")


@dataclass(frozen=True)
class Site:
    """A group of units behind one connection (site caps, reverse flow at its transformer).

    ``units``: indices into the unit list.  ``p_import_max_w`` / ``p_export_max_w`` (≥ 0;
    scalar or one value per step): caps on the units' summed power.  ``base_net_w`` (one value
    per step, load convention): the connection's net power without the units; with
    ``reverse_eur_per_kwh`` > 0 (scalar or per step) the LP pays that much per kWh of reverse
    flow left, i.e. earns it per kWh of surplus absorbed.

    Connection terms on the net power ``N = base_net_w + Σ P`` (module docstring):
    ``import_eur_per_kwh`` (≥ 0, scalar or per step) prices the import ``max(N, 0)``;
    ``mean_mask`` (bools per step) with ``mean_import_eur_per_kw`` (≥ 0) prices the mean
    import over the masked steps; ``peak_eur_per_kw`` (≥ 0) prices the largest ``N`` above
    ``peak_floor_w``; ``soft_import_max_w`` (scalar or per step, ``inf`` = none) is a per-step
    upper bound on ``N`` whose excess costs ``soft_import_eur_per_kwh`` (≥ 0) per kWh, and
    whose largest excess over the horizon costs ``soft_peak_eur_per_kw`` (≥ 0) per kW.
    """

    units: tuple[int, ...]
    p_import_max_w: float | FloatArray = math.inf
    p_export_max_w: float | FloatArray = math.inf
    base_net_w: FloatArray | None = None
    reverse_eur_per_kwh: float | FloatArray = 0.0
    import_eur_per_kwh: float | FloatArray = 0.0
    mean_mask: BoolArray | None = None
    mean_import_eur_per_kw: float = 0.0
    peak_floor_w: float = 0.0
    peak_eur_per_kw: float = 0.0
    soft_import_max_w: float | FloatArray = math.inf
    soft_import_eur_per_kwh: float = 0.0
    soft_peak_eur_per_kw: float = 0.0


@dataclass(frozen=True)
class Commitment:
    """A committed power delta of a group of units vs a baseline (an award) [W per step].

    ``delta_w`` > 0 consume more, < 0 consume less, 0: no commitment in that step;
    ``penalty_eur_per_mwh``: cost of each MWh not delivered.
    """

    units: tuple[int, ...]
    baseline_w: FloatArray
    delta_w: FloatArray
    penalty_eur_per_mwh: float = 1000.0


@dataclass(frozen=True)
class Schedule:
    """The LP's answer: per unit and step the grid power [W, load convention] and SOC at its end.

    Steps in which a unit is absent have power 0 and SOC NaN.  ``wish_shortfall_kwh``: energy
    missing at departure per unit (0 where met or no wish).  ``cost_eur``: the objective.
    ``reverse_kwh``: reverse-flow energy left per site with a base profile.
    """

    p_w: FloatArray
    soc_end: FloatArray
    wish_shortfall_kwh: FloatArray
    cost_eur: float
    reverse_kwh: FloatArray = field(default_factory=lambda: np.zeros(0))


def _per_step(x: float | FloatArray, n: int, what: str) -> FloatArray:
    a = np.broadcast_to(np.asarray(x, dtype=float), (n,)).astype(float)
    if np.any(np.isnan(a)):
        raise ScenarioError(f"schedule: {what} has NaN values")
    return a


@dataclass(frozen=True)
class _Terms:
    """A site's connection terms checked and per step: None / 0 where the term is unused."""

    base_kw: FloatArray
    import_cost: FloatArray | None  # EUR per kW of g in each step (energy + masked mean)
    peak_cost: float  # EUR per kW of z
    peak_floor_kw: float
    soft_steps: IntArray | None  # steps with a finite soft limit
    soft_max_kw: FloatArray
    soft_cost: float  # EUR per kWh of v
    soft_peak_cost: float  # EUR per kW of y (the largest excess)
    soft_peak_steps: IntArray | None  # steps with a finite soft limit, when y is priced


def _nonneg(x: float | FloatArray, n: int, what: str) -> FloatArray:
    a = _per_step(x, n, what)
    if not np.all(np.isfinite(a) & (a >= 0)):
        bad = int(np.flatnonzero(~(np.isfinite(a) & (a >= 0)))[0])
        raise ScenarioError(
            f"schedule: {what} must be finite and >= 0 (a negative price on the import would "
            f"make it unbounded: export is not credited); step {bad} has {a[bad]}"
        )
    return a


def _connection_terms(j: int, site: Site, t_n: int, dt_h: float) -> _Terms:
    """Check site ``j``'s connection terms and bring them to per-step kW / EUR form."""
    where = f"sites[{j}]"
    base = (
        np.zeros(t_n)
        if site.base_net_w is None
        else _per_step(site.base_net_w, t_n, f"{where}.base_net_w") / 1e3
    )
    if not np.all(np.isfinite(base)):
        raise ScenarioError(f"schedule: {where}.base_net_w has non-finite values")
    energy = _nonneg(site.import_eur_per_kwh, t_n, f"{where}.import_eur_per_kwh")
    lam_m = float(_nonneg(site.mean_import_eur_per_kw, 1, f"{where}.mean_import_eur_per_kw")[0])
    mean = np.zeros(t_n)
    if site.mean_mask is not None:
        mask = np.asarray(site.mean_mask)
        if mask.dtype.kind != "b" or mask.shape != (t_n,):
            raise ScenarioError(
                f"schedule: {where}.mean_mask must be {t_n} bools (one per step), got dtype "
                f"{mask.dtype} and shape {mask.shape}"
            )
        if mask.any():
            mean = np.where(mask, lam_m / float(mask.sum()), 0.0)
    import_cost = energy * dt_h + mean
    peak = float(_nonneg(site.peak_eur_per_kw, 1, f"{where}.peak_eur_per_kw")[0])
    floor_w = float(site.peak_floor_w)
    if not math.isfinite(floor_w):
        raise ScenarioError(f"schedule: {where}.peak_floor_w must be finite, got {floor_w}")
    soft_max = _per_step(site.soft_import_max_w, t_n, f"{where}.soft_import_max_w") / 1e3
    if np.any(soft_max == -np.inf):
        raise ScenarioError(f"schedule: {where}.soft_import_max_w has -inf; give a finite limit")
    sigma = float(_nonneg(site.soft_import_eur_per_kwh, 1, f"{where}.soft_import_eur_per_kwh")[0])
    tau = float(_nonneg(site.soft_peak_eur_per_kw, 1, f"{where}.soft_peak_eur_per_kw")[0])
    finite = np.flatnonzero(np.isfinite(soft_max)).astype(np.int64)
    return _Terms(
        base_kw=base,
        import_cost=import_cost if np.any(import_cost > 0) else None,
        peak_cost=peak,
        peak_floor_kw=floor_w / 1e3,
        soft_steps=finite if len(finite) and sigma > 0 else None,
        soft_max_kw=soft_max,
        soft_cost=sigma,
        soft_peak_cost=tau,
        soft_peak_steps=finite if len(finite) and tau > 0 else None,
    )


def _discharge_mask(mask: npt.ArrayLike, n_units: int, n_steps: int) -> BoolArray:
    """``discharge_allowed`` as ``(n_units, n_steps)`` bools; a 1-D mask holds for every unit."""
    a = np.asarray(mask)
    if a.dtype.kind != "b":
        raise ScenarioError(
            f"schedule: discharge_allowed must be bools, got dtype {a.dtype}; pass True where "
            "a unit may discharge"
        )
    if a.shape == (n_steps,):
        a = np.broadcast_to(a, (n_units, n_steps))
    elif a.shape != (n_units, n_steps):
        raise ScenarioError(
            f"schedule: discharge_allowed has shape {a.shape}; it needs ({n_steps},) (one "
            f"value per step, for every unit) or ({n_units}, {n_steps}) (per unit and step)"
        )
    out: BoolArray = np.array(a, dtype=bool)
    return out


def _uncontrolled(u: StorageUnit, k0: int, k1: int, dt_h: float) -> FloatArray:
    """Full power to the wish (or to soc_max without a wish) from arrival [kW per step]."""
    e = u.soc0 * u.capacity_kwh
    top = (u.soc_max if u.soc_wish is None else min(u.soc_wish, u.soc_max)) * u.capacity_kwh
    out = np.zeros(k1 - k0)
    for j in range(k1 - k0):
        p = min(u.p_charge_max_w / 1e3, max(top - e, 0.0) / (u.eta_charge * dt_h))
        out[j] = p
        e += p * u.eta_charge * dt_h
    return out


def schedule(
    units: Sequence[StorageUnit],
    *,
    n_steps: int,
    dt_s: float,
    price_eur_per_mwh: float | FloatArray = 0.0,
    sites: Sequence[Site] = (),
    commitments: Sequence[Commitment] = (),
    tie_break_eur_per_kwh: float = TIE_BREAK_EUR_PER_KWH,
    wish_penalty_eur_per_kwh: float = WISH_PENALTY_EUR_PER_KWH,
    discharge_allowed: npt.ArrayLike | None = None,
) -> Schedule:
    """Solve the LP of the module docstring; return per-unit schedules over ``n_steps`` steps.

    ``price_eur_per_mwh``: energy price per step (scalar or ``n_steps`` values).
    ``discharge_allowed`` (default: all): where units may discharge at all, either per unit
    and step (``(len(units), n_steps)`` bools) or per step for every unit (``n_steps`` bools);
    ``d_uk = 0`` where it is False.  Raises
    :class:`ScenarioError` on bad input and :class:`SimulationError` if HiGHS fails (the LP
    is always feasible: every hard bound is met by staying idle, the wish is soft).
    """
    if n_steps < 1 or not dt_s > 0:
        raise ScenarioError(f"schedule: need n_steps >= 1 and dt_s > 0, got {n_steps}, {dt_s}")
    n_u, t_n, dt_h = len(units), n_steps, dt_s / 3600.0
    price = _per_step(price_eur_per_mwh, t_n, "price_eur_per_mwh") / 1e3  # EUR/kWh
    # ---- present steps of each unit: [k0, k1) clipped to the horizon -------------------------
    k0 = np.array([min(max(u.arrival_k, 0), t_n) for u in units], dtype=np.int64)
    k1 = np.array(
        [t_n if u.departure_k is None else min(max(u.departure_k, 0), t_n) for u in units],
        dtype=np.int64,
    ).reshape(n_u)
    m = np.maximum(k1 - k0, 0)
    off = np.concatenate([[0], np.cumsum(m)]).astype(np.int64)
    n_p = int(off[-1])  # present (unit, step) pairs
    unit_of = np.repeat(np.arange(n_u), m)
    step_of = (np.arange(n_p) - off[unit_of] + k0[unit_of]).astype(np.int64)
    first = np.zeros(n_p, dtype=bool)
    last = np.zeros(n_p, dtype=bool)
    has = m > 0
    first[off[:-1][has]] = True
    last[(off[1:] - 1)[has]] = True

    def col(name: str) -> FloatArray:
        return np.array([float(getattr(u, name)) for u in units], dtype=float).reshape(n_u)

    cap = col("capacity_kwh")
    soc0 = col("soc0")
    pc = col("p_charge_max_w") / 1e3
    pd_ = col("p_discharge_max_w") / 1e3
    etc, etd = col("eta_charge"), col("eta_discharge")
    wear = col("wear_eur_per_kwh")
    comp = col("discharge_eur_per_kwh")
    e0 = soc0 * cap
    e_lo = np.minimum(col("soc_min"), soc0) * cap
    e_hi = np.maximum(col("soc_max"), soc0) * cap
    ctrl = np.array([u.controllable for u in units], dtype=bool).reshape(n_u)

    # ---- variable layout: c | d | e | w (wish slacks) | r (reverse) | s (shortfall) ---------
    ic, id_, ie = 0, n_p, 2 * n_p
    iw = 3 * n_p
    wish_units: list[int] = []
    wish_kwh: list[float] = []
    final_cap: dict[int, float] = {}
    for i, u in enumerate(units):
        if m[i] == 0 or not ctrl[i]:
            continue
        if u.departure_k is None:  # stationary: keep the content at the horizon end
            target = (u.soc0 if u.soc_end is None else u.soc_end) * u.capacity_kwh
            wish_units.append(i)
            wish_kwh.append(min(target, e_hi[i]))
            continue
        wish = min(u.soc_wish if u.soc_wish is not None else u.soc0, u.soc_max) * u.capacity_kwh
        reach = (
            e0[i]
            + etc[i] * pc[i] * m[i] * dt_h
            + etc[i] * pc[i] * dt_h * max(u.departure_k - k1[i], 0)
        )
        wish = min(wish, reach)  # pre-clip: the closest feasible
        after = etc[i] * pc[i] * dt_h * max(u.departure_k - t_n, 0)
        need = max(wish - after, 0.0) if u.departure_k > t_n else wish
        wish_units.append(i)
        wish_kwh.append(need)
        if u.departure_k <= t_n:  # leaves in the horizon: no overfill beyond the wish
            final_cap[i] = max(wish, e0[i])
    n_w = len(wish_units)
    ir = iw + n_w
    base_sites = [j for j, s in enumerate(sites) if s.base_net_w is not None]
    n_r = len(base_sites) * t_n
    is_ = ir + n_r
    n_s = len(commitments) * t_n
    terms = [_connection_terms(j, s, t_n, dt_h) for j, s in enumerate(sites)]
    # connection blocks after s: g (import) per step, z (peak) one, v (soft excess) per step
    ig = is_ + n_s
    n_x = ig
    cols: list[tuple[IntArray | None, int | None, IntArray | None, int | None]] = []
    for ct in terms:
        g_col: IntArray | None = None
        z_col: int | None = None
        v_col: IntArray | None = None
        y_col: int | None = None
        if ct.import_cost is not None:
            g_col = n_x + np.arange(t_n, dtype=np.int64)
            n_x += t_n
        if ct.peak_cost > 0:
            z_col = n_x
            n_x += 1
        if ct.soft_steps is not None:
            v_col = n_x + np.arange(len(ct.soft_steps), dtype=np.int64)
            n_x += len(ct.soft_steps)
        if ct.soft_peak_steps is not None:
            y_col = n_x
            n_x += 1
        cols.append((g_col, z_col, v_col, y_col))

    # ---- bounds ------------------------------------------------------------------------------
    lb = np.zeros(n_x)
    ub = np.full(n_x, np.inf)
    ub[ic : ic + n_p] = pc[unit_of]
    ub[id_ : id_ + n_p] = pd_[unit_of]
    if discharge_allowed is not None:
        allowed = _discharge_mask(discharge_allowed, n_u, t_n)
        ub[id_ : id_ + n_p] = np.where(allowed[unit_of, step_of], ub[id_ : id_ + n_p], 0.0)
    lb[ie : ie + n_p] = e_lo[unit_of]
    ub[ie : ie + n_p] = e_hi[unit_of]
    for i, v in final_cap.items():
        j = ie + off[i + 1] - 1
        ub[j] = max(min(ub[j], v), lb[j])
    for i in map(int, np.flatnonzero(~ctrl & has)):
        fixed = _uncontrolled(units[i], int(k0[i]), int(k1[i]), dt_h)
        sl = slice(int(off[i]), int(off[i + 1]))
        lb[ic:][sl] = fixed
        ub[ic:][sl] = fixed
        ub[id_:][sl] = 0.0
        lb[ie:][sl] = 0.0
        ub[ie:][sl] = cap[i]

    # ---- objective ---------------------------------------------------------------------------
    cost = np.zeros(n_x)
    pr = price[step_of]
    late = tie_break_eur_per_kwh * (1.0 - step_of / t_n)
    cost[ic : ic + n_p] = (pr + wear[unit_of] * etc[unit_of] + late) * dt_h
    cost[id_ : id_ + n_p] = (
        -pr + wear[unit_of] / etd[unit_of] + tie_break_eur_per_kwh + comp[unit_of]
    ) * dt_h
    cost[iw : iw + n_w] = wish_penalty_eur_per_kwh

    # ---- equalities: SOC dynamics ------------------------------------------------------------
    rows = np.arange(n_p)
    prev = np.flatnonzero(~first)
    eq_r = np.concatenate([rows, rows, rows, prev])
    eq_c = np.concatenate([ie + rows, ic + rows, id_ + rows, ie + prev - 1])
    eq_v = np.concatenate(
        [np.ones(n_p), -etc[unit_of] * dt_h, dt_h / etd[unit_of], -np.ones(len(prev))]
    )
    b_eq = np.where(first, e0[unit_of], 0.0)
    a_eq = sp.csr_array((eq_v, (eq_r, eq_c)), shape=(n_p, n_x))

    # ---- inequalities ------------------------------------------------------------------------
    ub_r: list[IntArray] = []
    ub_c: list[IntArray] = []
    ub_v: list[FloatArray] = []
    b_ub: list[FloatArray] = []
    n_rows = 0

    def add(r: IntArray, c: IntArray, v: FloatArray, b: FloatArray) -> None:
        nonlocal n_rows
        ub_r.append(r + n_rows)
        ub_c.append(c)
        ub_v.append(v)
        b_ub.append(b)
        n_rows += len(b)

    if n_w:  # wish: −e_last − w ≤ −wish
        wu = np.array(wish_units, dtype=np.int64)
        r = np.arange(n_w, dtype=np.int64)
        add(
            np.concatenate([r, r]),
            np.concatenate([ie + off[wu + 1] - 1, iw + r]),
            -np.ones(2 * n_w),
            -np.array(wish_kwh),
        )

    def site_sum(members: tuple[int, ...]) -> tuple[IntArray, IntArray, FloatArray]:
        """Columns and coefficients of Σ P_uk over ``members``, with the step of each term."""
        sel = np.isin(unit_of, np.array(members, dtype=np.int64))
        idx = np.flatnonzero(sel)
        k = step_of[idx]
        return (
            np.concatenate([k, k]),
            np.concatenate([ic + idx, id_ + idx]),
            np.concatenate([np.ones(len(idx)), -np.ones(len(idx))]),
        )

    for j, site in enumerate(sites):
        bad = [u for u in site.units if not 0 <= u < n_u]
        if bad:
            raise ScenarioError(f"schedule: sites[{j}].units {bad} are not unit indices")
        kk, cc, vv = site_sum(site.units)
        imp = _per_step(site.p_import_max_w, t_n, f"sites[{j}].p_import_max_w") / 1e3
        exp = _per_step(site.p_export_max_w, t_n, f"sites[{j}].p_export_max_w") / 1e3
        for sign, cap_k in ((1.0, imp), (-1.0, exp)):  # ±Σ P ≤ cap, rows for finite caps
            steps = np.flatnonzero(np.isfinite(cap_k) & np.isin(np.arange(t_n), kk))
            if len(steps):
                row = np.full(t_n, -1, dtype=np.int64)
                row[steps] = np.arange(len(steps))
                keep = row[kk] >= 0
                add(row[kk[keep]], cc[keep], sign * vv[keep], cap_k[steps])
        if site.base_net_w is not None:
            base = _per_step(site.base_net_w, t_n, f"sites[{j}].base_net_w") / 1e3
            lam = _per_step(site.reverse_eur_per_kwh, t_n, f"sites[{j}].reverse_eur_per_kwh")
            rcol = ir + base_sites.index(j) * t_n + np.arange(t_n)
            cost[rcol] = lam * dt_h
            steps = np.arange(t_n, dtype=np.int64)
            add(  # −r − Σ P ≤ B
                np.concatenate([kk, steps]),
                np.concatenate([cc, rcol]),
                np.concatenate([-vv, -np.ones(t_n)]),
                base,
            )
    for site, ct, (gc, zc, vc, yc) in zip(sites, terms, cols, strict=True):
        if gc is None and zc is None and vc is None and yc is None:
            continue
        kk, cc, vv = site_sum(site.units)
        steps = np.arange(t_n, dtype=np.int64)
        if gc is not None and ct.import_cost is not None:  # Σ P − g ≤ −B
            cost[gc] = ct.import_cost
            add(
                np.concatenate([kk, steps]),
                np.concatenate([cc, gc]),
                np.concatenate([vv, -np.ones(t_n)]),
                -ct.base_kw,
            )
        if zc is not None:  # Σ P − z ≤ F − B, every step
            cost[zc] = ct.peak_cost
            add(
                np.concatenate([kk, steps]),
                np.concatenate([cc, np.full(t_n, zc, dtype=np.int64)]),
                np.concatenate([vv, -np.ones(t_n)]),
                ct.peak_floor_kw - ct.base_kw,
            )
        if vc is not None and ct.soft_steps is not None:  # one excess v per step
            cost[vc] = ct.soft_cost * dt_h
            add(*_over_limit_rows(kk, cc, vv, ct.soft_steps, vc, ct.soft_max_kw - ct.base_kw))
        if yc is not None and ct.soft_peak_steps is not None:  # one largest excess y
            cost[yc] = ct.soft_peak_cost
            ys = np.full(len(ct.soft_peak_steps), yc, dtype=np.int64)
            add(*_over_limit_rows(kk, cc, vv, ct.soft_peak_steps, ys, ct.soft_max_kw - ct.base_kw))
    for j, com in enumerate(commitments):
        kk, cc, vv = site_sum(com.units)
        delta = _per_step(com.delta_w, t_n, f"commitments[{j}].delta_w") / 1e3
        goal = _per_step(com.baseline_w, t_n, f"commitments[{j}].baseline_w") / 1e3 + delta
        sgn = np.sign(delta)
        scol = is_ + j * t_n + np.arange(t_n)
        cost[scol] = com.penalty_eur_per_mwh / 1e3 * dt_h
        ub[scol] = np.where(sgn == 0, 0.0, np.inf)
        on = sgn[kk] != 0
        steps = np.flatnonzero(sgn != 0).astype(np.int64)
        # δ > 0: goal − ΣP ≤ s  →  −ΣP − s ≤ −goal;  δ < 0: ΣP − s ≤ goal
        add(
            np.concatenate([kk[on], steps]),
            np.concatenate([cc[on], scol[steps]]),
            np.concatenate([-sgn[kk[on]] * vv[on], -np.ones(len(steps))]),
            np.where(sgn != 0, -sgn * goal, 0.0),
        )

    a_ub = None
    b_vec = None
    if n_rows:
        a_ub = sp.csr_array(
            (np.concatenate(ub_v), (np.concatenate(ub_r), np.concatenate(ub_c))),
            shape=(n_rows, n_x),
        )
        b_vec = np.concatenate(b_ub)
    if n_x == 0:
        return Schedule(np.zeros((n_u, t_n)), np.full((n_u, t_n), np.nan), np.zeros(n_u), 0.0)
    t_start = time.perf_counter()
    res = linprog(
        cost,
        A_ub=a_ub,
        b_ub=b_vec,
        A_eq=a_eq if n_p else None,
        b_eq=b_eq if n_p else None,
        bounds=np.c_[lb, ub],
        method="highs-ds",
        options={"presolve": False},  # the model is compact already; presolve costs more
    )
    SOLVE_STATS.record(time.perf_counter() - t_start, n_x, n_rows + n_p)
    if res.status != 0 or res.x is None:
        raise SimulationError(f"schedule: HiGHS failed: {res.message}")
    x = res.x
    p_w = np.zeros((n_u, t_n))
    soc = np.full((n_u, t_n), np.nan)
    p_w[unit_of, step_of] = (x[ic : ic + n_p] - x[id_ : id_ + n_p]) * 1e3
    soc[unit_of, step_of] = x[ie : ie + n_p] / cap[unit_of]
    short = np.zeros(n_u)
    if n_w:
        short[np.array(wish_units)] = x[iw : iw + n_w]
    return Schedule(
        p_w=p_w,
        soc_end=soc,
        wish_shortfall_kwh=short,
        cost_eur=float(res.fun),
        reverse_kwh=x[ir : ir + n_r].reshape(len(base_sites), t_n).sum(axis=1) * dt_h,
    )


def reverse_flow_bound(
    units: Sequence[StorageUnit],
    base_net_w: FloatArray,
    *,
    dt_s: float,
    p_import_max_w: float = math.inf,
    p_export_max_w: float = math.inf,
) -> tuple[float, Schedule]:
    """Perfect-foresight bound: the least reverse-flow energy [kWh] the units can leave.

    An LP over the realised horizon (``len(base_net_w)`` steps; ``base_net_w`` the
    transformer's net power without the units, load convention) with prices zero and reverse
    flow as the only cost (1 EUR/kWh; wear and tie-break still break ties), every session's wish
    kept as in :func:`schedule`.  Returns the energy and the schedule that reaches it.
    """
    base = np.asarray(base_net_w, dtype=float)
    site = Site(
        units=tuple(range(len(units))),
        p_import_max_w=p_import_max_w,
        p_export_max_w=p_export_max_w,
        base_net_w=base,
        reverse_eur_per_kwh=1.0,
    )
    out = schedule(units, n_steps=len(base), dt_s=dt_s, price_eur_per_mwh=0.0, sites=[site])
    return float(out.reverse_kwh[0]), out


__all__ = [
    "EUR_PER_USD",
    "PACK_COST_USD_PER_KWH_2024",
    "SCHMALSTIEG_CELL_AH",
    "SOLVE_STATS",
    "TIE_BREAK_EUR_PER_KWH",
    "WISH_PENALTY_EUR_PER_KWH",
    "Commitment",
    "Schedule",
    "Site",
    "SolveStats",
    "StorageUnit",
    "cycle_wear_eur_per_kwh",
    "reverse_flow_bound",
    "schedule",
    "schmalstieg_beta",
]


def _over_limit_rows(
    kk: IntArray,
    cc: IntArray,
    vv: FloatArray,
    steps: IntArray,
    extra: IntArray,
    room_kw: FloatArray,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Return the rows Σ P − x ≤ L − B [kW], one per step of ``steps`` (where L is finite).

    ``kk``, ``cc``, ``vv``: the site's power terms (step, column, coefficient); ``extra``: the
    column x subtracted in each row (an excess per step, or one largest excess); ``room_kw``:
    L − B per step of the horizon.
    """
    row = np.full(len(room_kw), -1, dtype=np.int64)
    row[steps] = np.arange(len(steps))
    keep = row[kk] >= 0
    return (
        np.concatenate([row[kk[keep]], np.arange(len(steps), dtype=np.int64)]),
        np.concatenate([cc[keep], extra]),
        np.concatenate([vv[keep], -np.ones(len(steps))]),
        room_kw[steps],
    )
