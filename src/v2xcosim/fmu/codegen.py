"""C sources of an FMU: the model kernel from rumoca, and the shell's configuration and blocks.

* :func:`check_subset` rejects Modelica sources outside the supported subset;
* :func:`generate` compiles the model with rumoca and renders the project's target (``target/``):
  the C kernel ``kernel.c`` and the metadata ``meta.json``;
* :func:`config_header` writes ``v2x_config.h`` (sizes, start values, nominals, ranges, names)
  and :func:`blocks_source` ``v2x_blocks.c`` (the algebraic blocks as straight-line C) for the
  generic shell (``shell/``).
"""

from __future__ import annotations

import json
import re
from math import inf
from pathlib import Path
from typing import Any

from v2xcosim.core.errors import ModelicaSubsetError, ScenarioError
from v2xcosim.fmu.meta import ModelInfo
from v2xcosim.fmu.registry import ModelEntry
from v2xcosim.fmu.subset import SUBSET_HELP, scan_tree
from v2xcosim.fmu.toolchain import TARGET_DIR


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


def _c_double(x: float) -> str:
    if x != x:
        return "NAN"
    if x in (float("inf"), float("-inf")):
        return "HUGE_VAL" if x > 0 else "(-HUGE_VAL)"
    return repr(float(x))


def _c_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_header(info: ModelInfo, entry: ModelEntry, fleet: int | None, guid: str) -> str:
    """Return ``v2x_config.h`` for the shell.

    It names the shell's codes (``V2X_SOLVER_*``, ``V2X_P_*`` of ``shell/v2x_shell.h``), which
    the shell includes before it.
    """

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
        f"#define V2X_SOLVER V2X_SOLVER_{entry.solver.upper()}\n",
        f"#define V2X_RTOL_DEFAULT {_c_double(entry.rtol)}\n",
        arr("double", "v2x_y_start", [_c_double(x) for x in info.y_start]),
        arr("double", "v2x_p_default", [_c_double(x) for x in info.p_default]),
        arr("double", "v2x_x_nominal", [_c_double(x) for x in info.x_nominal]),
        # declared ranges (none: unbounded)
        arr(
            "double",
            "v2x_p_min",
            [_c_double(-inf if v.minimum is None else v.minimum) for v in info.p_vars],
        ),
        arr(
            "double",
            "v2x_p_max",
            [_c_double(inf if v.maximum is None else v.maximum) for v in info.p_vars],
        ),
        arr("int", "v2x_p_kind", [k.c_name for k in info.p_kind]),
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
