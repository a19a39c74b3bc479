"""Use cases as packages: the registry, the scenario union on ``use_case``, errors with lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from v2x_helpers import DEMO, ROOT, cli
from v2xcosim import usecases
from v2xcosim.core.errors import ScenarioError
from v2xcosim.report.kpis import KPIS
from v2xcosim.scenario import load_scenario, load_scenario_as, scenario_adapter
from v2xcosim.usecases.sites.schema import SitesScenario
from v2xcosim.usecases.terni.schema import TerniScenario

TERNI = ROOT / "scenarios" / "terni_v2g.toml"


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_registry_names_and_protocol() -> None:
    assert usecases.names() == ["porto", "sites", "terni"]
    for name in usecases.names():
        case = usecases.get(name)
        assert case.name == name
        assert case.schema.model_fields["use_case"].default == name
        assert case.kpi_keys and all(isinstance(k, str) for k in case.kpi_keys)
        assert not set(case.kpi_keys) - set(KPIS), name  # one vocabulary
    assert usecases.get("terni").strategies == ("uncontrolled", "smart", "v2g")
    assert usecases.get("sites").strategies == ()
    assert usecases.get("porto").strategies == ("uncontrolled", "smart", "v2b")
    with pytest.raises(ScenarioError, match="not a use case; known: porto, sites, terni"):
        usecases.get("lisbon")


def test_union_selects_the_model_and_sites_is_the_default() -> None:
    assert isinstance(load_scenario(DEMO), SitesScenario)
    assert isinstance(load_scenario(TERNI), TerniScenario)
    assert load_scenario(DEMO, ["use_case=sites"]).use_case == "sites"
    # the typed API equals the files: the union validates plain data too
    spec = load_scenario(TERNI)
    again = scenario_adapter().validate_python(spec.model_dump())
    assert again == spec


def test_load_scenario_as_refuses_another_use_case() -> None:
    with pytest.raises(ScenarioError, match="use_case = 'terni', but a SitesScenario is needed"):
        load_scenario_as(TERNI, SitesScenario)


def test_unknown_use_case_named_with_its_line(tmp_path: Path) -> None:
    text = DEMO.read_text(encoding="utf-8").replace('use_case = "sites"', 'use_case = "lisbon"')
    path = _write(tmp_path, text)
    line = 1 + text.splitlines().index(next(ln for ln in text.splitlines() if "lisbon" in ln))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    msg = str(err.value)
    want = "use_case: 'lisbon' is not a use case; choose one of porto, sites, terni"
    assert f"{path}:{line}:1: {want}" in msg
    assert "1 problem(s)" in msg  # nothing else: every other finding would follow from it


def test_legacy_terni_spelling_says_what_to_write(tmp_path: Path) -> None:
    text = TERNI.read_text(encoding="utf-8").replace('use_case = "terni"\n', "")
    text = text.replace("[grid]\n", '[grid]\nnetwork = "terni"\n', 1)
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert re.search(r":\d+:1: grid\.network: .*write use_case = \"terni\"", msg)
    assert "delete grid.network" in msg and "1 problem(s)" in msg


@pytest.mark.parametrize(
    ("setting", "path"),
    [
        ("sites=[]", "sites"),  # a key only the sites use case reads
        ("grid.pv=[]", "grid.pv"),
        ("grid.load_profile='x'", "grid.load_profile"),
        ("results.attrs=['grid.vm_pu']", "results.attrs"),
        ("terni.peak_load_mwh=3", "terni.peak_load_mwh"),  # a misspelt key
    ],
)
def test_terni_refuses_keys_it_would_ignore(setting: str, path: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(TERNI, [setting])
    assert f": {path}: Extra inputs are not permitted" in str(err.value)


def test_sites_refuses_terni_sections() -> None:
    with pytest.raises(ScenarioError, match=r"demo\.toml(:\d+:\d+)?: control: Extra inputs"):
        load_scenario(DEMO, ["control.strategy=v2g"])


def test_problems_carry_file_line_and_column_and_no_union_tags(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(
            DEMO,
            [
                "grid.max_iteration=0",
                "sites.0.buses.0=nope",
                "profiles.household.interpolation=cubic",
                "time.timezone=Mars/Base",
            ],
        )
    lines = str(err.value).splitlines()
    text = DEMO.read_text(encoding="utf-8").splitlines()

    def line_of(fragment: str) -> int:
        return 1 + next(i for i, ln in enumerate(text) if fragment in ln)

    grid = next(ln for ln in lines if ": grid.max_iteration:" in ln)
    assert grid.strip().startswith(f"{DEMO}:{line_of('[grid]')}:2: grid.max_iteration:")
    bus = next(ln for ln in lines if "sites[0].buses[0]" in ln)
    assert f":{line_of('buses =')}:" in bus and "no bus 'nope'" in bus
    assert any("profiles.household.interpolation:" in ln for ln in lines)
    assert any("time.timezone: " in ln and "IANA" in ln for ln in lines)
    assert not any(re.search(r"\.(file|float|int|str|function-after)\b", ln) for ln in lines)


def test_timezone_sets_local_time(tmp_path: Path) -> None:
    spec = load_scenario(TERNI)
    assert spec.time.timezone == "Europe/Rome"
    assert str(spec.time.tzinfo) == "Europe/Rome"
    assert load_scenario(TERNI, ["time.timezone='UTC'"]).time.tzinfo.utcoffset(None) is not None


def test_network_without_running() -> None:
    sites = usecases.get("sites").network(load_scenario(DEMO))
    assert set(sites.connection_points) == {"residential"}
    pv = sites.net.sgen[sites.net.sgen["type"] == "PV"]  # the scenario's 5 x 30 kWp at peak
    assert len(pv) == 5 and pv["p_mw"].sum() == pytest.approx(0.15)
    assert all(b in set(sites.net.bus["name"]) for b in sites.connection_points["residential"])
    terni = usecases.get("terni").network(load_scenario(TERNI))
    assert sorted(terni.connection_points) == [
        "cs_corso_vecchio",
        "cs_piazza_europa",
        "cs_piazza_tacito",
    ]
    names = set(terni.net.bus["name"])
    assert all(len(b) == 1 and b[0] in names for b in terni.connection_points.values())


def test_compare_is_checked_before_the_first_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert cli(["run", str(DEMO), "--out", str(out), "--compare", "smart"]) == 2
    assert "use case 'sites' has no strategies to compare" in capsys.readouterr().out
    assert cli(["run", str(TERNI), "--out", str(out), "--compare", "greedy"]) == 2
    assert "choose one of uncontrolled, smart, v2g" in capsys.readouterr().out
    assert not out.exists()
