import socket
from collections.abc import Iterator
from typing import NoReturn

import pytest

from v2xcosim.usecases.terni import network as terni


@pytest.fixture(scope="module")
def tn() -> Iterator[terni.TerniNetwork]:
    def refuse(*a: object, **k: object) -> NoReturn:
        raise AssertionError("network access attempted")

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr(socket, "create_connection", refuse)
    try:
        yield terni.build_terni_network()
    finally:
        mp.undo()


def test_structure(tn: terni.TerniNetwork) -> None:
    net = tn.net
    assert (net.bus.loc[net.bus.vn_kv > 1, "vn_kv"].isin([20.0, 132.0])).all()
    t = net.trafo.loc[tn.hvmv_trafo]
    assert t.sn_mva == 25.0 and t.tap_max == 9 and t.tap_changer_type == "Ratio"
    assert net.trafo.in_service.sum() == 1 + len(tn.feeders)
    # the annual coincident peak of the background load is peak_load_mw (the detailed LV
    # feeders' houses replace the aggregated loads by peak: within 2 %)
    annual = terni.annual_load_mw(tn.net, tn.load_idx)
    assert annual.max() == pytest.approx(20.0, rel=0.02)
    assert 0.5 <= annual.mean() / annual.max() <= 0.65  # load factor of an urban primary
    # each element's own peak: nominal × its profile's largest value; their sum exceeds the
    # coincident peak (diversity)
    assert tn.load_p_peak_mw.sum() > annual.max()
    assert set(tn.charger_buses) == {"cs_piazza_tacito", "cs_corso_vecchio", "cs_piazza_europa"}


def test_sunny_low_load_reverse_flow_and_lv_voltage_rise(tn: terni.TerniNetwork) -> None:
    terni.set_operating_point(tn, load_pu=0.35, pv_pu=0.8)
    r = terni.run_power_flow(tn)
    assert r.p_primary_w < -1e6  # reverse flow into HV
    for name in tn.feeders:
        assert r.vm_lv_end_pu[name] > r.vm_lv_busbar_pu[name] + 0.005
        assert r.vm_lv_end_pu[name] > 1.0
    terni.set_operating_point(tn, load_pu=1.0, pv_pu=0.0)
    peak = terni.run_power_flow(tn)
    assert peak.p_primary_w > 10e6
    assert all(peak.vm_lv_end_pu[n] < peak.vm_lv_busbar_pu[n] for n in tn.feeders)


def test_oltc_and_ev_load(tn: terni.TerniNetwork) -> None:
    terni.set_operating_point(tn, load_pu=1.0, pv_pu=0.0)
    terni.add_oltc_control(tn, 0.99, 1.01)
    r = terni.run_power_flow(tn, control=True)
    assert r.tap_pos != 0 and 0.985 <= r.vm_mv_busbar_pu <= 1.015
    tn.net.controller.drop(tn.net.controller.index, inplace=True)
    tn.net.trafo.loc[tn.hvmv_trafo, "tap_pos"] = 0
    terni.set_operating_point(tn, 0.35, 0.8, {"cs_piazza_tacito": 44_000.0})
    with_ev = terni.run_power_flow(tn)
    terni.set_operating_point(tn, 0.35, 0.8, {"cs_piazza_tacito": 0.0})
    without = terni.run_power_flow(tn)
    assert with_ev.vm_charger_pu["cs_piazza_tacito"] < without.vm_charger_pu["cs_piazza_tacito"]


def test_lv_transformer_power_sign_and_feeder_voltages(tn: terni.TerniNetwork) -> None:
    tn.net.controller.drop(tn.net.controller.index, inplace=True)
    tn.net.trafo.loc[tn.hvmv_trafo, "tap_pos"] = 0
    sites = set(tn.charger_buses)
    terni.set_operating_point(tn, 0.35, 0.8, {s: 0.0 for s in sites})
    sunny = terni.run_power_flow(tn)
    assert set(sunny.p_lv_trafo_w) == sites
    # 8 x (20 kWp x 0.8 - 15 kW x 0.35) ≈ -86 kW: reverse flow from LV into MV (negative)
    assert all(-100e3 < p < -70e3 for p in sunny.p_lv_trafo_w.values())
    for s in sites:
        lo, hi = sunny.vm_lv_min_pu[s], sunny.vm_lv_max_pu[s]
        assert lo <= sunny.vm_charger_pu[s] <= hi
    terni.set_operating_point(tn, 0.35, 0.8, {"cs_piazza_tacito": 44_000.0})
    ev = terni.run_power_flow(tn)
    d = ev.p_lv_trafo_w["cs_piazza_tacito"] - sunny.p_lv_trafo_w["cs_piazza_tacito"]
    # + = import: the 44 kW EV load less the loss it saves on the exporting feeder (≈ 1 kW)
    assert 42e3 < d < 44e3
    assert ev.vm_lv_max_pu["cs_piazza_tacito"] < sunny.vm_lv_max_pu["cs_piazza_tacito"]
    terni.set_operating_point(tn, 1.0, 0.0, {s: 0.0 for s in sites})
    peak = terni.run_power_flow(tn)
    assert all(p > 100e3 for p in peak.p_lv_trafo_w.values())  # 8 x 15 kW import


def test_zone_voltage_models_predict_other_power_flows(tn: terni.TerniNetwork) -> None:
    """The DSO's linear feeder-voltage model against pandapower at other operating points.

    Less PV (what the DSO's forecast mostly varies: 5 % of the peak moves the primary's power
    by ≈ 1 MW and the feeder's by 8 kW; PV injects no Q, as the model's perturbations) and,
    apart, 20 kW more EV load at LV1's charger: flows not used to build the model.
    """
    models = terni.zone_voltage_models(
        tn, lambda: terni.set_operating_point(tn, 0.35, 0.8, background=True)
    )
    lv1 = next(f for f in tn.feeders.values() if f.name == "LV1")
    vm0, sens, s_flex = models["feeder/LV1"]
    assert sens["feeder/LV1"] < 0 and s_flex < 0  # the primary's sign may go either way
    zero = {s: 0.0 for s in tn.ev_load_idx}
    terni.set_operating_point(tn, 0.35, 0.8, zero)
    base = terni.run_power_flow(tn)
    terni.set_operating_point(tn, 0.35, 0.75, zero)
    r = terni.run_power_flow(tn)
    terni.set_operating_point(tn, 0.35, 0.8, zero | {lv1.site_id: 20e3})
    ev = terni.run_power_flow(tn)
    terni.set_operating_point(tn, 0.35, 0.8, zero)
    site = lv1.site_id
    predicted = vm0 + sens["feeder/LV1"] * r.p_lv_trafo_w[site] + sens["primary"] * r.p_primary_w
    change = r.vm_lv_max_pu[site] - base.vm_lv_max_pu[site]
    assert abs(change) > 1e-3  # the new point moves the voltage measurably
    assert predicted == pytest.approx(r.vm_lv_max_pu[site], abs=0.1 * abs(change))
    change_ev = ev.vm_lv_max_pu[site] - base.vm_lv_max_pu[site]
    assert base.vm_lv_max_pu[site] + s_flex * 20e3 == pytest.approx(
        ev.vm_lv_max_pu[site], abs=0.1 * abs(change_ev)
    )
