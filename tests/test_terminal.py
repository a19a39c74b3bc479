"""The Porto terminal's thermal zone (V2X.Terminal) through its FMU, against independent references.

* the free-floating building (HVAC off) against the analytic response of the ISO 13790 5R1C
  network, solved here from its conductances with numpy (Schur complement of the massless air and
  surface nodes, then the eigen-decomposition of the remaining system);
* rumoca's own simulation of the same source (tests/data/oracle/V2X_Oracle_Terminal.mo);
* the HVAC's steady state against a hand balance of the network with the air held at a set point;
* the calibration year (tests/terminal_year.py) against published airport figures.
"""

from __future__ import annotations

from pathlib import Path

import fmpy
import numpy as np
import pytest
from fmpy.validation import validate_fmu

from oracle import fmu_run, rumoca_run, terminal_inputs
from terminal_year import run_year
from v2xcosim.fmu.build import build_fmu
from v2xcosim.fmu.runtime import run_fmu

# Defaults of V2X.Terminal (its documentation gives the sources), restated here so that the
# references below do not read the model's own calculated parameters.
A_F = 100000.0
V_AIR = A_F * 8.0
H_VE = 1200.0 * 0.6 * V_AIR / 3600.0
H_W = 2.8 * 0.6 * 30000.0
H_OP = 0.7 * 0.4 * 30000.0 + 0.5 * 50000.0
A_T = 4.5 * A_F
A_M = 2.5 * A_F
C_M = 165000.0 * A_F
H_IS = 3.45 * A_T
H_MS = 9.1 * A_M
H_EM = 1.0 / (1.0 / H_OP - 1.0 / H_MS)
F_M = A_M / A_T
F_ST = 1.0 - A_M / A_T - H_W / (9.1 * A_T)
P_FAN = 1500.0 * 5.0 * 0.6 * V_AIR / 3600.0
COP, EER, SHR = 3.5, 3.0, 0.7


@pytest.fixture(scope="module")
def fmu() -> Path:
    return build_fmu("Terminal")


def test_fmu_validates_and_declares_its_interface(fmu: Path) -> None:
    assert validate_fmu(str(fmu)) == []
    md = fmpy.read_model_description(str(fmu))
    by = {v.name: v for v in md.modelVariables}
    inputs = {n: float(v.start) for n, v in by.items() if v.causality == "input"}
    assert inputs == {"t_out_k": 288.15, "q_sol_w": 0.0, "q_int_w": 0.0, "p_base_w": 0.0}
    outs = {n for n, v in by.items() if v.causality == "output"}
    assert {"t_air_k", "q_hvac_w", "p_hvac_w", "p_el_w", "e_el_j", "e_hvac_j"} <= outs
    for v in md.modelVariables:
        if v.type == "Real" and v.causality in ("input", "output", "parameter"):
            assert v.unit, f"Terminal.{v.name} has no unit"
    with run_fmu(fmu) as r:
        r.initialize({})
        calc = dict(
            zip(
                ["h_ve", "h_tr_w", "h_tr_em", "h_tr_ms", "h_tr_is", "c_m", "p_fan"],
                r.get(
                    [
                        "h_ve_w_per_k",
                        "h_tr_w_w_per_k",
                        "h_tr_em_w_per_k",
                        "h_tr_ms_w_per_k",
                        "h_tr_is_w_per_k",
                        "c_m_j_per_k",
                        "p_fan_w",
                    ]
                ),
                strict=True,
            )
        )
    np.testing.assert_allclose(
        list(calc.values()), [H_VE, H_W, H_EM, H_MS, H_IS, C_M, P_FAN], rtol=1e-12
    )
    assert H_VE > H_W + H_OP  # ventilation dominates the losses of a terminal


