"""Simulators in a child process and behind ``v2xcosim serve`` on loopback (issue 15, item 4).

The references are the in-process runs of the same scenarios: a run with remote simulators must
leave the same result tables and KPIs (``tests/goldens/digest.py::folder_golden``).  A served
simulator killed mid-run must stop the run with exit 2 naming it, leaving no process behind.
Nothing here waits on the wall clock except generous limits on reading a served process's
output (what it prints once it listens) and on processes ending.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from goldens.digest import folder_golden
from v2xcosim import cli
from v2xcosim.core.errors import ScenarioError
from v2xcosim.cosim.placement import (
    IN_PROCESS,
    SIMULATORS,
    parse_address,
    placement_problems,
    sim_config,
)
from v2xcosim.cosim.remote import RemoteSimulatorLost

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scenarios" / "demo.toml"
TERNI = ROOT / "scenarios" / "terni_v2g.toml"
LIMIT_S = 120.0
"""Generous limit [s] on a served process saying it listens, or ending after its run."""


# --- the [placement] table -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5678", ("127.0.0.1", 5678)),
        (" localhost:1 ", ("localhost", 1)),
        ("[::1]:65535", ("::1", 65535)),
    ],
)
def test_parse_address_accepts_host_and_port(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("127.0.0.1", "not an address"),
        (":5678", "not an address"),
        ("host:http", "not an integer"),
        ("host:0", "outside 1-65535"),
        ("host:65536", "outside 1-65535"),
        ("::1:5678", "in brackets"),
    ],
)
def test_parse_address_refuses_naming_the_fault(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_address(text)
    assert parse_address("h:0", any_port=True) == ("h", 0)


def test_placement_problems_name_key_and_the_simulators() -> None:
    problems = dict(
        placement_problems(
            {
                "Grid": "process",
                "FMU": "10.0.0.2:5678",
                "Actors": IN_PROCESS,
                "Fleet": "process",
                "Profiles": "elsewhere",
                "Store": "process",
            }
        )
    )
    assert sorted(problems) == ["placement.Fleet", "placement.Profiles", "placement.Store"]
    assert ", ".join(SIMULATORS) in problems["placement.Fleet"]
    assert "'elsewhere' is not an address" in problems["placement.Profiles"]
    assert "runs in the process of the run" in problems["placement.Store"]


def test_sim_config_uses_mosaik_starters_only_where_placed() -> None:
    from mosaik.starters import Starter

    config = sim_config({"Grid": "process", "FMU": "127.0.0.1:5678"})
    assert config["Profiles"] == {"python": SIMULATORS["Profiles"]}
    assert isinstance(config["Grid"], Starter) and isinstance(config["FMU"], Starter)
    with pytest.raises(ScenarioError, match=r"placement\.Store"):
        sim_config({"Store": "127.0.0.1:5678"})


def test_scenario_file_placement_problems_have_line_and_key(tmp_path: Path) -> None:
    from v2xcosim.scenario import load_scenario

    for entry in (ROOT / "scenarios").iterdir():  # the demo's data files, relative to it
        if entry.suffix != ".toml":
            (tmp_path / entry.name).symlink_to(entry)
    text = DEMO.read_text().replace(
        "[time]", '[placement]\nGrid = "process"\nFMUs = "process"\n\n[time]', 1
    )
    line = text.splitlines().index('FMUs = "process"') + 1
    scenario = tmp_path / "demo.toml"
    scenario.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(scenario)
    message = str(err.value)
    assert f"demo.toml:{line}:1: placement.FMUs: 'FMUs' is not a simulator" in message
    assert "Profiles, Grid, FMU, Actors, Store" in message
    assert "placement.Grid" not in message
    scenario.write_text(text.replace('FMUs = "process"\n', ""))
    assert load_scenario(scenario).placement == {"Grid": "process"}


def test_remote_simulator_error_stops_the_run_naming_it(tmp_path: Path, served: Any) -> None:
    """mosaik alone logs a remote simulator's exception and returns as if the run had ended."""
    from v2xcosim.core.errors import SimulationError
    from v2xcosim.cosim.world import new_world, run_world

    server = served("Profiles")
    world = new_world({"Profiles": server.addr})
    prof = world.start("Profiles", series={"x": [1.0, 2.0]}, step_s=1).Profiles()
    store = world.start("Store").Store(
        labels={},
        vector_labels={},
        out_dir=str(tmp_path),
        start_utc="2024-01-01T00:00:00+00:00",
        step_s=1,
        progress_fd=None,
    )
    world.connect(prof, store, "x")
    with pytest.raises(SimulationError) as err:
        run_world(world, 3)  # two values, three steps: the third get_data fails remotely
    assert str(err.value).startswith(
        f'simulator Profiles (placement.Profiles = "{server.addr}"), get_data: IndexError'
    )
    assert server.end() == 0  # stopped by the shut-down of the run, not killed


