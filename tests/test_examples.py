"""The shipped example of a strategy of your own (examples/), and how a bad one is refused."""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from v2x_helpers import ROOT, cli
from v2xcosim.core.errors import ScenarioError, SimulationError
from v2xcosim.scenario import load_scenario, run

EXAMPLES = ROOT / "examples"
PEAK_SHAVER = EXAMPLES / "peak_shaver.toml"
TERNI = ROOT / "scenarios" / "terni_v2g.toml"
SHORT = [
    "time.start=2024-05-15T08:00:00+02:00",
    "time.duration_s=21600",  # 08:00-14:00 local, 24 steps of 900 s
    "terni.connectors_per_site=2",
    "results.plots=false",
]
SET_SHORT = [arg for o in SHORT for arg in ("--set", o)]


def kpis(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "kpis.json").read_text())
    return data


def site_tables(out: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in sorted(out.glob("site_*.parquet"))}


def _run(out: Path, scenario: Path, overrides: list[str]) -> Path:
    out.mkdir()
    assert run(load_scenario(scenario, overrides), out).exit_code == 0
    return out


def test_peak_shaver_example_runs_with_its_own_strategy_behind_the_guard(tmp_path: Path) -> None:
    # the simulators rebuild the spec from JSON: control.strategy_path carries the folder
    out = _run(tmp_path / "mine", PEAK_SHAVER, SHORT)
    ref = _run(tmp_path / "v2g", PEAK_SHAVER, [*SHORT, "control.strategy=v2g"])
    assert kpis(out)["strategy"] == "my_strategies:PeakShaver"
    assert kpis(ref)["strategy"] == "v2g"
    spec = load_scenario(PEAK_SHAVER, SHORT)
    soc_max = spec.control.soc_max  # type: ignore[attr-defined]
    p_max_w = spec.terni.connector_kw * 1e3  # type: ignore[attr-defined]
    mine, builtin = site_tables(out), site_tables(ref)
    assert sorted(mine) == sorted(builtin)
    differs = False
    for site, df in mine.items():
        soc, p = df.filter(like="soc[").to_numpy(), df.filter(like="p_ac_w[").to_numpy()
        assert soc.max() <= soc_max + 1e-6, site  # the guard's SOC limit
        assert np.abs(p).max() <= p_max_w + 1e-6, site  # the connector rating
        differs |= not np.allclose(p, builtin[site].filter(like="p_ac_w[").to_numpy())
    assert differs, "PeakShaver gave the same powers as the built-in v2g"
    sessions = pd.read_parquet(out / "sessions.parquet")
    assert len(sessions) > 0 and kpis(out)["departure_soc_shortfall_kwh"] == 0.0


