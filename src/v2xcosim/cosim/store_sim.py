r"""mosaik adapter over :class:`v2xcosim.report.results.ResultRecorder`: one ``Store`` entity.

Accepts any input; ``labels`` maps a source's full id (``Grid-0.grid``) to its table name.
Each step it records every input and, when ``progress_fd`` is given, writes ``"<time>\n"`` to
that file descriptor — the heartbeat the run's watchdog listens to (a step that never reaches
the store is what a hung or failed simulator looks like).  When mosaik has finished the set-up
(``setup_done``) it writes ``"stepping\n"``: the watchdog's set-up allowance ends there and its
stall clock starts (:class:`v2xcosim.runner.Watchdog`).  ``finalize`` writes one parquet
table per label into ``out_dir``, atomically.  With ``chunk_steps`` the store keeps at most
that many steps (plus ``hold_steps``, the longest window a batched simulator sends late) and
streams the older ones to the tables' parquet files
(:class:`~v2xcosim.core.io.ParquetChunks`), renamed into place at ``finalize``.  A value that is a
:func:`~v2xcosim.cosim.adapters.step_block` (a batched grid's window) is recorded at each of
its steps' times.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from v2xcosim.core.io import ParquetChunks, write_parquet_atomic
from v2xcosim.cosim.adapters import STEP_BLOCK, TimeBasedSimulator, is_step_block
from v2xcosim.cosim.recorder import ResultRecorder

STEPPING_BEAT = "stepping"
"""Sent once through the progress pipe when set-up is done and stepping begins."""


class StoreSim(TimeBasedSimulator):
    """Records the connected attributes to parquet."""

    def __init__(self) -> None:
        """Create the simulator."""
        super().__init__(
            {
                "Store": {
                    "public": True,
                    "any_inputs": True,
                    "params": [
                        "labels",
                        "vector_labels",
                        "out_dir",
                        "start_utc",
                        "step_s",
                        "progress_fd",
                        "chunk_steps",
                        "hold_steps",
                    ],
                    "attrs": [],
                }
            }
        )
        self._rec: ResultRecorder | None = None
        self._labels: dict[str, str] = {}
        self._out: Path | None = None
        self._fd: int | None = None
        self._step_s = 1
        self._chunk = 0
        self._hold = 0
        self._chunks: ParquetChunks | None = None

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """Create the store; see the module docstring for its parameters."""
        self._labels = dict(model_params["labels"])
        self._out = Path(model_params["out_dir"])
        self._step_s = int(model_params["step_s"])
        self._fd = model_params.get("progress_fd")
        self._chunk = int(model_params.get("chunk_steps") or 0)
        self._hold = int(model_params.get("hold_steps") or 0)
        self._rec = ResultRecorder(
            start=pd.Timestamp(model_params["start_utc"]),
            step_s=self._step_s,
            vector_labels=model_params.get("vector_labels") or {},
        )
        return [{"eid": "store", "type": model}]

    def setup_done(self) -> None:
        """Tell the watchdog that set-up is over and stepping begins."""
        if self._fd is not None:
            os.write(self._fd, f"{STEPPING_BEAT}\n".encode())

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Record this step's inputs and beat the heart."""
        assert self._rec is not None
        for attrs in inputs.values():
            for attr, sources in attrs.items():
                for full_id, value in sources.items():
                    label = self._labels.get(full_id, full_id)
                    if is_step_block(value):  # a window of steps solved at once
                        for t, v in zip(value[STEP_BLOCK], value["values"], strict=True):
                            self._rec.record(int(t), label, attr, v)
                    else:
                        self._rec.record(time, label, attr, value)
        if self._chunk and len(self._rec.steps) >= self._chunk + self._hold:
            # the steps a later window block cannot rewrite any more (hold_steps back) go out
            assert self._out is not None
            spilled = self._rec.spill(time - self._hold * self._step_s)
            if spilled:
                self._chunks = self._chunks or ParquetChunks(self._out)
                for label, frame in spilled.items():
                    self._chunks.append(label, frame)
        if self._fd is not None:
            os.write(self._fd, f"{time}\n".encode())
        return time + self._step_s

    def finalize(self) -> None:
        """Write the tables (the last chunk, or the whole run if nothing was spilled)."""
        if self._rec is None or self._out is None:
            return
        if self._chunks is not None:
            self._chunks.close(self._rec.frames() if self._rec.steps else {})
            return
        if not self._rec.steps:
            return
        for label, frame in self._rec.frames().items():
            write_parquet_atomic(frame, self._out / f"{label}.parquet")
