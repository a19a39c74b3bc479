"""Run folders shared by every test file and every pytest-xdist worker of one session.

Several files check the same shipped runs (the goldens hash the Terni default day under each
strategy, ``test_terni_usecase`` reads the same folders for its hand calculations).  A run is a
pure function of its scenario and overrides (tested by the goldens and the rerun tests), so one
folder per (scenario, overrides) serves them all.  Workers are separate processes: the first to
ask for a run takes an exclusive ``flock`` on the run's lock file and runs it; the others wait on
the lock and then read the finished folder.  A run that fails leaves no folder behind, so a later
caller runs it again (and fails the same way, in its own test).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DONE = "shared-run.done"
"""Marker written after the run returned exit 0; a folder without it is rerun from scratch."""


class SharedRuns:
    """Finished run folders keyed by scenario and overrides, under the session's common root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, scenario: Path, overrides: list[str]) -> Path:
        """Return the finished run folder of ``scenario`` with ``overrides`` (run once)."""
        from v2xcosim.scenario import load_scenario, run

        name = json.dumps([str(scenario.resolve().relative_to(ROOT)), list(overrides)])
        key = hashlib.sha256(name.encode()).hexdigest()[:16]
        out = self.root / key
        with (self.root / f"{key}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (self.root / f"{key}.{DONE}").exists():
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                res = run(load_scenario(scenario, list(overrides)), out)
                assert res.exit_code == 0, (name, res.kpis.get("checks"))
                (self.root / f"{key}.{DONE}").write_text(name)
        return out

