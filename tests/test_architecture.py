"""The package's floors hold: no import cycles, and generic code names no use case."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

from architecture import import_cycles

SRC = Path(__file__).resolve().parents[1] / "src" / "v2xcosim"


def test_no_import_cycles() -> None:
    assert import_cycles() == []


def test_cycle_finder_sees_function_level_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "cyc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyc import b, c\n")
    (pkg / "b.py").write_text("def f() -> None:\n    from cyc import a\n")  # function level
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import cyc.a\n"
    (pkg / "c.py").write_text(guarded)  # c -> a only for type checking: not a cycle
    sys.path.insert(0, str(tmp_path))
    try:
        assert import_cycles("cyc") == [["cyc.a", "cyc.b"]]
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "cyc" or m.startswith("cyc.")]:
            del sys.modules[name]


def test_layer_contract_holds() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run(
        [str(lint), "--no-cache"], capture_output=True, text=True, check=False, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_only_the_terni_package_and_the_registry_name_terni() -> None:
    naming = sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "terni" in p.read_text(encoding="utf-8").lower()
    )
    assert [p for p in naming if not p.startswith("usecases/terni/")] == ["usecases/__init__.py"]


def test_domain_never_imports_the_schema_or_mosaik() -> None:
    graph = grimp.build_graph("v2xcosim", "mosaik", "mosaik_api_v3")
    for module in graph.find_descendants("v2xcosim.domain"):
        for target in graph.find_modules_directly_imported_by(module):
            assert not target.startswith(("v2xcosim.config", "mosaik")), (module, target)
