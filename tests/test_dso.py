import datetime as dt
from typing import Any

import numpy as np
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.dso import Dso, ForecastConfig, ZoneModel

T0 = dt.datetime(2024, 5, 12, 8, 0, tzinfo=dt.UTC)
STARTS = [T0 + dt.timedelta(minutes=15 * k) for k in range(8)]
LOAD = np.full(8, 0.4)
PV = np.array([0.1, 0.5, 0.8, 0.8, 0.8, 0.8, 0.8, 0.2])


def zone(**kw: float) -> ZoneModel:
    base: dict[str, Any] = dict(
        zone="primary",
        load_nom_w=20e6,
        pv_peak_w=20e6,
        vm0_pu=1.0,
        dvdp_pu_per_w=-2e-9,
        export_limit_w=5e6,
        import_limit_w=15e6,
        vm_max_pu=1.05,
        price_cap_eur_per_mwh=200,
    )
    base.update(kw)
    return ZoneModel(**base)


def test_perfect_forecast_and_requests() -> None:
    d = Dso("dso", [zone()], ForecastConfig(), seed=1, max_window_intervals=4, stream="terni/dso")
    (fc,) = d.forecast(T0, STARTS, LOAD, PV)
    assert fc.p_net_w[2] == pytest.approx(8e6 - 16e6)
    assert fc.vm_max_pu[2] == pytest.approx(1.0 + 2e-9 * 8e6)
    need = d.needs_w(fc)
    assert need[2] == pytest.approx(3e6) and need[0] == 0
    reqs = d.requests([fc], T0)
    got: list[tuple[dt.datetime, dt.datetime, object]] = [
        (r.start_utc, r.end_utc, r.p_mw) for r in reqs
    ]
    assert got == [
        (STARTS[2], STARTS[6], pytest.approx(3.0)),
        (STARTS[6], STARTS[7], pytest.approx(3.0)),
    ]


def test_voltage_driven_and_down_requests() -> None:
    zones = [zone(export_limit_w=1e9, vm_max_pu=1.01)]
    d = Dso("dso", zones, ForecastConfig(), seed=1, stream="terni/dso")
    (fc,) = d.forecast(T0, STARTS, LOAD, PV)
    assert d.needs_w(fc)[2] == pytest.approx((0.016 - 0.01) / 2e-9)
    d2 = Dso("dso", [zone(import_limit_w=5e6)], ForecastConfig(), seed=1, stream="terni/dso")
    (fc2,) = d2.forecast(T0, STARTS, LOAD, np.zeros(8))
    reqs = d2.requests([fc2], T0)
    assert reqs[0].p_mw == pytest.approx(-3.0)


def test_forecast_error_is_seeded() -> None:
    cfg = ForecastConfig(load_error_std=0.1, pv_error_std=0.2)
    a = Dso("dso", [zone()], cfg, seed=5, stream="terni/dso").forecast(T0, STARTS, LOAD, PV)[0]
    b = Dso("dso", [zone()], cfg, seed=5, stream="terni/dso").forecast(T0, STARTS, LOAD, PV)[0]
    c = Dso("dso", [zone()], cfg, seed=6, stream="terni/dso").forecast(T0, STARTS, LOAD, PV)[0]
    exact_dso = Dso("dso", [zone()], ForecastConfig(), seed=5, stream="terni/dso")
    exact = exact_dso.forecast(T0, STARTS, LOAD, PV)[0]
    assert a.p_net_w == b.p_net_w and a.p_net_w != c.p_net_w and a.p_net_w != exact.p_net_w
    with pytest.raises(ScenarioError):
        ZoneModel(zone="z", load_nom_w=1, pv_peak_w=1, dvdp_pu_per_w=1e-9)
