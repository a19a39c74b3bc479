"""The result store streams long runs to parquet in chunks: the same tables as held whole.

References: the recorder's whole-run tables (:meth:`ResultRecorder.frames`), and the demo run
from the CLI with the default chunk size (nothing streamed: 288 steps) against runs that stream
every 50 steps, also with a batched grid whose windows arrive late.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from v2x_helpers import DEMO, cli
from v2xcosim.core.io import ParquetChunks
from v2xcosim.cosim.recorder import ResultRecorder


def _recorder() -> ResultRecorder:
    return ResultRecorder(start=pd.Timestamp("2024-05-15T00:00:00Z"), step_s=60)


def _feed(rec: ResultRecorder, times: range) -> None:
    for t in times:
        k = t // 60
        rec.record(t, "grid", "p_w", float(k))
        # a vector that shows its first value only at step 5, None (diverged) at step 9
        rec.record(t, "site", "soc", None if k < 5 or k == 9 else [0.1 * k, 0.2 * k])
        if k % 3:  # an attribute some steps lack
            rec.record(t, "site", "p_w", -float(k))


def test_spilled_chunks_concatenate_to_the_whole_run() -> None:
    whole = _recorder()
    _feed(whole, range(0, 20 * 60, 60))
    ref = whole.frames()
    rec = _recorder()
    parts: dict[str, list[pd.DataFrame]] = {}
    for t in range(0, 20 * 60, 60):
        _feed(rec, range(t, t + 60, 60))
        for label, frame in rec.spill(t - 2 * 60).items():  # keep two steps back
            parts.setdefault(label, []).append(frame)
    # until the vector's first value (step 5) its columns are unknown: nothing is spilled
    # before it, and then steps 0-2 at once (two steps held back)
    assert all(fs[0]["step"].tolist() == [0, 1, 2] for fs in parts.values())
    for label, frame in rec.frames().items():
        parts[label].append(frame)
    for label, frames in parts.items():
        got = pd.concat(frames, ignore_index=True).reindex(columns=ref[label].columns)
        pd.testing.assert_frame_equal(got, ref[label], check_exact=True)


def test_parquet_chunks_fill_missing_columns_and_keep_a_new_one(tmp_path: Path) -> None:
    chunks = ParquetChunks(tmp_path)
    a = pd.DataFrame({"step": [0, 1], "x": [1.0, 2.0], "y": [3.0, 4.0]})
    chunks.append("t", a)
    chunks.append("t", pd.DataFrame({"step": [2], "x": [5.0]}))  # y absent: NaN
    assert not (tmp_path / "t.parquet").exists()  # nothing looks complete before close
    assert len(list(tmp_path.glob(".t.parquet.partial-*"))) == 1
    chunks.append("u", pd.DataFrame({"step": [0], "x": [1.0]}))
    chunks.append("u", pd.DataFrame({"step": [1], "x": [2.0], "z": [7.0]}))  # a new column
    chunks.close({"t": pd.DataFrame({"step": [3], "x": [6.0], "y": [8.0]}), "v": a})
    t = pd.read_parquet(tmp_path / "t.parquet")
    assert t["x"].tolist() == [1.0, 2.0, 5.0, 6.0] and np.isnan(t["y"].iloc[2])
    u = pd.read_parquet(tmp_path / "u.parquet")
    assert u["x"].tolist() == [1.0, 2.0] and np.isnan(u["z"].iloc[0]) and u["z"].iloc[1] == 7.0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "v.parquet"), a)
    assert not list(tmp_path.glob(".*partial*"))


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {p.name: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


@pytest.mark.parametrize(
    "extra",
    [
        ["--set", "results.chunk_steps=50"],
        [  # a batched grid's windows of 40 steps arrive late: the store holds them back
            "--set",
            "results.chunk_steps=30",
            "--set",
            "grid.solver='pgm'",
            "--set",
            "grid.batch_steps=40",
            "--set",
            "sites.0.fmu.inputs.vm=''",
        ],
    ],
)
def test_the_demo_streamed_in_chunks_writes_the_same_tables(
    tmp_path: Path, extra: list[str], capsys: Any
) -> None:
    base = ["--set", "results.plots=false"]
    if "grid.batch_steps=40" in extra:  # the same grid path, step by step, as reference
        base += ["--set", "grid.solver='pgm'", "--set", "sites.0.fmu.inputs.vm=''"]
    whole, streamed = tmp_path / "whole", tmp_path / "streamed"
    assert cli(["run", str(DEMO), "--out", str(whole), *base]) == 0
    assert cli(["run", str(DEMO), "--out", str(streamed), *base, *extra]) == 0
    a, b = _tables(whole), _tables(streamed)
    assert a.keys() == b.keys() and len(a) >= 3
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
    assert (whole / "kpis.json").read_text() == (streamed / "kpis.json").read_text()
    assert not list(streamed.glob(".*partial*"))
