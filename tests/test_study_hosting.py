"""`v2xcosim study hosting`: hosting capacity against hand calculations, and the command line."""

from __future__ import annotations

import cmath
import json
import math
from pathlib import Path
from typing import Any

import pandapower as pp
import pandas as pd
import pytest

from v2xcosim.cli import main
from v2xcosim.grid.studies.hosting import Limits, hosting_capacity, ikss_per_mva

ROOT = Path(__file__).resolve().parents[1]
UN_KV = 0.4


def two_bus(r_ohm: float, x_ohm: float, max_i_ka: float) -> Any:
    """ext_grid at 1.0 pu, one 1 km LV line without capacitance, nothing else."""
    net = pp.create_empty_network()
    a = pp.create_bus(net, UN_KV, name="A")
    b = pp.create_bus(net, UN_KV, name="B")
    pp.create_ext_grid(net, a, vm_pu=1.0)
    pp.create_line_from_parameters(
        net,
        a,
        b,
        1.0,
        r_ohm_per_km=r_ohm,
        x_ohm_per_km=x_ohm,
        c_nf_per_km=0.0,
        max_i_ka=max_i_ka,
        name="L",
    )
    return net


def injection_at_voltage(z: complex, v2_pu: float) -> float:
    """P [kW] injected with Q = 0 at the far bus for which its voltage is ``v2_pu``.

    Exact load-flow relation (line-to-line kV, three-phase MVA): S2 = V2·conj(V2 − V1)/conj(Z)
    with V1 = Un∠0 and V2 = v2·Un∠δ; δ is found by bisection so that Im(S2) = 0.
    """
    v1, v2 = UN_KV, v2_pu * UN_KV

    def s2(delta: float) -> complex:
        u2 = cmath.rect(v2, delta)
        return complex(u2 * (u2 - v1).conjugate() / z.conjugate())

    lo, hi = 0.0, 0.5  # Im(S2) changes sign between 0 and 0.5 rad for this line
    assert s2(lo).imag * s2(hi).imag < 0
    for _ in range(80):
        mid = (lo + hi) / 2
        if s2(lo).imag * s2(mid).imag <= 0:
            hi = mid
        else:
            lo = mid
    return s2(lo).real * 1000.0


def test_voltage_limited_injection_matches_hand_calculation() -> None:
    r, x = 0.2, 0.08  # ohm
    net = two_bus(r, x, max_i_ka=2.0)
    res = hosting_capacity(net, 1, "discharging")
    hand = injection_at_voltage(complex(r, x), 1.10)
    # small-ΔV approximation ΔV ≈ R·P/V² agrees to a few %: a cross-check of the hand value
    assert hand == pytest.approx(0.10 * UN_KV**2 / r * 1000.0 * 1.1, rel=0.06)
    assert res.criterion == "voltage" and res.element == "B"
    assert res.hosting_kw == pytest.approx(hand, rel=0.02)
    assert res.hosting_kw <= hand  # the last power without a violation
    assert not res.base_violation
    assert res.value <= 1.10 < res.value_over
    assert res.curve["added_kw"].is_monotonic_increasing
    assert "protection criterion skipped" in res.notes[0]


def test_thermal_limited_charging_matches_hand_calculation() -> None:
    r, x, i_max = 0.025, 0.01, 0.1  # ohm, ohm, kA
    net = two_bus(r, x, max_i_ka=i_max)
    res = hosting_capacity(net, 1, "charging")
    # unity-power-factor load: I in phase with V2, |V1|² = (V2 + √3·R·I)² + (√3·X·I)²
    v2 = math.sqrt(UN_KV**2 - 3 * (x * i_max) ** 2) - math.sqrt(3) * r * i_max
    hand = math.sqrt(3) * v2 * i_max * 1000.0  # P = √3·V2·I, kW
    assert hand == pytest.approx(math.sqrt(3) * UN_KV * i_max * 1000.0, rel=0.02)
    assert res.criterion == "thermal" and res.element == "L"
    assert res.hosting_kw == pytest.approx(hand, rel=0.02)
    assert res.value <= 100.0 < res.value_over


