"""Modelica → FMI 2.0 FMU pipeline (Model Exchange + Co-Simulation), without OpenModelica.

Steps for one model (see ``models/README.md`` and the module docs of
:mod:`v2xcosim.fmu.subset`):

1. check the sources against the supported subset (file, line, construct on failure);
2. compile the model with rumoca and render the project's own code-generation target
   (``fmu/target/``: the C kernel ``kernel.c`` and the layout/variable metadata ``meta.json``);
3. write ``v2x_config.h`` (sizes, start values, nominals, names) and ``modelDescription.xml``;
4. compile ``binaries/linux64/<id>.so`` with the machine's C compiler from the kernel and the
   generic shell ``fmu/shell/v2x_fmi2.c``; ship all of it in ``sources/``;
5. zip reproducibly (sorted entries, fixed time stamps and permissions) and cache by a content hash
   of model sources, pipeline files, compiler and flags, fleet size and build options.

A fleet FMU (``--fleet N``) compiles the same single-vehicle kernel once; the shell replicates it N
times at run time, so build time does not grow with N.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
import zipfile
from dataclasses import dataclass, field
from math import inf
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from v2xcosim.core.errors import (
    ModelicaSubsetError,
    ScenarioError,
    SimulationError,
    ToolMissingError,
)
from v2xcosim.fmu.subset import SUBSET_HELP, scan_tree

PIPELINE_VERSION = "1"
_HERE = Path(__file__).resolve().parent
TARGET_DIR = _HERE / "target"
SHELL_DIR = _HERE / "shell"
CFLAGS = ("-O2", "-fPIC", "-shared", "-std=c99", "-fno-math-errno", "-Wall", "-Wno-unused-variable")
# Fixed ZIP entry time (the earliest a ZIP file can store) so the same inputs give the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
SOLVERS = {"sdirk": 1, "dopri": 2}


def project_root() -> Path:
    """Return the directory that holds ``models/``: the working directory or the source checkout."""
    env = os.environ.get("V2XCOSIM_ROOT")
    if env:
        return Path(env).resolve()
    cwd = Path.cwd()
    if (cwd / "models" / "fmus.toml").is_file():
        return cwd
    return _HERE.parents[2]


def models_dir() -> Path:
    """Return the Modelica model directory (``<root>/models``)."""
    return project_root() / "models"


def fmus_dir() -> Path:
    """Return the default FMU output directory (``<root>/fmus``)."""
    return project_root() / "fmus"


@dataclass(frozen=True)
class ModelEntry:
    """One buildable model as listed in ``models/fmus.toml``."""

    name: str
    modelica_class: str
    solver: str = "sdirk"
    rtol: float = 1e-6
    fleet_prefix: str = "ev"
    description: str = ""


def read_registry(mdir: Path | None = None) -> dict[str, ModelEntry]:
    """Read ``models/fmus.toml``: which Modelica classes become FMUs, and with which solver."""
    mdir = mdir or models_dir()
    path = mdir / "fmus.toml"
    if not path.is_file():
        raise ScenarioError(
            f"{path}: not found; it lists the models to build (see models/README.md)"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: invalid TOML: {exc}") from None
    out: dict[str, ModelEntry] = {}
    errors: list[str] = []
    allowed = {"class", "solver", "rtol", "fleet_prefix", "description"}
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            errors.append(f"{path}: [{name}] must be a table")
            continue
        unknown = sorted(set(spec) - allowed)
        if unknown:
            errors.append(f"{path}: [{name}] unknown keys {unknown}; allowed: {sorted(allowed)}")
        if "class" not in spec:
            errors.append(f"{path}: [{name}].class is missing (the Modelica class, e.g. 'V2X.EV')")
            continue
        solver = str(spec.get("solver", "sdirk"))
        if solver not in SOLVERS:
            errors.append(f"{path}: [{name}].solver = {solver!r}; use one of {sorted(SOLVERS)}")
        rtol = float(spec.get("rtol", 1e-6))
        if not 0 < rtol < 1:
            errors.append(f"{path}: [{name}].rtol = {rtol}; must be in (0, 1)")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            errors.append(f"{path}: [{name}] is not a valid FMU model identifier")
        out[name] = ModelEntry(
            name=name,
            modelica_class=str(spec["class"]),
            solver=solver,
            rtol=rtol,
            fleet_prefix=str(spec.get("fleet_prefix", "ev")),
            description=str(spec.get("description", "")),
        )
    if errors:
        raise ScenarioError("\n".join(errors))
    return out


# --------------------------------------------------------------------------- tool discovery --
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


# --------------------------------------------------------------------------- metadata ---------
def _minijinja_to_json(text: str) -> Any:
    """Parse minijinja's rendering of maps/lists (JSON-like, but ``none`` for null)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("none", i) and not (
            i > 0 and (text[i - 1].isalnum() or text[i - 1] == "_")
        ):
            out.append("null")
            i += 4
        else:
            out.append(c)
            i += 1
    return json.loads("".join(out))


