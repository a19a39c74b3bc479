"""`v2xcosim study protection`: IEC 60909 currents against hand calculations, blinding,
sympathetic tripping, the command line on a network file and on the Terni scenario."""

from __future__ import annotations

import cmath
import json
import math
import warnings
from pathlib import Path
from typing import Any

import pandapower as pp
import pandas as pd
import pytest

from v2xcosim.cli import main
from v2xcosim.grid.studies import protection as prot
from v2xcosim.grid.studies import shortcircuit as scm

ROOT = Path(__file__).resolve().parents[1]
UN_KV = 20.0
SK_MVA = 100.0
RX = 0.1
C_MAX = 1.1  # IEC 60909-0:2016 Table 1, Un > 1 kV
C_MIN = 1.0


def z_grid(c: float = C_MAX, sk_mva: float = SK_MVA) -> complex:
    """Network feeder impedance Z_Q = c·Un²/S''kQ with R/X = 0.1 (IEC 60909-0:2016, 6.2)."""
    z = c * UN_KV**2 / sk_mva
    x = z / math.sqrt(1 + RX**2)
    return complex(RX * x, x)


def ik_ka(z: complex, c: float = C_MAX) -> float:
    """Ik'' = c·Un / (√3·|Zk|)."""
    return c * UN_KV / (math.sqrt(3) * abs(z))


def in_ka(sn_mva: float) -> float:
    return sn_mva / (math.sqrt(3) * UN_KV)


def radial(n_lines: int, *, r: float = 0.4, x: float = 0.2, max_i_ka: float = 0.4) -> Any:
    """A 20 kV feeder: ext_grid at bus 0, then ``n_lines`` equal lines (no capacitance)."""
    net = pp.create_empty_network()
    buses = [pp.create_bus(net, UN_KV, name=f"B{i}") for i in range(n_lines + 1)]
    pp.create_ext_grid(
        net, buses[0], s_sc_max_mva=SK_MVA, rx_max=RX, s_sc_min_mva=SK_MVA, rx_min=RX
    )
    for i in range(n_lines):
        pp.create_line_from_parameters(
            net, buses[i], buses[i + 1], 1.0, r_ohm_per_km=r, x_ohm_per_km=x,
            c_nf_per_km=0.0, max_i_ka=max_i_ka, name=f"L{i + 1}",
        )
    net.line["endtemp_degree"] = 20.0
    return net


def study(net: Any, chargers: list[scm.Charger]) -> tuple[scm.StudyNet, scm.ShortCircuitResult]:
    sn = scm.study_net(net, chargers)
    return sn, scm.short_circuit_study(sn)


def pick(table: pd.DataFrame, **match: Any) -> dict[str, Any]:
    """The one row of ``table`` whose columns equal ``match``, as a dict."""
    sel = table
    for column, value in match.items():
        sel = sel[sel[column] == value]
    assert len(sel) == 1, match
    return {str(k): v for k, v in sel.iloc[0].to_dict().items()}


def row(result: scm.ShortCircuitResult, bus: int) -> dict[str, Any]:
    return pick(result.table, bus=bus)


# --- short-circuit currents against hand calculations (IEC 60909-0:2016) -------------------


def test_grid_infeed_only() -> None:
    # (a) Ik'' at the ext_grid bus: Zk = Z_Q, so Ik'' = c·Un/(√3·c·Un²/S''kQ) = S''kQ/(√3·Un).
    net = radial(0)
    _, res = study(net, [])
    expected = ik_ka(z_grid())
    assert expected == pytest.approx(SK_MVA / (math.sqrt(3) * UN_KV))
    assert row(res, 0)["ikss_ka_base"] == pytest.approx(expected, rel=0.01)
    assert row(res, 0)["ikss_ka_v2g"] == pytest.approx(expected, rel=0.01)
    # 2-phase: Ik2'' = c·Un / (2·|Zk|) = √3/2 · Ik3''
    assert row(res, 0)["ikss_2ph_ka_base"] == pytest.approx(expected * math.sqrt(3) / 2, rel=0.01)


