"""The co-simulation's time grid: UTC timestamps of every step, one definition for all."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd


def step_times(start_utc: dt.datetime, n_steps: int, step_s: int) -> pd.DatetimeIndex:
    """UTC timestamps of every co-simulation step (an exact count of seconds: DST-safe)."""
    start = pd.Timestamp(start_utc)
    return pd.DatetimeIndex(start + pd.to_timedelta(np.arange(n_steps) * step_s, unit="s"))


@dataclass(frozen=True)
class StepGrid:
    """A run's step grid: step ``k`` starts at ``start_utc + k·step_s`` (``0 ≤ k < n_steps``)."""

    start_utc: dt.datetime
    step_s: int
    n_steps: int

    def utc(self, k: int) -> dt.datetime:
        """Start of step ``k`` (UTC)."""
        return self.start_utc + dt.timedelta(seconds=k * self.step_s)

    def every(self, k0: int, k1: int, n: int) -> tuple[dt.datetime, ...]:
        """Return the starts of every ``n``-th step of ``[k0, k1)``."""
        return tuple(self.utc(k) for k in range(k0, k1, n))
