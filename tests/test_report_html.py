"""``v2xcosim report``: the report's numbers against the run's tables and KPIs, baseline deltas,
bad run folders, and the page in a real headless Chromium (no console error, no network
request, every chart with data; a screenshot kept as a test artefact).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from v2xcosim.cli import main
from v2xcosim.report import html as rh
from v2xcosim.report.kpis import KPIS
from v2xcosim.scenario import load_scenario, run

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "terni_v2g.toml"
SHORT = [
    "time.start=2024-05-15T09:00:00+02:00",
    "time.duration_s=28800",  # 09:00-17:00 local, 32 steps of 900 s: the reverse-flow hours
    "time.step_s=900",
    "terni.connectors_per_site=2",
    "users.sessions_per_connector_per_day=1.5",
    "results.plots=false",
]
CHROMIUM = os.environ.get("V2X_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
"""The system Chromium the browser test drives (Debian package ``chromium``)."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A short Terni run (v2g) and its uncontrolled baseline."""
    root = tmp_path_factory.mktemp("report-runs")
    out: dict[str, Path] = {}
    for strategy in ("v2g", "uncontrolled"):
        folder = root / strategy
        folder.mkdir()
        res = run(load_scenario(SCENARIO, [*SHORT, f"control.strategy={strategy}"]), folder)
        assert res.exit_code == 0
        out[strategy] = folder
    return out


