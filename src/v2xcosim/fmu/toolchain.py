"""What the pipeline builds with: the C compiler and its flags, the FMI 2.0 headers, the shell.

Finds the compiler (:func:`find_compiler`), names it for the cache key (:func:`compiler_id`),
locates fmpy's FMI 2.0 headers (:func:`fmi2_headers_dir`) and compiles the shell with the
generated sources into the FMU's shared library (:func:`compile_binary`).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from v2xcosim.core.errors import SimulationError, ToolMissingError

PIPELINE_VERSION = "1"
"""Version of the build pipeline: in ``generationTool``, the cache key and ``v2x_build.json``."""

_HERE = Path(__file__).resolve().parent
TARGET_DIR = _HERE / "target"
"""rumoca code-generation target: kernel (``kernel.c``) and metadata (``meta.json``) templates."""
SHELL_DIR = _HERE / "shell"
"""The generic FMI 2.0 shell (C); every file of it goes into the FMU's ``sources/``."""
SHELL_MAIN = "v2x_fmi2.c"
"""The shell's one translation unit; it ``#include``-s the other shell files and the kernel."""
CFLAGS = ("-O2", "-fPIC", "-shared", "-std=c99", "-fno-math-errno", "-Wall", "-Wno-unused-variable")
FMI2_HEADERS = ("fmi2Functions.h", "fmi2FunctionTypes.h", "fmi2TypesPlatform.h")


def find_compiler() -> str:
    """Return the C compiler command (``$CC``, else ``cc``/``gcc``/``clang``)."""
    env = os.environ.get("CC")
    candidates = [env] if env else ["cc", "gcc", "clang"]
    for c in candidates:
        if c and shutil.which(c):
            return c
    raise ToolMissingError(
        "no C compiler found (looked for "
        + ", ".join(repr(c) for c in candidates if c)
        + "); the FMU pipeline compiles the model binaries with it. "
        "Install one, e.g. 'sudo apt-get install gcc' on Debian/Ubuntu, or set CC."
    )


def compiler_id(cc: str) -> str:
    """Return the compiler's version line (part of the cache key)."""
    try:
        res = subprocess.run(
            [cc, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        raise ToolMissingError(f"C compiler {cc!r} cannot be run: {exc}; install gcc") from None
    return (res.stdout or res.stderr).splitlines()[0] if (res.stdout or res.stderr) else cc


def fmi2_headers_dir() -> Path:
    """Return the directory of the FMI 2.0 C headers shipped with fmpy."""
    import fmpy

    d = Path(fmpy.__file__).resolve().parent / "c-code"
    if not (d / "fmi2Functions.h").is_file():
        raise ToolMissingError(
            f"FMI 2.0 headers not found in {d}; reinstall fmpy (pip install fmpy)"
        )
    return d


def shell_sources() -> dict[str, bytes]:
    """Return the shell's files (``.c`` and ``.h`` in :data:`SHELL_DIR`) by file name."""
    return {
        p.name: p.read_bytes()
        for p in sorted(SHELL_DIR.iterdir())
        if p.is_file() and p.suffix in (".c", ".h")
    }


def platform_dir() -> str:
    """Return the FMI 2.0 platform folder name of this machine (``binaries/<platform>/``)."""
    machine = platform.machine().lower()
    bits = "64" if sys.maxsize > 2**32 else "32"
    if sys.platform.startswith("linux"):
        if machine in ("x86_64", "amd64", "i686", "i386"):
            return f"linux{bits}"
        return f"{machine}-linux"
    if sys.platform == "darwin":
        return "darwin64"
    return f"win{bits}"


def compile_binary(cc: str, src_dir: Path, so_name: str, model: str) -> bytes:
    """Compile :data:`SHELL_MAIN` in ``src_dir`` (which holds all sources) to ``so_name``.

    Returns the shared library's bytes; ``model`` names the model in the error message.
    """
    cmd = [cc, *CFLAGS, "-I.", "-o", so_name, SHELL_MAIN, "-lm"]
    try:
        res = subprocess.run(
            cmd, cwd=src_dir, capture_output=True, text=True, timeout=600, check=False
        )
    except OSError as exc:
        raise ToolMissingError(f"cannot run the C compiler {cc!r}: {exc}; install gcc") from None
    if res.returncode != 0:
        raise SimulationError(
            f"compiling model {model} failed ({' '.join(cmd)}):\n{res.stderr.strip()[:4000]}"
        )
    return (src_dir / so_name).read_bytes()
