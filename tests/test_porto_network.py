"""Porto airport network: convergence, energy balance, hand calculations, input checks."""

from __future__ import annotations

import dataclasses
import math

import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.usecases.porto.network import (
    CARPARK_DESIGN_SHARE,
    LV_KV,
    PortoNetwork,
    PortoNetworkSpec,
    build_porto_network,
    charger_power_p_max_w,
    charger_power_share,
    n_minus_1_loading,
    open_point_segment,
    ring_design_loads_mva,
    ring_head_limit_w,
    ring_n_minus_1,
    run_power_flow,
    set_operating_point,
)

PEAK_W = 12.3e6


def _full_chargers(pn: PortoNetwork, sign: float = 1.0) -> dict[str, float]:
    return {g.name: sign * g.p_max_w for g in pn.spec.charger_groups}


@pytest.fixture
def pn() -> PortoNetwork:
    return build_porto_network()


def test_peak_converges_within_limits(pn: PortoNetwork) -> None:
    set_operating_point(pn, p_terminal_w=PEAK_W, p_group_w=_full_chargers(pn))
    res = run_power_flow(pn)
    assert res.converged
    # EN 50160: LV within ±10 %; nothing overloaded at the design peak
    assert 0.9 < res.vm_min_pu <= res.vm_max_pu <= 1.1
    assert res.carpark_trafo_loading < 1.0
    assert res.terminal_trafo_loading_max < 0.5  # two transformers share each substation
    assert float(pn.net.res_line.loading_percent.max()) < 100.0
    # V2B: full discharge lowers the import by the chargers' rating plus the saved losses
    set_operating_point(pn, p_terminal_w=PEAK_W, p_group_w=_full_chargers(pn, -1.0))
    v2b = run_power_flow(pn)
    assert res.p_import_w - v2b.p_import_w > 2 * charger_power_p_max_w(pn.spec)


def test_n_minus_1_holds_in_the_power_flow(pn: PortoNetwork) -> None:
    """One transformer of each terminal pair out: the other carries the peak (< 100 %)."""
    assert n_minus_1_loading(pn.spec) == pytest.approx(12.3 / 0.95 / 6 / 2.5)
    pn.net.trafo.loc[list(pn.terminal_trafo_idx[::2]), "in_service"] = False
    set_operating_point(pn, p_terminal_w=PEAK_W)
    res = run_power_flow(pn)
    assert res.converged
    assert res.terminal_trafo_loading_max < 1.0
    # current = S / (√3 U): the sizing ratio divided by the LV busbar voltage (pandapower's)
    lv = pn.net.trafo.lv_bus.loc[list(pn.terminal_trafo_idx[1::2])]
    vm_lv = pn.net.res_bus.vm_pu.loc[lv].to_numpy()
    loading = pn.net.res_trafo.loading_percent.loc[list(pn.terminal_trafo_idx[1::2])] / 100
    assert loading.to_numpy() == pytest.approx(n_minus_1_loading(pn.spec) / vm_lv, rel=2e-3)


def test_charger_share_is_not_negligible() -> None:
    spec = PortoNetworkSpec()
    assert charger_power_p_max_w(spec) == pytest.approx(200 * 11e3)
    assert charger_power_share(spec) == pytest.approx(2.2 / 12.3)


def test_energy_balance_at_the_connection() -> None:
    pn = build_porto_network(PortoNetworkSpec(pv_kwp=2000.0))
    groups = dict(
        zip(pn.groups, [150e3, -220e3, 0.0, 220e3, 80e3, -10e3, 0.0, 1e3, 5e3, 9e3], strict=True)
    )
    set_operating_point(
        pn,
        p_terminal_w=9.1e6,
        q_terminal_var=1.0e6,
        p_group_w=groups,
        q_group_var={"G03": 20e3},
        p_pv_w=-1.5e6,
    )
    res = run_power_flow(pn)
    net = pn.net
    p_loads_w = 9.1e6 + sum(groups.values())
    assert float(net.load.p_mw.sum()) * 1e6 == pytest.approx(p_loads_w)
    assert float(net.sgen.p_mw.sum()) * 1e6 == pytest.approx(1.5e6)
    # import = loads - PV + line and transformer losses (incl. no-load losses)
    assert res.p_import_w == pytest.approx(p_loads_w - 1.5e6 + res.p_losses_w, rel=1e-6)
    # the losses are physical: no-load losses of 13 transformers at least, below 3 % of load
    assert 13 * 1.75e3 < res.p_losses_w < 0.03 * p_loads_w


