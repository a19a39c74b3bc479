"""A light reading of an FMI 2.0 model description, cached by the archive's SHA-256.

fmpy's ``read_model_description`` builds one Python object per variable and validates the
whole document; for a fleet FMU of N = 1000 vehicles (116,003 variables, 33 MB of XML) that
costs 3.3 s (bench/RESULTS.md, section ``fleet``), about 0.8 s of it constructing the variable
objects alone.  A fleet run needs far less: the FMI version, the GUID, the model identifiers
and, per variable, its name, value reference, type, causality, variability, initial, start, min
and max.  :func:`light_description` reads exactly that:

* **cold** (first open of an archive on this machine): ``lxml`` parses the document, validates
  it against fmpy's own FMI 2.0 schema, and one loop over ``ModelVariables`` fills a
  column-wise :class:`VariableTable` with fmpy's defaults (causality ``local``, variability
  ``continuous``, ``initial`` from the FMI 2.0 table) and fmpy's semantic checks (unique names,
  declared types, start values, legal causality/variability/initial combinations); the table is
  then written to the cache;
* **warm**: the cache file (:func:`cache_dir` / ``<sha256>.v<FORMAT>.json``) is read back;
* **in one process**: the same archive (same SHA-256) opened again, e.g. for several sites, is
  served from memory (:data:`MEMO_SIZE` descriptions kept).

The cache is keyed by the archive's SHA-256 and :data:`FORMAT`, so a changed FMU is never served
a stale table.  A cache file carries the SHA-256 of its payload; a file that does not match,
does not parse or does not fit the archive is rebuilt from the XML, never trusted.  Files are
written to a temporary name and renamed (atomic on POSIX), so parallel processes opening the
same FMU read either no file or a complete one.  ``tests/test_fleet_open.py`` checks that the
table equals fmpy's full parse, field by field.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from v2xcosim.core.errors import ScenarioError

FORMAT = 1
"""Version of the cache files' layout (part of their name and checked on reading)."""

MEMO_SIZE = 8
"""Descriptions kept in memory per process (most recently used)."""

CACHE_ENV = "V2XCOSIM_CACHE_DIR"
"""Environment variable naming the cache folder (default ``$XDG_CACHE_HOME/v2xcosim`` or
``~/.cache/v2xcosim``); the tables go to its subfolder ``fmu-descriptions``."""

_TYPES = ("Real", "Integer", "Boolean", "String", "Enumeration")

# FMI 2.0 default of ``initial`` by variability and causality (FMI 2.0.2 spec, p. 49), as fmpy
_INITIAL_DEFAULTS: dict[str, dict[str, str | None]] = {
    "constant": {"output": "exact", "local": "exact"},
    "fixed": {"parameter": "exact", "calculatedParameter": "calculated", "local": "calculated"},
    "tunable": {"parameter": "exact", "calculatedParameter": "calculated", "local": "calculated"},
    "discrete": {"input": "exact", "output": "calculated", "local": "calculated"},
    "continuous": {
        "input": "exact",
        "output": "calculated",
        "local": "calculated",
        "independent": None,
    },
}

# legal (causality, variability, initial) of FMI 2.0 (spec p. 50), as fmpy's validation
_LEGAL: frozenset[tuple[str, str, str | None]] = frozenset(
    {
        ("parameter", "fixed", "exact"),
        ("parameter", "tunable", "exact"),
        ("calculatedParameter", "fixed", "calculated"),
        ("calculatedParameter", "fixed", "approx"),
        ("calculatedParameter", "tunable", "calculated"),
        ("calculatedParameter", "tunable", "approx"),
        ("input", "discrete", "exact"),
        ("input", "continuous", "exact"),
        ("output", "constant", "exact"),
        ("output", "discrete", "calculated"),
        ("output", "discrete", "exact"),
        ("output", "discrete", "approx"),
        ("output", "continuous", "calculated"),
        ("output", "continuous", "exact"),
        ("output", "continuous", "approx"),
        ("local", "constant", "exact"),
        ("local", "fixed", "calculated"),
        ("local", "fixed", "approx"),
        ("local", "tunable", "calculated"),
        ("local", "tunable", "approx"),
        ("local", "discrete", "calculated"),
        ("local", "discrete", "exact"),
        ("local", "discrete", "approx"),
        ("local", "continuous", "calculated"),
        ("local", "continuous", "exact"),
        ("local", "continuous", "approx"),
        ("independent", "continuous", None),
    }
)


