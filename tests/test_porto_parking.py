"""Porto parking: seeded stays and the charger assignment of the parking manager."""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v2xcosim.core.errors import ScenarioError
from v2xcosim.usecases.porto.parking import (
    REASON_BOOKING_FULL,
    REASON_FREE,
    REASON_FULL,
    REASON_RESERVED,
    STAY_COLUMNS,
    ParkingManager,
    StaySpec,
    draw_stays,
    plugged_stay,
    simulate,
)

JULY = pd.Timestamp("2024-07-01T00:00Z")
DST_WEEK = pd.Timestamp("2024-03-26T00:00Z")  # Lisbon moves to summer time on 31 March
GROUPS = [(f"G{k:02d}", 20) for k in range(1, 11)]


def test_same_seed_same_stays_other_seed_other_stays() -> None:
    a = draw_stays(StaySpec(), seed=7, start_utc=JULY)
    b = draw_stays(StaySpec(), seed=7, start_utc=JULY)
    c = draw_stays(StaySpec(), seed=8, start_utc=JULY)
    assert tuple(a.columns) == STAY_COLUMNS
    pd.testing.assert_frame_equal(a, b)
    assert len(a) != len(c) or not np.allclose(a["arrival_s"], c["arrival_s"])


@pytest.mark.parametrize("start", [JULY, DST_WEEK])
def test_stays_within_bounds(start: pd.Timestamp) -> None:
    spec = StaySpec()
    s = draw_stays(spec, seed=3, start_utc=start)
    stay_h = (s["departure_s"] - s["arrival_s"]).to_numpy() / 3600.0
    assert stay_h.min() >= spec.min_stay_h
    assert stay_h.max() <= spec.max_stay_h
    assert (s["departure_s"] > 0).all()
    end = pd.Timestamp(start.tz_convert("Europe/Lisbon").date()) + pd.Timedelta(days=spec.n_days)
    end_s = (end.tz_localize("Europe/Lisbon") - start).total_seconds()
    assert (s["arrival_s"] < end_s).all()
    assert (s["arrival_s"] < 0).any()  # the car park is not empty at the start
    assert s["arrival_s"].is_monotonic_increasing
    res = s[s["reserved"]]
    lead_h = (res["arrival_s"] - res["booked_s"]).to_numpy() / 3600.0
    assert lead_h.min() >= spec.booking_lead_h_range[0]
    assert lead_h.max() <= spec.booking_lead_h_range[1]
    assert s.loc[~s["reserved"], "booked_s"].isna().all()

    # nobody enters 01:00-04:00 or leaves 02:00-07:00 local time (weights 0: no flights)
    def local_hour(col: str) -> npt.NDArray[np.int64]:
        t = start + pd.to_timedelta(s[col].to_numpy(), unit="s")
        return np.asarray(t.tz_convert("Europe/Lisbon").hour, dtype=np.int64)

    assert not np.isin(local_hour("arrival_s"), [1, 2, 3]).any()
    assert not np.isin(local_hour("departure_s"), [2, 3, 4, 5, 6]).any()


def test_long_draw_matches_the_rates() -> None:
    """Over 400 days the rates are what the spec says (binomial/Poisson 4-sigma bounds)."""
    spec = StaySpec(n_days=400, warmup_days=0)
    s = draw_stays(spec, seed=11, start_utc=JULY)
    n = len(s)
    expected = spec.arrivals_per_day * 400
    assert abs(n - expected) < 4 * np.sqrt(expected) + 2 * spec.arrivals_per_day  # edge days
    share = s["reserved"].mean()
    assert abs(share - spec.reservation_share) < 4 * np.sqrt(0.24 / n)
    nights = np.arange(len(spec.nights_p))
    # mean stay: mean nights + the return hour's mean minus the arrival hour's mean, roughly
    mean_days = ((s["departure_s"] - s["arrival_s"]) / 86_400.0).mean()
    assert (
        float(np.dot(nights, spec.nights_p)) < mean_days < float(np.dot(nights, spec.nights_p)) + 1
    )


def _check_log(log: pd.DataFrame, manager: ParkingManager) -> None:
    """Invariants of a simulated log, checked from the log alone."""
    acc = log[log["accepted"]]
    # no charger double-booked: the accepted windows on each charger are disjoint
    for _, g in acc.groupby("charger"):
        w = g.sort_values("arrival_s")
        assert (w["arrival_s"].to_numpy()[1:] >= w["departure_s"].to_numpy()[:-1]).all()
    # so is every window the manager holds (reservations included)
    tab = manager.table()
    for _, g in tab.groupby("charger"):
        w = g.sort_values("start_s")
        assert (w["start_s"].to_numpy()[1:] >= w["end_s"].to_numpy()[:-1]).all()
    # reservations honoured: an accepted booking gets its charger on arrival
    booked = log[log["booking_accepted"]]
    assert booked["accepted"].all()
    assert (booked["reason"] == REASON_RESERVED).all()
    held = tab.set_index("stay_id")["charger"]
    assert (held.loc[acc["stay_id"]].to_numpy() == acc["charger"].to_numpy()).all()
    # rejections only when every charger is held, before the arrival, for part of the stay
    for _, r in log[~log["accepted"]].iterrows():
        assert r["reason"] == REASON_FULL
        before = acc[acc["seq_charger"] < r["seq_arrival"]]
        overlap = before[
            (before["arrival_s"] < r["departure_s"]) & (before["departure_s"] > r["arrival_s"])
        ]
        assert set(overlap["charger"]) == set(range(manager.n_chargers))
    # accepted spontaneous stays found a free charger
    assert set(log.loc[log["accepted"] & ~log["booking_accepted"], "reason"]) <= {REASON_FREE}


