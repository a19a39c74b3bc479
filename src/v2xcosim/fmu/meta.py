"""The FMU's variable table, read from the metadata (``meta.json``) of the project's rumoca target.

:func:`parse_meta` turns the metadata into a :class:`ModelInfo`: one :class:`ScalarVar` per scalar
with its causality, variability, start value and attributes, the layout sizes, and for every
algebraic block whether it is affine in its one unknown (:func:`linear_coefficient`), so the
generated code can solve it in one evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from v2xcosim.core.errors import SimulationError


class ParamKind(IntEnum):
    """What a slot of the P vector is: the shell's ``V2X_P_*`` codes (``shell/v2x_shell.h``)."""

    PARAMETER = 0  # independent parameter: settable before initialization
    CALCULATED = 1  # dependent parameter, computed by the kernel's update
    INPUT = 2
    CONSTANT = 3

    @property
    def c_name(self) -> str:
        """The code's name in C (``V2X_P_INPUT``), as ``v2x_config.h`` writes it."""
        return f"V2X_P_{self.name}"


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
    p_kind: list[ParamKind]
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
    p_kind = [ParamKind.PARAMETER] * np_
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
                    p_kind[k] = ParamKind.INPUT
                    sv = ScalarVar(
                        space="P",
                        index=k,
                        causality="input",
                        variability="continuous",
                        initial=None,
                        start=start if start is not None else 0.0,
                        **common,
                    )
                elif k in dep_p:
                    p_kind[k] = ParamKind.CALCULATED
                    sv = ScalarVar(
                        space="P",
                        index=k,
                        causality="calculatedParameter",
                        variability="fixed",
                        initial="calculated",
                        start=start if start is not None else 0.0,
                        **common,
                    )
                elif attrs.get("tunable") is False or v.get("variability") == "constant":
                    p_kind[k] = ParamKind.CONSTANT
                    sv = ScalarVar(
                        space="P",
                        index=k,
                        causality="local",
                        variability="constant",
                        initial="exact",
                        start=start if start is not None else 0.0,
                        **common,
                    )
                else:
                    p_kind[k] = ParamKind.PARAMETER
                    sv = ScalarVar(
                        space="P",
                        index=k,
                        causality="parameter",
                        variability="fixed",
                        initial="exact",
                        start=start if start is not None else 0.0,
                        **common,
                    )
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
