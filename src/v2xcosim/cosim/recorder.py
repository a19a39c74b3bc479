"""Collects the values a run's entities send to the result store and builds one table per entity.

Tables: ``time`` (UTC), ``step`` and one column per scalar attribute or per vector element
(``vm_pu[Bus R11]``, ``soc[3]``).  Row *k* describes the interval [t_k, t_k + step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


class ResultRecorder:
    """Collects ``(entity label, attribute) → value per step`` and builds tables.

    Vector values are lists; ``vector_labels["<label>.<attr>"]`` names their elements.  ``None``
    (a diverged power flow) becomes NaN.  :meth:`spill` hands the oldest steps over as tables
    and forgets them (the store streams them to parquet); :meth:`frames` the rest.  Spilled and
    kept parts concatenate to the tables :meth:`frames` would build from the whole run.
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
        self._width: dict[tuple[str, str], int] = {}
        """Each attribute's kind once a value was seen: 0 a scalar, n a vector of n."""
        self.steps: set[int] = set()

    def record(self, time_s: int, label: str, attr: str, value: Any) -> None:
        """Store ``value`` of ``label.attr`` at ``time_s``."""
        key = (label, attr)
        self._data.setdefault(key, {})[time_s] = value
        self.steps.add(time_s)
        if value is not None and key not in self._width:
            self._width[key] = len(value) if isinstance(value, list) else 0

    def spill(self, before_s: int) -> dict[str, pd.DataFrame]:
        """Return the tables of the steps before ``before_s`` and forget those steps.

        Nothing is spilled while an attribute with values in those steps has shown no value
        yet (its columns, one or one per vector element, are not known): the steps stay.
        """
        times = sorted(t for t in self.steps if t < before_s)
        if not times:
            return {}
        first, last = times[0], times[-1]
        for key, series in self._data.items():
            if key not in self._width and any(first <= t <= last for t in series):
                return {}
        out = self._build(times)
        gone = set(times)
        self.steps -= gone
        for series in self._data.values():
            for t in gone.intersection(series):
                del series[t]
        return out

    def frames(self) -> dict[str, pd.DataFrame]:
        """One DataFrame per entity label: time, step and sorted value columns."""
        return self._build(sorted(self.steps))

    def _build(self, times: list[int]) -> dict[str, pd.DataFrame]:
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
                width = self._width.get((label, attr), 0)
                if width:
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
