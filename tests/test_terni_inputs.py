"""Terni's per-element inputs against SimBench's own tables, hand calculations and physics."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from v2xcosim.core.jsondata import from_json, to_json
from v2xcosim.scenario import load_scenario_as
from v2xcosim.usecases.terni import network as terni
from v2xcosim.usecases.terni import wiring
from v2xcosim.usecases.terni.inputs import (
    ElementInputs,
    InputSettings,
    element_inputs,
    past_loads,
    primary_net_mw,
    zone_series,
    zones_as_pu,
)
from v2xcosim.usecases.terni.profiles import (
    PV_ORIENTATIONS,
    CloudSpec,
    band_prices_for,
    effective_oktas,
    f_band,
    kasten_czeplak_factor,
    price_eur_per_mwh,
    pv_orientation_pu,
    simbench_rows,
    zone_cloud_oktas,
)
from v2xcosim.usecases.terni.schema import TerniScenario

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "terni_v2g.toml"
START = dt.datetime(2024, 5, 14, 22, 0, tzinfo=dt.UTC)  # 15 May 2024 00:00 CEST


@pytest.fixture(scope="module")
def tn() -> terni.TerniNetwork:
    return terni.build_terni_network()


def settings(start: dt.datetime = START, **kw: object) -> InputSettings:
    base = InputSettings(start, 900, 96, 20240515, CloudSpec(1.0, 1.0, 3.0, 0.8))
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def inputs(tn: terni.TerniNetwork) -> ElementInputs:
    return element_inputs(tn, settings())


def test_simbench_row_of_a_date_by_hand() -> None:
    # Wed 15 May 2024 00:00 local: 15 May 2016 was a Sunday; the nearest Wednesday within
    # ±3 days is 18 May 2016, day index 31+29+31+30+17 = 138 of 2016
    t = pd.DatetimeIndex([START, START + dt.timedelta(hours=13, minutes=15)])
    assert simbench_rows(t).tolist() == [138 * 96, 138 * 96 + 13 * 4 + 1]
    assert dt.date(2016, 5, 18).weekday() == dt.date(2024, 5, 15).weekday()


def test_loads_and_hydro_equal_simbench_absolute_values(
    tn: terni.TerniNetwork, inputs: ElementInputs
) -> None:
    import simbench

    raw = terni.simbench_mv_urban()
    absolute = simbench.get_absolute_values(raw, profiles_instead_of_study_cases=True)
    times = pd.date_range(START, periods=96, freq="900s")
    rows = simbench_rows(times)
    col = {int(i): j for j, i in enumerate(tn.load_idx)}
    # a residential, a commercial and two more SimBench loads (by their own profile)
    for name in ("lv_urban6", "G0-A", "G3-H", "lv_semiurb5"):
        i = int(raw.load.index[raw.load["profile"] == name][0])
        j = col[i]
        scale = tn.load_p_nom_mw[j] / raw.load.at[i, "p_mw"]
        p_ref = absolute[("load", "p_mw")][i].to_numpy()[rows] * scale
        q_ref = absolute[("load", "q_mvar")][i].to_numpy()[rows] * scale
        np.testing.assert_allclose(inputs.load_p_mw[:, j], p_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(inputs.load_q_mvar[:, j], q_ref, rtol=1e-12, atol=1e-12)
    hydro = int(raw.sgen.index[raw.sgen["profile"] == "Hydro3"][0])
    j = int(np.flatnonzero(tn.net.sgen.index == hydro)[0])
    h_ref = absolute[("sgen", "p_mw")][hydro].to_numpy()[rows]  # hydro is not re-scaled
    np.testing.assert_allclose(inputs.sgen_p_mw[:, j], h_ref, rtol=1e-12)
    assert not inputs.sgen_is_pv[j]


def test_lv_buildings_use_simbench_urban_and_commercial_profiles(tn: terni.TerniNetwork) -> None:
    net = tn.net
    rows = net.load.index[net.load["name"].astype(str).str.match(r"LV\d load \d")]
    assert len(rows) == 3 * 8
    assert set(net.load.loc[rows, "profile"]) == set(terni.NODE_PROFILES)
    col = {int(i): j for j, i in enumerate(tn.load_idx)}
    # each house's annual peak is node_load_kw = 15 kW
    for i in rows:
        assert tn.load_p_peak_mw[col[int(i)]] == pytest.approx(0.015)


def test_pv_orientation_split_sums_to_the_total(inputs: ElementInputs) -> None:
    total = inputs.sgen_p_mw[:, inputs.sgen_is_pv].sum(axis=1)
    split = np.sum(list(inputs.pv_orientation_mw.values()), axis=0)
    np.testing.assert_allclose(split, total, rtol=1e-12, atol=1e-12)
    assert sum(o.share for o in PV_ORIENTATIONS) == pytest.approx(1.0)
    # east-facing roofs peak before west-facing ones (solar time at 12.65° E ≈ UTC + 50 min)
    t = pd.date_range(START, periods=96 * 4, freq="225s")
    pu = pv_orientation_pu(t)
    peak_at = {o: int(np.argmax(pu[o])) for o in ("E", "S", "W")}
    assert peak_at["E"] < peak_at["S"] < peak_at["W"]
    # clear sky at noon: the south roof at 30° gets more than the flat ones per kWp
    noon = int(np.argmax(pu["S"]))
    assert pu["S"][noon] / 0.30 > pu["flat"][noon] / 0.20


def test_zone_clouds_differ_but_correlate_as_stated() -> None:
    t = pd.date_range(START, periods=96 * 60, freq="900s")
    spec = CloudSpec(4.0, 0.5, 3.0, 0.8)  # mean 4 ± 0.5 oktas: clipping is negligible
    paths = zone_cloud_oktas(t, spec, 7, ["mv1", "mv2", "mv3"])
    assert not np.array_equal(paths["mv1"], paths["mv2"])
    for a, b in (("mv1", "mv2"), ("mv1", "mv3"), ("mv2", "mv3")):
        r = np.corrcoef(paths[a], paths[b])[0, 1]
        assert r == pytest.approx(0.8, abs=0.08)
    for p in paths.values():  # each zone keeps CloudSpec's marginal mean and spread
        assert p.mean() == pytest.approx(4.0, abs=0.25)
        assert p.std() == pytest.approx(0.5, abs=0.12)
    one = zone_cloud_oktas(t, dataclasses.replace(spec, zone_correlation=1.0), 7, ["a", "b"])
    np.testing.assert_array_equal(one["a"], one["b"])
    apart = zone_cloud_oktas(t, dataclasses.replace(spec, zone_correlation=0.0), 7, ["a", "b"])
    assert abs(np.corrcoef(apart["a"], apart["b"])[0, 1]) < 0.25


def test_effective_oktas_inverts_kasten_czeplak() -> None:
    n = np.linspace(0.0, 8.0, 33)
    np.testing.assert_allclose(effective_oktas(kasten_czeplak_factor(n)), n, atol=1e-9)
    # 4 oktas by hand: 1 − 0.75 · 0.5^3.4 = 0.9290
    assert kasten_czeplak_factor(np.array([4.0]))[0] == pytest.approx(0.9290, abs=1e-4)
    assert effective_oktas(np.array([1.0, 1.2]))[0] == 0.0  # no sun lost: clear sky


def test_cable_capacitance_by_hand(tn: terni.TerniNetwork) -> None:
    # 300 mm²: d = 20.4 mm + 2 × 0.5 mm screen = 21.4 mm, D = 21.4 + 2 × 5.5 = 32.4 mm
    # C = 2π · 8.854e-12 F/m · 2.5 / ln(32.4/21.4) = 335.3 pF/m = 335.3 nF/km
    assert terni.xlpe_capacitance_nf_per_km("300") == pytest.approx(335.3, abs=0.1)
    # the same geometry reproduces pandapower's 12/20 kV data (95–240 mm²) within 3 %
    for section, pp_nf in (("95", 216.0), ("150", 250.0), ("185", 273.0), ("240", 304.0)):
        assert terni.xlpe_capacitance_nf_per_km(section) == pytest.approx(pp_nf, rel=0.03)
    # ... and with 3.4 mm of insulation SimBench's 6/10 kV values of 300/400 mm² within 6 %
    assert terni.xlpe_capacitance_nf_per_km("300", 3.4) == pytest.approx(480.0, rel=0.06)
    assert terni.xlpe_capacitance_nf_per_km("400", 3.4) == pytest.approx(540.0, rel=0.06)
    line = tn.net.line
    for section in ("300", "400"):
        rows = line.index[line["std_type"].astype(str).str.contains(f"1x{section} ")]
        assert len(rows) > 0
        c = line.loc[rows, "c_nf_per_km"].to_numpy(dtype=float)
        np.testing.assert_allclose(c, terni.xlpe_capacitance_nf_per_km(section))
        assert c.max() < 0.75 * {"300": 480.0, "400": 540.0}[section]  # no 10 kV value left
    assert not line["std_type"].astype(str).str.contains("6/10 kV").any()


def test_price_month_table() -> None:
    april = band_prices_for(2024, 4)
    assert april.prices == (85.6, 101.3, 80.5) and not april.assumption
    may = band_prices_for(2024, 5)
    # derived: April's bands × 94.9 / 86.80 (April's band-hour-weighted mean)
    assert may.assumption and "94.9" in may.source
    assert may.prices == pytest.approx((93.6, 110.8, 88.0), abs=0.05)
    hours = pd.date_range("2024-05-01", "2024-06-01", freq="h", inclusive="left", tz="Europe/Rome")
    utc = pd.DatetimeIndex(hours.tz_convert("UTC"))
    assert price_eur_per_mwh(utc).mean() == pytest.approx(94.9, abs=1.0)
    t = pd.DatetimeIndex([pd.Timestamp("2024-05-15 10:00", tz="Europe/Rome").tz_convert("UTC")])
    assert f_band(t)[0] == 1 and price_eur_per_mwh(t)[0] == may.prices[0]
    assert "2024 values used for 2023" in band_prices_for(2023, 5).source
    april_t = pd.DatetimeIndex([pd.Timestamp("2024-04-17 10:00", tz="UTC")])
    assert price_eur_per_mwh(april_t)[0] == 85.6


def test_zone_series(tn: terni.TerniNetwork, inputs: ElementInputs) -> None:
    zones = zone_series(tn, inputs)
    assert set(zones) == {"primary", "feeder/LV1", "feeder/LV2", "feeder/LV3"}
    prim = zones["primary"]
    assert prim.interval_s == 900 and prim.n == 96
    np.testing.assert_allclose(prim.load_w, inputs.load_p_mw.sum(axis=1) * 1e6)
    np.testing.assert_allclose(prim.p_net_w, primary_net_mw(inputs) * 1e6, atol=1e-6)
    assert np.all(prim.pv_w <= prim.pv_clearsky_w + 1e-6)
    assert prim.gen_w.max() > 0  # the hydro plant
    # the similar-day reference: the same elements on the same weekday, mean of four weeks
    weeks = [element_inputs(tn, settings(START - dt.timedelta(days=7 * w))) for w in range(1, 5)]
    mean = np.mean([w.load_p_mw.sum(axis=1) for w in weeks], axis=0) * 1e6
    np.testing.assert_allclose(prim.load_reference_w, mean)
    for name, f in tn.feeders.items():
        z = zones[f"feeder/{name}"]
        assert z.gen_w.max() == 0.0
        assert z.pv_clearsky_w.max() < 8 * 0.020 * 1e6  # at most its 8 × 20 kWp
        assert z.load_w.max() <= 8 * 15e3 + 1e-6  # at most its 8 × 15 kW houses
        # a feeder lies in one MV feeder: its cloud cover is that cloud zone's path
        pv_rows = [
            j
            for j, b in enumerate(tn.net.sgen["bus"])
            if int(b) in {tn.bus_index(x) for x in f.lv_buses}
        ]
        (cz,) = {inputs.sgen_zone[j] for j in pv_rows}
        np.testing.assert_allclose(z.cloud_oktas, inputs.zone_oktas[cz])
    # the DSO's pu view recombines to the primary zone's net power, interval by interval
    load_w, pv_w, gen_w, load_pu, pv_pu = zones_as_pu(zones, "primary", 900)
    np.testing.assert_allclose(load_w * load_pu - pv_w * pv_pu - gen_w, prim.p_net_w, atol=1e-3)


def test_metered_past_is_the_previous_days_computed_as_a_run(
    tn: terni.TerniNetwork, inputs: ElementInputs
) -> None:
    """The DSO's metered past before 15 May: what a run of 13–14 May computes as its loads."""
    past = past_loads(tn, settings(), 30.0)  # 30 h = 120 intervals, before the start
    zones = zone_series(tn, inputs, past)
    earlier = element_inputs(tn, settings(START - dt.timedelta(hours=30), n_steps=120))
    by_run = zone_series(tn, earlier)
    for name, z in zones.items():
        np.testing.assert_allclose(z.load_past_w, by_run[name].load_w)
        np.testing.assert_allclose(z.load_reference_past_w, by_run[name].load_reference_w)
        np.testing.assert_array_equal(z.load_w, zone_series(tn, inputs)[name].load_w)
    assert zone_series(tn, inputs)["primary"].load_past_w.shape == (0,)  # no past given
    assert past_loads(tn, settings(), 0.0).load_p_mw.shape == (0, len(tn.load_idx))


