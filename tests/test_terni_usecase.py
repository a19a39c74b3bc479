"""Terni V2G use case end to end: strategies, trace order, KPIs, determinism (short horizons)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shared_runs import SharedRuns
from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.trace import TRACE_COLUMNS
from v2xcosim.scenario import load_scenario, load_scenario_as, preflight, run
from v2xcosim.usecases.terni.schema import TerniScenario
from v2xcosim.usecases.terni.steps import TERNI_STEPS
from v2xcosim.usecases.terni.world import KPI_KEYS, LV_KPI_KEYS

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "terni_v2g.toml"
SHORT = [
    "time.start=2024-05-15T09:00:00+02:00",
    "time.duration_s=28800",  # 09:00-17:00 local, 32 steps of 900 s: the reverse-flow hours
    "time.step_s=900",
    "terni.connectors_per_site=2",
    "users.sessions_per_connector_per_day=1.5",
    "results.plots=false",
]
HIGH_SOC = [
    "users.soc_departure_min=0.85",
    "users.soc_departure_max=0.9",
    "users.energy_mean_kwh=0.5",  # arrive nearly at the wish: little room for charging
    # every car can discharge on AC (a pilot of V2G cars), so v2g has cars to discharge
    'users.fleet=[{name = "Renault ZOE R135", capacity_kwh = 52.0, p_ac_max_kw = 11.0, '
    "v2g_ac = true, share = 1.0}]",
    # the EMSP bears the cycle losses (users billed as without V2G): the tariff does not enter
    # the LP; kept at 0 so the money of these V2G mechanics runs stays the EMSP's alone
    "market.tariff_eur_per_kwh=0.0",
]
_CACHE: dict[tuple[str, ...], Path] = {}


def _run(tmp_root: Path, overrides: list[str]) -> Path:
    key = tuple(overrides)
    if key not in _CACHE:
        out = tmp_root / f"run{len(_CACHE)}"
        out.mkdir()
        spec = load_scenario(SCENARIO, overrides)
        res = run(spec, out)
        assert res.exit_code == 0
        _CACHE[key] = out
    return _CACHE[key]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("terni")


def kpis(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "kpis.json").read_text())
    return data


def test_scenario_defaults_to_v2g_and_set_works() -> None:
    assert load_scenario_as(SCENARIO, TerniScenario).control.strategy == "v2g"
    spec = load_scenario_as(SCENARIO, TerniScenario, ["control.strategy=smart"])
    assert spec.control.strategy == "smart"
    with pytest.raises(ScenarioError, match=r"control\.strategy"):
        load_scenario(SCENARIO, ["control.strategy=greedy"])
    with pytest.raises(ScenarioError, match="step_s"):
        load_scenario(SCENARIO, ["time.step_s=1200", "time.duration_s=86400"])


def test_v2g_trades_without_shortfall(root: Path) -> None:
    unc = kpis(_run(root, [*SHORT, "control.strategy=uncontrolled"]))
    v2g = kpis(_run(root, [*SHORT, "control.strategy=v2g"]))
    # (reverse-flow cuts are judged on the whole default day, test_default_day_*: in this
    # 09:00-17:00 window the LP defers charging of sessions that stay past 17:00 out of it)
    assert v2g["departure_soc_shortfall_kwh"] == 0.0
    assert unc["departure_soc_shortfall_kwh"] == 0.0
    assert v2g["sessions_completed"] > 0
    assert v2g["flex_requested_mwh"] > 0
    # the uncontrolled EMSP does not trade (the stationary battery still does)
    assert unc["flex_by_provider"]["emsp"]["delivered_mwh"] == 0.0
    assert unc["flex_by_provider"]["emsp"]["offers"] == 0
    assert v2g["flex_delivered_mwh"] > 0.0


def test_v2g_beats_smart_when_evs_arrive_full(root: Path) -> None:
    smart = kpis(_run(root, [*SHORT, *HIGH_SOC, "control.strategy=smart"]))
    v2g = kpis(_run(root, [*SHORT, *HIGH_SOC, "control.strategy=v2g"]))
    assert v2g["lv_reverse_flow_energy_mwh"] < smart["lv_reverse_flow_energy_mwh"]
    assert v2g["ev_energy_discharged_kwh"] > 0.0
    assert smart["ev_energy_discharged_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert v2g["departure_soc_shortfall_kwh"] == 0.0
    assert smart["departure_soc_shortfall_kwh"] == 0.0


def test_same_seed_same_users_in_all_strategies(root: Path) -> None:
    cols = [
        "session_id",
        "site",
        "arrival_s",
        "departure_s",
        "capacity_kwh",
        "soc_arrival",
        "soc_wish",
        "soc_min",
        "campaign",
    ]
    frames = [
        pd.read_parquet(_run(root, [*SHORT, f"control.strategy={s}"]) / "sessions.parquet")
        for s in ("uncontrolled", "v2g")
    ]
    frames.append(
        pd.read_parquet(
            _run(root, [*SHORT, *HIGH_SOC, "control.strategy=smart"]) / "sessions.parquet"
        )
    )
    pd.testing.assert_frame_equal(frames[0][cols], frames[1][cols])
    # the high-SOC variant changes SOCs only, never who comes when
    pd.testing.assert_frame_equal(
        frames[0][["session_id", "site", "arrival_s", "departure_s"]],
        frames[2][["session_id", "site", "arrival_s", "departure_s"]],
    )


def test_kpis_json_has_every_kpi(root: Path) -> None:
    out = _run(root, [*SHORT, "control.strategy=v2g"])
    k = kpis(out)
    missing = [key for key in KPI_KEYS if key not in k]
    assert not missing
    assert k["reverse_flow_energy_mwh"] >= 0 and k["reverse_flow_peak_mw"] >= 0
    assert 0.0 <= k["market_clearing_rate"] <= 1.0
    assert k["flex_delivered_mwh"] <= k["flex_requested_mwh"]
    for name in ("trace.parquet", "grid.parquet", "metadata.json", "sessions.parquet"):
        assert (out / name).is_file()


def test_trace_order_for_one_session(root: Path) -> None:
    # with the small battery the EMSP wins awards, so users earn incentives (J1-J5, S3)
    out = _run(root, [*SHORT, "control.strategy=v2g", SMALL_BATTERY])
    trace = pd.read_parquet(out / "trace.parquet")
    assert list(trace.columns) == list(TRACE_COLUMNS)
    assert set(trace["step"]) <= set(TERNI_STEPS)
    assert (trace["use_case"] == "terni").all()
    assert trace["t_s"].is_monotonic_increasing
    ses = pd.read_parquet(out / "sessions.parquet")

    def first_steps(sid: str) -> dict[str, int]:
        steps = trace[trace["info"].str.contains(sid, regex=False)]["step"].tolist()
        return {s: steps.index(s) for s in dict.fromkeys(steps)}

    done = ses[ses["status"] == "completed"]
    assert len(done) > 0
    main = [str(i) for i in range(1, 14)]
    for sid in done["session_id"]:
        first = first_steps(sid)
        assert all(s in first for s in main), (sid, first)
        assert [first[s] for s in main] == sorted(first[s] for s in main)
    paid = ses[ses["incentive_eur"] > 0]
    assert len(paid) > 0
    for row in paid.itertuples():
        first = first_steps(str(row.session_id))
        join = ["J1", "J2", "J3", "J5", "S3"]
        assert all(s in first for s in join), first
        assert [first[s] for s in join] == sorted(first[s] for s in join)
        assert first["6"] < first["J1"]
        if row.status == "completed":
            assert first["S3"] < first["11"] < first["12"]
    # M2 carries the order book message, never a bare container
    assert set(trace.loc[trace["step"] == "M2", "payload_type"]) == {"OrderBook"}
    assert not set(trace["payload_type"]) & {"tuple", "list", "dict"}
    # market-level order: the request precedes the offer, gate closure and the award
    steps_all = trace["step"].tolist()
    m3 = steps_all.index("M3")
    before = steps_all[:m3]
    assert before.index("D1") < before.index("D2") < before.index("J4") < len(before)
    assert before[::-1].index("M1") < before[::-1].index("J4")  # gate closure after the offer
    assert m3 < steps_all.index("S1") < steps_all.index("S2") < steps_all.index("S4")


def test_determinism_same_seed(root: Path, tmp_path: Path) -> None:
    ref = _run(root, [*SHORT, "control.strategy=v2g"])
    out = tmp_path / "again"
    out.mkdir()
    run(load_scenario(SCENARIO, [*SHORT, "control.strategy=v2g"]), out)
    pd.testing.assert_frame_equal(
        pd.read_parquet(ref / "trace.parquet"), pd.read_parquet(out / "trace.parquet")
    )
    assert kpis(ref) == kpis(out)


SMALL_BATTERY = (
    'market.providers=[{provider_id = "bess_1", kind = "battery", zone = "primary", '
    'bus = "MV3.101 Bus 13", capacity_kwh = 100.0, p_max_kw = 50.0, soc_initial = 0.1, '
    "soc_min = 0.1, soc_max = 0.9, eta = 0.93, price_eur_per_mwh = 55.0}]"
)


def test_battery_and_emsp_share_the_merit_order(root: Path) -> None:
    # a 50 kW battery: the requests (0.1-0.5 MW) need the EMSP's offers too
    out = _run(root, [*SHORT, "control.strategy=v2g", SMALL_BATTERY])
    k = kpis(out)
    by = k["flex_by_provider"]
    assert set(by) == {"emsp", "bess_1"}
    assert by["bess_1"]["awards"] > 0 and by["emsp"]["awards"] > 0
    # the clearing rate counts both providers' matched energy
    assert k["flex_matched_mwh"] == pytest.approx(sum(p["matched_mwh"] for p in by.values()))
    assert k["market_clearing_rate"] == pytest.approx(
        k["flex_matched_mwh"] / k["flex_requested_mwh"]
    )
    awards = pd.read_parquet(out / "terni_awards.parquet")
    awards["n"] = awards["award_id"].str.rsplit("/a", n=1).str[1].astype(int)
    shared = 0
    for _, grp in awards.groupby("request_id"):
        grp = grp.sort_values("n")
        assert grp["price_eur_per_mwh"].is_monotonic_increasing  # cheaper first
        shared += grp["provider_id"].nunique() == 2
    assert shared > 0  # some request is served by both providers in price order
    # the battery's exchanges are in the trace with the battery as sender / receiver
    trace = pd.read_parquet(out / "trace.parquet")
    sent = set(trace.loc[trace["sender"] == "bess_1", "step"])
    got = set(trace.loc[trace["receiver"] == "bess_1", "step"])
    assert {"J4", "M1", "S1"} <= sent and {"M3", "M4", "S2"} <= got
    # settlement pays delivered vs promised (clip to [0, promised]) at the bid price
    st = pd.read_parquet(out / "settlement.parquet")
    bess = st[st["provider_id"] == "bess_1"]
    assert len(bess) > 0
    expect = bess["delivered_mwh"].clip(lower=0.0).combine(bess["promised_mwh"], min)
    assert bess["paid_mwh"].to_numpy() == pytest.approx(expect.to_numpy())
    # activation at the bid price plus availability on the awarded MW × hours delivered
    price = awards.set_index("award_id")["availability_price_eur_per_mw_h"]
    avail = bess["paid_mwh"] * bess["award_id"].map(price)  # pro rata to delivery
    assert (price > 0).all()
    assert bess["availability_eur"].to_numpy() == pytest.approx(avail.to_numpy())
    assert bess["amount_eur"].to_numpy() == pytest.approx(
        (bess["paid_mwh"] * bess["price_eur_per_mwh"] + avail).to_numpy()
    )
    # the scheduled battery re-plans at each opening; it keeps its awards up to a few per cent
    # (a plan made later may find the SOC band tighter than the one the offer was sized on)
    assert bess["paid_mwh"].sum() >= 0.95 * bess["promised_mwh"].sum()
    assert by["bess_1"]["delivered_mwh"] == pytest.approx(bess["paid_mwh"].sum())
    # its metered energy is what its SOC did (1 MWh, 93 % one way, SOC 0.1 at the start):
    # up-flexibility may come from charging or from a planned discharge left out, so the
    # balance, not the charged energy alone, is checked
    b = by["bess_1"]
    stored_kwh = 0.93 * b["energy_charged_kwh"] - b["energy_discharged_kwh"] / 0.93
    assert stored_kwh == pytest.approx(100.0 * (b["soc_end"] - 0.1), abs=1e-3)


def test_v2g_discharges_only_into_forecast_import(root: Path) -> None:
    # 14:00-22:00: the evening, when the primary and the feeders import again, is in the window
    evening = [o for o in SHORT if not o.startswith("time.start=")]
    evening.append("time.start=2024-05-15T14:00:00+02:00")
    out = _run(root, [*evening, *HIGH_SOC, "control.strategy=v2g"])
    steps = pd.read_parquet(out / "terni_steps.parquet")
    grid = pd.read_parquet(out / "grid.parquet")
    margin_w = load_scenario_as(SCENARIO, TerniScenario).control.discharge_min_import_mw * 1e6
    dis = steps["ev_discharge_w"].to_numpy() > 1.0
    assert dis.any()  # not vacuous: the EVs arrive full and do discharge
    fc = steps["forecast_p_net_w"].to_numpy()
    assert (fc[dis] > margin_w).all()  # never into forecast (or marginal) reverse flow
    assert (grid["p_slack_w"].to_numpy()[dis] > 0).all()  # nor into measured reverse flow
    assert not (steps["charge_window"] & steps["discharge_window"]).any()


def test_cli_compare_prints_both_strategies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from v2xcosim.cli import main

    out = tmp_path / "cmp"
    tiny = [
        "time.start=2024-05-15T10:00:00+02:00",
        "time.duration_s=7200",
        "terni.connectors_per_site=2",
        "results.plots=false",
    ]
    argv = ["run", str(SCENARIO), "--out", str(out), "--compare", "uncontrolled", "--no-progress"]
    for o in tiny:
        argv += ["--set", o]
    assert main(argv) == 0
    text = capsys.readouterr().out
    ref = tmp_path / "cmp-uncontrolled"
    assert kpis(out)["strategy"] == "v2g" and kpis(ref)["strategy"] == "uncontrolled"
    assert "comparison (uncontrolled → v2g)" in text
    table = text.split("comparison (uncontrolled → v2g):", 1)[1]
    head = next(ln for ln in table.splitlines() if ln.startswith("KPI"))
    assert head.split()[1:3] == ["uncontrolled", "v2g"]
    row = next(ln for ln in table.splitlines() if ln.startswith("reverse_flow_energy_mwh"))
    values = [float(x) for x in row.split()[1:3]]
    assert values == pytest.approx(
        [kpis(ref)["reverse_flow_energy_mwh"], kpis(out)["reverse_flow_energy_mwh"]], rel=1e-3
    )


def test_base_case_runs_the_same_day_without_evs(root: Path) -> None:
    base = kpis(_run(root, [*SHORT, "base_case=true"]))
    unc = kpis(_run(root, [*SHORT, "control.strategy=uncontrolled"]))
    assert base["ev_energy_charged_kwh"] == 0.0 and base["ev_energy_discharged_kwh"] == 0.0
    assert base["sessions_completed"] == 0 and base["user_revenue_eur"] == 0.0
    # the grid sees the same PV and loads: EV charging in the PV hours lowers the reverse flow
    assert unc["ev_energy_charged_kwh"] > 0.0
    assert base["reverse_flow_energy_mwh"] > unc["reverse_flow_energy_mwh"]


SITES = {"cs_piazza_tacito", "cs_corso_vecchio", "cs_piazza_europa"}


def test_lv_site_kpis_match_the_grid_table(root: Path) -> None:
    from v2xcosim.usecases.terni.wiring import terni_setup

    out = _run(root, [*SHORT, "control.strategy=v2g"])
    setup = terni_setup(load_scenario_as(SCENARIO, TerniScenario, [*SHORT, "control.strategy=v2g"]))
    k = kpis(out)
    assert not [key for key in LV_KPI_KEYS if key not in k]
    lv = k["lv_sites"]
    assert set(lv) == SITES
    dt_h = 900 / 3600.0
    reverse_sum = np.zeros(32)
    for site, v in lv.items():
        assert {"reverse_flow_energy_mwh", "vm_max_pu", "vm_min_pu"} <= set(v)
        table = pd.read_parquet(out / f"site_{site}.parquet")
        p = table["p_lv_trafo_w"].to_numpy()
        reverse = np.clip(-p, 0.0, None)
        reverse_sum += reverse
        # energy of the per-step transformer power (+ = LV imports) equals the per-site KPI
        assert v["reverse_flow_energy_mwh"] == pytest.approx(reverse.sum() * dt_h / 1e6)
        assert v["import_energy_mwh"] == pytest.approx(np.clip(p, 0, None).sum() * dt_h / 1e6)
        assert v["reverse_flow_energy_mwh"] > 0.0  # 160 kWp per feeder: midday reverse flow
        # the transformer carries the feeder's houses − PV + EVs (its zone series) + losses
        zone = setup.zones[f"feeder/{v['feeder']}"]
        ev_w = table[[c for c in table.columns if c.startswith("p_ac_w[")]].sum(axis=1)
        own_w = zone.load_w - zone.pv_w + ev_w.to_numpy()
        assert np.abs(p - own_w).max() < 0.06 * np.abs(own_w).max() + 2e3
        vmax = table["vm_lv_max_pu"].to_numpy()
        vmin = table["vm_lv_min_pu"].to_numpy()
        vch = table["vm_pu"].to_numpy()
        assert ((vmin <= vch + 1e-12) & (vch <= vmax + 1e-12)).all()  # charger is a feeder bus
        assert v["vm_max_pu"] == pytest.approx(vmax.max())
        assert v["vm_min_pu"] == pytest.approx(vmin.min())
        for x in (v["vm_min_pu"], v["vm_max_pu"], v["vm_charger_min_pu"], v["vm_charger_max_pu"]):
            assert 0.8 < x < 1.2
        assert v["vm_min_pu"] <= v["vm_charger_min_pu"] <= v["vm_charger_max_pu"] <= v["vm_max_pu"]
        assert k["vm_min_pu"] <= v["vm_min_pu"] and v["vm_max_pu"] <= k["vm_max_pu"]
    total = sum(v["reverse_flow_energy_mwh"] for v in lv.values())
    assert k["lv_reverse_flow_energy_mwh"] == pytest.approx(total)
    assert k["lv_reverse_flow_energy_mwh"] == pytest.approx(reverse_sum.sum() * dt_h / 1e6)
    assert k["lv_reverse_flow_peak_mw"] == pytest.approx(reverse_sum.max() / 1e6)
    assert k["lv_reverse_flow_peak_mw"] >= max(v["reverse_flow_peak_mw"] for v in lv.values())


def test_lv_sites_plot(root: Path, tmp_path: Path) -> None:
    from v2xcosim.usecases.terni.plots import make_lv_site_plot

    out = _run(root, [*SHORT, "control.strategy=v2g"])
    feeders = {"cs_piazza_tacito": "LV1", "cs_corso_vecchio": "LV2", "cs_piazza_europa": "LV3"}
    tables = {s: pd.read_parquet(out / f"site_{s}.parquet") for s in feeders}
    spec = load_scenario(SCENARIO)
    path = make_lv_site_plot(
        tables, feeders, tmp_path / "lv_sites.png", v_max_pu=1.1, tz=spec.time.tzinfo
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_fmu_parameter_is_refused_before_the_run(tmp_path: Path) -> None:
    out = tmp_path / "bad"
    setting = 'terni.fmu_instance_parameters={"solver.thread" = 2}'
    with pytest.raises(ScenarioError, match=r"^terni\.fmu_instance_parameters: .*'solver\.thread'"):
        preflight(load_scenario(SCENARIO, [setting]))
    assert not out.exists()


def test_fleet_parameter_out_of_range_is_refused_before_the_run(tmp_path: Path) -> None:
    """A solver parameter the fleet FMU would refuse at start (``solver.threads = -1``) is
    refused up front: exit 2 naming the key, no traceback, nothing written (the FMU's own
    refusal at start is tested with the toy FMU in tests/test_runner.py)."""
    import subprocess
    import sys

    out = tmp_path / "bad"
    argv = [sys.executable, "-m", "v2xcosim.cli", "run", str(SCENARIO), "--out", str(out)]
    argv += ["--no-progress", "--set", "time.duration_s=3600", "--set", "results.plots=false"]
    argv += ["--set", 'terni.fmu_instance_parameters={"solver.threads" = -1}']
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 2
    text = proc.stdout + proc.stderr
    assert "terni.fmu_instance_parameters" in text and "solver.threads" in text
    assert "never shut down" not in text and "Traceback" not in text
    assert not (out / "metadata.json").exists()


def test_comparison_table_hides_rounding_residue() -> None:
    from v2xcosim.report.compare import comparison_table
    from v2xcosim.usecases.terni.world import COMPARE_KEYS

    a = {
        "reverse_flow_energy_mwh": 58.1,
        "reverse_flow_peak_mw": 9.411,
        "ev_energy_discharged_kwh": 1.42e-15,
    }
    b = {
        "reverse_flow_energy_mwh": 58.00291,
        "reverse_flow_peak_mw": 9.411003889,
        "ev_energy_discharged_kwh": 33.33,
    }
    table = comparison_table({"u": a, "v": b}, COMPARE_KEYS)
    rows = {ln.split()[0]: ln.split()[1:] for ln in table.splitlines()}
    assert rows["reverse_flow_energy_mwh"] == ["58.1", "58", "-0.09709"]
    assert rows["reverse_flow_peak_mw"] == ["9.411", "9.411", "+0"]
    assert rows["ev_energy_discharged_kwh"] == ["0", "33.33", "+33.33"]
    # two values that both show as 0 (solver round-off in both runs) differ by 0, not by 1e-16
    both = comparison_table(
        {"u": {"ev_energy_discharged_kwh": 7.6e-17}, "v": {"ev_energy_discharged_kwh": -8e-16}},
        ["ev_energy_discharged_kwh"],
    )
    assert both.splitlines()[-1].split()[1:] == ["0", "0", "+0"]


def test_a_failing_check_exits_1(tmp_path: Path) -> None:
    """[checks] is honoured: a voltage band the day leaves fails the run (exit 1)."""
    res = run(load_scenario(SCENARIO, [*SHORT, "grid.v_max_pu=1.001"]), tmp_path)
    assert res.exit_code == 1 and res.kpis["checks_passed"] is False
    assert res.kpis["checks"]["voltage_band"] == {"flagged": True, "passed": False}
    assert res.kpis["checks"]["convergence"] == {"flagged": True, "passed": True}
    assert json.loads((tmp_path / "metadata.json").read_text())["exit_code"] == 1


def test_unflagged_check_does_not_fail_the_run(tmp_path: Path) -> None:
    overrides = [*SHORT, "grid.v_max_pu=1.001", "checks.voltage_band=false"]
    res = run(load_scenario(SCENARIO, overrides), tmp_path)
    assert res.exit_code == 0
    assert res.kpis["checks"]["voltage_band"] == {"flagged": False, "passed": False}


def test_nonconvergence_policy(tmp_path: Path) -> None:
    """grid.on_nonconvergence: abort stops with a clear error (exit 2), flag records NaN."""
    import subprocess
    import sys

    tight = [*SHORT, "time.duration_s=3600", "grid.max_iteration=1"]
    argv = [sys.executable, "-m", "v2xcosim.cli", "run", str(SCENARIO), "--no-progress"]
    argv += ["--out", str(tmp_path / "abort")]
    for item in tight:
        argv += ["--set", item]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "did not converge" in proc.stdout + proc.stderr
    assert "grid.on_nonconvergence = 'flag'" in proc.stdout + proc.stderr
    assert not (tmp_path / "abort" / "metadata.json").exists()
    (tmp_path / "flag").mkdir()
    res = run(load_scenario(SCENARIO, [*tight, "grid.on_nonconvergence=flag"]), tmp_path / "flag")
    grid = pd.read_parquet(tmp_path / "flag" / "grid.parquet")
    assert (grid["converged"] == 0.0).all() and grid["p_slack_w"].isna().all()
    assert res.kpis["nonconverged_steps"] == len(grid) == 4
    assert res.exit_code == 1 and not res.kpis["checks"]["convergence"]["passed"]
    assert res.kpis["vm_max_pu"] is None  # no converged step: no voltage to report


def test_grid_reports_real_status_and_reactive_power() -> None:
    """The grid adapter closes the chargers' Q through the network and records Q at the primary."""
    from v2xcosim.config.common import spec_to_jsonable
    from v2xcosim.cosim.grid_sim import GridSim
    from v2xcosim.usecases.terni.world import GRID_MODEL

    spec = load_scenario(SCENARIO, SHORT)
    site = "cs_piazza_tacito"

    def q_primary(q_var: float) -> float:
        sim = GridSim()
        sim.init(
            "Grid-0", model=GRID_MODEL, params={"scenario": spec_to_jsonable(spec)}, step_s=900
        )
        sim.create(1, "Grid")
        sim.create(1, "Connection", conn_id=site)
        sim.step(
            0,
            {
                "grid": {},  # every load and generator follows its own profile
                f"conn_{site}": {"p_w": {"f": [0.0]}, "q_var": {"f": [q_var, q_var]}},
            },
            900,
        )
        out = sim.get_data({"grid": ["converged", "q_slack_var"], f"conn_{site}": ["vm_pu"]})
        assert out["grid"]["converged"] == 1.0 and 0.9 < out[f"conn_{site}"]["vm_pu"] < 1.1
        return float(out["grid"]["q_slack_var"])

    # 2 x 100 kvar absorbed at an LV charger bus reach the primary, plus the I²X the larger
    # current adds in the MV/LV and HV/MV transformers and the lines (reactive losses > 0)
    delta = q_primary(100e3) - q_primary(0.0)
    assert 200e3 < delta < 1.15 * 200e3


