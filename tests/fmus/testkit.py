"""Build the hand-written test FMUs (tests/fmus/*/) with the machine's C compiler.

Not a conftest: test modules load it by path (``load_testkit()`` pattern in the tests) so the
shared ``tests/conftest.py`` stays untouched.  Each FMU folder holds ``modelDescription.xml``
and one C file; every FMI function that the C file does not define is generated as a stub
returning ``fmiXError`` (or NULL), with the exact prototype parsed from fmpy's FMI headers, so
the library exports the full API that fmpy binds.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import fmpy

HERE = Path(__file__).resolve().parent
HEADERS = Path(fmpy.__file__).resolve().parent / "c-code"

FMUS = {
    # name: (folder, C source, FMI major version, modelIdentifier)
    "Lag": ("lag2", "lag.c", 2, "Lag"),
    "Oscillator": ("osc3", "osc.c", 3, "Oscillator"),
    "Types": ("types3", "types.c", 3, "Types"),
    "Stair": ("stair2", "stair.c", 2, "Stair"),
}

_TYPEDEF = re.compile(r"typedef\s+([\w\s\*]+?)\s*\b(fmi[23]\w+)TYPE\s*\(([^;]*?)\)\s*;", re.S)


def stubs(version: int, defined: set[str]) -> str:
    """Return C stubs for every FMI function of ``version`` not in ``defined``."""
    header = (HEADERS / f"fmi{version}FunctionTypes.h").read_text()
    header = re.sub(r"/\*.*?\*/", "", header, flags=re.S)
    out = [f'#include "fmi{version}Functions.h"']
    for ret, name, params in _TYPEDEF.findall(header):
        if name in defined:
            continue
        ret = " ".join(ret.split())
        value = f"fmi{version}Error" if ret.endswith("Status") else "0"
        if ret == "void":
            out.append(f"{ret} {name}({params}) {{ }}")
        else:
            out.append(f"{ret} {name}({params}) {{ return ({ret}){value}; }}")
    return "\n".join(out) + "\n"


def build_fmu(name: str, out_dir: Path, *, defines: tuple[str, ...] = (),
              fmu_name: str | None = None,
              model_description: str | None = None) -> Path:
    """Compile the test FMU ``name`` into ``out_dir/<fmu_name or name>.fmu``; return its path.

    ``defines`` are C macros (``-D``) for variants of the source; ``model_description``
    replaces the folder's ``modelDescription.xml`` text.
    """
    folder, source, version, identifier = FMUS[name]
    src = HERE / folder / source
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:  # pragma: no cover - the project requires a C compiler for its FMUs
        raise RuntimeError("no C compiler (cc) found")
    fmu_name = fmu_name or name
    work = out_dir / f"{fmu_name}-build"
    work.mkdir(parents=True)
    code = src.read_text()
    defined = set(re.findall(r"\b(fmi[23]\w+)\s*\(", code))
    stub_file = work / "stubs.c"
    stub_file.write_text(stubs(version, defined))
    plat = fmpy.platform_tuple if version == 3 else fmpy.platform
    lib = work / f"{identifier}{fmpy.sharedLibraryExtension}"
    subprocess.run(
        [
            cc,
            "-shared",
            "-fPIC",
            "-O1",
            "-std=c99",
            "-Wall",
            "-Werror",
            "-Wno-unused-parameter",
            *(f"-D{d}" for d in defines),
            f"-I{HEADERS}",
            "-o",
            str(lib),
            str(src),
            str(stub_file),
            "-lm",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    fmu = out_dir / f"{fmu_name}.fmu"
    xml = model_description or (HERE / folder / "modelDescription.xml").read_text()
    with zipfile.ZipFile(fmu, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("modelDescription.xml", xml)
        zf.write(lib, f"binaries/{plat}/{lib.name}")
        zf.write(src, f"sources/{source}")
    shutil.rmtree(work)
    return fmu


# ---------------------------------------------------------------- analytic references


def _write_csv(path: Path, header: list[str], rows: list[list[float]]) -> None:
    lines = [",".join(f'"{h}"' for h in header)]
    lines += [",".join(repr(float(v)) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def write_lag_reference(ref_dir: Path, *, step: float = 0.05) -> None:
    """Lag: u steps 0 -> 1 at t = 0.5, T = 0.5, y = 1 - exp(-(t - 0.5) / T) after the step.

    The reference is sampled every ``step`` (not the run's StepSize 0.01) on purpose.
    """
    import math

    ref_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(
        ref_dir / "Lag_in.csv", ["time", "u"], [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [3.0, 1.0]]
    )
    n = round(3.0 / step)
    rows = []
    for i in range(n + 1):
        t = i * step
        rows.append([t, 0.0 if t <= 0.5 else 1.0 - math.exp(-(t - 0.5) / 0.5)])
    _write_csv(ref_dir / "Lag_ref.csv", ["time", "y"], rows)
    (ref_dir / "Lag_ref.opt").write_text(
        "StartTime, 0.0\nStopTime, 3.0\nStepSize, 0.01\nRelTol, 1e-06\n"
    )


def write_oscillator_reference(ref_dir: Path) -> None:
    """Oscillator with F = 2, k = 4, c = 0.4, m = 1, x(0) = 1, v(0) = 0 (closed form)."""
    import math

    ref_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(ref_dir / "Oscillator_in.csv", ["time", "F"], [[0.0, 2.0], [5.0, 2.0]])
    wd = 2.0 * math.sqrt(0.99)
    rows = []
    for i in range(251):  # every 0.02 s: fine enough for linear interpolation
        t = i * 0.02
        e = math.exp(-0.2 * t)
        x = 0.5 + 0.5 * e * (math.cos(wd * t) + 0.2 / wd * math.sin(wd * t))
        v = -0.5 * 4.0 / wd * e * math.sin(wd * t)
        rows.append([t, x, v])
    _write_csv(ref_dir / "Oscillator_ref.csv", ["time", "x", "v"], rows)
    (ref_dir / "Oscillator_ref.opt").write_text(
        "StartTime, 0.0\nStopTime, 5.0\nStepSize, 0.01\nRelTol, 1e-06\n"
    )
