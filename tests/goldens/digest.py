"""Goldens of the shipped scenarios: KPIs and hashes of the decoded result tables.

A golden is what a run folder says, independent of how the files encode it: ``kpis.json`` as
JSON, and for every ``*.parquet`` table the sha256 of its decoded columns (name, dtype, values),
not of the file bytes (parquet writers change those between library versions).  JSON side tables
(``*_actors.json``) are hashed as canonical JSON.  ``metadata.json`` is provenance (versions,
wall time) and is not part of a golden.

Regenerate (only in a commit that says why the numbers change, and by how much)::

    .venv/bin/python tests/goldens/digest.py --write
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
GOLDENS = Path(__file__).with_name("goldens.json")

PORTO_DAY = ["time.start=2025-07-11T00:00:00+01:00", "time.duration_s=86400", "results.plots=false"]
"""Porto's golden horizon: the shipped July week's Friday, as shipped: the DSO calls its event at
its forecast's Friday maximum (14:15-18:15 local, its span above the limit), and Friday 16:00
holds the week's largest import uncontrolled; both ponta periods.
``tests/test_porto_usecase.py`` reads the same runs (a whole week costs minutes per strategy)."""

CASES: dict[str, tuple[str, list[str]]] = {
    "demo": ("scenarios/demo.toml", []),
    **{
        f"terni_{strategy}": (
            "scenarios/terni_v2g.toml",
            ["results.plots=false", f"control.strategy={strategy}"],
        )
        for strategy in ("v2g", "smart", "uncontrolled")
    },
    **{
        f"porto_{strategy}": (
            "scenarios/porto_v2b.toml",
            [*PORTO_DAY, f"control.strategy={strategy}"],
        )
        for strategy in ("v2b", "smart", "uncontrolled")
    },
}
"""Golden case -> (scenario file relative to the repository, ``--set`` overrides).

The Terni cases are the default day exactly as ``tests/test_terni_usecase.py`` runs it (plots
off: the PNGs are not part of a golden), so both files read one shared run folder."""


def column_bytes(col: pd.Series[Any]) -> bytes:
    """Return a canonical byte form of one decoded column (values only)."""
    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col):
        return np.ascontiguousarray(col.astype("int64").to_numpy()).tobytes()
    if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        return np.ascontiguousarray(col.to_numpy()).tobytes()
    return json.dumps([_plain(v) for v in col.tolist()], sort_keys=True).encode()


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, float):
        return v.hex()
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    if isinstance(v, np.generic):
        return _plain(v.item())
    return str(v)


def table_digest(df: pd.DataFrame) -> str:
    """Return the sha256 of a table's index, column names, dtypes and values."""
    h = hashlib.sha256()
    frame = df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df
    h.update(json.dumps([str(c) for c in frame.columns]).encode())
    for name in frame.columns:
        col = frame[name]
        h.update(f"\0{name}\0{col.dtype}\0".encode())
        h.update(column_bytes(col))
    return h.hexdigest()


def folder_golden(out: Path) -> dict[str, Any]:
    """Return the golden of a finished run folder: KPIs and one digest per table."""
    tables: dict[str, str] = {}
    for path in sorted(out.glob("*.parquet")):
        tables[path.name] = table_digest(pd.read_parquet(path))
    for path in sorted(out.glob("*.json")):
        if path.name in ("kpis.json", "metadata.json"):
            continue
        canon = json.dumps(json.loads(path.read_text()), sort_keys=True)
        tables[path.name] = hashlib.sha256(canon.encode()).hexdigest()
    return {"kpis": json.loads((out / "kpis.json").read_text()), "tables": tables}


def run_case(case: str, out: Path) -> dict[str, Any]:
    """Run one golden case in-process into ``out`` and return its golden."""
    from v2xcosim.scenario import load_scenario, run

    scenario, overrides = CASES[case]
    spec = load_scenario(ROOT / scenario, overrides)
    out.mkdir(parents=True)
    run(spec, out)
    return folder_golden(out)


def main(argv: list[str] | None = None) -> int:
    """Print or (``--write``) store the goldens of every case."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="overwrite tests/goldens/goldens.json")
    ap.add_argument(
        "--case",
        action="append",
        choices=sorted(CASES),
        help="only this case (repeatable); with --write the other cases keep their goldens",
    )
    args = ap.parse_args(argv)
    cases = args.case or list(CASES)
    result: dict[str, Any] = {}
    if args.write and args.case and GOLDENS.exists():
        result = {k: v for k, v in json.loads(GOLDENS.read_text()).items() if k in CASES}
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            result[case] = run_case(case, Path(tmp) / case)
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    if args.write:
        GOLDENS.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
