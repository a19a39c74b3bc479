"""Result store, KPIs, metadata with manifest, and atomic writes.

Run folder layout (``results/<scenario>-<UTC time>/`` by default):

* ``<entity>.parquet`` — one table per recorded entity (``grid``, ``site_<id>``, ``profiles``):
  ``time`` (UTC), ``step`` and one column per scalar attribute or per vector element
  (``vm_pu[Bus R11]``, ``soc[3]``).  Row *k* describes the interval [t_k, t_k + step): powers are
  the values over the interval, SOC and energy meters their values at its end.
* ``sessions.parquet`` — the charging sessions drawn for the run.
* ``kpis.json``, a few PNG plots, and ``metadata.json`` — written **last**, holding the scenario,
  seed, versions, FMU hashes, ``wall_s`` and ``manifest`` (relative file → SHA-256 of every other
  file).  Every file is written to a temporary name and renamed, so a killed run never leaves a
  ``metadata.json`` that does not verify (:func:`verify_run_folder`).

Data files are deterministic: same scenario, seed, machine and locked dependencies give
bit-identical parquet files (columns in sorted order, no timestamps of the run inside).
"""

from __future__ import annotations

import io
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from v2xcosim.core.errors import ScenarioError
from v2xcosim.fmu.archive import sha256_file

METADATA = "metadata.json"


