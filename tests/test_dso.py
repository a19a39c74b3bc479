"""The DSO's own forecast and constraint-driven requests, against hand calculations."""

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence

import numpy as np
import pytest
from pydantic import ValidationError

from v2xcosim.config.actors import DsoSpec, DsoZoneSpec
from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import (
    BaselineDeclaration,
    FlexibilityOffer,
    FlexibilityRequest,
    MeterData,
)
from v2xcosim.domain.dso import (
    Dso,
    ForecastConfig,
    Product,
    RequestConfig,
    VoltageModel,
    ZoneLimits,
    kasten_czeplak_factor,
)
from v2xcosim.domain.lfmp import MarketSession, settle
from v2xcosim.domain.zones import ZoneSeries

T0 = dt.datetime(2024, 5, 12, 8, 0, tzinfo=dt.UTC)
N = 8
STARTS = [T0 + dt.timedelta(minutes=15 * k) for k in range(N)]
EXACT = ForecastConfig(cloud_error_std_oktas_0h=0.0, cloud_error_std_oktas_24h=0.0)
KC4 = 1.0 - 0.75 * 0.5**3.4
"""Kasten–Czeplak factor at 4 oktas, by hand: 1 − 0.75·(4/8)^3.4."""


def series(
    zone: str = "primary",
    *,
    load_ref_w: float = 2e6,
    pv_clear_w: Sequence[float] | None = None,
    oktas: float = 0.0,
    gen_w: float = 0.0,
) -> ZoneSeries:
    pv = np.array(pv_clear_w if pv_clear_w is not None else [0, 4, 10, 10, 10, 10, 4, 0]) * 1e6
    pv = pv if zone == "primary" else pv * 1e-6 * 50e3  # a feeder: the same shape in kW
    n = len(pv)
    return ZoneSeries(
        zone=zone,
        interval_s=900,
        load_w=np.full(n, 9e9),  # realised values the DSO must never read
        load_reference_w=np.full(n, load_ref_w),
        pv_w=np.full(n, 7e9),
        pv_clearsky_w=pv,
        cloud_oktas=np.full(n, oktas),
        gen_w=np.full(n, gen_w),
    )


def dso(
    zones: list[tuple[ZoneSeries, ZoneLimits]],
    cfg: ForecastConfig = EXACT,
    *,
    margin: float = 0.1,
    seed: int = 1,
    parent: dict[str, str] | None = None,
) -> Dso:
    return Dso(
        "dso",
        zones,
        cfg,
        seed=seed,
        stream="test/dso",
        requests=RequestConfig(margin=margin),
        zone_parent=parent,
    )


def test_forecast_is_similar_day_load_minus_clear_sky_pv_times_kasten_czeplak() -> None:
    d = dso([(series(oktas=4.0, gen_w=1e6), ZoneLimits("primary"))])
    (fc,) = d.forecast(T0, 0, STARTS)
    # interval 2: 2 MW − 10 MW × KC(4) − 1 MW
    assert fc.p_net_w[2] == pytest.approx(2e6 - 10e6 * KC4 - 1e6)
    assert kasten_czeplak_factor(np.array([0.0, 8.0])) == pytest.approx([1.0, 0.25])


def test_no_request_when_no_limit_is_violated() -> None:
    # forecast reverse flow peaks at 8 MW; the zone tolerates 10 MW and imports 2 MW at most
    lim = ZoneLimits("primary", reverse_flow_limit_w=10e6, import_limit_w=3e6)
    d = dso([(series(), lim)])
    fcs = d.forecast(T0, 0, STARTS)
    assert min(fcs[0].p_net_w) == pytest.approx(-8e6)
    assert d.requests(fcs, T0) == []
    assert d.log.reverse_flow_mwh["primary"] == pytest.approx((2 + 8 * 4 + 2) * 0.25)