# --- v2xcosim serve: bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["serve", "Nope", "--addr", "127.0.0.1:5678"], "invalid choice: 'Nope'"),
        (["serve", "Store", "--addr", "127.0.0.1:5678"], "invalid choice: 'Store'"),
        (["serve", "Grid", "--addr", "127.0.0.1"], "serve --addr: '127.0.0.1' is not an address"),
        (["serve", "Grid", "--addr", "127.0.0.1:70000"], "outside 0-65535"),
        (["serve", "Grid", "--addr", "127.0.0.1:0", "--timeout", "0"], "serve --timeout"),
    ],
)
def test_serve_refuses_bad_input_with_exit_2(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    assert says in capsys.readouterr().err


def test_serve_cannot_bind_a_taken_port(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", "Grid", "--addr", f"127.0.0.1:{port}"]) == 2
    assert "cannot listen there" in capsys.readouterr().err


# --- loopback runs ---------------------------------------------------------------------------


class Served:
    """A ``v2xcosim serve`` child process; its stdout lines are read by a thread."""

    def __init__(self, simulator: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "v2xcosim.cli", "serve", simulator, "--addr", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self.next_line()
        prefix = f"serving {simulator} on "
        assert first.startswith(prefix), first
        self.addr = first[len(prefix) :].strip()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def next_line(self) -> str:
        return self.lines.get(timeout=LIMIT_S)

    def end(self) -> int:
        return self.proc.wait(timeout=LIMIT_S)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=LIMIT_S)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def served() -> Iterator[Any]:
    started: list[Served] = []

    def start(simulator: str) -> Served:
        started.append(Served(simulator))
        return started[-1]

    yield start
    for s in started:
        s.close()


def _placement_children() -> set[int]:
    """Pids of live processes running a simulator for a run (``process`` or ``serve``)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (b"v2xcosim.cosim.placement" in cmd or b"serve" in cmd[3:4]):
            pids.add(int(entry.name))
    return pids


def _golden(out: Path) -> dict[str, Any]:
    """The run folder's golden without the run request (it records the --set placement)."""
    golden = folder_golden(out)
    assert golden["tables"].pop(".v2xcosim-run.json")
    assert any(name.endswith(".parquet") for name in golden["tables"])
    return golden


def _run(scenario: Path, out: Path, *sets: str) -> int:
    argv = ["run", str(scenario), "--out", str(out), "--no-progress"]
    for s in sets:
        argv += ["--set", s]
    return cli.main(argv)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "horizon", "in_child", "served_sim"),
    [
        (DEMO, "time.duration_s=7200", "FMU", "Grid"),
        (TERNI, "time.duration_s=7200", "Actors", "Grid"),
    ],
    ids=["demo", "terni"],
)
def test_remote_run_equals_in_process_run(
    scenario: Path, horizon: str, in_child: str, served_sim: str, tmp_path: Path, served: Any
) -> None:
    before = _placement_children()
    local = tmp_path / "local"
    assert _run(scenario, local, horizon) == 0
    server = served(served_sim)
    remote = tmp_path / "remote"
    code = _run(
        scenario,
        remote,
        horizon,
        f'placement.{in_child}="process"',
        f'placement.{served_sim}="{server.addr}"',
    )
    assert code == 0
    assert server.next_line().startswith("a run connected from 127.0.0.1:")
    assert server.end() == 0  # one run served, then it ends by itself
    assert _golden(remote) == _golden(local)
    assert _placement_children() <= before  # no simulator process outlives its run


@pytest.mark.slow
def test_lost_served_simulator_mid_run_is_named(
    tmp_path: Path, served: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed at simulated t = 3600 s (by the in-process profile simulator, deterministic)."""
    from v2xcosim.cosim.profile_sim import ProfileSim
    from v2xcosim.scenario import load_scenario, run

    server = served("Grid")
    original = ProfileSim.step

    def step(self: ProfileSim, time: int, inputs: Any, max_advance: int) -> int:
        if time == 3600:
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=LIMIT_S)
        return original(self, time, inputs, max_advance)

    monkeypatch.setattr(ProfileSim, "step", step)
    spec = load_scenario(
        DEMO, ["time.duration_s=7200", f'placement.Grid="{server.addr}"', 'placement.FMU="process"']
    )
    out = tmp_path / "run"
    out.mkdir()
    before = _placement_children()
    with pytest.raises(
        RemoteSimulatorLost, match=f'remote simulator Grid \\(placement.Grid = "{server.addr}"\\)'
    ):
        run(spec, out)
    assert server.proc.returncode == -signal.SIGKILL
    assert not (out / "kpis.json").exists()
    assert _placement_children() <= before - {server.proc.pid}  # the FMU child ended too


@pytest.mark.slow
def test_killed_served_simulator_stops_the_command_with_exit_2(tmp_path: Path, served: Any) -> None:
    """Killed once the run has connected (set-up or stepping): exit 2, the message names it."""
    server = served("Grid")
    before = _placement_children()
    argv = [sys.executable, "-m", "v2xcosim.cli", "run", str(DEMO), "--no-progress"]
    argv += ["--out", str(tmp_path / "run"), "--set", f'placement.Grid="{server.addr}"']
    argv += ["--set", 'placement.FMU="process"']
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as run:
        try:
            assert server.next_line().startswith("a run connected from")
        finally:
            server.proc.kill()
        _, err = run.communicate(timeout=LIMIT_S)
    assert run.returncode == 2, err
    assert f'remote simulator Grid (placement.Grid = "{server.addr}")' in err, err
    assert _placement_children() <= before - {server.proc.pid}
