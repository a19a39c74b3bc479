import datetime as dt

import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import (
    BaselineDeclaration,
    FlexibilityOffer,
    FlexibilityRequest,
    MeterData,
)
from v2xcosim.domain.lfmp import MarketSession, settle

T0 = dt.datetime(2024, 5, 12, 10, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def req(
    rid: str,
    p: float,
    cap: float = 200.0,
    zone: str = "primary",
    sub: int = 0,
    start: dt.datetime = T0,
    end: dt.datetime = T0 + H,
) -> FlexibilityRequest:
    return FlexibilityRequest(
        request_id=rid,
        dso_id="dso",
        zone=zone,
        submitted_utc=T0 - dt.timedelta(hours=3, minutes=-sub),
        start_utc=start,
        end_utc=end,
        p_mw=p,
        price_cap_eur_per_mwh=cap,
    )


def off(
    oid: str,
    p: float,
    price: float,
    sub: int = 0,
    zone: str = "LV1",
    divisible: bool = True,
    provider: str = "emsp",
    start: dt.datetime = T0,
    end: dt.datetime = T0 + H,
) -> FlexibilityOffer:
    return FlexibilityOffer(
        offer_id=oid,
        provider_id=provider,
        zone=zone,
        submitted_utc=T0 - dt.timedelta(hours=2, minutes=-sub),
        start_utc=start,
        end_utc=end,
        p_mw=p,
        price_eur_per_mwh=price,
        divisible=divisible,
    )


def session() -> MarketSession:
    return MarketSession("ms1", T0 - H, zone_parent={"LV1": "primary", "LV2": "primary"})


def test_merit_order_partial_marginal_and_pay_as_bid() -> None:
    m = session()
    m.submit_request(req("r1", 1.0))
    for o in [off("c", 0.5, 50), off("a", 0.4, 30), off("b", 0.4, 40), off("d", 0.5, 250)]:
        m.submit_offer(o)
    res = m.clear()
    got = [(a.offer_id, round(a.p_mw, 9), a.price_eur_per_mwh) for a in res.awards]
    assert got == [("a", 0.4, 30), ("b", 0.4, 40), ("c", 0.2, 50)]
    assert res.matched_mwh == pytest.approx(1.0)
    assert res.requested_mwh == pytest.approx(1.0)
    assert set(res.rejected_offer_ids) == {"d"}


def test_ties_by_submission_time_then_id() -> None:
    m = session()
    m.submit_request(req("r1", 0.5))
    m.submit_offer(off("z", 0.3, 40, sub=1))
    m.submit_offer(off("y", 0.3, 40, sub=5))
    m.submit_offer(off("x", 0.3, 40, sub=5))
    res = m.clear()
    assert [(a.offer_id, round(a.p_mw, 9)) for a in res.awards] == [("z", 0.3), ("x", 0.2)]


def test_location_time_direction_and_indivisible() -> None:
    m = session()
    m.submit_request(req("r1", 0.6, zone="LV1"))
    m.submit_offer(off("other_zone", 0.6, 10, zone="LV2"))
    m.submit_offer(off("wrong_sign", -0.6, 10))
    m.submit_offer(off("short", 0.6, 10, end=T0 + H / 2))
    m.submit_offer(off("big", 0.7, 20, divisible=False))
    m.submit_offer(off("ok", 0.6, 30))
    res = m.clear()
    assert [(a.offer_id, a.p_mw) for a in res.awards] == [("ok", 0.6)]


def test_offer_capacity_shared_across_requests_and_down_direction() -> None:
    m = session()
    m.submit_request(req("r1", -0.3, sub=0))
    m.submit_request(req("r2", -0.3, sub=1))
    m.submit_offer(off("a", -0.4, 30))
    res = m.clear()
    assert [(a.request_id, round(a.p_mw, 9)) for a in res.awards] == [("r1", -0.3), ("r2", -0.1)]
    assert res.matched_mwh == pytest.approx(0.4)
    assert res.requested_mwh == pytest.approx(0.6)


def test_gate_closure_refuses_late_offer() -> None:
    m = session()
    late = FlexibilityOffer(
        offer_id="late",
        provider_id="p",
        zone="LV1",
        submitted_utc=T0,
        start_utc=T0,
        end_utc=T0 + H,
        p_mw=0.1,
        price_eur_per_mwh=1,
    )
    with pytest.raises(ScenarioError, match="after gate closure"):
        m.submit_offer(late)


def test_settlement_arithmetic_shortfall_not_paid() -> None:
    m = session()
    m.submit_request(req("r1", 0.4))
    m.submit_offer(off("a", 0.4, 50))
    (award,) = m.clear().awards
    starts = tuple(T0 + k * dt.timedelta(minutes=15) for k in range(4))
    base = BaselineDeclaration(
        provider_id="emsp",
        zone="LV1",
        market_session_id="ms1",
        interval_s=900,
        interval_start_utc=starts,
        p_w=(100e3,) * 4,
    )
    # metered kWh per 15 min: baseline 25 kWh; +100 kWh = full 0.1 MWh; +50 = half; -10 = none;
    # +150 = over-delivery, paid only as promised
    meter = MeterData(
        provider_id="emsp",
        zone="LV1",
        interval_s=900,
        interval_start_utc=starts,
        energy_kwh=(125.0, 75.0, 15.0, 175.0),
    )
    lines = settle([award], {("emsp", "LV1"): base}, {("emsp", "LV1"): meter})
    assert [round(ln.promised_mwh, 9) for ln in lines] == [0.1] * 4
    assert [round(ln.delivered_mwh, 9) for ln in lines] == [0.1, 0.05, -0.01, 0.15]
    assert [round(ln.paid_mwh, 9) for ln in lines] == [0.1, 0.05, 0.0, 0.1]
    assert sum(ln.amount_eur for ln in lines) == pytest.approx(0.25 * 50)


def test_settlement_needs_baseline() -> None:
    m = session()
    m.submit_request(req("r1", 0.4))
    m.submit_offer(off("a", 0.4, 50))
    with pytest.raises(ScenarioError, match="no baseline"):
        settle(m.clear().awards, {}, {})
