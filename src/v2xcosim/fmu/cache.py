"""The build cache (``fmus/.cache``) and the reproducible FMU archive.

A build is reused when its :func:`cache_key` matches: a content hash of the model sources
(:func:`source_digest`), the pipeline itself (:func:`pipeline_digest`: code-generation target,
shell, and the Python modules that write the FMU), compiler and flags, fleet size, registry
entry and machine.  The key also gives the FMU its GUID, so any change of these inputs gives a
new GUID.  :func:`prune_cache` keeps the :data:`CACHE_KEEP` most recently used builds per FMU;
:func:`write_zip` writes an archive whose bytes depend only on its contents.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import zipfile
from pathlib import Path

from v2xcosim.fmu.registry import ModelEntry
from v2xcosim.fmu.toolchain import CFLAGS, PIPELINE_VERSION, SHELL_DIR, TARGET_DIR, compiler_id

_HERE = Path(__file__).resolve().parent
PIPELINE_MODULES = (
    "build.py",
    "cache.py",
    "codegen.py",
    "meta.py",
    "model_description.py",
    "registry.py",
    "toolchain.py",
)
"""The modules of this package whose code decides the bytes of an FMU (part of the cache key)."""

CACHE_KEEP = 3
"""Cached builds kept per FMU identifier (the most recently built or used)."""

# Fixed ZIP entry time (the earliest a ZIP file can store) so the same inputs give the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def source_digest(mdir: Path) -> str:
    """Return the sha256 over every ``.mo`` file and ``fmus.toml`` below ``mdir`` (path + bytes)."""
    h = hashlib.sha256()
    for p in sorted([*mdir.rglob("*.mo"), mdir / "fmus.toml"]):
        if p.is_file():
            h.update(p.relative_to(mdir).as_posix().encode() + b"\0")
            h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def pipeline_digest() -> str:
    """Return the sha256 over the pipeline version, target, shell and :data:`PIPELINE_MODULES`."""
    h = hashlib.sha256(PIPELINE_VERSION.encode())
    for d in (TARGET_DIR, SHELL_DIR):
        for p in sorted(d.iterdir()):
            if p.is_file():
                h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    for name in PIPELINE_MODULES:
        h.update((_HERE / name).read_bytes())
    return h.hexdigest()


def cache_key(entry: ModelEntry, mdir: Path, fleet: int | None, cc: str) -> str:
    """Content hash deciding whether a cached FMU can be reused."""
    h = hashlib.sha256()
    for part in (
        source_digest(mdir),
        pipeline_digest(),
        compiler_id(cc),
        " ".join(CFLAGS),
        f"fleet={fleet or 0}",
        json.dumps(entry.__dict__, sort_keys=True),
        platform.machine(),
    ):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


def prune_cache(cache: Path, ident: str, keep: Path) -> None:
    """Delete all but the :data:`CACHE_KEEP` most recently used cached builds of ``ident``.

    Every edit of a model's sources makes a new cache entry; without pruning ``fmus/.cache``
    grows by one archive per edit and model (up to a few MB for large fleets).
    """
    entries = [p for p in cache.glob(f"{ident}-*.fmu") if p.name[len(ident) + 1 :][:-4].isalnum()]
    entries.sort(key=lambda p: (p != keep, -p.stat().st_mtime_ns, p.name))
    for old in entries[CACHE_KEEP:]:
        old.unlink(missing_ok=True)


def write_zip(dest: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (archive name: bytes) to ``dest`` reproducibly, replacing it atomically.

    Sorted entries, fixed time stamps and permissions: the same files give the same bytes.
    """
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for arc in sorted(files):
            zi = zipfile.ZipInfo(arc, date_time=_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o100644 << 16  # regular file, rw-r--r--
            zi.create_system = 3
            zf.writestr(zi, files[arc], compresslevel=6)
    tmp.replace(dest)


def install(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` atomically (readers never see a partly written FMU)."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dest)