def test_the_cli_imports_the_example_in_a_fresh_process_from_any_folder(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(
        [sys.executable, "-m", "v2xcosim.cli", "validate", str(PEAK_SHAVER), *SET_SHORT],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "strategy my_strategies:PeakShaver" in done.stdout


def test_the_example_validates_and_imports_from_the_scenario_folder() -> None:
    spec = load_scenario(PEAK_SHAVER)
    assert spec.control.strategy == "my_strategies:PeakShaver"  # type: ignore[attr-defined]
    assert spec.control.strategy_path == EXAMPLES  # type: ignore[attr-defined]
    assert str(EXAMPLES) not in sys.path  # only while importing
    # the built-in scenario with the example's folder given explicitly (what --compare uses)
    other = load_scenario(
        TERNI, ["control.strategy=my_strategies:PeakShaver", f"control.strategy_path={EXAMPLES}"]
    )
    assert other.control.strategy_path == EXAMPLES  # type: ignore[attr-defined]
    assert load_scenario(TERNI).control.strategy_path is None  # type: ignore[attr-defined]


def _scenario(tmp_path: Path, strategy: str) -> Path:
    """A copy of the example in ``tmp_path`` with ``control.strategy = strategy``."""
    text = PEAK_SHAVER.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^strategy = ".*$', f'strategy = "{strategy}"', text)
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _line_of_strategy(path: Path) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, ln in enumerate(lines, 1) if ln.startswith("strategy ="))


@pytest.fixture
def module_dir(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path``; the modules written there are forgotten after the test."""
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("tmp_strategies_"):
            del sys.modules[name]


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        ("greedy", "neither a built-in strategy"),
        ("my strategies:PeakShaver", "nor an import string 'module:Class'"),
        ("my_strategies:", "nor an import string"),
        ("tmp_strategies_none_such:Foo", "no module 'tmp_strategies_none_such'"),
        ("tmp_strategies_ok:Missing", "has no 'Missing'"),
        ("tmp_strategies_ok:NoDecide", "needs a method 'decide(self, inputs)'"),
        ("tmp_strategies_ok:TwoArguments", "taking exactly one argument"),
        ("tmp_strategies_ok:NoDirection", "a bool class attribute 'bidirectional'"),
        ("tmp_strategies_ok:NEITHER", "not a class"),
        ("tmp_strategies_ok:NeedsArgs", "built without arguments"),
        ("tmp_strategies_broken:Any", "failed: ZeroDivisionError"),
    ],
)
def test_a_bad_strategy_is_a_scenario_error_at_its_line(
    module_dir: Path, strategy: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (module_dir / "tmp_strategies_ok.py").write_text(
        textwrap.dedent(
            """
            NEITHER = 3

            class NoDecide:
                bidirectional = False

            class TwoArguments:
                bidirectional = False
                def decide(self, inputs, more):
                    return []

            class NoDirection:
                def decide(self, inputs):
                    return []

            class NeedsArgs:
                bidirectional = True
                def __init__(self, x):
                    pass
                def decide(self, inputs):
                    return []
            """
        ),
        encoding="utf-8",
    )
    (module_dir / "tmp_strategies_broken.py").write_text("x = 1 / 0\n", encoding="utf-8")
    path = _scenario(module_dir, strategy)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    text = str(err.value)
    assert f"{path}:{_line_of_strategy(path)}:1: control.strategy: " in text
    assert message in text
    assert cli(["validate", str(path)]) == 2  # before anything runs
    assert message in capsys.readouterr().out


def test_compare_takes_a_strategy_of_your_own_only_if_it_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["run", str(TERNI), "--out", str(out), "--compare", "tmp_strategies_gone:X"]
    assert cli(argv) == 2
    text = capsys.readouterr().out
    assert "choose one of uncontrolled, smart, v2g or a strategy of your own" in text
    assert "no module 'tmp_strategies_gone'" in text
    assert not out.exists()
    from v2xcosim import run_cli, usecases

    args = argparse.Namespace(
        scenario=TERNI,
        overrides=[f"control.strategy_path={EXAMPLES}"],
        compare="my_strategies:PeakShaver",
    )
    spec = load_scenario(TERNI, args.overrides)
    got = run_cli._compare_overrides(usecases.get("terni"), spec, args)
    assert got[-1] == "control.strategy=my_strategies:PeakShaver"
    assert run_cli._folder_suffix(args.compare) == "my_strategies_PeakShaver"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return np.full(inputs.n_ev, np.nan)", "non-finite values (NaN or inf) at positions [0"),
        ("return np.zeros(inputs.n_ev + 1)", "returned shape ("),
        ("return ['a'] * inputs.n_ev", "not numbers"),
        ("return None", "returned None"),
        ("raise KeyError('soc')", "decide() raised KeyError: 'soc'"),
    ],
)
def test_a_strategy_answering_nonsense_stops_the_run_naming_where(
    module_dir: Path, body: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"tmp_strategies_bad_{hashlib.sha1(body.encode()).hexdigest()[:8]}"
    (module_dir / f"{name}.py").write_text(
        textwrap.dedent(
            f"""
            import numpy as np

            class Bad:
                bidirectional = False

                def decide(self, inputs):
                    {body}
            """
        ),
        encoding="utf-8",
    )
    path = _scenario(module_dir, f"{name}:Bad")
    spec = load_scenario(path, [*SHORT, "time.duration_s=3600"])
    out = module_dir / "out"
    out.mkdir()
    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(str(u.exc_value)))
    with pytest.raises(SimulationError) as err:
        run(spec, out)
    text = str(err.value)
    # the failed world was shut down: nothing warns when it is collected (in a later test)
    del err  # its traceback holds the world
    gc.collect()
    assert not [u for u in unraisable if "never shut down" in u], unraisable
    assert f"control.strategy '{name}:Bad' at " in text
    assert re.search(r"(site cs_\w+, step \d+ \(2024-05-15 \d\d:\d\d UTC\)|EMSP plan)", text)
    assert message in text
