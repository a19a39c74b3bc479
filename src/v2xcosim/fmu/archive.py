"""Safe opening of FMU archives: the one entry point for every command that opens an FMU.

An FMU is a zip archive from an outside source.  :func:`open_fmu` checks the archive *before*
anything is extracted, extracts it into a per-run temporary folder (always removed, also on
errors), reads the model description from the extracted copy with fmpy, and checks that a
binary for this platform exists.  The working directory of the process is restored on exit,
because fmpy leaves it inside the extraction folder after a failed library load.

Checks, in order (each failure raises :class:`~v2xcosim.core.errors.ScenarioError`, exit code 2):

* the path is a regular file no larger than :data:`MAX_ARCHIVE_BYTES`;
* it is a readable zip archive (not truncated: the central directory is intact);
* at most :data:`MAX_ENTRIES` entries; no encrypted entries;
* entry names: no absolute paths, drive letters, backslashes, NUL bytes or ``..`` components;
  no duplicates (also not after normalisation or up to letter case, which would silently
  overwrite each other on case-insensitive file systems);
* no symbolic links or other special files (Unix mode bits in the entry's external attributes);
* sizes: each entry at most :data:`MAX_ENTRY_BYTES`, all together at most
  :data:`MAX_TOTAL_BYTES`, and an entry larger than :data:`RATIO_MIN_BYTES` may not expand more
  than :data:`MAX_RATIO` times its compressed size (zip bombs).  The declared sizes are checked
  before extraction and the bytes actually written are counted during extraction, so an archive
  that lies about its sizes is stopped as well;
* ``modelDescription.xml`` exists at the root and fmpy can read it (with ``light=True``: the
  light reader of :mod:`v2xcosim.fmu.variable_table` validates it against fmpy's FMI 2.0
  schema with fmpy's checks, once per archive SHA-256; the table is then cached);
* the FMU offers Co-Simulation or Model Exchange (an FMU with only Scheduled Execution is
  refused as such) and has a shared library for this platform for at least one of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from v2xcosim.core.errors import ScenarioError

MAX_ARCHIVE_BYTES: int = 512 * 1024**2
"""Largest accepted FMU file (512 MiB)."""

MAX_ENTRIES: int = 10_000
"""Largest number of entries in the archive."""

MAX_ENTRY_BYTES: int = 256 * 1024**2
"""Largest uncompressed size of one entry (256 MiB)."""

MAX_TOTAL_BYTES: int = 1024**3
"""Largest uncompressed size of all entries together (1 GiB)."""

MAX_RATIO: float = 200.0
"""Largest compression ratio (uncompressed / compressed) of an entry above RATIO_MIN_BYTES.

Shared libraries and XML compress 3-10 times; 200 leaves room for sparse data files while a
zip bomb (ratios of 1,000 and more) is refused.
"""

RATIO_MIN_BYTES: int = 1024**2
"""Entries at most this large (1 MiB) are exempt from the ratio check (tiny files of zeros)."""

_CHUNK = 1024**2


def description_limit(allowance_bytes: int = 0) -> int:
    """Largest accepted ``modelDescription.xml`` [bytes]: :data:`MAX_ENTRY_BYTES`, or more.

    A caller that knows how large the description of a trusted FMU must be (a fleet FMU
    declares every vehicle's variables: its size follows the fleet's) passes that allowance;
    the ratio check and every other entry's limit stay.
    """
    return max(MAX_ENTRY_BYTES, int(allowance_bytes))


@dataclass(frozen=True)
class OpenedFmu:
    """An FMU extracted into a temporary folder that exists while the context is open.

    Attributes:
        path: the FMU archive that was opened.
        sha256: SHA-256 of the archive file (hex).
        unzipdir: the extraction folder (removed when the context closes).
        model_description: fmpy's ``ModelDescription``, or with ``light=True`` a
            :class:`~v2xcosim.fmu.variable_table.LightDescription` (the same attribute names for
            what it holds).
        platform: fmpy's platform name used for the binaries folder (``linux64``, ``x86_64-linux``).
        interfaces: the FMI interfaces runnable on this platform (``"CoSimulation"``,
            ``"ModelExchange"``), Co-Simulation first.
        variables: the model variables by name (fmpy's ``ModelVariable`` or, light, a
            :class:`~v2xcosim.fmu.variable_table.VariableTable` of rows with the same names).

    """

    path: Path
    sha256: str
    unzipdir: Path
    model_description: Any
    platform: str
    interfaces: tuple[str, ...]
    variables: Mapping[str, Any] = field(repr=False)

    @property
    def fmi_version(self) -> str:
        """The FMI version string of the model description (``"2.0"``, ``"3.0"``)."""
        return str(self.model_description.fmiVersion)

    @property
    def model_name(self) -> str:
        """The ``modelName`` of the model description."""
        return str(self.model_description.modelName)


def sha256_file(path: Path) -> str:
    """Return the SHA-256 (hex) of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _bad(path: Path, what: str, fix: str) -> ScenarioError:
    return ScenarioError(f"FMU {path}: {what}. {fix}")