# ------------------------------------------------------------------ analytic step response --
def _rc_response(
    t_s: np.ndarray, t_out_k: float, q_sol_w: float, q_int_w: float, t_m0_k: float
) -> np.ndarray:
    """Temperatures (air, surface, mass) of the 5R1C network without HVAC, columns per node.

    Nodal balance G θ = C dθ/dt + b with θ = (air, surface, mass); only the mass node has a
    capacity, so the air and surface nodes are eliminated (Schur complement) and the mass node
    follows θ_m(t) = θ_∞ + V exp(Λ t) V⁻¹ (θ_m(0) - θ_∞).
    """
    g = np.array(
        [
            [H_VE + H_IS, -H_IS, 0.0],
            [-H_IS, H_IS + H_W + H_MS, -H_MS],
            [0.0, -H_MS, H_MS + H_EM],
        ]
    )  # conductance matrix (W/K), the outdoor node moved to the source vector
    phi = 0.5 * q_int_w + q_sol_w
    b = np.array(
        [H_VE * t_out_k + 0.5 * q_int_w, H_W * t_out_k + F_ST * phi, H_EM * t_out_k + F_M * phi]
    )
    a, d = [0, 1], [2]
    g_aa, g_ad = g[np.ix_(a, a)], g[np.ix_(a, d)]
    g_da, g_dd = g[np.ix_(d, a)], g[np.ix_(d, d)]
    k_red = g_dd - g_da @ np.linalg.solve(g_aa, g_ad)  # W/K
    b_red = b[d] - g_da @ np.linalg.solve(g_aa, b[a])
    m = -k_red / C_M  # dθ_m/dt = m θ_m + b_red / C_M
    theta_inf = np.linalg.solve(k_red, b_red)
    lam, vec = np.linalg.eig(m)
    x0 = np.linalg.solve(vec, np.array([t_m0_k]) - theta_inf)
    t_m = theta_inf[None, :] + (np.exp(np.outer(t_s, lam)) * x0[None, :]) @ vec.T
    t_m = np.real(t_m)
    t_as = np.linalg.solve(g_aa, (b[a][:, None] - g_ad @ t_m.T)).T
    return np.column_stack([t_as, t_m])


@pytest.mark.parametrize(
    ("t_out_k", "q_sol_w", "q_int_w"), [(273.15, 0.0, 0.0), (303.15, 2e6, 3e6)]
)
def test_free_floating_step_matches_analytic_rc_response(
    fmu: Path, t_out_k: float, q_sol_w: float, q_int_w: float
) -> None:
    """HVAC off (hvac_on = 0), building at 22 °C, outdoor temperature stepped at t = 0."""
    t_m0 = 295.15
    t = np.arange(0, 5 * 86400 + 1, 3600.0)
    ref = _rc_response(t, t_out_k, q_sol_w, q_int_w, t_m0)
    names = ["t_air_k", "t_s_k", "t_m_k", "q_hvac_w", "p_el_w", "e_el_j"]
    u = {"t_out_k": t_out_k, "q_sol_w": q_sol_w, "q_int_w": q_int_w, "p_base_w": 4e6}
    got = fmu_run(
        fmu,
        lambda _k: u,
        names,
        t_end=t[-1],
        dt=3600.0,
        step_s=3600.0,
        start={"hvac_on": 0.0, "t_m_start_k": t_m0},
        rtol=1e-10,
    )
    # the step moves the mass by several kelvin over days (a test that can fail)
    assert abs(ref[-1, 2] - t_m0) > 3.0
    for j, name in enumerate(["t_air_k", "t_s_k", "t_m_k"]):
        np.testing.assert_allclose(got[name], ref[:, j], rtol=1e-6, err_msg=name)
        # and the deviations from the start, relative to their size
        dev = ref[:, j] - ref[0, j]
        err = np.max(np.abs((got[name] - got[name][0]) - dev))
        assert err <= 1e-6 * np.max(np.abs(dev)) + 1e-9, name
    assert np.all(got["q_hvac_w"] == 0.0)
    np.testing.assert_allclose(got["p_el_w"], 4e6, rtol=1e-12)  # base load only, no fans
    np.testing.assert_allclose(got["e_el_j"], 4e6 * t, rtol=1e-9)


