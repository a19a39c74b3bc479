"""Limit checks over a run's grid results (EN 50160 voltage band, thermal loading).

The arrays are (steps × elements); NaN marks a diverged step, which is not counted as a
violation here (non-convergence is its own check).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LimitReport:
    """Counts of element-steps outside limits and the extreme values seen."""

    voltage_violations: int
    line_overloads: int
    trafo_overloads: int
    vm_min_pu: float
    vm_max_pu: float
    line_loading_max_percent: float
    trafo_loading_max_percent: float


def _nanext(values: FloatArray, fn: str) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan")
    return float(finite.min() if fn == "min" else finite.max())


def check_limits(
    vm_pu: FloatArray,
    line_loading_percent: FloatArray,
    trafo_loading_percent: FloatArray,
    *,
    v_min_pu: float,
    v_max_pu: float,
    max_line_loading_percent: float,
    max_trafo_loading_percent: float,
) -> LimitReport:
    """Count voltage-band and loading violations (element-steps) in the given arrays."""
    with np.errstate(invalid="ignore"):
        v_bad = int(np.sum((vm_pu < v_min_pu) | (vm_pu > v_max_pu)))
        l_bad = int(np.sum(line_loading_percent > max_line_loading_percent))
        t_bad = int(np.sum(trafo_loading_percent > max_trafo_loading_percent))
    return LimitReport(
        voltage_violations=v_bad,
        line_overloads=l_bad,
        trafo_overloads=t_bad,
        vm_min_pu=_nanext(vm_pu, "min"),
        vm_max_pu=_nanext(vm_pu, "max"),
        line_loading_max_percent=_nanext(line_loading_percent, "max"),
        trafo_loading_max_percent=_nanext(trafo_loading_percent, "max"),
    )
