"""FMU robustness: mutated archives, instance churn, the C shell under AddressSanitizer.

* 1,200 archives mutated from the project's own FMUs (byte flips, truncation, entry renames,
  model description field fuzzing; seeded through ``rng_for``) are opened in-process: each
  opens or is refused with :class:`ScenarioError` — no other exception (no traceback), no
  crash, nothing left in the per-run temporary folder, nothing written next to the archive or in
  the working directory, the working directory unchanged.
* 1,000 instantiate/initialise/step/free cycles of the EV FMU: resident memory grows by less
  than 5 MB after a warm-up.
* ``slow``: the C shell of a 10-EV fleet FMU, compiled from the FMU's own ``sources/`` with
  ``-fsanitize=address,undefined`` and driven by ``tests/data/asan/driver.c`` (20 instances,
  2 solver threads, state save/restore/serialise, unknown value references), runs without a
  sanitizer report or leak.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.rng import rng_for
from v2xcosim.fmu.archive import open_fmu
from v2xcosim.fmu.build import build_fmu
from v2xcosim.fmu.runtime import FmuRunner

SEED = 20261207
N_PER_KIND = 150  # x 4 kinds x 2 FMUs = 1,200 archives

Rng = np.random.Generator


@pytest.fixture(scope="module")
def project_fmus() -> dict[str, bytes]:
    return {name: build_fmu(name).read_bytes() for name in ("EV", "Battery")}


def _entries(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(i, zf.read(i)) for i in zf.infolist()]


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        warnings.simplefilter("ignore")  # duplicate names are one of the planted defects
        for name, content in entries:
            info = zipfile.ZipInfo("entry", date_time=(1980, 1, 1, 0, 0, 0))
            info.filename = name  # set after construction: empty and odd names are planted too
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, content)
    return buf.getvalue()


def flip_bytes(data: bytes, rng: Rng) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        pos = int(rng.integers(0, len(out)))
        out[pos] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


def truncate(data: bytes, rng: Rng) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


_RENAMES: list[Callable[[str, Rng], str]] = [
    lambda n, r: "../" + n,
    lambda n, r: "/" + n,
    lambda n, r: n.upper(),
    lambda n, r: n.replace("/", "\\"),
    lambda n, r: "C:" + n,
    lambda n, r: n + "\x00",
    lambda n, r: "a/../../" + n,
    lambda n, r: "",
    lambda n, r: "x" * 300,
    lambda n, r: n[: int(r.integers(0, max(len(n), 1)))],
    lambda n, r: "binaries/win64/" + n.rsplit("/", 1)[-1],
    lambda n, r: "modelDescription.xml",  # a duplicate
]


def rename_entry(data: bytes, rng: Rng) -> bytes:
    entries = [(i.filename, content) for i, content in _entries(data)]
    k = int(rng.integers(0, len(entries)))
    rule = _RENAMES[int(rng.integers(0, len(_RENAMES)))]
    entries[k] = (rule(entries[k][0], rng), entries[k][1])
    return _zip(entries)


_FUZZ_VALUES = [
    "", "-1", "0", "1e309", "NaN", "-inf", "4294967296", "x" * 5000, "<", "&amp;", "&bogus;",
    "\u00e9\u4e2d", "{00000000-0000-0000-0000-000000000000}", "3.0", "CoSimulation", "..",
    "../../etc/passwd", "1 2 3",
]
_ATTR = re.compile(rb'(\s[A-Za-z_.:]+=")([^"]*)(")')


def fuzz_xml(data: bytes, rng: Rng) -> bytes:
    entries = [(i.filename, content) for i, content in _entries(data)]
    k = next(j for j, (n, _) in enumerate(entries) if n == "modelDescription.xml")
    xml = entries[k][1]
    matches = list(_ATTR.finditer(xml))
    action = int(rng.integers(0, 4))
    if action == 0:  # replace attribute values
        for _ in range(int(rng.integers(1, 4))):
            m = matches[int(rng.integers(0, len(matches)))]
            value = _FUZZ_VALUES[int(rng.integers(0, len(_FUZZ_VALUES)))].encode()
            xml = xml[: m.start(2)] + value + xml[m.end(2):]
            matches = list(_ATTR.finditer(xml))
    elif action == 1:  # delete an attribute
        m = matches[int(rng.integers(0, len(matches)))]
        xml = xml[: m.start()] + xml[m.end():]
    elif action == 2:  # cut the document
        xml = xml[: int(rng.integers(0, len(xml)))]
    else:  # duplicate or drop an element line
        lines = xml.split(b"\n")
        j = int(rng.integers(1, len(lines)))
        if rng.random() < 0.5:
            lines.insert(j, lines[j])
        else:
            del lines[j]
        xml = b"\n".join(lines)
    entries[k] = (entries[k][0], xml)
    return _zip(entries)


MUTATIONS = {"flip": flip_bytes, "truncate": truncate, "rename": rename_entry, "xml": fuzz_xml}


def test_mutated_archives_are_opened_or_refused_cleanly(
    project_fmus: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.chdir(work)
    archive = tmp_path / "archives" / "mutant.fmu"
    archive.parent.mkdir()
    outcomes = {"opened": 0, "refused": 0}
    unexpected: list[str] = []
    n = 0
    for fmu, data in project_fmus.items():
        for kind, mutate in MUTATIONS.items():
            rng = rng_for(SEED, f"tests/fmu-fuzz/{fmu}/{kind}")
            for i in range(N_PER_KIND):
                archive.write_bytes(mutate(data, rng))
                n += 1
                try:
                    with open_fmu(archive) as opened:
                        assert opened.unzipdir.is_relative_to(private_tmp)
                        _ = (opened.variables, opened.interfaces, opened.model_name)
                    outcomes["opened"] += 1
                except ScenarioError as exc:
                    assert str(exc).startswith(f"FMU {archive}"), str(exc)
                    outcomes["refused"] += 1
                except Exception as exc:  # anything else would reach the user as a traceback
                    unexpected.append(f"{fmu}/{kind}/{i}: {type(exc).__name__}: {exc}")
                # no escape: nothing left in the temporary folder, beside the archive or in cwd
                assert not any(private_tmp.iterdir()), f"{fmu}/{kind}/{i}: temp folder not empty"
                assert sorted(archive.parent.iterdir()) == [archive], f"{fmu}/{kind}/{i}"
                assert not any(work.iterdir()) and Path.cwd() == work, f"{fmu}/{kind}/{i}"
    assert n >= 1000
    assert unexpected == []
    # the mutations bite: most archives are refused, a few (harmless edits) still open
    assert outcomes["refused"] > 0.5 * n and outcomes["opened"] > 0


def _rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_instantiate_step_free_1000_times_keeps_memory_flat() -> None:
    def cycle(opened: object) -> float:
        runner = FmuRunner(opened)  # type: ignore[arg-type]
        try:
            runner.initialize({"soc_start": 0.4})
            runner.set(["p_set_w"], [7000.0])
            runner.do_step(60.0)
            runner.set(["p_set_w"], [-3000.0])
            runner.do_step(60.0)
            return float(runner.get(["soc"])[0])
        finally:
            runner.close()

    with open_fmu(build_fmu("EV")) as opened:
        socs = [cycle(opened) for _ in range(100)]  # warm-up
        before = _rss_bytes()
        socs += [cycle(opened) for _ in range(1000)]
        growth = _rss_bytes() - before
    # every cycle is the same run: a leak of state between instances would show here too
    assert len(set(socs)) == 1 and 0.4 < socs[0] < 0.41
    assert growth < 5 * 1024**2, f"resident memory grew by {growth / 1024**2:.2f} MB"


@pytest.mark.slow
def test_c_shell_runs_clean_under_address_sanitizer(tmp_path: Path) -> None:
    cc = shutil.which("gcc")
    if cc is None:
        pytest.skip("gcc (with AddressSanitizer) not installed")
    fmu = build_fmu("EV", fleet=10)
    with zipfile.ZipFile(fmu) as zf:
        zf.extractall(tmp_path / "fmu")
    from fmpy import read_model_description

    md = read_model_description(str(tmp_path / "fmu"))
    inputs = [v.valueReference for v in md.modelVariables if v.causality == "input"]
    reals = [v.valueReference for v in md.modelVariables if v.type == "Real"]
    threads = next(v.valueReference for v in md.modelVariables if v.name == "solver.threads")
    flags = ["-g", "-O1", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
             "-fno-sanitize-recover=all", "-std=c99"]
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1"}
    # the sanitizer works on this machine: a planted overflow is reported
    planted = tmp_path / "planted.c"
    planted.write_text(
        "#include <stdlib.h>\nint main(void) { char *p = malloc(4); p[4] = 1; free(p); "
        "return 0; }\n"
    )
    subprocess.run([cc, "-g", "-fsanitize=address", "-o", str(tmp_path / "planted"),
                    str(planted)], check=True)
    bad = subprocess.run([str(tmp_path / "planted")], capture_output=True, text=True, env=env,
                         timeout=60, check=False)
    assert bad.returncode != 0 and "AddressSanitizer: heap-buffer-overflow" in bad.stderr
    driver = Path(__file__).parent / "data" / "asan" / "driver.c"
    exe = tmp_path / "driver"
    subprocess.run(
        [cc, *flags, "-I.", "-o", str(exe), "v2x_fmi2.c", str(driver), "-lm", "-lpthread"],
        cwd=tmp_path / "fmu" / "sources", check=True, capture_output=True, text=True,
    )
    res = subprocess.run(
        [str(exe), str(md.guid), ",".join(map(str, inputs)), ",".join(map(str, reals)),
         str(threads), "20"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert "Sanitizer" not in res.stderr and "runtime error" not in res.stderr, res.stderr[-4000:]
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-4000:]
