"""Terni's wiring: the scenario's sections map onto the domain objects, by name where shared."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from v2xcosim.config.actors import DsoZoneSpec, ProviderSpec
from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.market.cycle import MarketTiming
from v2xcosim.scenario import load_scenario_as
from v2xcosim.usecases.terni import wiring
from v2xcosim.usecases.terni.schema import TerniScenario

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "terni_v2g.toml"


@pytest.fixture(scope="module")
def spec() -> TerniScenario:
    return load_scenario_as(SCENARIO, TerniScenario, ["control.strategy=smart"])


def test_market_timing_and_emsp_come_from_market(spec: TerniScenario) -> None:
    m = spec.market
    assert wiring.market_timing(spec) == MarketTiming(
        m.period_s, m.gate_closure_after_s, m.delivery_lead_s
    )
    cfg = wiring.emsp(spec, {}, bidirectional=False).config
    assert cfg.emsp_margin_eur_per_mwh == m.emsp_margin_eur_per_mwh
    assert cfg.emsp_share == m.emsp_share and cfg.tariff_eur_per_kwh == m.tariff_eur_per_kwh
    assert cfg.min_offer_kw == m.min_offer_kw == 10.0  # the shipped scenario's minimum


@pytest.mark.parametrize("bad", ["-1.0", "5000.0"])
def test_min_offer_out_of_range_is_refused_with_its_key(bad: str) -> None:
    with pytest.raises(ScenarioError, match=r"market\.min_offer_kw"):
        load_scenario_as(SCENARIO, TerniScenario, [f"market.min_offer_kw={bad}"])


def test_battery_units_and_renamed_keys(spec: TerniScenario) -> None:
    (bat,) = wiring.batteries(spec, {"feeder/LV1": "primary"})
    p = spec.market.providers[0]
    assert (bat.provider_id, bat.zone) == (p.provider_id, p.zone)
    assert bat.p_max_w == p.p_max_kw * 1e3 and bat.soc == p.soc_initial
    assert bat.price_eur_per_mwh == p.price_eur_per_mwh and bat.eta == p.eta


def test_battery_in_an_unknown_zone_is_refused(spec: TerniScenario) -> None:
    market = spec.market.model_copy(
        update={"providers": [ProviderSpec(provider_id="b", zone="feeder/LV9")]}
    )
    bad = spec.model_copy(update={"market": market})
    with pytest.raises(ScenarioError, match="unknown zone 'feeder/LV9'"):
        wiring.batteries(bad, {"feeder/LV1": "primary"})


def test_dso_zones_limits_and_product(spec: TerniScenario) -> None:
    setup = wiring.terni_setup(spec)
    series = wiring.zone_series(setup)
    _, parent = wiring.dso_zones(setup)
    voltage = {"feeder/LV1": (1.0, {"feeder/LV1": -1e-7, "primary": -1e-9}, -2e-7)}
    dso = wiring.dso(spec, series, voltage, parent)
    assert dso.zones == (wiring.PRIMARY, "feeder/LV1", "feeder/LV2", "feeder/LV3")
    d = spec.dso
    prim = dso.limits(wiring.PRIMARY)
    limit = d.zone("primary").reverse_flow_limit_mw
    want = math.inf if limit is None else limit * 1e6
    assert prim.reverse_flow_limit_w == want and prim.voltage is None
    lv1 = dso.limits("feeder/LV1")
    has_vm = d.feeders.vm_max_pu is not None or d.feeders.vm_min_pu is not None
    assert (lv1.voltage is not None) == has_vm
    if lv1.voltage is not None:
        assert lv1.voltage.flex_pu_per_w == -2e-7 and lv1.voltage.vm_max_pu == d.feeders.vm_max_pu
    assert dso.limits("feeder/LV2").voltage is None  # no model given for LV2
    assert dso.product.activation_price_eur_per_mwh == d.price_cap_eur_per_mwh
    assert dso.cfg.cloud_error_std_oktas_24h == d.cloud_error_std_oktas_24h
    assert dso.cfg.interval_s == 900 and dso.req.margin == d.margin
    prim_s = series[0]
    # the primary's series: clear sky bounds the PV; the similar-day load is last week's
    assert np.all(prim_s.pv_clearsky_w >= prim_s.pv_w - 1e-6)
    assert not np.allclose(prim_s.load_reference_w, prim_s.load_w)
    assert prim_s.gen_w.max() > 0  # the MV hydro plant


def test_unknown_dso_zone_is_refused(spec: TerniScenario) -> None:
    from v2xcosim.usecases.terni.schema import check

    dso = spec.dso.model_copy(update={"zones": {"feeder/LV9": DsoZoneSpec()}})
    probs = check(spec.model_copy(update={"dso": dso}))
    assert [p for p, _ in probs] == ["dso.zones.feeder/LV9"]


def test_population(spec: TerniScenario) -> None:
    pop = wiring.population_spec(spec)
    u = spec.users
    assert pop.soc_departure_range == (u.soc_departure_min, u.soc_departure_max)
    assert pop.sessions_per_connector_per_day == u.sessions_per_connector_per_day
    assert pop.p_max_w == spec.terni.connector_kw * 1000.0


def test_sessions_and_evs_of_the_setup(spec: TerniScenario) -> None:
    setup = wiring.terni_setup(spec)
    book = wiring.session_book(spec, setup)
    assert len(book) == len(setup.users) > 0
    assert (book.slot == setup.slot).all()
    for site in setup.sites:
        assert (book.site_rows(site) == setup.site_rows(site)).all()
    ev = wiring.ev_template(spec, setup, bidirectional=False)
    assert not ev.connected.any() and not ev.p_max_discharge_w.any()
    v2g = wiring.ev_template(spec, setup, bidirectional=True)
    # only cars that can discharge on AC may discharge, at their own AC limit
    cap = setup.users.v2g_capable
    assert cap.any() and (~cap).any()
    assert (v2g.p_max_discharge_w == np.where(cap, v2g.p_max_charge_w, 0.0)).all()
    assert (v2g.p_max_charge_w == np.minimum(setup.users.p_max_w, 11e3)).all()
    assert np.all(ev.soc_target <= spec.control.soc_max)
    zone_of, parent = wiring.dso_zones(setup)
    assert set(parent.values()) == {wiring.PRIMARY} and set(zone_of) <= set(parent)


def test_early_departures_are_known_to_the_book_only() -> None:
    spec = load_scenario_as(
        SCENARIO,
        TerniScenario,
        [
            "users.early_departure_share=1.0",
            "users.early_departure_min_fraction=0.5",
            "users.early_departure_max_fraction=0.5",
        ],
    )
    setup = wiring.terni_setup(spec)
    u, dt_s = setup.users, setup.step_s
    early = setup.leave_k < setup.dep_k
    assert early.mean() > 0.9  # every user leaves at half the stay (unless rounding merges)
    half_k = np.rint((u.arrival_s + 0.5 * (u.departure_s - u.arrival_s)) / dt_s)
    assert (setup.leave_k == np.clip(half_k, setup.arr_k + 1, setup.dep_k)).all()
    # the book meters the real stay; the EMSP's and the strategy's EVs carry the declared one
    assert (wiring.session_book(spec, setup).departure_k == setup.leave_k).all()
    ev = wiring.ev_template(spec, setup, bidirectional=True)
    assert (ev.departure_s == setup.dep_k * dt_s).all()


def test_users_fleet_replaces_the_default_cars() -> None:
    fleet = (
        'users.fleet=[{name = "A", capacity_kwh = 40.0, p_ac_max_kw = 7.4, share = 0.5}, '
        '{name = "B", capacity_kwh = 60.0, p_ac_max_kw = 22.0, v2g_ac = true, share = 0.5}]'
    )
    spec = load_scenario_as(SCENARIO, TerniScenario, [fleet])
    pop = wiring.population_spec(spec)
    assert [(v.name, v.p_ac_max_w, v.v2g_ac) for v in pop.vehicles] == [
        ("A", 7400.0, False),
        ("B", 22000.0, True),
    ]
    u = wiring.terni_setup(spec).users
    a = np.array([m == "A" for m in u.vehicle_model])
    assert a.any() and (~a).any()
    # the car's limit, then the 11 kW connector; only B may discharge
    assert (u.p_max_w == np.where(a, 7400.0, 11000.0)).all()
    assert (u.v2g_capable == ~a).all() and (u.capacity_kwh == np.where(a, 40.0, 60.0)).all()
    with pytest.raises(ScenarioError, match="fleet"):
        load_scenario_as(SCENARIO, TerniScenario, [fleet.replace("share = 0.5}]", "share = 0.4}]")])


def test_input_settings_and_the_dso_zones(spec: TerniScenario) -> None:
    t = spec.terni
    s = wiring.input_settings(spec)
    assert (s.step_s, s.n_steps, s.seed) == (spec.time.step_s, spec.time.n_steps, spec.seed)
    assert s.clouds.zone_correlation == t.cloud_zone_correlation
    assert (s.clouds.mean_oktas, s.clouds.std_oktas) == (t.cloud_mean_oktas, t.cloud_std_oktas)
    assert s.performance_ratio == t.pv_performance_ratio
    setup = wiring.terni_setup(spec)
    series = wiring.zone_series(setup)
    assert series[0].zone == wiring.PRIMARY
    assert {z.zone for z in series} == set(setup.zones)
