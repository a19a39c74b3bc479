"""The cycle of a local flexibility market: sessions, gate closure, delivery and settlement.

**Timing** (:class:`MarketTiming` on a :class:`~v2xcosim.core.timegrid.StepGrid`).  A market
session opens at every step ``k`` whose start ``k·Δt`` is a multiple of ``period_s`` (counted
from the run start), unless its delivery window would start at or after the end of the run.
Its gate closes ``⌊gate_closure_after_s/Δt⌋`` steps later (at the opening step itself when
0); its delivery window is ``[open + delivery_lead_s, + period_s)``, clipped to the run.

**Opening** (:meth:`MarketCycle.step`).  The buyer (:class:`FlexBuyer`, the DSO) states its
requests for the delivery window; they are submitted, then every provider in turn offers.

**Gate closure.**  Every provider with an offer in the session declares its baselines — the
schedule it follows without the session, per settlement interval, as it stands at gate
closure; the LFMP clears (:meth:`~v2xcosim.domain.lfmp.MarketSession.clear`) and every provider
is told the result.

**Settlement** (:meth:`MarketCycle.settle`).  At the first step at or after the end of the
delivery window, each awarded provider's meter data — energy per settlement interval from the
opening step to the end of delivery — is settled against its baselines
(:func:`~v2xcosim.domain.lfmp.settle`), and the buyer pays each awarded provider the sum of its
lines.  A provider that shares its revenue (:class:`RevenueSharing`, e.g. an EMSP with the
users whose cars delivered) splits what each of its offers earned into payouts per asset and a
kept share (:class:`RevenueSplit`); payouts and kept share sum to what the buyer paid it.

**Providers** are alike to the cycle (:class:`FlexProvider`): an EMSP portfolio and a
stationary battery differ only in how they offer, declare, meter and share
(:mod:`v2xcosim.domain.market.participants`).

**Events.**  Every message is handed to ``on_event`` the moment it is exchanged
(:class:`MarketEvent`), so the caller records it in its own vocabulary and in exchange order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import (
    Award,
    BaselineDeclaration,
    FlexibilityOffer,
    FlexibilityRequest,
    MarketResult,
    MeterData,
    OrderBook,
    Payment,
    SettlementLine,
)
from v2xcosim.core.timegrid import StepGrid
from v2xcosim.domain.lfmp import SETTLEMENT_S, MarketSession, payments_by_provider, settle

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MarketTiming:
    """When market sessions open, close and deliver [s] (module docstring)."""

    period_s: int = 3600
    gate_closure_after_s: int = 900
    delivery_lead_s: int = 1800

    def __post_init__(self) -> None:
        if self.period_s <= 0 or not 0 <= self.gate_closure_after_s < self.delivery_lead_s:
            raise ScenarioError(
                "market timing: need period_s > 0 and 0 <= gate_closure_after_s < delivery_lead_s"
            )


@dataclass
class MarketWindow:
    """One market session of the cycle with its steps (``delivery_k1`` exclusive)."""

    session: MarketSession
    open_k: int
    gate_k: int
    delivery_k0: int
    delivery_k1: int
    result: MarketResult | None = None
    settled: bool = False

    @property
    def market_session_id(self) -> str:
        """Id of the market session."""
        return self.session.market_session_id


@dataclass(frozen=True)
class RevenueSplit:
    """What a provider passes on of its settled revenue: per asset row, and the share it keeps."""

    provider_id: str
    to_assets: dict[int, float]
    kept_eur: float


Message = (
    FlexibilityRequest
    | FlexibilityOffer
    | BaselineDeclaration
    | MarketSession
    | OrderBook
    | Award
    | MarketResult
    | MeterData
    | Payment
    | RevenueSplit
)


@dataclass(frozen=True)
class MarketEvent:
    """One message of the cycle at step ``k`` (``party``: the provider or payee it concerns).

    Payloads: requests (party = buyer), offers, baselines, the session at gate closure, the
    order book, awards, the result, meter data, payments (party = payee), revenue splits.
    """

    k: int
    window: MarketWindow
    payload: Message
    party: str = ""


class FlexBuyer(Protocol):
    """The buyer of flexibility (the DSO): its requests for a window's delivery."""

    @property
    def buyer_id(self) -> str:
        """Id of the payer of settled flexibility."""
        ...

    def requests(self, window: MarketWindow) -> Sequence[FlexibilityRequest]:
        """Return the requests for the delivery of ``window``, issued at its opening."""
        ...


