"""The co-simulation's time grid: UTC timestamps of every step, one definition for all."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def step_times(start_utc: dt.datetime, n_steps: int, step_s: int) -> pd.DatetimeIndex:
    """UTC timestamps of every co-simulation step (an exact count of seconds: DST-safe)."""
    start = pd.Timestamp(start_utc)
    return pd.DatetimeIndex(start + pd.to_timedelta(np.arange(n_steps) * step_s, unit="s"))
