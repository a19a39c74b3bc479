"""The run folder's lock: one run at a time writes into a folder; stale locks are recognised.

``v2xcosim run`` creates ``<out>/.v2xcosim.lock`` with ``O_CREAT | O_EXCL`` (atomic on POSIX,
also between two runs started at the same instant) before anything else is written, and
removes it when the run ends, however it ends short of ``kill -9``.  The file holds the
holder's pid, host and start time (JSON), so a second run into the same folder is refused
naming them.  A lock whose holder is a process of this host that no longer exists (a run killed
with ``kill -9``, a machine crash) is stale: it is taken over.  A lock of another host cannot be
judged from here and is always respected (the message says how to remove it by hand).

The lock file is hidden, so the run's manifest (``metadata.json``) never lists it.  So is the
run's request (``.v2xcosim-run.json``: scenario file and ``--set`` overrides), written right
after the lock is taken, which lets ``v2xcosim run --resume OUT`` restart a run that died
(:func:`reclaim_run_folder`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from v2xcosim.core.errors import ScenarioError

LOCK_NAME = ".v2xcosim.lock"
"""File name of the lock inside the run folder."""

REQUEST_NAME = ".v2xcosim-run.json"
"""File name of the run's request inside the run folder: what ``--resume`` runs again."""

_OWN = (LOCK_NAME, REQUEST_NAME)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True  # no /proc (not Linux): existence is all we know
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


@dataclass(frozen=True)
class LockHolder:
    """Who holds a run folder's lock (read from the lock file)."""

    pid: int
    host: str
    started_utc: str

    def describe(self) -> str:
        """``pid 123 on host h since 2026-01-01T00:00:00Z``."""
        return f"pid {self.pid} on host {self.host} since {self.started_utc}"

    def is_stale(self) -> bool:
        """Whether the holder is a process of this host that has ended."""
        return self.host == socket.gethostname() and not pid_alive(self.pid)


