"""EMSP: campaign UI, flexibility offers from consented sessions, awards → setpoints, billing.

Offer sizing (:func:`flex_capacity_w`) works on the EMSP's *plan* — the strategy's forecast
(:func:`v2xcosim.domain.strategies.plan`), which is also the baseline the EMSP declares at gate
closure.  For a window of plan intervals ``k0 ≤ k < k1`` each session may offer a constant
extra power ``ΔP ≥ 0`` in the request's direction, the largest value with

* up (+, consume more): ``P_k + ΔP ≤ p_max_charge`` and ``soc_k + ΔP·(k−k0+1)·Δt/(η_dis·C)
  ≤ min(soc_max, soc_target)`` for every k of the window (``1/η_dis ≥ η_ch`` makes this
  conservative also where the plan discharges).  The ceiling is the user's wish, not
  ``soc_max``: up-flexibility is sold only as far as it can be delivered by *shifting* — the
  extra energy is charged less after the window, since the plan still has at least that much
  to charge to reach the wish — so the user never pays for energy beyond the wish;
* down (−, consume less / inject): ``P_k − ΔP ≥ −p_max_discharge`` (bidirectional) or ``≥ 0``
  (unidirectional), and ``soc_k − ΔP·(k−k0+1)·Δt/(η_dis·C) ≥ max(soc_min, soc_wish −
  p_max_charge·η_ch·(t_dep − t_end,k)/C)`` — the minimum SOC holds and the wished departure SOC
  stays reachable by charging at full power after the window.

The ratings are those the plan was made with: a planner that keeps a reserve of each charge
rating (``power_headroom``, :class:`~v2xcosim.domain.strategies.LpStrategy`: it plans with
``(1 − headroom)·p_max_charge``) has that reserve for its own SOC corrections, so the bounds
above use the derated charge rating and the reserve is never sold as flexibility.

Only sessions whose user gave GDPR consent and opted in, whose stay covers the window, whose
zone lies in the request's zone and whose own price (below) is within the request's cap are
used; a session sells a window at most once.  Hence an offer never violates a user's departure
SOC or minimum SOC (property-tested in ``tests/test_emsp.py``).

Prices: each session's price is ``max(user threshold, degradation cost × throughput factor) +
margin`` [EUR/MWh], rounded up to ``price_step``; sessions of equal zone and price form one
offer, so the EMSP bids a stepped supply curve.  An offer below the market's minimum bid size
(``min_offer_kw``) is not submitted: it is kept in :attr:`Emsp.dropped` (the use case reports
it) and its sessions stay free for later requests.  Degradation cost per MWh of battery
throughput = pack cost / (2 × equivalent full cycles to end of life) (assumed 120 EUR/kWh and
3,000 cycles → 20 EUR/MWh; README); throughput factor 1 for up-flexibility, 2 for bidirectional
down-flexibility (discharge and recharge), 0 for unidirectional deferral.

Billing: the user pays ``tariff × net energy drawn`` and receives ``(1 − emsp_share)`` of the
settled flexibility revenue of the offers his car took part in, pro rata to his ΔP.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import (
    BaselineDeclaration,
    CampaignList,
    FlexibilityOffer,
    FlexibilityRequest,
    MarketResult,
    UserStatement,
)
from v2xcosim.core.units import J_PER_KWH
from v2xcosim.domain.billing import billed_kwh, user_statement
from v2xcosim.domain.cs_ems import EvArrays
from v2xcosim.domain.lfmp import zone_contains

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def degradation_cost_eur_per_mwh(
    pack_cost_eur_per_kwh: float = 120.0, efc_to_eol: float = 3000.0
) -> float:
    """Battery wear cost per MWh of throughput: pack cost / (2 × full cycles to end of life)."""
    if pack_cost_eur_per_kwh < 0 or efc_to_eol <= 0:
        raise ScenarioError("degradation cost: pack cost >= 0 and cycles > 0 required")
    return pack_cost_eur_per_kwh * 1000.0 / (2.0 * efc_to_eol)


def flex_capacity_w(
    ev: EvArrays,
    plan_p_w: FloatArray,
    plan_soc_end: FloatArray,
    *,
    t0_s: float,
    dt_s: float,
    k0: int,
    k1: int,
    direction: int,
    bidirectional: bool,
    power_headroom: float = 0.0,
) -> FloatArray:
    """Largest constant extra power ΔP ≥ 0 [W] per session for plan intervals ``[k0, k1)``.

    ``plan_*`` are (n × K) arrays from :func:`~v2xcosim.domain.strategies.plan` started at
    ``t0_s`` with step ``dt_s``; ``direction`` +1 (consume more) or −1 (consume less).
    ``power_headroom``: the fraction of each charge rating the planner keeps in reserve
    (in [0, 1)); the charge bounds use ``(1 − power_headroom)·p_max_charge_w``.
    """
    n, k_all = plan_p_w.shape
    if not 0 <= k0 < k1 <= k_all or direction not in (1, -1):
        raise ScenarioError(f"flex_capacity_w: bad window [{k0}, {k1}) or direction {direction}")
    if not 0.0 <= power_headroom < 1.0:
        raise ScenarioError(f"flex_capacity_w: power_headroom {power_headroom} not in [0, 1)")
    p_charge_w = ev.p_max_charge_w * (1.0 - power_headroom)
    cap_j = (ev.capacity_kwh * J_PER_KWH)[:, None]
    p = plan_p_w[:, k0:k1]
    soc = plan_soc_end[:, k0:k1]
    steps = np.arange(1, k1 - k0 + 1, dtype=float)[None, :] * dt_s
    t_end = t0_s + np.arange(k0 + 1, k1 + 1, dtype=float)[None, :] * dt_s
    stays = ev.connected & (ev.departure_s >= t0_s + k1 * dt_s) & (ev.capacity_kwh > 0)
    eta_c, eta_d = ev.eta_charge, ev.eta_discharge
    if direction > 0:
        by_rating = (p_charge_w[:, None] - p).min(axis=1)
        ceiling = np.minimum(ev.soc_max, ev.soc_target)[:, None]
        by_soc = ((ceiling - soc) * cap_j * eta_d / steps).min(axis=1)
    else:
        floor_p = -ev.p_max_discharge_w[:, None] if bidirectional else np.zeros((n, 1))
        by_rating = (p - floor_p).min(axis=1)
        later_j = p_charge_w[:, None] * eta_c * np.maximum(ev.departure_s[:, None] - t_end, 0.0)
        target = np.minimum(ev.soc_target, ev.soc_max)[:, None]
        floor_soc = np.maximum(ev.soc_min[:, None], target - later_j / cap_j)
        by_soc = ((soc - floor_soc) * cap_j * eta_d / steps).min(axis=1)
    out = np.maximum(np.minimum(by_rating, by_soc), 0.0)
    # numerical safety margin (1 ppm) so rounding never crosses a bound
    result: FloatArray = np.where(stays, np.floor(out * (1.0 - 1e-6) * 1e3) / 1e3, 0.0)
    return result


@dataclass(frozen=True)
class EmspConfig:
    """EMSP parameters (EUR, EUR/MWh, EUR/kWh, kW; ``emsp_share`` a fraction).

    Field names are those of the scenarios' ``[market]`` section, so a use case's wiring can
    pass that section's values by name.
    """

    provider_id: str = "emsp"
    degradation_eur_per_mwh: float = 20.0
    emsp_margin_eur_per_mwh: float = 5.0
    price_step_eur_per_mwh: float = 10.0
    emsp_share: float = 0.2
    tariff_eur_per_kwh: float = 0.45
    min_offer_kw: float = 0.0
    """Smallest offer the market accepts [kW]; smaller offers are not submitted (0: none)."""
    bidirectional: bool = True
    credit_eta_charge: float = 1.0
    credit_eta_discharge: float = 1.0
    """Efficiencies of the V2G credit (:meth:`Emsp.billed_kwh`): each kWh fed back is credited
    at ``1/(credit_eta_charge·credit_eta_discharge)`` kWh; 1.0 each: the plain net energy."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.emsp_share <= 1.0:
            raise ScenarioError("emsp.emsp_share must be in [0, 1]")
        if not (0.0 < self.credit_eta_charge <= 1.0 and 0.0 < self.credit_eta_discharge <= 1.0):
            raise ScenarioError("emsp: credit_eta_charge and credit_eta_discharge in (0, 1]")
        if self.price_step_eur_per_mwh <= 0 or self.degradation_eur_per_mwh < 0:
            raise ScenarioError("emsp: price_step > 0 and degradation cost >= 0 required")
        if not (math.isfinite(self.min_offer_kw) and self.min_offer_kw >= 0.0):
            raise ScenarioError(
                f"emsp.min_offer_kw must be finite and >= 0, got {self.min_offer_kw}"
            )