def test_cli_exits_1_when_a_terni_check_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command line's exit code follows the Terni checks (the first stage always said 0)."""
    from v2x_helpers import cli

    out = tmp_path / "run"
    argv = ["run", str(SCENARIO), "--out", str(out), "--no-progress"]
    for item in [*SHORT, "time.duration_s=7200", "grid.v_max_pu=1.001"]:
        argv += ["--set", item]
    assert cli(argv) == 1
    printed = capsys.readouterr().out
    assert "checks: FAILED: voltage_band" in printed
    assert (out / "metadata.json").is_file()


SESSION_COLUMNS = [
    "session_id",
    "user_id",
    "site",
    "arrival_utc",
    "departure_declared_utc",
    "departure_utc",
    "soc_arrival",
    "soc_wish",
    "soc_departure",
    "e_charged_kwh",
    "e_discharged_kwh",
    "bill_eur",
    "incentive_eur",
    "degradation_eur",
    "bill_uncontrolled_eur",
    "net_change_eur",
    "campaign",
    "status",
]
EARLY = [
    *SHORT,
    "control.strategy=uncontrolled",
    "users.sessions_per_connector_per_day=3",  # the sites fill up: some are turned away
    "users.energy_mean_kwh=40",  # needs larger than what a shortened stay delivers
    "users.early_departure_share=1.0",
    "users.early_departure_min_fraction=0.3",
    "users.early_departure_max_fraction=0.3",
]


