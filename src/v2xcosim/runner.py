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
* names, in a hang or crash message, the simulator, entity and simulated time of the call the
  child was in (:func:`v2xcosim.cosim.adapters.guarded` announces each call on the pipe);
* forwards the child's own error message (a :class:`~v2xcosim.core.errors.V2XError`) unchanged.

The child writes result files atomically and ``metadata.json`` last, so a killed run never
leaves a folder whose ``metadata.json`` does not verify.

The child dies with its parent, even when the parent is killed with SIGKILL and cannot clean
up: on Linux it asks the kernel for ``PR_SET_PDEATHSIG`` = SIGKILL (``prctl(2)``, via ctypes);
everywhere, a watcher thread of the child checks every :data:`PARENT_POLL_S` seconds that its
parent is still the one that started it, and kills the child's process group otherwise (a
thread runs while the main thread is inside an FMU's C code, since ctypes releases the GIL).
The child's temporary files (FMU extraction folders) live in ``v2xcosim-run-<parent pid>-*``
in the temporary directory, removed when the run ends; one left by a parent killed with
SIGKILL is removed by the next run (:func:`clean_stale_run_dirs`).
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
from typing import TYPE_CHECKING, Any

from v2xcosim.core.errors import ScenarioError, SimulationError, V2XError
from v2xcosim.core.runlock import pid_alive
from v2xcosim.cosim.adapters import ACTIVITY_PREFIX, report_activity
from v2xcosim.cosim.store_sim import STEPPING_BEAT

if TYPE_CHECKING:
    from v2xcosim.config.common import ScenarioBase

RUN_TMP_PREFIX = "v2xcosim-run-"
"""Prefix of a run's temporary folder, followed by the parent's pid and ``-``."""

PARENT_POLL_S = 1.0
"""How often [s] the child checks that its parent is alive (fallback to PR_SET_PDEATHSIG)."""

_PR_SET_PDEATHSIG = 1
"""``prctl`` option number (``<linux/prctl.h>``)."""


@dataclass
class ChildOutcome:
    """What the child reported: exit code, KPIs and the output folder."""

    exit_code: int
    kpis: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    profile: dict[str, Any] | None = None


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
    inside: tuple[str, str, str] | None = None
    """Simulator, entity and simulated time [s] of the call the child is in, if any
    (:func:`v2xcosim.cosim.adapters.guarded` announces each call on the heartbeat pipe)."""

    def enter(self, text: str) -> None:
        """Take an activity line without its ``@``: ``sim<TAB>entity<TAB>time``, or empty (left)."""
        parts = text.split("\t")
        self.inside = (parts[0], parts[1], parts[2]) if len(parts) == 3 else None

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
        """Where the run was, for hang and crash messages.

        The simulator call it was in (if any), and its phase at the latest beat.
        """
        phase = self._phase()
        if self.inside is None:
            return phase
        sim, entity, t_s = self.inside
        return f"in simulator {sim}, entity {entity}, at simulated time t = {t_s} s — {phase}"

    def _phase(self) -> str:
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
                f"the run hung {self.where()}: the co-simulation did not start stepping within "
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


def clean_stale_run_dirs(tmp_root: Path | None = None) -> list[Path]:
    """Remove run temporary folders whose parent process has ended; return them.

    Only folders named ``v2xcosim-run-<pid>-*`` of a pid that no longer exists on this host
    and owned by this user are removed (a folder of a live run is left alone).
    """
    root = Path(tmp_root if tmp_root is not None else tempfile.gettempdir())
    removed: list[Path] = []
    try:
        candidates = list(root.glob(f"{RUN_TMP_PREFIX}*"))
    except OSError:
        return removed
    for folder in candidates:
        pid_text = folder.name[len(RUN_TMP_PREFIX) :].partition("-")[0]
        try:
            owned = (
                folder.is_dir() and not folder.is_symlink() and folder.stat().st_uid == os.getuid()
            )
        except OSError:
            continue
        if not owned or not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _child_env() -> tuple[dict[str, str], str]:
    """Environment of a watched child and its private temporary folder.

    The child imports this package (``PYTHONPATH``) and writes its temporary files (FMU
    extraction folders) into a folder the parent removes afterwards: a child killed by the
    watchdog or by a crash cannot clean up after itself.  Folders of dead runs go first.
    """
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    clean_stale_run_dirs()
    child_tmp = tempfile.mkdtemp(prefix=f"{RUN_TMP_PREFIX}{os.getpid()}-")
    env["TMPDIR"] = child_tmp
    return env, child_tmp


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_watched_spec(
    spec: ScenarioBase,
    scenario: Path,
    overrides: Sequence[str],
    out_dir: Path,
    *,
    progress: bool = True,
    profile: bool = False,
) -> ChildOutcome:
    """:func:`run_watched` under the limits and horizon of ``spec`` (``profile`` as there).

    ``spec`` is the scenario file ``scenario`` loaded with ``overrides`` (the child loads it
    again): its ``runner`` timeouts [s] watch the child, its ``time`` gives steps and step [s].
    """
    return run_watched(
        scenario,
        overrides,
        out_dir,
        startup_timeout_s=spec.runner.startup_timeout_s,
        stall_timeout_s=spec.runner.stall_timeout_s,
        n_steps=spec.time.n_steps,
        step_s=spec.time.step_s,
        progress=progress,
        profile=profile,
    )


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
    profile: bool = False,
) -> ChildOutcome:
    """Run the scenario in a watched child process; raise on hang, crash or error.

    ``profile``: the child also writes ``profile.json`` (the wall time's split) into the run
    folder; the split comes back in :attr:`ChildOutcome.profile` either way.
    """
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
                "parent": os.getpid(),
                "profile": profile,
            }
        ),
    ]
    env, child_tmp = _child_env()
    try:
        proc = subprocess.Popen(cmd, pass_fds=(w_fd,), start_new_session=True, env=env)
    except BaseException:
        os.close(r_fd)
        shutil.rmtree(child_tmp, ignore_errors=True)
        raise
    finally:
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
                    elif line.startswith(ACTIVITY_PREFIX.encode()):
                        dog.enter(line[1:].decode())
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
        profile=final.get("profile"),
    )