class FlexProvider(Protocol):
    """A flexibility provider as the cycle sees it."""

    @property
    def provider_id(self) -> str:
        """Id of the provider."""
        ...

    def offers(
        self, window: MarketWindow, requests: Sequence[FlexibilityRequest]
    ) -> Sequence[FlexibilityOffer]:
        """Offers on ``requests`` at the opening of ``window``."""
        ...

    def baselines(self, window: MarketWindow) -> Sequence[BaselineDeclaration]:
        """Baselines per zone at gate closure (asked only of providers that offered)."""
        ...

    def accept(self, window: MarketWindow, result: MarketResult) -> None:
        """Take note of the market result (all awards; the own ones are by ``provider_id``)."""
        ...

    def meters(self, window: MarketWindow) -> Sequence[MeterData]:
        """Metered energy per zone of the awarded provider, at settlement."""
        ...


@runtime_checkable
class RevenueSharing(Protocol):
    """A provider that passes part of what an offer earned on to the owners of its assets."""

    def split_revenue(self, offer_id: str, amount_eur: float) -> tuple[dict[int, float], float]:
        """Payouts per asset row and the kept share [EUR] of ``amount_eur`` earned by an offer."""
        ...


def per_interval(grid: StepGrid) -> int:
    """Return the steps per settlement interval (the step must divide it)."""
    if grid.step_s <= 0 or SETTLEMENT_S % grid.step_s:
        raise ScenarioError(f"market: step_s {grid.step_s} must divide {SETTLEMENT_S} s")
    return SETTLEMENT_S // grid.step_s


def meter_data(
    provider_id: str, zone: str, energy_kwh: FloatArray, grid: StepGrid, k0: int, k1: int
) -> MeterData:
    """Energy per settlement interval [kWh] of the steps ``[k0, k1)`` (whole intervals only)."""
    n = per_interval(grid)
    e = energy_kwh[k0:k1]
    n_int = len(e) // n
    return MeterData(
        provider_id=provider_id,
        zone=zone,
        interval_s=SETTLEMENT_S,
        interval_start_utc=grid.every(k0, k0 + n_int * n, n),
        energy_kwh=tuple(float(x) for x in e[: n_int * n].reshape(n_int, n).sum(axis=1)),
    )


def step_baseline(
    provider_id: str,
    zone: str,
    market_session_id: str,
    p_w: FloatArray,
    grid: StepGrid,
    k0: int,
) -> BaselineDeclaration:
    """Baseline of a per-step schedule ``p_w`` starting at step ``k0``: mean per interval [W]."""
    n = per_interval(grid)
    n_int = len(p_w) // n
    base = p_w[: n_int * n].reshape(n_int, n).mean(axis=1)
    return BaselineDeclaration(
        provider_id=provider_id,
        zone=zone,
        market_session_id=market_session_id,
        interval_s=SETTLEMENT_S,
        interval_start_utc=grid.every(k0, k0 + n_int * n, n),
        p_w=tuple(float(x) for x in base),
    )


def _ignore(event: MarketEvent) -> None:
    """Drop an event (no recorder)."""


