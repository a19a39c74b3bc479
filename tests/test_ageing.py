"""Initial capacity losses (Schmalstieg laws) and the price of a capacity loss."""

import math

import numpy as np
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.ageing import (
    AgeingHistory,
    degradation_cost_eur,
    initial_losses,
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