def test_inputs_are_deterministic_and_travel_as_json(tn: terni.TerniNetwork) -> None:
    a = element_inputs(tn, settings())
    b = element_inputs(tn, settings())
    for f in ("load_p_mw", "load_q_mvar", "sgen_p_mw"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    other = element_inputs(tn, settings(seed=1))
    assert not np.array_equal(a.sgen_p_mw, other.sgen_p_mw)
    np.testing.assert_array_equal(a.load_p_mw, other.load_p_mw)  # loads do not draw
    spec = load_scenario_as(SCENARIO, TerniScenario, ["control.strategy=uncontrolled"])
    setup = wiring.terni_setup(spec)
    back = from_json(wiring.TerniSetup, to_json(setup))
    for name, z in setup.zones.items():
        for f in ("load_w", "load_reference_w", "pv_w", "pv_clearsky_w", "cloud_oktas", "gen_w"):
            np.testing.assert_array_equal(getattr(back.zones[name], f), getattr(z, f))
        assert z.load_past_w.shape == (96,)  # the default 24 h level window
        for f in ("load_past_w", "load_reference_past_w"):
            np.testing.assert_array_equal(getattr(back.zones[name], f), getattr(z, f))


def test_default_day_reverse_flow_only_with_sun(tn: terni.TerniNetwork) -> None:
    """Background alone (no EV): import at every sunless step, reverse flow around noon."""
    spec = load_scenario_as(SCENARIO, TerniScenario, ["control.strategy=uncontrolled"])
    inp = element_inputs(tn, wiring.input_settings(spec))
    pv = inp.sgen_p_mw[:, inp.sgen_is_pv].sum(axis=1)
    p = np.empty(inp.n_steps)
    for k in range(inp.n_steps):
        terni.set_element_inputs(tn, inp.load_p_mw[k], inp.load_q_mvar[k], inp.sgen_p_mw[k])
        p[k] = terni.run_power_flow(tn).p_primary_w
    dark = pv == 0.0
    assert dark.sum() > 30 and p[dark].min() > 1e6
    assert p.min() < -1e6
    per_h = 3600 // spec.time.step_s
    noon = slice(10 * per_h, 15 * per_h)  # 10:00–15:00 local
    assert p[noon].min() < -1e6
    assert math.isclose(p.min(), p[noon].min())
