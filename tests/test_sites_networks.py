"""The sites use case runs on the user's own network: a SimBench code or a network file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from v2x_helpers import DEMO, toy_overrides
from v2xcosim.core.errors import ScenarioError
from v2xcosim.scenario import load_scenario, run

SIMBENCH = "simbench:1-LV-rural1--0-sw"
ON_SIMBENCH = [
    f"grid.network='{SIMBENCH}'",
    "grid.pv=[]",
    "sites.0.buses=['LV1.101 Bus 4', 'LV1.101 Bus 8']",
    "time.duration_s=3600",
    "results.plots=false",
]


def test_a_simbench_network_validates_and_runs(tmp_path: Path) -> None:
    spec = load_scenario(DEMO, [*toy_overrides(4), *ON_SIMBENCH])
    res = run(spec, tmp_path)
    assert res.exit_code == 0 and res.kpis["steps"] == 12
    net = json.loads((tmp_path / "network.json").read_text())
    assert "LV1.101 Bus 4" in json.dumps(net)


def test_a_network_file_is_resolved_against_the_scenario(tmp_path: Path) -> None:
    import pandapower as pp
    import simbench as sb

    pp.to_json(sb.get_simbench_net(SIMBENCH.removeprefix("simbench:")), str(tmp_path / "my.json"))
    scenario = tmp_path / "mine.toml"
    scenario.write_text(DEMO.read_text().replace('file = "data/', f'file = "{DEMO.parent}/data/'))
    over = [o for o in ON_SIMBENCH if not o.startswith("grid.network")]
    spec = load_scenario(scenario, [*over, "grid.network='my.json'"])
    assert spec.grid.network == str(tmp_path / "my.json")  # type: ignore[attr-defined]


def test_unknown_bus_and_bad_networks_are_named() -> None:
    with pytest.raises(
        ScenarioError, match=r"sites\[0\]\.buses\[0\]: no bus 'Bus R11' in simbench"
    ):
        load_scenario(
            DEMO, [f"grid.network='{SIMBENCH}'", "grid.pv=[]", "sites.0.buses=['Bus R11']"]
        )
    with pytest.raises(ScenarioError, match=r"grid\.network: .*not a SimBench code; did you mean"):
        load_scenario(DEMO, ["grid.network='simbench:1-LV-rural1--0-sx'"])
    with pytest.raises(ScenarioError, match=r"grid\.network: .*file not found: .*nowhere\.json"):
        load_scenario(DEMO, ["grid.network='nowhere.json'"])


def test_an_isolated_bus_is_refused(tmp_path: Path) -> None:
    import pandapower as pp
    import simbench as sb

    net = sb.get_simbench_net(SIMBENCH.removeprefix("simbench:"))
    line = int(
        net.line.index[net.line["to_bus"] == net.bus.index[net.bus["name"] == "LV1.101 Bus 8"][0]][
            0
        ]
    )
    net.line.at[line, "in_service"] = False
    pp.to_json(net, str(tmp_path / "cut.json"))
    with pytest.raises(ScenarioError, match=r"grid\.network: .*isolated.*LV1\.101 Bus 8"):
        load_scenario(DEMO, [f"grid.network='{tmp_path / 'cut.json'}'", "grid.pv=[]"])


def test_the_three_studies_run_on_a_users_network(tmp_path: Path) -> None:
    """A network file of the user's: a run on it, then the voltage, protection, hosting studies."""
    import pandapower as pp
    import simbench as sb

    from v2xcosim.cli import main

    net_file = tmp_path / "feeder.json"
    pp.to_json(sb.get_simbench_net(SIMBENCH.removeprefix("simbench:")), str(net_file))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    over = [o for o in ON_SIMBENCH if not o.startswith("grid.network")]
    run(load_scenario(DEMO, [*toy_overrides(4), *over, f"grid.network='{net_file}'"]), run_dir)
    assert main(["study", "voltage", str(run_dir), "--out", str(tmp_path / "v")]) == 0
    assert (tmp_path / "v" / "bus_voltage.csv").is_file()
    assert main(["study", "protection", str(net_file), "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "shortcircuit.csv").is_file()
    argv = [
        "study",
        "hosting",
        str(net_file),
        "--bus",
        "LV1.101 Bus 8",
        "--out",
        str(tmp_path / "h"),
    ]
    assert main(argv) == 0
    assert (tmp_path / "h" / "hosting.csv").read_text().count("LV1.101 Bus 8") == 2