def test_request_is_the_exceedance_plus_margin() -> None:
    d = dso([(series(), ZoneLimits("primary", reverse_flow_limit_w=5e6))], margin=0.1)
    reqs = d.requests(d.forecast(T0, 0, STARTS), T0)
    # intervals 2..5: reverse flow 8 MW, 3 MW over the limit, × 1.1 = 3.3 MW for one hour
    ((start, end, p_mw),) = [(r.start_utc, r.end_utc, r.p_mw) for r in reqs]
    assert (start, end) == (STARTS[2], STARTS[6]) and p_mw == pytest.approx(3.3)
    assert reqs[0].price_cap_eur_per_mwh == Product().activation_price_eur_per_mwh
    assert reqs[0].availability_price_eur_per_mw_h == Product().availability_price_eur_per_mw_h
    assert d.log.requested_mwh["primary"] == pytest.approx(3.3)


def test_import_limit_asks_to_consume_less() -> None:
    lim = ZoneLimits("primary", import_limit_w=1.5e6)
    d = dso([(series(pv_clear_w=[0] * N), lim)], margin=0.0)
    reqs = d.requests(d.forecast(T0, 0, STARTS), T0)
    assert [r.p_mw for r in reqs] == pytest.approx([-0.5, -0.5])  # 2 windows of 4 intervals


def test_requests_never_exceed_the_forecast_reverse_flow_energy() -> None:
    # a ramp of reverse flow 1, 2, 3, 4 MW with no export tolerated and a 100 % margin:
    # every need is capped at the reverse flow itself, and no window asks its largest need
    # over intervals that need less
    pv = [3, 4, 5, 6, 0, 0, 0, 0]
    d = dso([(series(pv_clear_w=pv), ZoneLimits("primary", reverse_flow_limit_w=0.0))], margin=1)
    fcs = d.forecast(T0, 0, STARTS)
    reqs = d.requests(fcs, T0)
    asked = sum(r.energy_mwh for r in reqs)
    rf = d.log.reverse_flow_mwh["primary"]
    assert rf == pytest.approx((1 + 2 + 3 + 4) * 0.25)
    assert asked == pytest.approx(rf) and asked <= rf + 1e-12
    assert [r.p_mw for r in reqs] == pytest.approx([1, 2, 3, 4])


def test_similar_needs_merge_within_the_tolerance() -> None:
    pv = [10.2, 10.3, 10.4, 10.1, 0, 0, 0, 0]  # reverse flow 8.1–8.4 MW: needs within 10 %
    d = dso([(series(pv_clear_w=pv), ZoneLimits("primary", reverse_flow_limit_w=5e6))], margin=0)
    reqs = d.requests(d.forecast(T0, 0, STARTS), T0)
    assert len(reqs) == 1 and reqs[0].p_mw == pytest.approx(3.4)
    assert reqs[0].end_utc == STARTS[4]


def test_voltage_driven_request_from_sensitivities() -> None:
    # feeder voltage: vm = 1.0 + (−2e-7)·p_feeder + (−1e-8)·p_primary
    vm = VoltageModel(1.0, {"feeder/A": -2e-7, "primary": -1e-8}, vm_max_pu=1.08)
    feeder = series("feeder/A", load_ref_w=200e3)  # pv peak 500 kW → p = −300 kW
    primary = series()  # p = −8 MW at the peak
    d = dso(
        [(primary, ZoneLimits("primary")), (feeder, ZoneLimits("feeder/A", voltage=vm))],
        parent={"feeder/A": "primary"},
    )
    fcs = d.forecast(T0, 0, STARTS)
    fa = next(f for f in fcs if f.zone == "feeder/A")
    # hand calculation at interval 2: 1 + 2e-7·3e5 + 1e-8·8e6 = 1.14 pu
    assert fa.vm_max_pu[2] == pytest.approx(1.14)
    assert d.flex_sensitivity_pu_per_w("feeder/A") == pytest.approx(-2.1e-7)
    reqs = d.requests(fcs, T0)
    # (1.14 − 1.08) / 2.1e-7 = 285.7 kW × 1.1 = 314.3 kW, capped at the 300 kW reverse flow
    assert all(r.zone == "feeder/A" for r in reqs)
    assert reqs[0].p_mw == pytest.approx(0.3)
    # interval 1 (pv 200 kW, p = 0): no reverse flow, nothing to relieve
    assert reqs[0].start_utc == STARTS[2]
    vm2 = dataclasses.replace(vm, vm_max_pu=1.12)
    d2 = dso(
        [(primary, ZoneLimits("primary")), (feeder, ZoneLimits("feeder/A", voltage=vm2))],
        parent={"feeder/A": "primary"},
    )
    r2 = d2.requests(d2.forecast(T0, 0, STARTS), T0)
    assert r2[0].p_mw == pytest.approx((1.14 - 1.12) / 2.1e-7 * 1.1 / 1e6)
    # a stated sensitivity at the providers' connection point replaces the zone chain's
    vm3 = dataclasses.replace(vm, vm_max_pu=1.12, flex_pu_per_w=-4e-7)
    d3 = dso(
        [(primary, ZoneLimits("primary")), (feeder, ZoneLimits("feeder/A", voltage=vm3))],
        parent={"feeder/A": "primary"},
    )
    r3 = d3.requests(d3.forecast(T0, 0, STARTS), T0)
    assert r3[0].p_mw == pytest.approx((1.14 - 1.12) / 4e-7 * 1.1 / 1e6)


