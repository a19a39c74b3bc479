"""KPI tables a person reads: one run's headline KPIs, or several runs side by side."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

RESIDUE = 1e-9
"""Magnitude below which a KPI value is rounding residue, shown as 0 (in the KPIs' units)."""


def comparison_table(runs: Mapping[str, Mapping[str, Any]], keys: Sequence[str]) -> str:
    """Format the KPIs ``keys`` of the runs (name → KPIs) as a table; the first is the reference.

    Values show 4 significant digits; the last column is the change from the first run to the
    second (a change below the 4th significant digit of the values shows as 0).
    """
    names = list(runs)
    widths = [max(14, len(n) + 2) for n in names]  # long names (module:Class) stay apart
    head = f"{'KPI':<30}" + "".join(f"{n:>{w}}" for n, w in zip(names, widths, strict=True))
    dw = 22
    if len(names) > 1:
        label = "Δ " + names[0] + "→" + names[1]
        dw = max(dw, len(label) + 2)
        head += f"{label:>{dw}}"
    lines = [head, "-" * len(head)]

    def fmt(v: Any) -> str:
        # 4 significant digits; rounding residue (|v| < 1e-9 in the KPIs' units) shows as 0
        return "n/a" if v is None else f"{float(v) if abs(float(v)) >= RESIDUE else 0.0:.4g}"

    for key in keys:
        vals = [runs[n].get(key) for n in names]
        row = f"{key:<30}" + "".join(f"{fmt(v):>{w}}" for v, w in zip(vals, widths, strict=True))
        if len(names) > 1 and vals[0] is not None and vals[1] is not None:
            row += f"{rounded_delta(float(vals[0]), float(vals[1])):>+{dw}.4g}"
        lines.append(row)
    return "\n".join(lines)


def rounded_delta(a: float, b: float) -> float:
    """Return ``b − a``, or 0 when the change is below the 4th significant digit of the values.

    The values are shown with 4 significant digits; a smaller change would be rounding residue.
    A value below :data:`RESIDUE` is shown as 0 and counts as 0 here too (e.g. 1e-16 MWh of
    discharge summed from a solver's round-off), so two runs both showing 0 differ by 0.
    """
    a = 0.0 if abs(a) < RESIDUE else a
    b = 0.0 if abs(b) < RESIDUE else b
    scale = max(abs(a), abs(b))
    if not math.isfinite(scale):
        return b - a
    step = 10.0 ** (math.floor(math.log10(scale)) - 3) if scale > 0 else 0.0
    return b - a if abs(b - a) >= 0.5 * step else 0.0


def checks_line(kpis: Mapping[str, Any]) -> str:
    """One line on the flagged checks of a run's KPIs (``checks``: name -> flagged, passed)."""
    failed = [
        n + (" (not assessable)" if "reason" in c else "")
        for n, c in kpis.get("checks", {}).items()
        if c["flagged"] and not c["passed"]
    ]
    return "  checks: " + (
        "all flagged checks passed" if not failed else "FAILED: " + ", ".join(failed)
    )