def _check_name(path: Path, name: str) -> str:
    """Return the normalised entry name or raise for an unsafe one."""
    fix = "The archive is not a valid FMU; rebuild or re-export it with a standard FMU tool."
    if "\x00" in name:
        raise _bad(path, f"entry name {name!r} contains a NUL byte", fix)
    if "\\" in name:
        raise _bad(path, f"entry {name!r} uses a backslash; zip paths must use '/'", fix)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ":" in name.split("/")[0]:
        raise _bad(path, f"entry {name!r} has an absolute path or a drive letter", fix)
    parts = name.split("/")
    if ".." in parts:
        raise _bad(path, f"entry {name!r} points outside the archive ('..')", fix)
    norm = posixpath.normpath(name)
    if norm in ("", "."):
        raise _bad(path, f"entry {name!r} has an empty name", fix)
    return norm


def _entry_limit(norm: str, description_bytes: int) -> int:
    return description_bytes if norm == "modelDescription.xml" else MAX_ENTRY_BYTES


def _check_entries(
    path: Path, zf: zipfile.ZipFile, description_bytes: int = MAX_ENTRY_BYTES
) -> list[tuple[zipfile.ZipInfo, str]]:
    """Check every entry of the archive before anything is extracted."""
    fix = "The archive is not a valid FMU; rebuild or re-export it with a standard FMU tool."
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise _bad(path, f"{len(infos)} entries, more than the limit of {MAX_ENTRIES}", fix)
    seen: dict[str, str] = {}
    total = 0
    checked: list[tuple[zipfile.ZipInfo, str]] = []
    for info in infos:
        norm = _check_name(path, info.filename)
        key = norm.casefold()
        if key in seen:
            raise _bad(
                path,
                f"duplicate entry {info.filename!r} (same file as {seen[key]!r})",
                fix,
            )
        seen[key] = info.filename
        if info.flag_bits & 0x1:
            raise _bad(path, f"entry {info.filename!r} is encrypted", fix)
        mode = info.external_attr >> 16
        kind_bits = stat.S_IFMT(mode)  # 0: no Unix file type recorded (permissions only)
        if kind_bits and kind_bits not in (stat.S_IFREG, stat.S_IFDIR):
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "a special file"
            raise _bad(path, f"entry {info.filename!r} is {kind}; only regular files allowed", fix)
        limit = _entry_limit(norm, description_bytes)
        if info.file_size > limit:
            raise _bad(
                path,
                f"entry {info.filename!r} expands to {info.file_size} bytes, more than the "
                f"limit of {limit} bytes (possible zip bomb)",
                fix,
            )
        if info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(
            info.compress_size, 1
        ):
            raise _bad(
                path,
                f"entry {info.filename!r} expands {info.file_size / max(info.compress_size, 1):.0f}"
                f" times (limit {MAX_RATIO:.0f}; possible zip bomb)",
                fix,
            )
        total += info.file_size
        if total > MAX_TOTAL_BYTES + description_bytes - MAX_ENTRY_BYTES:
            raise _bad(
                path,
                f"the entries expand to more than {MAX_TOTAL_BYTES} bytes (possible zip bomb)",
                fix,
            )
        checked.append((info, norm))
    if "modelDescription.xml" not in {norm for _, norm in checked}:
        raise _bad(
            path,
            "no modelDescription.xml at the root of the archive",
            "An FMU must contain modelDescription.xml at its top level; check that the archive "
            "was not zipped with an extra parent folder.",
        )
    return checked


def _extract(
    path: Path,
    zf: zipfile.ZipFile,
    entries: list[tuple[zipfile.ZipInfo, str]],
    root: Path,
    description_bytes: int = MAX_ENTRY_BYTES,
    skip: frozenset[str] = frozenset(),
) -> None:
    """Extract the checked entries below ``root``, counting the bytes actually written.

    Entries whose normalised name is in ``skip`` are not written.
    """
    fix = "The archive is damaged or not a valid FMU; rebuild or download it again."
    root_resolved = root.resolve()
    total = 0
    for info, norm in entries:
        if norm in skip:
            continue
        target = (root_resolved / norm).resolve()
        if root_resolved not in target.parents:
            raise _bad(path, f"entry {info.filename!r} would be written outside the folder", fix)
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with zf.open(info) as src, target.open("xb") as dst:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                total += len(chunk)
                if written > info.file_size or written > _entry_limit(norm, description_bytes):
                    raise _bad(path, f"entry {info.filename!r} is larger than declared", fix)
                if total > MAX_TOTAL_BYTES + description_bytes - MAX_ENTRY_BYTES:
                    raise _bad(
                        path, f"the entries expand to more than {MAX_TOTAL_BYTES} bytes", fix
                    )
                dst.write(chunk)


def _read_description(path: Path, unzipdir: Path) -> Any:
    from fmpy.model_description import read_model_description

    try:
        return read_model_description(str(unzipdir), validate=True)
    except Exception as exc:  # fmpy raises bare Exception and lxml errors
        msg = str(exc).strip() or type(exc).__name__
        raise _bad(
            path,
            f"modelDescription.xml is malformed or invalid: {msg}",
            "Fix the model description (fmpy's validate command shows details) and rebuild.",
        ) from None