def test_forecast_never_reads_realised_pv_nor_load_without_a_metered_past() -> None:
    cfg = ForecastConfig()  # with cloud error
    s = series(oktas=3.0)
    other = dataclasses.replace(s, load_w=s.load_w * 0.1 + 5, pv_w=np.zeros(N))
    a = dso([(s, ZoneLimits("primary"))], cfg, seed=3).forecast(T0, 0, STARTS)[0]
    b = dso([(other, ZoneLimits("primary"))], cfg, seed=3).forecast(T0, 0, STARTS)[0]
    assert a.p_net_w == b.p_net_w
    ref = dataclasses.replace(s, load_reference_w=s.load_reference_w * 2)
    c = dso([(ref, ZoneLimits("primary"))], cfg, seed=3).forecast(T0, 0, STARTS)[0]
    assert c.p_net_w != a.p_net_w  # the forecast does read the similar-day load


def test_cloud_error_is_ar1_with_the_stated_autocorrelation_and_std() -> None:
    cfg = ForecastConfig(
        cloud_error_std_oktas_0h=1.0, cloud_error_std_oktas_24h=1.0, cloud_error_correlation_h=3
    )
    d = dso([(series(), ZoneLimits("primary"))], cfg, seed=11)
    e = d.cloud_error_oktas(np.zeros(40_000))
    phi = math.exp(-0.25 / 3.0)  # 15-min intervals, 3 h correlation time
    assert cfg.phi == pytest.approx(phi)
    assert np.corrcoef(e[:-1], e[1:])[0, 1] == pytest.approx(phi, abs=0.01)
    assert e.std() == pytest.approx(1.0, abs=0.05)


def test_cloud_error_std_grows_with_lead_time() -> None:
    cfg = ForecastConfig(cloud_error_std_oktas_0h=0.5, cloud_error_std_oktas_24h=2.0)
    got = cfg.error_std_oktas(np.array([0.0, 12.0, 24.0, 36.0]))
    assert got == pytest.approx([0.5, 1.25, 2.0, 2.0])
    d = dso([(series(), ZoneLimits("primary"))], cfg, seed=2)
    lead = np.repeat([1.0, 23.0], 20_000)
    e = d.cloud_error_oktas(lead)
    s1 = 0.5 + 1.5 / 24
    s23 = 0.5 + 1.5 * 23 / 24
    assert e[:20_000].std() == pytest.approx(s1, rel=0.05)
    assert e[20_000:].std() == pytest.approx(s23, rel=0.05)


def test_forecast_is_seeded_and_clouds_clipped() -> None:
    cfg = ForecastConfig(cloud_error_std_oktas_0h=3.0, cloud_error_std_oktas_24h=3.0)

    def run(seed: int) -> tuple[float, ...]:
        s = series(oktas=8.0)
        return dso([(s, ZoneLimits("primary"))], cfg, seed=seed).forecast(T0, 0, STARTS)[0].p_net_w

    assert run(5) == run(5) and run(5) != run(6)
    # 8 oktas + error, clipped to [0, 8]: PV never below a quarter of clear sky
    p = np.array(run(5))
    clear = series().pv_clearsky_w
    assert np.all(p <= 2e6 - 0.25 * clear + 1e-6)


