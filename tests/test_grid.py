from __future__ import annotations

from typing import Any, cast

import numpy as np
import pytest

from v2xcosim.config.grid import GridSpec, PvSpec
from v2xcosim.core.errors import SimulationError
from v2xcosim.grid.limits import check_limits
from v2xcosim.grid.networks import bus_names, element_names
from v2xcosim.grid.powerflow import GridModel, GridResult, LoadFlowError, SiteConnection

PV = [PvSpec(bus="Bus R11", p_peak_kw=30.0, profile="pv", cos_phi=0.9)]
SITE = SiteConnection("s", ["Bus R11", "Bus R15", "Bus R11"])


def model(**kw: Any) -> GridModel:
    return GridModel(GridSpec(pv=PV, **kw), [SITE])


def balance(m: GridModel, res: GridResult) -> float:
    inj = m.injections_w()
    p_slack_w, p_loss_w = cast(float, res.p_slack_w), cast(float, res.p_loss_w)
    return p_slack_w - (inj["load_w"] + inj["ev_w"] - inj["pv_w"] + p_loss_w)


def test_networks_have_unique_named_elements() -> None:
    names = element_names("cigre_lv")
    assert "Bus R11" in bus_names("cigre_lv") and len(names["trafo"]) == 3


def test_step_power_balance_and_sign_convention() -> None:
    m = model()
    ev = {"s": np.array([11000.0, 7000.0, 11000.0])}
    res = m.step(0, 0, load_pu=0.5, pv_pu=[0.8], ev_p_w=ev, ev_q_var={"s": np.zeros(3)})
    assert res.converged
    assert abs(balance(m, res)) < 1.0  # W, within the power-flow tolerance (1e-8 MVA = 0.01 W)
    assert m.injections_w()["ev_w"] == pytest.approx(29000.0)
    base = m.step(1, 300, load_pu=0.5, pv_pu=[0.8], ev_p_w={}, ev_q_var={})
    assert cast(float, res.p_slack_w) - cast(float, base.p_slack_w) == pytest.approx(
        29000.0, rel=0.05
    )  # + = import
    assert res.site_vm_pu["s"][0] == res.vm_pu[bus_names("cigre_lv").index("Bus R11")]
    # PV with cos_phi 0.9 absorbs reactive power: the sgen q is negative (generator sign)
    assert m.net.sgen["q_mvar"].iloc[0] < 0


def test_reverse_flow_is_negative() -> None:
    m = GridModel(GridSpec(pv=[PvSpec(bus="Bus R11", p_peak_kw=400.0, profile="pv")]), [])
    res = m.step(0, 0, load_pu=0.0, pv_pu=[1.0], ev_p_w={}, ev_q_var={})
    assert res.converged and cast(float, res.p_slack_w) < 0


def test_nonconvergence_flagged_without_stale_numbers() -> None:
    m = model(on_nonconvergence="flag", max_iteration=10)
    ok = m.step(0, 0, load_pu=1.0, pv_pu=[0.0], ev_p_w={}, ev_q_var={})
    bad = m.step(1, 300, load_pu=200.0, pv_pu=[0.0], ev_p_w={}, ev_q_var={})
    assert ok.converged and not bad.converged
    assert bad.p_slack_w is None and all(v is None for v in bad.vm_pu)
    assert all(v is None for v in bad.site_vm_pu["s"])
    again = m.step(2, 600, load_pu=1.0, pv_pu=[0.0], ev_p_w={}, ev_q_var={})
    assert again.converged and again.p_slack_w == pytest.approx(ok.p_slack_w, rel=1e-9)


def test_nonconvergence_aborts_by_default() -> None:
    m = model(max_iteration=10)
    with pytest.raises(LoadFlowError, match="step 3") as err:
        m.step(3, 900, load_pu=200.0, pv_pu=[0.0], ev_p_w={}, ev_q_var={})
    assert err.value.time_s == 900


def test_non_finite_inputs_named() -> None:
    m = model()
    with pytest.raises(SimulationError, match=r"site s p_w\[1\]"):
        m.step(0, 0, load_pu=1.0, pv_pu=[0.0], ev_p_w={"s": [0.0, np.nan, 0.0]}, ev_q_var={})
    with pytest.raises(SimulationError, match="pv_pu"):
        m.step(0, 0, load_pu=1.0, pv_pu=[np.inf], ev_p_w={}, ev_q_var={})


def test_fresh_networks_give_identical_results() -> None:
    kw: dict[str, Any] = dict(load_pu=0.7, pv_pu=[0.3], ev_p_w={"s": [3e3, 4e3, 5e3]}, ev_q_var={})
    a = model().step(0, 0, **kw)
    b = model().step(0, 0, **kw)
    assert a == b


def test_limit_checks() -> None:
    vm = np.array([[1.0, 0.85], [np.nan, 1.12]])
    rep = check_limits(
        vm,
        np.array([[50.0, 120.0]]),
        np.array([[101.0]]),
        v_min_pu=0.9,
        v_max_pu=1.1,
        max_line_loading_percent=100,
        max_trafo_loading_percent=100,
    )
    assert (rep.voltage_violations, rep.line_overloads, rep.trafo_overloads) == (2, 1, 1)
    assert rep.vm_min_pu == 0.85 and rep.vm_max_pu == 1.12