def test_grid_and_line_max_and_min() -> None:
    # (b) Zk = Z_Q + Z_L, Z_L = (0.4 + j0.2) Ω.  Minimum case: c = 1.0, Z_Q from S''kQmin, and
    # R_L at the end temperature θe: R_L·(1 + 0.004·(θe − 20)) (IEC 60909-0:2016, minimum
    # short-circuit currents).
    net = radial(1)
    net.line["endtemp_degree"] = 80.0
    _, res = study(net, [])
    z_line = complex(0.4, 0.2)
    assert row(res, 1)["ikss_ka_base"] == pytest.approx(ik_ka(z_grid() + z_line), rel=0.01)
    z_min = z_grid(C_MIN) + complex(0.4 * (1 + 0.004 * 60), 0.2)
    assert row(res, 1)["ikss_min_ka_base"] == pytest.approx(ik_ka(z_min, C_MIN), rel=0.01)


def test_charger_at_the_faulted_bus() -> None:
    # (c) A full-size converter at the fault adds its whole I_skPF = k·In (Z_fj/Z_ff = 1), in
    # phase with the grid's current: 2 MVA, k = 1.2 at 20 kV -> 1.2 · 57.7 A = 69.3 A.
    net = radial(1)
    ch = scm.Charger("cp", 1, sn_mva=2.0, k=1.2)
    _, res = study(net, [ch])
    grid = ik_ka(z_grid() + complex(0.4, 0.2))
    assert ch.contribution_ka(UN_KV) == pytest.approx(1.2 * in_ka(2.0))
    assert row(res, 1)["ikss_ka_base"] == pytest.approx(grid, rel=0.01)
    assert row(res, 1)["ikss_ka_v2g"] == pytest.approx(grid + 1.2 * in_ka(2.0), rel=0.01)
    # IEC 60909 (and pandapower) leave converters out of the minimum case
    assert row(res, 1)["ikss_min_ka_v2g"] == pytest.approx(row(res, 1)["ikss_min_ka_base"])


def test_charger_one_bus_away() -> None:
    # (d) Superposition (IEC 60909-0:2016, initial short-circuit current):
    # Ik'' = c·Un/(√3·Zk) + |Z_fj / Z_ff|·k·In, with the transfer impedance Z_fj of the radial
    # network = impedance of the path the fault and the charger share to the source.
    # Charger at bus 1, fault at bus 2 (one bus beyond): Z_fj = Z_Q + Z_L1, Z_ff = Z_Q + 2·Z_L.
    # Charger at bus 1, fault at bus 0 (one bus towards the grid): Z_fj = Z_ff = Z_Q: all of it.
    # pandapower adds the converter part by magnitude, as done here.
    net = radial(2)
    _, res = study(net, [scm.Charger("cp", 1, sn_mva=2.0, k=1.2)])
    zl = complex(0.4, 0.2)
    zq = z_grid()
    kin = 1.2 * in_ka(2.0)
    at2 = ik_ka(zq + 2 * zl) + abs((zq + zl) / (zq + 2 * zl)) * kin
    assert row(res, 2)["ikss_ka_v2g"] == pytest.approx(at2, rel=0.01)
    assert row(res, 0)["ikss_ka_v2g"] == pytest.approx(ik_ka(zq) + kin, rel=0.01)
    assert row(res, 2)["ikss_change_pct"] > 0


def test_single_phase_only_with_zero_sequence_data() -> None:
    net = radial(1)
    assert "line.r0_ohm_per_km" in scm.zero_sequence_missing(net)
    _, res = study(net, [])
    assert "1ph" not in res.faults_done and res.table["ikss_1ph_ka_base"].isna().all()
    net.line["r0_ohm_per_km"], net.line["x0_ohm_per_km"], net.line["c0_nf_per_km"] = 1.2, 0.6, 0.0
    net.ext_grid["x0x_max"] = net.ext_grid["x0x_min"] = 1.0
    net.ext_grid["r0x0_max"] = net.ext_grid["r0x0_min"] = 0.1
    assert scm.zero_sequence_missing(net) == []
    _, res = study(net, [])
    assert "1ph" in res.faults_done
    # at the ext_grid bus Z0 = Z1 (x0x = 1, r0x0 = rx): Ik1'' = √3·c·Un/|2·Z1 + Z0| = Ik3''
    assert row(res, 0)["ikss_1ph_ka_base"] == pytest.approx(ik_ka(z_grid()), rel=0.01)


# --- blinding and sympathetic tripping -----------------------------------------------------


