"""Tolerance-tube comparison of a simulated signal against a reference signal.

The definition (the funnel / csv-compare idea, written out so the verdict is reproducible):

Let the reference be the knots ``(t_i, r_i)``, ``i = 0..n-1``, with non-decreasing ``t_i``
(two knots at the same time describe a jump).  For one variable with tolerances
``abs_tol``, ``rel_tol``, ``time_abs_tol``, ``time_rel_tol`` and the experiment length
``span = StopTime - StartTime``:

* value half-width at each knot: ``d_i = max(abs_tol, rel_tol * |r_i|)``;
* time half-width: ``dt = max(time_abs_tol, time_rel_tol * span)``;
* ``U0``/``L0``: the piecewise-linear interpolation of ``r_i + d_i`` / ``r_i - d_i``;
* the tube at time ``t``, with the window ``W(t) = [t - dt, t + dt] ∩ [t_0, t_{n-1}]``::

      U(t) = max { U0(s) : s in W(t) },    L(t) = min { L0(s) : s in W(t) }

  Because ``U0`` is piecewise linear, the maximum is attained at an end of the window or at a
  knot inside it (both sides of a jump are knots), so it is computed exactly, vectorised.
* events between samples: the cross-check layout allows a reference sampled without the
  pre-event sample, so an event can lie anywhere between two knots.  On such a *jump segment*
  ``(t_i, t_{i+1})`` the tube is the envelope of both ends,
  ``[min(r_i, r_{i+1}) - d, max(r_i, r_{i+1}) + d]`` (the time tolerance follows the jump over
  the whole segment).  For discrete variables (integer, Boolean, enumeration types) every
  segment whose ends differ is a jump segment (the signal is piecewise constant).  For a Real
  variable a segment is a jump segment when its change exceeds twice the value half-width at
  both ends and :data:`JUMP_RATIO` times the change of each neighbouring segment (a slope
  break: a bounce of a ball, a stair; a reference of one segment has none); a reference with
  explicit pre- and post-event samples (two knots at one time) needs no such detection.

The actual signal ``(s_j, a_j)`` is checked at the *evaluation times*: every actual sample time
inside ``[t_0, t_{n-1}]`` (with its own value) and every reference knot time (with the actual
signal linearly interpolated there).  A point fails when ``a > U``, ``a < L`` or ``a`` is not
finite.  The actual signal must cover ``[t_0, t_{n-1}]`` (up to ``dt``); otherwise the first
reference time not covered fails.  The verdict reports the first failing time, the largest
deviation with its time, and the largest distance outside the tube.  The deviation of a point
is its distance from the reference values inside its time window (the tube without its value
half-width, jump segments included), so a correct signal whose event lies within the time
tolerance of the reference's jump reports a small deviation, not the jump height.

Discrete variables are compared exactly: their values are replaced by their rank among all
distinct values of both signals (order and equality are kept exactly, also for 64-bit integers
beyond 2**53), the value tolerance is zero, and the actual signal is held (not interpolated)
between its samples; the deviation is reported in the variable's own unit.  Nothing is a
library default: every number comes from :class:`Tolerance`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DEFAULT_REL_TOL: float = 2e-3
"""Default relative value tolerance (the FMI cross-check's csv-compare order of magnitude)."""

DEFAULT_ABS_TOL_SCALE: float = 1e-3
"""Default absolute value tolerance as a fraction of the variable's largest ``|reference|``.

It keeps the tube open where a signal crosses zero; for an all-zero reference 1e-12 is used.
"""

DEFAULT_TIME_REL_TOL: float = 1e-3
"""Default time tolerance as a fraction of ``StopTime - StartTime``."""

JUMP_RATIO: float = 4.0
"""A Real reference segment is a jump when it changes more than this many times as much as each
neighbouring segment (assumption: a factor that separates a bounce or stair, where the ratio is
of the order of the samples per event interval, from the curvature of a smooth sampled signal,
where consecutive changes differ by a few per cent)."""


@dataclass(frozen=True)
class Tolerance:
    """Tolerances of one variable; ``None`` means the documented default.

    Attributes:
        abs_tol: absolute value tolerance (variable's unit); default
            ``DEFAULT_ABS_TOL_SCALE * max|reference|``.
        rel_tol: relative value tolerance; default ``DEFAULT_REL_TOL``.
        time_abs_tol: absolute time tolerance [s]; default 0.
        time_rel_tol: time tolerance relative to the experiment length; default
            ``DEFAULT_TIME_REL_TOL``.

    """

    abs_tol: float | None = None
    rel_tol: float | None = None
    time_abs_tol: float | None = None
    time_rel_tol: float | None = None

    def merged(self, override: Tolerance) -> Tolerance:
        """Return these tolerances with every value set in ``override`` replaced."""
        return Tolerance(
            abs_tol=self.abs_tol if override.abs_tol is None else override.abs_tol,
            rel_tol=self.rel_tol if override.rel_tol is None else override.rel_tol,
            time_abs_tol=(
                self.time_abs_tol if override.time_abs_tol is None else override.time_abs_tol
            ),
            time_rel_tol=(
                self.time_rel_tol if override.time_rel_tol is None else override.time_rel_tol
            ),
        )

    def resolve(self, y_ref: FloatArray, span: float) -> tuple[float, float, float]:
        """Return ``(abs_tol, rel_tol, dt)`` with defaults applied for this reference."""
        if self.abs_tol is None:
            peak = float(np.max(np.abs(y_ref))) if y_ref.size else 0.0
            abs_tol = DEFAULT_ABS_TOL_SCALE * peak if peak > 0 else 1e-12
        else:
            abs_tol = self.abs_tol
        rel_tol = DEFAULT_REL_TOL if self.rel_tol is None else self.rel_tol
        time_abs = 0.0 if self.time_abs_tol is None else self.time_abs_tol
        time_rel = DEFAULT_TIME_REL_TOL if self.time_rel_tol is None else self.time_rel_tol
        return abs_tol, rel_tol, max(time_abs, time_rel * span)


@dataclass(frozen=True)
class Tube:
    """A tube evaluated at given times: ``lower <= actual <= upper`` passes."""

    time: FloatArray
    lower: FloatArray
    upper: FloatArray


@dataclass(frozen=True)
class TubeVerdict:
    """The comparison result of one variable.

    Attributes:
        passed: every evaluation point lies inside the tube.
        first_failure_time: the first time outside the tube (``None`` if passed).
        max_deviation: the largest ``|actual - reference|`` over the evaluation times
            (``inf`` if the actual signal is not finite somewhere).
        max_deviation_time: the time of ``max_deviation``.
        max_outside: the largest distance outside the tube (0 if passed).
        n_points: the number of evaluation points.
        n_failed: the number of evaluation points outside the tube.
        abs_tol: the absolute value tolerance used.
        rel_tol: the relative value tolerance used.
        time_tol: the time half-width ``dt`` used [s].

    """

    passed: bool
    first_failure_time: float | None
    max_deviation: float
    max_deviation_time: float
    max_outside: float
    n_points: int
    n_failed: int
    abs_tol: float
    rel_tol: float
    time_tol: float


def _range_extreme(
    values: FloatArray, lo: npt.NDArray[np.intp], hi: npt.NDArray[np.intp], *, maximum: bool
) -> FloatArray:
    """Max (or min) of ``values[lo:hi]`` for each pair; ±inf for empty ranges (sparse table)."""
    n = values.size
    op = np.maximum if maximum else np.minimum
    empty = -np.inf if maximum else np.inf
    levels = [values]
    width = 1
    while 2 * width <= n:
        prev = levels[-1]
        levels.append(op(prev[: prev.size - width], prev[width:]))
        width *= 2
    length = hi - lo
    out = np.full(lo.shape, empty, dtype=np.float64)
    ok = length > 0
    if not np.any(ok):
        return out
    k = np.floor(np.log2(length[ok])).astype(np.intp)
    lo_ok = lo[ok]
    hi_ok = hi[ok]
    res = np.empty(lo_ok.shape, dtype=np.float64)
    for level in np.unique(k):
        sel = k == level
        table = levels[int(level)]
        res[sel] = op(table[lo_ok[sel]], table[hi_ok[sel] - (1 << int(level))])
    out[ok] = res
    return out


def jump_segments(
    t_ref: FloatArray, y_ref: FloatArray, half: FloatArray, *, discrete: bool
) -> npt.NDArray[np.bool_]:
    """Return, per reference segment ``(t_i, t_{i+1})``, whether it holds an unsampled event."""
    dy = np.abs(np.diff(y_ref))
    wide = np.diff(t_ref) > 0
    if discrete:
        return wide & (dy > 0)
    # a slope break is judged against the existing neighbours (a lone segment is never a jump)
    prev = np.concatenate([[-np.inf], dy[:-1]])
    nxt = np.concatenate([dy[1:], [-np.inf]])
    neighbour = np.maximum(prev, nxt)
    big = dy > 2.0 * np.maximum(half[:-1], half[1:])
    jumps: npt.NDArray[np.bool_] = (
        wide & big & np.isfinite(neighbour) & (dy > JUMP_RATIO * neighbour)
    )
    return jumps


def _envelope_knots(
    t_ref: FloatArray, up: FloatArray, low: FloatArray, jumps: npt.NDArray[np.bool_] | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Insert knots so that ``U0``/``L0`` are the envelope of both ends on jump segments."""
    if jumps is None or not np.any(jumps):
        return t_ref, up, low
    t_out: list[float] = []
    up_out: list[float] = []
    low_out: list[float] = []
    for i in range(t_ref.size):
        t_out.append(float(t_ref[i]))
        up_out.append(float(up[i]))
        low_out.append(float(low[i]))
        if i < t_ref.size - 1 and jumps[i]:
            hi = max(float(up[i]), float(up[i + 1]))
            lo = min(float(low[i]), float(low[i + 1]))
            t_out += [float(t_ref[i]), float(t_ref[i + 1])]
            up_out += [hi, hi]
            low_out += [lo, lo]
    return np.asarray(t_out), np.asarray(up_out), np.asarray(low_out)


def tube_at(
    t_ref: FloatArray,
    y_ref: FloatArray,
    times: FloatArray,
    abs_tol: float,
    rel_tol: float,
    dt: float,
    jumps: npt.NDArray[np.bool_] | None = None,
) -> Tube:
    """Evaluate the tube (see the module docstring) around the reference at ``times``.

    ``jumps`` marks the reference segments that hold an unsampled event
    (:func:`jump_segments`); the tube there is the envelope of both ends.
    """
    half = np.maximum(abs_tol, rel_tol * np.abs(y_ref))
    t_ref, up, low = _envelope_knots(t_ref, y_ref + half, y_ref - half, jumps)
    a = np.clip(times - dt, t_ref[0], t_ref[-1])
    b = np.clip(times + dt, t_ref[0], t_ref[-1])
    lo = np.searchsorted(t_ref, a, side="left")
    hi = np.searchsorted(t_ref, b, side="right")
    upper = np.maximum.reduce(
        [
            np.interp(a, t_ref, up),
            np.interp(b, t_ref, up),
            _range_extreme(up, lo, hi, maximum=True),
        ]
    )
    lower = np.minimum.reduce(
        [
            np.interp(a, t_ref, low),
            np.interp(b, t_ref, low),
            _range_extreme(low, lo, hi, maximum=False),
        ]
    )
    return Tube(time=times, lower=lower, upper=upper)


def _held(t_act: FloatArray, y_act: FloatArray, times: FloatArray) -> FloatArray:
    """Return the actual signal held from its last sample at or before each of ``times``."""
    idx = np.clip(np.searchsorted(t_act, times, side="right") - 1, 0, t_act.size - 1)
    return y_act[idx]


def evaluation_points(
    t_ref: FloatArray, t_act: FloatArray, y_act: FloatArray, *, hold: bool = False
) -> tuple[FloatArray, FloatArray]:
    """Return the evaluation times and the actual values there (see the module docstring).

    ``hold``: the actual value at a reference knot is held from the previous sample (discrete
    variables) instead of interpolated linearly.
    """
    inside = (t_act >= t_ref[0]) & (t_act <= t_ref[-1])
    times = np.concatenate([t_act[inside], t_ref])
    at_knots = _held(t_act, y_act, t_ref) if hold else np.interp(t_ref, t_act, y_act)
    values = np.concatenate([y_act[inside], at_knots])
    order = np.argsort(times, kind="stable")
    return times[order], values[order]


def _ranks(
    y_ref: npt.NDArray[Any], y_act: npt.NDArray[Any]
) -> tuple[FloatArray, FloatArray, list[int]]:
    """Replace exact integer values by their rank among the distinct values of both signals."""
    ref = [int(v) for v in y_ref.tolist()]
    act = [int(v) for v in y_act.tolist()]
    levels = sorted(set(ref) | set(act))
    rank = {v: float(i) for i, v in enumerate(levels)}
    return (
        np.asarray([rank[v] for v in ref], dtype=np.float64),
        np.asarray([rank[v] for v in act], dtype=np.float64),
        levels,
    )


def compare(
    t_ref: FloatArray,
    y_ref: npt.ArrayLike,
    t_act: FloatArray,
    y_act: npt.ArrayLike,
    tolerance: Tolerance,
    span: float,
    *,
    discrete: bool = False,
) -> TubeVerdict:
    """Compare the actual signal with the reference inside the tolerance tube.

    Args:
        t_ref: reference times, non-decreasing, at least one point.
        y_ref: reference values, finite (exact integers for ``discrete``).
        t_act: actual (simulated) times, non-decreasing, at least one point.
        y_act: actual values (NaN/inf fail; exact integers for ``discrete``).
        tolerance: the variable's tolerances (defaults applied here; value tolerances are not
            used for ``discrete`` variables, which are compared exactly).
        span: ``StopTime - StartTime`` [s], the scale of the relative time tolerance.
        discrete: an integer, Boolean or enumeration variable (see the module docstring).

    """
    t_ref = np.asarray(t_ref, dtype=np.float64)
    t_act = np.asarray(t_act, dtype=np.float64)
    levels: list[int] | None = None
    if discrete:
        y_ref, y_act, levels = _ranks(np.asarray(y_ref), np.asarray(y_act))
        abs_tol, rel_tol = 0.0, 0.0
        _, _, dt = tolerance.resolve(y_ref, span)
    else:
        y_ref = np.asarray(y_ref, dtype=np.float64)
        y_act = np.asarray(y_act, dtype=np.float64)
        abs_tol, rel_tol, dt = tolerance.resolve(y_ref, span)
    half = np.maximum(abs_tol, rel_tol * np.abs(y_ref))
    jumps = jump_segments(t_ref, y_ref, half, discrete=discrete)
    times, values = evaluation_points(t_ref, t_act, y_act, hold=discrete)
    tube = tube_at(t_ref, y_ref, times, abs_tol, rel_tol, dt, jumps)
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        excess = np.maximum(np.maximum(values - tube.upper, tube.lower - values), 0.0)
    excess = np.where(finite, excess, np.inf)
    failed = ~finite | (values > tube.upper) | (values < tube.lower)
    # coverage: the actual signal must span the reference's time range (up to dt)
    slack = dt + 1e-9 * max(abs(span), 1.0)
    uncovered = (t_ref < t_act[0] - slack) | (t_ref > t_act[-1] + slack)
    first_uncovered = float(t_ref[uncovered][0]) if np.any(uncovered) else math.inf
    # deviation: distance from the reference values inside the time window (no value band)
    band = tube_at(t_ref, y_ref, times, 0.0, 0.0, dt, jumps)
    if levels is not None:
        dev = _exact_distance(values, band, levels)
    else:
        with np.errstate(invalid="ignore"):
            dev = np.maximum(np.maximum(values - band.upper, band.lower - values), 0.0)
        dev = np.where(finite, dev, np.inf)
    k = int(np.argmax(dev))
    first = float(times[failed][0]) if np.any(failed) else math.inf
    first = min(first, first_uncovered)
    passed = not math.isfinite(first)
    return TubeVerdict(
        passed=passed,
        first_failure_time=None if passed else first,
        max_deviation=float(dev[k]),
        max_deviation_time=float(times[k]),
        max_outside=(
            float(np.max(excess))
            if levels is None and excess.size
            else float(np.max(dev))
            if not passed
            else 0.0
        ),
        n_points=int(times.size),
        n_failed=int(np.count_nonzero(failed)) + int(np.count_nonzero(uncovered)),
        abs_tol=abs_tol,
        rel_tol=rel_tol,
        time_tol=dt,
    )


def _exact_distance(ranks: FloatArray, band: Tube, levels: list[int]) -> FloatArray:
    """Distance (in the variable's unit, exact integers) of ranked values from a ranked band."""
    out = np.empty(ranks.size, dtype=np.float64)
    for j, (r, lo, hi) in enumerate(
        zip(ranks.tolist(), band.lower.tolist(), band.upper.tolist(), strict=True)
    ):
        value = levels[round(r)]
        upper = levels[math.floor(hi + 1e-9)]
        lower = levels[math.ceil(lo - 1e-9)]
        out[j] = float(max(value - upper, lower - value, 0))
    return out
