"""Terni's wiring: the scenario's sections map onto the domain objects, by name where shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from v2xcosim.config.actors import ProviderSpec
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


def test_dso_and_population(spec: TerniScenario) -> None:
    dso = wiring.dso(spec, 1e6, 2e6, 0.0)
    (zone,) = dso.zones
    assert (
        zone.zone == wiring.PRIMARY and zone.price_cap_eur_per_mwh == spec.dso.price_cap_eur_per_mwh
    )
    assert dso.cfg.load_error_std == spec.dso.load_error_std and dso.cfg.interval_s == 900
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
    assert (v2g.p_max_discharge_w == v2g.p_max_charge_w).all()
    assert np.all(ev.soc_target <= spec.control.soc_max)
    zone_of, parent = wiring.dso_zones(setup)
    assert set(parent.values()) == {wiring.PRIMARY} and set(zone_of) <= set(parent)


def test_input_settings_and_the_dso_view_of_the_primary_zone(spec: TerniScenario) -> None:
    t = spec.terni
    s = wiring.input_settings(spec)
    assert (s.step_s, s.n_steps, s.seed) == (spec.time.step_s, spec.time.n_steps, spec.seed)
    assert s.clouds.zone_correlation == t.cloud_zone_correlation
    assert (s.clouds.mean_oktas, s.clouds.std_oktas) == (t.cloud_mean_oktas, t.cloud_std_oktas)
    assert s.performance_ratio == t.pv_performance_ratio
    setup = wiring.terni_setup(spec)
    load_w, pv_w, gen_w, load_pu, pv_pu = wiring.dso_primary(setup)
    zone = setup.zones[wiring.PRIMARY]
    per = zone.interval_s // setup.step_s
    assert load_pu.shape == pv_pu.shape == (setup.n_steps,)
    assert gen_w == pytest.approx(float(np.mean(zone.gen_w)))
    net = load_w * load_pu[::per] - pv_w * pv_pu[::per] - gen_w
    np.testing.assert_allclose(net, zone.p_net_w, atol=1e-3)