def _hand_carpark(pn: PortoNetwork) -> tuple[float, dict[str, float], float]:
    """Car-park transformer loading, far-end voltages and LV busbar voltage at full power.

    Textbook approximations, all chargers at unity power factor, the MV bus at 1.0 pu (the
    terminal draws nothing; the 400 m of MV cable drop < 0.02 %):
    feeder drop  ΔU = P·R/U + (P·X/U)²/(2U)  (sending minus receiving end, receiving-end
    current in phase), losses P²R/U², reactive absorbed P²X/U²; transformer drop in pu
    ΔU = s·(u_r cos φ + u_x sin φ) + s²(u_x cos φ − u_r sin φ)²/2 (Kapp), s = S/S_n;
    loading = S/S_n/U_lv (current over rated current).  Iterated to a fixed point.
    """
    import pandapower as pp

    u_n = LV_KV * 1e3
    t = pn.spec.carpark_trafo
    u_r, u_k = t.vkr_percent / 100, t.vk_percent / 100
    u_x = math.sqrt(u_k**2 - u_r**2)
    u_lv = u_n
    u_end: dict[str, float] = {}
    for _ in range(20):
        p_sum = q_sum = 0.0
        for g in pn.spec.charger_groups:
            typ = pp.load_std_type(pn.net, g.cable_std_type, "line")
            r = typ["r_ohm_per_km"] * g.cable_m / 1e3 / g.parallel_cables
            x = typ["x_ohm_per_km"] * g.cable_m / 1e3 / g.parallel_cables
            p = g.p_max_w
            ue = u_end.get(g.name, u_lv)
            drop = p * r / ue + (p * x / ue) ** 2 / (2 * ue)
            u_end[g.name] = u_lv - drop
            p_sum += p + p**2 * r / u_end[g.name] ** 2
            q_sum += p**2 * x / u_end[g.name] ** 2
        s = math.hypot(p_sum, q_sum)
        cos, sin = p_sum / s, q_sum / s
        s_pu = s / (t.sn_mva * 1e6)
        du = s_pu * (u_r * cos + u_x * sin) + (s_pu * (u_x * cos - u_r * sin)) ** 2 / 2
        u_lv = u_n * (1.0 - du)
    loading = s_pu / (u_lv / u_n)
    return loading, {g: u / u_n for g, u in u_end.items()}, u_lv / u_n


def test_carpark_transformer_and_feeders_against_hand_calculation(pn: PortoNetwork) -> None:
    set_operating_point(pn, p_terminal_w=0.0, p_group_w=_full_chargers(pn))
    res = run_power_flow(pn)
    loading, vm_end, vm_lv = _hand_carpark(pn)
    # the hand calculation leaves out the transformer's magnetising branch and cable capacitance
    assert res.carpark_trafo_loading == pytest.approx(loading, rel=5e-3)
    assert loading == pytest.approx(0.90, abs=0.02)  # 2.2 MW + losses on 2.5 MVA
    vm_lv_pp = float(pn.net.res_bus.vm_pu.at[pn.carpark_lv_bus])
    assert vm_lv_pp == pytest.approx(vm_lv, abs=1e-3)
    for g in pn.groups:
        drop_pp = vm_lv_pp - res.group_vm_pu[g]
        drop_hand = vm_lv - vm_end[g]
        assert drop_pp == pytest.approx(drop_hand, rel=0.02), g
    # the longest feeder (240 m, 0.025 Ω): P·R/U_n² = 3.4 %, a little more at the lower
    # voltage — within EN 50160's ±10 % with the transformer's 1 % on top
    assert vm_lv - vm_end["G10"] == pytest.approx(0.036, abs=0.002)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"p_terminal_w": math.nan}, "p_terminal_w"),
        ({"p_terminal_w": 1e6, "q_terminal_var": math.inf}, "q_terminal_var"),
        ({"p_terminal_w": 1e6, "p_group_w": {"G99": 1e3}}, "p_group_w['G99']"),
        ({"p_terminal_w": 1e6, "p_group_w": {"G01": math.nan}}, "p_group_w['G01']"),
        ({"p_terminal_w": 1e6, "q_group_var": {"G77": 0.0}}, "q_group_var['G77']"),
        ({"p_terminal_w": 1e6, "p_pv_w": -1e3}, "p_pv_w"),
        ({"p_terminal_w": 1e6, "p_pv_w": math.nan}, "p_pv_w"),
    ],
)
def test_bad_operating_point_is_refused_naming_the_key(
    pn: PortoNetwork, kwargs: dict[str, object], key: str
) -> None:
    before = pn.net.load.copy()
    with pytest.raises(ScenarioError, match="porto operating point: " + key.replace("[", r"\[")):
        set_operating_point(pn, **kwargs)  # type: ignore[arg-type]
    assert pn.net.load.equals(before)  # nothing half-written


def test_pv_drawing_power_is_refused() -> None:
    pn = build_porto_network(PortoNetworkSpec(pv_kwp=500.0))
    with pytest.raises(ScenarioError, match=r"p_pv_w = 1000\.0 > 0"):
        set_operating_point(pn, p_terminal_w=1e6, p_pv_w=1e3)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"mv_kv": 0.0}, "mv_kv"),
        ({"terminal_cos_phi": 1.2}, "terminal_cos_phi"),
        ({"pv_kwp": -1.0}, "pv_kwp"),
        ({"n_terminal_substations": 0}, "n_terminal_substations"),
        ({"mv_kv": 20.0}, "terminal_trafo.vn_hv_kv"),
        ({"charger_groups": ()}, "charger_groups"),
    ],
)
def test_bad_spec_is_refused_naming_the_key(change: dict[str, object], key: str) -> None:
    spec = dataclasses.replace(PortoNetworkSpec(), **change)  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match=f"porto network: .*{key}"):
        build_porto_network(spec)