def preflight_watched(scenario: Path, overrides: Sequence[str], *, timeout_s: float) -> None:
    """Build, load and check the scenario's FMUs (its preflight) in a child, bounded in time.

    ``v2xcosim validate`` loads and instantiates the FMUs as a run does, and an FMU can hang
    there (in its C code, which no thread can interrupt); so the preflight runs in a child
    process of its own session, stopped with its whole process group after ``timeout_s``
    (the scenario's ``runner.startup_timeout_s``), which raises :class:`SimulationError` (exit
    2) naming the limit.  The child's temporary files (FMU extraction) are removed.
    """
    cmd = [
        sys.executable,
        "-m",
        "v2xcosim.runner",
        json.dumps(
            {
                "scenario": str(scenario),
                "overrides": list(overrides),
                "preflight": True,
                "fd": 1,
                "parent": os.getpid(),
            }
        ),
    ]
    env, child_tmp = _child_env()
    try:
        with subprocess.Popen(
            cmd, stdout=subprocess.PIPE, start_new_session=True, env=env
        ) as proc:  # the context closes the pipe whatever happens
            try:
                stdout, _ = proc.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise SimulationError(
                    "the FMU preflight (building, loading and instantiating the scenario's "
                    f"FMUs) did not finish within runner.startup_timeout_s = {timeout_s:g} s "
                    "and was stopped: an FMU hangs while it is loaded or instantiated — or "
                    "raise runner.startup_timeout_s if loading is just slow"
                ) from None
            except BaseException:
                _kill_group(proc)
                raise
    finally:
        shutil.rmtree(child_tmp, ignore_errors=True)
    verdicts = [ln for ln in stdout.decode(errors="replace").splitlines() if ln.startswith("{")]
    final: dict[str, Any] = json.loads(verdicts[-1]) if verdicts else {}
    if final.get("event") == "error":
        cls = ScenarioError if final.get("kind") == "scenario" else SimulationError
        raise cls(str(final.get("message")))
    if final.get("event") != "done":
        rc = proc.returncode
        how = f"killed by signal {signal.Signals(-rc).name}" if rc < 0 else f"exit code {rc}"
        raise SimulationError(
            f"the FMU preflight process died ({how}) without reporting: an FMU crashed while it "
            "was loaded or instantiated"
        )


def _die_with_parent(parent_pid: int) -> None:
    """Make this (child) process end with ``parent_pid``, even if the parent gets SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watcher thread below still works
            pass

    def kill_own_group() -> None:
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(0), signal.SIGKILL)
        os._exit(2)

    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        kill_own_group()

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent_pid:
                kill_own_group()

    import threading

    threading.Thread(target=watch, name="v2xcosim-parent-watch", daemon=True).start()


def _child(arg: str) -> int:
    """Child process entry: run and report one JSON verdict line on the heartbeat pipe."""
    opts = json.loads(arg)
    fd = int(opts["fd"])
    if "parent" in opts:
        _die_with_parent(int(opts["parent"]))

    def report(data: dict[str, Any]) -> None:
        os.write(fd, (json.dumps(data, allow_nan=False, default=str) + "\n").encode())

    try:
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
        from v2xcosim.scenario import load_scenario, preflight, run

        spec = load_scenario(opts["scenario"], opts["overrides"])
        if opts.get("preflight"):
            preflight(spec)
            report({"event": "done", "exit_code": 0})
            return 0
        report_activity(fd)
        result = run(
            spec,
            Path(opts["out"]),
            progress_fd=fd,
            scenario_file=opts["scenario"],
            profile=bool(opts.get("profile", False)),
        )
        report(
            {
                "event": "done",
                "exit_code": result.exit_code,
                "kpis": result.kpis,
                "wall_s": result.wall_s,
                "profile": result.profile,
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