def _slot_series(out: Path, site: str, attr: str, slot: int) -> np.ndarray:
    table = pd.read_parquet(out / f"site_{site}.parquet")
    return table[f"{attr}[{slot}]"].to_numpy(dtype=float)


def test_sessions_table_schema_and_bills(root: Path) -> None:
    out = _run(root, [*SHORT, "control.strategy=v2g"])
    ses = pd.read_parquet(out / "sessions.parquet")
    assert list(ses.columns[: len(SESSION_COLUMNS)]) == SESSION_COLUMNS
    assert set(ses["status"]) <= {"completed", "left_early", "rejected", "open_at_end"}
    assert str(ses["arrival_utc"].dt.tz) == "UTC"
    spec = load_scenario_as(SCENARIO, TerniScenario, SHORT)
    tariff = spec.market.tariff_eur_per_kwh
    done = ses[ses["status"] == "completed"]
    assert len(done) > 0
    for row in done.to_dict("records"):
        # the metered AC energy of the slot over the stay (rows arrival .. departure − 1)
        k0 = int(row["arrival_s"] // 900)
        k1 = int(row["departure_s"] // 900)
        p = _slot_series(out, str(row["site"]), "p_ac_w", int(row["slot"]))[k0:k1]
        assert row["e_charged_kwh"] == pytest.approx(np.clip(p, 0, None).sum() * 0.25 / 1e3)
        # the EMSP bears the V2G round trip: a kWh fed back is credited at 1/(η_c·η_d) kWh
        credit = row["e_discharged_kwh"] / (spec.control.eta_charge * spec.control.eta_discharge)
        net = max(row["e_charged_kwh"] - credit, 0.0)
        assert row["bill_eur"] == pytest.approx(net * tariff)
        assert row["departure_utc"] == row["departure_declared_utc"]
    # the uncontrolled counterfactual: a session outside the campaign was charged uncontrolled,
    # so it is its own bill; a campaign session's is full power from arrival to the CS EMS
    # target (wish + margin) of the aged pack (hand formula)
    free = ses[~ses["campaign"]]
    assert len(free) > 0
    assert (free["bill_uncontrolled_eur"] == free["bill_eur"]).all()
    done = done[done["campaign"]]
    assert len(done) > 0
    c = spec.control
    target = np.minimum(done["soc_wish"] + c.target_margin_soc, c.soc_max)
    aged = done["capacity_kwh"] * (1.0 - done["q_loss_arrival"])
    need = (target - done["soc_arrival"]).clip(lower=0) * aged
    stay_h = (done["departure_s"] - done["arrival_s"]) / 3600.0
    e_unc = np.minimum(
        (need / spec.control.eta_charge).to_numpy(), (done["p_max_kw"] * stay_h).to_numpy()
    )
    assert done["bill_uncontrolled_eur"].to_numpy() == pytest.approx(tariff * e_unc)
    net_change = ses["bill_eur"] - ses["incentive_eur"] - ses["bill_uncontrolled_eur"]
    assert ses["net_change_eur"].to_numpy() == pytest.approx(net_change.to_numpy())
    k = kpis(out)
    assert k["bill_eur"] == pytest.approx(ses["bill_eur"].sum())
    # only AC-V2G cars discharge
    assert (ses.loc[~ses["v2g_capable"], "e_discharged_kwh"] < 1e-9).all()


def test_degradation_cost_from_the_fmu_ageing_states(root: Path) -> None:
    out = _run(root, [*SHORT, "control.strategy=v2g"])
    ses = pd.read_parquet(out / "sessions.parquet")
    price = 115.0 / 1.0824  # BNEF 2024 pack price at the ECB 2024 rate, EUR/kWh
    plugged = ses[ses["status"].isin(["completed", "left_early"])]
    assert len(plugged) > 0
    for row in plugged.to_dict("records"):
        site, slot = str(row["site"]), int(row["slot"])
        q = _slot_series(out, site, "q_cal", slot) + _slot_series(out, site, "q_cyc", slot)
        # table row k holds the state at the end of step k: arrival = row k0 − 1
        k0, k1 = int(row["arrival_s"] // 900), int(row["departure_s"] // 900)
        q0 = q[k0 - 1] if k0 > 0 else row["q_loss_arrival"]
        dq = q[k1 - 1] - q0
        assert dq > 0  # a pack only ages
        assert row["degradation_eur"] == pytest.approx(dq * row["capacity_kwh"] * price, rel=1e-6)
    # an aged car brought its losses: the slot started from the drawn initial losses
    assert (ses["q_loss_arrival"] > 2e-4).any()
    assert kpis(out)["degradation_eur"] == pytest.approx(ses["degradation_eur"].sum())
    assert "battery_degradation_cost_eur" not in kpis(out)


def test_early_departures_settle_as_shortfalls(root: Path) -> None:
    out = _run(root, EARLY)
    ses = pd.read_parquet(out / "sessions.parquet")
    k = kpis(out)
    early = ses[ses["status"] == "left_early"]
    assert len(early) > 0 and k["early_departures"] == len(early)
    assert (early["departure_utc"] < early["departure_declared_utc"]).all()
    # the car left at 30 % of its declared stay (rounded to the 15-min step)
    stay = (early["departure_declared_utc"] - early["arrival_utc"]).dt.total_seconds()
    left = (early["departure_utc"] - early["arrival_utc"]).dt.total_seconds()
    # (arrival and departure each rounded to the step; a stay is at least one step)
    assert ((np.abs(left - 0.3 * stay) <= 900.0 + 1e-6) | (left == 900.0)).all()
    short = early[early["soc_departure"] < early["soc_wish"] - 1e-4]
    assert len(short) > 0  # not vacuous
    for row in short.to_dict("records"):
        # uncontrolled: full power for the whole (shortened) stay, metered and billed
        hours = (row["departure_utc"] - row["arrival_utc"]).total_seconds() / 3600.0
        assert row["e_charged_kwh"] == pytest.approx(row["p_max_kw"] * hours, rel=2e-3)
    gap = (early["soc_wish"] - early["soc_departure"]).clip(lower=0) * early["capacity_kwh"]
    gap = gap[(early["soc_wish"] - early["soc_departure"]) > 1e-4]
    assert k["early_departure_shortfall_kwh"] == pytest.approx(gap.sum())
    assert k["early_departure_shortfall_kwh"] > 0
    # those who stayed are still judged on their wish, and none falls short
    assert k["departure_soc_shortfall_kwh"] == 0.0
    trace = pd.read_parquet(out / "trace.parquet")
    for sid in early["session_id"]:
        rows = trace[trace["info"].str.contains(f"session {sid}: stop", regex=False)]
        assert len(rows) == 2  # the stop reaches the EMSP and the CS EMS only when it happens


def test_rejected_sessions_counted_with_unserved_energy(root: Path) -> None:
    out = _run(root, EARLY)
    ses = pd.read_parquet(out / "sessions.parquet")
    k = kpis(out)
    trace = pd.read_parquet(out / "trace.parquet")
    full = trace[(trace["step"] == "13") & trace["info"].str.endswith("site full")]
    assert len(full) > 0 and k["sessions_rejected"] == len(full)
    rej = ses[ses["status"] == "rejected"]
    assert sorted(rej["session_id"]) == sorted(full["info"].str.split().str[1].str.rstrip(":"))
    need = (rej["soc_wish"] - rej["soc_arrival"]).clip(lower=0) * rej["capacity_kwh"]
    assert k["unserved_energy_kwh"] == pytest.approx(need.sum()) and need.sum() > 0
    assert (rej["e_charged_kwh"] == 0).all() and (rej["connector_id"] == "").all()
    assert (rej["bill_eur"] == 0).all() and (rej["bill_uncontrolled_eur"] == 0).all()
    counted = ("sessions_completed", "early_departures", "sessions_rejected")
    assert k["sessions"] == len(ses) == sum(k[c] for c in (*counted, "sessions_open_at_end"))


def test_ten_minute_kpis_in_a_run(root: Path) -> None:
    fine = [*SHORT, "time.step_s=300", "time.duration_s=3600", "control.strategy=uncontrolled"]
    out = _run(root, fine)
    k = kpis(out)
    grid = pd.read_parquet(out / "grid.parquet")
    vm = grid.filter(like="vm_pu[").to_numpy()
    means = vm.reshape(6, 2, -1).mean(axis=1)  # 12 steps of 300 s: six 10-minute windows
    assert k["vm_max_10min_pu"] == pytest.approx(means.max())
    assert k["vm_min_10min_pu"] == pytest.approx(means.min())
    lines = grid.filter(like="line_loading_percent[").to_numpy()
    assert k["max_line_loading_10min_pct"] == pytest.approx(lines.reshape(6, 2, -1).mean(1).max())
    assert k["kpi_notes"] == []
    coarse = kpis(_run(root, [*SHORT, "control.strategy=v2g"]))
    assert coarse["vm_max_10min_pu"] is None and "no 10-minute means" in coarse["kpi_notes"][0]


def test_uncontrolled_run_is_its_own_counterfactual(root: Path) -> None:
    """In an uncontrolled run every session was charged uncontrolled: the counterfactual bill is
    the session's own bill, exactly, and the net change 0."""
    ses = pd.read_parquet(
        _run(root, [*SHORT, "control.strategy=uncontrolled"]) / "sessions.parquet"
    )
    ses = ses[ses["status"] != "rejected"]
    assert len(ses) > 3 and (ses["bill_eur"] > 0).any()
    assert (ses["bill_uncontrolled_eur"] == ses["bill_eur"]).all()
    assert (ses["incentive_eur"] == 0).all() and (ses["net_change_eur"] == 0).all()


def test_default_day_uncontrolled_reverse_flow_only_under_sun(
    default_day_runs: dict[str, Path],
) -> None:
    """Default day, uncontrolled: the primary imports whenever the PV is zero (the hydro plant
    never exceeds the night load) and feeds back into HV around noon (issue #12)."""
    from v2xcosim.usecases.terni.wiring import terni_setup

    overrides = [*DEFAULT_DAY, "control.strategy=uncontrolled"]
    out = default_day_runs["uncontrolled"]
    grid = pd.read_parquet(out / "grid.parquet")
    p = grid["p_slack_w"].to_numpy(dtype=float)
    zone = terni_setup(load_scenario_as(SCENARIO, TerniScenario, overrides)).zones["primary"]
    per = zone.interval_s // 300  # 300-s steps: three per zone interval
    assert len(p) == zone.n * per == 288
    dark = np.repeat(zone.pv_w == 0.0, per)
    assert dark.sum() > 90
    assert p[dark].min() > 1e6  # no reverse flow without sun
    assert zone.gen_w.max() < zone.load_w[zone.pv_w == 0.0].min()
    assert p[120:180].min() < -1e6  # 10:00-15:00 local: reverse flow on the sunny day
    assert kpis(out)["reverse_flow_energy_mwh"] > 0.5


# ---------------------------------------------------------------- the default day, 300-s steps
DEFAULT_DAY = ["results.plots=false"]


@pytest.fixture(scope="module")
def default_day_runs(shared_runs: SharedRuns) -> dict[str, Path]:
    """Run folders of the default scenario's day under each built-in strategy (one run each,
    shared with the goldens of ``tests/goldens``)."""
    return {
        strategy: shared_runs.folder(SCENARIO, [*DEFAULT_DAY, f"control.strategy={strategy}"])
        for strategy in ("uncontrolled", "smart", "v2g")
    }


@pytest.fixture(scope="module")
def default_day(default_day_runs: dict[str, Path]) -> dict[str, dict[str, Any]]:
    """KPIs of the default scenario's day under each built-in strategy."""
    return {strategy: kpis(run_dir) for strategy, run_dir in default_day_runs.items()}


def test_default_day_counterfactual_bill_against_the_uncontrolled_run(
    default_day_runs: dict[str, Path],
) -> None:
    """Per session (same seed, same sessions), ``bill_uncontrolled_eur`` of the v2g run against
    ``bill_eur`` of the uncontrolled run: within 0.005 EUR where the v2g run did not control
    the session (users outside the campaign); for campaign sessions the analytic estimate is
    within its documented spread (the FMU's effective charging efficiency varies per session:
    ``TerniUseCase.sessions_frame``), 0.25 EUR per session and 3 % in total."""
    v2g = pd.read_parquet(default_day_runs["v2g"] / "sessions.parquet")
    unc = pd.read_parquet(default_day_runs["uncontrolled"] / "sessions.parquet")
    assert list(v2g["session_id"]) == list(unc["session_id"])
    assert list(v2g["status"]) == list(unc["status"])
    gap = (v2g["bill_uncontrolled_eur"] - unc["bill_eur"]).abs()
    free = ~v2g["campaign"] & (unc["bill_eur"] > 0)
    assert free.sum() >= 5
    assert gap[free].max() < 0.005
    camp = v2g["campaign"] & (unc["bill_eur"] > 0)
    assert camp.sum() >= 5
    assert gap[camp].max() < 0.25
    total = unc.loc[camp, "bill_eur"].sum()
    assert v2g.loc[camp, "bill_uncontrolled_eur"].sum() == pytest.approx(total, rel=0.03)
    # the uncontrolled run is its own counterfactual
    assert (unc["bill_uncontrolled_eur"] == unc["bill_eur"]).all()


def test_default_day_lp_strategies_relieve_the_sites_feeders(
    default_day: dict[str, dict[str, Any]],
) -> None:
    """Each site's LP sees its own feeder's forecast: smart cuts the LV reverse flow clearly
    against uncontrolled (≥ 5 %), v2g at least as much and by discharging, every feasible wish
    kept."""
    unc, smart, v2g = (default_day[s] for s in ("uncontrolled", "smart", "v2g"))
    lv = "lv_reverse_flow_energy_mwh"
    assert smart[lv] <= 0.95 * unc[lv]
    assert v2g[lv] <= smart[lv] + 1e-6
    assert v2g["ev_energy_discharged_kwh"] > 1.0
    for k in (unc, smart, v2g):
        assert k["departure_soc_shortfall_kwh"] == 0.0


def test_default_day_bound_holds_and_smart_gets_most_of_the_way(
    default_day: dict[str, dict[str, Any]],
) -> None:
    """The perfect-foresight bound of what a run may do (same sessions, same base) lies below
    its LV reverse flow (up to the transformer losses the bound neglects, 0.1 %): the
    unidirectional bound below uncontrolled and smart, the bidirectional bound below v2g (which
    may beat the unidirectional one by discharging), bidirectional below unidirectional; smart
    reaches at least half of the cut its bound allows, v2g 40 %."""
    lv = "lv_reverse_flow_energy_mwh"
    for name, k in default_day.items():
        own = "v2g" if name == "v2g" else "smart"
        assert k[f"lv_reverse_flow_bound_{own}_mwh"] <= k[lv] * 1.001, name
        assert k["lv_reverse_flow_bound_v2g_mwh"] <= k["lv_reverse_flow_bound_smart_mwh"] + 1e-9
        assert 0.0 < k["lv_session_energy_share_of_surplus"] < 1.0
        assert k["lv_surplus_mwh"] > k[lv]  # the EVs absorb some surplus in every strategy
    unc, smart, v2g = (default_day[s] for s in ("uncontrolled", "smart", "v2g"))
    bound = unc["lv_reverse_flow_bound_smart_mwh"]
    share = (unc[lv] - smart[lv]) / (unc[lv] - bound)
    assert share >= 0.5
    bound_v2g = unc["lv_reverse_flow_bound_v2g_mwh"]
    assert (unc[lv] - v2g[lv]) / (unc[lv] - bound_v2g) >= 0.4


def test_default_day_dso_load_forecast_is_levelled_by_the_metered_day(
    default_day: dict[str, dict[str, Any]],
) -> None:
    """The similar-day reference alone is 13 % high on 15 May (Σ reference / Σ realised − 1,
    from the zone series); levelled by the metered last 24 h before each hourly issue, the
    forecast load in force is within 6 % at the primary (+5.4 %: 14 May metered as its
    reference, 0.995, so the midnight issues keep most of the bias; the issues of the day
    read 15 May itself) and within 5 % at the feeders.  The forecast does not depend on the
    strategy (background load only)."""
    from v2xcosim.usecases.terni.wiring import terni_setup

    spec = load_scenario_as(SCENARIO, TerniScenario, DEFAULT_DAY)
    zones = terni_setup(spec).zones
    prim = zones["primary"]
    unlevelled = float(prim.load_reference_w.sum() / prim.load_w.sum()) - 1.0
    assert unlevelled > 0.1
    bias = default_day["v2g"]["dso_forecast_load_bias"]
    assert abs(bias["primary"]) <= 0.06 and abs(bias["primary"]) < 0.5 * unlevelled
    for name in zones:
        if name != "primary":
            assert abs(bias[name]) <= 0.05
    for k in default_day.values():
        assert k["dso_forecast_load_bias"] == pytest.approx(bias, rel=1e-12)