@dataclass(frozen=True)
class DroppedOffer:
    """An offer the EMSP sized but did not submit: below the market's ``min_offer_kw``.

    ``p_mw`` is signed like the request; ``n_sessions`` sessions would have made it up.
    """

    request_id: str
    zone: str
    submitted_utc: dt.datetime
    p_mw: float
    price_eur_per_mwh: float
    n_sessions: int
    min_offer_kw: float


@dataclass
class _Contribution:
    sessions: npt.NDArray[np.int64]
    dp_w: FloatArray
    k0: int
    k1: int
    sign: float
    offered_mw: float
    zone: str


@dataclass
class Emsp:
    """The EMSP of a use case's public chargers for one run (session rows index the user table)."""

    config: EmspConfig
    start_utc: dt.datetime
    zone_parent: Mapping[str, str] = field(default_factory=dict)
    _contrib: dict[str, _Contribution] = field(default_factory=dict, repr=False)
    _busy: dict[int, list[tuple[int, int]]] = field(default_factory=dict, repr=False)
    _n_offers: int = 0
    dropped: list[DroppedOffer] = field(default_factory=list, repr=False)
    """Every offer not submitted for being below ``min_offer_kw``, in the order sized."""

    def campaign_list(self, user_id: str, requests: Sequence[FlexibilityRequest]) -> CampaignList:
        """J1: the open DSO requests shown to a user."""
        return CampaignList(user_id=user_id, request_ids=tuple(r.request_id for r in requests))

    def session_prices(self, thresholds: FloatArray, direction: int) -> FloatArray:
        """Offer price per session [EUR/MWh] before rounding (module docstring)."""
        cfg = self.config
        bidir = 2.0 if cfg.bidirectional else 0.0
        factor = 1.0 if direction > 0 else bidir
        wear = cfg.degradation_eur_per_mwh * factor
        out: FloatArray = np.maximum(thresholds, wear) + cfg.emsp_margin_eur_per_mwh
        return out

    def build_offers(
        self,
        requests: Sequence[FlexibilityRequest],
        ev: EvArrays,
        plan_p_w: FloatArray,
        plan_soc_end: FloatArray,
        *,
        plan_t0_s: float,
        dt_s: float,
        zones: Sequence[str],
        thresholds_eur_per_mwh: FloatArray,
        campaign: BoolArray,
        now_utc: dt.datetime,
        power_headroom: float = 0.0,
    ) -> list[FlexibilityOffer]:
        """J4: offers for ``requests`` from consented sessions (module docstring).

        ``power_headroom``: the charge-rating reserve the plan was made with
        (:func:`flex_capacity_w`).  Offers below ``min_offer_kw`` go to :attr:`dropped`.
        """
        cfg = self.config
        n = ev.soc.shape[0]
        if len(zones) != n or thresholds_eur_per_mwh.shape != (n,) or campaign.shape != (n,):
            raise ScenarioError(
                "emsp.build_offers: zones, thresholds, campaign need one entry per EV"
            )
        offers: list[FlexibilityOffer] = []
        for r in sorted(requests, key=lambda r: (r.submitted_utc, r.request_id)):
            k0f = ((r.start_utc - self.start_utc).total_seconds() - plan_t0_s) / dt_s
            k1f = ((r.end_utc - self.start_utc).total_seconds() - plan_t0_s) / dt_s
            k0, k1 = round(k0f), round(k1f)
            if abs(k0 - k0f) > 1e-9 or abs(k1 - k1f) > 1e-9 or k0 < 0 or k1 > plan_p_w.shape[1]:
                continue  # window not on the plan grid or outside the planning horizon
            sign = 1 if r.p_mw > 0 else -1
            dp = flex_capacity_w(
                ev,
                plan_p_w,
                plan_soc_end,
                t0_s=plan_t0_s,
                dt_s=dt_s,
                k0=k0,
                k1=k1,
                direction=sign,
                bidirectional=cfg.bidirectional,
                power_headroom=power_headroom,
            )
            price = self.session_prices(thresholds_eur_per_mwh, sign)
            tier = np.ceil(price / cfg.price_step_eur_per_mwh - 1e-9) * cfg.price_step_eur_per_mwh
            free = np.array(
                [all(b1 <= k0 or b0 >= k1 for b0, b1 in self._busy.get(i, [])) for i in range(n)],
                dtype=bool,
            )
            inside = np.array(
                [zone_contains(r.zone, z, self.zone_parent) for z in zones], dtype=bool
            )
            ok = campaign & inside & free & (dp > 0) & (tier <= r.price_cap_eur_per_mwh)
            for zone in sorted({zones[int(i)] for i in np.flatnonzero(ok)}):
                in_zone = ok & np.array([z == zone for z in zones], dtype=bool)
                for level in np.unique(tier[in_zone]):
                    idx = np.flatnonzero(in_zone & (tier == level)).astype(np.int64)
                    total_mw = float(dp[idx].sum()) / 1e6
                    if total_mw <= 0:
                        continue
                    if total_mw * 1e3 < cfg.min_offer_kw:
                        self.dropped.append(
                            DroppedOffer(
                                request_id=r.request_id,
                                zone=zone,
                                submitted_utc=now_utc,
                                p_mw=sign * total_mw,
                                price_eur_per_mwh=float(level),
                                n_sessions=len(idx),
                                min_offer_kw=cfg.min_offer_kw,
                            )
                        )
                        continue
                    self._n_offers += 1
                    oid = f"{cfg.provider_id}/o{self._n_offers}"
                    offers.append(
                        FlexibilityOffer(
                            offer_id=oid,
                            provider_id=cfg.provider_id,
                            zone=zone,
                            submitted_utc=now_utc,
                            start_utc=r.start_utc,
                            end_utc=r.end_utc,
                            p_mw=sign * total_mw,
                            price_eur_per_mwh=float(level),
                            request_id=r.request_id,
                        )
                    )
                    self._contrib[oid] = _Contribution(
                        idx, dp[idx].copy(), k0, k1, float(sign), total_mw, zone
                    )
                    for i in idx:
                        self._busy.setdefault(int(i), []).append((k0, k1))
        return offers

    def sessions_of(self, offer_id: str) -> npt.NDArray[np.int64]:
        """Session rows whose flexibility makes up ``offer_id``."""
        return self._contrib[offer_id].sessions.copy()

    def commitments(self, result: MarketResult, n_sessions: int, n_intervals: int) -> FloatArray:
        """Step 10: extra power [W] per session and plan interval from ``result``.

        From the awards (each session's ΔP scaled by the accepted fraction of its offer).
        """
        out = np.zeros((n_sessions, n_intervals))
        for a in result.awards:
            c = self._contrib.get(a.offer_id)
            if c is None:
                continue  # another provider's award
            frac = min(abs(a.p_mw) / c.offered_mw, 1.0)
            out[c.sessions, c.k0 : c.k1] += c.sign * frac * c.dp_w[:, None]
        return out

    def baseline(
        self,
        market_session_id: str,
        zone: str,
        sessions: npt.NDArray[np.int64],
        plan_p_w: FloatArray,
        *,
        plan_t0_s: float,
        dt_s: int,
    ) -> BaselineDeclaration:
        """M1: the declared baseline [W] per interval of ``sessions`` (summed) in ``zone``."""
        total = plan_p_w[sessions].sum(axis=0) if len(sessions) else np.zeros(plan_p_w.shape[1])
        starts = tuple(
            self.start_utc + dt.timedelta(seconds=plan_t0_s + k * dt_s)
            for k in range(plan_p_w.shape[1])
        )
        return BaselineDeclaration(
            provider_id=self.config.provider_id,
            zone=zone,
            market_session_id=market_session_id,
            interval_s=dt_s,
            interval_start_utc=starts,
            p_w=tuple(float(x) for x in total),
        )

    def portfolio(self, zone: str) -> npt.NDArray[np.int64]:
        """Session rows in any offer of ``zone`` (assets the zone's baseline and meter cover)."""
        rows = [c.sessions for c in self._contrib.values() if c.zone == zone]
        return np.unique(np.concatenate(rows)).astype(np.int64) if rows else np.zeros(0, np.int64)

    def split_revenue(self, offer_id: str, amount_eur: float) -> tuple[dict[int, float], float]:
        """S3/S4: user incentives per session row and the EMSP's kept share [EUR]."""
        if not math.isfinite(amount_eur):
            raise ScenarioError("emsp.split_revenue: amount must be finite")
        c = self._contrib[offer_id]
        users_part = amount_eur * (1.0 - self.config.emsp_share)
        weights = c.dp_w / c.dp_w.sum()
        return (
            {int(i): float(users_part * w) for i, w in zip(c.sessions, weights, strict=True)},
            amount_eur - users_part,
        )

    def billed_kwh(self, energy_charged_kwh: float, energy_discharged_kwh: float) -> float:
        """Energy [kWh] the user pays for: ``(E_ch − E_dis/(η_c·η_d))⁺``.

        The EMSP bears the losses of the V2G cycles it orders (a use case's decision,
        an assumption: a user who lends the car must not pay for the round trip): each
        kWh fed back is credited at the ``1/(η_c·η_d)`` kWh that put it back
        (``credit_eta_charge``, ``credit_eta_discharge``), so a session that only cycles pays
        what the same SOC gain without V2G costs.  With both at 1 this is the net energy drawn.
        The rule is :func:`v2xcosim.domain.billing.billed_kwh`, shared with other use cases.
        """
        c = self.config
        return billed_kwh(
            energy_charged_kwh,
            energy_discharged_kwh,
            eta_charge=c.credit_eta_charge,
            eta_discharge=c.credit_eta_discharge,
        )

    def statement(
        self,
        user_id: str,
        session_id: str,
        *,
        energy_charged_kwh: float,
        energy_discharged_kwh: float,
        soc_departure: float,
        incentive_eur: float,
    ) -> UserStatement:
        """Step 12: the user's bill: tariff × :meth:`billed_kwh`, minus the incentive.

        Built by :func:`v2xcosim.domain.billing.user_statement`.
        """
        c = self.config
        return user_statement(
            user_id,
            session_id,
            energy_charged_kwh=energy_charged_kwh,
            energy_discharged_kwh=energy_discharged_kwh,
            soc_departure=soc_departure,
            tariff_eur_per_kwh=c.tariff_eur_per_kwh,
            incentive_eur=incentive_eur,
            eta_charge=c.credit_eta_charge,
            eta_discharge=c.credit_eta_discharge,
        )


__all__ = [
    "DroppedOffer",
    "Emsp",
    "EmspConfig",
    "degradation_cost_eur_per_mwh",
    "flex_capacity_w",
]
