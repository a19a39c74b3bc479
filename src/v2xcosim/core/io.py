"""Files a run writes: atomic writes (temporary name, fsync, rename) and the output folder.

A killed run never leaves a file that looks complete: every file is written under a temporary
name in the same folder and renamed into place.  Every command that writes checks its output
folder first (:func:`check_writable_dir`), so a folder it could not write is refused before
any work is done.
"""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from v2xcosim.core.errors import ScenarioError

if TYPE_CHECKING:  # the commands that only check folders need not import pandas
    import pandas as pd


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync and rename (atomic on POSIX)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` (without index) as parquet, atomically."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, engine="pyarrow", compression="snappy")
    atomic_write_bytes(path, buf.getvalue())


class ParquetChunks:
    """Parquet tables written chunk by chunk, renamed into place only when complete.

    Each table grows in ``.<name>.partial-<pid>`` (a hidden name: a run that dies leaves nothing
    that looks complete) as row groups of the chunks :meth:`append` gets; :meth:`close` writes
    the last chunk, fsyncs and renames.  A chunk must have the first chunk's columns (a missing
    one is filled with NaN); one with a new column makes that table continue in memory (its
    chunks so far read back) and be written whole at :meth:`close`, so nothing is lost.
    """

    def __init__(self, out_dir: Path) -> None:
        """Write into ``out_dir``."""
        self.out_dir = out_dir
        self._writers: dict[str, Any] = {}
        self._columns: dict[str, list[str]] = {}
        self._in_memory: dict[str, list[pd.DataFrame]] = {}

    def _partial(self, name: str) -> Path:
        return self.out_dir / f".{name}.parquet.partial-{os.getpid()}"

    def append(self, name: str, frame: pd.DataFrame) -> None:
        """Add ``frame``'s rows to table ``name``."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        if name in self._in_memory:
            self._in_memory[name].append(frame)
            return
        if name not in self._writers:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            self._writers[name] = pq.ParquetWriter(
                self._partial(name), table.schema, compression="snappy"
            )
            self._columns[name] = list(frame.columns)
            self._writers[name].write_table(table)
            return
        cols = self._columns[name]
        if not set(frame.columns) <= set(cols):  # a column the file has not: keep in memory
            self._writers.pop(name).close()
            path = self._partial(name)
            self._in_memory[name] = [pd.read_parquet(path), frame]
            path.unlink()
            return
        frame = frame.reindex(columns=cols)  # a column absent from this chunk: NaN
        writer = self._writers[name]
        writer.write_table(pa.Table.from_pandas(frame, schema=writer.schema, preserve_index=False))

    def close(self, last: Mapping[str, pd.DataFrame]) -> None:
        """Append the ``last`` chunks and put every table in place (``<name>.parquet``)."""
        import pandas as pd

        for name, frame in last.items():
            if name in self._writers or name in self._in_memory:
                self.append(name, frame)
            else:
                write_parquet_atomic(frame, self.out_dir / f"{name}.parquet")
        for name, frames in self._in_memory.items():
            merged = pd.concat(frames, ignore_index=True)
            write_parquet_atomic(merged, self.out_dir / f"{name}.parquet")
        for name, writer in self._writers.items():
            writer.close()
            partial = self._partial(name)
            with partial.open("rb") as fh:
                os.fsync(fh.fileno())
            partial.replace(self.out_dir / f"{name}.parquet")
        self._writers.clear()
        self._in_memory.clear()


def write_json_atomic(data: Any, path: Path) -> None:
    """Write ``data`` as indented, key-sorted JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False, default=str)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def prepare_out_dir(out: Path) -> None:
    """Create ``out``; refuse an existing non-empty folder or one not writable (exit 2)."""
    check_writable_dir(out, "--out")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ScenarioError(
            f"output folder {out} exists and is not empty; choose another --out or remove it"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScenarioError(
            f"--out {out}: cannot create the folder ({exc.strerror}); choose another --out"
        ) from None


def _name_max(folder: Path) -> int:
    """Longest name (bytes) the file system of the existing ``folder`` allows."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def check_writable_dir(path: Path, what: str, *, reserve: int = 0) -> None:
    """Refuse (exit 2) a folder ``path`` that a command could not create and write into.

    Checked before anything is written, in one message naming ``path`` and what to do:

    * a part of the path is a regular file, or a symbolic link whose target does not exist;
    * a name is longer than the file system allows (the last name must also leave ``reserve``
      bytes for a sibling the command writes, such as ``.<name>.partial``);
    * the deepest existing folder cannot be written: probed by creating and removing a hidden
      folder in it, which also catches read-only and virtual file systems (``/proc``) where the
      permission bits mean nothing, e.g. for root.

    ``what`` says which option gave the folder (``--out``, ``--report``).
    """
    given = Path(path)

    def refuse(problem: str, fix: str) -> NoReturn:
        raise ScenarioError(f"{what} {given}: {problem}; {fix}")

    absolute = given if given.is_absolute() else Path.cwd() / given  # links: one by one below
    if len(os.fsencode(str(absolute))) >= 4096:
        refuse("the path is longer than the file system allows (4096 bytes)", "shorten it")
    existing = Path(absolute.anchor)
    parts = absolute.parts[1:]
    for i, name in enumerate(parts):
        limit = _name_max(existing) - (reserve if i == len(parts) - 1 else 0)
        size = len(os.fsencode(name))
        if size > limit:
            short = name if len(name) <= 40 else f"{name[:20]}...{name[-12:]}"
            refuse(
                f"the name {short!r} has {size} bytes, more than the {limit} allowed here",
                "choose a shorter name",
            )
        here = existing / name
        try:
            is_link = here.is_symlink()
            exists = here.exists()
        except OSError as exc:
            refuse(f"cannot look at {here} ({exc.strerror})", "choose another folder")
        if is_link and not exists:
            refuse(
                f"{here} is a symbolic link to {here.readlink()}, which does not exist",
                "create its target, remove the link or choose another folder",
            )
        if not exists:
            break
        if not here.is_dir():
            refuse(
                f"{here} is a file, not a folder",
                "choose a folder that is not inside a file (or remove the file)",
            )
        existing = here
    try:
        probe = tempfile.mkdtemp(prefix=".v2xcosim-probe-", dir=existing)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT):
            reason = f"{reason}: it cannot be written"
        refuse(f"cannot create anything in {existing} ({reason})", "choose a writable folder")
    Path(probe).rmdir()