def _head_loadings(pn: PortoNetwork) -> tuple[float, float]:
    load = pn.net.res_line.loading_percent
    return float(load.at[pn.ring_line_idx[0]]) / 100, float(load.at[pn.ring_line_idx[-1]]) / 100


def _ring_capacity_mva(pn: PortoNetwork) -> float:
    """√3 × U × I_rated of the ring cable at the switchboard (1.0 pu) [MVA]."""
    i_ka = float(pn.net.line.max_i_ka.at[pn.ring_line_idx[0]])
    return math.sqrt(3.0) * pn.spec.mv_kv * i_ka


def test_open_point_splits_the_terminal_3_3_and_beats_every_other_place(pn: PortoNetwork) -> None:
    """The open point's half-rings: T1–T3 | T4–T6 + car park; no other segment does better."""
    assert open_point_segment(pn.spec) == 3
    assert ring_design_loads_mva(pn.spec)[:6] == pytest.approx([12.3 / 0.95 / 6] * 6)
    sw = pn.net.switch.loc[pn.open_switch_idx]
    assert not sw.closed and int(sw.element) == pn.ring_line_idx[3]
    assert pn.net.line.name.at[pn.ring_line_idx[3]] == "ring 3"  # T3 -> T4
    # design point: terminal at its peak, car park at half its chargers' rating
    cp = {g.name: CARPARK_DESIGN_SHARE * g.p_max_w for g in pn.spec.charger_groups}
    set_operating_point(pn, p_terminal_w=PEAK_W, p_group_w=cp)
    larger: dict[int, float] = {}
    for k, line in enumerate(pn.ring_line_idx):
        pn.net.switch.at[pn.open_switch_idx, "element"] = line
        assert run_power_flow(pn).converged
        larger[k] = max(_head_loadings(pn))
    assert min(larger, key=lambda k: larger[k]) == 3
    # hand calculation, chargers off: each head carries 3 substations' share, S / (√3 U I_r)
    pn.net.switch.at[pn.open_switch_idx, "element"] = pn.ring_line_idx[3]
    set_operating_point(pn, p_terminal_w=PEAK_W, p_group_w=_full_chargers(pn, 0.0))
    assert run_power_flow(pn).converged
    hand = PEAK_W / 2 / 0.95 / 1e6 / _ring_capacity_mva(pn)
    assert _head_loadings(pn) == pytest.approx((hand, hand), rel=0.03)


def test_ring_n_minus_1_loads_the_other_head_with_the_whole_airport(pn: PortoNetwork) -> None:
    """Fault on a ring-head segment, open point closed: the other head carries the import."""
    set_operating_point(pn, p_terminal_w=PEAK_W, p_group_w=_full_chargers(pn, 0.1))
    res = run_power_flow(pn)
    s_import_mva = math.hypot(res.p_import_w, res.q_import_var) / 1e6
    before = pn.net.line.in_service.copy(), pn.net.switch.closed.copy()
    c = ring_n_minus_1(pn)
    assert set(c.faulted) == {"ring 0", "ring 7"}
    assert c.worst == max(c.faulted.values())
    # the surviving head leaves the switchboard (1.0 pu): I = |S| / (√3 U); the path is longer
    # than in normal operation, so the losses (and |S|) grow a little: 1 %
    hand = s_import_mva / _ring_capacity_mva(pn)
    assert c.faulted["ring 0"] == pytest.approx(hand, rel=0.01)
    assert c.faulted["ring 7"] == pytest.approx(hand, rel=0.01)
    assert c.worst_segment in {"ring 0", "ring 7"} and c.worst_segment != c.worst_fault
    # README: at the terminal's design peak the 240 mm² ring is NOT N-1 secure (≈ 120 %)
    assert c.worst > 1.0
    assert max(c.normal.values()) < 0.7  # normal operation: halves of ≈ 60 %
    # the study worked on a copy
    assert pn.net.line.in_service.equals(before[0]) and pn.net.switch.closed.equals(before[1])


def test_ring_n_minus_1_holds_below_the_head_segment_limit(pn: PortoNetwork) -> None:
    """N-1 holds up to √3 U I_r cos φ of import (10.4 MW) and fails above it."""
    limit_w = ring_head_limit_w(pn.spec)
    assert limit_w == pytest.approx(math.sqrt(3) * 15.0 * 0.421 * 0.95 * 1e6)
    for share, secure in ((0.96, True), (1.04, False)):
        set_operating_point(pn, p_terminal_w=share * limit_w, p_group_w=_full_chargers(pn, 0.0))
        assert (ring_n_minus_1(pn).worst <= 1.0) is secure