def test_series_at_a_finer_step_are_averaged_per_interval() -> None:
    s = series()
    fine = ZoneSeries(
        zone="primary",
        interval_s=300,
        load_w=np.repeat(s.load_w, 3),
        load_reference_w=np.repeat(s.load_reference_w, 3),
        pv_w=np.repeat(s.pv_w, 3),
        pv_clearsky_w=np.repeat(s.pv_clearsky_w, 3),
        cloud_oktas=np.repeat(s.cloud_oktas, 3),
        gen_w=np.repeat(s.gen_w, 3),
    )
    a = dso([(s, ZoneLimits("primary"))]).forecast(T0, 2, STARTS[2:])[0]
    b = dso([(fine, ZoneLimits("primary"))]).forecast(T0, 2, STARTS[2:])[0]
    assert a.p_net_w == pytest.approx(b.p_net_w)
    with pytest.raises(ScenarioError, match="outside the horizon"):
        dso([(s, ZoneLimits("primary"))]).forecast(T0, 4, STARTS)


def test_lfmp_settles_availability_and_activation() -> None:
    t1 = T0 + dt.timedelta(minutes=30)
    ses = MarketSession("m1", gate_closure_utc=T0)
    ses.submit_request(
        FlexibilityRequest(
            request_id="dso/r1",
            dso_id="dso",
            zone="primary",
            submitted_utc=T0,
            start_utc=T0,
            end_utc=t1,
            p_mw=0.5,
            price_cap_eur_per_mwh=200.0,
            product="local-flex",
            availability_price_eur_per_mw_h=40.0,
        )
    )
    ses.submit_offer(
        FlexibilityOffer(
            offer_id="o1",
            provider_id="bess",
            zone="primary",
            submitted_utc=T0,
            start_utc=T0,
            end_utc=t1,
            p_mw=0.5,
            price_eur_per_mwh=60.0,
        )
    )
    (award,) = ses.clear().awards
    assert award.availability_price_eur_per_mw_h == 40.0
    starts = (T0, T0 + dt.timedelta(minutes=15))
    base = BaselineDeclaration(
        provider_id="bess",
        zone="primary",
        market_session_id="m1",
        interval_s=900,
        interval_start_utc=starts,
        p_w=(0.0, 0.0),
    )
    meter = MeterData(
        provider_id="bess", zone="primary", interval_s=900, interval_start_utc=starts,
        energy_kwh=(125.0, 50.0),
    )  # fmt: skip
    lines = settle([award], {("bess", "primary"): base}, {("bess", "primary"): meter})
    # availability 0.5 MW × 0.25 h × 40 = 5 EUR per interval, pro rata to delivery (1, 0.4);
    # activation 0.125 / 0.05 MWh × 60
    assert [ln.availability_eur for ln in lines] == pytest.approx([5.0, 2.0])
    assert [ln.paid_mwh for ln in lines] == pytest.approx([0.125, 0.05])
    assert [ln.amount_eur for ln in lines] == pytest.approx([12.5, 5.0])


def test_dso_spec_zones_old_keys_and_feeder_overrides() -> None:
    with pytest.raises(ValidationError, match="reverse_flow_limit_mw"):
        DsoSpec.model_validate({"export_limit_mw": 0.0})
    with pytest.raises(ValidationError, match="cloud_error_std_oktas"):
        DsoSpec.model_validate({"pv_error_std": 0.05})
    with pytest.raises(ValidationError, match=r"dso\.zones\.secondary/LV1: unknown zone"):
        DsoSpec.model_validate({"zones": {"secondary/LV1": {}}})
    spec = DsoSpec.model_validate(
        {
            "feeders": {"reverse_flow_limit_mw": 0.5, "vm_max_pu": 1.08},
            "zones": {"feeder/LV2": {"vm_max_pu": 1.05}, "primary": {"import_limit_mw": 20}},
        }
    )
    assert spec.zone("feeder/LV1") == DsoZoneSpec(reverse_flow_limit_mw=0.5, vm_max_pu=1.08)
    lv2 = spec.zone("feeder/LV2")
    assert (lv2.reverse_flow_limit_mw, lv2.vm_max_pu) == (0.5, 1.05)
    assert spec.zone("primary").import_limit_mw == 20 and spec.zone("primary").vm_max_pu is None


