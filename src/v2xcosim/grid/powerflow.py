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
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError, SimulationError
from v2xcosim.core.units import W_PER_MW
from v2xcosim.grid import networks

FloatArray = npt.NDArray[np.float64]


class PvPlant(Protocol):
    """A PV plant of a grid set-up (the schema is ``v2xcosim.config.grid.PvSpec``)."""

    @property
    def bus(self) -> str: ...  # noqa: D102
    @property
    def p_peak_kw(self) -> float: ...  # noqa: D102
    @property
    def cos_phi(self) -> float: ...  # noqa: D102


class GridSetup(Protocol):
    """What :class:`GridModel` reads of a grid section (``v2xcosim.config.grid.GridSpec``).

    ``network`` a name of :mod:`v2xcosim.grid.networks`; loads scaled by ``load_scaling`` and
    the load profile, at ``load_cos_phi``; ``pv`` plants; Newton-Raphson options and the
    non-convergence policy (``abort`` | ``flag``).
    """

    @property
    def network(self) -> str: ...  # noqa: D102
    @property
    def load_scaling(self) -> float: ...  # noqa: D102
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


class GridModel:
    """A pandapower network with loads, PV and EV chargers, solved once per step."""

    def __init__(self, spec: GridSetup, sites: Sequence[SiteConnection] = ()) -> None:
        """Build a fresh network from ``spec`` and connect the chargers of ``sites``."""
        import pandapower as pp

        self._pp = pp
        self.spec = spec
        self.net = networks.build(spec.network)
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
            load_idx = np.array(
                [
                    pp.create_load(
                        net, index_of[b], p_mw=0.0, q_mvar=0.0, name=f"EV {site.site_id} {b}"
                    )
                    for b in unique
                ],
                dtype=np.int64,
            )
            group = np.array([unique.index(b) for b in site.ev_buses], dtype=np.int64)
            self._sites[site.site_id] = (load_idx, group, len(unique))
        self._site_ev_bus_pos = {
            s.site_id: np.array([self._bus_pos[b] for b in s.ev_buses], dtype=np.int64)
            for s in sites
        }
        self._warm = False
        self.solver_info = {
            "library": "pandapower",
            "version": str(pp.__version__),
            "algorithm": "nr",
            "numba": False,
            "tolerance_mva": spec.tolerance_mva,
            "max_iteration": spec.max_iteration,
        }

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
        try:
            self._pp.runpp(
                net,
                algorithm="nr",
                init="results" if self._warm else "flat",
                max_iteration=self.spec.max_iteration,
                tolerance_mva=self.spec.tolerance_mva,
                numba=False,
                check_connectivity=True,
            )
            converged = bool(net.converged)
        except self._pp.powerflow.LoadflowNotConverged:
            converged = False
        self._warm = converged
        if not converged:
            if self.spec.on_nonconvergence == "abort":
                raise LoadFlowError(
                    f"grid: power flow did not converge {where} "
                    f"(network {self.spec.network}, max_iteration {self.spec.max_iteration}); "
                    "reduce the load/EV power or set grid.on_nonconvergence = 'flag' to "
                    "continue and flag the step",
                    step=step,
                    time_s=time_s,
                )
            return GridResult(
                converged=False,
                p_slack_w=None,
                q_slack_var=None,
                p_loss_w=None,
                vm_pu=[None] * len(self.bus_names),
                line_loading_percent=[None] * len(self.line_names),
                trafo_loading_percent=[None] * len(self.trafo_names),
                site_vm_pu={s: [None] * len(p) for s, p in self._site_ev_bus_pos.items()},
            )
        vm = net.res_bus["vm_pu"].to_numpy(dtype=float)
        p_loss = float(net.res_line["pl_mw"].sum() + net.res_trafo["pl_mw"].sum()) * W_PER_MW
        return GridResult(
            converged=True,
            p_slack_w=float(net.res_ext_grid["p_mw"].sum()) * W_PER_MW,
            q_slack_var=float(net.res_ext_grid["q_mvar"].sum()) * W_PER_MW,
            p_loss_w=p_loss,
            vm_pu=vm.tolist(),
            line_loading_percent=net.res_line["loading_percent"].to_numpy(dtype=float).tolist(),
            trafo_loading_percent=net.res_trafo["loading_percent"].to_numpy(dtype=float).tolist(),
            site_vm_pu={s: vm[pos].tolist() for s, pos in self._site_ev_bus_pos.items()},
        )

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
    }
