"""Output folders every writing command refuses up front: one message, exit 2, nothing written."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from v2x_helpers import DEMO
from v2xcosim.cli import main
from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.io import check_writable_dir, prepare_out_dir

Command = Callable[[Path], list[str]]

COMMANDS: dict[str, Command] = {
    "run --out": lambda p: ["run", str(DEMO), "--no-progress", "--out", str(p)],
    "demo --out": lambda p: ["demo", "--out", str(p)],
    "fmu build --out": lambda p: ["fmu", "build", "EV", "--out", str(p)],
    "fmu regress --report": lambda p: ["fmu", "regress", "x.fmu", "refs", "--report", str(p)],
    "fmu regress --update": lambda p: [
        "fmu",
        "regress",
        "x.fmu",
        str(p),
        "--update",
        "--reason",
        "test",
    ],
}


def _inside_a_file(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "notes.txt").write_text("a file\n")
    return tmp_path / "notes.txt" / "out", "is a file, not a folder"


def _dangling_link(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    return tmp_path / "link", "symbolic link"


def _dangling_link_above(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    return tmp_path / "link" / "out", "which does not exist"


def _name_too_long(tmp_path: Path) -> tuple[Path, str]:
    return tmp_path / ("x" * 300), "more than the"


def _not_writable_proc(tmp_path: Path) -> tuple[Path, str]:
    # not writable even for root: /proc accepts no new folders
    return Path("/proc") / f"v2xcosim-{tmp_path.name}", "cannot create anything in /proc"


def _not_writable_chmod(tmp_path: Path) -> tuple[Path, str]:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):  # root (as in CI): permission bits do not stop writes
        locked.chmod(0o700)
        pytest.skip("running as root: a 0o500 folder is writable (the /proc case covers it)")
    return locked / "out", "cannot create anything in"


CASES: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "inside a file": _inside_a_file,
    "dangling symlink": _dangling_link,
    "dangling symlink above": _dangling_link_above,
    "name too long": _name_too_long,
    "unwritable /proc": _not_writable_proc,
    "unwritable 0o500": _not_writable_chmod,
}


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("command", COMMANDS)
def test_bad_output_folder_refused_before_any_work(
    command: str,
    case: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # relative defaults (results/) would land here
    path, reason = CASES[case](tmp_path)
    before = _tree(tmp_path)
    try:
        rc = main(COMMANDS[command](path))
    finally:
        if (tmp_path / "locked").exists():
            (tmp_path / "locked").chmod(0o700)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("v2xcosim: error: "), err
    assert str(path) in err and reason in err and "; " in err, err  # the path, why, what to do
    assert "Traceback" not in err
    assert _tree(tmp_path) == before, "something was written"


def test_good_folders_pass_and_the_probe_leaves_nothing(tmp_path: Path) -> None:
    check_writable_dir(tmp_path, "--out")  # an existing empty folder
    check_writable_dir(tmp_path / "a" / "b", "--out")  # to be created
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    check_writable_dir(tmp_path / "link" / "out", "--out")  # through a live link
    assert _tree(tmp_path) == {"real", "link"}


def test_reserve_leaves_room_for_a_sibling(tmp_path: Path) -> None:
    name = "y" * 250
    check_writable_dir(tmp_path / name, "--out")
    with pytest.raises(ScenarioError, match="more than the 245 allowed"):
        check_writable_dir(tmp_path / name, "--out", reserve=10)


def test_prepare_out_dir_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ScenarioError, match="is a file, not a folder"):
        prepare_out_dir(tmp_path / "f" / "run")