def test_bad_zone_inputs_are_refused() -> None:
    s = series()
    with pytest.raises(ScenarioError, match="unknown zones"):
        dso([(s, ZoneLimits("primary", voltage=VoltageModel(1.0, {"feeder/X": -1e-7})))])
    with pytest.raises(ScenarioError, match="flex_pu_per_w must be < 0"):
        VoltageModel(1.0, {"primary": 1e-9}, flex_pu_per_w=1e-9)
    with pytest.raises(ScenarioError, match="limits of"):
        dso([(s, ZoneLimits("feeder/A"))])


# ---------------------------------------------------------------- level correction
def metered(
    n_past: int, n_run: int, ref_w: float, ratio: float, *, future_w: float | None = None
) -> ZoneSeries:
    """A zone whose metered load is ``ratio`` × its reference, no PV; the realised load of the
    run's intervals from ``n_run // 2`` on is ``future_w`` when given (what a peeking DSO would
    see)."""
    load = np.full(n_run, ratio * ref_w)
    if future_w is not None:
        load[n_run // 2 :] = future_w
    return ZoneSeries(
        zone="primary",
        interval_s=900,
        load_w=load,
        load_reference_w=np.full(n_run, ref_w),
        pv_w=np.zeros(n_run),
        pv_clearsky_w=np.zeros(n_run),
        cloud_oktas=np.zeros(n_run),
        gen_w=np.zeros(n_run),
        load_past_w=np.full(n_past, ratio * ref_w),
        load_reference_past_w=np.full(n_past, ref_w),
    )


def starts(j0: int, n: int) -> list[dt.datetime]:
    return [T0 + dt.timedelta(minutes=15 * (j0 + k)) for k in range(n)]


def test_level_factor_scales_the_reference_by_metered_over_reference() -> None:
    # 24 h of metered past at 0.8 × the 2 MW reference: forecast = 0.8 × 2 MW = 1.6 MW
    s = metered(96, 8, 2e6, 0.8)
    d = dso([(s, ZoneLimits("primary"))])
    (fc,) = d.forecast(T0, 0, STARTS)
    assert fc.p_net_w == pytest.approx([1.6e6] * N)
    assert d.log.level_factor["primary"] == pytest.approx([0.8])
    # load_scale stays a further factor: 1.1 × 0.8 × 2 MW
    cfg = dataclasses.replace(EXACT, load_scale=1.1)
    (fc2,) = dso([(s, ZoneLimits("primary"))], cfg).forecast(T0, 0, STARTS)
    assert fc2.p_net_w == pytest.approx([1.1 * 1.6e6] * N)


def test_level_window_mixes_past_and_run_by_hand() -> None:
    # window 2 h = 8 intervals, issued at interval 4: 4 past intervals (ratio 0.5, ref 2 MW) and
    # run intervals 0..3 (realised 3 MW on a 2 MW reference): (4·1 + 4·3) / (8·2) = 1.0;
    # a shorter past (2 intervals) clips the window: (2·1 + 4·3) / (6·2) = 14/12
    def zone(n_past: int) -> ZoneSeries:
        return dataclasses.replace(
            metered(n_past, N, 2e6, 0.5), load_w=np.full(N, 3e6), zone="primary"
        )

    cfg = dataclasses.replace(EXACT, level_window_h=2.0)
    d = dso([(zone(4), ZoneLimits("primary"))], cfg)
    (fc,) = d.forecast(STARTS[4], 4, STARTS[4:])
    assert fc.p_net_w == pytest.approx([2e6] * 4)
    d2 = dso([(zone(2), ZoneLimits("primary"))], cfg)
    (fc2,) = d2.forecast(STARTS[4], 4, STARTS[4:])
    assert fc2.p_net_w == pytest.approx([2e6 * 14 / 12] * 4)


def test_level_correction_reads_nothing_at_or_after_the_issue_time() -> None:
    # issued at interval 4 (of 8): intervals 4.. are not metered yet; changing them (and the
    # realised PV) leaves the forecast as it is, changing interval 3 does not
    base = metered(96, N, 2e6, 0.8)
    changed = metered(96, N, 2e6, 0.8, future_w=9e9)
    changed = dataclasses.replace(changed, pv_w=np.full(N, 5e6))
    cfg = ForecastConfig()  # with cloud error: same seed, same draws
    issue = STARTS[4]
    a = dso([(base, ZoneLimits("primary"))], cfg, seed=4).forecast(issue, 4, STARTS[4:])[0]
    b = dso([(changed, ZoneLimits("primary"))], cfg, seed=4).forecast(issue, 4, STARTS[4:])[0]
    assert a.p_net_w == b.p_net_w
    last = base.load_w.copy()
    last[3] = 9e9
    c_zone = dataclasses.replace(base, load_w=last)
    c = dso([(c_zone, ZoneLimits("primary"))], cfg, seed=4).forecast(issue, 4, STARTS[4:])[0]
    assert c.p_net_w != a.p_net_w  # interval 3 ended at the issue: metered
    # an issue 10 min into interval 4 still cannot see interval 4 (not ended)
    late = issue + dt.timedelta(minutes=10)
    e = dso([(base, ZoneLimits("primary"))], EXACT).forecast(late, 4, STARTS[4:])[0]
    f = dso([(changed, ZoneLimits("primary"))], EXACT).forecast(late, 4, STARTS[4:])[0]
    assert e.p_net_w == f.p_net_w == pytest.approx([1.6e6] * 4)


def test_level_window_zero_is_the_similar_day_forecast() -> None:
    s = metered(96, N, 2e6, 0.8)
    off = dataclasses.replace(EXACT, level_window_h=0.0)
    (fc,) = dso([(s, ZoneLimits("primary"))], off).forecast(STARTS[4], 4, STARTS[4:])
    assert fc.p_net_w == pytest.approx([2e6] * 4)
    # no metered data at all (no past, issue at the start): factor 1 as well
    (fc0,) = dso([(series(pv_clear_w=[0] * N), ZoneLimits("primary"))]).forecast(T0, 0, STARTS)
    assert fc0.p_net_w == pytest.approx([2e6] * N)


def test_level_window_is_validated() -> None:
    for bad in (-1.0, 169.0, math.inf, math.nan):
        with pytest.raises(ScenarioError, match="level_window_h"):
            ForecastConfig(level_window_h=bad)
        with pytest.raises(ValidationError, match="level_window_h"):
            DsoSpec.model_validate({"level_window_h": bad})
    assert DsoSpec().level_window_h == ForecastConfig().level_window_h == 24.0
    with pytest.raises(ScenarioError, match="load_reference_past_w has shape"):
        dataclasses.replace(metered(4, N, 2e6, 1.0), load_past_w=np.zeros(3))


def test_load_bias_compares_the_forecast_in_force_with_the_realised_load() -> None:
    # reference 2 MW, realised 1.6 MW in the past and run: level-corrected forecast exact;
    # without the correction the forecast is 2 / 1.6 − 1 = 25 % high
    s = metered(96, N, 2e6, 0.8)
    d = dso([(s, ZoneLimits("primary"))])
    assert math.isnan(d.load_bias("primary"))
    d.forecast(T0, 0, STARTS)
    assert d.load_bias("primary") == pytest.approx(0.0, abs=1e-12)
    off = dso([(s, ZoneLimits("primary"))], dataclasses.replace(EXACT, level_window_h=0.0))
    off.forecast(STARTS[2], 2, STARTS[2:])
    assert off.load_bias("primary") == pytest.approx(0.25)
