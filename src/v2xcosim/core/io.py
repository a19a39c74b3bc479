"""Files a run writes: atomic writes (temporary name, fsync, rename) and the output folder.

A killed run never leaves a file that looks complete: every file is written under a temporary
name in the same folder and renamed into place.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from v2xcosim.core.errors import ScenarioError


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
