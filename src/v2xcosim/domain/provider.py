"""A second flexibility provider: a stationary battery (BESS) bidding on the same LFMP.

The battery's baseline is idle (0 W).  For a request window of duration ``d`` it offers a
constant power in the request's direction, the largest value within its rating and its SOC
band over the window: up (charge) ``ΔP ≤ (soc_max − soc)·C/(η·d)``, down (discharge)
``ΔP ≤ (soc − soc_min)·C·η/d``, where ``soc`` is the SOC *projected* to the end of the awards
it already holds (:meth:`StationaryBattery.projected_soc`), so a later offer never counts on
energy an earlier award still uses.  Windows offered at the same time are sized in time order,
each on the SOC the offers before it leave (idle battery and scheduled battery alike), so they
never count on the same room twice.  Price = ``bid_price_eur_per_mwh`` if set, else degradation
cost × throughput factor (2: what is charged is discharged again, and vice versa) + margin
[EUR/MWh].  A window is sold at most once.  :meth:`StationaryBattery.step` applies a setpoint
within the SOC band and returns the power actually drawn — the battery's meter.
Assumed default (README): 500 kW / 1 MWh, SOC band 10–90 %, 93 % one-way efficiency, same wear
cost as the EV packs.

**Scheduled battery** (:func:`battery_schedule`, used by
:class:`~v2xcosim.domain.market.participants.BatteryProvider` when it is given price and
forecast signals): instead of idling, the battery follows a schedule from the LP core
(:func:`v2xcosim.domain.scheduler.schedule`) over the rest of the horizon — energy price minus
a surplus value ``surplus_eur_per_mwh·S_k/max S`` (``S`` the forecast reverse flow), wear from
the Schmalstieg law, the SOC at the horizon's end at least a fixed floor (the SOC at the run's
start for :class:`~v2xcosim.domain.market.participants.BatteryProvider`), its awards as
commitments (baseline: the schedule before the award).  So it charges in the forecast surplus
and discharges later where prices pay for the round trip.  Its baseline is that schedule and it
bids only what it can deliver on top of it (:meth:`StationaryBattery.capacity_on_plan_w`):
up ``ΔP ≤ P_max − P_k`` and ``soc_0 + η·(Σ_window P_k⁺·Δt + ΔP·T)/C ≤ soc_max`` with ``soc_0``
the plan's SOC at the window's start and ``T`` the window (charging planned for later is
shifted into the window: the battery re-plans after the award with the award as a commitment),
down ``ΔP ≤ P_k + P_max`` and ``soc_k − ΔP·(k−k0+1)·Δt/(η·C) ≥ soc_min`` for every step ``k``
of the window.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import Award, FlexibilityOffer, FlexibilityRequest
from v2xcosim.core.units import J_PER_KWH
from v2xcosim.domain.lfmp import zone_contains
from v2xcosim.domain.scheduler import (
    Commitment,
    Schedule,
    StorageUnit,
    cycle_wear_eur_per_kwh,
    schedule,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BatteryPlan:
    """A battery schedule from ``start_utc`` in steps of ``dt_s``: power [W], SOC at step end."""

    start_utc: dt.datetime
    dt_s: float
    p_w: FloatArray
    soc_end: FloatArray


@dataclass
class StationaryBattery:
    """A grid-connected battery in ``zone`` that sells flexibility (powers W, energy kWh)."""

    provider_id: str
    zone: str
    capacity_kwh: float = 1000.0
    p_max_w: float = 500_000.0
    soc: float = 0.5
    soc_min: float = 0.1
    soc_max: float = 0.9
    eta: float = 0.93
    degradation_eur_per_mwh: float = 20.0
    margin_eur_per_mwh: float = 10.0
    bid_price_eur_per_mwh: float | None = None
    min_offer_w: float = 0.0
    """Smallest offer the market accepts [W] (``market.min_offer_kw``); a window with less
    room gets no offer (0: whole watts down to 1 W are offered)."""
    zone_parent: Mapping[str, str] = field(default_factory=dict)
    _sold: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list, repr=False)
    _awards: list[Award] = field(default_factory=list, repr=False)
    _n: int = 0

    def __post_init__(self) -> None:
        if self.capacity_kwh <= 0 or self.p_max_w <= 0 or not 0 < self.eta <= 1:
            raise ScenarioError(f"battery {self.provider_id}: capacity, power > 0; eta in (0, 1]")
        if not (math.isfinite(self.min_offer_w) and self.min_offer_w >= 0.0):
            raise ScenarioError(f"battery {self.provider_id}: min_offer_w must be finite, >= 0")
        if not 0.0 <= self.soc_min <= self.soc <= self.soc_max <= 1.0:
            raise ScenarioError(
                f"battery {self.provider_id}: need 0 <= soc_min <= soc <= soc_max <= 1"
            )

    @property
    def price_eur_per_mwh(self) -> float:
        """Offer price [EUR/MWh]."""
        if self.bid_price_eur_per_mwh is not None:
            return self.bid_price_eur_per_mwh
        return 2.0 * self.degradation_eur_per_mwh + self.margin_eur_per_mwh

    def projected_soc(self, now_utc: dt.datetime | None = None) -> float:
        """SOC after the remaining part (from ``now_utc``) of every award held, band-clipped."""
        soc = self.soc
        for a in self._awards:
            start = a.start_utc if now_utc is None else max(a.start_utc, now_utc)
            left_s = (a.end_utc - start).total_seconds()
            if left_s <= 0:
                continue
            p_w = a.p_mw * 1e6
            e_j = (p_w * self.eta if p_w >= 0 else p_w / self.eta) * left_s
            soc += e_j / (self.capacity_kwh * J_PER_KWH)
        return min(max(soc, self.soc_min), self.soc_max)

    def capacity_w(self, direction: int, duration_s: float, soc: float | None = None) -> float:
        """Largest constant power [W] for ``duration_s`` in ``direction`` (+1 in, −1 out).

        ``soc``: the SOC at the window's start (default: the present SOC).
        """
        soc = self.soc if soc is None else soc
        cap_j = self.capacity_kwh * J_PER_KWH
        if direction > 0:
            by_soc = (self.soc_max - soc) * cap_j / (self.eta * duration_s)
        else:
            by_soc = (soc - self.soc_min) * cap_j * self.eta / duration_s
        return max(min(self.p_max_w, by_soc), 0.0)

    def capacity_on_plan_w(
        self, direction: int, plan: BatteryPlan, start_utc: dt.datetime, end_utc: dt.datetime
    ) -> float:
        """Largest constant extra power [W] on top of ``plan`` in ``[start_utc, end_utc)``.

        0 if the window is not on the plan's grid (module docstring for the bounds).
        """
        k0f = (start_utc - plan.start_utc).total_seconds() / plan.dt_s
        k1f = (end_utc - plan.start_utc).total_seconds() / plan.dt_s
        k0, k1 = round(k0f), round(k1f)
        if abs(k0 - k0f) > 1e-9 or abs(k1 - k1f) > 1e-9 or k0 < 0 or k1 > len(plan.p_w):
            return 0.0
        if k1 <= k0:
            return 0.0
        p = plan.p_w[k0:k1]
        soc = plan.soc_end[k0:k1]
        steps = np.arange(1, k1 - k0 + 1) * plan.dt_s
        cap_j = self.capacity_kwh * J_PER_KWH
        if direction > 0:
            # up: charge more in the window and, after the award, re-plan to charge less later
            # (the plan's charging after the window is shifted into it): from the SOC at the
            # window's start, the plan's own charging in the window plus ΔP over the window must
            # stay below soc_max (its discharges in the window are not counted: conservative)
            soc0 = float(plan.soc_end[k0 - 1]) if k0 > 0 else self.soc
            planned_j = float(np.clip(p, 0.0, None).sum()) * plan.dt_s
            by_rating = float(np.min(self.p_max_w - p))
            by_soc = ((self.soc_max - soc0) * cap_j / self.eta - planned_j) / float(steps[-1])
        else:
            by_rating = float(np.min(p + self.p_max_w))
            by_soc = float(np.min((soc - self.soc_min) * cap_j * self.eta / steps))
        return max(min(by_rating, by_soc), 0.0)

    def build_offers(
        self,
        requests: Sequence[FlexibilityRequest],
        now_utc: dt.datetime,
        plan: BatteryPlan | None = None,
    ) -> list[FlexibilityOffer]:
        """Offers for the requests of its zone whose cap covers its price (one per window).

        With a ``plan`` (a scheduled battery) each offer is sized on top of the plan
        (:meth:`capacity_on_plan_w`), else on the idle battery and its earlier awards.
        """
        out: list[FlexibilityOffer] = []
        # the windows in time order, each offer counted in the state the next one is sized on:
        # several windows offered at once never count on the same SOC room twice
        pending_soc = 0.0  # SOC change of this call's offers (idle battery)
        for r in sorted(requests, key=lambda r: (r.start_utc, r.submitted_utc, r.request_id)):
            if not zone_contains(r.zone, self.zone, self.zone_parent):
                continue
            if self.price_eur_per_mwh > r.price_cap_eur_per_mwh:
                continue
            if any(not (b <= r.start_utc or a >= r.end_utc) for a, b in self._sold):
                continue
            sign = 1 if r.p_mw > 0 else -1
            duration_s = (r.end_utc - r.start_utc).total_seconds()
            if plan is not None:
                p = self.capacity_on_plan_w(sign, plan, r.start_utc, r.end_utc)
            else:
                soc = min(
                    max(self.projected_soc(now_utc) + pending_soc, self.soc_min), self.soc_max
                )
                p = self.capacity_w(sign, duration_s, soc)
            p = math.floor(p * (1.0 - 1e-6))  # whole W, never above the SOC bound
            if p <= 0 or p < self.min_offer_w:
                continue
            if plan is not None:
                plan = self._plan_with(plan, sign * p, r.start_utc, r.end_utc)
            else:
                e_j = (p * self.eta if sign > 0 else -p / self.eta) * duration_s
                pending_soc += e_j / (self.capacity_kwh * J_PER_KWH)
            self._n += 1
            self._sold.append((r.start_utc, r.end_utc))
            out.append(
                FlexibilityOffer(
                    offer_id=f"{self.provider_id}/o{self._n}",
                    provider_id=self.provider_id,
                    zone=self.zone,
                    submitted_utc=now_utc,
                    start_utc=r.start_utc,
                    end_utc=r.end_utc,
                    p_mw=sign * p / 1e6,
                    price_eur_per_mwh=self.price_eur_per_mwh,
                    request_id=r.request_id,
                )
            )
        return out

    def _plan_with(
        self, plan: BatteryPlan, p_w: float, start_utc: dt.datetime, end_utc: dt.datetime
    ) -> BatteryPlan:
        """Return ``plan`` with an extra ``p_w`` [W] in ``[start_utc, end_utc)`` (on its grid).

        The SOC follows from it (η on charge, 1/η on discharge) from the window on.
        """
        k0 = round((start_utc - plan.start_utc).total_seconds() / plan.dt_s)
        k1 = round((end_utc - plan.start_utc).total_seconds() / plan.dt_s)
        p = plan.p_w.copy()
        p[k0:k1] += p_w
        d_soc = (p_w * self.eta if p_w >= 0 else p_w / self.eta) * plan.dt_s
        d_soc /= self.capacity_kwh * J_PER_KWH
        shift = np.zeros(len(p))
        shift[k0:k1] = d_soc * np.arange(1, k1 - k0 + 1)
        shift[k1:] = d_soc * (k1 - k0)
        return BatteryPlan(plan.start_utc, plan.dt_s, p, plan.soc_end + shift)

    def accept(self, awards: Sequence[Award]) -> None:
        """Keep the own awards of a market result."""
        self._awards.extend(a for a in awards if a.provider_id == self.provider_id)

    def setpoint_w(self, t_utc: dt.datetime) -> float:
        """Power [W, load convention] at ``t_utc``: the sum of active awards (baseline 0)."""
        return sum(a.p_mw * 1e6 for a in self._awards if a.start_utc <= t_utc < a.end_utc)

    def step(self, p_w: float, dt_s: float) -> float:
        """Apply ``p_w`` [W] for ``dt_s`` within rating and SOC band; return the power drawn."""
        if not math.isfinite(p_w) or dt_s <= 0:
            raise ScenarioError(f"battery {self.provider_id}: bad setpoint {p_w} or step {dt_s}")
        cap_j = self.capacity_kwh * J_PER_KWH
        p = min(max(p_w, -self.p_max_w), self.p_max_w)
        if p > 0:
            p = min(p, max(self.soc_max - self.soc, 0.0) * cap_j / (self.eta * dt_s))
        elif p < 0:
            p = max(p, -max(self.soc - self.soc_min, 0.0) * cap_j * self.eta / dt_s)
        e_j = (p * self.eta if p >= 0 else p / self.eta) * dt_s
        self.soc = min(max(self.soc + e_j / cap_j, self.soc_min), self.soc_max)
        return p


def battery_schedule(
    battery: StationaryBattery,
    *,
    dt_s: float,
    price_eur_per_mwh: FloatArray,
    forecast_net_w: FloatArray,
    surplus_eur_per_mwh: float,
    commitment_base_w: FloatArray | None = None,
    commitment_delta_w: FloatArray | None = None,
    shortfall_eur_per_mwh: float = 1000.0,
    soc_end: float | None = None,
) -> Schedule:
    """Plan the battery by LP from its SOC now over ``len(price_eur_per_mwh)`` steps.

    ``forecast_net_w``: the DSO forecast of its zone's net power (load convention; NaN: none);
    ``commitment_*``: its awards per step (baseline and delta [W], delta 0 = none);
    ``soc_end``: SOC at the horizon's end at least (default: the SOC now — a rolling caller
    should pass a fixed value, e.g. the SOC at the run's start, else every re-plan ratchets the
    floor up to what the battery holds).  See the module docstring.
    """
    price = np.nan_to_num(np.asarray(price_eur_per_mwh, dtype=float), nan=0.0)
    t_n = len(price)
    surplus = np.maximum(-np.nan_to_num(np.asarray(forecast_net_w, dtype=float), nan=0.0), 0.0)
    value = surplus_eur_per_mwh * surplus / surplus.max() if surplus.max() > 0 else np.zeros(t_n)
    unit = StorageUnit(
        capacity_kwh=battery.capacity_kwh,
        soc0=battery.soc,
        p_charge_max_w=battery.p_max_w,
        p_discharge_max_w=battery.p_max_w,
        eta_charge=battery.eta,
        eta_discharge=battery.eta,
        soc_min=battery.soc_min,
        soc_max=battery.soc_max,
        soc_end=None if soc_end is None else min(max(soc_end, battery.soc_min), battery.soc_max),
        wear_eur_per_kwh=cycle_wear_eur_per_kwh(),
    )
    commitments = []
    if commitment_delta_w is not None and np.any(commitment_delta_w != 0.0):
        base = np.zeros(t_n) if commitment_base_w is None else commitment_base_w
        commitments.append(Commitment((0,), base, commitment_delta_w, shortfall_eur_per_mwh))
    return schedule(
        [unit],
        n_steps=t_n,
        dt_s=dt_s,
        price_eur_per_mwh=price - value,
        commitments=commitments,
    )


__all__ = ["BatteryPlan", "StationaryBattery", "battery_schedule"]
