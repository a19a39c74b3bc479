"""README.md's KPI table is the KPI vocabulary of ``report/kpis.py``, row for row."""

from __future__ import annotations

from pathlib import Path

from v2xcosim.report.kpis import KPIS, README_BEGIN, README_END, markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_kpi_table_is_the_vocabulary() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.count(README_BEGIN) == 1 and text.count(README_END) == 1
    block = text[text.index(README_BEGIN) : text.index(README_END) + len(README_END)]
    assert block == markdown_table(), "run: python -m v2xcosim.report.kpis, paste into README.md"


def test_every_kpi_has_a_row_with_its_unit() -> None:
    table = markdown_table()
    for name, kpi in KPIS.items():
        assert f"| `{name}` | {kpi.unit or '—'} |" in table
