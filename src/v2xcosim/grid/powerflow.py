"""One balanced three-phase AC power flow per co-simulation step (pandapower Newton-Raphson).

:class:`GridModel` owns a fresh pandapower network for one run.  Each :meth:`GridModel.step`
sets the loads (profile × nominal, power factor set explicitly), the PV systems (profile ×
peak, power factor set explicitly; they absorb reactive power when ``cos_phi < 1``) and the EV
chargers (aggregated per bus with one vector operation), runs ``pandapower.runpp`` and returns
a :class:`GridResult` in the load convention (W/var, positive = drawn from the grid).

Solver choices are fixed for determinism: Newton-Raphson, ``numba=False`` (no optional
accelerator switching in), warm start from the previous converged step (``init="results"``)
and a flat start after a diverged step so stale values never seed a solution.  A diverged step
returns ``converged=False`` and **no numbers** (None): never stale or zero results.

Chargers' voltage-dependent reactive power (Q(U)) is closed with the *previous* step's bus
voltage (the co-simulation connects voltages back time-shifted): within one step the grid sees
fixed P/Q injections.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError, SimulationError
from v2xcosim.core.units import W_PER_MW
from v2xcosim.grid import sources
from v2xcosim.grid.flow_arrays import FlowArrays

FloatArray = npt.NDArray[np.float64]


class PvPlant(Protocol):
    """A PV plant of a grid set-up (the schema is ``v2xcosim.config.grid.PvSpec``)."""

    @property
    def bus(self) -> str: ...  # noqa: D102
    @property
    def p_peak_kw(self) -> float: ...  # noqa: D102
    @property
    def cos_phi(self) -> float: ...  # noqa: D102
    @property
    def profile(self) -> str: ...  # noqa: D102


class GridSetup(Protocol):
    """What :class:`GridModel` reads of a grid section (``v2xcosim.config.grid.GridSpec``).

    ``network`` a source of :mod:`v2xcosim.grid.sources`; loads scaled by ``load_scaling`` and
    the load profile, at ``load_cos_phi``; ``pv`` plants; Newton-Raphson options and the
    non-convergence policy (``abort`` | ``flag``).
    """

    @property
    def network(self) -> str: ...  # noqa: D102
    @property
    def load_scaling(self) -> float: ...  # noqa: D102
    @property
    def load_profile(self) -> str | None: ...  # noqa: D102
    @property
    def load_cos_phi(self) -> float: ...  # noqa: D102
    @property
    def pv(self) -> Sequence[PvPlant]: ...  # noqa: D102
    @property
    def on_nonconvergence(self) -> str: ...  # noqa: D102
    @property
    def max_iteration(self) -> int: ...  # noqa: D102
    @property
    def tolerance_mva(self) -> float: ...  # noqa: D102
    @property
    def solver(self) -> str: ...  # noqa: D102


class LoadFlowError(SimulationError):
    """The power flow did not converge at a step (and the scenario says abort)."""

    def __init__(self, message: str, *, step: int, time_s: int) -> None:
        """Create the error for co-simulation ``step`` at simulated ``time_s`` [s]."""
        super().__init__(message)
        self.step = step
        self.time_s = time_s


@dataclass(frozen=True)
class GridResult:
    """Results of one step; lists are JSON-serialisable, None where the flow diverged."""

    converged: bool
    p_slack_w: float | None
    q_slack_var: float | None
    p_loss_w: float | None
    vm_pu: list[float | None]
    line_loading_percent: list[float | None]
    trafo_loading_percent: list[float | None]
    site_vm_pu: dict[str, list[float | None]] = field(default_factory=dict)
    p_trafo_hv_w: list[float | None] = field(default_factory=list)
    """Active power into each transformer at its HV side [W]: + = the LV side imports."""
    q_trafo_hv_var: list[float | None] = field(default_factory=list)
    """Reactive power into each transformer at its HV side [var], same sense."""


@dataclass(frozen=True)
class SiteConnection:
    """EVs of one site: the bus name of each EV (index = EV number in the site)."""

    site_id: str
    ev_buses: Sequence[str]


def _finite(name: str, values: FloatArray, where: str) -> None:
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise SimulationError(
            f"grid: non-finite input {name}[{bad}] = {values[bad]} {where}; "
            "check the simulator that produced it"
        )


@dataclass(frozen=True)
class PowerFlowOptions:
    """Newton-Raphson options and the non-convergence policy (``grid`` section of a scenario).

    ``on_nonconvergence``: ``"abort"`` stops the run with :class:`LoadFlowError`; ``"flag"``
    records the step as not converged and goes on.  ``solver``: ``"pandapower"`` (``runpp``,
    the reference) or ``"pgm"`` (power-grid-model, :mod:`v2xcosim.grid.pgm`).
    """

    max_iteration: int = 30
    tolerance_mva: float = 1e-8
    on_nonconvergence: str = "abort"
    solver: str = "pandapower"


SOLVERS = ("pandapower", "pgm")
"""The power-flow backends (``grid.solver``)."""


class PowerFlow:
    """The one power-flow wrapper every grid model uses (pandapower ``runpp``, Newton-Raphson).

    Warm start: after a converged step the next one starts from its results (``init =
    "results"``); the first step and the step after a failure start from ``cold_init``
    (pandapower's ``"auto"``: a DC power flow where transformers shift the phase, as SimBench's
    Dyn5 MV/LV transformers do — a flat start does not converge there).
    ``control = True`` runs the network's controllers (an OLTC's ``DiscreteTapControl``).

    With ``options.solver = "pgm"`` the network is converted to power-grid-model at the first
    solve (its topology, switch states and branch parameters are fixed from then on; element
    powers, their status and tap positions are read at every solve) and pandapower's own
    controller loop (``run_control``) drives the same controllers with power-grid-model as its
    power flow, so the tap logic is pandapower's.  The result tables are pandapower's.

    :meth:`arrays` gives the last converged solve's results as numpy arrays
    (:class:`~v2xcosim.grid.flow_arrays.FlowArrays`), the same values as the tables.
    ``tables = False`` lets power-grid-model skip writing pandapower's result tables when no
    controller runs (building them costs more than its solve); pandapower always writes them.
    A caller that passes it reads :meth:`arrays` only.
    """

    def __init__(
        self,
        net: Any,
        options: PowerFlowOptions,
        *,
        control: bool = False,
        cold_init: str = "auto",
        warm_start: bool = True,
        name: str = "grid",
        tables: bool = True,
    ) -> None:
        """Solve ``net`` (a pandapower network) with ``options``; ``name`` appears in errors.

        ``warm_start = False`` starts every step from ``cold_init``; ``tables`` as above.
        """
        import pandapower as pp

        self.tables = tables

        self._pp = pp
        self.net = net
        self.options = options
        self.control = control
        self.cold_init = cold_init
        self.name = name
        self.warm_start = warm_start
        self._warm = False
        if options.solver not in SOLVERS:
            raise ScenarioError(
                f"grid.solver: {options.solver!r} is not one of {', '.join(SOLVERS)}"
            )
        self._pgm: Any = None
        self.info: dict[str, Any]
        if options.solver == "pgm":
            from importlib.metadata import version

            from v2xcosim.grid import pgm

            pgm.check_supported(net)
            self.info = {
                "library": "power-grid-model",
                "version": version("power-grid-model"),
                "algorithm": "newton_raphson",
                "error_tolerance_pu": pgm.ERROR_TOLERANCE_PU,
                "source_sk_va": pgm.SK_SOURCE_VA,
                "max_iteration": options.max_iteration,
                "control": control,
                "converted_from": f"pandapower {pp.__version__}",
            }
            return
        self.info = {
            "library": "pandapower",
            "version": str(pp.__version__),
            "algorithm": "nr",
            "numba": False,
            "tolerance_mva": options.tolerance_mva,
            "max_iteration": options.max_iteration,
            "warm_start": warm_start,
            "control": control,
        }

    def solve(self, step: int, time_s: int) -> bool:
        """Solve the power flow of ``step`` (at ``time_s`` s); return whether it converged.

        A flow that does not converge raises :class:`LoadFlowError` under ``"abort"``.
        """
        opt = self.options
        if opt.solver == "pgm":
            return self._solve_pgm(step, time_s)
        try:
            self._pp.runpp(
                self.net,
                algorithm="nr",
                init="results" if self._warm else self.cold_init,
                max_iteration=opt.max_iteration,
                tolerance_mva=opt.tolerance_mva,
                numba=False,
                check_connectivity=True,
                run_control=self.control,
            )
            converged = bool(self.net.converged)
        except self._pp.powerflow.LoadflowNotConverged:
            converged = False
        self._warm = converged and self.warm_start
        return self._outcome(converged, step, time_s)

    @property
    def pgm_solver(self) -> Any:
        """The :class:`~v2xcosim.grid.pgm.PgmSolver` once converted (``pgm`` only), else None."""
        return self._pgm

    def _solve_pgm(self, step: int, time_s: int) -> bool:
        from v2xcosim.grid.pgm import PgmSolver

        if self._pgm is None:
            self._pgm = PgmSolver(self.net, max_iteration=self.options.max_iteration)
        net = self.net
        try:
            if self.control and "controller" in net and bool(net.controller.in_service.any()):
                from pandapower.control import run_control

                run_control(net, run=self._pgm.run)
            else:
                self._pgm.run(tables=self.tables)
            converged = bool(net.converged)
        except self._pp.powerflow.LoadflowNotConverged:
            converged = False
        return self._outcome(converged, step, time_s)

    def solve_batch(
        self, p_mw: dict[str, FloatArray], q_mvar: dict[str, FloatArray], *, threads: int = 1
    ) -> list[FlowArrays] | None:
        """Solve K operating points at once (``solver = "pgm"``, no controller); None if one fails.

        ``p_mw``/``q_mvar``: (K, rows) powers per appliance table, as
        :meth:`v2xcosim.grid.pgm.PgmSolver.solve_batch` takes them.  A batch closes no loop:
        nothing computed from one point's results enters another point, and no controller
        acts (a network with an in-service controller is refused).  On None the caller solves
        the points one by one with :meth:`solve` (its non-convergence policy applies there).
        """
        from v2xcosim.grid.pgm import PgmSolver

        if self.options.solver != "pgm":
            raise ScenarioError(
                f"{self.name}: grid.batch_steps needs grid.solver = 'pgm' (it is "
                f"{self.options.solver!r}); set grid.solver = 'pgm' or grid.batch_steps = 0"
            )
        if self.control and "controller" in self.net and bool(self.net.controller.in_service.any()):
            raise ScenarioError(
                f"{self.name}: a controller (e.g. an OLTC) acts within each step, so the steps "
                "cannot be solved as one batch; set grid.batch_steps = 0"
            )
        if self._pgm is None:
            self._pgm = PgmSolver(self.net, max_iteration=self.options.max_iteration)
        result: list[FlowArrays] | None = self._pgm.solve_batch(p_mw, q_mvar, threads=threads)
        return result

    def arrays(self) -> FlowArrays:
        """Return the last converged solve's results as arrays (only after a converged one)."""
        if self._pgm is not None:
            return self._pgm.arrays  # type: ignore[no-any-return]
        return FlowArrays.from_tables(self.net)

    def _outcome(self, converged: bool, step: int, time_s: int) -> bool:
        opt = self.options
        if not converged and opt.on_nonconvergence == "abort":
            raise LoadFlowError(
                f"{self.name}: power flow did not converge at step {step} (t = {time_s} s, "
                f"max_iteration {opt.max_iteration}); reduce the load/EV power or set "
                "grid.on_nonconvergence = 'flag' to continue and flag the step",
                step=step,
                time_s=time_s,
            )
        return converged


