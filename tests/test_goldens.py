"""Goldens of every shipped scenario: KPIs and decoded result tables stay what they were.

A pure move of code keeps these bit-identical.  A deliberate change of numbers regenerates them
(``tests/goldens/digest.py --write``) in a commit of its own that says why and by how much.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from goldens.digest import CASES, GOLDENS, ROOT, run_case
from v2xcosim.report.kpis import grid_kpis
from v2xcosim.report.results import json_clean
from v2xcosim.scenario import load_scenario


def _diff(want: Any, got: Any, path: str = "") -> list[str]:
    if isinstance(want, dict) and isinstance(got, dict):
        out: list[str] = []
        for k in sorted(set(want) | set(got)):
            if k not in got:
                out.append(f"{path}{k}: missing")
            elif k not in want:
                out.append(f"{path}{k}: new")
            else:
                out.extend(_diff(want[k], got[k], f"{path}{k}."))
        return out
    return [] if want == got else [f"{path.rstrip('.')}: {want!r} -> {got!r}"]


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, tmp_path: Path) -> None:
    want = json.loads(GOLDENS.read_text())[case]
    got = run_case(case, tmp_path / case)
    problems = _diff(want, got)
    assert not problems, "\n".join(problems[:40])
    _check_shared_grid_kpis(case, tmp_path / case, got["kpis"])


def _check_shared_grid_kpis(case: str, out: Path, kpis: dict[str, Any]) -> None:
    """The shared grid KPIs (``report.kpis.grid_kpis``) are the use case's, bit for bit."""
    scenario, overrides = CASES[case]
    spec = load_scenario(ROOT / scenario, overrides)
    window = getattr(getattr(spec, "terni", None), "voltage_window_s", None)
    shared = json_clean(
        grid_kpis(
            pd.read_parquet(out / "grid.parquet"),
            step_s=spec.time.step_s,
            v_min_pu=spec.grid.v_min_pu,
            v_max_pu=spec.grid.v_max_pu,
            **({} if window is None else {"voltage_window_s": window}),
        )
    )
    assert len(set(shared) & set(kpis)) >= 11, case  # all but import_peak_mw, reverse_flow_steps
    differ = {k: (kpis[k], v) for k, v in shared.items() if k in kpis and kpis[k] != v}
    assert not differ, f"{case}: use case KPI vs report.kpis.grid_kpis: {differ}"
