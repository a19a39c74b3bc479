"""The ``cases`` section of bench/run.py: a fleet on the Terni network, ours vs a naive baseline.

Both sides are built from the same components and time the same phases, from the world's
set-up to the results written (parquet tables and ``kpis.json``); interpreter start, imports,
FMU builds and the network's input profiles (computed once, as ``v2xcosim run`` computes its
plan before the world) are outside the timed span, and so is a warm-up of the power-flow
library (pandapower's numba compilation, power-grid-model's import).

* **ours**: the project's own simulators as every use case's world uses them: one vector
  ``Fleet`` entity per group of EVs on one fleet FMU (:class:`v2xcosim.cosim.fleet_sim.FmuSim`),
  the generic grid adapter (:class:`v2xcosim.cosim.grid_sim.GridSim`) over the Terni network
  with ``grid.solver = "pgm"`` (power-grid-model, agreeing with pandapower to 1e-12 pu on this
  network, tests/test_pgm.py), the result store; the world helpers of
  :mod:`v2xcosim.cosim.world`.
* **naive** (:mod:`bench_naive`): one single-EV FMU instance and one mosaik entity per EV, the
  same network solved with pandapower ``runpp(net)`` with default options every step.

Control on both sides (:class:`ScheduleSim`): a fixed V2G schedule, one daily stay per EV
(arrival and length drawn once per EV with ``rng_for(seed, "bench/schedule")``), +7.4 kW for
the first half of the stay, -7.4 kW for the second, 0 W otherwise: three setpoint changes per EV
and day, read from a precomputed table (own cost: one row slice per step).  No loop is closed
(no voltage fed back to the chargers, no OLTC: ``terni.oltc = false`` on both sides, since
``runpp`` with default options runs no controller), so both sides solve the same operating
points.

KPIs compared (:data:`KPI_TOLERANCE`): EV energy, slack (HV) energy, network losses, the
lowest and highest bus voltage, and (case a) the mean final SOC.

Run one side in a fresh process: ``python bench/bench_cases.py SIDE CASE OUT.json [--days D]``;
it prints nothing and writes its measurement as JSON.  bench/run.py starts both sides that way
(the same process tree).  Peak RSS is the side's interpreter's: every simulator runs in it, so
it is the process tree's during the timed span; its children (FMU builds before the span, if
an FMU was missing) are reported apart.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:  # mosaik and the grid adapter import this module by name
    sys.path.insert(0, str(HERE))

from v2xcosim.core.errors import SimulationError  # noqa: E402
from v2xcosim.core.rng import rng_for  # noqa: E402
from v2xcosim.cosim.adapters import TimeBasedSimulator  # noqa: E402

P_EV_W = 7400.0
"""Charger setpoint magnitude [W] of the schedule (assumption: a 32-A single-phase wallbox)."""
ARRIVAL_H = (6.0, 20.0)
"""Daily arrival hour, uniform (assumption)."""
STAY_H = (2.0, 8.0)
"""Length of the daily stay [h], uniform (assumption)."""
SOC_START = (0.3, 0.7)
"""Start SOC, uniform (assumption)."""
SEED = 20240515
"""The schedule's seed (the Terni day's)."""

KPI_TOLERANCE: dict[str, tuple[str, float]] = {
    "e_ev_mwh": ("rel", 1e-6),
    "e_slack_mwh": ("rel", 1e-6),
    "e_loss_mwh": ("rel", 1e-5),
    "vm_min_pu": ("abs", 1e-6),
    "vm_max_pu": ("abs", 1e-6),
    "soc_final_mean": ("abs", 1e-6),
}
"""How close the two sides' KPIs must be: the power flows converge to pandapower's default
tolerance (1e-8 MVA) on one side and the project's on the other; the FMU is the same model
(a fleet FMU equals N single-EV FMUs bit for bit)."""

DAY_S = 86400
BATCH_THREADS = 0
"""power-grid-model's threads in ours' batched power flow: 0 = one per hardware thread (2 here)."""
WEEK_S = 7 * DAY_S
"""A week [s]: the naive side's horizon in case (b) and the span both sides' KPIs are compared
over when one side ran longer."""

GRID_OUT = ("p_slack_w", "p_loss_w", "p_ev_w", "vm_min_pu", "vm_max_pu")
"""The grid's outputs both sides record per step (W, W, W, pu, pu)."""


