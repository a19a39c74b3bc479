"""Reference results in the FMI cross-check layout, plus the project's extension file.

A reference directory holds, for a model ``<Model>``:

``<Model>_ref.csv`` (required)
    First column ``time``, then the variables to compare; headers (quoted or not) are the FMU's
    variable names.  Time is non-decreasing (two equal times describe a jump), every value is a
    finite number (``true``/``false`` are read as 1/0).  Only scalar variables of the types in
    :data:`COMPARED_TYPES` can be compared or applied as inputs; integer, Boolean and
    enumeration values are read exactly from their text (no float round trip, so 64-bit values
    such as 2**63 - 1 and 2**64 - 1 stay exact) and must lie in their type's range.
``<Model>_ref.opt`` (required)
    ``Key, value`` lines with exactly the keys ``StartTime``, ``StopTime``, ``StepSize`` and
    ``RelTol`` (the solver's relative tolerance, not the comparison tolerance).
``<Model>_in.csv`` (optional)
    First column ``time``, then the FMU's input variables; it must cover
    ``[StartTime, StopTime]``.  Applied as fmpy does: continuous Real inputs interpolated
    linearly, discrete inputs held; repeated times are input events.
``<Model>_ref.v2x.json`` (optional, this project's extension; see :data:`EXTENSION_SUFFIX`)
    A JSON object with the keys

    * ``format``: ``"v2xcosim-reference"``, ``format_version``: ``1``;
    * ``tolerances``: ``{"default": TOL, "variables": {name: TOL}}`` where ``TOL`` is an object
      with any of ``abs_tol``, ``rel_tol``, ``time_abs_tol``, ``time_rel_tol`` (non-negative
      numbers; see :mod:`v2xcosim.fmu.tube` for their meaning and defaults);
    * ``fmi_type``: ``"CoSimulation"`` or ``"ModelExchange"`` (the interface to run; default:
      Co-Simulation if the FMU has it);
    * ``fmu_sha256``, ``model_sources_sha256``: the hashes of the FMU and of the model sources
      the reference was generated with (``null`` if unknown);
    * ``tools``: ``{name: version}`` of the tools used (python, fmpy, numpy, v2xcosim, the FMU's
      generation tool, platform);
    * ``history``: a list of ``{date, reason, fmu_sha256, model_sources_sha256, tools}``, one
      entry per regeneration (``v2xcosim fmu regress --update --reason ...``).

Every reader here raises :class:`~v2xcosim.core.errors.ScenarioError` naming the file, the line and
the fix; :func:`validate_against_fmu` reports all problems with the FMU at once.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError
from v2xcosim.fmu.tube import FloatArray, Tolerance

REF_SUFFIX = "_ref.csv"
OPT_SUFFIX = "_ref.opt"
IN_SUFFIX = "_in.csv"
EXTENSION_SUFFIX = "_ref.v2x.json"
EXTENSION_FORMAT = "v2xcosim-reference"
EXTENSION_VERSION = 1
OPT_KEYS = ("StartTime", "StopTime", "StepSize", "RelTol")
TOLERANCE_KEYS = ("abs_tol", "rel_tol", "time_abs_tol", "time_rel_tol")
FMI_TYPES = ("CoSimulation", "ModelExchange")
FLOAT_TYPES = ("Real", "Float64", "Float32")
"""Variable types compared inside a tolerance tube."""
INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "Integer": (-(2**31), 2**31 - 1),
    "Enumeration": (-(2**63), 2**63 - 1),
    "Boolean": (0, 1),
    "Int8": (-(2**7), 2**7 - 1),
    "UInt8": (0, 2**8 - 1),
    "Int16": (-(2**15), 2**15 - 1),
    "UInt16": (0, 2**16 - 1),
    "Int32": (-(2**31), 2**31 - 1),
    "UInt32": (0, 2**32 - 1),
    "Int64": (-(2**63), 2**63 - 1),
    "UInt64": (0, 2**64 - 1),
}
"""Discrete variable types (compared exactly) and their value ranges (FMI 2.0 / 3.0 standards:
``fmi2Integer`` is a 32-bit int; an FMI 3.0 enumeration is set and got as ``fmi3Int64``)."""
COMPARED_TYPES = (*FLOAT_TYPES, *INTEGER_RANGES)
"""Every variable type ``fmu regress`` compares (scalars only; not String, Binary, Clock)."""
_EXTENSION_KEYS = {
    "format",
    "format_version",
    "tolerances",
    "fmi_type",
    "fmu_sha256",
    "model_sources_sha256",
    "tools",
    "history",
}


@dataclass(frozen=True)
class Experiment:
    """The experiment of a reference (``<Model>_ref.opt``), times in seconds."""

    start_time: float
    stop_time: float
    step_size: float
    rel_tol: float

    @property
    def span(self) -> float:
        """``stop_time - start_time`` [s]."""
        return self.stop_time - self.start_time


@dataclass(frozen=True)
class Table:
    """A CSV table: a time column and named signal columns (all float64)."""

    path: Path
    time: FloatArray
    columns: dict[str, FloatArray]
    text: dict[str, list[str]] = field(default_factory=dict, repr=False)
    """The cells of each column as written (for exact integer parsing)."""


@dataclass
class Extension:
    """The project's extension file (see the module docstring); all fields optional."""

    default_tolerance: Tolerance = field(default_factory=Tolerance)
    tolerances: dict[str, Tolerance] = field(default_factory=dict)
    fmi_type: str | None = None
    fmu_sha256: str | None = None
    model_sources_sha256: str | None = None
    tools: dict[str, str] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def tolerance_for(self, name: str) -> Tolerance:
        """Return the tolerances of variable ``name`` (its own over the default)."""
        own = self.tolerances.get(name)
        return self.default_tolerance if own is None else self.default_tolerance.merged(own)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object written to ``<Model>_ref.v2x.json``."""

        def tol(t: Tolerance) -> dict[str, float]:
            return {k: v for k in TOLERANCE_KEYS if (v := getattr(t, k)) is not None}

        return {
            "format": EXTENSION_FORMAT,
            "format_version": EXTENSION_VERSION,
            "fmi_type": self.fmi_type,
            "tolerances": {
                "default": tol(self.default_tolerance),
                "variables": {n: tol(t) for n, t in self.tolerances.items()},
            },
            "fmu_sha256": self.fmu_sha256,
            "model_sources_sha256": self.model_sources_sha256,
            "tools": dict(self.tools),
            "history": list(self.history),
        }


@dataclass(frozen=True)
class Reference:
    """A complete reference: results, experiment, optional inputs and extension."""

    model: str
    directory: Path
    experiment: Experiment
    result: Table
    inputs: Table | None
    extension: Extension

    @property
    def variables(self) -> list[str]:
        """The compared variables, in file order."""
        return list(self.result.columns)


def ref_paths(ref_dir: Path, model: str) -> dict[str, Path]:
    """Return the paths of the reference files of ``model`` in ``ref_dir`` (may not exist)."""
    return {
        "ref": ref_dir / f"{model}{REF_SUFFIX}",
        "opt": ref_dir / f"{model}{OPT_SUFFIX}",
        "in": ref_dir / f"{model}{IN_SUFFIX}",
        "ext": ref_dir / f"{model}{EXTENSION_SUFFIX}",
    }


def find_model(ref_dir: Path, model: str | None, fallbacks: tuple[str, ...] = ()) -> str:
    """Return the model name of the reference in ``ref_dir``.

    ``model`` wins if given; otherwise the only ``*_ref.csv`` in the folder; otherwise the
    first of ``fallbacks`` (e.g. the FMU's model name) that has a ``_ref.csv``.
    """
    if not ref_dir.is_dir():
        raise ScenarioError(f"reference folder {ref_dir} does not exist. Check the path.")
    if model is not None:
        return model
    found = sorted(p.name[: -len(REF_SUFFIX)] for p in ref_dir.glob(f"*{REF_SUFFIX}"))
    if len(found) == 1:
        return found[0]
    for name in fallbacks:
        if name in found:
            return name
    if not found:
        raise ScenarioError(
            f"reference folder {ref_dir}: no <Model>{REF_SUFFIX} file. Create one with "
            "'v2xcosim fmu regress FMU REF_DIR --update --reason \"...\"'."
        )
    raise ScenarioError(
        f"reference folder {ref_dir} holds references for several models ({', '.join(found)}); "
        "choose one with --model."
    )


def _parse_number(text: str, path: Path, line: int, column: str) -> float:
    value = text.strip()
    low = value.lower()
    if low == "true":
        return 1.0
    if low == "false":
        return 0.0
    try:
        number = float(value)
    except ValueError:
        raise ScenarioError(
            f"{path}, line {line}, column {column!r}: {text!r} is not a number. "
            "Write plain decimal numbers."
        ) from None
    if not math.isfinite(number):
        raise ScenarioError(
            f"{path}, line {line}, column {column!r}: {text!r} is not finite (NaN/inf). "
            "References and inputs must hold finite numbers; regenerate or fix the file."
        )
    return number


def read_table(path: Path, *, min_columns: int = 1) -> Table:
    """Read and validate a cross-check CSV file (time column, then signals)."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: file not found.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ScenarioError(f"{path}: cannot be read as a UTF-8 CSV file: {exc}.") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ScenarioError(f"{path}: the file is empty; it needs a header line and data.")
    header = [h.strip() for h in rows[0]]
    if header[0].lower() != "time":
        raise ScenarioError(f"{path}, line 1: the first column must be 'time', not {header[0]!r}.")
    names = header[1:]
    if len(names) < min_columns:
        raise ScenarioError(f"{path}, line 1: no variable columns after 'time'.")
    seen: set[str] = set()
    for name in names:
        if not name:
            raise ScenarioError(f"{path}, line 1: an empty column name.")
        if name in seen:
            raise ScenarioError(f"{path}, line 1: column {name!r} appears twice.")
        seen.add(name)
    if len(rows) < 2:
        raise ScenarioError(f"{path}: no data lines after the header.")
    data = np.empty((len(rows) - 1, len(header)), dtype=np.float64)
    for i, row in enumerate(rows[1:]):
        line = i + 2
        if len(row) != len(header):
            raise ScenarioError(
                f"{path}, line {line}: {len(row)} values, but the header has {len(header)} columns."
            )
        for j, cell in enumerate(row):
            data[i, j] = _parse_number(cell, path, line, header[j])
    time = data[:, 0].copy()
    text = {n: [row[j + 1].strip() for row in rows[1:]] for j, n in enumerate(names)}
    back = np.flatnonzero(np.diff(time) < 0)
    if back.size:
        line = int(back[0]) + 3
        raise ScenarioError(
            f"{path}, line {line}: time {time[back[0] + 1]!r} is before the previous time "
            f"{time[back[0]]!r}; times must not decrease."
        )
    return Table(
        path=path,
        time=time,
        columns={n: data[:, j + 1].copy() for j, n in enumerate(names)},
        text=text,
    )


def _exact_integer(cell: str) -> int | None:
    """Return the exact integer a cell holds (``true``, ``12``, ``1.0``, ``1e3``), else None."""
    low = cell.strip().lower()
    if low in ("true", "false"):
        return int(low == "true")
    try:
        number = Decimal(low)
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def exact_column(table: Table, name: str, kind: str) -> npt.NDArray[Any]:
    """Return column ``name`` parsed exactly for the discrete FMI type ``kind``.

    The result has the type's own numpy dtype (``uint64`` for ``UInt64``, ...), built from the
    cells' text, never through float.

    Raises:
        ScenarioError: a value that is not an integer or lies outside the type's range,
            naming the file, line and column.

    """
    lo, hi = INTEGER_RANGES[kind]
    cells = table.text.get(name) or [repr(float(v)) for v in table.columns[name]]
    out: list[int] = []
    for i, cell in enumerate(cells):
        value = _exact_integer(cell)
        if value is None or not lo <= value <= hi:
            raise ScenarioError(
                f"{table.path}, line {i + 2}, column {name!r}: {cell!r} is not a {kind} value "
                f"(an integer in {lo}..{hi}). Write the exact integer."
            )
        out.append(value)
    return np.asarray(out, dtype=numpy_dtype(kind))


def numpy_dtype(kind: str) -> Any:
    """Return the numpy dtype of FMI variable type ``kind`` (as fmpy sets and gets it)."""
    return {
        "Real": np.float64,
        "Float64": np.float64,
        "Float32": np.float32,
        "Boolean": np.bool_,
        "Integer": np.int32,
        "Enumeration": np.int64,
        "Int8": np.int8,
        "UInt8": np.uint8,
        "Int16": np.int16,
        "UInt16": np.uint16,
        "Int32": np.int32,
        "UInt32": np.uint32,
        "Int64": np.int64,
        "UInt64": np.uint64,
    }[kind]


def type_problem(path: Path, name: str, var: Any) -> str | None:
    """Why variable ``var`` (column ``name`` of ``path``) cannot be compared, or None."""
    kind = str(var.type)
    if kind not in COMPARED_TYPES:
        return (
            f"{path}: column {name!r} is a {kind} variable; fmu regress compares scalar "
            f"variables of the types {', '.join(COMPARED_TYPES)} only"
        )
    if getattr(var, "dimensions", None):
        return (
            f"{path}: column {name!r} is an array variable; fmu regress compares scalar "
            f"variables of the types {', '.join(COMPARED_TYPES)} only"
        )
    return None


def read_opt(path: Path) -> Experiment:
    """Read and validate ``<Model>_ref.opt``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ScenarioError(
            f"{path}: file not found; a reference needs it with the keys {', '.join(OPT_KEYS)}."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot be read: {exc}.") from None
    values: dict[str, float] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        key, sep, text = raw.partition(",")
        key = key.strip()
        if not sep or key not in OPT_KEYS:
            raise ScenarioError(
                f"{path}, line {number}: {raw.strip()!r} is not 'Key, value' with a key in "
                f"{', '.join(OPT_KEYS)}."
            )
        if key in values:
            raise ScenarioError(f"{path}, line {number}: {key} given twice.")
        values[key] = _parse_number(text, path, number, key)
    missing = [k for k in OPT_KEYS if k not in values]
    if missing:
        raise ScenarioError(f"{path}: missing {', '.join(missing)}.")
    exp = Experiment(values["StartTime"], values["StopTime"], values["StepSize"], values["RelTol"])
    if exp.stop_time <= exp.start_time:
        raise ScenarioError(f"{path}: StopTime must be greater than StartTime.")
    if exp.step_size <= 0 or exp.step_size > exp.span:
        raise ScenarioError(f"{path}: StepSize must be > 0 and at most StopTime - StartTime.")
    if exp.rel_tol <= 0:
        raise ScenarioError(f"{path}: RelTol must be > 0.")
    return exp


def _read_tolerance(obj: Any, where: str) -> Tolerance:
    if not isinstance(obj, dict):
        raise ScenarioError(f"{where}: must be an object with keys {', '.join(TOLERANCE_KEYS)}.")
    unknown = sorted(set(obj) - set(TOLERANCE_KEYS))
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(TOLERANCE_KEYS)}."
        )
    values: dict[str, float] = {}
    for key, value in obj.items():
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ScenarioError(f"{where}.{key}: must be a finite number >= 0, not {value!r}.")
        values[key] = float(value)
    return Tolerance(**values)


def read_extension(path: Path) -> Extension:
    """Read and validate the project's extension file; a missing file gives the defaults."""
    if not path.exists():
        return Extension()
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"{path}: not a readable JSON file: {exc}.") from None
    if not isinstance(obj, dict):
        raise ScenarioError(f"{path}: must hold a JSON object.")
    unknown = sorted(set(obj) - _EXTENSION_KEYS)
    if unknown:
        raise ScenarioError(
            f"{path}: unknown key(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(sorted(_EXTENSION_KEYS))}."
        )
    if (
        obj.get("format", EXTENSION_FORMAT) != EXTENSION_FORMAT
        or obj.get("format_version", EXTENSION_VERSION) != EXTENSION_VERSION
    ):
        raise ScenarioError(
            f"{path}: format must be {EXTENSION_FORMAT!r} version {EXTENSION_VERSION}."
        )
    ext = Extension()
    tols = obj.get("tolerances", {})
    if not isinstance(tols, dict) or set(tols) - {"default", "variables"}:
        raise ScenarioError(f"{path}: 'tolerances' must be {{'default': ..., 'variables': ...}}.")
    ext.default_tolerance = _read_tolerance(tols.get("default", {}), f"{path}: tolerances.default")
    per_var = tols.get("variables", {})
    if not isinstance(per_var, dict):
        raise ScenarioError(f"{path}: tolerances.variables must map names to tolerances.")
    ext.tolerances = {
        str(n): _read_tolerance(t, f"{path}: tolerances.variables[{n!r}]")
        for n, t in per_var.items()
    }
    fmi_type = obj.get("fmi_type")
    if fmi_type is not None and fmi_type not in FMI_TYPES:
        raise ScenarioError(f"{path}: fmi_type must be one of {', '.join(FMI_TYPES)} or null.")
    ext.fmi_type = fmi_type
    for key in ("fmu_sha256", "model_sources_sha256"):
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise ScenarioError(f"{path}: {key} must be a hex string or null.")
        setattr(ext, key, value)
    tools = obj.get("tools", {})
    if not isinstance(tools, dict):
        raise ScenarioError(f"{path}: tools must map tool names to versions.")
    ext.tools = {str(k): str(v) for k, v in tools.items()}
    history = obj.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise ScenarioError(f"{path}: history must be a list of objects.")
    ext.history = history
    return ext


