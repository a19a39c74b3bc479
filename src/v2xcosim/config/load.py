"""Read a scenario file: TOML with key positions, ``--set`` overrides, every problem at once.

A problem is reported as ``FILE:LINE:COL: key.path: message`` (the line and column of the key in
the file, or of its nearest enclosing table when the key is missing), schema and cross-reference
problems together, the pattern of power-grid-model's ``validation/errors.py``.  The cross-
reference checks belong to the use case; :mod:`v2xcosim.scenario` passes them in as ``check``.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from v2xcosim.config.base import Problem
from v2xcosim.config.common import PLACEHOLDERS
from v2xcosim.config.profiles import PROFILE_KINDS
from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.tomlpos import (
    TomlPositions,
    clean_pydantic_loc,
    format_key_path,
    format_problem,
    toml_decode_error_position,
)

Check = Callable[[Any], Sequence[tuple[str, str]]]
"""A use case's cross-reference check: the validated spec -> ``(key path, message)`` pairs."""


@dataclass(frozen=True)
class ScenarioSource:
    """A scenario's raw data, where it came from, and the key positions in its text."""

    data: dict[str, Any]
    name: str
    base_dir: Path
    positions: TomlPositions | None = None


def read_scenario(path: str | Path, overrides: Sequence[str] = ()) -> ScenarioSource:
    """Read the TOML file ``path`` and apply the ``--set`` overrides (nothing validated yet)."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"scenario file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        pos = toml_decode_error_position(exc)
        where = str(path) if pos is None else f"{path}:{pos[0]}:{pos[1]}"
        raise ScenarioError(f"{where}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text: {exc}") from None
    return ScenarioSource(
        apply_overrides(data, overrides),
        str(path),
        path.resolve().parent,
        TomlPositions.from_text(text),
    )


def split_key(item: str, *, what: str = "--set") -> tuple[list[str], str, str]:
    """Split ``dotted.key=rest`` into its key parts, the text after ``=`` and the key as written.

    A key part may be quoted, as in TOML, to hold dots or ``=``: ``fmu.instance_parameters.
    "solver.rtol"=1e-7`` addresses the FMU-wide parameter named ``solver.rtol`` (double or
    single quotes; no escapes).  ``what`` names the flag in messages (``--set``, ``--param``).
    """
    parts: list[str] = []
    current = ""
    quoted = False
    i = 0
    example = (
        f"e.g. {what} time.step_s=60 or "
        f"{what} 'sites.0.fmu.instance_parameters.\"solver.rtol\"=1e-7'"
    )
    while i < len(item):
        ch = item[i]
        if ch in "\"'" and not current.strip():
            end = item.find(ch, i + 1)
            if end < 0:
                raise ScenarioError(f"{what} {item!r}: the quote {ch} is not closed; {example}")
            current, quoted = item[i + 1 : end], True
            i = end + 1
            continue
        if ch in ".=":
            if not quoted:
                current = current.strip()
            if not current:
                break
            parts.append(current)
            current, quoted = "", False
            if ch == "=":
                return parts, item[i + 1 :], item[:i].strip()
        elif quoted and not ch.isspace():
            break  # text after a closing quote
        else:
            current += ch
        i += 1
    raise ScenarioError(f"{what} {item!r}: expected dotted.key=value, {example}")


def parse_override(item: str, *, what: str = "--set") -> tuple[list[str], Any]:
    """Parse ``dotted.key=value``; the value is read as TOML (a bare word falls back to text).

    Key parts holding dots are quoted (:func:`split_key`).
    """
    keys, raw, _ = split_key(item, what=what)
    return keys, parse_value(raw, item, what=what)


def parse_value(raw: str, item: str, *, what: str = "--set") -> Any:
    """Read one override value ``raw`` as TOML; a bare word (``smart``, ``a/b.csv``) is text."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if re.fullmatch(r"[A-Za-z0-9_./:\-+]*", raw.strip()) is None:
            raise ScenarioError(
                f"{what} {item!r}: the value is not valid TOML (quote text: key='some text')"
            ) from None
        return raw.strip()


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of the raw scenario ``data`` with each ``--set`` override applied."""
    import copy

    out = copy.deepcopy(data)
    for item in overrides:
        keys, value = parse_override(item)
        node: Any = out
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            where = ".".join(keys[: depth + 1])
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    raise ScenarioError(
                        f"--set {item!r}: {where!r} needs an index below {len(node)}"
                    )
                if last:
                    node[int(key)] = value
                else:
                    node = node[int(key)]
            elif isinstance(node, dict):
                if last:
                    node[key] = value
                else:
                    node = node.setdefault(key, {})
            else:
                raise ScenarioError(f"--set {item!r}: {where!r} is inside a plain value")
    return out


def _delete_at(tree: Any, loc: Sequence[int | str]) -> None:
    """Delete the entry at ``loc`` (a pydantic error location) from nested dicts and lists."""
    node: Any = tree
    for part in loc[:-1]:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        else:
            return
    if not loc:
        return
    last = loc[-1]
    if isinstance(node, dict) and last in node:
        del node[last]
    elif isinstance(node, list) and isinstance(last, int) and 0 <= last < len(node):
        node[last] = None  # keep the indices of the other items


def parse_key_path(path: str) -> tuple[str | int, ...]:
    """``sites[0].buses[1]`` -> ``("sites", 0, "buses", 1)`` (the inverse of the printed form)."""
    out: list[str | int] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        out.append(int(part[1:-1]) if part.startswith("[") else part)
    return tuple(out)


def _loc_path(loc: Sequence[int | str], tag: str | None) -> str:
    """Return a pydantic error ``loc`` as the key path a user sees (no union or schema labels)."""
    parts = list(loc)
    if tag is not None and parts and parts[0] == tag:
        parts = parts[1:]  # the discriminated union's member, not a key
    extra = PROFILE_KINDS if parts[:1] == ["profiles"] else ()
    return format_key_path(clean_pydantic_loc(parts, extra)) or "<top level>"


def _compact(tree: Any, prefix: str = "") -> set[str]:
    """Drop the ``None`` placeholders left in lists by :func:`_delete_at`; return their paths."""
    shifted: set[str] = set()
    if isinstance(tree, dict):
        for key, value in tree.items():
            shifted |= _compact(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(tree, list):
        if any(x is None for x in tree):
            tree[:] = [x for x in tree if x is not None]
            shifted.add(prefix)
        for i, value in enumerate(tree):
            shifted |= _compact(value, f"{prefix}[{i}]")
    return shifted


def _under(path: str, roots: set[str]) -> bool:
    """Tell whether key path ``path`` is one of ``roots`` or lies inside one of them."""
    return any(path == r or path.startswith((r + ".", r + "[")) for r in roots)


def _check_without(
    source: ScenarioSource,
    adapter: TypeAdapter[Any],
    check: Check,
    locs: Sequence[tuple[int | str, ...]],
    tag: str | None,
) -> list[Problem]:
    """Cross-reference problems of the data with the invalid entries removed (best effort).

    So that one run of ``v2xcosim validate`` reports the reference problems (unknown profile,
    bus, duplicate id) together with the field problems: the offending entries are dropped —
    the key itself, else its enclosing table — and, once the rest validates, the checks run.
    A required top-level key that had to be dropped (``seed``, ``[time]``) is replaced by its
    valid stand-in (:data:`~v2xcosim.config.common.PLACEHOLDERS`), so a broken required key
    does not switch the checks off; problems under a dropped or replaced key are not reported
    (they would be about the stand-in, or repeat the field problem).
    """

    def strip(loc: Sequence[int | str]) -> tuple[int | str, ...]:
        return tuple(loc[1:] if tag is not None and tuple(loc[:1]) == (tag,) else loc)

    bad = {_loc_path(loc, tag) for loc in locs}
    pending = [strip(loc) for loc in locs]
    pruned: Any = copy.deepcopy(source.data)
    shifted: set[str] = set()
    replaced: set[str] = set()
    for level in range(6):
        for loc in pending:
            _delete_at(pruned, loc[: max(len(loc) - level, 1)])
        shifted |= _compact(pruned)
        try:
            spec = adapter.validate_python(pruned, context={"base_dir": source.base_dir})
        except ValidationError as exc:
            pending = []
            for error in exc.errors():
                loc = strip(error["loc"])
                key = loc[0] if len(loc) == 1 else None
                if (
                    error["type"] == "missing"
                    and isinstance(key, str)
                    and key in PLACEHOLDERS
                    and isinstance(pruned, dict)
                    and key not in replaced
                ):
                    pruned[key] = PLACEHOLDERS[key]
                    replaced.add(key)
                else:
                    pending.append(loc)
            continue
        return [
            Problem(path, msg)
            for path, msg in check(spec)
            if not _under(path, bad | replaced)
            and not any(path.startswith(s + "[") for s in shifted)
        ]
    return []


_SCALAR_TYPES = {"bool_type", "int_type", "float_type"}


def _message(error: Any) -> str:
    """Return the message of pydantic ``error``, saying so when text stood for a number/bool."""
    msg = str(error["msg"])
    value = error.get("input")
    if error["type"] in _SCALAR_TYPES and isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        msg += f", not the text {shown!r} (write numbers and true/false without quotes)"
    return msg


def format_problems(source: ScenarioSource, problems: Sequence[tuple[str, str]]) -> str:
    """One line per problem, ``FILE:LINE:COL: key.path: message``, under a count."""
    lines = [f"scenario {source.name}: {len(problems)} problem(s):"]
    for path, msg in problems:
        pos = None if source.positions is None else source.positions.locate(parse_key_path(path))
        lines.append("  " + format_problem(source.name, pos, path, msg))
    lines.append("Fix the keys above (see scenarios/demo.toml for a complete example).")
    return "\n".join(lines)


def validate(
    source: ScenarioSource,
    adapter: TypeAdapter[Any],
    check: Check,
    *,
    tag: str | None = None,
    early: Sequence[tuple[str, str]] = (),
) -> Any:
    """Validate ``source`` with ``adapter`` and ``check``; raise one error listing every problem.

    ``tag`` is the discriminator value of the union member the data selects (stripped from error
    locations); ``early`` are problems found on the raw data (legacy spellings) that are
    reported with the others.
    """
    try:
        spec = adapter.validate_python(source.data, context={"base_dir": source.base_dir})
    except ValidationError as exc:
        errors = exc.errors()
        problems = [*early, *((_loc_path(e["loc"], tag), _message(e)) for e in errors)]
        problems += _check_without(source, adapter, check, [e["loc"] for e in errors], tag)
        raise ScenarioError(format_problems(source, problems)) from None
    problems = [*early, *check(spec)]
    if problems:
        raise ScenarioError(format_problems(source, problems))
    return spec


def mapping_or_empty(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a table, else an empty one (raw data before validation)."""
    return value if isinstance(value, Mapping) else {}