def blinding_case(pickup_between: bool) -> tuple[prot.ProtectionResult, float, float]:
    """Grid - L1 - M (charger 4 MVA, k 1.5) - L2 - E; default relay at the head of L1.

    Hand calculation for a fault at E (V_E = 0): the grid's current through the relay is
    I_b = c·(Un/√3)/(Z_Q + Z1 + Z2).  The charger's J = k·In ∠−arg(Z_MM), Z_MM = Z_Q + Z1
    (pandapower's angle), splits between the fault (through Z2) and the grid (through
    Z_Q + Z1); the share J·Z2/(Z_Q + Z1 + Z2) flows back through the relay:
    I_v = I_b − J·Z2/(Z_Q + Z1 + Z2).
    """
    net = radial(2, r=2.0, x=1.0)
    zq, z1, z2 = z_grid(), complex(2.0, 1.0), complex(2.0, 1.0)
    ztot = zq + z1 + z2
    i_b = C_MAX * UN_KV / math.sqrt(3) / ztot
    j = 1.5 * in_ka(4.0) * cmath.exp(-1j * cmath.phase(zq + z1))
    i_v = i_b - j * z2 / ztot
    sn, res = study(net, [scm.Charger("cp", 1, sn_mva=4.0, k=1.5)])
    pickup = (abs(i_b) + abs(i_v)) / 2 if pickup_between else 0.5 * abs(i_v)
    sn.net.line.loc[0, "max_i_ka"] = pickup / prot.DEFAULT_PICKUP_FACTOR
    feeders = prot.find_feeders(sn.net)
    assert [f.name for f in feeders] == ["L1"]
    assert feeders[0].buses == {1, 2}
    prot.add_default_relays(sn.net, feeders)
    devs, _ = prot.devices(sn.net, feeders)
    return prot.protection_study(sn, res, devs), abs(i_b), abs(i_v)


def test_relay_blinded_by_a_charger_between_relay_and_fault() -> None:
    result, i_b, i_v = blinding_case(pickup_between=True)
    far = pick(result.table, fault_bus=2)
    assert far["i_ka_base"] == pytest.approx(i_b, rel=0.01)
    assert far["i_ka_v2g"] == pytest.approx(i_v, rel=0.01)
    assert far["reach_reduction_pct"] == pytest.approx((i_b - i_v) / i_b * 100, rel=0.01)
    assert far["reach_reduction_pct"] > 1.0
    assert math.isfinite(far["t_trip_s_base"]) and math.isinf(far["t_trip_s_v2g"])
    assert bool(far["blinded"]) and result.blinded == 1
    assert far["direction_base"] == far["direction_v2g"] == "forward"


def test_relay_not_blinded_when_pickup_is_low_enough() -> None:
    result, _, _ = blinding_case(pickup_between=False)
    far = pick(result.table, fault_bus=2)
    assert far["reach_reduction_pct"] > 1.0  # less current, but still well above pickup
    assert far["t_trip_s_v2g"] == pytest.approx(prot.DEFAULT_TIME_S)
    assert result.blinded == 0 and result.sympathetic == 0


def two_feeders(max_i_ka_1: float) -> Any:
    """Busbar B (ext_grid) with feeder L1 -> A (charger 5 MVA, k 1.5) and feeder L2 -> C."""
    net = pp.create_empty_network()
    b = pp.create_bus(net, UN_KV, name="busbar")
    a = pp.create_bus(net, UN_KV, name="A")
    c = pp.create_bus(net, UN_KV, name="C")
    pp.create_ext_grid(net, b, s_sc_max_mva=SK_MVA, rx_max=RX, s_sc_min_mva=SK_MVA, rx_min=RX)
    for name, to, ith in (("L1", a, max_i_ka_1), ("L2", c, 0.4)):
        pp.create_line_from_parameters(
            net, b, to, 2.0, r_ohm_per_km=0.2, x_ohm_per_km=0.1, c_nf_per_km=0.0,
            max_i_ka=ith, name=name,
        )
    pp.create_sgen(net, a, p_mw=0.0, sn_mva=5.0, k=1.5, type="v2g", name="cp A")
    return net