class GridCase(Protocol):
    """A network model the generic grid simulator steps (:mod:`v2xcosim.cosim.grid_sim`).

    One ``Grid`` entity takes :attr:`grid_inputs` (scalars, e.g. profile values) and gives
    :attr:`grid_outputs`; one ``Connection`` entity per charging site or flexibility provider
    (:meth:`connections`) takes ``p_w`` and ``q_var`` (a vector per EV or a scalar; W and var,
    load convention) and gives the outputs its kind has (e.g. the charger voltages ``vm_pu``).
    """

    grid_inputs: Sequence[str]
    grid_outputs: Sequence[str]
    connection_outputs: Sequence[str]

    def connections(self) -> Sequence[str]:
        """Return the connection ids (one mosaik entity each)."""
        ...

    def solve(
        self,
        step: int,
        time_s: int,
        grid_in: Mapping[str, float],
        conn_in: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """Set the operating point of ``step`` and solve it (``None`` results when flagged)."""
        ...

    def grid_result(self) -> dict[str, Any]:
        """Return the ``Grid`` entity's outputs of the last step (JSON data)."""
        ...

    def connection_result(self, conn_id: str) -> dict[str, Any]:
        """Return one connection's outputs of the last step (JSON data)."""
        ...


GRID_OUTPUTS = [
    "converged",
    "p_slack_w",
    "q_slack_var",
    "p_loss_w",
    "vm_pu",
    "line_loading_percent",
    "trafo_loading_percent",
    "p_trafo_hv_w",
    "q_trafo_hv_var",
]
"""The network-wide outputs of a grid model (slack = the upstream grid, load convention);
``p_trafo_hv_w``/``q_trafo_hv_var`` per transformer at its HV side (+ = the LV side imports)."""


@runtime_checkable
class BatchGridCase(GridCase, Protocol):
    """A grid model that can also solve a window of steps at once (``grid.batch_steps``)."""

    def solve_batch(
        self,
        steps: Sequence[int],
        times_s: Sequence[int],
        grid_in: Sequence[Mapping[str, float]],
        conn_in: Sequence[Mapping[str, Mapping[str, Any]]],
    ) -> Sequence[tuple[Mapping[str, Any], Mapping[str, Mapping[str, Any]]]]:
        """Solve ``steps`` together; return each step's (grid result, connection results)."""
        ...


class GridModel:
    """A pandapower network with loads, PV and EV chargers, solved once per step."""

    def __init__(self, spec: GridSetup, sites: Sequence[SiteConnection] = ()) -> None:
        """Build a fresh network from ``spec`` and connect the chargers of ``sites``."""
        import pandapower as pp

        self._pp = pp
        self.spec = spec
        self.net = sources.load_source(spec.network)[0]
        net = self.net
        self.bus_names: list[str] = [str(n) for n in net.bus["name"].tolist()]
        index_of = {name: int(i) for i, name in zip(net.bus.index, self.bus_names, strict=True)}
        self._bus_pos = {name: pos for pos, name in enumerate(self.bus_names)}
        self.line_names: list[str] = [str(n) for n in net.line["name"].tolist()]
        self.trafo_names: list[str] = [str(n) for n in net.trafo["name"].tolist()]
        self._base_loads = net.load.index.to_numpy()
        self._p_nom_mw: FloatArray = net.load["p_mw"].to_numpy(dtype=float).copy()
        self._tan_load = math.tan(math.acos(spec.load_cos_phi))
        self._pv_idx = np.array(
            [
                pp.create_sgen(net, index_of[pv.bus], p_mw=0.0, q_mvar=0.0, name=f"PV {k}")
                for k, pv in enumerate(spec.pv)
            ],
            dtype=np.int64,
        )
        self._pv_peak_mw = np.array([pv.p_peak_kw / 1000.0 for pv in spec.pv], dtype=float)
        self._pv_tan = np.array([math.tan(math.acos(pv.cos_phi)) for pv in spec.pv], dtype=float)
        self._sites: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]] = {}
        for site in sites:
            unique = sorted({b for b in site.ev_buses}, key=lambda b: self._bus_pos[b])
            for b in unique:
                if b not in index_of:
                    raise ScenarioError(f"site {site.site_id}: no bus {b!r} in {spec.network}")
            # one vectorised call (the same rows as one create_load per bus, far faster)
            load_idx = np.asarray(
                pp.create_loads(
                    net,
                    [index_of[b] for b in unique],
                    p_mw=0.0,
                    q_mvar=0.0,
                    name=[f"EV {site.site_id} {b}" for b in unique],
                ),
                dtype=np.int64,
            )
            where = {b: k for k, b in enumerate(unique)}
            group = np.array([where[b] for b in site.ev_buses], dtype=np.int64)
            self._sites[site.site_id] = (load_idx, group, len(unique))
        self._site_ev_bus_pos = {
            s.site_id: np.array([self._bus_pos[b] for b in s.ev_buses], dtype=np.int64)
            for s in sites
        }
        self.flow = PowerFlow(
            net,
            PowerFlowOptions(
                spec.max_iteration, spec.tolerance_mva, spec.on_nonconvergence, spec.solver
            ),
            name=f"grid (network {spec.network})",
        )
        self.solver_info = self.flow.info
        self._pv_profiles = [pv.profile for pv in spec.pv]
        self._load_profile = spec.load_profile
        used = sorted({*self._pv_profiles, *([spec.load_profile] if spec.load_profile else [])})
        self.grid_inputs: list[str] = [f"profile_{p}" for p in used]
        self.grid_outputs: list[str] = list(GRID_OUTPUTS)
        self.connection_outputs: list[str] = ["vm_pu"]
        self._result: GridResult | None = None
        self.batch_threads = 1
        """power-grid-model's threads in :meth:`solve_batch` (1 = the calling thread, 0 = one
        per hardware thread; the results do not depend on it)."""

    # ----------------------------------------------------------------------------- step
    def step(
        self,
        step: int,
        time_s: int,
        *,
        load_pu: float | None,
        pv_pu: Sequence[float],
        ev_p_w: Mapping[str, Sequence[float] | FloatArray],
        ev_q_var: Mapping[str, Sequence[float] | FloatArray],
    ) -> GridResult:
        """Set injections for ``step`` (at ``time_s`` s) and solve the power flow.

        ``load_pu`` scales every base load's nominal power (None = nominal); ``pv_pu`` gives
        each PV system's output in pu of its peak (order of ``spec.pv``); ``ev_p_w``/``ev_q_var``
        map a site id to its per-EV AC power [W]/[var], load convention.
        """
        net = self.net
        where = f"at step {step} (t = {time_s} s)"
        scale = self.spec.load_scaling * (1.0 if load_pu is None else float(load_pu))
        if not math.isfinite(scale):
            raise SimulationError(f"grid: non-finite load profile value {load_pu} {where}")
        p_load = self._p_nom_mw * scale
        net.load.loc[self._base_loads, "p_mw"] = p_load
        net.load.loc[self._base_loads, "q_mvar"] = p_load * self._tan_load
        if len(self._pv_idx):
            pu = np.asarray(pv_pu, dtype=float)
            _finite("pv_pu", pu, where)
            p_pv = self._pv_peak_mw * pu
            net.sgen.loc[self._pv_idx, "p_mw"] = p_pv  # generator convention: + = injected
            net.sgen.loc[self._pv_idx, "q_mvar"] = -p_pv * self._pv_tan  # absorbs q
        for site_id, (load_idx, group, n_bus) in self._sites.items():
            p = np.asarray(ev_p_w.get(site_id, np.zeros(len(group))), dtype=float)
            q = np.asarray(ev_q_var.get(site_id, np.zeros(len(group))), dtype=float)
            if p.shape != group.shape or q.shape != group.shape:
                raise SimulationError(
                    f"grid: site {site_id} sent {p.size} powers for {group.size} EVs {where}"
                )
            _finite(f"site {site_id} p_w", p, where)
            _finite(f"site {site_id} q_var", q, where)
            net.load.loc[load_idx, "p_mw"] = (
                np.bincount(group, weights=p, minlength=n_bus) / W_PER_MW
            )
            net.load.loc[load_idx, "q_mvar"] = (
                np.bincount(group, weights=q, minlength=n_bus) / W_PER_MW
            )
        if not self.flow.solve(step, time_s):
            return GridResult(
                converged=False,
                p_slack_w=None,
                q_slack_var=None,
                p_loss_w=None,
                vm_pu=[None] * len(self.bus_names),
                line_loading_percent=[None] * len(self.line_names),
                trafo_loading_percent=[None] * len(self.trafo_names),
                site_vm_pu={s: [None] * len(p) for s, p in self._site_ev_bus_pos.items()},
                p_trafo_hv_w=[None] * len(self.trafo_names),
                q_trafo_hv_var=[None] * len(self.trafo_names),
            )
        return self._result_of(self.flow.arrays())

    def _result_of(self, res: FlowArrays) -> GridResult:
        vm = res.vm_pu
        return GridResult(
            converged=True,
            p_slack_w=res.p_slack_w,
            q_slack_var=res.q_slack_var,
            p_loss_w=res.p_loss_w,
            vm_pu=vm.tolist(),
            line_loading_percent=res.line_loading_percent.tolist(),
            trafo_loading_percent=res.trafo_loading_percent.tolist(),
            site_vm_pu={s: vm[pos].tolist() for s, pos in self._site_ev_bus_pos.items()},
            p_trafo_hv_w=res.trafo_p_hv_w.tolist(),
            q_trafo_hv_var=res.trafo_q_hv_var.tolist(),
        )

    # ------------------------------------------------------------------- GridCase
    def connections(self) -> list[str]:
        """Return the site ids (one ``Connection`` entity each)."""
        return list(self._sites)

    def solve(
        self,
        step: int,
        time_s: int,
        grid_in: Mapping[str, float],
        conn_in: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """Solve ``step`` from profile values (``profile_<name>``) and per-EV P and Q."""
        prof = {k[len("profile_") :]: float(v) for k, v in grid_in.items()}
        self._result = self.step(
            step,
            time_s,
            load_pu=prof[self._load_profile] if self._load_profile else None,
            pv_pu=[prof[p] for p in self._pv_profiles],
            ev_p_w={c: d["p_w"] for c, d in conn_in.items() if "p_w" in d},
            ev_q_var={c: d["q_var"] for c, d in conn_in.items() if "q_var" in d},
        )

    def solve_batch(
        self,
        steps: Sequence[int],
        times_s: Sequence[int],
        grid_in: Sequence[Mapping[str, float]],
        conn_in: Sequence[Mapping[str, Mapping[str, Any]]],
    ) -> list[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
        """Solve several steps in one power-grid-model batch (``grid.batch_steps``).

        Row i of the tables' powers is what :meth:`solve` sets for ``steps[i]`` (profile
        values, PV, each site's EVs summed per bus; a site that sends nothing draws 0, as
        step by step); each step's results are :meth:`solve`'s.  A point that does not
        converge sends the window back to step-by-step solving under the run's policy.
        """
        net = self.net
        k = len(steps)
        lp = np.tile(net.load["p_mw"].to_numpy(dtype=float), (k, 1))
        lq = np.tile(net.load["q_mvar"].to_numpy(dtype=float), (k, 1))
        sp = np.tile(net.sgen["p_mw"].to_numpy(dtype=float), (k, 1))
        sq = np.tile(net.sgen["q_mvar"].to_numpy(dtype=float), (k, 1))
        base_rows = net.load.index.get_indexer(self._base_loads)
        pv_rows = net.sgen.index.get_indexer(self._pv_idx)
        site_rows = {s: net.load.index.get_indexer(ix) for s, (ix, _, _) in self._sites.items()}
        for i, (step, time_s, g, c) in enumerate(
            zip(steps, times_s, grid_in, conn_in, strict=True)
        ):
            where = f"at step {step} (t = {time_s} s)"
            prof = {name[len("profile_") :]: float(v) for name, v in g.items()}
            load_pu = prof[self._load_profile] if self._load_profile else None
            scale = self.spec.load_scaling * (1.0 if load_pu is None else float(load_pu))
            if not math.isfinite(scale):
                raise SimulationError(f"grid: non-finite load profile value {load_pu} {where}")
            p_load = self._p_nom_mw * scale
            lp[i, base_rows] = p_load
            lq[i, base_rows] = p_load * self._tan_load
            if len(self._pv_idx):
                pu = np.asarray([prof[p] for p in self._pv_profiles], dtype=float)
                _finite("pv_pu", pu, where)
                p_pv = self._pv_peak_mw * pu
                sp[i, pv_rows] = p_pv
                sq[i, pv_rows] = -p_pv * self._pv_tan
            for site_id, (_, group, n_bus) in self._sites.items():
                d = c.get(site_id, {})
                p = np.asarray(d.get("p_w", np.zeros(len(group))), dtype=float)
                q = np.asarray(d.get("q_var", np.zeros(len(group))), dtype=float)
                if p.shape != group.shape or q.shape != group.shape:
                    raise SimulationError(
                        f"grid: site {site_id} sent {p.size} powers for {group.size} EVs {where}"
                    )
                _finite(f"site {site_id} p_w", p, where)
                _finite(f"site {site_id} q_var", q, where)
                rows = site_rows[site_id]
                lp[i, rows] = np.bincount(group, weights=p, minlength=n_bus) / W_PER_MW
                lq[i, rows] = np.bincount(group, weights=q, minlength=n_bus) / W_PER_MW
        out: list[tuple[dict[str, Any], dict[str, dict[str, Any]]]] = []
        res = self.flow.solve_batch(
            {"load": lp, "sgen": sp}, {"load": lq, "sgen": sq}, threads=self.batch_threads
        )
        if res is None:  # a point did not converge: step by step, under the run's policy
            for step, time_s, g, c in zip(steps, times_s, grid_in, conn_in, strict=True):
                self.solve(step, time_s, g, c)
                out.append(
                    (self.grid_result(), {s: self.connection_result(s) for s in self._sites})
                )
            return out
        for arrays in res:
            self._result = self._result_of(arrays)
            out.append((self.grid_result(), {s: self.connection_result(s) for s in self._sites}))
        net.load["p_mw"], net.load["q_mvar"] = lp[-1].copy(), lq[-1].copy()
        net.sgen["p_mw"], net.sgen["q_mvar"] = sp[-1].copy(), sq[-1].copy()
        return out

    def grid_result(self) -> dict[str, Any]:
        """Return the network-wide results of the last step."""
        assert self._result is not None
        return result_to_dict(self._result)

    def connection_result(self, conn_id: str) -> dict[str, Any]:
        """Return the voltages at the chargers of site ``conn_id`` (one per EV)."""
        assert self._result is not None
        return {"vm_pu": self._result.site_vm_pu[conn_id]}

    def injections_w(self) -> dict[str, float]:
        """Total load, PV and EV active power of the last step [W] (for balance checks)."""
        net = self.net
        ev_rows = net.load["name"].astype(str).str.startswith("EV ")
        return {
            "load_w": float(net.load.loc[~ev_rows, "p_mw"].sum()) * W_PER_MW,
            "ev_w": float(net.load.loc[ev_rows, "p_mw"].sum()) * W_PER_MW,
            "pv_w": float(net.sgen["p_mw"].sum()) * W_PER_MW,
        }


def result_to_dict(result: GridResult) -> dict[str, Any]:
    """Convert a :class:`GridResult` to plain JSON-compatible data."""
    return {
        "converged": int(result.converged),
        "p_slack_w": result.p_slack_w,
        "q_slack_var": result.q_slack_var,
        "p_loss_w": result.p_loss_w,
        "vm_pu": result.vm_pu,
        "line_loading_percent": result.line_loading_percent,
        "trafo_loading_percent": result.trafo_loading_percent,
        "p_trafo_hv_w": result.p_trafo_hv_w,
        "q_trafo_hv_var": result.q_trafo_hv_var,
    }
