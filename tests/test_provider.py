"""The stationary battery provider: offers within its SOC band, metered steps, bid price."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import FlexibilityRequest
from v2xcosim.domain.lfmp import MarketSession
from v2xcosim.domain.provider import BatteryPlan, StationaryBattery, battery_schedule

T0 = dt.datetime(2024, 5, 15, 8, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def request(n: int, start: dt.datetime, p_mw: float = 5.0) -> FlexibilityRequest:
    return FlexibilityRequest(
        request_id=f"dso/r{n}",
        dso_id="dso",
        zone="primary",
        submitted_utc=start - H,
        start_utc=start,
        end_utc=start + H,
        p_mw=p_mw,
        price_cap_eur_per_mwh=200.0,
    )


def test_offers_count_on_energy_of_earlier_awards_and_step_is_metered() -> None:
    bat = StationaryBattery("bess", "primary", soc=0.1, bid_price_eur_per_mwh=55.0)
    ses = MarketSession("lfmp/m1", T0 - H / 2)
    ses.submit_request(request(1, T0))
    (offer,) = bat.build_offers(ses.requests, T0 - H)
    assert offer.price_eur_per_mwh == 55.0
    assert offer.p_mw == pytest.approx(0.5, abs=1e-6)  # the rating binds (0.8 MWh free)
    ses.submit_offer(offer)
    bat.accept(ses.clear().awards)
    # next hour: only (0.9 − 0.1)·1000/0.93 − 500 kWh of room are left after the first award
    (second,) = bat.build_offers([request(2, T0 + H)], T0)
    room_kw = 0.8 * 1000 / 0.93 - 500
    assert second.p_mw * 1000 == pytest.approx(room_kw, rel=1e-4)
    # delivery: the setpoint is applied, the SOC band clips what is drawn
    drawn = [bat.step(bat.setpoint_w(T0 + k * H / 4), 900.0) for k in range(4)]
    assert drawn == pytest.approx([offer.p_mw * 1e6] * 4)
    assert bat.soc == pytest.approx(0.1 + offer.p_mw * 0.93, rel=1e-9)
    room_w = (0.9 - bat.soc) * 3.6e9 / (0.93 * 3600)
    assert bat.step(2e6, 3600.0) == pytest.approx(room_w)  # the SOC band binds
    assert 0 < room_w < bat.p_max_w
    assert bat.soc == pytest.approx(0.9)
    assert bat.step(1e5, 900.0) == 0.0  # full: nothing drawn, nothing metered
    with pytest.raises(ScenarioError):
        bat.step(float("nan"), 900.0)


def test_scheduled_battery_charges_in_the_surplus_and_sells_later() -> None:
    # 8 hourly steps: surplus in steps 2-4 (deepest at 3), evening price 250 from step 6
    bat = StationaryBattery("bess", "primary", capacity_kwh=1000.0, soc=0.1, eta=0.95)
    price = np.array([60.0, 60, 50, 40, 50, 80, 250, 250])
    fc = np.array([1e6, 1e6, -1e6, -3e6, -1e6, 1e6, 2e6, 2e6])
    out = battery_schedule(
        bat, dt_s=3600.0, price_eur_per_mwh=price, forecast_net_w=fc, surplus_eur_per_mwh=50.0
    )
    p = out.p_w[0]
    assert np.all(p[:2] == pytest.approx(0.0, abs=1e-6))
    # 0.8 MWh of room: the two deepest-valued steps (3, then 2 or 4) at the 500 kW rating
    assert p[3] == pytest.approx(500e3, rel=1e-9)
    assert p[2:5].sum() == pytest.approx(800e3 / 0.95, rel=1e-9)
    assert np.all(p[6:] <= 0) and p[6:].sum() == pytest.approx(-800e3 * 0.95, rel=1e-9)
    assert out.soc_end[0, -1] == pytest.approx(0.1, abs=1e-9)


def test_a_scheduled_battery_bids_only_what_its_plan_leaves() -> None:
    bat = StationaryBattery("bess", "primary", capacity_kwh=1000.0, soc=0.5, eta=1.0)
    start = T0
    # plan: charge 300 kW in hour 0, SOC 0.8 at its end, then idle
    plan = BatteryPlan(start, 3600.0, np.array([300e3, 0.0]), np.array([0.8, 0.8]))
    assert bat.capacity_on_plan_w(1, plan, start, start + H) == pytest.approx(100e3)  # SOC
    assert bat.capacity_on_plan_w(-1, plan, start, start + H) == pytest.approx(700e3)  # rating
    assert bat.capacity_on_plan_w(-1, plan, start + H, start + 2 * H) == pytest.approx(500e3)
    assert bat.capacity_on_plan_w(1, plan, start + H, start + 2 * H) == pytest.approx(100e3)
    assert bat.capacity_on_plan_w(1, plan, start + H / 2, start + H) == 0.0  # off the grid


def test_windows_offered_at_once_never_share_the_soc_room() -> None:
    """Four hourly requests in one market session: the offers, sized in time order, add up to
    the room of the SOC band, not four times it (idle and scheduled battery)."""
    room_kwh = (0.9 - 0.1) * 1000.0 / 0.93  # charged energy that fills the band
    reqs = [request(n, T0 + n * H) for n in (3, 0, 2, 1)]  # submitted out of time order
    bat = StationaryBattery("bess", "primary", soc=0.1, bid_price_eur_per_mwh=55.0)
    offers = bat.build_offers(reqs, T0 - H)
    by_start = sorted(offers, key=lambda o: o.start_utc)
    assert [o.p_mw for o in by_start[:1]] == pytest.approx([0.5], abs=1e-6)  # rating binds
    assert sum(o.p_mw for o in offers) * 1000.0 == pytest.approx(room_kwh, rel=1e-5)
    # 500 kWh, then the 360 kWh left; at most rounding crumbs (whole W) for the last two
    assert [o.start_utc for o in by_start if o.p_mw > 1e-3] == [T0, T0 + H]
    # scheduled battery idle on its plan: the same room, in the same order
    bat = StationaryBattery("bess", "primary", soc=0.1, bid_price_eur_per_mwh=55.0)
    plan = BatteryPlan(T0, 3600.0, np.zeros(6), np.full(6, 0.1))
    offers = bat.build_offers(reqs, T0 - H, plan)
    assert sum(o.p_mw for o in offers) * 1000.0 == pytest.approx(room_kwh, rel=1e-5)
    assert sorted(o.start_utc for o in offers if o.p_mw > 1e-3) == [T0, T0 + H]
    # delivered as offered: the SOC band never clips an awarded step
    drawn = [bat.step(o.p_mw * 1e6, 3600.0) for o in sorted(offers, key=lambda o: o.start_utc)]
    assert drawn == pytest.approx([o.p_mw * 1e6 for o in sorted(offers, key=lambda o: o.start_utc)])


def test_no_battery_offer_below_the_markets_minimum() -> None:
    """With ``min_offer_w`` the crumbs a nearly full band leaves are not offered."""
    reqs = [request(n, T0 + n * H) for n in (0, 1, 2)]
    bat = StationaryBattery("bess", "primary", soc=0.1, min_offer_w=10e3)
    offers = bat.build_offers(reqs, T0 - H)
    assert [o.start_utc for o in offers] == [T0, T0 + H]  # 500 kW, then 360 kW; no crumb
    assert min(o.p_mw for o in offers) * 1e6 >= 10e3
    # 360 kW of room left in the second hour: a 400 kW minimum leaves only the first offer
    bat = StationaryBattery("bess", "primary", soc=0.1, min_offer_w=400e3)
    assert [o.start_utc for o in bat.build_offers(reqs, T0 - H)] == [T0]
    with pytest.raises(ScenarioError, match="min_offer_w"):
        StationaryBattery("bess", "primary", min_offer_w=float("nan"))
