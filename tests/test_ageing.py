"""Initial capacity losses (Schmalstieg laws) and the price of a capacity loss."""

import math

import numpy as np
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.ageing import (
    OCV_MEAN_CELL_V,
    Q_CELL_AH,
    AgeingHistory,
    band_cycling_proxies,
    degradation_cost_eur,
    initial_losses,
    marginal_cycle_wear_eur_per_kwh,
    ocv_cell_v,
    pack_cost_eur_per_kwh,
)


def test_initial_losses_match_a_hand_calculation() -> None:
    h = AgeingHistory(annual_km=10_000.0, kwh_per_km=0.2, soc_parked=0.5, t_k=298.15, dod=0.3)
    q_cal, q_cyc = initial_losses([2.0], [50.0], h)
    # calendar: OCV at SOC 0.5 = 3.697 V (table); alpha = (7.543 V - 23.75) 1e6 exp(-6976/T)
    alpha = (7.543 * 3.697 - 23.75) * 1e6 * math.exp(-6976.0 / 298.15)
    assert q_cal[0] == pytest.approx(alpha * (2 * 365.25) ** 0.75, rel=1e-12)
    assert 0.01 < q_cal[0] < 0.05  # a few % after two years at 25 °C
    # cycle: 2 years x 2000 kWh out and back in a 50 kWh pack = 160 full cycles x 2 x 2.05 Ah
    ah = 2 * 2 * 2000.0 / 50.0 * 2.05
    beta = 7.348e-3 * (3.7 - 3.667) ** 2 + 7.6e-4 + 4.081e-3 * 0.3
    assert q_cyc[0] == pytest.approx(beta * math.sqrt(ah), rel=1e-12)


def test_new_car_starts_at_the_fmu_floor_and_losses_grow_with_age() -> None:
    q_cal, q_cyc = initial_losses([0.0, 1.0, 4.0], [40.0] * 3, AgeingHistory())
    assert q_cal[0] == q_cyc[0] == 1e-4
    assert np.all(np.diff(q_cal) > 0) and np.all(np.diff(q_cyc) > 0)
    assert ocv_cell_v(0.05) == pytest.approx((3.331 + 3.491) / 2)
    with pytest.raises(ScenarioError, match="age_years"):
        initial_losses([-1.0], [40.0], AgeingHistory())


def test_degradation_cost_is_loss_times_capacity_times_price() -> None:
    eur_per_kwh = pack_cost_eur_per_kwh(115.0, 1.0824)
    assert eur_per_kwh == pytest.approx(106.245, abs=1e-3)
    cost = degradation_cost_eur([2e-4, 0.0], [52.0, 30.0], eur_per_kwh)
    assert cost == pytest.approx([2e-4 * 52.0 * 115.0 / 1.0824, 0.0])
    with pytest.raises(ScenarioError):
        pack_cost_eur_per_kwh(115.0, 0.0)


def test_marginal_cycle_wear_by_hand_and_scaling() -> None:
    # beta at V_rms 3.7 V, DOD 0.3; dq/dAh = beta^2/(2 q); Q_cell 2.05 Ah per (kWh / C) x C x price
    beta = 7.348e-3 * (3.7 - 3.667) ** 2 + 7.6e-4 + 4.081e-3 * 0.3
    got = marginal_cycle_wear_eur_per_kwh([0.02, 0.04], pack_eur_per_kwh=100.0)
    np.testing.assert_allclose(got, beta**2 / (2 * np.array([0.02, 0.04])) * 2.05 * 100.0)
    assert got[0] == pytest.approx(2 * got[1])  # ∝ 1/q_cyc
    # equals the slope of the closed form q = beta sqrt(Ah) at the same loss: beta / (2 sqrt(Ah))
    ah = (0.02 / beta) ** 2
    assert got[0] == pytest.approx(beta / (2 * math.sqrt(ah)) * 2.05 * 100.0, rel=1e-12)
    # throughput counted at a higher cell voltage moves fewer Ah per kWh
    hi = marginal_cycle_wear_eur_per_kwh([0.02], pack_eur_per_kwh=100.0, v_cell_v=4.0)
    assert hi[0] == pytest.approx(got[0] * OCV_MEAN_CELL_V / 4.0)
    with pytest.raises(ScenarioError, match="q_cyc"):
        marginal_cycle_wear_eur_per_kwh([0.0])


