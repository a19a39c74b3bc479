"""MarketCycle on small hand-made cases (independent of any use case's data)."""

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pytest

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
)
from v2xcosim.core.timegrid import StepGrid
from v2xcosim.domain.lfmp import MarketSession
from v2xcosim.domain.market.cycle import (
    MarketCycle,
    MarketEvent,
    MarketTiming,
    MarketWindow,
    RevenueSplit,
    meter_data,
    step_baseline,
)
from v2xcosim.domain.market.participants import BatteryProvider, interval_means
from v2xcosim.domain.provider import StationaryBattery

T0 = dt.datetime(2024, 5, 12, 8, 0, tzinfo=dt.UTC)
GRID = StepGrid(T0, 900, 12)  # three hours of quarter-hour steps
TIMING = MarketTiming(period_s=3600, gate_closure_after_s=900, delivery_lead_s=1800)


class Buyer:
    buyer_id = "dso"

    def __init__(self, p_mw: float = 0.1) -> None:
        self.p_mw = p_mw

    def requests(self, window: MarketWindow) -> list[FlexibilityRequest]:
        return [
            FlexibilityRequest(
                request_id=f"dso/r{window.open_k}",
                dso_id="dso",
                zone="primary",
                submitted_utc=GRID.utc(window.open_k),
                start_utc=GRID.utc(window.delivery_k0),
                end_utc=GRID.utc(window.delivery_k1),
                p_mw=self.p_mw,
                price_cap_eur_per_mwh=200.0,
            )
        ]


class Provider:
    """Offers each request in full at ``price``, idle baseline, meters ``energy_kwh``."""

    def __init__(self, pid: str, price: float, energy_kwh: float = 25.0) -> None:
        self.provider_id = pid
        self.price = price
        self.energy_kwh = np.full(GRID.n_steps, energy_kwh)
        self.results: list[MarketResult] = []
        self.asked_baselines = 0

    def offers(
        self, window: MarketWindow, requests: Sequence[FlexibilityRequest]
    ) -> list[FlexibilityOffer]:
        return [
            FlexibilityOffer(
                offer_id=f"{self.provider_id}/o{window.open_k}",
                provider_id=self.provider_id,
                zone="primary",
                submitted_utc=GRID.utc(window.open_k),
                start_utc=r.start_utc,
                end_utc=r.end_utc,
                p_mw=r.p_mw,
                price_eur_per_mwh=self.price,
                request_id=r.request_id,
            )
            for r in requests
        ]

    def baselines(self, window: MarketWindow) -> list[BaselineDeclaration]:
        self.asked_baselines += 1
        idle = np.zeros(window.delivery_k1 - window.open_k)
        return [
            step_baseline(
                self.provider_id, "primary", window.market_session_id, idle, GRID, window.open_k
            )
        ]

    def accept(self, window: MarketWindow, result: MarketResult) -> None:
        self.results.append(result)

    def meters(self, window: MarketWindow) -> list[MeterData]:
        return [
            meter_data(
                self.provider_id,
                "primary",
                self.energy_kwh,
                GRID,
                window.open_k,
                window.delivery_k1,
            )
        ]


class SharingProvider(Provider):
    """Passes 80 % of each offer's revenue on to assets 0 and 1 (3:1), keeps 20 %."""

    def split_revenue(self, offer_id: str, amount_eur: float) -> tuple[dict[int, float], float]:
        users = 0.8 * amount_eur
        return {1: users * 0.25, 0: users * 0.75}, amount_eur - users


def run(
    providers: Sequence[Provider], timing: MarketTiming = TIMING, steps: int = GRID.n_steps
) -> tuple[MarketCycle, list[MarketEvent]]:
    events: list[MarketEvent] = []
    cycle = MarketCycle(GRID, timing, Buyer(), providers, on_event=events.append)
    for k in range(steps):
        cycle.settle(k)
        cycle.step(k)
    return cycle, events


def test_sessions_open_every_period_while_delivery_fits() -> None:
    cycle, _ = run([Provider("p", 50.0)])
    got = [(w.open_k, w.gate_k, w.delivery_k0, w.delivery_k1) for w in cycle.windows]
    # k = 12 would deliver from step 14, after the run; the last window is clipped to the run
    assert got == [(0, 1, 2, 6), (4, 5, 6, 10), (8, 9, 10, 12)]
    assert [w.market_session_id for w in cycle.windows] == ["lfmp/m1", "lfmp/m2", "lfmp/m3"]
    assert cycle.windows[0].session.gate_closure_utc == T0 + dt.timedelta(minutes=15)


