"""Result store, KPIs, metadata with manifest, and atomic writes.

Run folder layout (``results/<scenario>-<UTC time>/`` by default):

* ``<entity>.parquet`` — one table per recorded entity (``grid``, ``site_<id>``, ``profiles``):
  ``time`` (UTC), ``step`` and one column per scalar attribute or per vector element
  (``vm_pu[Bus R11]``, ``soc[3]``).  Row *k* describes the interval [t_k, t_k + step): powers are
  the values over the interval, SOC and energy meters their values at its end.
* ``sessions.parquet`` — the charging sessions drawn for the run.
* ``network.json`` — the run's pandapower network (``pandapower.from_json``), for grid studies.
* ``kpis.json``, a few PNG plots, and ``metadata.json`` — written **last**, holding the scenario,
  seed, versions, FMU hashes, ``wall_s`` and ``manifest`` (relative file → SHA-256 of every other
  file).  Every file is written to a temporary name and renamed, so a killed run never leaves a
  ``metadata.json`` that does not verify (:func:`verify_run_folder`).

Data files are deterministic: same scenario, seed, machine and locked dependencies give
bit-identical parquet files (columns in sorted order, no timestamps of the run inside).
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from v2xcosim.core.io import write_json_atomic
from v2xcosim.fmu.archive import sha256_file

METADATA = "metadata.json"


def vector_columns(frame: pd.DataFrame, attr: str) -> pd.DataFrame:
    """Return the columns ``attr[...]`` of ``frame``."""
    prefix = f"{attr}["
    return frame[[c for c in frame.columns if c.startswith(prefix)]]


# ---------------------------------------------------------------------------- metadata
def json_clean(value: Any) -> Any:
    """Return ``value`` as strict JSON data: non-finite floats ``None``, numpy scalars plain.

    Dicts, lists and tuples are cleaned item by item (a tuple becomes a list).
    """
    if isinstance(value, dict):
        return {k: json_clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_clean(v) for v in value]
    if isinstance(value, np.generic):
        return json_clean(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def versions() -> dict[str, str]:
    """Versions of Python and the packages that shape results."""
    from importlib import metadata

    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in (
        "v2xcosim",
        "mosaik",
        "mosaik-api-v3",
        "pandapower",
        "power-grid-model",
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
    write_json_atomic(json_clean(payload), path)
    return path


REPORT_NAME = "report.html"
"""The HTML report ``v2xcosim report`` writes into a finished run folder by default."""

STUDY_PREFIX = "study-"
"""Grid studies write into ``<run folder>/study-<name>/`` (``v2xcosim study``)."""


def is_derived(rel: str, extra: Iterable[str] = ()) -> bool:
    """Whether ``rel`` (relative to a run folder, ``/``-separated) was written after the run.

    The one rule for outputs derived from a finished run's results, which are not in its
    manifest and do not make a complete folder look incomplete: the report (:data:`REPORT_NAME`),
    anything in a study folder (:data:`STUDY_PREFIX`), a hidden path (a temporary of an atomic
    write), and ``extra`` files or folders (a report or study written elsewhere in the folder
    by ``--out``).
    """
    top = rel.split("/", 1)[0]
    if rel == REPORT_NAME or top.startswith(STUDY_PREFIX) or rel.startswith("."):
        return True
    return any(rel == e or rel.startswith(e.rstrip("/") + "/") for e in extra)


def verify_run_folder(out_dir: Path, *, derived: Iterable[str] = ()) -> list[str]:
    """Problems with a run folder's manifest (empty list = complete and intact).

    A file written after the run (:func:`is_derived`, with ``derived`` as its ``extra``:
    the report, a study's output) is not a problem.
    """
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
    extra = list(derived)
    for rel in sorted(set(manifest(out_dir)) - set(listed)):
        if not is_derived(rel, extra):
            problems.append(f"{rel}: not listed in the manifest")
    return problems
