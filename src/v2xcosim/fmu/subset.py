"""Check Modelica sources against the subset that the FMU pipeline supports.

The pipeline compiles models without event handling (see ``models/README.md``).  rumoca reports
event partitions without a source location, so this scanner finds the offending construct first
and names file, line and construct.  It works on the token level: comments and string literals are
removed, then keywords and event-generating calls outside ``noEvent(...)`` are reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SUBSET_HELP = (
    "see 'Modelica subset accepted by the FMU pipeline' in models/README.md: no events (when, "
    "sample, reinit, if/relations outside noEvent(...)), no user or external functions, no "
    "initial equations or fixed=false, no algorithm sections"
)

_KEYWORDS = {
    "when": "when-clause (event)",
    "elsewhen": "when-clause (event)",
    "reinit": "reinit (event)",
    "sample": "sample() (clocked event)",
    "initial": "initial equation/algorithm or initial() (not supported)",
    "terminal": "terminal() (event)",
    "function": "user function (inline it as equations)",
    "external": "external function (not supported)",
    "algorithm": "algorithm section (write equations instead)",
    "pre": "pre() (discrete-time, event)",
    "edge": "edge() (event)",
    "change": "change() (event)",
    "delay": "delay() (not supported)",
}
# Calls that generate events unless wrapped in noEvent(...).
_EVENT_CALLS = {"floor", "ceil", "integer", "div", "mod", "rem"}
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\S")


@dataclass(frozen=True)
class SubsetViolation:
    """One construct outside the supported subset."""

    file: Path
    line: int
    construct: str

    def __str__(self) -> str:
        """Return ``file:line: construct``."""
        return f"{self.file}:{self.line}: {self.construct}"


def _strip(text: str) -> str:
    """Blank out comments and string literals, keeping newlines so line numbers survive."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


_CALL_LIKE = {"reinit", "sample", "terminal", "pre", "edge", "change", "delay"}


def _is_construct(tok: str, src: str, end: int) -> bool:
    """Tell a keyword use from an identifier that happens to share its name."""
    rest = src[end : end + 40].lstrip()
    if tok in _CALL_LIKE:
        return rest.startswith("(")
    if tok == "initial":
        return rest.startswith("(") or rest.startswith("equation") or rest.startswith("algorithm")
    return True


def scan_source(path: Path, text: str | None = None) -> list[SubsetViolation]:
    """Return every unsupported construct in one ``.mo`` file, in source order."""
    src = _strip(path.read_text(encoding="utf-8") if text is None else text)
    found: list[SubsetViolation] = []
    # Stack of open parentheses: True where the group belongs to a noEvent(...) call.
    stack: list[bool] = []
    prev = ""
    line_starts = [0] + [m.end() for m in re.finditer("\n", src)]

    def line_of(pos: int) -> int:
        lo, hi = 0, len(line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if line_starts[mid] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1

    in_noevent = False
    for m in _TOKEN.finditer(src):
        tok = m.group(0)
        if tok == "(":
            stack.append(prev == "noEvent" or (bool(stack) and stack[-1]))
        elif tok == ")" and stack:
            stack.pop()
        in_noevent = bool(stack) and stack[-1]
        if tok == "end":
            prev = tok
            continue
        if prev == "end":  # "end if", "end when", "end function", "end for" closers
            prev = tok
            continue
        if tok == "fixed":
            rest = src[m.end() : m.end() + 20]
            if re.match(r"\s*=\s*false\b", rest):
                found.append(
                    SubsetViolation(
                        path,
                        line_of(m.start()),
                        "fixed=false (initial equations are not supported)",
                    )
                )
        elif tok in _KEYWORDS and prev != "." and _is_construct(tok, src, m.end()):
            found.append(SubsetViolation(path, line_of(m.start()), _KEYWORDS[tok]))
        elif tok == "if" and not in_noevent:
            found.append(
                SubsetViolation(
                    path,
                    line_of(m.start()),
                    "'if' outside noEvent(...) (event); write noEvent(if c then a else b)",
                )
            )
        elif tok in _EVENT_CALLS and not in_noevent and prev != ".":
            found.append(
                SubsetViolation(path, line_of(m.start()), f"{tok}() outside noEvent(...) (event)")
            )
        prev = tok
    return found


def scan_tree(root: Path) -> list[SubsetViolation]:
    """Scan every ``.mo`` file below ``root`` (sorted, for a stable report)."""
    out: list[SubsetViolation] = []
    for p in sorted(root.rglob("*.mo")):
        out.extend(scan_source(p))
    return out