class VariableRow(NamedTuple):
    """One scalar variable, with the attribute names of fmpy's ``ModelVariable``.

    ``start``, ``min`` and ``max`` are the XML attribute text (None when absent), as fmpy keeps
    them; ``min``/``max`` only for Real, Integer and Enumeration variables.
    """

    name: str
    valueReference: int
    type: str
    causality: str
    variability: str
    initial: str | None
    start: str | None
    min: str | None
    max: str | None


def largest_index(names: Iterable[str], prefix: str) -> int:
    """Return the largest ``i`` of the names ``<prefix>[i].*`` (a fleet's size), 0 if none."""
    pat = re.compile("\x00" + re.escape(prefix) + r"\[(\d+)\]\.")
    found = set(pat.findall("\x00" + "\x00".join(names)))
    return max(map(int, found), default=0)


def _codes(values: list[str | None]) -> tuple[list[str | None], str]:
    """Encode a column of few distinct values as (vocabulary, one character per row)."""
    vocab: dict[str | None, int] = {}
    out = []
    for v in values:
        k = vocab.setdefault(v, len(vocab))
        out.append(chr(48 + k))
    return list(vocab), "".join(out)


class VariableTable(Mapping[str, VariableRow]):
    """The variables of a model description by name, stored column-wise; rows built on access.

    Iterates over the names in document order.  Reading a row costs one dictionary look-up;
    nothing per variable is built when the table is loaded except the name index.
    """

    def __init__(
        self,
        names: list[str],
        vrs: list[int],
        kinds: tuple[list[str | None], str],
        causality: tuple[list[str | None], str],
        variability: tuple[list[str | None], str],
        initial: tuple[list[str | None], str],
        start: dict[int, str],
        minimum: dict[int, str],
        maximum: dict[int, str],
    ) -> None:
        """Take the columns: names, value references, coded categories (:func:`_codes`).

        ``start``/``minimum``/``maximum`` are sparse, by row index.
        """
        n = len(names)
        if not (len(vrs) == n and all(len(c[1]) == n for c in (kinds, causality, variability))):
            raise ValueError("columns of different lengths")
        if len(initial[1]) != n:
            raise ValueError("columns of different lengths")
        self.names = names
        self.vrs = vrs
        self._cols = (kinds, causality, variability, initial)
        self.start = start
        self.minimum = minimum
        self.maximum = maximum
        self._index = dict(zip(names, range(n), strict=True))
        if len(self._index) != n:
            raise ValueError("duplicate variable names")
        self._largest: dict[str, int] = {}

    def largest_index(self, prefix: str) -> int:
        """Return :func:`largest_index` of the names (kept per prefix)."""
        if prefix not in self._largest:
            self._largest[prefix] = largest_index(self.names, prefix)
        return self._largest[prefix]

    def row(self, i: int) -> VariableRow:
        """Return the variable at document position ``i`` (0-based)."""
        (tv, tc), (cv, cc), (vv, vc), (iv, ic) = self._cols
        return VariableRow(
            self.names[i],
            self.vrs[i],
            str(tv[ord(tc[i]) - 48]),
            str(cv[ord(cc[i]) - 48]),
            str(vv[ord(vc[i]) - 48]),
            iv[ord(ic[i]) - 48],
            self.start.get(i),
            self.minimum.get(i),
            self.maximum.get(i),
        )

    def __getitem__(self, name: str) -> VariableRow:
        return self.row(self._index[name])

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    # ------------------------------------------------------------------ serialisation
    def to_json(self) -> dict[str, Any]:
        """Return the table as JSON data (names joined by newlines when none contains one)."""
        joined = not any("\n" in n for n in self.names)
        return {
            "names": "\n".join(self.names) if joined else self.names,
            "vr": self.vrs,
            "cols": [[list(v), c] for v, c in self._cols],
            "start": [list(self.start), list(self.start.values())],
            "min": [list(self.minimum), list(self.minimum.values())],
            "max": [list(self.maximum), list(self.maximum.values())],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VariableTable:
        """Rebuild a table from :meth:`to_json` data; malformed data raises ValueError."""
        raw = data["names"]
        names = raw.split("\n") if isinstance(raw, str) else list(raw)
        if raw == "":
            names = []
        cols = [(list(v), str(c)) for v, c in data["cols"]]
        if len(cols) != 4:
            raise ValueError("expected four coded columns")
        for vocab, codes in cols:
            if codes and max(map(ord, set(codes))) - 48 >= len(vocab):
                raise ValueError("a code outside its vocabulary")

        def sparse(key: str) -> dict[int, str]:
            idx, vals = data[key]
            out = dict(zip(idx, vals, strict=True))
            if any(not 0 <= i < len(names) for i in out):
                raise ValueError(f"{key}: row index out of range")
            return out

        vrs = data["vr"]
        if not all(type(v) is int for v in vrs):
            raise ValueError("value references must be integers")
        return cls(
            names,
            vrs,
            cols[0],
            cols[1],
            cols[2],
            cols[3],
            sparse("start"),
            sparse("min"),
            sparse("max"),
        )


@dataclass(frozen=True)
class Interface:
    """A Co-Simulation or Model Exchange element: what fmpy's ``FMU2Slave`` needs of it."""

    modelIdentifier: str


@dataclass(frozen=True)
class LightDescription:
    """The parts of an FMI 2.0 model description a fleet run needs (fmpy's attribute names)."""

    fmiVersion: str
    modelName: str
    guid: str
    generationTool: str | None
    coSimulation: Interface | None
    modelExchange: Interface | None
    variables: VariableTable

    @property
    def modelVariables(self) -> list[VariableRow]:
        """Every variable in document order (built on demand)."""
        return [self.variables.row(i) for i in range(len(self.variables))]

    def header(self) -> dict[str, Any]:
        """Everything but the table, as JSON data."""
        return {
            "fmiVersion": self.fmiVersion,
            "modelName": self.modelName,
            "guid": self.guid,
            "generationTool": self.generationTool,
            "coSimulation": self.coSimulation.modelIdentifier if self.coSimulation else None,
            "modelExchange": self.modelExchange.modelIdentifier if self.modelExchange else None,
        }


# ---------------------------------------------------------------------------------- parsing
def _invalid(path: Path, problems: list[str]) -> ScenarioError:
    shown = "; ".join(problems[:5]) + (
        f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    )
    return ScenarioError(
        f"FMU {path}: modelDescription.xml is malformed or invalid: {shown}. Fix the model "
        "description (fmpy's validate command shows details) and rebuild."
    )


def parse_description(xml: Path, fmu: Path) -> LightDescription:
    """Parse and validate an FMI 2.0 ``modelDescription.xml`` into a :class:`LightDescription`.

    The same schema and the same variable-level checks as fmpy's ``read_model_description``
    with ``validate=True``, and the indices of ``derivative`` and ``ModelStructure`` must name
    variables (units are not checked: a fleet run does not read them).  ``fmu`` names the
    archive in messages.

    Raises:
        ScenarioError: not well-formed, not FMI 2.0, or not valid.

    """
    import fmpy
    from lxml import etree  # type: ignore[import-untyped]

    try:
        root = etree.parse(str(xml)).getroot()
    except (etree.XMLSyntaxError, OSError) as exc:
        raise _invalid(fmu, [str(exc)]) from None
    version = root.get("fmiVersion")
    if version != "2.0":
        raise ScenarioError(
            f"FMU {fmu}: needs FMI 2.0 Co-Simulation (has FMI {version}); export it as FMI 2.0"
        )
    schema = etree.XMLSchema(
        file=str(Path(fmpy.__file__).parent / "schema" / "fmi2" / "fmi2ModelDescription.xsd")
    )
    if not schema.validate(root):
        raise _invalid(
            fmu,
            [
                f"{e.level_name} (line {e.line}, column {e.column}): {e.message}"
                for e in schema.error_log
            ],
        )
    declared = {t.get("name") for t in root.iterfind("TypeDefinitions/SimpleType")}
    names: list[str] = []
    vrs: list[int] = []
    kinds: list[str | None] = []
    caus: list[str | None] = []
    varia: list[str | None] = []
    init: list[str | None] = []
    start: dict[int, str] = {}
    minimum: dict[int, str] = {}
    maximum: dict[int, str] = {}
    problems: list[str] = []
    seen: set[str] = set()
    derivatives: list[tuple[str, int]] = []
    i = 0
    model_variables = root.find("ModelVariables")
    for sv in model_variables if model_variables is not None else ():
        name = sv.get("name")
        if name is None:
            continue
        value = next((c for c in sv if c.tag in _TYPES), None)
        if value is None:  # the schema requires one; kept for a clear message
            problems.append(f'variable "{name}" has no type element')
            continue
        kind = value.tag
        c = sv.get("causality", "local")
        v = sv.get("variability") or "continuous"
        ini = sv.get("initial")
        if ini is None:
            defaults = _INITIAL_DEFAULTS.get(v, {})
            if c not in defaults:
                problems.append(
                    f'variable "{name}" (line {sv.sourceline}) has an illegal combination of '
                    f'causality="{c}" and variability="{v}"'
                )
                continue
            ini = defaults[c]
        s = value.get("start")
        dt = value.get("declaredType")
        if dt is not None and dt not in declared:
            problems.append(f'variable "{name}" has declaredType="{dt}" which is not defined')
        if name in seen:
            problems.append(f'the variable name "{name}" (line {sv.sourceline}) is not unique')
        seen.add(name)
        if kind != "Real" and v == "continuous":
            problems.append(f'variable "{name}" is of type {kind} and cannot be "continuous"')
        if (ini in {"exact", "approx"} or c == "input") and s is None:
            problems.append(f'variable "{name}" (line {sv.sourceline}) has no start value')
        if (c, v, ini) not in _LEGAL:
            problems.append(
                f'the combination causality="{c}" and variability="{v}" in variable "{name}" '
                "is not allowed"
            )
        if ini == "calculated" and s:
            problems.append(f'variable "{name}" has initial="calculated" but a start value')
        names.append(name)
        vrs.append(int(sv.get("valueReference")))
        kinds.append(kind)
        caus.append(c)
        varia.append(v)
        init.append(ini)
        if s is not None:
            start[i] = s
        if kind in {"Real", "Integer", "Enumeration"}:
            lo, hi = value.get("min"), value.get("max")
            if lo is not None:
                minimum[i] = lo
            if hi is not None:
                maximum[i] = hi
        derivative = value.get("derivative") if kind == "Real" else None
        if derivative is not None:
            derivatives.append((name, int(derivative)))
        i += 1
    # references by 1-based variable index, as fmpy resolves them
    for name, k in derivatives:
        if not 1 <= k <= i:
            problems.append(f'variable "{name}" has derivative="{k}": no such variable')
    for u in root.iterfind("ModelStructure/*/Unknown"):
        refs = [u.get("index") or "0", *(u.get("dependencies") or "").split()]
        if any(int(r) > i for r in refs):
            problems.append(
                f"ModelStructure (line {u.sourceline}): an index beyond the {i} variables"
            )
    if problems:
        raise _invalid(fmu, problems)
    cs, me = root.find("CoSimulation"), root.find("ModelExchange")
    table = VariableTable(
        names,
        vrs,
        _codes(kinds),
        _codes(caus),
        _codes(varia),
        _codes(init),
        start,
        minimum,
        maximum,
    )
    return LightDescription(
        fmiVersion=version,
        modelName=str(root.get("modelName")),
        guid=str(root.get("guid")),
        generationTool=root.get("generationTool"),
        coSimulation=Interface(str(cs.get("modelIdentifier"))) if cs is not None else None,
        modelExchange=Interface(str(me.get("modelIdentifier"))) if me is not None else None,
        variables=table,
    )


# ------------------------------------------------------------------------------------ cache
def cache_dir() -> Path:
    """Return the folder of the cached tables (see :data:`CACHE_ENV`)."""
    base = os.environ.get(CACHE_ENV)
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = str(Path(xdg) / "v2xcosim") if xdg else str(Path.home() / ".cache" / "v2xcosim")
    return Path(base) / "fmu-descriptions"


def cache_file(sha256: str) -> Path:
    """Return the cache file of the archive whose SHA-256 is ``sha256``."""
    return cache_dir() / f"{sha256}.v{FORMAT}.json"


def _encode(sha256: str, md: LightDescription) -> bytes:
    payload = json.dumps(
        {"header": md.header(), "table": md.variables.to_json()}, separators=(",", ":")
    ).encode()
    head = {
        "format": FORMAT,
        "fmu_sha256": sha256,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
    }
    return json.dumps(head).encode() + b"\n" + payload


def _decode(sha256: str, blob: bytes) -> LightDescription:
    """Read a cache file's bytes; anything that does not check out raises ValueError."""
    first, sep, payload = blob.partition(b"\n")
    if not sep:
        raise ValueError("no header line")
    head = json.loads(first)
    if head.get("format") != FORMAT or head.get("fmu_sha256") != sha256:
        raise ValueError("written for another archive or format")
    if hashlib.sha256(payload).hexdigest() != head.get("payload_sha256"):
        raise ValueError("payload checksum mismatch")
    data = json.loads(payload)
    h = data["header"]
    if h["fmiVersion"] != "2.0":
        raise ValueError("not FMI 2.0")
    return LightDescription(
        fmiVersion=str(h["fmiVersion"]),
        modelName=str(h["modelName"]),
        guid=str(h["guid"]),
        generationTool=None if h["generationTool"] is None else str(h["generationTool"]),
        coSimulation=Interface(str(h["coSimulation"])) if h["coSimulation"] else None,
        modelExchange=Interface(str(h["modelExchange"])) if h["modelExchange"] else None,
        variables=VariableTable.from_json(data["table"]),
    )


def _write(path: Path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` atomically; a cache that cannot be written is skipped."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


_MEMO: OrderedDict[str, LightDescription] = OrderedDict()


def cached_description(sha256: str) -> LightDescription | None:
    """Return the description of archive ``sha256`` from memory or the cache, else None.

    A cache file that does not check out is removed (it will be rebuilt).
    """
    md = _MEMO.get(sha256)
    if md is not None:
        _MEMO.move_to_end(sha256)
        return md
    path = cache_file(sha256)
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    try:
        md = _decode(sha256, blob)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    _remember(sha256, md)
    return md


def _remember(sha256: str, md: LightDescription) -> None:
    _MEMO[sha256] = md
    _MEMO.move_to_end(sha256)
    while len(_MEMO) > MEMO_SIZE:
        _MEMO.popitem(last=False)


def light_description(sha256: str, xml: Path, fmu: Path) -> LightDescription:
    """Return the light description of archive ``fmu`` (SHA-256 ``sha256``, its ``xml``).

    From memory, else from the cache, else parsed (:func:`parse_description`) and cached.
    """
    md = cached_description(sha256)
    if md is None:
        md = parse_description(xml, fmu)
        _write(cache_file(sha256), _encode(sha256, md))
        _remember(sha256, md)
    return md


def forget() -> None:
    """Empty the in-process memory (tests; the files stay)."""
    _MEMO.clear()