@pytest.fixture(scope="module")
def report(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the v2g run against the uncontrolled one, written by the CLI."""
    path = tmp_path_factory.mktemp("report") / "terni.html"
    code = main(
        [
            "report",
            str(runs["v2g"]),
            "--baseline",
            str(runs["uncontrolled"]),
            "--out",
            str(path),
        ]
    )
    assert code == 0
    return path


# ------------------------------------------------------------------ pure data functions
def test_runs_of_finds_each_run_of_true() -> None:
    assert rh.runs_of([0, 1, 1, 0, 1]) == [(1, 3), (4, 5)]
    assert rh.runs_of([]) == []
    assert rh.runs_of([1, 1]) == [(0, 2)]


def test_substation_data_by_hand() -> None:
    grid = pd.DataFrame(
        {
            "time": pd.date_range("2024-05-15T00:00Z", periods=5, freq="15min"),
            "p_slack_w": [2000.0, -500.0, -1.0, np.nan, -3000.0],
        }
    )
    d = rh.substation_data(grid)
    np.testing.assert_allclose(d.p_kw, [2.0, -0.5, -0.001, np.nan, -3.0])
    assert d.reverse == ((1, 3), (4, 5))  # the NaN step (no power flow) is no reverse flow


def test_feeder_envelope_by_hand() -> None:
    grid = pd.DataFrame(
        {
            "vm_pu[a]": [1.00, 1.02],
            "vm_pu[b]": [0.98, np.nan],
            "vm_pu[c]": [1.05, 1.01],
        }
    )
    env = rh.feeder_envelopes(grid, {"a": "F1", "b": "F1"})
    assert set(env) == {"F1", "other buses"}
    np.testing.assert_allclose(env["F1"].vm_min_pu, [0.98, 1.02])
    np.testing.assert_allclose(env["F1"].vm_max_pu, [1.00, 1.02])
    np.testing.assert_allclose(env["other buses"].vm_max_pu, [1.05, 1.01])


def test_soc_bands_only_count_plugged_slots() -> None:
    site = pd.DataFrame(
        {
            "soc[0]": [0.2, 0.4, 0.9],
            "soc[1]": [0.6, 0.8, 0.1],
            "plugged[0]": [1, 1, 0],
            "plugged[1]": [1, 0, 0],
        }
    )
    bands = rh.soc_band_data({"s": site})
    np.testing.assert_allclose(bands[50.0][:2], [0.4, 0.4])  # median of (0.2, 0.6); only 0.4
    assert np.isnan(bands[50.0][2])  # nobody plugged in


def test_kpi_rows_deltas_units_and_definitions() -> None:
    rows = rh.kpi_rows(
        {"import_energy_mwh": 2.5, "losses_mwh": 0.1, "market": {"x": 1}, "vm_min_pu": None},
        ["import_energy_mwh", "losses_mwh", "market", "vm_min_pu", "absent"],
        {"import_energy_mwh": 3.0, "losses_mwh": 0.1000001},
    )
    by = {r.key: r for r in rows}
    assert set(by) == {"import_energy_mwh", "losses_mwh", "vm_min_pu"}  # blocks and absent out
    assert by["import_energy_mwh"].delta == pytest.approx(-0.5)
    assert by["import_energy_mwh"].unit == "MWh"
    assert by["import_energy_mwh"].definition == KPIS["import_energy_mwh"].definition
    assert by["losses_mwh"].delta == 0.0  # below the 4th significant digit
    assert by["vm_min_pu"].value is None and by["vm_min_pu"].delta is None


def test_actor_roles_and_flow_counts() -> None:
    assert rh.actor_role("user/cs_x/s0006") == "user"
    assert rh.actor_role("bess_1") == "bess"
    assert rh.actor_role("cs_ems/cs_x") == "cs_ems"
    trace = pd.DataFrame(
        {
            "step": ["1", "2", "2", "J4"],
            "sender": ["user/a/s1", "user/a/s2", "user/b/s3", "bess_1"],
            "receiver": ["emsp", "emsp", "emsp", "lfmp"],
            "info": ["", "", "", ""],
        }
    )
    flows = rh.sgam_flows(trace).set_index(["sender", "receiver"])
    assert flows.loc[("user", "emsp"), "n"] == 3
    assert flows.loc[("user", "emsp"), "steps"] == "1, 2"
    assert flows.loc[("bess", "lfmp"), "n"] == 1


def test_merge_sections_replaces_by_key_and_inserts_before_trace() -> None:
    p = (rh.Panel("p", "", html="x"),)
    generic = [rh.Section("kpis", "K", p), rh.Section("ev", "E", p), rh.Section("sequence", "S", p)]
    own = [rh.Section("ev", "own EVs", p), rh.Section("market", "M", p), rh.Section("x", "X", ())]
    merged = rh.merge_sections(generic, own)
    assert [s.key for s in merged] == ["kpis", "ev", "market", "sequence"]
    assert merged[1].title == "own EVs"


# ------------------------------------------------------------------ against a real run
def test_report_numbers_equal_the_run_tables(runs: dict[str, Path]) -> None:
    view = rh.read_view(runs["v2g"])
    base = rh.read_view(runs["uncontrolled"])
    grid = pd.read_parquet(runs["v2g"] / "grid.parquet")
    kpis = json.loads((runs["v2g"] / "kpis.json").read_text())
    sub = rh.substation_data(grid)
    # the shaded steps are exactly the KPI's reverse-flow steps
    assert sum(b - a for a, b in sub.reverse) == kpis["reverse_flow_steps"]
    assert np.nanmax(-sub.p_kw) / 1e3 == pytest.approx(kpis["reverse_flow_peak_mw"])
    env = rh.feeder_envelopes(grid, {})
    assert np.nanmin(env["other buses"].vm_min_pu) == pytest.approx(kpis["vm_min_pu"])
    assert np.nanmax(env["other buses"].vm_max_pu) == pytest.approx(kpis["vm_max_pu"])
    loads = rh.loading_data(grid)
    line_peak = max(np.nanmax(v) for k, v in loads.items() if k.startswith("line"))
    assert line_peak == pytest.approx(kpis["max_line_loading_pct"])
    trafo_peak = max(np.nanmax(v) for k, v in loads.items() if k.startswith("trafo"))
    assert trafo_peak == pytest.approx(kpis["max_trafo_loading_pct"])
    sites = view.site_tables()
    power = rh.site_power_data(sites)
    energy_kwh = sum(float(np.sum(p)) for p in power.values()) * view.step_s / 3600.0
    charged = kpis["ev_energy_charged_kwh"] - kpis["ev_energy_discharged_kwh"]
    assert energy_kwh == pytest.approx(charged, rel=0.05)  # AC side vs battery side: losses
    rows = {r.key: r for r in rh.kpi_rows(view.kpis, ["import_energy_mwh"], base.kpis)}
    row = rows["import_energy_mwh"]
    assert row.value == kpis["import_energy_mwh"]
    assert (
        row.baseline
        == json.loads((runs["uncontrolled"] / "kpis.json").read_text())["import_energy_mwh"]
    )
    assert row.value is not None and row.baseline is not None
    assert row.delta == pytest.approx(row.value - row.baseline)


def test_default_session_has_the_most_distinct_steps(runs: dict[str, Path]) -> None:
    trace = pd.read_parquet(runs["v2g"] / "trace.parquet")
    ids = [str(s) for s in pd.read_parquet(runs["v2g"] / "sessions.parquet")["session_id"]]
    chosen = rh.default_session(trace, ids)
    assert chosen is not None
    counts = {}
    for sid in ids:  # independent count: substring search over the three text columns
        hit = (
            trace["sender"].str.endswith(sid)
            | trace["receiver"].str.endswith(sid)
            | trace["info"].str.contains(sid + r"(?![\w])", regex=True)
        )
        counts[sid] = trace.loc[hit, "step"].nunique()
    best = max(counts.values())
    assert counts[chosen] == best
    assert chosen == next(s for s in ids if counts[s] == best)
    msgs = rh.sequence_messages(rh.session_rows(trace, chosen))
    assert msgs["n"].sum() == len(rh.session_rows(trace, chosen))
    assert set(msgs["step"]) == set(
        trace.loc[
            trace["sender"].str.endswith(chosen)
            | trace["receiver"].str.endswith(chosen)
            | trace["info"].str.contains(chosen + r"(?![\w])", regex=True),
            "step",
        ]
    )


def test_report_html_holds_kpis_and_sections(report: Path, runs: dict[str, Path]) -> None:
    page = report.read_text(encoding="utf-8")
    kpis = json.loads((runs["v2g"] / "kpis.json").read_text())
    for key in (
        "summary",
        "kpis",
        "substation",
        "voltage",
        "loading",
        "ev",
        "sites",
        "market",
        "sequence",
        "sgam",
    ):
        assert f'<section id="{key}">' in page, key
    assert 'data-kpi="reverse_flow_energy_mwh"' in page
    assert f"{kpis['reverse_flow_energy_mwh']:.4g}" in page
    # axis label in local time (plotly's JSON writes "/" as \u002f)
    assert page.replace("\\u002f", "/").count("time [Europe/Rome, UTC+02:00]") >= 5
    assert '<section id="building">' not in page  # a Porto section: not in a Terni run
    assert "https://" not in page.split("<body>", 1)[1]  # nothing to fetch in the body


def test_bad_run_dirs_exit_2(runs: dict[str, Path], tmp_path: Path, capsys: Any) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    assert "metadata.json: missing" in capsys.readouterr().err
    broken = tmp_path / "broken"
    shutil.copytree(runs["uncontrolled"], broken)
    (broken / "grid.parquet").write_bytes(b"not parquet")
    assert main(["report", str(broken)]) == 2
    assert "not a complete run folder" in capsys.readouterr().err
    assert main(["report", str(runs["v2g"]), "--session", "no/such"]) == 2
    assert "--session 'no/such'" in capsys.readouterr().err


def test_report_in_the_run_folder_and_again(runs: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(runs["uncontrolled"], folder)
    assert main(["report", str(folder)]) == 0
    assert (folder / "report.html").is_file()
    assert main(["report", str(folder)]) == 0  # its own report does not make it incomplete
    assert not [p for p in folder.iterdir() if p.name.startswith(".report.html")]
    # the voltage study still reads a run folder holding its report
    assert main(["study", "voltage", str(folder), "--out", str(tmp_path / "study")]) == 0


# ------------------------------------------------------------------ in a real browser
def _in_chromium(path: Path, shot: Path) -> tuple[list[str], list[str], list[Any]]:
    """Open ``path`` in headless Chromium: console errors, requests made, (chart id, points)."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(
            f"no system Chromium at {CHROMIUM}: install the Debian package chromium "
            "(apt-get install chromium) or set V2X_CHROMIUM"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    errors: list[str] = []
    requests: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith(("file:", "data:")):
            r.continue_()
        else:
            requests.append(url)
            r.abort()

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", route)
            page.goto(path.as_uri())
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot').length"
                " === document.querySelectorAll('[id^=chart-]').length"
            )
            charts = page.evaluate(
                """() => Array.from(document.querySelectorAll('[id^=chart-]')).map(d => [
                    d.id,
                    (d._fullData || d.data || []).map(t => {
                        const n = a => (a && a.length !== undefined) ? a.length : 0;
                        return Math.max(n(t.x), n(t.y));
                    })
                ])"""
            )
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return errors, requests, charts