@dataclass(frozen=True)
class Case:
    """One benchmark case: a Terni scenario with overrides and a fleet placed on it."""

    key: str
    label: str
    scenario: str
    overrides: tuple[str, ...]
    evs: int
    mv_buses: int
    """How many 20-kV buses receive EVs (half the fleet); 0: all EVs at the LV sites."""
    record_soc: bool
    naive_days: float | None
    """The naive side's simulated days when it is extrapolated (None: the whole case)."""
    model: str = "EV"
    """The EV model (``models/fmus.toml``) both sides use."""
    network: str | None = None
    """A network of the generic grid model (``grid.network``) instead of the Terni network:
    ours only (the scaling section's larger net), background loads at their nominal power, the
    EVs spread evenly over its LV buses, the time axis of ``scenario``."""


CASES: dict[str, Case] = {
    "a": Case(
        "a",
        "Terni day, 100 EVs, 1-min steps",
        "scenarios/terni_v2g.toml",
        ("time.step_s=60", "terni.oltc=false"),
        100,
        0,
        True,
        None,
    ),
    "c": Case(
        "c",
        "SimBench 1-MVLV-urban-all (10,458 buses), 1000 EVs at LV buses, a week at 15-min steps",
        "scenarios/terni_public_network.toml",
        ("time.step_s=900", f"time.duration_s={7 * 86400}", "terni.oltc=false"),
        1000,
        0,
        False,
        None,
        network="simbench:1-MVLV-urban-all-0-sw",
    ),
    "b": Case(
        "b",
        "Terni year, 1000 EVs on LV and MV buses, 15-min steps",
        "scenarios/terni_public_network.toml",
        (
            "time.step_s=900",
            "time.duration_s=31536000",
            "terni.oltc=false",
            "terni.placement.charging_zones=25",
            "terni.placement.charge_points=100",
        ),
        1000,
        25,
        False,
        7.0,
        model="EVQuasiStatic",
    ),
}
"""(a): the Terni day's network (3 LV charging feeders), 34 + 33 + 33 EVs, 1440 steps.
(b): the public-network scenario's network with 25 LV charging zones (20 EVs at each zone's
charger node) and 25 MV (20-kV) buses holding a background load, i.e. secondary substations,
every k-th in index order (20 EVs each, as a 20-kV load): 1000 EVs, 35,040 steps, both sides
with ``EVQuasiStatic`` (15-min steps are far longer than the charger's and the RC pairs' time
constants, the fidelity made for them; models/README.md gives its difference to ``EV``).
(c): the scaling section's larger network (ours only)."""


def load_spec(case: Case, days: float | None = None) -> Any:
    """The case's Terni scenario (``days``: a shorter horizon, whole 15-min multiples)."""
    from v2xcosim.scenario import load_scenario

    extra = [] if days is None else [f"time.duration_s={round(days * 86400)}"]
    return load_scenario(ROOT / case.scenario, [*case.overrides, *extra])


def groups(case: Case, tn: Any) -> dict[str, tuple[int, list[int]]]:
    """Group id -> (bus index or -1 for an LV site's own load, EV indices), in EV order.

    LV sites first (``case.evs`` split evenly, or half of them when MV buses take the rest),
    then the MV buses.
    """
    sites = sorted(tn.ev_load_idx)
    n_lv = case.evs if case.mv_buses == 0 else case.evs // 2
    out: dict[str, tuple[int, list[int]]] = {}
    for j, chunk in enumerate(np.array_split(np.arange(n_lv), len(sites))):
        out[sites[j]] = (-1, [int(x) for x in chunk])
    if case.mv_buses:
        net = tn.net
        loaded = set(int(b) for b in net.load["bus"])
        mv = [int(b) for b in net.bus.index if net.bus.at[b, "vn_kv"] == 20.0 and b in loaded]
        pick = [mv[int(i)] for i in np.linspace(0, len(mv) - 1, case.mv_buses)]
        rest = np.arange(n_lv, case.evs)
        for bus, chunk in zip(pick, np.array_split(rest, len(pick)), strict=True):
            out[f"mv_{bus}"] = (bus, [int(x) for x in chunk])
    return out


