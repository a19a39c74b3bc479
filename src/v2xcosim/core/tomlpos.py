"""Source positions of the keys of a TOML document, for ``FILE:LINE:COL: key.path: message``.

:mod:`tomllib` returns plain dicts without positions, so a schema or cross-reference error
could only name a key path.  :class:`TomlPositions` scans the same text once more and maps every
key path of the parsed document to the 1-based line and column where it is written::

    positions = TomlPositions.from_text(text)
    pos = positions.locate(("sites", 0, "fmu", "model"))
    print(format_problem("demo.toml", pos, "sites[0].fmu.model", "unknown model"))

Key paths are the ones of ``tomllib.loads(text)``: table keys are ``str``, array indices (of
``[[array.of.tables]]`` and of inline arrays) are ``int``.  Where a key path is reported:

* a key of a key/value pair (also a dotted one, ``a.b.c = 1``, and one inside an inline table
  ``x = { a = 1 }``): the first character of that path's own key component (``c`` for
  ``a.b.c``, ``a`` for ``x.a``); a leading quote for a quoted key;
* a table or array of tables named by a header (``[a.b]``, ``[[sites]]``): the key component
  inside the brackets (``b`` for ``[a.b]``), not the ``[``; an explicit header wins over a table
  that is only implied by a longer header or a dotted key; the array of tables as a whole
  (``("sites",)``) is at its first header, element ``("sites", i)`` at its ``i``-th;
* an element of an inline array (``v = [1, 2]``, also multi-line, also nested): the element's
  first character.

:meth:`TomlPositions.locate` falls back to the nearest ancestor that is in the file (a missing
required key is reported at its table's header) and returns ``None`` when not even the first key
exists (a missing top-level key): then :func:`format_problem` prints ``FILE: key.path: message``.

A pydantic error ``loc`` is not a key path: it carries labels of union members and validators
(``'float'``, ``'function-after[...]'``, the tag of a discriminated union).  Pass it through
:func:`clean_pydantic_loc` first; such labels (e.g. ``time.step_s.float``) must never appear in
a key path shown to a user.

Only the standard library is used.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import tomllib
from collections.abc import Collection, Sequence

__all__ = [
    "KeyPath",
    "Position",
    "TomlPositions",
    "clean_pydantic_loc",
    "format_key_path",
    "format_problem",
    "toml_decode_error_position",
]

Position = tuple[int, int]
"""1-based ``(line, column)``; columns count characters (code points), not bytes."""

KeyPath = tuple[str | int, ...]
"""A key path of a parsed document: ``str`` table keys, ``int`` array indices."""

_BARE_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_SCALAR_END = frozenset(",]}#\r\n")


class _ScanError(Exception):
    """Internal: the scanner met text it does not expect (only reachable through a bug)."""


class _Scanner:
    """One pass over valid TOML text that records the position of every key path."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.positions: dict[KeyPath, Position] = {}
        self.implicit: set[KeyPath] = set()
        self.aot_lengths: dict[KeyPath, int] = {}

    # ------------------------------------------------------------------------ primitives

    def peek(self, offset: int = 0) -> str:
        """Return the character at ``i + offset``, or ``""`` past the end."""
        j = self.i + offset
        return self.text[j] if j < len(self.text) else ""

    def pos(self, index: int) -> Position:
        """Return the 1-based line and column of ``index``."""
        line = bisect.bisect_right(self.line_starts, index)
        return line, index - self.line_starts[line - 1] + 1

    def mark(self, path: KeyPath, index: int, *, explicit: bool) -> None:
        """Record ``path`` at ``index``; an explicit definition replaces an implied one."""
        if path not in self.positions or (explicit and path in self.implicit):
            self.positions[path] = self.pos(index)
            if explicit:
                self.implicit.discard(path)
            else:
                self.implicit.add(path)

    def skip_blank(self, *, newlines: bool) -> None:
        """Skip spaces, tabs, comments and (if ``newlines``) line breaks."""
        while True:
            c = self.peek()
            if c in (" ", "\t"):
                self.i += 1
            elif c == "#":
                end = self.text.find("\n", self.i)
                self.i = len(self.text) if end < 0 else end
            elif newlines and c in ("\r", "\n"):
                self.i += 1
            else:
                return

    def expect(self, token: str) -> None:
        """Consume ``token`` or fail."""
        if not self.text.startswith(token, self.i):
            raise _ScanError(f"expected {token!r} at {self.pos(self.i)}")
        self.i += len(token)

    # ------------------------------------------------------------------------ strings

    def skip_string(self) -> None:
        """Skip a basic, literal or multi-line string starting at ``i``."""
        quote = self.peek()
        if self.text.startswith(quote * 3, self.i):
            self.i += 3
            while True:
                c = self.peek()
                if c == "":
                    raise _ScanError("unterminated multi-line string")
                if c == "\\" and quote == '"':
                    self.i += 2
                elif self.text.startswith(quote * 3, self.i):
                    self.i += 3
                    # Up to two quotes may end the content right before the delimiter.
                    for _ in range(2):
                        if self.peek() == quote:
                            self.i += 1
                    return
                else:
                    self.i += 1
        self.i += 1
        while True:
            c = self.peek()
            if c in ("", "\n"):
                raise _ScanError("unterminated string")
            self.i += 2 if c == "\\" and quote == '"' else 1
            if c == quote:
                return

    # ------------------------------------------------------------------------ keys

    def simple_key(self) -> tuple[str, int]:
        """Parse one bare or quoted key; return its decoded name and start index."""
        start = self.i
        c = self.peek()
        if c in ('"', "'"):
            self.skip_string()
            raw = self.text[start : self.i]
            if c == "'":
                return raw[1:-1], start
            # Let tomllib decode the escapes: exact for every valid basic-string key.
            return next(iter(tomllib.loads(f"{raw} = 0"))), start
        while self.peek() in _BARE_KEY_CHARS:
            self.i += 1
        if self.i == start:
            raise _ScanError(f"expected a key at {self.pos(start)}")
        return self.text[start : self.i], start

    def dotted_key(self) -> list[tuple[str, int]]:
        """Parse ``a . "b" . c``; return each component's name and start index."""
        parts = [self.simple_key()]
        while True:
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return parts
            self.i += 1
            self.skip_blank(newlines=False)
            parts.append(self.simple_key())

    # ------------------------------------------------------------------------ structure

    def key_value(self, table: KeyPath) -> None:
        """Parse ``key = value`` inside ``table`` (a header's table or an inline table)."""
        parts = self.dotted_key()
        path = table
        for n, (name, start) in enumerate(parts):
            path = (*path, name)
            self.mark(path, start, explicit=n == len(parts) - 1)
        self.skip_blank(newlines=False)
        self.expect("=")
        self.skip_blank(newlines=False)
        self.value(path)

    def value(self, path: KeyPath) -> None:
        """Parse the value at ``path``, descending into inline tables and arrays."""
        c = self.peek()
        if c in ('"', "'"):
            self.skip_string()
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self.skip_blank(newlines=True)
                if self.peek() == "]":
                    self.i += 1
                    return
                self.mark((*path, index), self.i, explicit=True)
                self.value((*path, index))
                index += 1
                self.skip_blank(newlines=True)
                if self.peek() == ",":
                    self.i += 1
                elif self.peek() != "]":
                    raise _ScanError(f"expected ',' or ']' at {self.pos(self.i)}")
        elif c == "{":
            self.i += 1
            while True:
                self.skip_blank(newlines=True)
                if self.peek() == "}":
                    self.i += 1
                    return
                self.key_value(path)
                self.skip_blank(newlines=True)
                if self.peek() == ",":
                    self.i += 1
                elif self.peek() != "}":
                    raise _ScanError(f"expected ',' or '}}' at {self.pos(self.i)}")
        else:
            start = self.i
            while self.peek() not in _SCALAR_END and self.peek() != "":
                self.i += 1
            if self.i == start:
                raise _ScanError(f"expected a value at {self.pos(start)}")

    def header(self) -> KeyPath:
        """Parse ``[a.b]`` or ``[[a.b]]``; return the concrete path of the table it opens."""
        array = self.text.startswith("[[", self.i)
        self.i += 2 if array else 1
        self.skip_blank(newlines=False)
        parts = self.dotted_key()
        self.expect("]]" if array else "]")
        path: KeyPath = ()
        for n, (name, start) in enumerate(parts):
            path = (*path, name)
            last = n == len(parts) - 1
            if last and array:
                length = self.aot_lengths.get(path, 0)
                self.aot_lengths[path] = length + 1
                self.mark(path, start, explicit=True)
                path = (*path, length)
                self.mark(path, start, explicit=True)
            elif path in self.aot_lengths:
                # A header below an array of tables continues its last element.
                path = (*path, self.aot_lengths[path] - 1)
            else:
                self.mark(path, start, explicit=last)
        return path

    def document(self) -> None:
        """Scan the whole text."""
        table: KeyPath = ()
        while True:
            self.skip_blank(newlines=True)
            if self.peek() == "":
                return
            if self.peek() == "[":
                table = self.header()
            else:
                self.key_value(table)