@dataclass
class MarketCycle:
    """Market sessions of a run for ``buyer`` and ``providers`` (module docstring).

    Call :meth:`settle` and :meth:`step` once per step (the order is the caller's).
    """

    grid: StepGrid
    timing: MarketTiming
    buyer: FlexBuyer
    providers: Sequence[FlexProvider]
    zone_parent: Mapping[str, str] = field(default_factory=dict)
    on_event: Callable[[MarketEvent], None] = _ignore
    session_prefix: str = "lfmp/m"
    windows: list[MarketWindow] = field(default_factory=list)
    settlement: list[SettlementLine] = field(default_factory=list)

    def __post_init__(self) -> None:
        per_interval(self.grid)
        ids = [p.provider_id for p in self.providers]
        if len(set(ids)) != len(ids):
            raise ScenarioError(f"market: duplicate provider ids in {ids}")

    def _emit(self, k: int, w: MarketWindow, payload: Message, party: str = "") -> None:
        self.on_event(MarketEvent(k, w, payload, party))

    # ------------------------------------------------------------------ per step
    def step(self, k: int) -> None:
        """Open a session if one is due at ``k``; close every session whose gate is ``k``."""
        if (k * self.grid.step_s) % self.timing.period_s == 0:
            self._open(k)
        for w in self.windows:
            if w.gate_k == k and w.result is None:
                self._close(k, w)

    def _open(self, k: int) -> None:
        step_s, k_all = self.grid.step_s, self.grid.n_steps
        d0 = k + self.timing.delivery_lead_s // step_s
        d1 = min(d0 + self.timing.period_s // step_s, k_all)
        if d0 >= k_all:
            return
        gate_k = k + self.timing.gate_closure_after_s // step_s
        session = MarketSession(
            f"{self.session_prefix}{len(self.windows) + 1}",
            self.grid.utc(gate_k),
            zone_parent=self.zone_parent,
        )
        w = MarketWindow(session=session, open_k=k, gate_k=gate_k, delivery_k0=d0, delivery_k1=d1)
        self.windows.append(w)
        requests = list(self.buyer.requests(w))
        for r in requests:
            session.submit_request(r)
            self._emit(k, w, r, self.buyer.buyer_id)
        for p in self.providers:
            for o in p.offers(w, requests):
                session.submit_offer(o)
                self._emit(k, w, o, p.provider_id)
        if gate_k == k:
            self._close(k, w)

    def _close(self, k: int, w: MarketWindow) -> None:
        ses = w.session
        offered = {o.provider_id for o in ses.offers}
        for p in self.providers:
            if p.provider_id not in offered:
                continue
            for decl in p.baselines(w):
                ses.declare_baseline(decl, ses.gate_closure_utc)
                self._emit(k, w, decl, p.provider_id)
        self._emit(k, w, ses)
        book = OrderBook(
            market_session_id=ses.market_session_id,
            gate_closure_utc=ses.gate_closure_utc,
            requests=tuple(ses.requests),
            offers=tuple(ses.offers),
        )
        self._emit(k, w, book)
        result = ses.clear()
        w.result = result
        for p in self.providers:
            p.accept(w, result)
        for a in result.awards:
            self._emit(k, w, a, a.provider_id)
        self._emit(k, w, result)

    def settle(self, k: int) -> None:
        """Settle every cleared session whose delivery ended at or before step ``k``."""
        for w in self.windows:
            if w.settled or w.result is None or k < w.delivery_k1:
                continue
            w.settled = True
            awards = w.result.awards
            if not awards:
                continue
            awarded = {a.provider_id for a in awards}
            meters: dict[tuple[str, str], MeterData] = {}
            for p in self.providers:
                if p.provider_id not in awarded:
                    continue
                for m in p.meters(w):
                    meters[(m.provider_id, m.zone)] = m
                    self._emit(k, w, m, p.provider_id)
            lines = settle(awards, w.session.baselines, meters)
            self.settlement.extend(lines)
            paid_by = payments_by_provider(lines)
            for payee in sorted(awarded):
                pay = Payment(
                    payer=self.buyer.buyer_id,
                    payee=payee,
                    amount_eur=paid_by.get(payee, 0.0),
                    reason=w.market_session_id,
                )
                self._emit(k, w, pay, payee)
            for p in self.providers:
                if isinstance(p, RevenueSharing) and p.provider_id in awarded:
                    split = split_revenue(p, p.provider_id, awards, lines)
                    self._emit(k, w, split, p.provider_id)

    # ------------------------------------------------------------------ outputs
    def results(self) -> list[MarketResult]:
        """Results of the cleared sessions in opening order."""
        return [w.result for w in self.windows if w.result is not None]

    def totals(self) -> dict[str, Any]:
        """Sessions, requests, offers, awards, MWh and payments of the run."""
        results = self.results()
        return {
            "market_sessions": len(self.windows),
            "flex_requests": sum(len(w.session.requests) for w in self.windows),
            "flex_offers": sum(len(w.session.offers) for w in self.windows),
            "flex_awards": sum(len(r.awards) for r in results),
            "flex_requested_mwh": float(sum(r.requested_mwh for r in results)),
            "flex_matched_mwh": float(sum(r.matched_mwh for r in results)),
            "flex_delivered_mwh": float(sum(ln.paid_mwh for ln in self.settlement)),
            "dso_payments_eur": float(sum(ln.amount_eur for ln in self.settlement)),
        }

    def provider_totals(self, provider_id: str) -> dict[str, float]:
        """Offers, awards, matched/promised/delivered MWh and payments of one provider."""
        offers = [o for w in self.windows for o in w.session.offers if o.provider_id == provider_id]
        awards = [a for r in self.results() for a in r.awards if a.provider_id == provider_id]
        lines = [ln for ln in self.settlement if ln.provider_id == provider_id]
        return {
            "offers": float(len(offers)),
            "awards": float(len(awards)),
            "matched_mwh": float(
                sum(abs(a.p_mw) * (a.end_utc - a.start_utc).total_seconds() / 3600 for a in awards)
            ),
            "promised_mwh": float(sum(ln.promised_mwh for ln in lines)),
            "delivered_mwh": float(sum(ln.paid_mwh for ln in lines)),
            "payments_eur": float(sum(ln.amount_eur for ln in lines)),
        }

    def awards_frame(self) -> pd.DataFrame:
        """Every award in clearing order (per session: request order, then merit)."""
        cols = [
            "market_session_id",
            "award_id",
            "request_id",
            "offer_id",
            "provider_id",
            "zone",
            "start_utc",
            "end_utc",
            "p_mw",
            "price_eur_per_mwh",
            "availability_price_eur_per_mw_h",
        ]
        rows = [
            [str(getattr(a, c)) if c.endswith("_utc") else getattr(a, c) for c in cols]
            for r in self.results()
            for a in r.awards
        ]
        return pd.DataFrame(rows, columns=cols)

    def settlement_frame(self) -> pd.DataFrame:
        """Every settlement line (interval starts as text)."""
        cols = [f.name for f in dataclasses.fields(SettlementLine)]
        return pd.DataFrame(
            [[getattr(ln, c) for c in cols] for ln in self.settlement], columns=cols
        ).astype({"interval_start_utc": "str"})


def split_revenue(
    sharer: RevenueSharing,
    provider_id: str,
    awards: Sequence[Award],
    lines: Sequence[SettlementLine],
) -> RevenueSplit:
    """Split what each offer of ``provider_id`` earned in ``lines`` (offers in id order)."""
    award_offer = {a.award_id: a.offer_id for a in awards if a.provider_id == provider_id}
    by_offer: dict[str, float] = {}
    for ln in lines:
        if ln.award_id not in award_offer:
            continue  # another provider's line
        oid = award_offer[ln.award_id]
        by_offer[oid] = by_offer.get(oid, 0.0) + ln.amount_eur
    to_assets: dict[int, float] = {}
    kept = 0.0
    for oid, amount in sorted(by_offer.items()):
        parts, own = sharer.split_revenue(oid, amount)
        kept += own
        for i, v in parts.items():
            to_assets[i] = to_assets.get(i, 0.0) + v
    return RevenueSplit(provider_id, dict(sorted(to_assets.items())), kept)


__all__ = [
    "FlexBuyer",
    "FlexProvider",
    "MarketCycle",
    "MarketEvent",
    "MarketTiming",
    "MarketWindow",
    "Message",
    "RevenueSharing",
    "RevenueSplit",
    "meter_data",
    "per_interval",
    "split_revenue",
    "step_baseline",
]