# ------------------------------------------------------------------------------- oracle --
def test_terminal_matches_rumoca_oracle(fmu: Path) -> None:
    """Heating (up to its 3 MW capacity), the dead band and cooling over one day of hourly steps."""
    names = ["t_air_k", "t_m_k", "q_hvac_w", "q_heat_w", "p_hvac_w", "p_el_w", "e_el_j", "e_hvac_j"]
    ref = rumoca_run("V2X_Oracle_Terminal", t_end=86400.0, dt=1800.0)
    got = fmu_run(
        fmu,
        terminal_inputs,
        names,
        t_end=86400.0,
        dt=1800.0,
        step_s=3600.0,
        start={"t_m_start_k": 288.15, "q_heat_max_w": 3e6},
    )
    assert np.array_equal(ref["time"], got["time"])
    # the profile exercises all regimes of the thermostat
    q = ref["terminal.q_hvac_w"]
    assert q.max() > 2.9e6 and q.min() < -2e6 and np.any(np.abs(q) < 1e3)
    mid = (np.round(ref["time"]) % 3600) == 1800  # inputs change at whole hours
    tol = {"t_air_k": 1e-4, "t_m_k": 1e-4, "q_hvac_w": 200.0, "q_heat_w": 200.0, "p_hvac_w": 100.0}
    tol |= {"p_el_w": 100.0, "e_el_j": 1e6, "e_hvac_j": 1e6}
    for name, t in tol.items():
        err = np.max(np.abs(ref[f"terminal.{name}"][mid] - got[name][mid]))
        assert err <= t, f"{name}: max deviation {err:.3e} > {t:.1e} from rumoca's simulation"


# ---------------------------------------------------------------- steady-state balance --
def _hand_balance(t_set_k: float, t_out_k: float, q_sol_w: float, q_int_w: float) -> float:
    """HVAC heat (W, + heating) holding the air at t_set_k in steady state, by hand.

    Without gains the air loses through H_ve and, through H_tr_is, to the surface node, which
    leads to outdoors through H_tr_w and the opaque path H_tr_ms + H_tr_em in series (= H_tr_op):
    H_total = H_ve + H_is (H_w + H_op) / (H_is + H_w + H_op). A gain at a node reaches the air
    (and so relieves the HVAC) by the share of its current that flows to the air node, with the
    air and outdoor nodes held: 1 at the air node (half the internal gains and the fan heat),
    H_is / (H_is + H_w + H_op) at the surface node, and at the mass node the share through H_ms
    (X / (H_em + X), X = H_ms (H_is + H_w) / (H_ms + H_is + H_w)) times H_is / (H_is + H_w).
    """
    h_total = H_VE + H_IS * (H_W + H_OP) / (H_IS + H_W + H_OP)
    phi = 0.5 * q_int_w + q_sol_w
    x = H_MS * (H_IS + H_W) / (H_MS + H_IS + H_W)
    w_s = H_IS / (H_IS + H_W + H_OP)
    w_m = x / (H_EM + x) * H_IS / (H_IS + H_W)
    gains = 0.5 * q_int_w + P_FAN + w_s * F_ST * phi + w_m * F_M * phi
    return h_total * (t_set_k - t_out_k) - gains


