"""Local flexibility market platform (LFMP).

Sessions, gate closure, merit-order matching and quarter-hour settlement.

**Matching** (:meth:`MarketSession.clear`, steps M1–M4).  Requests are served in order of
submission time, then request id.  An offer *fits* a request when

* location: the offer's zone is the request's zone or lies inside it (``zone_parent`` maps a
  zone to the zone that contains it, e.g. an LV feeder to the primary substation area);
* time: the offer's window covers the request's window;
* direction: same sign of ``p_mw`` (+ = consume more);
* price: ``price_eur_per_mwh ≤ price_cap_eur_per_mwh``.

Fitting offers are taken in merit order — price ascending, then submission time, then offer
id — until the request's quantity is met; the **marginal** divisible offer is partly accepted
(an indivisible offer that does not fit in the remainder is skipped).  An offer's unused
quantity stays available for later requests.  Pricing is **pay-as-bid**.  Offers and requests
submitted after gate closure are refused (:class:`~v2xcosim.core.errors.ScenarioError`).

**Settlement** (:func:`settle`, S1–S2): per 15-minute interval of an award, the delivered
flexibility is ``sign(award) × (metered − baseline)`` energy of the provider in the zone, the
baseline being the schedule the provider declared at gate closure.  Paid energy is
``clip(delivered, 0, promised)`` — shortfalls are not paid, over-delivery is not paid either —
times the award price (activation), plus availability: the awarded MW × the interval's
hours × the request's availability price [€/(MW·h)] (EDGE-like products; 0 when the request
carries none), pro rata to the share of the promise delivered (``paid / promised``: a
provider that was not there is not paid for being available — a decision; EDGE's own
non-availability penalties are not modelled).  When a provider holds several awards in one
zone and interval, the delivered energy is assigned to them in award order (merit order of the
clearing).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import (
    Award,
    BaselineDeclaration,
    FlexibilityOffer,
    FlexibilityRequest,
    MarketResult,
    MeterData,
    SettlementLine,
)

SETTLEMENT_S = 900
"""Settlement interval [s] (quarter hour, as in the e-distribuzione EDGE pilot)."""

_EPS = 1e-12


def zone_contains(outer: str, inner: str, zone_parent: Mapping[str, str]) -> bool:
    """Tell whether zone ``inner`` is ``outer`` or lies (transitively) inside it."""
    seen: set[str] = set()
    z: str | None = inner
    while z is not None and z not in seen:
        if z == outer:
            return True
        seen.add(z)
        z = zone_parent.get(z)
    return False


@dataclass
class MarketSession:
    """One market session: requests and offers until ``gate_closure_utc``, then cleared once."""

    market_session_id: str
    gate_closure_utc: dt.datetime
    zone_parent: Mapping[str, str] = field(default_factory=dict)
    requests: list[FlexibilityRequest] = field(default_factory=list)
    offers: list[FlexibilityOffer] = field(default_factory=list)
    baselines: dict[tuple[str, str], BaselineDeclaration] = field(default_factory=dict)
    result: MarketResult | None = None

    def _open(self, t: dt.datetime, what: str) -> None:
        if self.result is not None:
            raise ScenarioError(f"LFMP {self.market_session_id}: already cleared; {what} refused")
        if t > self.gate_closure_utc:
            raise ScenarioError(
                f"LFMP {self.market_session_id}: {what} at {t.isoformat()} is after gate "
                f"closure {self.gate_closure_utc.isoformat()}"
            )

    def submit_request(self, req: FlexibilityRequest) -> None:
        """Add a DSO request (step D2) — refused after gate closure or with a duplicate id."""
        self._open(req.submitted_utc, f"request {req.request_id}")
        if any(r.request_id == req.request_id for r in self.requests):
            raise ScenarioError(f"LFMP: duplicate request id {req.request_id}")
        self.requests.append(req)

    def submit_offer(self, offer: FlexibilityOffer) -> None:
        """Add a flexibility offer (step J4) — refused after gate closure or duplicate id."""
        self._open(offer.submitted_utc, f"offer {offer.offer_id}")
        if any(o.offer_id == offer.offer_id for o in self.offers):
            raise ScenarioError(f"LFMP: duplicate offer id {offer.offer_id}")
        self.offers.append(offer)

    def declare_baseline(self, baseline: BaselineDeclaration, at_utc: dt.datetime) -> None:
        """Record a provider's baseline for a zone (step M1; last one before gate closure wins)."""
        self._open(at_utc, f"baseline of {baseline.provider_id}")
        self.baselines[(baseline.provider_id, baseline.zone)] = baseline

    def _fits(self, o: FlexibilityOffer, r: FlexibilityRequest) -> bool:
        return (
            zone_contains(r.zone, o.zone, self.zone_parent)
            and o.start_utc <= r.start_utc
            and o.end_utc >= r.end_utc
            and (o.p_mw > 0) == (r.p_mw > 0)
            and o.price_eur_per_mwh <= r.price_cap_eur_per_mwh
            and (o.request_id is None or o.request_id == r.request_id)
        )

    def clear(self) -> MarketResult:
        """Match requests and offers (module docstring) and publish the result (M3–M4)."""
        if self.result is not None:
            return self.result
        remaining = {o.offer_id: abs(o.p_mw) for o in self.offers}
        awards: list[Award] = []
        requested = matched = 0.0
        merit = sorted(
            self.offers, key=lambda o: (o.price_eur_per_mwh, o.submitted_utc, o.offer_id)
        )
        for r in sorted(self.requests, key=lambda r: (r.submitted_utc, r.request_id)):
            hours = (r.end_utc - r.start_utc).total_seconds() / 3600.0
            need = abs(r.p_mw)
            requested += need * hours
            sign = 1.0 if r.p_mw > 0 else -1.0
            for o in merit:
                if need <= _EPS:
                    break
                left = remaining[o.offer_id]
                if left <= _EPS or not self._fits(o, r):
                    continue
                if not o.divisible and left > need + _EPS:
                    continue
                take = min(left, need)
                if not o.divisible:
                    take = left
                remaining[o.offer_id] = left - take
                need -= take
                matched += take * hours
                awards.append(
                    Award(
                        award_id=f"{self.market_session_id}/a{len(awards) + 1}",
                        market_session_id=self.market_session_id,
                        request_id=r.request_id,
                        offer_id=o.offer_id,
                        provider_id=o.provider_id,
                        zone=o.zone,
                        start_utc=r.start_utc,
                        end_utc=r.end_utc,
                        p_mw=sign * take,
                        price_eur_per_mwh=o.price_eur_per_mwh,
                        availability_price_eur_per_mw_h=r.availability_price_eur_per_mw_h,
                    )
                )
        used = {a.offer_id for a in awards}
        self.result = MarketResult(
            market_session_id=self.market_session_id,
            gate_closure_utc=self.gate_closure_utc,
            awards=tuple(awards),
            requested_mwh=requested,
            matched_mwh=matched,
            rejected_offer_ids=tuple(o.offer_id for o in self.offers if o.offer_id not in used),
        )
        return self.result