def test_report_in_headless_chromium(
    report: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shot = tmp_path_factory.mktemp("report-screenshot") / "report.png"
    errors, requests, charts = _in_chromium(report, shot)
    assert errors == []
    assert requests == []
    assert len(charts) >= 10
    for chart_id, points in charts:
        assert points and max(points) > 0, f"{chart_id}: no trace with points"
    assert shot.stat().st_size > 10_000


PORTO = Path(__file__).resolve().parents[1] / "scenarios" / "porto_v2b.toml"
PORTO_SHORT = [
    "time.start=2025-07-09T06:00:00+01:00",
    "time.duration_s=43200",  # 06:00-18:00 local: the morning ponta and the DSO event 14-17 h
    "results.plots=false",
    "dso_event.mode=fixed",  # a hand-placed window (the report reads it from the scenario)
    "dso_event.start=2025-07-09T14:00:00+01:00",
    "dso_event.end=2025-07-09T17:00:00+01:00",
    "dso_event.limit_mw=11.7",
]


@pytest.mark.slow
def test_porto_report_draws_its_building_car_park_and_evs(tmp_path: Path) -> None:
    """Porto's own panels: the building against its tariff, the car park, the EVs; their data
    equal the run's tables and KPIs, and the page renders in Chromium with data in every chart."""
    from v2xcosim.usecases.porto.report import connection

    folder = tmp_path / "porto"
    folder.mkdir()
    assert run(load_scenario(PORTO, PORTO_SHORT), folder).exit_code == 0
    assert main(["report", str(folder)]) == 0
    page = (folder / "report.html").read_text(encoding="utf-8")
    for key in ("summary", "kpis", "building", "sites", "ev", "sequence", "sgam"):
        assert f'<section id="{key}">' in page, key
    assert '<section id="market">' not in page  # a Terni section
    assert page.replace("\\u002f", "/").count("time [Europe/Lisbon, UTC+01:00]") >= 3
    kpis = json.loads((folder / "kpis.json").read_text())
    d = connection(rh.read_view(folder))
    assert d.p_import_kw.max() == pytest.approx(kpis["building_peak_kw"])
    assert d.contracted_kw == pytest.approx(kpis["contracted_kw"])
    assert d.event_limit_kw == pytest.approx(kpis["dso_event_limit_kw"])
    assert d.event_end_k - d.event_start_k == 12  # 14:00-17:00 in 15-minute steps
    assert "ponta" in d.period and "cheias" in d.period
    errors, requests, charts = _in_chromium(folder / "report.html", tmp_path / "porto.png")
    assert errors == [] and requests == []
    ids = {c[0] for c in charts}
    assert {"chart-connection", "chart-carpark-power", "chart-soc-bands"} <= ids, ids
    for chart_id, points in charts:
        assert points and max(points) > 0, f"{chart_id}: no trace with points"
    assert "V2B floor (range over plugged-in V2B cars)" in page


@pytest.mark.slow
def test_porto_report_soc_bands_carry_the_v2b_floors_of_the_png(tmp_path: Path) -> None:
    """The report's SOC band panel draws the V2B floors from ``sessions.parquet``: the same
    numbers as ``soc.png`` (its own data path from the setup), and by hand the lowest and
    highest floor of the V2B stays plugged in at each step."""
    from v2xcosim.scenario import load_scenario_as
    from v2xcosim.usecases.porto.plots import make_porto_plots, soc_band_data
    from v2xcosim.usecases.porto.report import report_sections, v2b_floors
    from v2xcosim.usecases.porto.schema import PortoScenario
    from v2xcosim.usecases.porto.world import plan, preflight

    spec = load_scenario_as(PORTO, PortoScenario, PORTO_SHORT)
    folder = tmp_path / "porto"
    folder.mkdir()
    assert run(spec, folder).exit_code == 0
    view = rh.read_view(folder)
    grid, park, sessions = view.table("grid"), view.table("carpark"), view.table("sessions")
    assert grid is not None and park is not None and sessions is not None
    floors = v2b_floors(sessions)
    assert floors and all(0.0 <= f <= 1.0 for f in floors.values())
    d = soc_band_data(park, floors)
    png_dir = tmp_path / "png"
    png_dir.mkdir()
    frames = {"grid": grid, "carpark": park}
    png = make_porto_plots(spec, plan(spec, preflight(spec)).setup, frames, sessions, png_dir)
    np.testing.assert_array_equal(d.floor_min, png["soc"].floor_min)
    np.testing.assert_array_equal(d.floor_max, png["soc"].floor_max)
    drawn = 0
    for k in range(len(park)):
        here = [
            f
            for slot, f in floors.items()
            if park[f"plugged[{slot}]"].iloc[k] > 0.5 and np.isfinite(park[f"soc[{slot}]"].iloc[k])
        ]
        if here:
            drawn += 1
            assert (d.floor_min[k], d.floor_max[k]) == (min(here), max(here)), k
        else:
            assert np.isnan(d.floor_min[k]) and np.isnan(d.floor_max[k]), k
    assert drawn > 0
    fig = next(
        panel.figure
        for section in report_sections(view, None)
        for panel in section.panels
        if panel.key == "soc-bands"
    )
    by_name = {t.name: t for t in fig.data}
    floor = by_name["V2B floor (range over plugged-in V2B cars)"]
    np.testing.assert_array_equal(np.asarray(floor.y, dtype=float), d.floor_min)