def test_gate_closes_at_its_step_with_baselines_then_clears() -> None:
    p = Provider("p", 50.0)
    events: list[MarketEvent] = []
    cycle = MarketCycle(GRID, TIMING, Buyer(), [p], on_event=events.append)
    cycle.step(0)
    assert cycle.windows[0].result is None and p.asked_baselines == 0
    assert [type(e.payload) for e in events] == [FlexibilityRequest, FlexibilityOffer]
    events.clear()
    cycle.step(1)
    w = cycle.windows[0]
    assert w.result is not None and len(w.result.awards) == 1
    assert p.results == [w.result]
    assert [type(e.payload) for e in events] == [
        BaselineDeclaration,
        MarketSession,
        OrderBook,
        Award,
        MarketResult,
    ]
    assert ("p", "primary") in w.session.baselines


def test_gate_closure_zero_closes_at_opening() -> None:
    timing = MarketTiming(period_s=3600, gate_closure_after_s=0, delivery_lead_s=1800)
    cycle, _ = run([Provider("p", 50.0)], timing, steps=1)
    assert cycle.windows[0].gate_k == 0 and cycle.windows[0].result is not None


def test_settlement_at_end_of_delivery_and_split_sums_to_payment() -> None:
    p = SharingProvider("emsp", 50.0)
    events: list[MarketEvent] = []
    cycle = MarketCycle(GRID, TIMING, Buyer(), [p], on_event=events.append)
    for k in range(6):
        cycle.settle(k)
        cycle.step(k)
    assert cycle.settlement == []  # delivery of m1 is [2, 6): not settled before step 6
    events.clear()
    cycle.settle(6)
    assert cycle.windows[0].settled and not cycle.windows[1].settled
    kinds = [type(e.payload) for e in events]
    assert kinds == [MeterData, Payment, RevenueSplit]
    pay = events[1].payload
    split = events[2].payload
    assert isinstance(pay, Payment) and isinstance(split, RevenueSplit)
    # 0.1 MW for 1 h delivered (25 kWh per quarter hour above an idle baseline) at 50 EUR/MWh
    assert pay.payer == "dso" and pay.payee == "emsp"
    assert pay.amount_eur == pytest.approx(5.0)
    assert len(cycle.settlement) == 4
    assert list(split.to_assets) == [0, 1]  # by asset row
    assert sum(split.to_assets.values()) + split.kept_eur == pytest.approx(pay.amount_eur)
    assert split.kept_eur == pytest.approx(1.0)


def test_shortfall_is_not_paid_and_only_sharers_split() -> None:
    lazy = Provider("lazy", 40.0, energy_kwh=0.0)  # cheapest, but delivers nothing
    cycle, events = run([lazy, SharingProvider("emsp", 60.0)])
    # the cheaper offer takes each request in full: nothing left for the second provider
    assert {a.provider_id for r in cycle.results() for a in r.awards} == {"lazy"}
    assert [e for e in events if isinstance(e.payload, RevenueSplit)] == []
    pays = [e.payload for e in events if isinstance(e.payload, Payment)]
    assert pays and all(isinstance(p, Payment) and p.amount_eur == 0.0 for p in pays)
    totals = cycle.totals()
    assert totals["market_sessions"] == 3 and totals["flex_awards"] == 3
    assert totals["dso_payments_eur"] == 0.0
    assert cycle.provider_totals("emsp")["awards"] == 0.0
    assert cycle.provider_totals("lazy")["matched_mwh"] == pytest.approx(0.1 + 0.1 + 0.05)
    assert len(cycle.awards_frame()) == 3 and len(cycle.settlement_frame()) == 8


def test_a_battery_is_a_provider_like_any_other() -> None:
    bat = BatteryProvider(
        StationaryBattery(
            "bess", "primary", capacity_kwh=1000.0, soc=0.1, bid_price_eur_per_mwh=55
        ),
        GRID,
    )
    events: list[MarketEvent] = []
    cycle = MarketCycle(GRID, TIMING, Buyer(p_mw=0.2), [bat], on_event=events.append)
    for k in range(7):
        cycle.settle(k)
        cycle.step(k)
        bat.step(k)
    assert bat.p_w[2:6].tolist() == [200_000.0] * 4 and bat.p_w[:2].tolist() == [0.0, 0.0]
    pay = next(e.payload for e in events if isinstance(e.payload, Payment))
    assert isinstance(pay, Payment) and pay.amount_eur == pytest.approx(0.2 * 55)


def test_interval_means_pad_with_the_last_value() -> None:
    got = interval_means(np.array([9.0, 1.0, 2.0, 3.0, 4.0, 5.0]), 1, 2)
    assert got.tolist() == [1.5, 3.5, 5.0]


def test_bad_timing_and_grid_are_refused() -> None:
    with pytest.raises(ScenarioError, match="gate_closure_after_s"):
        MarketTiming(period_s=3600, gate_closure_after_s=1800, delivery_lead_s=1800)
    with pytest.raises(ScenarioError, match="must divide"):
        MarketCycle(StepGrid(T0, 700, 10), TIMING, Buyer(), [])
    with pytest.raises(ScenarioError, match="duplicate"):
        MarketCycle(GRID, TIMING, Buyer(), [Provider("p", 1.0), Provider("p", 2.0)])
