"""SessionBook on small hand-made cases (independent of any use case's data)."""

import numpy as np
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.cs_ems import ChargingSite
from v2xcosim.domain.sessions import (
    CONNECTED,
    LEFT,
    REJECTED,
    WAITING,
    SessionBook,
    assign_slots,
)

STEP_S = 900


def book(
    arrival: list[int],
    departure: list[int],
    site_of: list[str] | None = None,
    connectors: int = 1,
    n_steps: int = 8,
) -> SessionBook:
    n = len(arrival)
    site_of = site_of or ["A"] * n
    sites = {s: ChargingSite(s, connectors, 11e3) for s in sorted(set(site_of))}
    return SessionBook(
        [f"s{i}" for i in range(n)],
        site_of,
        np.array(arrival, dtype=np.int64),
        np.array(departure, dtype=np.int64),
        sites,
        soc_arrival=np.full(n, 0.5),
        n_steps=n_steps,
        step_s=STEP_S,
    )


def test_slots_are_positions_per_site_in_row_order() -> None:
    slot = assign_slots(["A", "B", "A", "A", "B"], ["A", "B"])
    assert slot.tolist() == [0, 0, 1, 2, 1]
    b = book([0, 0, 1], [2, 2, 3], site_of=["B", "A", "B"])
    assert b.site_rows("B").tolist() == [0, 2]
    assert b.slot.tolist() == [0, 0, 1]


def test_a_full_site_rejects() -> None:
    b = book([1, 1, 1], [3, 3, 3], connectors=2)
    assert b.arrive(0) == []
    events = b.arrive(1)
    assert [e.session_id for e in events] == ["s0", "s1", "s2"]
    assert [e.connector_id is None for e in events] == [False, False, True]
    assert b.status.tolist() == [CONNECTED, CONNECTED, REJECTED]
    assert b.connector[2] is None
    assert b.depart(3) and b.status.tolist() == [LEFT, LEFT, REJECTED]  # rejected never leaves


def test_departures_free_slots_for_arrivals_of_the_same_step() -> None:
    b = book([0, 2], [2, 4])  # one connector
    (first,) = b.arrive(0)
    assert b.depart(1) == [] and b.arrive(1) == []
    (gone,) = b.depart(2)
    assert (gone.row, gone.connector_id) == (0, first.connector_id)
    (second,) = b.arrive(2)
    assert second.connector_id == first.connector_id
    assert b.status.tolist() == [LEFT, CONNECTED]
    assert b.sites["A"].occupants() == ("s1",)


def test_metering_sums_energy_of_connected_steps_only() -> None:
    b = book([1, 0], [3, 8], site_of=["A", "B"], n_steps=4)
    p = {"A": np.array([4000.0]), "B": np.array([-2000.0])}
    soc = {"A": np.array([0.6]), "B": np.array([0.7])}
    for k in range(4):
        for site in ("A", "B"):
            b.meter(k, site, soc[site], p[site])  # readings before this step's events
        b.depart(k)
        b.arrive(k)
    # A: connected during steps 1 and 2 (departs at 3); B: steps 0, 1, 2 metered by k = 3
    assert b.energy_kwh[0].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert b.charged_kwh(0) == pytest.approx(2.0) and b.discharged_kwh(0) == 0.0
    assert b.discharged_kwh(1) == pytest.approx(1.5) and b.charged_kwh(1) == 0.0
    assert b.soc.tolist() == [0.6, 0.7] and b.soc_departure[0] == 0.6
    assert np.isnan(b.soc_departure[1])
    table = b.frame({"extra": [1, 2]})
    assert list(table.columns)[-2:] == ["energy_discharged_kwh", "extra"]
    assert table["status"].tolist() == ["completed", "open"]
    assert table["energy_charged_kwh"].tolist() == pytest.approx([2.0, 0.0])


def test_waiting_sessions_and_table_defaults() -> None:
    b = book([5], [6])
    assert b.status.tolist() == [WAITING]
    t = b.frame()
    assert t.loc[0, "status"] == "waiting" and t.loc[0, "connector_id"] == ""
    assert t.loc[0, "arrival_s"] == 5 * STEP_S and t.loc[0, "departure_s"] == 6 * STEP_S


def test_bad_input_is_refused() -> None:
    with pytest.raises(ScenarioError, match="leave after"):
        book([2], [2])
    with pytest.raises(ScenarioError, match="unknown site"):
        SessionBook(
            ["s0"],
            ["X"],
            np.array([0]),
            np.array([1]),
            {"A": ChargingSite("A", 1, 11e3)},
            soc_arrival=np.array([0.5]),
            n_steps=2,
            step_s=STEP_S,
        )
