"""Network sources of the grid studies: each kind loads; a network a study cannot use is refused."""

from __future__ import annotations

import math
from pathlib import Path

import pandapower as pp
import pandapower.networks as pn
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.studies.inputs import UNRATED_I_KA, load_network

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "tests" / "data" / "matpower" / "case3_mv.m"


def _save(net: object, path: Path) -> Path:
    pp.to_json(net, str(path))
    return path


def test_matpower_m_case_loads_with_named_buses() -> None:
    net = load_network(CASE).net
    assert net.bus["name"].tolist() == ["bus 1", "bus 2", "bus 3"]
    assert (net.bus["vn_kv"] == 20.0).all() and len(net.line) == 2 and len(net.ext_grid) == 1
    assert net.load["p_mw"].sum() == pytest.approx(1.5)
    pp.runpp(net)  # the converted case solves
    assert net.converged and net.res_bus["vm_pu"].min() < 1.0


def test_matpower_branch_without_rating_is_refused(tmp_path: Path) -> None:
    text = CASE.read_text().replace(
        "2\t3\t0.02\t0.04\t0\t5\t5\t5", "2\t3\t0.02\t0.04\t0\t0\t0\t0"
    )
    case = tmp_path / "unrated.m"
    case.write_text(text)
    with pytest.raises(ScenarioError, match=r"lines without a rating \(max_i_ka\): 'line 1'"):
        load_network(case)
    assert UNRATED_I_KA == 99_999.0


def test_simbench_code_loads_offline() -> None:
    layout = load_network("1-LV-rural1--0-sw")
    names = layout.net.bus["name"].astype(str)
    assert len(names) == 15 and names.is_unique and "LV1.101 Bus 1" in set(names)
    assert layout.connection_points == {}


def test_simbench_prefix_names_a_wrong_code() -> None:
    with pytest.raises(ScenarioError, match=r"not a SimBench code; did you mean .*1-LV-rural"):
        load_network("simbench:1-LV-rural9--0-sw")


def test_pandapower_json_and_builtin_name_load(tmp_path: Path) -> None:
    path = _save(pn.create_cigre_network_lv(), tmp_path / "net.json")
    from_file = load_network(path).net
    built_in = load_network("cigre_lv").net
    assert from_file.bus["name"].tolist() == built_in.bus["name"].tolist()
    assert len(from_file.line) == len(built_in.line) == 37


def test_scenario_gives_its_network_and_connection_points() -> None:
    layout = load_network(ROOT / "scenarios" / "demo.toml")
    assert "Bus R18" in layout.connection_points["residential"]


def test_unknown_bus_is_named_with_a_suggestion() -> None:
    with pytest.raises(ScenarioError, match=r"unknown bus\(es\) 'Bus R99' \(did you mean"):
        load_network("cigre_lv", buses=["Bus R11", "Bus R99"])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("no-such-network", "not a file, SimBench code or built-in network"),
        ("missing/net.json", "no such file"),
    ],
)
def test_unknown_sources_are_clear_errors(source: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_network(source)


def test_file_that_does_not_load_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a network"}')
    with pytest.raises(ScenarioError, match="not a pandapower network"):
        load_network(bad)
    broken = tmp_path / "broken.m"
    broken.write_text("function mpc = broken\nmpc.version = '2';\n")
    with pytest.raises(ScenarioError, match="not a MATPOWER case"):
        load_network(broken)
    other = tmp_path / "net.xlsx"
    other.write_text("")
    with pytest.raises(ScenarioError, match="unknown network source"):
        load_network(other)


def test_isolated_bus_is_named(tmp_path: Path) -> None:
    net = pn.create_cigre_network_lv()
    pp.create_bus(net, vn_kv=0.4, name="Bus island")
    with pytest.raises(ScenarioError, match=r"not connected to the external grid.*'Bus island'"):
        load_network(_save(net, tmp_path / "net.json"))


def test_missing_ratings_and_voltages_are_named(tmp_path: Path) -> None:
    net = pn.create_cigre_network_lv()
    net.line.loc[net.line["name"] == "Line R1-R2", "max_i_ka"] = math.nan
    net.trafo.loc[net.trafo["name"] == "Trafo I0-I1", "sn_mva"] = 0.0
    net.bus.loc[net.bus["name"] == "Bus C5", "vn_kv"] = math.nan
    with pytest.raises(ScenarioError) as err:
        load_network(_save(net, tmp_path / "net.json"))
    text = str(err.value)
    assert "lines without a rating (max_i_ka): 'Line R1-R2'" in text
    assert "transformers without a rating (sn_mva): 'Trafo I0-I1'" in text
    assert "buses without a nominal voltage (vn_kv): 'Bus C5'" in text


def test_duplicate_bus_names_and_no_external_grid_are_refused(tmp_path: Path) -> None:
    net = pn.create_cigre_network_lv()
    net.bus.loc[net.bus["name"] == "Bus C5", "name"] = "Bus C4"
    net.ext_grid["in_service"] = False
    with pytest.raises(ScenarioError) as err:
        load_network(_save(net, tmp_path / "net.json"))
    assert "bus names used more than once: 'Bus C4'" in str(err.value)
    assert "no external grid" in str(err.value)