class TomlPositions:
    """Where each key path of one TOML document is written (see the module docstring)."""

    def __init__(self, positions: dict[KeyPath, Position]) -> None:
        """Wrap a ready map of key paths to positions; use :meth:`from_text` to build one."""
        self._positions = dict(positions)

    @classmethod
    def from_text(cls, text: str) -> TomlPositions:
        """Scan ``text``; raise :class:`tomllib.TOMLDecodeError` if it is not valid TOML.

        Valid TOML never raises; should the scanner ever stop early (a bug), the positions found
        until then are kept and later paths fall back to their nearest recorded ancestor.
        """
        tomllib.loads(text)
        scanner = _Scanner(text)
        with contextlib.suppress(_ScanError):
            scanner.document()
        return cls(scanner.positions)

    def __contains__(self, path: object) -> bool:
        """Whether exactly this key path (a tuple) is written in the document."""
        return isinstance(path, tuple) and path in self._positions

    def __len__(self) -> int:
        """Return the number of key paths recorded."""
        return len(self._positions)

    def locate(self, path: Sequence[str | int]) -> Position | None:
        """Position of ``path``, else of its nearest ancestor in the file, else ``None``.

        ``None`` means that not even ``path[0]`` is in the document (or ``path`` is empty).
        """
        key = tuple(path)
        for n in range(len(key), 0, -1):
            found = self._positions.get(key[:n])
            if found is not None:
                return found
        return None


