"""Tests of safe FMU opening (v2xcosim.fmu.archive) and of bad archives through the CLI."""

from __future__ import annotations

import importlib.util
import stat
import sys
import tempfile
import types
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from v2xcosim.core.errors import ScenarioError, SimulationError
from v2xcosim.fmu import archive, regress
from v2xcosim.fmu.archive import open_fmu


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HERE = Path(__file__).parent
testkit = _load("v2x_fmu_testkit_a", HERE / "fmus" / "testkit.py")
run_cli = _load("v2x_test_regress_a", HERE / "test_regress.py").run_cli


@pytest.fixture(scope="module")
def fmus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("fmus")
    return {name: testkit.build_fmu(name, out) for name in testkit.FMUS}


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Redirect the per-run temporary folders so the test can see that they are removed."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


Edit = Callable[[zipfile.ZipFile, dict[str, bytes]], None]


def _rewrite(src: Path, dst: Path, edit: Edit) -> Path:
    """Copy the FMU ``src`` to ``dst`` letting ``edit`` add entries to the new archive."""
    with zipfile.ZipFile(src) as zin:
        entries = {i.filename: zin.read(i) for i in zin.infolist()}
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        edit(zout, entries)
    return dst


def _copy_all(zout: zipfile.ZipFile, entries: dict[str, bytes], skip: str = "") -> None:
    for name, data in entries.items():
        if not (skip and name.startswith(skip)):
            zout.writestr(name, data)


def test_open_valid_fmu_cleans_up(fmus: dict[str, Path], private_tmp: Path) -> None:
    cwd = Path.cwd()
    with open_fmu(fmus["Lag"]) as opened:
        assert opened.fmi_version == "2.0" and opened.model_name == "Lag"
        assert opened.interfaces == ("CoSimulation", "ModelExchange")
        assert (opened.unzipdir / "modelDescription.xml").is_file()
        assert len(opened.sha256) == 64
        assert set(opened.variables) >= {"u", "y", "T"}
    assert list(private_tmp.iterdir()) == []
    assert Path.cwd() == cwd
    with open_fmu(fmus["Oscillator"]) as opened:
        assert opened.fmi_version == "3.0" and opened.interfaces == ("CoSimulation",)
    assert list(private_tmp.iterdir()) == []


