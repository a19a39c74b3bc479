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

from goldens.digest import CASES, GOLDENS, ROOT, folder_golden
from shared_runs import SharedRuns
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
def test_golden(case: str, shared_runs: SharedRuns) -> None:
    want = json.loads(GOLDENS.read_text())[case]
    scenario, overrides = CASES[case]
    out = shared_runs.folder(ROOT / scenario, overrides)  # the use-case tests read it too
    got = folder_golden(out)
    problems = _diff(want, got)
    assert not problems, "\n".join(problems[:40])
    _check_shared_grid_kpis(case, out, got["kpis"])


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


def _readme_row(text: str, label: str) -> list[str]:
    """The three strategy cells of the row starting with ``label`` in the default-day table."""
    table = text.split("## Default day: the numbers", 1)[1]
    for line in table.splitlines():
        if line.startswith(f"| {label} |"):
            return [c.strip() for c in line.strip().strip("|").split("|")[1:]]
    raise AssertionError(f"scenarios/terni/README.md: no row {label!r} in 'Default day'")


def _numbers(cell: str) -> list[tuple[float, int]]:
    """The numbers printed in ``cell`` and their count of decimals."""
    import re

    out = []
    for x in re.findall(r"[−-]?\d+(?:\.\d+)?", cell):
        decimals = len(x.split(".")[1]) if "." in x else 0
        out.append((float(x.replace("−", "-")), decimals))
    return out


@pytest.mark.parametrize(
    ("label", "keys"),
    [
        (
            "primary reverse flow [MWh] (peak [MW])",
            ("reverse_flow_energy_mwh", "reverse_flow_peak_mw"),
        ),
        ("LV reverse flow at the sites' transformers [MWh]", ("lv_reverse_flow_energy_mwh",)),
        (
            "EV energy charged / discharged [kWh]",
            ("ev_energy_charged_kwh", "ev_energy_discharged_kwh"),
        ),
        ("DSO payments [EUR]", ("dso_payments_eur",)),
        ("users' bill / net change against uncontrolled [EUR]", ("bill_eur", "net_change_eur")),
        ("degradation (FMU ageing) [EUR]", ("degradation_eur",)),
    ],
)
def test_terni_readme_table_is_the_goldens(label: str, keys: tuple[str, ...]) -> None:
    """The README's "Default day: the numbers" rows are the goldens, to the digits printed."""
    text = (ROOT / "scenarios" / "terni" / "README.md").read_text(encoding="utf-8")
    goldens = json.loads(GOLDENS.read_text())
    cells = _readme_row(text, label)
    for strategy, cell in zip(("uncontrolled", "smart", "v2g"), cells, strict=True):
        kpis = goldens[f"terni_{strategy}"]["kpis"]
        printed = _numbers(cell)
        assert len(printed) == len(keys), (label, strategy, cell)
        for (value, decimals), key in zip(printed, keys, strict=True):
            half = 0.5 * 10.0**-decimals + 1e-9  # the golden rounds to what is printed
            assert abs(value - kpis[key]) <= half, (
                f"README {label!r} {strategy}: {value} printed, golden {key} = {kpis[key]:.4f}"
            )