def test_base_violation_gives_zero_and_protection_rating() -> None:
    net = two_bus(0.2, 0.08, max_i_ka=2.0)
    pp.create_load(net, 1, p_mw=0.1)  # far below 0.9 pu at the evening peak
    res = hosting_capacity(net, 1, "charging")
    assert res.base_violation and res.hosting_kw == 0.0 and res.criterion == "voltage"
    # a switchgear rating just above the base Ik'' at bus B: the chargers' k·In hits it
    net = two_bus(0.2, 0.08, max_i_ka=2.0)
    net.ext_grid["s_sc_max_mva"] = 100.0
    net.ext_grid["rx_max"] = 0.1
    z = abs(complex(0.2, 0.08))
    ik = 1.1 * UN_KV / (math.sqrt(3) * z)  # LV cmax = 1.1; the grid impedance is small
    net.bus["max_ikss_ka"] = [float("nan"), ik * 1.05]
    res = hosting_capacity(net, 1, "discharging", Limits(v_max_pu=2.0), k=1.5)
    assert res.criterion == "protection" and res.element == "B"
    # a charger at the faulted bus adds its whole k·In = k·P/(√3·Un): the rating is reached at
    # P = (rating − Ik''base)·√3·Un/k
    base, per_mva = ikss_per_mva(net, 1, 1.5)
    assert per_mva[1] == pytest.approx(1.5 / (math.sqrt(3) * UN_KV), rel=1e-3)
    hand = (ik * 1.05 - base[1]) * math.sqrt(3) * UN_KV / 1.5 * 1000.0
    assert res.hosting_kw == pytest.approx(hand, rel=0.02)
    assert res.value <= 1.0 < res.value_over


def run_cli(*args: str) -> int:
    return main(["study", "hosting", *args])


def test_cli_on_demo_writes_csv_plot_and_summary(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "h"
    code = run_cli(str(ROOT / "scenarios" / "demo.toml"), "--bus", "Bus R11", "--out", str(out))
    assert code == 0
    table = pd.read_csv(out / "hosting.csv")
    assert list(table["direction"]) == ["charging", "discharging"]
    assert list(table["state"]) == ["evening_peak", "noon_surplus"]
    assert (table["hosting_kw"] > 0).all()
    assert (table["chargers"] == (table["hosting_kw"] // 11).astype(int)).all()
    assert (out / "hosting_Bus_R11.png").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["violation"] is False and len(summary["results"]) == 2
    assert "Bus R11, charging" in capsys.readouterr().out


def test_cli_unknown_bus_exits_2_and_fail_on_violation(tmp_path: Path, capsys: Any) -> None:
    net = two_bus(0.2, 0.08, max_i_ka=2.0)
    path = tmp_path / "two.json"
    pp.to_json(net, str(path))
    assert run_cli(str(path), "--bus", "nowhere", "--out", str(tmp_path / "a")) == 2
    assert "nowhere" in capsys.readouterr().err
    pp.create_load(net, 1, p_mw=0.1)
    pp.to_json(net, str(path))
    args = (str(path), "--bus", "B", "--fail-on-violation")
    assert run_cli(*args, "--out", str(tmp_path / "b")) == 1
    assert run_cli(str(path), "--bus", "B", "--out", str(tmp_path / "c")) == 0
    assert (tmp_path / "b" / "hosting_B.png").is_file()


def test_scenario_states_come_from_its_profiles(tmp_path: Path) -> None:
    """A scenario's evening-peak and noon-surplus states are its own steps of extreme net demand."""
    from v2xcosim import usecases
    from v2xcosim.core.timegrid import step_times
    from v2xcosim.grid.studies import hosting as hc
    from v2xcosim.scenario import load_scenario_as
    from v2xcosim.usecases.sites.schema import SitesScenario
    from v2xcosim.usecases.sites.wiring import profile_series

    demo = Path(__file__).resolve().parents[1] / "scenarios" / "demo.toml"
    spec = load_scenario_as(demo, SitesScenario)
    layout = usecases.get("sites").network(spec)
    series = profile_series(spec)
    load_mw = float(layout.net.load["p_mw"].sum())
    demand = [
        3.0 * h * load_mw - p * 0.15 for h, p in zip(series["household"], series["pv"], strict=True)
    ]
    times = step_times(spec.time.start_utc, spec.time.n_steps, spec.time.step_s)
    peak, surplus = layout.states["evening_peak"], layout.states["noon_surplus"]
    assert peak.time_utc == times[demand.index(max(demand))].isoformat()
    assert surplus.time_utc == times[demand.index(min(demand))].isoformat()
    assert surplus.pv_scale > 0.5 and peak.load_scale > surplus.load_scale
    # the state scales loads and only the PV generators
    work = hc.base_state(layout.net, "noon_surplus", scales=(surplus.load_scale, surplus.pv_scale))
    pv = work.sgen["type"] == "PV"
    assert work.sgen.loc[pv, "p_mw"].sum() == pytest.approx(0.15 * surplus.pv_scale)
    assert work.load["p_mw"].sum() == pytest.approx(load_mw * surplus.load_scale)