def test_shipped_week_invariants_and_some_rejections() -> None:
    stays = draw_stays(StaySpec(), seed=5, start_utc=JULY)
    manager = ParkingManager(GROUPS)
    log = simulate(stays, manager)
    _check_log(log, manager)
    assert 0 < (~log["accepted"]).sum() < 0.1 * len(log)
    occ = plugged_stay(log, np.arange(0.0, 7 * 86_400.0, 900.0), manager.n_chargers)
    busy = (occ >= 0).sum(axis=1)
    assert 0.6 * 200 < busy.mean() <= 200


stay_strategy = st.lists(
    st.tuples(
        st.integers(0, 60),  # arrival [quarter hours]
        st.integers(1, 30),  # stay [quarter hours]
        st.booleans(),  # reserved
        st.integers(0, 40),  # booking lead [quarter hours]
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(rows=stay_strategy, n_chargers=st.integers(1, 4))
def test_property_no_double_booking_and_fair_rejection(
    rows: list[tuple[int, int, bool, int]], n_chargers: int
) -> None:
    arr = np.array([r[0] for r in rows], dtype=float) * 900.0
    dep = arr + np.array([r[1] for r in rows], dtype=float) * 900.0
    reserved = np.array([r[2] for r in rows])
    booked = np.where(reserved, arr - np.array([r[3] for r in rows]) * 900.0, np.nan)
    stays = pd.DataFrame(
        {
            "stay_id": [f"S{k}" for k in range(len(rows))],
            "reserved": reserved,
            "booked_s": booked,
            "arrival_s": arr,
            "departure_s": dep,
        }
    )
    manager = ParkingManager([("A", n_chargers)])
    log = simulate(stays, manager)
    _check_log(log, manager)


def test_reservation_is_honoured_against_earlier_spontaneous_arrivals() -> None:
    m = ParkingManager([("A", 1), ("B", 1)])
    d = m.book("res", 10.0, 20.0)
    assert (d.accepted, d.charger, d.group, d.reason) == (True, 0, "A", REASON_RESERVED)
    # charger 0 is promised from t = 10: a car staying past 10 goes to charger 1 ...
    assert m.arrive("x", 5.0, 15.0).charger == 1
    # ... a car leaving by 10 may use charger 0 meanwhile
    assert m.arrive("y", 6.0, 10.0).charger == 0
    # y leaves at 8; z (9-11) is rejected: charger 0 is empty at 9 but promised from 10
    assert m.release("y", 8.0) == 0
    d = m.arrive("z", 9.0, 11.0)
    assert (d.accepted, d.charger, d.reason) == (False, -1, REASON_FULL)
    assert m.book("late", 12.0, 30.0).reason == REASON_BOOKING_FULL
    d = m.arrive("res", 12.0, 20.0)
    assert (d.accepted, d.charger, d.reason) == (True, 0, REASON_RESERVED)
    assert m.arrive("w", 8.5, 9.5).charger == 0  # y released at 8: free until 10
    assert m.release("res", 20.0) == 0


def test_bad_inputs_refused_with_the_key() -> None:
    m = ParkingManager([("A", 2)])
    m.book("r", 100.0, 200.0)
    with pytest.raises(ScenarioError, match="before its reserved window"):
        m.arrive("r", 50.0, 200.0)
    with pytest.raises(ScenarioError, match="release of 'nobody'"):
        m.release("nobody", 10.0)
    with pytest.raises(ScenarioError, match=r"arrival of 'q'.*finite"):
        m.arrive("q", 10.0, float("nan"))
    with pytest.raises(ScenarioError, match="departure after arrival"):
        m.book("b", 10.0, 10.0)
    with pytest.raises(ScenarioError, match="unique names"):
        ParkingManager([("A", 1), ("A", 2)])
    with pytest.raises(ScenarioError, match="reservation_share"):
        StaySpec(reservation_share=1.5).validate()
    with pytest.raises(ScenarioError, match="arrival_hour_weights needs 24"):
        dataclasses.replace(StaySpec(), arrival_hour_weights=(1.0,) * 23).validate()
    with pytest.raises(ScenarioError, match="nights_p must sum to 1"):
        StaySpec(nights_p=(0.5, 0.4)).validate()
    with pytest.raises(ScenarioError, match="UTC"):
        draw_stays(StaySpec(), seed=1, start_utc=pd.Timestamp("2024-07-01T00:00"))
    stays = draw_stays(StaySpec(n_days=1, warmup_days=0), seed=1, start_utc=JULY)
    with pytest.raises(ScenarioError, match="lacks columns"):
        simulate(stays.drop(columns="booked_s"), ParkingManager(GROUPS))