def _runnable_interfaces(path: Path, md: Any, unzipdir: Path) -> tuple[str, tuple[str, ...]]:
    import fmpy

    plat = fmpy.platform_tuple if str(md.fmiVersion).startswith("3") else fmpy.platform
    if md.coSimulation is None and md.modelExchange is None:
        other = "Scheduled Execution" if getattr(md, "scheduledExecution", None) else "none"
        raise _bad(
            path,
            f"it offers neither a Co-Simulation nor a Model Exchange interface (only: {other})",
            "v2xcosim runs FMUs through Co-Simulation or Model Exchange; export the FMU with one "
            "of them.",
        )
    interfaces: list[str] = []
    missing: list[str] = []
    for kind, spec in (("CoSimulation", md.coSimulation), ("ModelExchange", md.modelExchange)):
        if spec is None:
            continue
        lib = unzipdir / "binaries" / plat / f"{spec.modelIdentifier}{fmpy.sharedLibraryExtension}"
        if lib.is_file():
            interfaces.append(kind)
        else:
            missing.append(f"binaries/{plat}/{lib.name}")
    if not interfaces:
        bins = unzipdir / "binaries"
        have = sorted(p.name for p in bins.iterdir() if p.is_dir()) if bins.is_dir() else []
        detail = f"the FMU has binaries for: {', '.join(have)}" if have else "it has no binaries"
        wanted = ", ".join(missing) if missing else "a Co-Simulation or Model Exchange interface"
        raise _bad(
            path,
            f"no binary for this platform ({plat}): expected {wanted}; {detail}",
            f"Rebuild or re-export the FMU with a binary for {plat}.",
        )
    return plat, tuple(interfaces)


@contextlib.contextmanager
def open_fmu(
    path: str | os.PathLike[str], *, description_allowance_bytes: int = 0, light: bool = False
) -> Iterator[OpenedFmu]:
    """Open an FMU safely; yield an :class:`OpenedFmu` valid inside the ``with`` block.

    The archive is checked (see the module docstring), extracted into a fresh temporary folder
    and its model description read.  On exit, normally or by an exception, the folder is removed
    and the working directory restored.  ``description_allowance_bytes`` raises the limit of
    ``modelDescription.xml`` (and the total by as much) for an FMU whose size is known to follow
    its content (:func:`description_limit`).  ``light=True`` reads the description through
    :func:`v2xcosim.fmu.variable_table.light_description` (FMI 2.0 only; cached by the archive's
    SHA-256): what a fleet run needs, without fmpy's objects per variable; when the description
    comes from memory or the cache, ``modelDescription.xml`` is not extracted.

    Raises:
        ScenarioError: the file is missing, not a safe zip archive, has no valid
            ``modelDescription.xml`` or no binary for this platform.

    """
    fmu_path = Path(path)
    if not fmu_path.is_file():
        raise ScenarioError(
            f"FMU {fmu_path}: file not found (or not a regular file). Check the path."
        )
    size = fmu_path.stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        raise _bad(
            fmu_path,
            f"{size} bytes, larger than the limit of {MAX_ARCHIVE_BYTES}",
            "Check that this is really an FMU.",
        )
    cwd = Path.cwd()
    tmp = Path(tempfile.mkdtemp(prefix="v2xcosim-fmu-"))
    try:
        digest = sha256_file(fmu_path)
        known = None
        if light:
            from v2xcosim.fmu.variable_table import cached_description, light_description

            known = cached_description(digest)
        # a description served from memory or the cache is not written out again (33 MB for a
        # fleet of 1000; neither fmpy's FMU2Slave nor the binaries read it)
        skip = frozenset({"modelDescription.xml"}) if known is not None else frozenset()
        try:
            with zipfile.ZipFile(fmu_path) as zf:
                limit = description_limit(description_allowance_bytes)
                entries = _check_entries(fmu_path, zf, limit)
                unzipdir = tmp / "fmu"
                unzipdir.mkdir()
                _extract(fmu_path, zf, entries, unzipdir, limit, skip)
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            zlib.error,
            EOFError,
            NotImplementedError,
            ValueError,
            OSError,
        ) as exc:
            raise _bad(
                fmu_path,
                f"not a readable zip archive or cannot be extracted (truncated or damaged?): {exc}",
                "An FMU is a zip file; rebuild or download it again.",
            ) from None
        variables: Mapping[str, Any]
        if light:
            md = known or light_description(digest, unzipdir / "modelDescription.xml", fmu_path)
            variables = md.variables
        else:
            md = _read_description(fmu_path, unzipdir)
            variables = {v.name: v for v in md.modelVariables}
        plat, interfaces = _runnable_interfaces(fmu_path, md, unzipdir)
        yield OpenedFmu(
            path=fmu_path,
            sha256=digest,
            unzipdir=unzipdir,
            model_description=md,
            platform=plat,
            interfaces=interfaces,
            variables=variables,
        )
    finally:
        with contextlib.suppress(OSError):
            os.chdir(cwd)
        shutil.rmtree(tmp, ignore_errors=True)