def _symlink(zout: zipfile.ZipFile, entries: dict[str, bytes]) -> None:
    _copy_all(zout, entries)
    info = zipfile.ZipInfo("resources/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zout.writestr(info, "/etc/passwd")


def _bomb(zout: zipfile.ZipFile, entries: dict[str, bytes]) -> None:
    _copy_all(zout, entries)
    zout.writestr("resources/zeros.bin", b"\0" * (8 * 1024**2))  # ratio ~1000


def _duplicate(zout: zipfile.ZipFile, entries: dict[str, bytes]) -> None:
    _copy_all(zout, entries)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        zout.writestr("modelDescription.xml", b"<x/>")


def _case_duplicate(zout: zipfile.ZipFile, entries: dict[str, bytes]) -> None:
    _copy_all(zout, entries)
    zout.writestr("resources/A.txt", b"a")
    zout.writestr("resources/a.txt", b"b")


def _no_md(zout: zipfile.ZipFile, entries: dict[str, bytes]) -> None:
    _copy_all(zout, entries, skip="modelDescription.xml")


def _bad_md(zout: zipfile.ZipFile, entries: dict[str, bytes]) -> None:
    _copy_all(zout, entries, skip="modelDescription.xml")
    zout.writestr("modelDescription.xml", b"<fmiModelDescription fmiVersion='2.0'><oops")


def _other_platform(zout: zipfile.ZipFile, entries: dict[str, bytes]) -> None:
    for name, data in entries.items():
        zout.writestr(name.replace("binaries/linux64/", "binaries/win64/"), data)


def _no_binaries(zout: zipfile.ZipFile, entries: dict[str, bytes]) -> None:
    _copy_all(zout, entries, skip="binaries/")


def _entry(name: str) -> Callable[[zipfile.ZipFile, dict[str, bytes]], None]:
    def edit(zout: zipfile.ZipFile, entries: dict[str, bytes]) -> None:
        _copy_all(zout, entries)
        zout.writestr(zipfile.ZipInfo(name), b"evil")

    return edit


BAD_EDITS = {
    "dotdot": (_entry("../evil.txt"), "outside the archive"),
    "dotdot_inner": (_entry("resources/../../evil.txt"), "outside the archive"),
    "absolute": (_entry("/tmp/evil.txt"), "absolute path"),
    "drive": (_entry("C:/evil.txt"), "drive letter"),
    "backslash": (_entry("resources\\evil.txt"), "backslash"),
    "symlink": (_symlink, "symbolic link"),
    "bomb": (_bomb, "zip bomb"),
    "duplicate": (_duplicate, "duplicate entry"),
    "case_duplicate": (_case_duplicate, "duplicate entry"),
    "no_model_description": (_no_md, "no modelDescription.xml"),
    "bad_model_description": (_bad_md, "malformed"),
    "other_platform": (_other_platform, "binaries for: win64"),
    "no_binaries": (_no_binaries, "no binaries"),
}


@pytest.mark.parametrize("case", sorted(BAD_EDITS))
def test_bad_archive_exit_2(
    case: str, fmus: dict[str, Path], tmp_path: Path, private_tmp: Path
) -> None:
    edit, message = BAD_EDITS[case]
    bad = _rewrite(fmus["Lag"], tmp_path / f"{case}.fmu", edit)
    cwd = Path.cwd()
    with pytest.raises(ScenarioError, match=message), open_fmu(bad):
        pass
    assert list(private_tmp.iterdir()) == []
    assert Path.cwd() == cwd
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()
    ref = tmp_path / "ref"
    testkit.write_lag_reference(ref)
    code, _, err = run_cli([str(bad), str(ref)])
    assert code == 2 and "Traceback" not in err and message in err


def test_not_a_zip_truncated_and_corrupt(
    fmus: dict[str, Path], tmp_path: Path, private_tmp: Path
) -> None:
    data = fmus["Lag"].read_bytes()
    cases = {
        "text.fmu": b"this is not a zip file\n",
        "empty.fmu": b"",
        "truncated.fmu": data[: len(data) // 2],
    }
    # flip bytes inside the compressed shared library: CRC or inflate error while extracting
    with zipfile.ZipFile(fmus["Lag"]) as zf:
        info = zf.getinfo("binaries/linux64/Lag.so")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 50
    corrupt = bytearray(data)
    for k in range(start, start + 64):
        corrupt[k] ^= 0xFF
    cases["corrupt.fmu"] = bytes(corrupt)
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ScenarioError, match=f"FMU {path}"), open_fmu(path):
            pass
        assert list(private_tmp.iterdir()) == []


def test_size_caps_are_enforced(
    fmus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(ScenarioError, match="more than 1000 bytes"), open_fmu(fmus["Lag"]):
        pass
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 1024**3)
    monkeypatch.setattr(archive, "MAX_ENTRIES", 2)
    with pytest.raises(ScenarioError, match="entries"), open_fmu(fmus["Lag"]):
        pass


def test_broken_library_and_guid_mismatch_restore_cwd(
    fmus: dict[str, Path], tmp_path: Path, private_tmp: Path
) -> None:
    def garbage_so(zout: zipfile.ZipFile, entries: dict[str, bytes]) -> None:
        for name, data in entries.items():
            zout.writestr(name, b"not an ELF file" if name.endswith(".so") else data)

    def wrong_guid(zout: zipfile.ZipFile, entries: dict[str, bytes]) -> None:
        for name, data in entries.items():
            if name == "modelDescription.xml":
                data = data.replace(b"8c4e810f", b"deadbeef")
            zout.writestr(name, data)

    ref = tmp_path / "ref"
    testkit.write_lag_reference(ref)
    cwd = Path.cwd()
    for edit, message in ((garbage_so, "Failed to load"), (wrong_guid, "failed to run")):
        bad = _rewrite(fmus["Lag"], tmp_path / f"{edit.__name__}.fmu", edit)
        with pytest.raises(SimulationError, match=message):
            regress.check(bad, ref)
        assert Path.cwd() == cwd
        assert list(private_tmp.iterdir()) == []
        code, _, err = run_cli([str(bad), str(ref)])
        assert code == 2 and "Traceback" not in err


def test_sha256_matches_hashlib(fmus: dict[str, Path]) -> None:
    import hashlib

    expected = hashlib.sha256(fmus["Lag"].read_bytes()).hexdigest()
    assert archive.sha256_file(fmus["Lag"]) == expected
    assert sys.platform  # the FMU binaries above are built for this platform