class Schedule:
    """The fixed V2G schedule, one row per step computed when asked (no table held).

    One daily stay per EV (arrival and length drawn once with ``rng_for(seed,
    "bench/schedule")``): +7.4 kW the first half, -7.4 kW the second, 0 W otherwise.
    ``offset_s``: the run's start as seconds after local midnight (arrivals are local hours).
    """

    def __init__(self, n_evs: int, step_s: int, offset_s: int = 0, seed: int = SEED) -> None:
        """Draw each EV's arrival and stay."""
        rng = rng_for(seed, "bench/schedule")
        self.arrive_s = rng.uniform(*ARRIVAL_H, n_evs) * 3600.0
        self.stay_s = rng.uniform(*STAY_H, n_evs) * 3600.0
        self.step_s = step_s
        self.offset_s = offset_s

    def rows(self, steps: np.ndarray) -> np.ndarray:
        """Setpoints [W, load convention] of ``steps``, shape (len(steps), n_evs)."""
        tod = ((self.offset_s + np.asarray(steps, dtype=np.int64) * self.step_s) % 86400.0)[:, None]
        rel = tod - self.arrive_s[None, :]
        out = np.zeros((len(tod), len(self.arrive_s)))
        out[(rel >= 0) & (rel < self.stay_s / 2)] = P_EV_W
        out[(rel >= self.stay_s / 2) & (rel < self.stay_s)] = -P_EV_W
        return out


def schedule(
    n_evs: int, n_steps: int, step_s: int, offset_s: int = 0, seed: int = SEED
) -> np.ndarray:
    """Setpoints [W, load convention], shape (n_steps, n_evs): every row of :class:`Schedule`."""
    return Schedule(n_evs, step_s, offset_s, seed).rows(np.arange(n_steps))


def local_offset_s(spec: Any) -> int:
    """Seconds after local midnight at the run's start (``time.timezone``)."""
    local = spec.time.start_utc.astimezone(spec.time.tzinfo)
    return int(local.hour * 3600 + local.minute * 60 + local.second)


def soc_start(n_evs: int, seed: int = SEED) -> np.ndarray:
    """Start SOC per EV."""
    return rng_for(seed, "bench/soc").uniform(*SOC_START, n_evs)


