"""Charging zones of a Terni scenario: automatic placement, explicit table, the default three.

The placement rule (``usecases/terni/placement.py``) is checked on a hand-made set of
secondary substations (expected picks worked out by hand) and on the real network (spread,
counts, capacity, determinism); the public-network scenario validates and runs its checks.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.scenario import load_scenario, load_scenario_as, run
from v2xcosim.usecases.terni import placement, wiring
from v2xcosim.usecases.terni.network import (
    LvFeederSpec,
    TerniNetwork,
    TerniNetworkSpec,
    build_terni_network,
    simbench_mv_urban,
)
from v2xcosim.usecases.terni.schema import TerniScenario, check

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ROOT / "scenarios" / "terni_public_network.toml"
TERNI_V2G = ROOT / "scenarios" / "terni_v2g.toml"


@pytest.fixture(scope="module")
def public() -> TerniScenario:
    return load_scenario_as(PUBLIC, TerniScenario)


def _sub(
    bus: int, feeder: str, dist: float, load: float = 109.0, pv: float = 107.0
) -> placement.SecondarySubstation:
    return placement.SecondarySubstation(f"B{bus}", bus, feeder, dist, load, pv)


# ------------------------------------------------------------------------- the rule by hand
def test_split_points_by_hand() -> None:
    assert placement.split_points(94, 28) == (4,) * 10 + (3,) * 18  # 10 x 4 + 18 x 3 = 94
    assert placement.split_points(6, 3) == (2, 2, 2)
    assert placement.split_points(7, 3) == (3, 2, 2)
    with pytest.raises(ScenarioError, match="cannot fill 3 charging zones"):
        placement.split_points(2, 3)


def test_placement_rule_on_hand_made_substations(monkeypatch: pytest.MonkeyPatch) -> None:
    # mv1: four candidates (distances 0.1 .. 0.4 km) and one too small for the feeder;
    # mv2: one candidate; mv10 comes after mv2 (numeric order), one candidate
    subs = (
        _sub(1, "mv1", 0.1),
        _sub(2, "mv1", 0.2),
        _sub(3, "mv1", 0.25, load=50.0),  # 50 kW < 6 x 15 kW: cannot hold the feeder
        _sub(4, "mv1", 0.3),
        _sub(5, "mv1", 0.4),
        _sub(6, "mv2", 0.5),
        _sub(7, "mv10", 0.6, pv=10.0),  # 10 kWp < 6 x 15 kWp: cannot either
        _sub(8, "mv10", 0.7),
    )
    monkeypatch.setattr(placement, "secondary_substations", lambda base: subs)
    template = LvFeederSpec("", "", "", n_nodes=6, node_load_kw=15.0, node_pv_kwp=15.0)
    got = placement.place_lv_feeders.__wrapped__(TerniNetworkSpec(), template, (4, 3, 3, 3, 3))
    # round robin mv1, mv2, mv10, mv1, (mv2, mv10 full) mv1 -> mv1 holds 3 of its 4 fitting
    # candidates B1 B2 B4 B5: positions floor((j + 0.5) * 4 / 3) = 0, 2, 3 -> B1, B4, B5
    assert [(f.name, f.site_id, f.mv_bus, f.n_connectors) for f in got] == [
        ("LV01", "cs_zone01", "B1", 4),
        ("LV02", "cs_zone02", "B6", 3),
        ("LV03", "cs_zone03", "B8", 3),
        ("LV04", "cs_zone04", "B4", 3),
        ("LV05", "cs_zone05", "B5", 3),
    ]
    assert all(f.n_nodes == 6 and f.node_pv_kwp == 15.0 for f in got)
    with pytest.raises(ScenarioError, match="only 6 secondary substations can hold"):
        placement.place_lv_feeders.__wrapped__(TerniNetworkSpec(), template, (1,) * 7)


# ------------------------------------------------------------------------- the real network
def test_secondary_substations_are_the_aggregated_lv_grids(public: TerniScenario) -> None:
    subs = placement.secondary_substations(wiring.base_network(public))
    raw = simbench_mv_urban()
    lv = raw.load[raw.load["profile"].astype(str).str.startswith("lv_")]
    assert sorted(s.bus for s in subs) == sorted(set(lv["bus"].astype(int)))  # 133 in SimBench
    assert len(subs) == 133
    assert len({s.mv_feeder for s in subs}) == 10  # MV feeders with LV grids
    assert all(s.distance_km > 0 and s.load_peak_kw > 0 for s in subs)


def test_public_network_placement(public: TerniScenario) -> None:
    feeders = wiring.network_spec(public).lv_feeders
    base = wiring.base_network(public)
    subs = {s.mv_bus: s for s in placement.secondary_substations(base)}
    assert len(feeders) == 28 and sum(f.n_connectors for f in feeders) == 94
    assert sorted(f.n_connectors for f in feeders) == [3] * 18 + [4] * 10
    assert len({f.mv_bus for f in feeders}) == 28  # one feeder per secondary substation
    assert len({f.site_id for f in feeders}) == 28
    per_mv: dict[str, list[float]] = {}
    for f in feeders:
        s = subs[f.mv_bus]
        assert placement.fits(s, 90.0, 90.0)  # 6 nodes x 15 kW, 6 x 15 kWp
        per_mv.setdefault(s.mv_feeder, []).append(s.distance_km)
    # spread over all 10 MV feeders: 28 = 8 x 3 + 2 x 2, each along its feeder
    assert sorted(len(v) for v in per_mv.values()) == [2, 2] + [3] * 8
    for dist in per_mv.values():
        assert dist == sorted(dist) and dist[0] < dist[-1]
    # deterministic: a fresh placement (no cache) is the same
    template = dataclasses.replace(feeders[0], name="", site_id="", mv_bus="", n_connectors=1)
    again = placement.place_lv_feeders.__wrapped__(
        base, template, tuple(f.n_connectors for f in feeders)
    )
    assert again == feeders


def test_public_network_replaces_its_share_of_each_aggregate(public: TerniScenario) -> None:
    ns = wiring.network_spec(public)
    tn = build_terni_network(ns)
    base = build_terni_network(wiring.base_network(public))
    assert len(tn.feeders) == 28 and len(tn.net.trafo) == len(base.net.trafo) + 28

    def agg_kw(t: TerniNetwork, bus_name: str) -> tuple[float, float]:
        net, bus = t.net, t.bus_index(bus_name)
        rows = np.flatnonzero(net.load.loc[t.load_idx, "bus"].to_numpy() == bus)
        pv = net.sgen[(net.sgen["bus"] == bus) & (net.sgen["type"] == "lv_RES")]
        return float(t.load_p_peak_mw[rows].sum()) * 1e3, float(pv["p_mw"].sum()) * 1e3

    for f in ns.lv_feeders:  # by hand: 6 nodes x 15 kW and 6 x 15 kWp move to the feeder
        load0, pv0 = agg_kw(base, f.mv_bus)
        load1, pv1 = agg_kw(tn, f.mv_bus)
        assert load1 == pytest.approx(load0 - 90.0, abs=1e-6)
        assert pv1 == pytest.approx(pv0 - 90.0, abs=1e-6)


# ------------------------------------------------------------------------- default and schema
def test_default_is_the_three_hand_placed_feeders() -> None:
    spec = load_scenario_as(TERNI_V2G, TerniScenario)
    assert spec.terni.placement is None and spec.terni.lv_feeders is None
    want = tuple(
        LvFeederSpec(name, site, bus, n_connectors=8, connector_kw=11.0)
        for name, site, bus in (
            ("LV1", "cs_piazza_tacito", "MV3.101 Bus 13"),
            ("LV2", "cs_corso_vecchio", "MV3.101 Bus 18"),
            ("LV3", "cs_piazza_europa", "MV3.101 Bus 21"),
        )
    )
    assert wiring.network_spec(spec).lv_feeders == want
    assert wiring.site_connectors(spec) == {f.site_id: 8 for f in want}
    assert all(
        (f.n_nodes, f.node_load_kw, f.node_pv_kwp, f.charger_node) == (8, 15, 20, 4) for f in want
    )


def test_explicit_table_equals_the_placement(public: TerniScenario) -> None:
    placed = wiring.network_spec(public).lv_feeders
    rows = ", ".join(
        f'{{name = "{f.name}", site_id = "{f.site_id}", mv_bus = "{f.mv_bus}", '
        f"n_connectors = {f.n_connectors}}}"
        for f in placed
    )
    spec = load_scenario_as(
        TERNI_V2G, TerniScenario, [f"terni.lv_feeders=[{rows}]", "terni.connectors_per_site=3"]
    )
    assert check(spec) == []
    assert wiring.network_spec(spec).lv_feeders == placed


def _problems(overrides: list[str]) -> str:
    with pytest.raises(ScenarioError) as err:
        load_scenario(TERNI_V2G, overrides)
    return str(err.value)


def test_explicit_table_errors_name_the_key() -> None:
    good = '{name = "A", site_id = "cs_a", mv_bus = "MV3.101 Bus 24"}'
    msg = _problems(
        [f'terni.lv_feeders=[{good}, {{name = "B", site_id = "cs_b", mv_bus = "Bus X"}}]']
    )
    assert "terni.lv_feeders[1].mv_bus" in msg and "'Bus X'" in msg and "133 are" in msg
    # two 90 kW / 90 kWp feeders on one 109 kW aggregate
    twice = good.replace('"A"', '"C"').replace('"cs_a"', '"cs_c"')
    msg = _problems([f"terni.lv_feeders=[{good}, {twice}]"])
    assert "terni.lv_feeders[1]" in msg and "feeders [0], [1] on 'MV3.101 Bus 24'" in msg
    msg = _problems([f"terni.lv_feeders=[{good}, {good}]"])
    assert "duplicate name A" in msg
    msg = _problems([f"terni.lv_feeders=[{good}]", "terni.placement={charging_zones = 2}"])
    assert "not both" in msg
    msg = _problems(["terni.placement={charging_zones = 3, charge_points = [4, 3]}"])
    assert "charge_points lists 2 zones" in msg
    msg = _problems(["terni.placement={charging_zones = 3, n_nodes = 2, charger_node = 3}"])
    assert "beyond the feeder's n_nodes 2" in msg
    # 100 zones of 8 x 15 kW: few aggregates hold 120 kW
    msg = _problems(["terni.placement={charging_zones = 100, n_nodes = 8}"])
    assert re.search(r"terni\.placement: 100 charging zones, but only \d secondary", msg)
    msg = _problems(
        [
            "dso.zones.feeder/LV99={reverse_flow_limit_mw = 1.0}",
            "terni.placement={charging_zones = 28}",
        ]
    )
    assert "dso.zones.feeder/LV99: unknown zone; 29 known" in msg


def test_public_scenario_validates(public: TerniScenario) -> None:
    assert check(public) == []
    assert public.time.step_s == 300 and public.time.duration_s == 86400
    assert public.time.start_utc.isoformat() == "2024-05-14T22:00:00+00:00"  # 15 May, CEST


# ------------------------------------------------------------------------- a shortened run
SHORT = [
    "time.start=2024-05-15T11:00:00+02:00",  # the midday reverse-flow hours
    "time.duration_s=7200",
    "time.step_s=900",
    "results.plots=false",
]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["uncontrolled", "smart", "v2g"])
def test_public_network_short_run_passes_its_checks(strategy: str, tmp_path: Path) -> None:
    spec = load_scenario(PUBLIC, [*SHORT, f"control.strategy={strategy}"])
    res = run(spec, tmp_path)
    assert res.exit_code == 0, res.kpis["checks"]
    assert res.kpis["checks_passed"] is True
    flagged = {k for k, c in res.kpis["checks"].items() if c["flagged"]}
    assert flagged >= {"voltage_band", "loading", "convergence"}
    sites = res.kpis["lv_sites"]
    assert len(sites) == 28 and {v["feeder"] for v in sites.values()} == {
        f"LV{k:02d}" for k in range(1, 29)
    }
    sessions = res.kpis["sessions"]
    assert sessions > 0


def test_dso_watches_every_charging_zone(public: TerniScenario) -> None:
    spec = load_scenario_as(PUBLIC, TerniScenario, SHORT)
    setup = wiring.terni_setup(spec)
    zone_of, parent = wiring.dso_zones(setup)
    feeders = {f"feeder/LV{k:02d}" for k in range(1, 29)}
    assert set(parent) == feeders and set(parent.values()) == {wiring.PRIMARY}
    assert set(setup.zones) == feeders | {wiring.PRIMARY}
    assert set(zone_of) <= feeders
    dso = wiring.dso(spec, wiring.zone_series(setup), {}, parent)
    assert len(dso.zones) == 29
    # users per connector as in terni_v2g: one stream per site, Poisson(1.25 x connectors)
    counts = wiring.site_connectors(spec)
    assert set(counts) == set(setup.sites) and sum(counts.values()) == 94


def test_lv_sites_plot_of_28_sites_has_room(tmp_path: Path) -> None:
    import pandas as pd

    from v2xcosim.usecases.terni.plots import make_lv_site_plot

    time = pd.date_range("2024-05-14T22:00:00Z", periods=96, freq="15min")
    names = placement.zone_names(28)
    tables = {
        site: pd.DataFrame(
            {"time": time, "p_lv_trafo_w": np.linspace(-5e4, 5e4, 96) * k, "vm_lv_max_pu": 1.0}
        )
        for k, (_, site) in enumerate(names)
    }
    feeders = {site: name for name, site in names}
    # a legend of 28 entries left tight_layout no room (a UserWarning, an error under pytest)
    path = make_lv_site_plot(tables, feeders, tmp_path / "lv.png", v_max_pu=1.1)
    assert path.stat().st_size > 0