def read_reference(ref_dir: Path, model: str) -> Reference:
    """Read and validate (on its own, without the FMU) the reference of ``model``."""
    paths = ref_paths(ref_dir, model)
    if not paths["ref"].is_file():
        raise ScenarioError(
            f"{paths['ref']}: file not found. Create the reference with "
            "'v2xcosim fmu regress FMU REF_DIR --update --reason \"...\"'."
        )
    experiment = read_opt(paths["opt"])
    result = read_table(paths["ref"])
    inputs = read_table(paths["in"]) if paths["in"].exists() else None
    extension = read_extension(paths["ext"])
    return Reference(model, ref_dir, experiment, result, inputs, extension)


def validate_against_fmu(reference: Reference, variables: Mapping[str, Any]) -> None:
    """Check the reference against the FMU's variables; report every problem at once.

    Checks: compared names and tolerance names exist in the FMU; input names exist and have
    causality ``input``; the reference lies within ``[StartTime, StopTime]``; the inputs cover it.
    """
    exp = reference.experiment
    problems: list[str] = []
    eps = 1e-9 * max(abs(exp.span), 1.0)
    res = reference.result
    for name in res.columns:
        if name not in variables:
            problems.append(f"{res.path}: column {name!r} is not a variable of the FMU")
        elif (why := type_problem(res.path, name, variables[name])) is not None:
            problems.append(why)
        elif variables[name].type in INTEGER_RANGES:
            try:
                exact_column(res, name, variables[name].type)
            except ScenarioError as exc:
                problems.append(str(exc))
    for name in reference.extension.tolerances:
        if name not in res.columns:
            problems.append(
                f"{reference.directory / (reference.model + EXTENSION_SUFFIX)}: tolerances for "
                f"{name!r}, which is not a column of {res.path.name}"
            )
    if res.time[0] < exp.start_time - eps or res.time[-1] > exp.stop_time + eps:
        problems.append(
            f"{res.path}: times {res.time[0]!r}..{res.time[-1]!r} lie outside "
            f"StartTime..StopTime {exp.start_time!r}..{exp.stop_time!r}"
        )
    inp = reference.inputs
    if inp is not None:
        for name in inp.columns:
            var = variables.get(name)
            if var is None:
                problems.append(f"{inp.path}: column {name!r} is not a variable of the FMU")
            elif var.causality != "input":
                problems.append(
                    f"{inp.path}: column {name!r} has causality {var.causality!r}, not 'input'"
                )
            elif (why := type_problem(inp.path, name, var)) is not None:
                problems.append(why)
            elif var.type in INTEGER_RANGES:
                try:
                    exact_column(inp, name, var.type)
                except ScenarioError as exc:
                    problems.append(str(exc))
        if inp.time[0] > exp.start_time + eps or inp.time[-1] < exp.stop_time - eps:
            problems.append(
                f"{inp.path}: times {inp.time[0]!r}..{inp.time[-1]!r} do not cover "
                f"StartTime..StopTime {exp.start_time!r}..{exp.stop_time!r}"
            )
    if problems:
        raise ScenarioError(
            f"reference {reference.model!r} does not match the FMU:\n  - "
            + "\n  - ".join(problems)
            + "\nFix the reference files or regenerate them with --update."
        )


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cell(value: Any) -> str:
    """One value as exact text: integers (and Booleans, as 0/1) as integers, floats by repr."""
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    return repr(float(value))


