"""Goldens of every shipped scenario: KPIs and decoded result tables stay what they were.

A pure move of code keeps these bit-identical.  A deliberate change of numbers regenerates them
(``tests/goldens/digest.py --write``) in a commit of its own that says why and by how much.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from goldens.digest import CASES, GOLDENS, run_case


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