def test_sympathetic_trip_of_the_healthy_feeder() -> None:
    # Fault at C: A's only path is back through L1 to the busbar, so the L1 relay sees the
    # whole k·In = 1.5 · 5 MVA / (√3 · 20 kV) = 0.2165 kA, reverse; its pickup is 1.5 · 0.1 kA.
    net = two_feeders(max_i_ka_1=0.1)
    chargers, _ = scm.chargers_from_sgens(net, k=None, rating_mva={}, fallback_mva=None)
    sn, res = study(net, chargers)
    feeders = prot.find_feeders(sn.net)
    assert sorted(f.name for f in feeders) == ["L1", "L2"]
    prot.add_default_relays(sn.net, feeders)
    devs, _ = prot.devices(sn.net, feeders)
    result = prot.protection_study(sn, res, devs)
    t = result.table
    healthy = pick(t, device="relay L1", fault_bus=2)
    assert healthy["location"] == "neighbouring feeder"
    assert healthy["i_ka_base"] == pytest.approx(0.0, abs=1e-6)
    assert healthy["i_ka_v2g"] == pytest.approx(1.5 * in_ka(5.0), rel=0.01)
    assert healthy["direction_v2g"] == "reverse"
    assert bool(healthy["sympathetic_trip"])
    faulted = pick(t, device="relay L2", fault_bus=2)
    assert faulted["direction_v2g"] == "forward" and not bool(faulted["sympathetic_trip"])
    # a fault on L1's own feeder does not send current back through the charger-less L2
    assert not bool(pick(t, device="relay L2", fault_bus=1)["sympathetic_trip"])
    assert result.sympathetic == 1


def test_no_sympathetic_trip_with_pickup_above_the_charger_current() -> None:
    net = two_feeders(max_i_ka_1=0.4)  # pickup 0.6 kA > 0.2165 kA
    chargers, _ = scm.chargers_from_sgens(net, k=None, rating_mva={}, fallback_mva=None)
    sn, res = study(net, chargers)
    feeders = prot.find_feeders(sn.net)
    prot.add_default_relays(sn.net, feeders)
    devs, _ = prot.devices(sn.net, feeders)
    assert prot.protection_study(sn, res, devs).sympathetic == 0


# --- the command line ----------------------------------------------------------------------


def run_cli(*args: str) -> int:
    return main(["study", "protection", *args])


def test_json_network_v2g_sgens_use_their_own_k(tmp_path: Path) -> None:
    net = radial(2)
    pp.create_sgen(net, 1, p_mw=0.0, sn_mva=2.0, k=1.1, type="v2g", name="own k")
    pp.create_sgen(net, 2, p_mw=0.0, sn_mva=1.0, type="v2g", name="no k")
    pp.create_sgen(net, 2, p_mw=0.5, sn_mva=1.0, type="PV", name="pv")
    path = tmp_path / "feeder.json"
    pp.to_json(net, str(path))
    assert run_cli(str(path), "--k", "1.3") == 0
    out = tmp_path / "feeder-protection"
    summary = json.loads((out / "summary.json").read_text())
    ks = {c["name"]: c["k"] for c in summary["chargers"]}
    assert ks == {"own k": 1.1, "no k": 1.3}
    sc = pd.read_csv(out / "shortcircuit.csv").set_index("bus")
    zl, zq = complex(0.4, 0.2), z_grid()
    # fault at bus 1: its own charger fully, the one at bus 2 beyond the fault fully
    expected = ik_ka(zq + zl) + 1.1 * in_ka(2.0) + 1.3 * in_ka(1.0)
    assert sc.loc[1, "ikss_ka_v2g"] == pytest.approx(expected, rel=0.01)
    assert sc.loc[1, "ikss_ka_base"] == pytest.approx(ik_ka(zq + zl), rel=0.01)  # PV left out
    for name in ("shortcircuit.csv", "branch_currents.csv", "protection.csv", "protection.png"):
        assert (out / name).is_file()
    branches = pd.read_csv(out / "branch_currents.csv")
    assert {"i_from_ka_base", "deg_from_v2g", "fault_bus", "line"} <= set(branches.columns)


def test_json_charger_without_rating_needs_charger_kw(tmp_path: Path, capsys: Any) -> None:
    net = radial(1)
    pp.create_sgen(net, 1, p_mw=0.0, type="v2g", name="cp")
    path = tmp_path / "n.json"
    pp.to_json(net, str(path))
    assert run_cli(str(path), "--out", str(tmp_path / "a")) == 2
    assert "--charger-kw" in capsys.readouterr().err
    assert run_cli(str(path), "--out", str(tmp_path / "b"), "--charger-kw", "cp=4x22") == 0
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["chargers"][0]["sn_kva"] == pytest.approx(88.0)