def test_marginal_cycle_wear_against_a_battery_fmu_run() -> None:
    """15 min of 11 kW out of the Battery FMU at q_cyc 0.03 (V_rms proxy held): the cost of its
    Δq_cyc equals Σ over 1 s steps of the marginal wear at the FMU's DOD proxy × the kWh moved
    at the cells' OCV (the chemical energy), less the model's 1 mA rounding of |I| (i_eps_a)."""
    from v2xcosim.fmu.build import build_one
    from v2xcosim.fmu.runtime import run_fmu

    q0, n_s, n_p, price = 0.03, 96, 80, 100.0
    start = {"soc_start": 0.5, "t_amb_k": 298.15, "solver.rtol": 1e-9, "n_fec_vrms": 1e9}
    start |= {"v_rms_start_v": 3.7, "dod_start": 0.3, "q_cyc_start": q0}
    expected_eur = 0.0
    with run_fmu(build_one("Battery").path) as r:
        r.initialize(start)
        r.set(["p_dc_w"], [-11_000.0])
        e0, i0, dod0 = r.get(["e_chem_j", "i_pack_a", "dod"])
        for _ in range(900):
            r.set(["p_dc_w"], [-11_000.0])  # discharge: the throughput counts |I|
            r.do_step(1.0)
            e1, i1, dod1, q = r.get(["e_chem_j", "i_pack_a", "dod", "q_cyc"])
            ah_cell = abs(i0 + i1) / 2.0 / 3600.0 / n_p
            e_kwh = abs(e1 - e0) / 3.6e6
            v_cell = e_kwh * 1000.0 / (n_s * n_p * ah_cell)
            gamma = marginal_cycle_wear_eur_per_kwh(
                [q], dod=(dod0 + dod1) / 2, pack_eur_per_kwh=price, v_cell_v=v_cell
            )
            i_cell = abs(i0 + i1) / 2.0 / n_p
            rounding = (math.hypot(i_cell, 1e-3) - 1e-3) / i_cell  # the model's smooth |I|
            expected_eur += float(gamma[0]) * e_kwh * rounding
            e0, i0, dod0 = e1, i1, dod1
        (v_rms,) = r.get(["v_rms_v"])
    assert v_rms == pytest.approx(3.7, rel=1e-9)
    cap_kwh = n_s * n_p * Q_CELL_AH * OCV_MEAN_CELL_V / 1000.0  # the FMU's nominal energy
    fmu_eur = (q - q0) * cap_kwh * price
    assert q - q0 > 1e-6  # the law was exercised
    assert fmu_eur == pytest.approx(expected_eur, rel=2e-5)


def test_band_cycling_proxies_by_hand() -> None:
    # within one segment of the OCV table (SOC 0.5..0.6: 3.697..3.775 V) the OCV is linear:
    # RMS of a linear a..b is sqrt((a² + ab + b²) / 3)
    a, b = 3.697, 3.775
    v_rms, dod = band_cycling_proxies(0.5, 0.6)
    assert v_rms == pytest.approx(math.sqrt((a * a + a * b + b * b) / 3.0), rel=1e-9)
    assert dod == pytest.approx(0.1)
    v_point, dod_point = band_cycling_proxies(0.5, 0.5)
    assert v_point == pytest.approx(3.697) and dod_point == 0.0
    v_wide, _ = band_cycling_proxies(0.3, 0.9)
    assert 3.627 < v_wide < 4.073
    with pytest.raises(ScenarioError, match="soc_lo"):
        band_cycling_proxies(0.6, 0.5)