# ---------------------------------------------------------------------------- formatting

_DECODE_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def toml_decode_error_position(exc: tomllib.TOMLDecodeError) -> Position | None:
    """Return the 1-based ``(line, column)`` of a :mod:`tomllib` error (``None``: at the end)."""
    line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    if isinstance(line, int) and isinstance(column, int):  # Python >= 3.14
        return line, column
    match = _DECODE_POSITION.search(str(exc))
    return (int(match[1]), int(match[2])) if match else None


def format_key_path(path: Sequence[str | int]) -> str:
    """``sites[0].fmu.model``; keys that are not bare TOML keys are quoted (``a."b.c"``)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        bare = part != "" and all(c in _BARE_KEY_CHARS for c in part)
        if not bare:
            part = '"' + part.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out += f".{part}" if out else part
    return out


def format_problem(file: str, pos: Position | None, key_path: str, message: str) -> str:
    """``FILE:LINE:COL: key.path: message``; without ``LINE:COL`` when ``pos`` is ``None``.

    An empty ``key_path`` (a problem of the whole document) is left out.
    """
    where = file if pos is None else f"{file}:{pos[0]}:{pos[1]}"
    return f"{where}: {key_path}: {message}" if key_path else f"{where}: {message}"


# ---------------------------------------------------------------------------- pydantic

# Labels pydantic-core puts into an error ``loc`` for union members: names of scalar types (the
# ones that are also likely key names, such as ``time``, ``date`` or ``url``, are left out) ...
_TYPE_LABELS = frozenset(
    {"bool", "bytes", "complex", "datetime", "decimal", "float", "int", "none", "str", "timedelta"}
)
# ... and schema names, bare (``constrained-int``) or with arguments (``list[float]``).
_SCHEMA_LABEL = re.compile(
    r"constrained-[a-z]+"
    r"|(?:function-(?:after|before|wrap|plain)|list|dict|tuple|set|frozenset|literal|enum|json"
    r"|lax-or-strict|json-or-python|is-instance|is-subclass|nullable|union|tagged-union|chain"
    r"|default|generator|model|dataclass|typed-dict|arguments|callable)\[.*\]",
    re.DOTALL,
)


def clean_pydantic_loc(
    loc: Sequence[str | int], extra_names: Collection[str] = ()
) -> tuple[str | int, ...]:
    """Drop the labels that pydantic inserts into an error ``loc`` but that are not keys.

    Always dropped: schema labels (``'function-after[...]'``, ``'list[float]'``,
    ``'constrained-int'``, ``"literal['a','b']"`` ...) and a scalar type label of a union member
    (``'float'``, ``'int'``, ``'str'``, ``'bool'`` ...) at the end of ``loc`` (nothing lies below
    a scalar; a first item is a key of the root model and always kept).  A union label such as
    ``.float`` must never reach a key path a user sees.  Integers (list indices) are kept.

    ``extra_names`` are labels only the caller can know: tags of discriminated unions (the tag
    value, e.g. ``'file'``), class names of members of plain model unions, and the type labels
    that double as likely key names (``'time'``, ``'date'``, ``'url'``).  pydantic inserts one
    label per union level, so a name from ``extra_names`` right after another dropped one is kept
    as a key: ``('profiles', 'p', 'file', 'file')`` becomes ``('profiles', 'p', 'file')``.  Pass
    only the labels of the union that ``loc`` goes through (choose them by ``loc``'s first
    items): a key equal to one of ``extra_names`` is otherwise taken for a label and dropped.
    """
    out: list[str | int] = []
    previous_extra = False
    for n, part in enumerate(loc):
        if isinstance(part, int):
            out.append(part)
            previous_extra = False
        elif _SCHEMA_LABEL.fullmatch(part):
            continue
        elif n > 0 and part in extra_names and not previous_extra:
            previous_extra = True
        else:
            out.append(part)
            previous_extra = False
    if len(out) > 1 and out[-1] in _TYPE_LABELS and loc[-1] == out[-1]:
        out.pop()
    return tuple(out)