def format_table(time: FloatArray, columns: Mapping[str, npt.NDArray[Any]]) -> str:
    """Return a cross-check CSV text (quoted headers, exact numbers: exact round trip)."""
    lines = [",".join(f'"{n}"' for n in ["time", *columns])]
    cols = [time.tolist(), *(c.tolist() for c in columns.values())]
    for i in range(time.size):
        lines.append(",".join(_cell(c[i]) for c in cols))
    return "\n".join(lines) + "\n"


def write_reference(
    ref_dir: Path,
    model: str,
    experiment: Experiment,
    time: FloatArray,
    columns: Mapping[str, npt.NDArray[Any]],
    extension: Extension,
) -> None:
    """Write ``_ref.csv``, ``_ref.opt`` and the extension file atomically (``_in.csv`` kept)."""
    paths = ref_paths(ref_dir, model)
    opt = "".join(
        f"{k}, {v!r}\n"
        for k, v in zip(
            OPT_KEYS,
            (experiment.start_time, experiment.stop_time, experiment.step_size, experiment.rel_tol),
            strict=True,
        )
    )
    _atomic_write(paths["ref"], format_table(time, columns))
    _atomic_write(paths["opt"], opt)
    _atomic_write(paths["ext"], json.dumps(extension.to_json(), indent=2) + "\n")
