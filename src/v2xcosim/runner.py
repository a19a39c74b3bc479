"""Run a scenario in a child process watched by a watchdog (hangs, crashes, kills).

mosaik waits forever on a hung simulator, and a simulator stuck inside a C call (an FMU) cannot
be interrupted from its own thread — a heartbeat *thread* would even keep beating while the
step loop hangs, because ctypes releases the GIL.  So the run happens in a child process in
its own process group, and the heartbeat is the step loop's own progress: the result store
writes the simulated time of every completed step to a pipe (a line ``"<time>"``), and a line
``"stepping"`` when the set-up is done and mosaik is about to step (its ``setup_done`` call).
Set-up — Python imports, FMU loading and instantiation, building the mosaik world — takes no
steps and, on a loaded machine, far longer than a step, so the watchdog has two clocks
(:class:`Watchdog`).  The parent (this module):

* shows a progress bar with ETA from those beats;
* stops the whole process group (SIGKILL) when the child has not started stepping within
  ``runner.startup_timeout_s`` of its start, or, once stepping, when no step completes for
  ``runner.stall_timeout_s``; it reports the hang with its phase (set-up, or the last completed
  simulated time);
* reports a child that dies without a verdict (segfault, ``abort()``, OOM kill) with its signal;
* forwards the child's own error message (a :class:`~v2xcosim.core.errors.V2XError`) unchanged.

The child writes result files atomically and ``metadata.json`` last, so a killed run never
leaves a folder whose ``metadata.json`` does not verify.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from v2xcosim.core.errors import ScenarioError, SimulationError, V2XError
from v2xcosim.cosim.store_sim import STEPPING_BEAT


@dataclass
class ChildOutcome:
    """What the child reported: exit code, KPIs and the output folder."""

    exit_code: int
    kpis: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0




@dataclass
class Watchdog:
    """The watchdog's decisions: the run's phase, whether it overran it, where it stopped.

    ``now`` is always passed in (the parent gives ``time.monotonic()``), so the decisions can be
    tested with a fake clock.  Until the first beat the run is in set-up, bounded by
    ``startup_timeout_s`` from the child's start; any beat (``"stepping"`` or a completed step)
    starts the stepping phase, where ``stall_timeout_s`` bounds the time since the latest beat.
    """

    startup_timeout_s: float
    stall_timeout_s: float
    n_steps: int
    step_s: int
    last_beat: float
    """Clock of the child's start, then of its latest beat."""
    stepping: bool = False
    last_t: int | None = None
    """Simulated time [s] of the latest completed step."""

    def beat(self, line: str, now: float) -> bool:
        """Take one heartbeat line at clock ``now``; return whether it reports a completed step."""
        self.stepping = True
        self.last_beat = now
        if line == STEPPING_BEAT:
            return False
        self.last_t = int(line)
        return True

    @property
    def timeout_s(self) -> float:
        """The limit of the current phase."""
        return self.stall_timeout_s if self.stepping else self.startup_timeout_s

    def overdue(self, now: float) -> bool:
        """Whether the current phase has gone on without a beat for longer than its limit."""
        return now - self.last_beat > self.timeout_s

    def where(self) -> str:
        """Where the run was at its latest beat, for hang and crash messages."""
        if not self.stepping:
            return "during set-up (before the first step)"
        if self.last_t is None:
            return "in the first step (t = 0 s)"
        if self.last_t >= (self.n_steps - 1) * self.step_s:
            return f"after the last step (t = {self.last_t} s), while finishing the run"
        return f"after simulated time t = {self.last_t} s (step {self.last_t // self.step_s})"

    def hang_message(self) -> str:
        """Describe the hang of a run stopped because :meth:`overdue` became true."""
        if not self.stepping:
            return (
                "the run hung during set-up: the co-simulation did not start stepping within "
                f"runner.startup_timeout_s = {self.startup_timeout_s:g} s (imports, FMU loading "
                "and instantiation, building the mosaik world); the simulation process group was "
                "stopped. A simulator is stuck while starting — raise runner.startup_timeout_s "
                "if set-up is just slow"
            )
        return (
            f"the run hung {self.where()}: no step completed for runner.stall_timeout_s = "
            f"{self.stall_timeout_s:g} s; the simulation process group was stopped. A simulator "
            "(FMU, power flow) is stuck — raise runner.stall_timeout_s if a step is just slow"
        )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_watched(
    scenario: Path,
    overrides: Sequence[str],
    out_dir: Path,
    *,
    startup_timeout_s: float,
    stall_timeout_s: float,
    n_steps: int,
    step_s: int,
    progress: bool = True,
) -> ChildOutcome:
    """Run the scenario in a watched child process; raise on hang, crash or error."""
    r_fd, w_fd = os.pipe()
    cmd = [
        sys.executable,
        "-m",
        "v2xcosim.runner",
        json.dumps(
            {
                "scenario": str(scenario),
                "overrides": list(overrides),
                "out": str(out_dir),
                "fd": w_fd,
            }
        ),
    ]
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # The child's temporary files (FMU extraction folders) go into a folder the parent removes
    # afterwards: a child killed by the watchdog or by a crash cannot clean up after itself.
    child_tmp = tempfile.mkdtemp(prefix="v2xcosim-run-")
    env["TMPDIR"] = child_tmp
    proc = subprocess.Popen(cmd, pass_fds=(w_fd,), start_new_session=True, env=env)
    os.close(w_fd)
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=n_steps, unit="step", desc="simulating", file=sys.stderr, dynamic_ncols=True
        )
    dog = Watchdog(
        startup_timeout_s=startup_timeout_s,
        stall_timeout_s=stall_timeout_s,
        n_steps=n_steps,
        step_s=step_s,
        last_beat=time.monotonic(),
    )
    buf = b""
    final: dict[str, Any] | None = None
    try:
        while True:
            ready, _, _ = select.select([r_fd], [], [], 0.5)
            if ready:
                chunk = os.read(r_fd, 65536)
                if not chunk:
                    break  # the child closed the pipe: it has ended
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line.startswith(b"{"):
                        final = json.loads(line)
                    elif (
                        line.strip()
                        and dog.beat(line.strip().decode(), time.monotonic())
                        and bar is not None
                    ):
                        bar.update(1)
            if dog.overdue(time.monotonic()):
                _kill_group(proc)
                raise SimulationError(dog.hang_message())
        proc.wait()
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        os.close(r_fd)
        if bar is not None:
            bar.close()
        # no leftover processes in the child's group, and none of its temporary files
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            proc.wait()
        shutil.rmtree(child_tmp, ignore_errors=True)
    if final is None:
        rc = proc.returncode
        how = f"killed by signal {signal.Signals(-rc).name}" if rc < 0 else f"exit code {rc}"
        raise SimulationError(
            f"the simulation process died ({how}) {dog.where()} without reporting; a simulator "
            "crashed (e.g. inside an FMU's C code) — see the messages above"
        )
    if final.get("event") == "error":
        cls = ScenarioError if final.get("kind") == "scenario" else SimulationError
        raise cls(str(final.get("message")))
    return ChildOutcome(
        exit_code=int(final["exit_code"]),
        kpis=dict(final.get("kpis", {})),
        wall_s=float(final.get("wall_s", 0.0)),
    )


def _child(arg: str) -> int:
    """Child process entry: run and report one JSON verdict line on the heartbeat pipe."""
    opts = json.loads(arg)
    fd = int(opts["fd"])

    def report(data: dict[str, Any]) -> None:
        os.write(fd, (json.dumps(data, allow_nan=False, default=str) + "\n").encode())

    try:
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
        from v2xcosim.scenario import load_scenario, run

        spec = load_scenario(opts["scenario"], opts["overrides"])
        result = run(spec, Path(opts["out"]), progress_fd=fd, scenario_file=opts["scenario"])
        report(
            {
                "event": "done",
                "exit_code": result.exit_code,
                "kpis": result.kpis,
                "wall_s": result.wall_s,
            }
        )
        return result.exit_code
    except V2XError as exc:
        kind = "scenario" if isinstance(exc, ScenarioError) else "simulation"
        report({"event": "error", "kind": kind, "message": str(exc)})
        return 2
    except Exception as exc:  # a crash of our own code: still a clear verdict
        import traceback

        traceback.print_exc()
        report(
            {
                "event": "error",
                "kind": "simulation",
                "message": f"internal error {type(exc).__name__}: {exc} (traceback above)",
            }
        )
        return 2


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
