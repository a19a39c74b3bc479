"""A fleet of EVs hosted by FMI 2.0 Co-Simulation FMUs through fmpy ``FMU2Slave`` (no mosaik).

Generic over any FMI 2.0 CS FMU.  Two layouts:

* **fleet FMU** (``fleet=True``): one instance carries N vehicles whose variables are named
  ``<prefix>[i].<name>`` with i = 1…N (``ev[3].p_set_w``); one ``fmi2SetReal``/``fmi2GetReal``
  call moves a whole vector.
* **single-EV FMU** (``fleet=False``): N instances of one FMU, variables named ``<name>``.

The archive is extracted once per :class:`FmuFleet`; instances are created once and can be
reused for a new run with :meth:`FmuFleet.reset`.  Every variable name given by the scenario is
checked against ``modelDescription.xml`` (fmpy itself ignores unknown names silently), with its
causality.  Inputs and outputs are checked for NaN/inf each step; a failing FMI call becomes an
:class:`~v2xcosim.core.errors.FmuCallError` naming function, instance and simulated time.
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError, SimulationError
from v2xcosim.fmu.archive import OpenedFmu
from v2xcosim.fmu.runtime import FmuRunner
from v2xcosim.fmu.variable_table import VariableTable, largest_index

FloatArray = npt.NDArray[np.float64]
ParamValue = float | int | bool | Sequence[float]


MAX_SITE_EVS = 2_000
"""Most vehicles one site (one fleet FMU, or as many single-EV instances) may hold.

The largest site shown to run: ``tests/test_scale.py::test_the_largest_site_runs`` (``slow``)
runs the demo with 2,000 vehicles in one fleet FMU for three 300-s steps — on a 2-core machine
about a minute, 1.7 GB resident (its ``modelDescription.xml`` declares every vehicle's
variables, 32.5 kB per vehicle: 65 MB).  10,000 vehicles (325 MB of XML) were still setting up
after 5 minutes at 7.5 GB resident, so beyond 2,000 a scenario is refused by ``validate``
(split the vehicles over several sites)."""

MAX_FLEET_FMU_EVS = 1_000
"""Most vehicles one fleet FMU holds when a fleet is split (:func:`fleet_chunks`).