@pytest.mark.parametrize(
    ("t_out_k", "q_sol_w", "q_int_w", "t_set_k"),
    [(275.15, 0.0, 1e6, 293.15), (295.15, 2e6, 6e6, 297.15)],
    ids=["heating", "cooling"],
)
def test_hvac_steady_state_matches_hand_balance(
    fmu: Path, t_out_k: float, q_sol_w: float, q_int_w: float, t_set_k: float
) -> None:
    p_base = 3e6
    want = _hand_balance(t_set_k, t_out_k, q_sol_w, q_int_w)
    assert abs(want) > 1e6
    with run_fmu(fmu) as r:
        # a sharp thermostat (smoothing 1e-5 K, 1 W) so that the smooth law's offset is negligible
        r.initialize(
            {
                "dt_smooth_k": 1e-5,
                "dq_smooth_w": 1.0,
                "t_out_k": t_out_k,
                "q_sol_w": q_sol_w,
                "q_int_w": q_int_w,
                "p_base_w": p_base,
                "solver.rtol": 1e-10,
            }
        )
        for _ in range(20 * 24):  # 20 days: the mass settles (time constant of hours)
            r.do_step(3600.0)
        t_air, q_hvac, p_hvac, p_el, e0 = r.get(
            ["t_air_k", "q_hvac_w", "p_hvac_w", "p_el_w", "e_el_j"]
        )
        r.do_step(86400.0)
        (e1,) = r.get(["e_el_j"])
    assert t_air == pytest.approx(t_set_k, abs=1e-4)
    assert q_hvac == pytest.approx(want, rel=1e-6)
    p_th = want / COP if want > 0 else -want / (SHR * EER)
    assert p_hvac == pytest.approx(p_th + P_FAN, rel=1e-6)
    assert p_el == pytest.approx(p_th + P_FAN + p_base, rel=1e-6)
    assert e1 - e0 == pytest.approx(86400.0 * p_el, rel=1e-6)  # meter = power x time


def test_heating_capacity_limits_the_hvac_and_lets_the_air_cool(fmu: Path) -> None:
    with run_fmu(fmu) as r:
        r.initialize({"t_out_k": 263.15, "q_heat_max_w": 2e6})
        for _ in range(10 * 24):
            r.do_step(3600.0)
        t_air, q_hvac, p_hvac = r.get(["t_air_k", "q_hvac_w", "p_hvac_w"])
    assert q_hvac == pytest.approx(2e6, rel=1e-3)
    assert t_air < 293.15 - 1.0  # the heating falls short of the set point
    assert p_hvac == pytest.approx(q_hvac / COP + P_FAN, rel=1e-3)


# ------------------------------------------------------------------------- calibration --
def test_calibration_year_stays_in_the_airport_benchmark_bands(fmu: Path) -> None:
    """Synthetic Porto year (tests/terminal_year.py): 60-90 GWh (4-6 kWh per passenger at 15 M
    passengers), HVAC 35-45 % of the electricity, peak 9-15 MW, the air kept between the set
    points."""
    res = run_year(fmu)
    assert 60.0 <= res.e_el_gwh <= 90.0
    assert 0.35 <= res.hvac_share <= 0.45
    assert 9.0 <= res.peak_mw <= 15.0
    assert res.t_air_min_k >= 293.15 - 0.1 and res.t_air_max_k <= 297.15 + 0.1


def test_cosimulation_and_model_exchange_agree(fmu: Path) -> None:
    """The same day through the FMU's Co-Simulation integrator and fmpy's CVode (Model Exchange)."""
    start = {
        "t_out_k": 275.15,
        "q_sol_w": 1e6,
        "q_int_w": 2e6,
        "p_base_w": 4e6,
        "t_m_start_k": 290.0,
    }
    run = {"stop_time": 86400.0, "output_interval": 3600.0, "start_values": start}
    cs = fmpy.simulate_fmu(str(fmu), fmi_type="CoSimulation", **run)
    me = fmpy.simulate_fmu(str(fmu), fmi_type="ModelExchange", relative_tolerance=1e-8, **run)
    assert np.ptp(cs["t_m_k"]) > 0.5 and np.ptp(cs["q_hvac_w"]) > 1e5  # the day moves the state
    for name in ("t_air_k", "t_m_k", "q_hvac_w", "p_el_w", "e_el_j"):
        np.testing.assert_allclose(
            cs[name], me[name], rtol=1e-5, atol=1e-6 * np.max(np.abs(cs[name])), err_msg=name
        )