# ---------------------------------------------------------------------------- atomic files
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync and rename (atomic on POSIX)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` (without index) as parquet, atomically."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, engine="pyarrow", compression="snappy")
    atomic_write_bytes(path, buf.getvalue())


def write_json_atomic(data: Any, path: Path) -> None:
    """Write ``data`` as indented, key-sorted JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False, default=str)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def prepare_out_dir(out: Path) -> None:
    """Create ``out``; refuse an existing non-empty folder (exit 2)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ScenarioError(
            f"output folder {out} exists and is not empty; choose another --out or remove it"
        )
    out.mkdir(parents=True, exist_ok=True)


# ---------------------------------------------------------------------------- recorder
class ResultRecorder:
    """Collects ``(entity label, attribute) → value per step`` and builds tables.

    Vector values are lists; ``vector_labels["<label>.<attr>"]`` names their elements.  ``None``
    (a diverged power flow) becomes NaN.
    """

    def __init__(
        self,
        *,
        start: pd.Timestamp,
        step_s: int,
        vector_labels: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Set up a recorder for a run starting at ``start`` (UTC) with steps of ``step_s`` s."""
        self.start = start
        self.step_s = step_s
        self.vector_labels = dict(vector_labels or {})
        self._data: dict[tuple[str, str], dict[int, Any]] = {}
        self.steps: set[int] = set()

    def record(self, time_s: int, label: str, attr: str, value: Any) -> None:
        """Store ``value`` of ``label.attr`` at ``time_s``."""
        self._data.setdefault((label, attr), {})[time_s] = value
        self.steps.add(time_s)

    def frames(self) -> dict[str, pd.DataFrame]:
        """One DataFrame per entity label: time, step and sorted value columns."""
        times = sorted(self.steps)
        out: dict[str, pd.DataFrame] = {}
        labels = sorted({lab for lab, _ in self._data})
        for label in labels:
            cols: dict[str, Any] = {
                "time": self.start + pd.to_timedelta(np.asarray(times, dtype=np.int64), unit="s"),
                "step": np.asarray(times, dtype=np.int64) // self.step_s,
            }
            for attr in sorted(a for lab, a in self._data if lab == label):
                series = self._data[(label, attr)]
                values = [series.get(t) for t in times]
                sample = next((v for v in values if v is not None), None)
                if isinstance(sample, list):
                    width = len(sample)
                    names = self.vector_labels.get(
                        f"{label}.{attr}", [str(i) for i in range(width)]
                    )
                    mat = np.full((len(times), width), np.nan)
                    for r, v in enumerate(values):
                        if v is not None:
                            mat[r] = [np.nan if x is None else x for x in v]
                    for c, name in enumerate(names):
                        cols[f"{attr}[{name}]"] = mat[:, c]
                else:
                    cols[attr] = np.array([np.nan if v is None else v for v in values], dtype=float)
            out[label] = pd.DataFrame(cols)
        return out


def vector_columns(frame: pd.DataFrame, attr: str) -> pd.DataFrame:
    """Return the columns ``attr[...]`` of ``frame``."""
    prefix = f"{attr}["
    return frame[[c for c in frame.columns if c.startswith(prefix)]]


# ---------------------------------------------------------------------------- KPIs
def _kwh(power_w: np.ndarray[Any, Any], step_s: int) -> float:
    return float(np.nansum(power_w) * step_s / 3.6e6)


def compute_kpis(
    frames: Mapping[str, pd.DataFrame],
    sessions: pd.DataFrame,
    *,
    step_s: int,
    grid_limits: Mapping[str, float],
    checks: Mapping[str, bool],
) -> dict[str, Any]:
    """KPIs of a run and the verdict of the flagged checks.

    ``grid_limits``: ``v_min_pu``, ``v_max_pu``, ``max_line_loading_percent``,
    ``max_trafo_loading_percent``; ``checks``: which checks are flagged (ChecksSpec fields).
    """
    from v2xcosim.grid.limits import check_limits

    grid = frames["grid"]
    p = grid["p_slack_w"].to_numpy(dtype=float)
    rep = check_limits(
        vector_columns(grid, "vm_pu").to_numpy(dtype=float),
        vector_columns(grid, "line_loading_percent").to_numpy(dtype=float),
        vector_columns(grid, "trafo_loading_percent").to_numpy(dtype=float),
        v_min_pu=grid_limits["v_min_pu"],
        v_max_pu=grid_limits["v_max_pu"],
        max_line_loading_percent=grid_limits["max_line_loading_percent"],
        max_trafo_loading_percent=grid_limits["max_trafo_loading_percent"],
    )
    nonconv = int((grid["converged"].to_numpy() < 0.5).sum())
    kpis: dict[str, Any] = {
        "steps": len(grid),
        "nonconverged_steps": nonconv,
        "energy_import_kwh": _kwh(np.clip(p, 0, None), step_s),
        "energy_export_kwh": _kwh(np.clip(-p, 0, None), step_s),
        "peak_import_kw": float(np.nanmax(np.clip(p, 0, None)) / 1e3) if len(p) else 0.0,
        "peak_reverse_flow_kw": float(np.nanmax(np.clip(-p, 0, None)) / 1e3) if len(p) else 0.0,
        "reverse_flow_steps": int(np.sum(p < 0)),
        "losses_kwh": _kwh(grid["p_loss_w"].to_numpy(dtype=float), step_s),
        "vm_min_pu": rep.vm_min_pu,
        "vm_max_pu": rep.vm_max_pu,
        "voltage_violations": rep.voltage_violations,
        "line_loading_max_percent": rep.line_loading_max_percent,
        "trafo_loading_max_percent": rep.trafo_loading_max_percent,
        "line_overloads": rep.line_overloads,
        "trafo_overloads": rep.trafo_overloads,
        "sites": {},
    }
    missed_total = 0
    for label in sorted(k for k in frames if k.startswith("site_")):
        site_id = label[len("site_") :]
        frame = frames[label]
        p_ev = vector_columns(frame, "p_ac_w").to_numpy(dtype=float)
        soc = vector_columns(frame, "soc").to_numpy(dtype=float)
        ses = sessions[sessions["site"] == site_id]
        reached = 0
        # once per session, after the run
        for departure_s, ev, soc_target in zip(
            ses["departure_s"].tolist(), ses["ev"].tolist(), ses["soc_target"].tolist(), strict=True
        ):
            k = int(departure_s // step_s) - 1
            if 0 <= k < len(soc) and soc[k, int(ev)] >= float(soc_target) - 1e-3:
                reached += 1
        missed_total += len(ses) - reached
        kpis["sites"][site_id] = {
            "evs": int(p_ev.shape[1]),
            "sessions": len(ses),
            "sessions_reaching_target": reached,
            "ev_energy_ac_kwh": _kwh(p_ev.sum(axis=1), step_s),
            "ev_peak_kw": float(np.nanmax(p_ev.sum(axis=1)) / 1e3) if len(p_ev) else 0.0,
            "soc_min": float(np.nanmin(soc)) if soc.size else float("nan"),
            "soc_max": float(np.nanmax(soc)) if soc.size else float("nan"),
        }
    verdicts = {
        "convergence": nonconv == 0,
        "voltage_band": rep.voltage_violations == 0,
        "loading": rep.line_overloads == 0 and rep.trafo_overloads == 0,
        "soc_target": missed_total == 0,
    }
    kpis["checks"] = {
        name: {"flagged": bool(checks.get(name, False)), "passed": ok}
        for name, ok in verdicts.items()
    }
    kpis["checks_passed"] = all(ok for n, ok in verdicts.items() if checks.get(n, False))
    cleaned: dict[str, Any] = _json_clean(kpis)
    return cleaned


def _json_clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_clean(v) for k, v in value.items()}
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# ---------------------------------------------------------------------------- metadata
def versions() -> dict[str, str]:
    """Versions of Python and the packages that shape results."""
    from importlib import metadata

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in (
        "v2xcosim",
        "mosaik",
        "mosaik-api-v3",
        "pandapower",
        "fmpy",
        "numpy",
        "pandas",
        "pyarrow",
        "pvlib",
        "pydantic",
        "scipy",
    ):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def manifest(out_dir: Path) -> dict[str, str]:
    """SHA-256 of every file in ``out_dir`` (recursively) except metadata and temporaries."""
    files = sorted(
        p
        for p in out_dir.rglob("*")
        if p.is_file() and p.name != METADATA and not p.name.startswith(".")
    )
    return {p.relative_to(out_dir).as_posix(): sha256_file(p) for p in files}


def write_metadata(out_dir: Path, data: Mapping[str, Any]) -> Path:
    """Write ``metadata.json`` (``data`` + ``manifest``) last and atomically."""
    payload = dict(data)
    payload["manifest"] = manifest(out_dir)
    path = out_dir / METADATA
    write_json_atomic(_json_clean(payload), path)
    return path


def verify_run_folder(out_dir: Path) -> list[str]:
    """Problems with a run folder's manifest (empty list = complete and intact)."""
    meta_path = out_dir / METADATA
    if not meta_path.is_file():
        return [f"{meta_path}: missing (the run did not complete)"]
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return [f"{meta_path}: unreadable: {exc}"]
    problems = []
    listed = meta.get("manifest", {})
    for rel, digest in sorted(listed.items()):
        path = out_dir / rel
        if not path.is_file():
            problems.append(f"{rel}: listed in the manifest but missing")
        elif sha256_file(path) != digest:
            problems.append(f"{rel}: SHA-256 differs from the manifest")
    for rel in sorted(set(manifest(out_dir)) - set(listed)):
        problems.append(f"{rel}: not listed in the manifest")
    return problems
