"""Limit checks over a run's grid results (EN 50160 voltage band, thermal loading).

The arrays are (steps × elements); NaN marks a diverged step, which is not counted as a
violation here (non-convergence is its own check).  A check never passes on missing data: with
no step holding a finite value (every power flow diverged), the voltage and loading verdicts
are ``None`` — "not assessable" — which a run reports as failed (:func:`check_verdict`).
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
    voltage_steps_assessed: int = 0
    """Steps with at least one finite bus voltage (converged power flows)."""
    loading_steps_assessed: int = 0
    """Steps with at least one finite line or transformer loading."""

    @property
    def voltage_band_ok(self) -> bool | None:
        """Every assessed bus-step within the band; None if no step could be assessed."""
        if self.voltage_steps_assessed == 0:
            return None
        return self.voltage_violations == 0

    @property
    def loading_ok(self) -> bool | None:
        """Every assessed line/trafo-step within its limit; None if no step was assessed."""
        if self.loading_steps_assessed == 0:
            return None
        return self.line_overloads == 0 and self.trafo_overloads == 0


NOT_ASSESSABLE = "not assessable: no converged power flow gave values to judge"
"""Why a check without any data failed (``reason`` in a run's ``kpis.json``)."""


def check_verdict(flagged: bool, ok: bool | None) -> dict[str, bool | str]:
    """Return a check's ``kpis.json`` entry: ``flagged``, ``passed`` and, if no data, ``reason``.

    ``ok = None`` (nothing to judge) is a failure, never a pass.
    """
    out: dict[str, bool | str] = {"flagged": bool(flagged), "passed": ok is True}
    if ok is None:
        out["reason"] = NOT_ASSESSABLE
    return out


def _steps_with_values(*arrays: FloatArray) -> int:
    """Count the rows (steps) in which any of ``arrays`` holds a finite value."""
    rows = [np.isfinite(a).any(axis=1) for a in arrays if a.ndim == 2 and a.shape[1] > 0]
    if not rows:
        return 0
    return int(np.logical_or.reduce(rows).sum())


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
        voltage_steps_assessed=_steps_with_values(vm_pu),
        loading_steps_assessed=(
            _steps_with_values(line_loading_percent, trafo_loading_percent)
            if line_loading_percent.size or trafo_loading_percent.size
            else _steps_with_values(vm_pu)  # no branch to load: judged as the network converged
        ),
    )