N = 1000 opens in about 0.2 s warm (the description cache of :mod:`v2xcosim.fmu.variable_table`;
bench/RESULTS.md, section ``fleet``) and steps at the per-vehicle cost of any size; its
description (33 MB) stays far below the archive's limits, which refuse a 297-MB one (9,000
vehicles).  A larger fleet runs as several FMUs (:class:`ChunkedFleet`)."""

FLEET_DESCRIPTION_BYTES_PER_EV = 64 * 1024
"""Allowance [bytes] of ``modelDescription.xml`` per vehicle of a fleet FMU: twice the 32.5 kB
measured for the project's EV fleet; the archive's limit for the description follows it."""


def extract_fmu(
    path: Path, stack: contextlib.ExitStack, n_vehicles: int = 1, *, light: bool = True
) -> OpenedFmu:
    """Open ``path`` for the lifetime of ``stack`` through :func:`v2xcosim.fmu.archive.open_fmu`.

    The one place that unpacks an archive (size, ratio, path and platform checks; folder
    removed and working directory restored on exit).  The limit of the model description
    grows with ``n_vehicles`` (:data:`FLEET_DESCRIPTION_BYTES_PER_EV` each), so a large fleet
    FMU is not mistaken for a zip bomb.  ``light`` (default) reads the description through
    :mod:`v2xcosim.fmu.variable_table` (cached by the archive's SHA-256); ``False`` through
    fmpy's full parse.
    """
    from v2xcosim.fmu.archive import open_fmu

    allowance = n_vehicles * FLEET_DESCRIPTION_BYTES_PER_EV
    return stack.enter_context(open_fmu(path, description_allowance_bytes=allowance, light=light))


@dataclass(frozen=True)
class Variable:
    """One scalar variable of a model description."""

    name: str
    vr: int
    causality: str
    variability: str
    type: str
    min: float = -float("inf")
    max: float = float("inf")


def _float_or(x: object, default: float) -> float:
    """Return a ``min``/``max`` attribute (fmpy keeps its text) as a float, else ``default``."""
    try:
        return default if x is None else float(str(x))
    except ValueError:
        return default


def _variable(v: Any) -> Variable:
    """Return the :class:`Variable` of fmpy's ``ModelVariable`` or of a light ``VariableRow``."""
    return Variable(
        v.name,
        int(v.valueReference),
        v.causality,
        v.variability,
        v.type,
        _float_or(v.min, -float("inf")),
        _float_or(v.max, float("inf")),
    )


class FleetVariables(Mapping[str, Variable]):
    """The variables of an opened FMU as :class:`Variable` by name, each built on access.

    ``rows`` is :attr:`v2xcosim.fmu.archive.OpenedFmu.variables` (fmpy's variables or the light
    table): a fleet FMU of 1000 vehicles has 116,003 variables, of which a site reads a few
    per vehicle.
    """

    def __init__(self, rows: Mapping[str, Any]) -> None:
        """Wrap ``rows`` (name -> variable with fmpy's attribute names)."""
        self.rows = rows

    def __getitem__(self, name: str) -> Variable:
        return _variable(self.rows[name])

    def __contains__(self, name: object) -> bool:
        return name in self.rows

    def __iter__(self) -> Iterator[str]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def check_fmi2_cs(path: Path, md: Any) -> None:
    """Refuse a model description that is not FMI 2.0 with Co-Simulation."""
    if md.fmiVersion != "2.0" or md.coSimulation is None:
        raise ScenarioError(
            f"FMU {path}: needs FMI 2.0 Co-Simulation (has FMI {md.fmiVersion}, "
            f"co-simulation {'yes' if md.coSimulation else 'no'})"
        )


def read_variables(path: Path) -> tuple[Any, dict[str, Variable]]:
    """Read the model description of ``path`` with fmpy's full parse; refuse all but FMI 2.0 CS.

    The reference of the light table (:mod:`v2xcosim.fmu.variable_table`) that
    :class:`FmuFleet` reads.
    """
    from fmpy import read_model_description

    try:
        md = read_model_description(str(path))
    except Exception as exc:
        raise ScenarioError(f"FMU {path}: cannot read modelDescription.xml: {exc}") from None
    check_fmi2_cs(path, md)
    return md, {v.name: _variable(v) for v in md.modelVariables}


def _check(
    variables: Mapping[str, Variable],
    names: Sequence[str],
    causality: set[str],
    role: str,
    fmu: Path,
    problems: list[str],
) -> None:
    missing_bases: set[str] = set()
    for name in names:
        var = variables.get(name)
        if var is None:
            base = re.sub(r"^[^.]*\[\d+\]\.", "", name)
            if base in missing_bases:
                continue  # one problem per base name, not one per vehicle
            missing_bases.add(base)
            candidates = sorted(
                {
                    re.sub(r"^[^.]*\[\d+\]\.", "", v.name)
                    for v in variables.values()
                    if v.causality in causality
                }
            )
            known = f" (base name {base!r})" if base != name else ""
            problems.append(
                f"FMU {fmu.name} has no {role} {name!r}{known}; " + _closest(base, candidates, role)
            )
        elif var.causality not in causality:
            problems.append(
                f"FMU {fmu.name}: {name!r} has causality {var.causality!r}, a {role} needs "
                + " or ".join(sorted(causality))
            )
        elif role != "parameter" and var.type != "Real":
            problems.append(f"FMU {fmu.name}: {role} {name!r} must be Real (is {var.type})")


MAX_LISTED_NAMES = 10
"""Most variable names an "unknown name" message lists (the closest ones first)."""


def _closest(name: str, candidates: Sequence[str], role: str) -> str:
    """Say which of ``candidates`` come closest to ``name`` (at most :data:`MAX_LISTED_NAMES`)."""
    if not candidates:
        return f"it has no {role}s"
    close = difflib.get_close_matches(name, candidates, n=MAX_LISTED_NAMES, cutoff=0.5)
    if not close:
        close = list(candidates[:MAX_LISTED_NAMES])
        what = "some of its"
    else:
        what = "the closest of its"
    more = f" (of {len(candidates)})" if len(candidates) > len(close) else ""
    return f"{what} {role}s{more}: " + ", ".join(close)


def _check_range(
    base: str,
    value: ParamValue,
    per_vehicle: Sequence[Variable],
    fmu: Path,
    problems: list[str],
) -> None:
    """Report the first value of ``fmu.parameters.<base>`` outside its declared min/max.

    ``value`` is one value or one per EV; ``per_vehicle[i]`` is the variable EV ``i`` sets.
    """
    values = [float(x) for x in value] if isinstance(value, Sequence) else [float(value)]
    for i, (x, var) in enumerate(zip(values, per_vehicle, strict=False)):
        if not var.min <= x <= var.max:
            who = f"EV {i + 1}: " if len(values) > 1 else ""
            problems.append(
                f"fmu.parameters.{base}: {who}{x:g} is outside the range [{var.min:g}, "
                f"{var.max:g}] that FMU {fmu.name} declares for {var.name!r}; set a value within it"
            )
            return


def fleet_size(variables: Mapping[str, Any], prefix: str) -> int:
    """Return the number of vehicles in a fleet FMU (largest i of ``<prefix>[i].*``), 0 if none.

    One regular-expression scan over the names, each preceded by NUL (a character XML cannot
    hold, so each match starts a name); a light table keeps the answer for the next site.
    """
    rows = variables.rows if isinstance(variables, FleetVariables) else variables
    if isinstance(rows, VariableTable):
        return rows.largest_index(prefix)
    return largest_index(rows, prefix)


class FmuFleet:
    """N EVs in one fleet FMU or N single-EV FMU instances, stepped with vector I/O."""

    def __init__(
        self,
        fmu_path: Path,
        *,
        n: int,
        fleet: bool,
        inputs: Sequence[str],
        outputs: Sequence[str],
        parameters: Mapping[str, ParamValue],
        name: str,
        prefix: str = "ev",
        instance_parameters: Mapping[str, float | int | bool] | None = None,
    ) -> None:
        """Check names against the FMU, extract it and instantiate (not yet initialised).

        ``inputs``/``outputs``/``parameters`` use base names (``p_set_w``); ``name`` names the
        owner (site id) in messages.  ``instance_parameters`` are FMU-wide parameters under their
        exact names (``solver.rtol``, ``solver.threads``), set once per instance.
        """
        self.path = Path(fmu_path)
        self.name = name
        self.n = n
        self.fleet = fleet
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.parameters = dict(parameters)
        self.instance_parameters = dict(instance_parameters or {})
        self._stack = contextlib.ExitStack()
        self._instances: list[Any] = []  # fmpy FMU2Slave objects, one per instance
        self._runners: list[FmuRunner] = []
        self._initialised = False
        # the archive is checked, extracted and its description read (light, cached) first
        self._opened = extract_fmu(self.path, self._stack, n if fleet else 1)
        try:
            self.sha256 = self._opened.sha256
            self.model_description = self._opened.model_description
            check_fmi2_cs(self.path, self.model_description)
            self._prepare(FleetVariables(self._opened.variables), prefix)
            self._instantiate()
        except BaseException:
            self.close()
            raise

    def _prepare(self, variables: Mapping[str, Variable], prefix: str) -> None:
        """Check every name against the FMU; set up the value references and I/O buffers."""
        n, fleet, name = self.n, self.fleet, self.name

        def full(base: str, i: int) -> str:
            return f"{prefix}[{i + 1}].{base}" if fleet else base

        problems: list[str] = []
        if fleet:
            size = fleet_size(variables, prefix)
            if size != n:
                raise ScenarioError(
                    f"site {name}: FMU {self.path.name} holds {size} vehicles "
                    f"('{prefix}[i].*'), the site has n_evs = {n}; build a fleet FMU of {n} "
                    "or set fmu.fleet = false for single-EV FMUs"
                )
        per_ev = range(n) if fleet else range(1)
        _check(
            variables,
            [full(b, i) for b in self.inputs for i in per_ev],
            {"input"},
            "input",
            self.path,
            problems,
        )
        _check(
            variables,
            [full(b, i) for b in self.outputs for i in per_ev],
            {"output", "local"},
            "output",
            self.path,
            problems,
        )
        _check(
            variables,
            [full(b, i) for b in self.parameters for i in per_ev],
            {"parameter"},
            "parameter",
            self.path,
            problems,
        )
        wide = list(self.instance_parameters)
        _check(variables, wide, {"parameter"}, "parameter", self.path, problems)
        if not problems:
            for base, value in self.parameters.items():
                per_vehicle = [variables[full(base, i if fleet else 0)] for i in range(n)]
                _check_range(base, value, per_vehicle, self.path, problems)
        if problems:
            raise ScenarioError(f"site {name}: " + "\n  ".join(problems))
        # one row per base name, one column per EV (fleet) or per instance (single)
        cols = n if fleet else 1
        self._in_vr = np.array(
            [[variables[full(b, i)].vr for i in range(cols)] for b in self.inputs], dtype=np.uint32
        ).reshape(len(self.inputs), cols)
        self._out_vr = np.array(
            [[variables[full(b, i)].vr for i in range(cols)] for b in self.outputs],
            dtype=np.uint32,
        ).reshape(len(self.outputs), cols)
        self._param_vars = {
            b: [variables[full(b, i)] for i in range(cols)] for b in self.parameters
        }
        self._variables = variables
        self._full = full
        self._in_buf = np.zeros(self._in_vr.size, dtype=np.float64)
        self._out_buf = np.zeros(self._out_vr.size, dtype=np.float64)
        # ``.data`` is the array's (writable) memoryview: the ctypes arrays share its memory
        self._in_vr_c = (ctypes.c_uint32 * self._in_vr.size).from_buffer(
            np.ascontiguousarray(self._in_vr.reshape(-1)).copy().data
        )
        self._out_vr_c = (ctypes.c_uint32 * self._out_vr.size).from_buffer(
            np.ascontiguousarray(self._out_vr.reshape(-1)).copy().data
        )
        self._in_c = (ctypes.c_double * self._in_buf.size).from_buffer(self._in_buf.data)
        self._out_c = (ctypes.c_double * self._out_buf.size).from_buffer(self._out_buf.data)

    # ------------------------------------------------------------------------- FMI calls
    def _call(self, inst: int, function: str, time_s: float, fn: Any, *args: Any) -> Any:
        """Make an FMI call through the instance's runner (the one choke point for errors)."""
        label = f"{self.name}/{inst}" if not self.fleet else self.name
        return self._runners[inst].call(function, lambda: fn(*args), time_s=time_s, owner=label)

    def _instantiate(self) -> None:
        """Instantiate through :class:`FmuRunner`, which keeps the FMU's log messages."""
        count = 1 if self.fleet else self.n
        cwd = Path.cwd()
        for i in range(count):
            try:
                runner = FmuRunner(self._opened, instance_name=f"{self.name}_{i}")
            except Exception as exc:  # fmpy raises OSError or its own exceptions here
                raise ScenarioError(
                    f"site {self.name}: cannot load FMU {self.path}: {exc} (is there a binary "
                    "for this platform?)"
                ) from None
            finally:
                os.chdir(cwd)  # fmpy may leave the cwd inside the extraction folder
            self._runners.append(runner)
            self._instances.append(runner.fmu)

    def initialise(self, start_time_s: float, per_ev: Mapping[str, Sequence[float]]) -> None:
        """Set parameters (scenario values, then ``per_ev`` overrides) and initialise."""
        params: dict[str, Any] = {**self.parameters, **{k: list(v) for k, v in per_ev.items()}}
        cols = 1 if not self.fleet else self.n
        for k in per_ev:
            if k not in self._param_vars:
                problems: list[str] = []
                _check(
                    self._variables,
                    [self._full(k, 0)],
                    {"parameter"},
                    "parameter",
                    self.path,
                    problems,
                )
                if problems:
                    raise ScenarioError(f"site {self.name}: " + "\n  ".join(problems))
                self._param_vars[k] = [self._variables[self._full(k, i)] for i in range(cols)]
        for idx, slave in enumerate(self._instances):
            self._call(
                idx, "fmi2SetupExperiment", start_time_s, slave.setupExperiment, None, start_time_s
            )
            for nm, val in self.instance_parameters.items():
                self._set_parameter(idx, slave, self._variables[nm], val, start_time_s)
            for base, value in params.items():
                values = list(value) if isinstance(value, list | tuple) else [value] * self.n
                vars_ = self._param_vars[base]
                if self.fleet:
                    pairs = list(zip(vars_, values, strict=True))
                else:
                    pairs = [(vars_[0], values[idx])]
                for var, val in pairs:
                    self._set_parameter(idx, slave, var, val, start_time_s)
            self._call(
                idx, "fmi2EnterInitializationMode", start_time_s, slave.enterInitializationMode
            )
            self._call(
                idx, "fmi2ExitInitializationMode", start_time_s, slave.exitInitializationMode
            )
        self._initialised = True

    def _set_parameter(
        self, idx: int, slave: Any, var: Variable, val: float | int | bool, time_s: float
    ) -> None:
        """Set one parameter of instance ``idx`` with the setter of its type."""
        if var.type == "Real":
            self._call(idx, "fmi2SetReal", time_s, slave.setReal, [var.vr], [float(val)])
        elif var.type == "Boolean":
            self._call(idx, "fmi2SetBoolean", time_s, slave.setBoolean, [var.vr], [bool(val)])
        elif var.type in {"Integer", "Enumeration"}:
            self._call(idx, "fmi2SetInteger", time_s, slave.setInteger, [var.vr], [int(val)])
        else:
            raise ScenarioError(f"site {self.name}: parameter {var.name!r} has type {var.type}")

    def reset(self) -> None:
        """Reset every instance (``fmi2Reset``) so it can be initialised for a new run."""
        for idx, slave in enumerate(self._instances):
            self._call(idx, "fmi2Reset", 0.0, slave.reset)
        self._initialised = False

    def step(
        self, time_s: float, step_s: float, inputs: Mapping[str, FloatArray]
    ) -> dict[str, FloatArray]:
        """Set ``inputs`` (base name → vector of N), advance by ``step_s``, return outputs."""
        if not self._initialised:
            raise SimulationError(f"site {self.name}: FMU stepped before initialise()")
        cols = self._in_vr.shape[1]
        buf = self._in_buf.reshape(len(self.inputs), cols) if self.fleet else None
        for row, base in enumerate(self.inputs):
            vec = np.asarray(inputs[base], dtype=np.float64)
            if vec.shape != (self.n,):
                raise SimulationError(
                    f"site {self.name}: input {base} has shape {vec.shape}, expected ({self.n},) "
                    f"at t = {time_s:g} s"
                )
            if not np.all(np.isfinite(vec)):
                ev = int(np.flatnonzero(~np.isfinite(vec))[0])
                raise SimulationError(
                    f"site {self.name}: non-finite input {base} = {vec[ev]} for EV {ev} at "
                    f"t = {time_s:g} s; check the simulator that produced it"
                )
            if buf is not None:
                buf[row, :] = vec
        outs = np.empty((len(self.outputs), self.n), dtype=np.float64)
        if self.fleet:
            slave = self._instances[0]
            self._set_get(0, slave, time_s, step_s)
            outs[:, :] = self._out_buf.reshape(len(self.outputs), 1 if not self.fleet else self.n)
        else:
            stacked = (
                np.stack([np.asarray(inputs[b], dtype=np.float64) for b in self.inputs])
                if self.inputs
                else np.zeros((0, self.n))
            )
            for i, slave in enumerate(self._instances):
                self._in_buf[:] = stacked[:, i]
                self._set_get(i, slave, time_s, step_s)
                outs[:, i] = self._out_buf
        if not np.all(np.isfinite(outs)):
            row, ev = (int(x[0]) for x in np.nonzero(~np.isfinite(outs)))
            raise SimulationError(
                f"site {self.name}: FMU {self.path.name} returned {self.outputs[row]} = "
                f"{outs[row, ev]} for EV {ev} at t = {time_s:g} s"
            )
        return {base: outs[row] for row, base in enumerate(self.outputs)}

    def _set_get(self, idx: int, slave: Any, time_s: float, step_s: float) -> None:
        if self._in_buf.size:
            self._call(
                idx,
                "fmi2SetReal",
                time_s,
                slave.fmi2SetReal,
                slave.component,
                self._in_vr_c,
                self._in_buf.size,
                self._in_c,
            )
        self._call(idx, "fmi2DoStep", time_s, slave.doStep, time_s, step_s)
        if self._out_buf.size:
            self._call(
                idx,
                "fmi2GetReal",
                time_s,
                slave.fmi2GetReal,
                slave.component,
                self._out_vr_c,
                self._out_buf.size,
                self._out_c,
            )

    def close(self) -> None:
        """Terminate and free every instance and remove the extraction folder."""
        for slave in self._instances:
            try:
                if self._initialised:
                    slave.terminate()
                slave.freeInstance()
            except Exception:
                pass
        self._instances = []
        self._runners = []
        self._initialised = False
        self._stack.close()

    def __enter__(self) -> FmuFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ----------------------------------------------------------------------------- split fleets
def fleet_chunks(n: int, max_size: int = MAX_FLEET_FMU_EVS) -> list[int]:
    """Return the sizes of the fleet FMUs that hold ``n`` vehicles, in vehicle order.

    ``ceil(n / max_size)`` FMUs whose sizes differ by at most one (at most two distinct sizes,
    so at most two FMU builds): 10 vehicles at most 4 per FMU -> [4, 3, 3]; 10,000 at most
    1000 -> ten of 1000.
    """
    if n < 1 or max_size < 1:
        raise ValueError(f"fleet_chunks: n = {n} and max_size = {max_size} must be >= 1")
    k = -(-n // max_size)
    base, extra = divmod(n, k)
    return [base + 1] * extra + [base] * (k - extra)


def build_fleet_fmus(model: str, n: int, max_size: int = MAX_FLEET_FMU_EVS) -> dict[int, Path]:
    """Build (cached) the fleet FMUs of ``model`` for ``n`` vehicles: size -> FMU path.

    One build per distinct size of :func:`fleet_chunks` (shared by every chunk of that size).
    """
    from v2xcosim.fmu.build import build_fmu

    return {k: Path(build_fmu(model, fleet=k)) for k in sorted(set(fleet_chunks(n, max_size)))}


def _slice(value: Any, a: int, b: int) -> Any:
    """Return the vehicles ``a:b`` of a per-vehicle value (list or tuple); keep a scalar."""
    return list(value[a:b]) if isinstance(value, list | tuple) else value


class ChunkedFleet:
    """A fleet of N vehicles run as several fleet FMUs of at most ``max(fmu_paths)`` each.

    The same interface as :class:`FmuFleet` (``n``, :meth:`initialise`, :meth:`step`,
    :meth:`reset`, :meth:`close`); vehicle ``i`` of the fleet is vehicle ``i - a`` of the chunk
    starting at ``a``.  Each vehicle of a fleet FMU integrates on its own, so the results per
    vehicle are those of one FMU of N (``tests/test_fleet_open.py``).
    """

    def __init__(
        self,
        fmu_paths: Mapping[int, Path],
        *,
        n: int,
        inputs: Sequence[str],
        outputs: Sequence[str],
        parameters: Mapping[str, ParamValue],
        name: str,
        prefix: str = "ev",
        instance_parameters: Mapping[str, float | int | bool] | None = None,
    ) -> None:
        """Open one :class:`FmuFleet` per chunk of :func:`fleet_chunks` (``n``, largest size).

        ``fmu_paths`` maps a fleet size to its FMU (:func:`build_fleet_fmus`); per-vehicle
        parameter values (lists of ``n``) are split over the chunks.
        """
        sizes = fleet_chunks(n, max(fmu_paths))
        missing = sorted(set(sizes) - set(fmu_paths))
        if missing:
            raise ScenarioError(
                f"site {name}: {n} vehicles run as fleet FMUs of sizes {sizes}; no FMU given "
                f"for size(s) {missing} (build them with build_fleet_fmus)"
            )
        for key, value in parameters.items():
            if isinstance(value, list | tuple) and len(value) != n:
                raise ScenarioError(
                    f"site {name}: parameter {key} has {len(value)} values for {n} vehicles"
                )
        self.n = n
        self.name = name
        self.outputs = list(outputs)
        self.bounds: list[tuple[int, int]] = []
        self.parts: list[FmuFleet] = []
        a = 0
        try:
            for size in sizes:
                b = a + size
                self.parts.append(
                    FmuFleet(
                        fmu_paths[size],
                        n=size,
                        fleet=True,
                        inputs=inputs,
                        outputs=outputs,
                        parameters={k: _slice(v, a, b) for k, v in parameters.items()},
                        name=f"{name} (EVs {a + 1}-{b})",
                        prefix=prefix,
                        instance_parameters=instance_parameters,
                    )
                )
                self.bounds.append((a, b))
                a = b
        except BaseException:
            self.close()
            raise

    def initialise(self, start_time_s: float, per_ev: Mapping[str, Sequence[float]]) -> None:
        """Initialise every chunk with its vehicles' values of ``per_ev``."""
        for part, (a, b) in zip(self.parts, self.bounds, strict=True):
            part.initialise(start_time_s, {k: list(v[a:b]) for k, v in per_ev.items()})

    def step(
        self, time_s: float, step_s: float, inputs: Mapping[str, FloatArray]
    ) -> dict[str, FloatArray]:
        """Step every chunk with its slice of ``inputs``; return the joined output vectors."""
        outs = {o: np.empty(self.n, dtype=np.float64) for o in self.outputs}
        for part, (a, b) in zip(self.parts, self.bounds, strict=True):
            res = part.step(
                time_s, step_s, {k: np.asarray(v, dtype=np.float64)[a:b] for k, v in inputs.items()}
            )
            for o in self.outputs:
                outs[o][a:b] = res[o]
        return outs

    def reset(self) -> None:
        """Reset every chunk (``fmi2Reset``)."""
        for part in self.parts:
            part.reset()

    def close(self) -> None:
        """Close every chunk."""
        for part in self.parts:
            part.close()

    def __enter__(self) -> ChunkedFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_fleet(
    fmu: Path | Mapping[int, Path],
    *,
    n: int,
    fleet: bool,
    inputs: Sequence[str],
    outputs: Sequence[str],
    parameters: Mapping[str, ParamValue],
    name: str,
    prefix: str = "ev",
    instance_parameters: Mapping[str, float | int | bool] | None = None,
) -> FmuFleet | ChunkedFleet:
    """Open a site's vehicles: one FMU (a path) or fleet FMUs by size (a mapping).

    A mapping whose one size is ``n`` is that single fleet FMU; otherwise a
    :class:`ChunkedFleet` (``fleet`` must be true).
    """
    kw: dict[str, Any] = {
        "n": n,
        "inputs": inputs,
        "outputs": outputs,
        "parameters": parameters,
        "name": name,
        "prefix": prefix,
        "instance_parameters": instance_parameters,
    }
    if not isinstance(fmu, Mapping):
        return FmuFleet(Path(fmu), fleet=fleet, **kw)
    if not fleet:
        raise ScenarioError(f"site {name}: FMUs by fleet size need fmu.fleet = true")
    if set(fmu) == {n}:
        return FmuFleet(Path(fmu[n]), fleet=True, **kw)
    return ChunkedFleet({int(k): Path(v) for k, v in fmu.items()}, **kw)


FleetFmus = Path | dict[int, Path]
"""A site's vehicles: one FMU, or fleet FMUs by size (:func:`fleet_chunks`)."""


def fleet_fmus(model: str, n: int, max_size: int = MAX_FLEET_FMU_EVS) -> FleetFmus:
    """Build (cached) the FMUs ``n`` vehicles of ``model`` run on.

    One fleet FMU of ``n`` when ``n <= max_size``, else the fleet FMUs by size of
    :func:`build_fleet_fmus`.
    """
    if n <= max_size:
        from v2xcosim.fmu.build import build_fmu

        return Path(build_fmu(model, fleet=n))
    return build_fleet_fmus(model, n, max_size)


def fleet_fmu_entries(name: str, fmus: FleetFmus) -> dict[str, Path]:
    """Return the preflight entries (name -> ``.fmu``, in ``metadata.json``) of ``fmus``.

    ``{name: path}`` for one FMU; ``{"<name>/fleet<k>": path}`` per size when split.
    """
    if isinstance(fmus, Path):
        return {name: fmus}
    return {f"{name}/fleet{k}": p for k, p in sorted(fmus.items())}


def fleet_fmus_of(name: str, entries: Mapping[str, Path]) -> FleetFmus:
    """Invert :func:`fleet_fmu_entries` for ``name``."""
    if name in entries:
        return Path(entries[name])
    head = f"{name}/fleet"
    split = {int(k[len(head) :]): Path(p) for k, p in entries.items() if k.startswith(head)}
    if not split:
        raise KeyError(name)
    return split