# ------------------------------------------------------------------------------- simulators
class ScheduleSim(TimeBasedSimulator):
    """The fixed schedule: an entity per group (vector) or per EV (scalar) sends ``p_set_w``."""

    def __init__(self) -> None:
        """Create the simulator."""
        super().__init__(
            {"Schedule": {"public": True, "params": ["cols", "scalar"], "attrs": ["p_set_w"]}}
        )
        self._schedule: Schedule | None = None
        self._row = np.zeros(0)
        self._cols: dict[str, tuple[np.ndarray, bool]] = {}
        self._step_s = 1

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """``n_evs``, ``step_s``, ``offset_s``: the schedule (a row computed per step)."""
        self._step_s = int(sim_params["step_s"])
        self._schedule = Schedule(
            int(sim_params["n_evs"]), self._step_s, int(sim_params.get("offset_s", 0))
        )
        return self.meta

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """One entity sending the columns ``cols`` (a scalar if ``scalar``)."""
        eid = f"s{len(self._cols)}"
        cols = np.asarray([int(c) for c in model_params["cols"]], dtype=np.int64)
        self._cols[eid] = (cols, bool(model_params["scalar"]))
        return [{"eid": eid, "type": model}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Compute the schedule's row of ``time``."""
        assert self._schedule is not None
        self._row = self._schedule.rows(np.array([time // self._step_s]))[0]
        return time + self._step_s

    def get_data(self, outputs: Any) -> Any:
        """The setpoints of this step (a numpy vector in-process, as mosaik hands it over)."""
        row = self._row
        out: dict[str, dict[str, Any]] = {}
        for eid in outputs:
            cols, scalar = self._cols[eid]
            out[eid] = {"p_set_w": float(row[cols[0]]) if scalar else row[cols]}
        return out


class BenchGrid:
    """The Terni grid model with EVs also at 20-kV buses, and the outputs both sides record.

    ``naive``: set the same operating point and call pandapower ``runpp(net)`` with default
    options; else delegate to the Terni model (its ``PowerFlow``, ``grid.solver``).
    """

    grid_inputs: tuple[str, ...] = ()
    grid_outputs = GRID_OUT
    connection_outputs: tuple[str, ...] = ()

    def __init__(
        self,
        inner: Any,
        mv_buses: Mapping[str, int],
        *,
        naive: bool,
        fleet_groups: Sequence[Sequence[str]] = (),
    ) -> None:
        """Add a load (0 MW) per MV group at its bus to ``inner``'s network.

        ``fleet_groups``: per fleet connection ``fleet<i>`` (ours: one vector entity for the
        whole fleet), the group of each of its EVs; its vector is summed per group's load row
        in one vector operation.
        """
        import pandapower as pp

        self.inner = inner
        self.naive = naive
        net = inner.tn.net
        self.mv_rows = {
            g: int(pp.create_load(net, bus, p_mw=0.0, q_mvar=0.0, name=f"bench EVs {g}"))
            for g, bus in mv_buses.items()
        }
        group_load = {**inner.tn.ev_load_idx, **self.mv_rows}
        self.fleet_rows = {
            f"fleet{i}": net.load.index.get_indexer([group_load[g] for g in gs]).astype(np.int64)
            for i, gs in enumerate(fleet_groups)
        }
        """Per fleet connection: the position in ``net.load`` of each of its EVs."""
        rows = [r for r in self.fleet_rows.values()]
        self._has = np.zeros(len(net.load), dtype=bool)
        if rows:
            self._has[np.concatenate(rows)] = True
        self._out: dict[str, float] = {}

    def connections(self) -> list[str]:
        """The Terni model's sites and batteries, the MV groups and the one fleet."""
        return [*self.inner.connections(), *self.mv_rows, *self.fleet_rows]

    def _fleet_mw(self, ci: Mapping[str, Mapping[str, Any]], attr: str) -> np.ndarray:
        """The fleet's powers summed per load row [MW] (zeros where no EV is)."""
        n = len(self.inner.tn.net.load)
        out = np.zeros(n)
        for c, rows in self.fleet_rows.items():
            if c in ci and attr in ci[c]:
                v = np.asarray(ci[c][attr], dtype=float)
                out += np.bincount(rows, weights=v, minlength=n)
        return out * 1e-6

    def solve(
        self,
        step: int,
        time_s: int,
        grid_in: Mapping[str, float],
        conn_in: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """Set the EV powers (W -> MW) and the background of ``step``; solve; keep outputs."""
        net = self.inner.tn.net

        def total(c: str, attr: str) -> float:
            return float(np.sum(np.asarray(conn_in[c][attr], dtype=float)))

        p_ev_w = sum(total(c, "p_w") for c in conn_in if "p_w" in conn_in[c])
        if self.fleet_rows:  # ours: a vector per fleet FMU, summed per load row
            has = self._has
            for col, attr in (("p_mw", "p_w"), ("q_mvar", "q_var")):
                values = net.load[col].to_numpy(dtype=float, copy=True)
                values[has] = self._fleet_mw(conn_in, attr)[has]
                net.load[col] = values
        elif self.mv_rows:
            rows = net.load.index.get_indexer(list(self.mv_rows.values()))
            for col, attr in (("p_mw", "p_w"), ("q_mvar", "q_var")):
                values = net.load[col].to_numpy(dtype=float, copy=True)
                values[rows] = [
                    total(g, attr) * 1e-6 if attr in conn_in.get(g, {}) else 0.0
                    for g in self.mv_rows
                ]
                net.load[col] = values
        skip = {*self.mv_rows, *self.fleet_rows}
        sites = {c: v for c, v in conn_in.items() if c not in skip}
        if self.naive:
            import pandapower as pp

            from v2xcosim.usecases.terni.network import set_element_inputs

            inp = self.inner.inputs
            set_element_inputs(
                self.inner.tn,
                inp.load_p_mw[step],
                inp.load_q_mvar[step],
                inp.sgen_p_mw[step],
                {c: total(c, "p_w") for c in self.inner.sites if "p_w" in sites.get(c, {})},
                {c: total(c, "q_var") for c in self.inner.sites if "q_var" in sites.get(c, {})},
            )
            pp.runpp(net)
        else:
            self.inner.solve(step, time_s, grid_in, sites)
        from v2xcosim.grid.flow_arrays import FlowArrays

        res = FlowArrays.from_tables(net) if self.naive else self.inner.flow.arrays()
        vm = res.vm_pu
        self._out = {
            "p_slack_w": res.p_slack_w,
            "p_loss_w": res.p_loss_w,
            "p_ev_w": p_ev_w,
            "vm_min_pu": float(np.nanmin(vm)),
            "vm_max_pu": float(np.nanmax(vm)),
        }

    def solve_batch(
        self,
        steps: Sequence[int],
        times_s: Sequence[int],
        grid_in: Sequence[Mapping[str, float]],
        conn_in: Sequence[Mapping[str, Mapping[str, Any]]],
    ) -> list[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
        """Solve a window of steps in one batch (ours only): the same operating points."""
        from v2xcosim.grid.flow_arrays import FlowArrays

        def total(ci: Mapping[str, Mapping[str, Any]], c: str, attr: str) -> float:
            return float(np.sum(np.asarray(ci[c][attr], dtype=float)))

        inner = self.inner
        skip = {*self.mv_rows, *self.fleet_rows}
        sites = [{c: v for c, v in ci.items() if c not in skip} for ci in conn_in]
        p, q = inner.batch_powers(steps, sites)
        net = inner.tn.net
        rows = net.load.index.get_indexer(list(self.mv_rows.values()))
        has = self._has
        for i, ci in enumerate(conn_in):
            for arr, attr in ((p["load"], "p_w"), (q["load"], "q_var")):
                arr[i, rows] = [
                    total(ci, g, attr) * 1e-6 if attr in ci.get(g, {}) else 0.0
                    for g in self.mv_rows
                ]
                if self.fleet_rows:
                    arr[i, has] = self._fleet_mw(ci, attr)[has]
        # only the network-wide figures are recorded: the Terni model's per-feeder results
        # are not needed here
        solved: list[FlowArrays] | None = inner.flow.solve_batch(p, q, threads=inner.batch_threads)
        if solved is None:
            raise SimulationError(
                f"bench grid: a power flow of steps {steps[0]}..{steps[-1]} diverged"
            )
        out: list[tuple[dict[str, Any], dict[str, dict[str, Any]]]] = []
        for i, ci in enumerate(conn_in):
            res = solved[i]
            vm = res.vm_pu
            out.append(
                (
                    {
                        "p_slack_w": res.p_slack_w,
                        "p_loss_w": res.p_loss_w,
                        "p_ev_w": sum(total(ci, c, "p_w") for c in ci if "p_w" in ci[c]),
                        "vm_min_pu": float(np.nanmin(vm)),
                        "vm_max_pu": float(np.nanmax(vm)),
                    },
                    {},
                )
            )
        return out

    def grid_result(self) -> dict[str, Any]:
        """The recorded outputs of the last step."""
        return self._out

    def connection_result(self, conn_id: str) -> dict[str, Any]:
        """No connection outputs (nothing is fed back)."""
        return {}


def grid_model(params: Mapping[str, Any]) -> BenchGrid:
    """Grid-model factory (``bench_cases:grid_model``): the Terni model + MV EV loads."""
    from v2xcosim.usecases.terni.world import grid_model as terni_grid_model

    inner = terni_grid_model(params)
    mv = {str(g): int(b) for g, b in params["mv_buses"].items()}
    inner.batch_threads = int(params.get("batch_threads", 1))
    return BenchGrid(
        inner, mv, naive=bool(params["naive"]), fleet_groups=params.get("fleet_groups", [])
    )


class GenericBenchGrid:
    """The generic grid model (``grid.network``) with the fleets' EVs at LV buses (ours only).

    Records the same figures as :class:`BenchGrid`; solves batched like it.
    """

    grid_inputs: tuple[str, ...] = ()
    grid_outputs = GRID_OUT
    connection_outputs: tuple[str, ...] = ()

    def __init__(self, network: str, fleet_buses: Sequence[Sequence[str]], threads: int) -> None:
        """Build ``network`` (power-grid-model); fleet ``fleet<i>``'s EVs at ``fleet_buses[i]``."""
        from v2xcosim.config.grid import GridSpec
        from v2xcosim.grid.powerflow import GridModel, SiteConnection

        spec = GridSpec(network=network, solver="pgm")
        sites = [SiteConnection(f"fleet{i}", list(b)) for i, b in enumerate(fleet_buses)]
        self.model = GridModel(spec, sites)
        self.model.batch_threads = threads
        self._out: dict[str, float] = {}

    def connections(self) -> list[str]:
        """One connection per fleet FMU."""
        return self.model.connections()

    @staticmethod
    def _figures(g: Mapping[str, Any], ci: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
        vm = np.array([np.nan if v is None else v for v in g["vm_pu"]], dtype=float)
        return {
            "p_slack_w": float(g["p_slack_w"]),
            "p_loss_w": float(g["p_loss_w"]),
            "p_ev_w": sum(float(np.sum(np.asarray(d["p_w"], float))) for d in ci.values()),
            "vm_min_pu": float(np.nanmin(vm)),
            "vm_max_pu": float(np.nanmax(vm)),
        }

    def solve(
        self,
        step: int,
        time_s: int,
        grid_in: Mapping[str, float],
        conn_in: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """Solve one step."""
        self.model.solve(step, time_s, grid_in, conn_in)
        self._out = self._figures(self.model.grid_result(), conn_in)

    def solve_batch(
        self,
        steps: Sequence[int],
        times_s: Sequence[int],
        grid_in: Sequence[Mapping[str, float]],
        conn_in: Sequence[Mapping[str, Mapping[str, Any]]],
    ) -> list[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
        """Solve a window of steps in one batch."""
        res = self.model.solve_batch(steps, times_s, grid_in, conn_in)
        return [(self._figures(g, ci), {}) for (g, _), ci in zip(res, conn_in, strict=True)]

    def grid_result(self) -> dict[str, Any]:
        """The recorded outputs of the last step."""
        return self._out

    def connection_result(self, conn_id: str) -> dict[str, Any]:
        """No connection outputs (nothing is fed back)."""
        return {}


def generic_grid_model(params: Mapping[str, Any]) -> GenericBenchGrid:
    """Grid-model factory (``bench_cases:generic_grid_model``) of a ``network`` case."""
    return GenericBenchGrid(
        str(params["network"]), params["fleet_buses"], int(params.get("batch_threads", 1))
    )


def lv_buses(network: str, n_evs: int) -> tuple[list[str], int]:
    """The bus of each EV (the network's in-service LV buses, < 1 kV, evenly in index order)
    and the network's number of buses."""
    from v2xcosim.grid.sources import load_source

    net = load_source(network)[0]
    lv = net.bus[(net.bus["vn_kv"] < 1.0) & net.bus["in_service"].astype(bool)]
    names = [str(n) for n in lv["name"]]
    pick = np.linspace(0, len(names) - 1, n_evs).round().astype(int)
    return [names[int(i)] for i in pick], len(net.bus)


# ------------------------------------------------------------------------------- one side
def _peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory [MB] of this process and of its largest finished child (builds)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return own / 1024.0, kids / 1024.0  # Linux: KiB


def kpis(tables: Mapping[str, pd.DataFrame], step_s: int, n_steps: int) -> dict[str, float]:
    """The compared KPIs over the first ``n_steps`` steps (see :data:`KPI_TOLERANCE`)."""
    g = tables["grid"].iloc[:n_steps]
    mwh = step_s / 3.6e9
    out = {
        "e_ev_mwh": float(g["p_ev_w"].sum() * mwh),
        "e_slack_mwh": float(g["p_slack_w"].sum() * mwh),
        "e_loss_mwh": float(g["p_loss_w"].sum() * mwh),
        "vm_min_pu": float(g["vm_min_pu"].min()),
        "vm_max_pu": float(g["vm_max_pu"].max()),
    }
    soc = [
        t.iloc[n_steps - 1][[c for c in t.columns if c == "soc" or c.startswith("soc[")]]
        for name, t in tables.items()
        if name != "grid"
    ]
    if soc:
        values = np.concatenate([np.asarray(s, dtype=float) for s in soc])
        out["soc_final_mean"] = float(values.mean())
    return out


def run_side(side: str, case: Case, days: float | None) -> dict[str, Any]:
    """Build, run and evaluate one side; return its times, KPIs and memory."""
    import mosaik

    from v2xcosim.config.common import spec_to_jsonable
    from v2xcosim.core.io import write_json_atomic
    from v2xcosim.core.jsondata import to_json
    from v2xcosim.core.timers import STEP_TIMERS, profile_split
    from v2xcosim.cosim.fleet_sim import fleet_params
    from v2xcosim.cosim.placement import sim_config
    from v2xcosim.cosim.world import START_TIMEOUT_S, add_store, run_world
    from v2xcosim.fmu.build import build_fmu
    from v2xcosim.fmu.fleet import build_fleet_fmus, fleet_chunks
    from v2xcosim.usecases.terni.flow import network_spec
    from v2xcosim.usecases.terni.inputs import element_inputs, grid_inputs
    from v2xcosim.usecases.terni.network import build_terni_network
    from v2xcosim.usecases.terni.wiring import input_settings

    naive = side == "naive"
    solver = "pandapower" if naive else "pgm"
    spec = load_spec(case, days)
    spec = spec.model_copy(update={"grid": spec.grid.model_copy(update={"solver": solver})})
    step_s, n_steps = spec.time.step_s, spec.time.n_steps
    # the plan, outside the timed span (as `v2xcosim run` computes it before the world)
    if case.network is not None:
        if naive:
            raise ValueError(f"case {case.key}: a generic-network case has no naive side")
        ev_bus, n_buses = lv_buses(case.network, case.evs)
        grp: dict[str, tuple[int, list[int]]] = {}
        gin: Any = None
    else:
        tn = build_terni_network(network_spec(spec))
        gin = grid_inputs(element_inputs(tn, input_settings(spec)))
        grp = groups(case, tn)
        n_buses = len(tn.net.bus)
    # ours: fleet FMUs of at most MAX_FLEET_FMU_EVS EVs, run as one vector entity
    fmus = build_fleet_fmus(case.model, case.evs) if not naive else {}
    single = Path(build_fmu(case.model))
    socs = soc_start(case.evs)
    params = {
        "p_rated_w": P_EV_W * 1.5,  # 11.1 kW: the schedule's 7.4 kW is below the rating
        "soc_min": spec.terni.fmu_soc_min,
        "soc_max": spec.terni.fmu_soc_max,
    }
    if naive:  # warm-up, untimed: pandapower's numba compilation on a tiny network
        import logging

        import pandapower as pp
        import pandapower.networks as pn

        pp.runpp(pn.example_simple())
        # without numba installed, every runpp call logs that numba is missing: keep the log
        # readable (the solve is the same)
        logging.getLogger("pandapower").setLevel(logging.ERROR)
    else:
        import power_grid_model  # noqa: F401  (import, untimed)
    js = spec_to_jsonable(spec)
    mv = {g: b for g, (b, _) in grp.items() if b >= 0}
    with tempfile.TemporaryDirectory() as td:
        out_dir = Path(td)
        STEP_TIMERS.reset()
        t0 = time.perf_counter()
        config = {
            **sim_config(),
            "Schedule": {"python": "bench_cases:ScheduleSim"},
            "NaiveEV": {"python": "bench_naive:NaiveEvSim"},
            "NaiveGrid": {"python": "bench_naive:NaiveGridSim"},
        }
        world = mosaik.World(
            config,
            mosaik_config={"start_timeout": START_TIMEOUT_S},
            time_resolution=1.0,
            skip_greetings=True,
            configure_logging=False,
        )
        ev_group = [""] * case.evs
        for g, (_, ix) in grp.items():
            for j in ix:
                ev_group[j] = g
        chunks = [list(range(case.evs))]  # one fleet entity (its FMUs hold <= 1000 EVs each)
        grid_params: dict[str, Any] = {
            "scenario": js,
            "inputs": to_json(gin),
            "mv_buses": mv,
            "naive": naive,
            "fleet_groups": [] if naive else [[ev_group[j] for j in c] for c in chunks],
            "batch_threads": BATCH_THREADS,
        }
        factory = "bench_cases:grid_model"
        if case.network is not None:
            factory = "bench_cases:generic_grid_model"
            grid_params = {
                "network": case.network,
                "fleet_buses": [[ev_bus[j] for j in c] for c in chunks],
                "batch_threads": BATCH_THREADS,
            }
        gsim = world.start(
            "NaiveGrid" if naive else "Grid",
            model=factory,
            params=grid_params,
            step_s=step_s,
            # ours: nothing reads the grid while it runs, so a day of steps is one batch
            **({} if naive else {"batch_steps": DAY_S // step_s, "end_s": spec.time.duration_s}),
        )
        grid = gsim.Grid()
        sched_sim = world.start(
            "Schedule",
            n_evs=case.evs,
            n_steps=n_steps,
            step_s=step_s,
            offset_s=local_offset_s(spec),
        )
        labels = {grid.full_id: "grid"}
        links: list[tuple[Any, list[str]]] = [(grid, list(GRID_OUT))]
        ev_out = ["soc"] if case.record_soc else []
        if naive:
            ev_sim = world.start("NaiveEV", step_s=step_s)
            for g, (_, ix) in grp.items():
                conn = gsim.Connection(conn_id=g)
                for j in ix:
                    sch = sched_sim.Schedule(cols=[j], scalar=True)
                    ev = ev_sim.EV(
                        fmu_path=str(single), parameters=params, soc_start=float(socs[j])
                    )
                    world.connect(sch, ev, "p_set_w")
                    world.connect(ev, conn, ("p_ac_w", "p_w"), ("q_ac_var", "q_var"))
                    labels[ev.full_id] = f"ev_{j}"
                    if ev_out:
                        links.append((ev, ev_out))
        else:  # one vector entity for the whole fleet (its FMUs hold <= 1000 EVs each)
            fmu_sim = world.start("FMU", step_s=step_s, outputs=[])
            for i, chunk in enumerate(chunks):
                conn = gsim.Connection(conn_id=f"fleet{i}")
                sch = sched_sim.Schedule(cols=chunk, scalar=False)
                fl = fmu_sim.Fleet(
                    **fleet_params(
                        site_id=f"fleet{i}",
                        fmu_path=fmus,
                        n=len(chunk),
                        inputs={"p_set_w": "p_set_w"},
                        outputs={"p_ac_w": "p_ac_w", "q_ac_var": "q_ac_var", "soc": "soc"},
                        parameters=params,
                        start={"soc_start": [float(socs[j]) for j in chunk]},
                    )
                )
                world.connect(sch, fl, "p_set_w")
                world.connect(fl, conn, ("p_ac_w", "p_w"), ("q_ac_var", "q_var"))
                labels[fl.full_id] = f"fleet{i}"
                if ev_out:
                    links.append((fl, ev_out))
        add_store(
            world,
            world.start("Store"),
            spec.time,
            out_dir,
            labels,
            {},
            links,
            progress_fd=None,
            chunk_steps=spec.results.chunk_steps,  # a year streams to parquet in chunks
            hold_steps=0 if naive else DAY_S // step_s,  # ours' batched grid sends a day late
        )
        setup_s = time.perf_counter() - t0
        run_world(world, spec.time.duration_s)
        tables = {p.stem: pd.read_parquet(p) for p in sorted(out_dir.glob("*.parquet"))}
        k = kpis(tables, step_s, n_steps)
        week = min(n_steps, WEEK_S // step_s)
        k_week = kpis(tables, step_s, week)
        write_json_atomic(k, out_dir / "kpis.json")
        wall_s = time.perf_counter() - t0
    split = profile_split(wall_s, STEP_TIMERS)
    own_mb, kids_mb = _peak_rss_mb()
    return {
        "side": side,
        "case": case.key,
        "evs": case.evs,
        "model": case.model,
        "fleet_fmus": 0 if naive else len(fleet_chunks(case.evs)),
        "fleet_fmu_sizes": [] if naive else fleet_chunks(case.evs),
        "buses": n_buses,
        "steps": n_steps,
        "step_s": step_s,
        "setup_s": setup_s,
        **split,
        "kpis": k,
        "kpis_first_week": k_week,
        "peak_rss_mb": own_mb,
        "rss_own_mb": own_mb,
        "rss_children_mb": kids_mb,
        "grid_solver": solver if not naive else "pandapower runpp (defaults)",
        "entities": len(labels) - 1,
    }


def compare_kpis(ours: Mapping[str, float], naive: Mapping[str, float]) -> list[str]:
    """Every KPI outside :data:`KPI_TOLERANCE`, described (empty: they agree)."""
    bad = []
    for key, (kind, tol) in KPI_TOLERANCE.items():
        if key not in ours and key not in naive:
            continue
        a, b = float(ours[key]), float(naive[key])
        dev = abs(a - b) / max(abs(b), 1e-12) if kind == "rel" else abs(a - b)
        if not dev <= tol:
            bad.append(f"{key}: ours {a!r}, naive {b!r} ({kind} deviation {dev:.2e} > {tol:g})")
    return bad


def main(argv: Sequence[str]) -> int:
    """``SIDE CASE OUT.json [--days D] [--evs N] [--model NAME]``: run one side of a case.

    ``--evs`` and ``--model`` replace the case's fleet size and EV model (the scaling section);
    the measurement is written as JSON to OUT.json.
    """
    import argparse
    import dataclasses

    ap = argparse.ArgumentParser()
    ap.add_argument("side", choices=["ours", "naive"])
    ap.add_argument("case", choices=list(CASES))
    ap.add_argument("out", type=Path)
    ap.add_argument("--days", type=float, default=None)
    ap.add_argument("--evs", type=int, default=None)
    ap.add_argument("--model", default=None)
    ap.add_argument("--set", action="append", default=[], help="one more scenario override")
    args = ap.parse_args(argv)
    case = CASES[args.case]
    if args.evs is not None:
        case = dataclasses.replace(case, evs=args.evs)
    if args.model is not None:
        case = dataclasses.replace(case, model=args.model)
    if args.set:
        case = dataclasses.replace(case, overrides=(*case.overrides, *args.set))
    side, out = args.side, args.out
    res = run_side(side, case, args.days)
    out.write_text(json.dumps(res, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
