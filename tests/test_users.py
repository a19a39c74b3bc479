import datetime as dt

import numpy as np
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.users import (
    EVNETNL_MEAN_ENERGY_KWH,
    UserPopulationSpec,
    draw_users,
    preferences,
    registration,
)

S = "terni/users"
AB = [("a", 4), ("b", 4)]
T0 = dt.datetime(2024, 5, 12, 22, 0, tzinfo=dt.UTC)  # 00:00 local (CEST)


def test_population_statistics_and_reproducibility() -> None:
    spec = UserPopulationSpec()
    u = draw_users(spec, seed=11, start_utc=T0, n_days=60, sites=AB, stream_prefix=S)
    n = len(u)
    assert abs(n / (60 * 8) - spec.sessions_per_connector_per_day) < 0.15
    assert np.all(np.diff(u.arrival_s) >= 0)
    assert np.all(u.departure_s > u.arrival_s)
    # commuters arrive around the EVnetNL modal start (08:51 local)
    local_h = (u.arrival_s % 86400) / 3600.0
    assert abs(np.median(local_h[u.commuter]) - 8.85) < 0.3
    # energy need ≈ EVnetNL mean, lowered only by the arrival-SOC floor
    assert 6.0 < u.energy_need_kwh.mean() <= EVNETNL_MEAN_ENERGY_KWH + 1.0
    assert np.all((u.soc_min < u.soc_departure) & (u.soc_arrival >= 0.1))
    # some users decline
    assert 0.5 < u.campaign.mean() < 0.75 and (~u.campaign).any()
    again = draw_users(spec, seed=11, start_utc=T0, n_days=60, sites=AB, stream_prefix=S)
    assert np.array_equal(u.soc_arrival, again.soc_arrival)
    other = draw_users(spec, seed=12, start_utc=T0, n_days=60, sites=AB, stream_prefix=S)
    assert not np.array_equal(u.arrival_s[:10], other.arrival_s[:10])
    # adding a site never changes another site's users
    more = draw_users(
        spec, seed=11, start_utc=T0, n_days=60, sites=[*AB, ("c", 2)], stream_prefix=S
    )
    pick = np.array([s.startswith("a/") for s in more.session_id])
    mine = np.array([s.startswith("a/") for s in u.session_id])
    assert np.array_equal(more.arrival_s[pick], u.arrival_s[mine])


def test_messages_and_validation() -> None:
    u = draw_users(
        UserPopulationSpec(), seed=1, start_utc=T0, n_days=1, sites=[("a", 4)], stream_prefix=S
    )
    reg = registration(u, 0, T0)
    pref = preferences(u, 0, T0)
    assert reg.time_utc == T0 + dt.timedelta(seconds=float(u.arrival_s[0]))
    assert pref.departure_utc.utcoffset() == dt.timedelta(0)
    assert pref.soc_min <= pref.soc_departure
    with pytest.raises(ScenarioError, match="p_v2g_opt_in"):
        draw_users(
            UserPopulationSpec(p_v2g_opt_in=1.5),
            seed=1,
            start_utc=T0,
            n_days=1,
            sites=[("a", 1)],
            stream_prefix="terni/users",
        )


def test_fleet_early_departures_and_ages() -> None:
    from v2xcosim.domain.users import ITALY_2024_FLEET

    spec = UserPopulationSpec(p_max_w=11_000.0)
    u = draw_users(spec, seed=3, start_utc=T0, n_days=60, sites=AB, stream_prefix=S)
    by_name = {m.name: m for m in ITALY_2024_FLEET}
    for i in range(len(u)):
        m = by_name[u.vehicle_model[i]]
        assert u.capacity_kwh[i] == m.capacity_kwh and u.v2g_capable[i] == m.v2g_ac
        assert u.p_max_w[i] == min(m.p_ac_max_w, 11_000.0)
    v2g_share = sum(m.share for m in ITALY_2024_FLEET if m.v2g_ac)
    assert abs(u.v2g_capable.mean() - v2g_share) < 0.06
    # early leavers: the stated share, leaving within 30-90 % of the declared stay
    assert abs(u.left_early.mean() - spec.early_departure_share) < 0.05
    stay = u.departure_s - u.arrival_s
    frac = (u.departure_actual_s - u.arrival_s) / stay
    assert np.all(frac[~u.left_early] == 1.0)
    assert np.all((frac[u.left_early] >= 0.3 - 1e-12) & (frac[u.left_early] <= 0.9 + 1e-12))
    assert np.all((u.age_years >= 0) & (u.age_years <= spec.vehicle_age_max_years))
    assert np.all(u.q_cal_start >= 1e-4) and np.all(u.q_cyc_start >= 1e-4)
    # the new columns were drawn after the old ones: arrivals and SOCs did not move
    old = draw_users(
        UserPopulationSpec(early_departure_share=0.0),
        seed=3,
        start_utc=T0,
        n_days=60,
        sites=AB,
        stream_prefix=S,
    )
    assert np.array_equal(old.arrival_s, u.arrival_s) and not old.left_early.any()
    assert np.array_equal(old.soc_arrival, u.soc_arrival)