@dataclass
class ScalarVar:
    """One scalar of the FMU's variable table."""

    name: str
    space: str  # "Y" or "P" or "DX"
    index: int
    causality: str
    variability: str
    initial: str | None
    start: float | None
    unit: str | None
    description: str
    kind: str = "Real"  # Real or Integer
    nominal: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    derivative_of: int | None = None  # Y index of the state


@dataclass
class ModelInfo:
    """Layout and variables of one compiled model (single vehicle)."""

    name: str
    ny: int
    np: int
    nx: int
    y_vars: list[ScalarVar]
    p_vars: list[ScalarVar]
    p_kind: list[int]  # 0 independent parameter, 1 dependent parameter, 2 input, 3 constant
    y_settable: list[int]
    y_start: list[float]
    p_default: list[float]
    x_nominal: list[float]
    max_tear: int
    n_blocks: int
    block_linear: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _num(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    return None


def _scalar_attr(attrs: dict[str, Any], key: str, i: int) -> float | None:
    vals = attrs.get(key)
    if isinstance(vals, list) and i < len(vals):
        return _num(vals[i])
    return None


def parse_meta(meta: dict[str, Any]) -> ModelInfo:
    """Turn the target's ``meta.json`` into the FMU's variable table."""
    layout = meta["layout"]
    sl = meta["solve_layout"]
    ny, np_ = int(layout["y_scalars"]), int(layout["p_scalars"])
    nx = int(sl["state_scalar_count"])
    bindings: dict[str, dict[str, Any]] = layout["bindings"]
    dep_p: set[int] = set()
    calc_y: set[int] = set()
    for tg in meta["update_targets"]:
        if "P" in tg:
            dep_p.add(int(tg["P"]["index"]))
        elif "Y" in tg:
            calc_y.add(int(tg["Y"]["index"]))
    y_vars: list[ScalarVar | None] = [None] * ny
    p_vars: list[ScalarVar | None] = [None] * np_
    p_kind = [0] * np_
    for v in meta["variables"]:
        attrs = v.get("attributes") or {}
        role = v["role"]
        kind = "Integer" if v.get("scalar") == "integer" else "Real"
        for i, sname in enumerate(v["scalar_names"]):
            b = bindings.get(sname)
            if not b:
                continue
            start = _scalar_attr(attrs, "binding_values", i)
            if start is None:
                start = _scalar_attr(attrs, "start_values", i)
            desc = str(attrs.get("description") or "")
            unit = attrs.get("unit")
            common = dict(
                name=sname,
                unit=unit if kind == "Real" else None,
                description=desc,
                kind=kind,
                nominal=_scalar_attr(attrs, "nominal_values", i),
                minimum=_scalar_attr(attrs, "minimum_values", i),
                maximum=_scalar_attr(attrs, "maximum_values", i),
            )
            if "Y" in b:
                k = int(b["Y"]["index"])
                is_state = k < nx
                # Only top-level outputs are FMU outputs; outputs of sub-components (dotted
                # names such as battery.soc) are local variables of the FMU.
                top = "." not in v["name"]
                is_output = attrs.get("causality") == "output" or role == "output"
                caus = "output" if top and is_output else "local"
                initial = "exact" if is_state and k not in calc_y else "calculated"
                y_vars[k] = ScalarVar(
                    space="Y",
                    index=k,
                    causality=caus,
                    variability="continuous",
                    initial=initial,
                    start=start if start is not None else 0.0,
                    **common,
                )
            else:
                k = int(b["P"]["index"])
                if role == "input":
                    p_kind[k] = 2
                    sv = ScalarVar(space="P", index=k, causality="input", variability="continuous",
                                   initial=None, start=start if start is not None else 0.0,
                                   **common)
                elif k in dep_p:
                    p_kind[k] = 1
                    sv = ScalarVar(space="P", index=k, causality="calculatedParameter",
                                   variability="fixed", initial="calculated",
                                   start=start if start is not None else 0.0, **common)
                elif attrs.get("tunable") is False or v.get("variability") == "constant":
                    p_kind[k] = 3
                    sv = ScalarVar(space="P", index=k, causality="local", variability="constant",
                                   initial="exact", start=start if start is not None else 0.0,
                                   **common)
                else:
                    p_kind[k] = 0
                    sv = ScalarVar(space="P", index=k, causality="parameter", variability="fixed",
                                   initial="exact", start=start if start is not None else 0.0,
                                   **common)
                p_vars[k] = sv
    missing = [i for i, v in enumerate(y_vars) if v is None]
    missing += [i for i, v in enumerate(p_vars) if v is None]
    if missing:
        raise SimulationError(
            f"model {meta['model_name']}: internal layout error, unnamed slots {missing}"
        )
    yv = [v for v in y_vars if v is not None]
    pv = [v for v in p_vars if v is not None]
    x_nominal = []
    for k in range(nx):
        v = yv[k]
        nom = v.nominal if v.nominal else max(abs(v.start or 0.0), 1.0)
        v.nominal = nom
        x_nominal.append(nom)
    programs = {}
    for prog in meta.get("residual_programs", []):
        for op in prog["ops"]:
            if op["kind"] == "StoreOutput":
                programs[int(op["output_index"])] = prog["ops"]
    block_linear = []
    for blk in meta["algebraic_blocks"]:
        c = 0.0
        if not blk.get("tearing") and len(blk["y_indices"]) == 1 and len(blk["rows"]) == 1:
            ops = programs.get(int(blk["rows"][0]))
            c = linear_coefficient(ops, int(blk["y_indices"][0])) if ops else 0.0
        block_linear.append(c)
    max_tear = 0
    for blk in meta["algebraic_blocks"]:
        tear = blk.get("tearing")
        m = len(tear["tear_y_indices"]) if tear else len(blk["y_indices"])
        max_tear = max(max_tear, m)
    return ModelInfo(
        name=str(meta["model_name"]),
        ny=ny,
        np=np_,
        nx=nx,
        y_vars=yv,
        p_vars=pv,
        p_kind=p_kind,
        y_settable=[1 if (k < nx and yv[k].initial == "exact") else 0 for k in range(ny)],
        y_start=[float(v.start or 0.0) for v in yv],
        p_default=[float(v.start or 0.0) for v in pv],
        x_nominal=x_nominal,
        max_tear=max_tear,
        n_blocks=len(meta["algebraic_blocks"]),
        block_linear=block_linear,
    )


def linear_coefficient(ops: list[dict[str, Any]], y_index: int) -> float:
    """Coefficient c when a residual program is affine in ``y[y_index]`` with a constant c, else 0.

    Propagates d(temp)/dy through the scalar ops: loads of other values have slope 0, sums and
    differences add slopes, products and quotients with a constant scale them; any other operation
    on a value that depends on y makes the row nonlinear (0: solve it by Newton instead).  An
    affine row is then solved exactly with one evaluation: y = -r(y=0)/c.
    """
    slope: dict[int, float | None] = {}  # None: depends on y nonlinearly
    const: dict[int, float] = {}
    result: float | None = 0.0
    for op in ops:
        k = op["kind"]
        dst: int = op.get("dst", -1)  # -1: an op without a destination (StoreOutput)
        if k == "Const":
            slope[dst] = 0.0
            if op.get("value_class") == "finite":
                const[dst] = float(op["value"])
        elif k == "LoadY":
            slope[dst] = 1.0 if int(op["index"]) == y_index else 0.0
        elif k in ("LoadP", "LoadTime", "LoadIndexedP"):
            slope[dst] = 0.0
        elif k == "Move":
            slope[dst] = slope.get(op["src"])
            if op["src"] in const:
                const[dst] = const[op["src"]]
        elif k == "Unary":
            a = slope.get(op["arg"])
            if op["operator"] == "Neg":
                slope[dst] = None if a is None else -a
            else:
                slope[dst] = 0.0 if a == 0.0 else None
        elif k == "Binary":
            a, b = slope.get(op["lhs"]), slope.get(op["rhs"])
            o = op["operator"]
            if a == 0.0 and b == 0.0:
                slope[dst] = 0.0
            elif a is None or b is None:
                slope[dst] = None
            elif o == "Add":
                slope[dst] = a + b
            elif o == "Sub":
                slope[dst] = a - b
            elif o == "Mul" and b == 0.0 and op["rhs"] in const:
                slope[dst] = a * const[op["rhs"]]
            elif o == "Mul" and a == 0.0 and op["lhs"] in const:
                slope[dst] = b * const[op["lhs"]]
            elif o == "Div" and b == 0.0 and op["rhs"] in const and const[op["rhs"]] != 0.0:
                slope[dst] = a / const[op["rhs"]]
            else:
                slope[dst] = None
        elif k in ("Compare", "Select"):
            operands = ("lhs", "rhs", "cond", "if_true", "if_false")
            deps = [slope.get(op[x]) for x in operands if x in op]
            slope[dst] = 0.0 if all(d == 0.0 for d in deps) else None
        elif k == "StoreOutput":
            result = slope.get(op["src"])
        else:
            return 0.0
    if result is None or result == 0.0 or result != result:
        return 0.0
    return float(result)


# --------------------------------------------------------------------------- code generation --
def _c_double(x: float) -> str:
    if x != x:
        return "NAN"
    if x in (float("inf"), float("-inf")):
        return "HUGE_VAL" if x > 0 else "(-HUGE_VAL)"
    return repr(float(x))


def _c_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_header(info: ModelInfo, entry: ModelEntry, fleet: int | None, guid: str) -> str:
    """Return ``v2x_config.h`` for the shell."""

    def arr(ctype: str, name: str, vals: list[str]) -> str:
        body = ", ".join(vals) if vals else "0"
        return f"static const {ctype} {name}[{max(len(vals), 1)}] = {{ {body} }};\n"

    lines = [
        "/* Generated by v2xcosim.fmu.build. Do not edit. */\n",
        "#ifndef V2X_CONFIG_H\n#define V2X_CONFIG_H\n",
        f"#define V2X_GUID {_c_str(guid)}\n",
        f"#define V2X_NY {info.ny}\n#define V2X_NP {info.np}\n#define V2X_NX {info.nx}\n",
        f"#define V2X_NBLK {fleet or 1}\n#define V2X_FLEET {1 if fleet else 0}\n",
        f"#define V2X_FLEET_PREFIX {_c_str(entry.fleet_prefix)}\n",
        f"#define V2X_MAXTEAR {info.max_tear}\n",
        f"#define V2X_SOLVER {SOLVERS[entry.solver]}\n",
        f"#define V2X_RTOL_DEFAULT {_c_double(entry.rtol)}\n",
        arr("double", "v2x_y_start", [_c_double(x) for x in info.y_start]),
        arr("double", "v2x_p_default", [_c_double(x) for x in info.p_default]),
        arr("double", "v2x_x_nominal", [_c_double(x) for x in info.x_nominal]),
        # declared ranges (none: unbounded)
        arr("double", "v2x_p_min", [_c_double(-inf if v.minimum is None else v.minimum)
                                    for v in info.p_vars]),
        arr("double", "v2x_p_max", [_c_double(inf if v.maximum is None else v.maximum)
                                    for v in info.p_vars]),
        arr("int", "v2x_p_kind", [str(k) for k in info.p_kind]),
        arr("int", "v2x_y_settable", [str(k) for k in info.y_settable]),
        arr("char *", "v2x_y_names", [_c_str(v.name) for v in info.y_vars]),
        arr("char *", "v2x_p_names", [_c_str(v.name) for v in info.p_vars]),
        "#endif\n",
    ]
    return "".join(lines).replace("static const char *", "static const char *const ")


def blocks_source(info: ModelInfo, blocks: list[dict[str, Any]]) -> str:
    """Return ``v2x_blocks.c``: the algebraic blocks in evaluation order as straight-line C.

    Affine one-variable blocks (coefficient found by :func:`linear_coefficient`) become
    ``y = -r(y=0)/c`` with the row function inlined; the others call the shell's Newton solver.
    """
    lines = [
        "/* Generated by v2xcosim.fmu.build. Do not edit. */",
        "static int v2x_solve_blocks_generated("
        "double t, double *y, const double *p, int *fail_y) {",
    ]
    for ib, blk in enumerate(blocks):
        c = info.block_linear[ib]
        if c != 0.0:
            k, row = int(blk["y_indices"][0]), int(blk["rows"][0])
            lines += [
                f"    y[{k}] = 0.0;",
                f"    y[{k}] = -v2x_res_{row}(t, y, p) / {_c_double(c)};",
                f"    if (!isfinite(y[{k}])) {{ *fail_y = {k}; return -1; }}",
            ]
        else:
            lines.append(f"    if (v2x_solve_block({ib}, t, y, p, fail_y) != 0) return -1;")
    lines += ["    (void)t; (void)y; (void)p; (void)fail_y;", "    return 0;", "}", ""]
    return "\n".join(lines)


def _fmt(x: float) -> str:
    return repr(float(x))


def _braces(text: str) -> str:
    """Escape ``text`` for use as literal text in a :meth:`str.format` template."""
    return text.replace("{", "{{").replace("}", "}}")


def _hidden_in_fleet(v: ScalarVar, nx: int) -> bool:
    """Tell whether a fleet FMU leaves this variable out of modelDescription.xml.

    A fleet lists per vehicle its inputs, outputs, parameters, states and state derivatives;
    internal algebraic variables and calculated parameters of the sub-components stay inside the
    kernel (a single-vehicle FMU lists them all).  At N = 1000 this roughly halves the size of
    the XML that every importer parses.
    """
    if v.space == "Y":
        return v.index >= nx and v.causality == "local"
    if v.space == "P":
        return v.causality in ("calculatedParameter", "local")
    return False


def model_description(
    info: ModelInfo,
    entry: ModelEntry,
    identifier: str,
    fleet: int | None,
    guid: str,
    sources: list[str],
) -> str:
    """Return ``modelDescription.xml`` (FMI 2.0, ME + CS) for the model or its fleet."""
    nblk = fleet or 1
    stride = info.ny + info.np + info.nx
    units: set[str] = set()
    rows: list[str] = []
    outputs: list[int] = []
    derivs: list[int] = []
    initial_unknowns: list[int] = []
    index = 0

    # Every vehicle of a fleet lists the same variables, so each row is rendered once (block 0)
    # as a template and stamped per vehicle with its name prefix, value references and indices:
    # at N = 1000 this keeps the XML from dominating the build time.
    prefix_tpl = f"{entry.fleet_prefix}[{{b}}]." if fleet else ""
    der_vars = [
        ScalarVar(
            name=f"der({sv.name})",
            space="DX",
            index=k,
            causality="local",
            variability="continuous",
            initial="calculated",
            start=None,
            unit=(f"({sv.unit})/s" if sv.unit and sv.unit != "1" else "1/s"),
            description=f"time derivative of {sv.name}",
            derivative_of=k,
        )
        for k, sv in enumerate(info.y_vars[: info.nx])
    ]
    listed: list[tuple[int, ScalarVar]] = [
        (vr_local, v)
        for vr_local, v in enumerate([*info.y_vars, *info.p_vars, *der_vars])
        if not (fleet and _hidden_in_fleet(v, info.nx))
    ]
    n_listed = len(listed)
    local_of_state = {
        v.index: pos for pos, (_, v) in enumerate(listed) if v.space == "Y" and v.index < info.nx
    }
    templates: list[str] = []
    outputs_local: list[int] = []
    derivs_local: list[int] = []
    initial_local: list[int] = []
    for pos, (vr_local, v) in enumerate(listed):
        base = info.y_vars[v.index].name if v.space == "DX" else v.name
        esc = _braces(xml_escape(base, {'"': "&quot;"}))
        name = f"der({prefix_tpl}{esc})" if v.space == "DX" else f"{prefix_tpl}{esc}"
        attrs = [f'name="{name}"', f'valueReference="{{vr{vr_local}}}"']
        if v.description:
            attrs.append(f"description={_braces(quoteattr(v.description))}")
        attrs.append(f'causality="{v.causality}"')
        attrs.append(f'variability="{v.variability}"')
        if v.initial and v.causality != "input":
            attrs.append(f'initial="{v.initial}"')
        type_attrs: list[str] = []
        if v.kind == "Real":
            if v.unit:
                units.add(v.unit)
                type_attrs.append(f"unit={_braces(quoteattr(v.unit))}")
            if v.derivative_of is not None:
                type_attrs.append(f'derivative="{{i{local_of_state[v.derivative_of]}}}"')
            if v.nominal:
                type_attrs.append(f'nominal="{_fmt(abs(v.nominal))}"')
            if v.minimum is not None:
                type_attrs.append(f'min="{_fmt(v.minimum)}"')
            if v.maximum is not None:
                type_attrs.append(f'max="{_fmt(v.maximum)}"')
        has_start = v.causality == "input" or v.initial in ("exact", "approx")
        if has_start and v.start is not None:
            s = str(round(v.start)) if v.kind == "Integer" else _fmt(v.start)
            type_attrs.append(f'start="{s}"')
        templates.append(
            f"    <ScalarVariable {' '.join(attrs)}>\n"
            f"      <{v.kind} {' '.join(type_attrs)}/>\n"
            "    </ScalarVariable>"
        )
        if v.causality == "output":
            outputs_local.append(pos)
        if v.derivative_of is not None:
            derivs_local.append(pos)
        calculated_state = v.space == "Y" and v.index < info.nx and v.initial == "calculated"
        if (
            (v.causality == "output" and v.initial in ("calculated", "approx"))
            or v.causality == "calculatedParameter"
            or v.space == "DX"
            or calculated_state
        ):
            initial_local.append(pos)
    for b in range(nblk):
        first = b * n_listed + 1  # 1-based index of this vehicle's first listed variable
        fields: dict[str, int] = {f"vr{vr_local}": b * stride + vr_local for vr_local, _ in listed}
        fields.update({f"i{pos}": first + pos for pos in local_of_state.values()})
        fields["b"] = b + 1
        rows.extend(t.format_map(fields) for t in templates)
        outputs.extend(first + pos for pos in outputs_local)
        derivs.extend(first + pos for pos in derivs_local)
        initial_unknowns.extend(first + pos for pos in initial_local)
    index = nblk * n_listed
    # shell parameters
    extra = [
        (
            "solver.rtol",
            "relative tolerance of the Co-Simulation integrator "
            "(error per step, scaled by |x| and the state nominal)",
            entry.rtol,
            "1",
        ),
        (
            "solver.max_step_s",
            "largest internal step of the Co-Simulation integrator, s (0 = no limit)",
            0.0,
            "s",
        ),
    ]
    for j, (nm, desc, start, unit) in enumerate(extra):
        index += 1
        units.add(unit)
        rows.append(
            f"    <ScalarVariable name={quoteattr(nm)} valueReference=\"{nblk * stride + j}\" "
            f"description={quoteattr(desc)} "
            'causality="parameter" variability="tunable" initial="exact">\n'
            f'      <Real unit={quoteattr(unit)} start="{_fmt(start)}"/>\n'
            "    </ScalarVariable>"
        )
    if fleet:
        index += 1
        rows.append(
            f'    <ScalarVariable name="solver.threads" valueReference="{nblk * stride + 2}" '
            'description="threads that integrate the vehicles of this fleet FMU in parallel: '
            "0 = automatic (one per CPU this process may use, at most one per 64 vehicles), "
            '1 = only the calling thread; results do not depend on it" '
            'causality="parameter" variability="tunable" initial="exact">\n'
            '      <Integer start="0"/>\n'
            "    </ScalarVariable>"
        )
    src = "\n".join(f'      <File name="{s}"/>' for s in sources)
    unit_defs = "\n".join(f"    <Unit name={quoteattr(u)}/>" for u in sorted(units))
    desc = entry.description or f"{entry.modelica_class} built by v2xcosim"
    if fleet:
        desc += f" (fleet of {fleet}, variables {entry.fleet_prefix}[1..{fleet}].*)"
    caps = (
        'canGetAndSetFMUstate="true" canSerializeFMUstate="true" '
        'providesDirectionalDerivative="false" canNotUseMemoryManagementFunctions="true"'
    )

    def unknowns(tag: str, indices: list[int]) -> str:
        if not indices:
            return ""
        body = "\n".join(f'      <Unknown index="{i}"/>' for i in indices)
        return f"    <{tag}>\n{body}\n    </{tag}>\n"

    variables = "\n".join(rows)
    structure = (
        unknowns("Outputs", outputs)
        + unknowns("Derivatives", derivs)
        + unknowns("InitialUnknowns", sorted(initial_unknowns))
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<fmiModelDescription fmiVersion="2.0" modelName={quoteattr(entry.modelica_class)} '
        f'guid="{guid}" description={quoteattr(desc)} '
        f'generationTool="v2xcosim {PIPELINE_VERSION} (rumoca 0.10.2)" '
        'variableNamingConvention="structured" numberOfEventIndicators="0">\n'
        f'  <ModelExchange modelIdentifier="{identifier}" {caps} '
        'completedIntegratorStepNotNeeded="true">\n'
        f"    <SourceFiles>\n{src}\n    </SourceFiles>\n  </ModelExchange>\n"
        f'  <CoSimulation modelIdentifier="{identifier}" {caps} '
        'canHandleVariableCommunicationStepSize="true" '
        'canInterpolateInputs="false" maxOutputDerivativeOrder="0" canRunAsynchronuously="false">\n'
        f"    <SourceFiles>\n{src}\n    </SourceFiles>\n  </CoSimulation>\n"
        f"  <UnitDefinitions>\n{unit_defs}\n  </UnitDefinitions>\n"
        "  <LogCategories>\n"
        '    <Category name="logStatusError" description="errors"/>\n'
        "  </LogCategories>\n"
        '  <DefaultExperiment startTime="0.0" stopTime="3600.0" '
        f'tolerance="{_fmt(entry.rtol)}" stepSize="60.0"/>\n'
        f"  <ModelVariables>\n{variables}\n  </ModelVariables>\n"
        f"  <ModelStructure>\n{structure}  </ModelStructure>\n"
        "</fmiModelDescription>\n"
    )


# --------------------------------------------------------------------------- rumoca -----------
def _rumoca_error(exc: Exception, entry: ModelEntry, mdir: Path) -> ScenarioError:
    import rumoca

    diags = list(getattr(exc, "diagnostics", None) or [])
    if not diags:
        # e.g. "parse source-root files": validate each file to find where the problem is
        for f in sorted(mdir.rglob("*.mo")):
            try:
                found = [d for d in rumoca.validate(str(f)) if d.level == "error"]
            except Exception:  # best effort diagnosis only
                found = []
            if found:
                diags.extend(found[:1])
                break
    lines = []
    for d in diags:
        loc = f"{d.file or '?'}:{d.line or '?'}:{d.column or '?'}"
        msg_lines = [ln for ln in str(d.message).splitlines() if ln.strip()][:8]
        m_loc = re.search(r"\[([^\]]+\.mo):(\d+):(\d+)\]", str(d.message))
        if m_loc:
            loc = f"{m_loc.group(1)}:{m_loc.group(2)}:{m_loc.group(3)}"
        rule = f" [{d.rule}]" if d.rule else ""
        lines.append(f"  {loc}: {d.level}: " + "\n    ".join(msg_lines) + rule)
    msg = str(exc).strip().splitlines()
    head = msg[0] if msg else type(exc).__name__
    text = f"model {entry.name} ({entry.modelica_class}) in {mdir} does not compile: {head}"
    if "unsupported-feature" in str(exc) or "does not support" in str(exc):
        text += f"\n  {SUBSET_HELP}"
    if lines:
        text += "\n" + "\n".join(lines)
    return ScenarioError(text)


def check_subset(mdir: Path) -> None:
    """Reject sources outside the supported subset.

    Raises :class:`ModelicaSubsetError` (file, line, construct) if the sources under ``mdir`` use
    a construct the pipeline cannot compile.
    """
    violations = scan_tree(mdir)
    if violations:
        first = violations[0]
        listing = "\n".join(f"  {v}" for v in violations[:20])
        raise ModelicaSubsetError(
            "Modelica sources use constructs outside the supported subset:\n"
            f"{listing}\n  {SUBSET_HELP}",
            file=str(first.file),
            line=first.line,
            construct=first.construct,
        )


def generate(entry: ModelEntry, mdir: Path) -> tuple[str, dict[str, Any]]:
    """Compile the model with rumoca and render the project's target: (kernel C, metadata).

    The sources must have passed :func:`check_subset`.
    """
    import rumoca

    pkg = entry.modelica_class.split(".")[0]
    pkg_file = mdir / pkg / "package.mo"
    if not pkg_file.is_file():
        raise ScenarioError(
            f"{pkg_file}: not found; model {entry.name} names class {entry.modelica_class}"
        )
    try:
        session = rumoca.Session(roots=[str(mdir)])
        model = session.load(str(pkg_file), model=entry.modelica_class)
        result = model.codegen(str(TARGET_DIR))
    except (rumoca.RumocaError, RuntimeError) as exc:
        raise _rumoca_error(exc, entry, mdir) from None
    files = {Path(f.path).name: f.content for f in result.files}
    return files["kernel.c"], _minijinja_to_json(files["meta.json"])


def source_digest(mdir: Path) -> str:
    """Return the sha256 over every ``.mo`` file and ``fmus.toml`` below ``mdir`` (path + bytes)."""
    h = hashlib.sha256()
    for p in sorted([*mdir.rglob("*.mo"), mdir / "fmus.toml"]):
        if p.is_file():
            h.update(p.relative_to(mdir).as_posix().encode() + b"\0")
            h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def _pipeline_digest() -> str:
    h = hashlib.sha256(PIPELINE_VERSION.encode())
    for d in (TARGET_DIR, SHELL_DIR):
        for p in sorted(d.iterdir()):
            if p.is_file():
                h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()


def cache_key(entry: ModelEntry, mdir: Path, fleet: int | None, cc: str) -> str:
    """Content hash deciding whether a cached FMU can be reused."""
    h = hashlib.sha256()
    for part in (
        source_digest(mdir),
        _pipeline_digest(),
        compiler_id(cc),
        " ".join(CFLAGS),
        f"fleet={fleet or 0}",
        json.dumps(entry.__dict__, sort_keys=True),
        platform.machine(),
    ):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


def identifier_for(name: str, fleet: int | None) -> str:
    """FMU model identifier (and file stem): ``EV`` or ``EV_fleet10``."""
    return f"{name}_fleet{fleet}" if fleet else name


def _platform_dir() -> str:
    machine = platform.machine().lower()
    bits = "64" if sys.maxsize > 2**32 else "32"
    if sys.platform.startswith("linux"):
        if machine in ("x86_64", "amd64", "i686", "i386"):
            return f"linux{bits}"
        return f"{machine}-linux"
    if sys.platform == "darwin":
        return "darwin64"
    return f"win{bits}"


CACHE_KEEP = 3
"""Cached builds kept per FMU identifier (the most recently built or used)."""


def _prune_cache(cache: Path, ident: str, keep: Path) -> None:
    """Delete all but the :data:`CACHE_KEEP` most recently used cached builds of ``ident``.

    Every edit of a model's sources makes a new cache entry; without pruning ``fmus/.cache``
    grows by one archive per edit and model (up to a few MB for large fleets).
    """
    entries = [p for p in cache.glob(f"{ident}-*.fmu") if p.name[len(ident) + 1 :][:-4].isalnum()]
    entries.sort(key=lambda p: (p != keep, -p.stat().st_mtime_ns, p.name))
    for old in entries[CACHE_KEEP:]:
        old.unlink(missing_ok=True)


def _write_zip(dest: Path, files: dict[str, bytes]) -> None:
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for arc in sorted(files):
            zi = zipfile.ZipInfo(arc, date_time=_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o100644 << 16  # regular file, rw-r--r--
            zi.create_system = 3
            zf.writestr(zi, files[arc], compresslevel=6)
    tmp.replace(dest)


@dataclass(frozen=True)
class BuildResult:
    """Outcome of building one FMU."""

    path: Path
    identifier: str
    cached: bool
    seconds: float
    key: str


def build_fmu(
    name: str,
    *,
    fleet: int | None = None,
    out_dir: Path | None = None,
    mdir: Path | None = None,
    force: bool = False,
) -> Path:
    """Build (or take from the cache) the FMU of model ``name``; returns the ``.fmu`` path."""
    return build_one(name, fleet=fleet, out_dir=out_dir, mdir=mdir, force=force).path


def build_one(
    name: str,
    *,
    fleet: int | None = None,
    out_dir: Path | None = None,
    mdir: Path | None = None,
    force: bool = False,
) -> BuildResult:
    """Build one model (optionally a fleet of ``fleet`` copies) into ``out_dir``."""
    t0 = time.perf_counter()
    mdir = (mdir or models_dir()).resolve()
    out_dir = (out_dir or fmus_dir()).resolve()
    registry = read_registry(mdir)
    if name not in registry:
        listed = ", ".join(sorted(registry)) or "(none)"
        raise ScenarioError(f"unknown model {name!r}; models/fmus.toml lists: {listed}")
    if fleet is not None and fleet < 1:
        raise ScenarioError(f"--fleet must be a positive integer, got {fleet}")
    entry = registry[name]
    # what the user can fix in the sources is reported before what the machine lacks
    check_subset(mdir)
    cc = find_compiler()
    ident = identifier_for(name, fleet)
    key = cache_key(entry, mdir, fleet, cc)
    cache = out_dir / ".cache"
    cached_fmu = cache / f"{ident}-{key[:24]}.fmu"
    dest = out_dir / f"{ident}.fmu"
    if cached_fmu.is_file() and not force:
        try:
            os.utime(cached_fmu)  # recently used: kept by _prune_cache
            if not dest.is_file() or dest.read_bytes() != cached_fmu.read_bytes():
                tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
                shutil.copyfile(cached_fmu, tmp)
                tmp.replace(dest)
            return BuildResult(dest, ident, True, time.perf_counter() - t0, key)
        except FileNotFoundError:
            pass  # pruned by a concurrent build of another version: build it again

    kernel_c, meta = generate(entry, mdir)
    info = parse_meta(meta)
    guid = "{" + str(uuid.UUID(key[:32])) + "}"
    headers = fmi2_headers_dir()
    src_files: dict[str, bytes] = {
        "kernel.c": kernel_c.encode(),
        "v2x_fmi2.c": (SHELL_DIR / "v2x_fmi2.c").read_bytes(),
        "v2x_kernel.h": (SHELL_DIR / "v2x_kernel.h").read_bytes(),
        "v2x_config.h": config_header(info, entry, fleet, guid).encode(),
        "v2x_blocks.c": blocks_source(info, meta["algebraic_blocks"]).encode(),
    }
    for h in ("fmi2Functions.h", "fmi2FunctionTypes.h", "fmi2TypesPlatform.h"):
        src_files[h] = (headers / h).read_bytes()
    md = model_description(info, entry, ident, fleet, guid, ["v2x_fmi2.c"])
    with tempfile.TemporaryDirectory(prefix="v2x-build-") as td:
        tdir = Path(td)
        for fn, data in src_files.items():
            (tdir / fn).write_bytes(data)
        so = f"{ident}.so"
        cmd = [cc, *CFLAGS, "-I.", "-o", so, "v2x_fmi2.c", "-lm"]
        try:
            res = subprocess.run(
                cmd, cwd=tdir, capture_output=True, text=True, timeout=600, check=False
            )
        except OSError as exc:
            raise ToolMissingError(
                f"cannot run the C compiler {cc!r}: {exc}; install gcc"
            ) from None
        if res.returncode != 0:
            raise SimulationError(
                f"compiling model {name} failed ({' '.join(cmd)}):\n{res.stderr.strip()[:4000]}"
            )
        binary = (tdir / so).read_bytes()
    files: dict[str, bytes] = {"modelDescription.xml": md.encode()}
    for fn, data in src_files.items():
        files[f"sources/{fn}"] = data
    files[f"binaries/{_platform_dir()}/{ident}.so"] = binary
    build_info = {
        "model": name,
        "class": entry.modelica_class,
        "fleet": fleet or 0,
        "cache_key": key,
        "model_sources_sha256": source_digest(mdir),
        "pipeline_version": PIPELINE_VERSION,
        "compiler": compiler_id(cc),
        "cflags": list(CFLAGS),
        "solver": entry.solver,
        "states": info.nx,
        "y_scalars": info.ny,
        "p_scalars": info.np,
    }
    build_json = json.dumps(build_info, indent=2, sort_keys=True) + "\n"
    files["resources/v2x_build.json"] = build_json.encode()
    cache.mkdir(parents=True, exist_ok=True)  # only now: a failed build leaves no empty folders
    _write_zip(cached_fmu, files)
    _prune_cache(cache, ident, keep=cached_fmu)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.copyfile(cached_fmu, tmp)
    tmp.replace(dest)
    return BuildResult(dest, ident, False, time.perf_counter() - t0, key)


# --------------------------------------------------------------------------- CLI --------------
def _cmd_build(args: argparse.Namespace) -> int:
    mdir = Path(args.models).resolve() if args.models else models_dir()
    registry = read_registry(mdir)
    names = list(args.model) or sorted(registry)
    out = Path(args.out).resolve() if args.out else fmus_dir()
    for n in names:
        res = build_one(n, fleet=args.fleet, out_dir=out, mdir=mdir, force=args.force)
        how = "cached" if res.cached else f"built in {res.seconds:.2f} s"
        print(f"{res.identifier}: {res.path} ({how})")
    return 0


def register(fmu_sub: Any) -> None:
    """Add ``v2xcosim fmu build`` to the ``fmu`` command group."""
    p = fmu_sub.add_parser(
        "build",
        help="build FMI 2.0 FMUs (ME + CS) from the Modelica models",
        description="Build FMI 2.0 FMUs from models/ (listed in models/fmus.toml).",
    )
    p.add_argument("model", nargs="*", help="model names from models/fmus.toml (default: all)")
    p.add_argument("--out", help="output directory (default: fmus/)")
    p.add_argument("--fleet", type=int, help="one FMU with N copies of the model (ev[1..N].*)")
    p.add_argument("--models", help="model directory (default: models/)")
    p.add_argument("--force", action="store_true", help="rebuild even if a cached FMU matches")
    p.set_defaults(handler=_cmd_build)
