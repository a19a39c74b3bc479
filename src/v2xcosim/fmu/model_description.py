"""``modelDescription.xml`` (FMI 2.0, Model Exchange + Co-Simulation) of a model or its fleet.

The variables come from the model's :class:`~v2xcosim.fmu.meta.ModelInfo`; value references
follow the shell's layout (``shell/v2x_fmi2.c``): vehicle b (0-based) owns the references
``b * stride + k`` for its Y, P and state-derivative slots, followed by the shell's own
parameters (``solver.*``).  A fleet lists every vehicle's variables under ``<prefix>[b].``;
each row is rendered once as a template and stamped per vehicle, so the XML of a large fleet
does not dominate the build time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from v2xcosim.fmu.meta import ModelInfo, ScalarVar
from v2xcosim.fmu.registry import ModelEntry
from v2xcosim.fmu.toolchain import PIPELINE_VERSION

_CAPABILITIES = (
    'canGetAndSetFMUstate="true" canSerializeFMUstate="true" '
    'providesDirectionalDerivative="false" canNotUseMemoryManagementFunctions="true"'
)


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


def _derivative_vars(info: ModelInfo) -> list[ScalarVar]:
    """Return the state derivatives ``der(x)``: the last slots of a vehicle's references."""
    return [
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


def _is_initial_unknown(v: ScalarVar, nx: int) -> bool:
    """Tell whether ``v`` belongs to ``<InitialUnknowns>`` (FMI 2.0, sec. 2.2.8)."""
    calculated_state = v.space == "Y" and v.index < nx and v.initial == "calculated"
    return (
        (v.causality == "output" and v.initial in ("calculated", "approx"))
        or v.causality == "calculatedParameter"
        or v.space == "DX"
        or calculated_state
    )


def _row_template(
    v: ScalarVar, vr_local: int, name_base: str, prefix_tpl: str, local_of_state: dict[int, int]
) -> str:
    """Return the ``<ScalarVariable>`` of ``v`` as a :meth:`str.format` template.

    Fields: ``{b}`` the 1-based vehicle number (in ``prefix_tpl``), ``{vr<n>}`` the value
    reference of local slot n, ``{i<n>}`` the 1-based index of listed variable n (``derivative``).
    """
    esc = _braces(xml_escape(name_base, {'"': "&quot;"}))
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
    return (
        f"    <ScalarVariable {' '.join(attrs)}>\n"
        f"      <{v.kind} {' '.join(type_attrs)}/>\n"
        "    </ScalarVariable>"
    )


@dataclass
class _Variables:
    """The ``<ModelVariables>`` rows and the 1-based indices ``<ModelStructure>`` refers to."""

    rows: list[str] = field(default_factory=list)
    units: set[str] = field(default_factory=set)
    outputs: list[int] = field(default_factory=list)
    derivatives: list[int] = field(default_factory=list)
    initial_unknowns: list[int] = field(default_factory=list)


def _model_variables(info: ModelInfo, entry: ModelEntry, fleet: int | None) -> _Variables:
    """Return the model's variables for every vehicle (one vehicle unless ``fleet``)."""
    stride = info.ny + info.np + info.nx
    # Every vehicle of a fleet lists the same variables, so each row is rendered once (block 0)
    # as a template and stamped per vehicle with its name prefix, value references and indices:
    # at N = 1000 this keeps the XML from dominating the build time.
    prefix_tpl = f"{entry.fleet_prefix}[{{b}}]." if fleet else ""
    listed: list[tuple[int, ScalarVar]] = [
        (vr_local, v)
        for vr_local, v in enumerate([*info.y_vars, *info.p_vars, *_derivative_vars(info)])
        if not (fleet and _hidden_in_fleet(v, info.nx))
    ]
    n_listed = len(listed)
    local_of_state = {
        v.index: pos for pos, (_, v) in enumerate(listed) if v.space == "Y" and v.index < info.nx
    }
    templates = [
        _row_template(
            v,
            vr_local,
            info.y_vars[v.index].name if v.space == "DX" else v.name,
            prefix_tpl,
            local_of_state,
        )
        for vr_local, v in listed
    ]
    outputs_local = [pos for pos, (_, v) in enumerate(listed) if v.causality == "output"]
    derivs_local = [pos for pos, (_, v) in enumerate(listed) if v.derivative_of is not None]
    initial_local = [pos for pos, (_, v) in enumerate(listed) if _is_initial_unknown(v, info.nx)]
    out = _Variables(units={v.unit for _, v in listed if v.kind == "Real" and v.unit})
    for b in range(fleet or 1):
        first = b * n_listed + 1  # 1-based index of this vehicle's first listed variable
        fields: dict[str, int] = {f"vr{vr_local}": b * stride + vr_local for vr_local, _ in listed}
        fields.update({f"i{pos}": first + pos for pos in local_of_state.values()})
        fields["b"] = b + 1
        out.rows.extend(t.format_map(fields) for t in templates)
        out.outputs.extend(first + pos for pos in outputs_local)
        out.derivatives.extend(first + pos for pos in derivs_local)
        out.initial_unknowns.extend(first + pos for pos in initial_local)
    return out


def _shell_parameters(entry: ModelEntry, fleet: int | None, first_vr: int) -> _Variables:
    """Return the shell's own parameters (``solver.*``) from value reference ``first_vr`` on."""
    out = _Variables()
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
        out.units.add(unit)
        out.rows.append(
            f'    <ScalarVariable name={quoteattr(nm)} valueReference="{first_vr + j}" '
            f"description={quoteattr(desc)} "
            'causality="parameter" variability="tunable" initial="exact">\n'
            f'      <Real unit={quoteattr(unit)} start="{_fmt(start)}"/>\n'
            "    </ScalarVariable>"
        )
    if fleet:
        out.rows.append(
            f'    <ScalarVariable name="solver.threads" valueReference="{first_vr + 2}" '
            'description="threads that integrate the vehicles of this fleet FMU in parallel: '
            "0 = automatic (one per CPU this process may use, at most one per 64 vehicles), "
            '1 = only the calling thread; results do not depend on it" '
            'causality="parameter" variability="tunable" initial="exact">\n'
            '      <Integer start="0"/>\n'
            "    </ScalarVariable>"
        )
    return out


def _unknowns(tag: str, indices: list[int]) -> str:
    if not indices:
        return ""
    body = "\n".join(f'      <Unknown index="{i}"/>' for i in indices)
    return f"    <{tag}>\n{body}\n    </{tag}>\n"


def model_description(
    info: ModelInfo,
    entry: ModelEntry,
    identifier: str,
    fleet: int | None,
    guid: str,
    sources: list[str],
) -> str:
    """Return ``modelDescription.xml`` (FMI 2.0, ME + CS) for the model or its fleet."""
    model = _model_variables(info, entry, fleet)
    shell = _shell_parameters(entry, fleet, (fleet or 1) * (info.ny + info.np + info.nx))
    src = "\n".join(f'      <File name="{s}"/>' for s in sources)
    units = sorted(model.units | shell.units)
    unit_defs = "\n".join(f"    <Unit name={quoteattr(u)}/>" for u in units)
    desc = entry.description or f"{entry.modelica_class} built by v2xcosim"
    if fleet:
        desc += f" (fleet of {fleet}, variables {entry.fleet_prefix}[1..{fleet}].*)"
    variables = "\n".join(model.rows + shell.rows)
    structure = (
        _unknowns("Outputs", model.outputs)
        + _unknowns("Derivatives", model.derivatives)
        + _unknowns("InitialUnknowns", sorted(model.initial_unknowns))
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<fmiModelDescription fmiVersion="2.0" modelName={quoteattr(entry.modelica_class)} '
        f'guid="{guid}" description={quoteattr(desc)} '
        f'generationTool="v2xcosim {PIPELINE_VERSION} (rumoca 0.10.2)" '
        'variableNamingConvention="structured" numberOfEventIndicators="0">\n'
        f'  <ModelExchange modelIdentifier="{identifier}" {_CAPABILITIES} '
        'completedIntegratorStepNotNeeded="true">\n'
        f"    <SourceFiles>\n{src}\n    </SourceFiles>\n  </ModelExchange>\n"
        f'  <CoSimulation modelIdentifier="{identifier}" {_CAPABILITIES} '
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
