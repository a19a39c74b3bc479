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