def test_fail_on_violation_and_buses_subset(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "two.json"
    pp.to_json(two_feeders(max_i_ka_1=0.1), str(path))
    assert run_cli(str(path), "--out", str(tmp_path / "a")) == 0
    assert run_cli(str(path), "--out", str(tmp_path / "b"), "--fail-on-violation") == 1
    assert "1 sympathetic trips" in capsys.readouterr().out
    assert run_cli(str(path), "--out", str(tmp_path / "c"), "--buses", "A,busbar") == 0
    assert sorted(pd.read_csv(tmp_path / "c" / "shortcircuit.csv")["bus_name"]) == [
        "A", "busbar"
    ]


def test_nothing_to_protect_still_writes_shortcircuit(tmp_path: Path, capsys: Any) -> None:
    net = pp.create_empty_network()
    hv = pp.create_bus(net, UN_KV, name="MV")
    lv = pp.create_bus(net, 0.4, name="LV")
    pp.create_ext_grid(net, hv, s_sc_max_mva=SK_MVA, rx_max=RX)
    pp.create_transformer(net, hv, lv, "0.63 MVA 20/0.4 kV")
    path = tmp_path / "bare.json"
    pp.to_json(net, str(path))
    assert run_cli(str(path), "--out", str(tmp_path / "o"), "--fail-on-violation") == 0
    assert "nothing to protect" in capsys.readouterr().out
    assert len(pd.read_csv(tmp_path / "o" / "shortcircuit.csv")) == 2
    assert not (tmp_path / "o" / "protection.png").exists()


@pytest.mark.filterwarnings("ignore:invalid value encountered in log10:RuntimeWarning")
def test_fuse_from_the_network_file_is_evaluated(tmp_path: Path) -> None:
    from pandapower.protection.protection_devices.fuse import Fuse

    net = pp.create_empty_network()
    mv = pp.create_bus(net, UN_KV, name="MV")
    bar = pp.create_bus(net, 0.4, name="LV busbar")
    end = pp.create_bus(net, 0.4, name="LV end")
    pp.create_ext_grid(net, mv, s_sc_max_mva=SK_MVA, rx_max=RX, s_sc_min_mva=80, rx_min=RX)
    pp.create_transformer(net, mv, bar, "0.63 MVA 20/0.4 kV")
    line = pp.create_line(net, bar, end, 0.3, "NAYY 4x150 SE")
    sw = pp.create_switch(net, bar, line, et="l", type="CB")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        Fuse(net, sw, fuse_type="Siemens NH-2-250")
    path = tmp_path / "fused.json"
    pp.to_json(net, str(path))
    assert run_cli(str(path), "--out", str(tmp_path / "o"), "--charger-kw", "50") == 0
    table = pd.read_csv(tmp_path / "o" / "protection.csv")
    assert list(table["device_type"]) == ["Fuse"]
    assert 0 < table["t_trip_s_base"].iloc[0] < 10


@pytest.mark.parametrize(
    "args",
    [
        ["missing.json"],
        ["{net}", "--k", "-1"],
        ["{net}", "--charger-kw", "lots"],
        ["{net}", "--charger-kw", "nobody=88"],
        ["{net}", "--buses", "nowhere"],
    ],
)
def test_bad_input_exits_2(tmp_path: Path, args: list[str], capsys: Any) -> None:
    path = tmp_path / "n.json"
    pp.to_json(radial(1), str(path))
    argv = [a.format(net=path) for a in args]
    assert run_cli(*argv, "--out", str(tmp_path / "o")) == 2
    assert "error" in capsys.readouterr().err


def test_parse_ratings() -> None:
    from v2xcosim.studies.protection import parse_ratings

    named, everyone = parse_ratings(["8x11", "LV1 node 4 (x)=4x22", "b=50"])
    assert everyone == pytest.approx(0.088)
    assert named == {"LV1 node 4 (x)": pytest.approx(0.088), "b": pytest.approx(0.05)}


@pytest.mark.slow
def test_terni_scenario(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "terni"
    assert run_cli(str(ROOT / "scenarios" / "terni_v2g.toml"), "--out", str(out)) == 0
    sc = pd.read_csv(out / "shortcircuit.csv")
    chargers = sc[sc["v2g_sn_kva"] > 0]
    assert len(chargers) == 3 and (chargers["v2g_sn_kva"] == 88.0).all()
    # 8 × 11 kW at k = 1.5 on 0.4 kV add at least k·In = 0.19 kA at their own bus
    added = chargers["ikss_ka_v2g"] - chargers["ikss_ka_base"]
    assert (added >= 1.5 * 0.088 / (math.sqrt(3) * 0.4) - 1e-6).all()
    protection = pd.read_csv(out / "protection.csv")
    assert len(protection) > 0 and (out / "protection.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["topology"]["n_minus_1"].startswith("none")
    assert "topology as given" in capsys.readouterr().out