def _series(starts: Sequence[dt.datetime], values: Sequence[float]) -> dict[dt.datetime, float]:
    return dict(zip(starts, values, strict=True))


def settle(
    awards: Sequence[Award],
    baselines: Mapping[tuple[str, str], BaselineDeclaration],
    meters: Mapping[tuple[str, str], MeterData],
) -> list[SettlementLine]:
    """Settle ``awards`` per 15-min interval against declared baselines and metered data.

    ``baselines`` and ``meters`` are keyed by ``(provider_id, zone)``.  A missing baseline or
    meter interval is an error (the LFMP cannot verify delivery).
    """
    lines: list[SettlementLine] = []
    used: dict[tuple[str, str, dt.datetime], float] = {}
    for a in awards:
        key = (a.provider_id, a.zone)
        if key not in baselines:
            raise ScenarioError(f"settlement: no baseline declared by {a.provider_id} for {a.zone}")
        if key not in meters:
            raise ScenarioError(f"settlement: no meter data of {a.provider_id} in {a.zone}")
        base = baselines[key]
        meter = meters[key]
        if base.interval_s != SETTLEMENT_S or meter.interval_s != SETTLEMENT_S:
            raise ScenarioError("settlement: baseline and meter data must be per 15 min")
        b = _series(base.interval_start_utc, base.p_w)
        m = _series(meter.interval_start_utc, meter.energy_kwh)
        sign = 1.0 if a.p_mw > 0 else -1.0
        t = a.start_utc
        while t < a.end_utc:
            if t not in b or t not in m:
                raise ScenarioError(
                    f"settlement: award {a.award_id}: no baseline/meter value for {t.isoformat()}"
                )
            dur_h = min(SETTLEMENT_S, (a.end_utc - t).total_seconds()) / 3600.0
            promised = abs(a.p_mw) * dur_h
            base_mwh = b[t] * (SETTLEMENT_S / 3600.0) / 1e6
            delivered_total = sign * (m[t] / 1000.0 - base_mwh)
            k = (a.provider_id, a.zone, t)
            already = used.get(k, 0.0)
            delivered = delivered_total - already
            paid = min(max(delivered, 0.0), promised)
            used[k] = already + paid
            # availability pro rata to delivery: capacity that was not there is not paid for
            ratio = paid / promised if promised > 0 else 0.0
            availability = promised * ratio * a.availability_price_eur_per_mw_h
            lines.append(
                SettlementLine(
                    award_id=a.award_id,
                    provider_id=a.provider_id,
                    interval_start_utc=t,
                    promised_mwh=promised,
                    delivered_mwh=delivered,
                    paid_mwh=paid,
                    price_eur_per_mwh=a.price_eur_per_mwh,
                    amount_eur=paid * a.price_eur_per_mwh + availability,
                    availability_eur=availability,
                )
            )
            t = t + dt.timedelta(seconds=SETTLEMENT_S)
    return lines


def payments_by_provider(lines: Sequence[SettlementLine]) -> dict[str, float]:
    """Total settled amount [EUR] per provider."""
    out: dict[str, float] = {}
    for ln in lines:
        out[ln.provider_id] = out.get(ln.provider_id, 0.0) + ln.amount_eur
    return {k: v for k, v in out.items() if math.isfinite(v)}


__all__ = [
    "SETTLEMENT_S",
    "MarketSession",
    "payments_by_provider",
    "settle",
    "zone_contains",
]