def _read_holder(path: Path) -> LockHolder | None:
    """Return the holder recorded in ``path``; None if the file is unreadable or not ours."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        return LockHolder(int(data["pid"]), str(data["host"]), str(data["started_utc"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class RunLock:
    """The lock of run folder ``folder`` held by this process (a context manager).

    :meth:`acquire` raises :class:`ScenarioError` (exit 2) naming the holder when a live run
    holds the folder; :meth:`release` removes the lock file if it is still this process's.
    """

    def __init__(self, folder: Path) -> None:
        """Prepare the lock of ``folder`` (an existing folder); nothing is taken yet."""
        self.folder = folder
        self.path = folder / LOCK_NAME
        self.holder = LockHolder(
            os.getpid(),
            socket.gethostname(),
            dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        self.taken_over: LockHolder | None = None
        """The dead holder whose stale lock this one replaced, if any."""
        self._held = False

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise ScenarioError(
                f"--out {self.folder}: cannot create the lock file {self.path.name} "
                f"({exc.strerror}); choose a writable folder"
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "pid": self.holder.pid,
                    "host": self.holder.host,
                    "started_utc": self.holder.started_utc,
                },
                fh,
            )
        return True

    def acquire(self) -> RunLock:
        """Take the lock; take over a stale one; refuse (exit 2) when a run holds it."""
        for _attempt in range(3):
            if self._create():
                self._held = True
                return self
            holder = _read_holder(self.path)
            if holder is None:
                # being written by a run that started at this instant, or not a lock of ours
                raise ScenarioError(
                    f"--out {self.folder}: the folder is locked by another run (its lock file "
                    f"{self.path} is unreadable); wait for it, or remove the lock file if no run "
                    "writes there"
                )
            if not holder.is_stale():
                raise ScenarioError(
                    f"--out {self.folder}: another run writes into this folder ({holder.describe()}"
                    f"); wait for it to end or choose another --out (remove {self.path} only if "
                    "that run is gone)"
                )
            self.taken_over = holder
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        raise ScenarioError(
            f"--out {self.folder}: the lock {self.path} keeps changing hands; choose another --out"
        )

    def release(self) -> None:
        """Remove the lock file if this process still holds it (idempotent)."""
        if not self._held:
            return
        self._held = False
        current = _read_holder(self.path)
        if current is not None and current.pid == self.holder.pid:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _leftovers(folder: Path) -> list[Path]:
    """Entries of ``folder`` other than its lock and request (what makes it "not empty")."""
    return sorted(p for p in folder.iterdir() if p.name not in _OWN)


@dataclass
class RunFolder:
    """A run's output folder, locked by this process for the run's duration.

    ``created`` says whether this run created the folder: :meth:`release` then removes it
    again if the run failed before writing anything into it (nothing written on bad input).
    """

    path: Path
    lock: RunLock
    created: bool

    def release(self, *, failed: bool) -> None:
        """Release the lock; remove the folder if this run created it and left it empty.

        Empty but for the run's request, which then goes too (nothing written on bad input).
        """
        if failed and self.created:
            with contextlib.suppress(OSError):
                if not _leftovers(self.path):
                    (self.path / REQUEST_NAME).unlink(missing_ok=True)
        self.lock.release()
        if failed and self.created:
            with contextlib.suppress(OSError):
                self.path.rmdir()  # only if empty

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.release(failed=exc_type is not None)


def claim_run_folder(out: Path) -> RunFolder:
    """Create ``out`` (if needed), lock it and check it is empty; refuse with exit 2 otherwise.

    The lock is taken before the emptiness check, so of two runs started into the same folder
    at once exactly one proceeds; the other is refused naming the holder.  A stale lock (its
    run has died) is taken over when the dead run left nothing else in the folder; otherwise
    the folder holds that run's partial results and is refused, naming the dead run.
    """
    from v2xcosim.core.io import check_writable_dir

    check_writable_dir(out, "--out")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScenarioError(
            f"--out {out}: cannot create the folder ({exc.strerror}); choose another --out"
        ) from None
    folder = RunFolder(out, RunLock(out), created)
    try:
        folder.lock.acquire()
        rest = _leftovers(out)
        if rest:
            dead = folder.lock.taken_over
            what = (
                f"holds the partial results of a run that died ({dead.describe()})"
                if dead is not None
                else "exists and is not empty"
            )
            resume = (
                f", or restart the run into it with v2xcosim run --resume {out}"
                if dead is not None and (out / REQUEST_NAME).is_file()
                else ""
            )
            raise ScenarioError(
                f"output folder {out} {what}: {len(rest)} entries such as {rest[0].name!r}; "
                f"choose another --out or remove it{resume}"
            )
    except BaseException:
        folder.release(failed=True)
        raise
    return folder


def write_request(folder: Path, scenario: Path, overrides: list[str]) -> None:
    """Record what runs into ``folder`` (scenario file, absolute, and overrides), atomically."""
    from v2xcosim.core.io import write_json_atomic

    write_json_atomic(
        {"scenario": str(scenario.resolve()), "overrides": list(overrides)},
        folder / REQUEST_NAME,
    )


def read_request(folder: Path) -> tuple[Path, list[str]]:
    """Return the scenario file and overrides recorded in ``folder``; refuse (exit 2) if none."""
    path = folder / REQUEST_NAME
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        scenario, overrides = Path(str(data["scenario"])), [str(x) for x in data["overrides"]]
    except FileNotFoundError:
        raise ScenarioError(
            f"--resume {folder}: no record of a run in this folder ({REQUEST_NAME} is missing); "
            "start the run again with v2xcosim run SCENARIO --out FOLDER"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ScenarioError(
            f"--resume {folder}: the run's record {path} is unreadable ({exc}); start the run "
            "again into a new folder"
        ) from None
    return scenario, overrides


def reclaim_run_folder(out: Path, completed: Callable[[Path], str | None]) -> RunFolder:
    """Lock the folder of a run that did not complete and empty it for a clean restart.

    The simplest honest resume: the incomplete run's files are removed and the run starts again
    into the same folder (a co-simulation has no checkpoint to continue from).  Refused (exit
    2): a folder that does not exist or holds no run request, a folder a live run holds (its
    lock names the holder), and a folder ``completed`` describes as holding a completed run
    (it returns why, e.g. a ``metadata.json`` that verifies; None otherwise) — never removed.
    """
    if not out.is_dir():
        raise ScenarioError(f"--resume {out}: no such folder; give the folder of a run")
    folder = RunFolder(out, RunLock(out), created=False)
    folder.lock.acquire()
    try:
        why = completed(out)
        if why is not None:
            raise ScenarioError(f"--resume {out}: {why}; nothing is removed")
        read_request(out)
        for entry in _leftovers(out):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    except BaseException:
        folder.release(failed=True)
        raise
    return folder


__all__ = [
    "LOCK_NAME",
    "REQUEST_NAME",
    "LockHolder",
    "RunFolder",
    "RunLock",
    "claim_run_folder",
    "pid_alive",
    "read_request",
    "reclaim_run_folder",
    "write_request",
]
