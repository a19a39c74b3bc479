"""The Porto world on the generic simulators, its plan, grid model and KPIs.

Data flow of one step (lock-step, ``time.step_s``)::

    Profiles ──p_terminal_w──────────────────────────────► Grid (pandapower, the airport)
        └──t_out_k──► Fleet (car park, one slot per session) ──p_ac_w, q_ac_var──► Connection
    Actor (car park) ──p_set_w──┘  ▲ └──vm_pu at each slot's charger group (time-shifted)
        ▲──soc, p_ac_w, q_cal, q_cyc (time-shifted)      Grid ──p_slack_w (time-shifted)──► Actor

The terminal's load is a profile computed once in the plan (:mod:`.terminal`: nothing in the
run feeds back into the building).  Tables: ``grid.parquet`` (``p_slack_w``/``q_slack_var`` =
the import at the airport's MV connection, load convention; ``p_loss_w``; ``p_terminal_w``,
``p_ev_w``/``q_ev_var`` = the chargers' total; bus voltages, line and transformer loadings),
``carpark.parquet`` (slot vectors ``p_ac_w``, ``q_ac_var``, ``soc``, ``q_cal``, ``q_cyc``,
``p_set_w``, ``plugged``, ``vm_pu``), ``profiles.parquet`` (terminal and tariff series); the
actors write ``trace.parquet``, ``sessions.parquet`` and ``porto_actors.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.config.common import spec_to_jsonable
from v2xcosim.core.errors import ScenarioError, SimulationError
from v2xcosim.core.timegrid import step_times
from v2xcosim.cosim.fleet_sim import fleet_params
from v2xcosim.cosim.world import add_store, new_world, stop_all_on_error
from v2xcosim.domain.ageing import Q_START_MIN
from v2xcosim.fmu.fleet import FleetFmus, fleet_fmus_of
from v2xcosim.report.kpis import grid_kpis
from v2xcosim.report.results import json_clean
from v2xcosim.usecases.porto.schema import PortoScenario
from v2xcosim.usecases.porto.wiring import (
    PortoSetup,
    fleet_size,
    network_spec,
    porto_setup,
    tariff,
)

FloatArray = npt.NDArray[np.float64]

CARPARK = "carpark"
"""Actor, grid connection and table name of the long-term car park."""
FLEET_OUTPUTS = {
    "p_ac_w": "p_ac_w",
    "q_ac_var": "q_ac_var",
    "soc": "soc",
    "q_cal": "battery.q_cal",
    "q_cyc": "battery.q_cyc",
}
"""Outputs of the fleet FMU (attribute -> FMU variable); ``q_cal``/``q_cyc`` capacity losses."""
ACTOR_FEEDBACK = ("soc", "p_ac_w", "q_cal", "q_cyc")
"""Fleet outputs the actor reads at the start of a step (time-shifted)."""
FLEET_INPUTS = {"p_set_w": "p_set_w", "vm_pu": "vm_pu", "t_amb_k": "t_amb_k"}
"""Inputs of the fleet (role -> FMU variable); the cars sit at the outdoor temperature."""
PROFILES = ("p_terminal_w", "t_out_k", "price_eur_per_mwh", "t_air_k", "p_hvac_w")
"""The profiles of a run (:class:`~.wiring.PortoSetup` fields, first ``n_steps`` values)."""
GRID_OUTPUTS = (
    "converged",
    "p_slack_w",
    "q_slack_var",
    "p_loss_w",
    "p_terminal_w",
    "p_ev_w",
    "q_ev_var",
    "vm_pu",
    "line_loading_percent",
    "trafo_loading_percent",
)
"""Outputs of the Porto grid model (W, var, load convention; pu; %)."""
GRID_MODEL = "v2xcosim.usecases.porto.world:grid_model"
FLOW = "v2xcosim.usecases.porto.actors:porto_flow"


@dataclass(frozen=True)
class PortoPlan:
    """What a Porto run derives once from its spec, before the world is built."""

    fmu_path: FleetFmus
    """The fleet's FMU, or its fleet FMUs by size beyond 1000 slots (``fleet_chunks``)."""
    setup: PortoSetup
    bus_names: tuple[str, ...]
    line_names: tuple[str, ...]
    trafo_names: tuple[str, ...]


def preflight(spec: PortoScenario) -> dict[str, Path]:
    """Build (cached) the fleet FMU (one slot per accepted stay) and the terminal FMU."""
    from v2xcosim.fmu.build import build_fmu
    from v2xcosim.fmu.fleet import fleet_fmu_entries, fleet_fmus, open_fleet

    n = fleet_size(spec)
    fmus = fleet_fmus("EV", n)
    try:
        open_fleet(
            fmus,
            n=n,
            fleet=True,
            inputs=[],
            outputs=list(FLEET_OUTPUTS.values()),
            parameters={},
            instance_parameters=spec.porto.fmu_instance_parameters,
            name="porto",
        ).close()
    except ScenarioError as exc:
        msg = str(exc).removeprefix("site porto: ")
        raise ScenarioError(f"porto.fmu_instance_parameters: {msg}") from None
    return {**fleet_fmu_entries("EV", fmus), "Terminal": Path(build_fmu("Terminal"))}


def plan(spec: PortoScenario, fmus: Mapping[str, Path]) -> PortoPlan:
    """Compute the setup (stays, cars, slots, terminal and tariff series) and the grid's names."""
    from v2xcosim.usecases.porto.network import build_porto_network

    setup = porto_setup(spec, fmus["Terminal"])
    net = build_porto_network(network_spec(spec)).net
    return PortoPlan(
        fmu_path=fleet_fmus_of("EV", fmus),
        setup=setup,
        bus_names=tuple(str(n) for n in net.bus["name"]),
        line_names=tuple(str(n) for n in net.line["name"]),
        trafo_names=tuple(str(n) for n in net.trafo["name"]),
    )


def fleet(spec: PortoScenario, plan: PortoPlan) -> dict[str, Any]:
    """Return the ``Fleet`` entity: one slot per session, each the car's battery."""
    s, p = plan.setup, spec.porto
    return fleet_params(
        site_id=CARPARK,
        fmu_path=plan.fmu_path,
        n=s.fleet_size,
        inputs=FLEET_INPUTS,
        outputs=FLEET_OUTPUTS,
        parameters={
            "n_parallel": s.slot_vector(s.n_parallel, 80.0),
            "p_rated_w": p.network.charger_kw * 1000.0,
            "soc_min": p.fmu_soc_min,
            "soc_max": p.fmu_soc_max,
        },
        start={
            "soc_start": s.slot_vector(s.soc_start, 0.5),
            "q_cal_start": s.slot_vector(s.q_cal_start, Q_START_MIN),
            "q_cyc_start": s.slot_vector(s.q_cyc_start, Q_START_MIN),
        },
        instance_parameters=p.fmu_instance_parameters,
    )


class PortoGridModel:
    """The airport network as a :class:`~v2xcosim.grid.powerflow.GridCase`.

    ``Grid`` input ``p_terminal_w`` (the terminal's load, split over its substations, Q at
    ``terminal_cos_phi``); one connection, the car park, whose ``p_w``/``q_var`` slot vectors
    are summed per charger group onto the groups' loads; its output ``vm_pu`` is each slot's
    group far-end voltage.  Solved by :func:`~.network.run_power_flow` (the project's one
    power-flow wrapper, ``grid.on_nonconvergence``).
    """

    grid_inputs = ("p_terminal_w",)
    grid_outputs = GRID_OUTPUTS
    connection_outputs = ("vm_pu",)

    def __init__(self, pn: Any, slot_groups: Sequence[str]) -> None:
        """Step network ``pn`` (:class:`~.network.PortoNetwork`); ``slot_groups`` per slot."""
        self.pn = pn
        self.slot_groups = list(slot_groups)
        groups = list(pn.groups)
        self._onehot = np.zeros((len(groups), len(self.slot_groups)))
        for j, g in enumerate(self.slot_groups):
            self._onehot[groups.index(g), j] = 1.0
        self._grid: dict[str, Any] = {}
        self._vm: list[float] = [1.0] * len(self.slot_groups)

    def connections(self) -> list[str]:
        """Return the car park."""
        return [CARPARK]

    def solve(
        self,
        step: int,
        time_s: int,
        grid_in: Mapping[str, float],
        conn_in: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """Set the step's operating point (W, var, load convention), solve, keep the results."""
        from v2xcosim.usecases.porto.network import run_power_flow, set_operating_point

        if "p_terminal_w" not in grid_in:
            raise SimulationError("porto grid: no p_terminal_w this step")
        c = conn_in.get(CARPARK, {})
        n = len(self.slot_groups)
        p = np.asarray(c.get("p_w", [0.0] * n), dtype=float).reshape(-1)
        q = np.asarray(c.get("q_var", [0.0] * n), dtype=float).reshape(-1)
        if p.shape != (n,) or q.shape != (n,):
            raise SimulationError(f"porto grid: the car park sends {p.shape} values for {n} slots")
        p_g, q_g = self._onehot @ p, self._onehot @ q
        groups = self.pn.groups
        set_operating_point(
            self.pn,
            p_terminal_w=float(grid_in["p_terminal_w"]),
            p_group_w={g: float(v) for g, v in zip(groups, p_g, strict=True)},
            q_group_var={g: float(v) for g, v in zip(groups, q_g, strict=True)},
        )
        res = run_power_flow(self.pn, step, time_s)
        net = self.pn.net
        nan = math.nan
        ok = res.converged
        self._grid = {
            "converged": 1.0 if ok else 0.0,
            "p_slack_w": res.p_import_w,
            "q_slack_var": res.q_import_var,
            "p_loss_w": res.p_losses_w,
            "p_terminal_w": float(grid_in["p_terminal_w"]),
            "p_ev_w": float(p.sum()),
            "q_ev_var": float(q.sum()),
            "vm_pu": net.res_bus["vm_pu"].astype(float).tolist() if ok else [nan] * len(net.bus),
            "line_loading_percent": (
                net.res_line["loading_percent"].astype(float).tolist()
                if ok
                else [nan] * len(net.line)
            ),
            "trafo_loading_percent": (
                net.res_trafo["loading_percent"].astype(float).fillna(0.0).tolist()
                if ok
                else [nan] * len(net.trafo)
            ),
        }
        self._vm = [res.group_vm_pu[g] if ok else nan for g in self.slot_groups]

    def grid_result(self) -> dict[str, Any]:
        """Return the network-wide results of the last step."""
        return self._grid

    def connection_result(self, conn_id: str) -> dict[str, Any]:
        """Return the car park's slot voltages of the last step."""
        return {"vm_pu": self._vm}


def grid_model(params: Mapping[str, Any]) -> PortoGridModel:
    """Build the airport network of ``params["scenario"]``; ``params["slot_groups"]`` per slot."""
    from v2xcosim.grid.powerflow import PowerFlowOptions
    from v2xcosim.usecases.porto.network import build_porto_network

    spec = PortoScenario.model_validate(params["scenario"], strict=False)
    g = spec.grid
    pn = build_porto_network(
        network_spec(spec),
        PowerFlowOptions(g.max_iteration, g.tolerance_mva, g.on_nonconvergence, g.solver),
    )
    return PortoGridModel(pn, [str(x) for x in params["slot_groups"]])


def build_world(
    spec: PortoScenario, plan: PortoPlan, out_dir: Path, *, progress_fd: int | None = None
) -> Any:
    """Assemble the mosaik world of a Porto scenario (see the module docstring)."""
    from v2xcosim.core.jsondata import to_json

    js = spec_to_jsonable(spec)
    s = plan.setup
    step_s = spec.time.step_s
    n = s.n_steps
    world = new_world(spec.placement)
    with stop_all_on_error(world):
        series = {p: [float(x) for x in getattr(s, p)[:n]] for p in PROFILES}
        prof = world.start("Profiles", series=series, step_s=step_s).Profiles()
        grid_sim = world.start(
            "Grid",
            model=GRID_MODEL,
            params={"scenario": js, "slot_groups": s.slot_groups()},
            step_s=step_s,
        )
        grid = grid_sim.Grid()
        fmu_sim = world.start("FMU", step_s=step_s, outputs=list(FLEET_OUTPUTS))
        actor_sim = world.start(
            "Actors",
            model=FLOW,
            params={"scenario": js, "setup": to_json(s)},
            step_s=step_s,
            out_dir=str(out_dir),
            until_s=spec.time.duration_s,
        )
        ev = fmu_sim.Fleet(**fleet(spec, plan))
        conn = grid_sim.Connection(conn_id=CARPARK)
        actor = actor_sim.Actor(actor_id=CARPARK)
        labels = {prof.full_id: "profiles", grid.full_id: "grid"}
        for entity in (ev, conn, actor):
            labels[entity.full_id] = CARPARK
        vector_labels = {
            "grid.vm_pu": list(plan.bus_names),
            "grid.line_loading_percent": list(plan.line_names),
            "grid.trafo_loading_percent": list(plan.trafo_names),
        }
        world.connect(prof, grid, "p_terminal_w")
        world.connect(prof, ev, ("t_out_k", "t_amb_k"))
        world.connect(actor, ev, "p_set_w")
        world.connect(ev, conn, ("p_ac_w", "p_w"), ("q_ac_var", "q_var"))
        world.connect(
            ev,
            actor,
            *ACTOR_FEEDBACK,
            time_shifted=True,
            initial_data={
                "soc": s.slot_vector(s.soc_start, 0.5),
                "p_ac_w": [0.0] * s.fleet_size,
                "q_cal": s.slot_vector(s.q_cal_start, Q_START_MIN),
                "q_cyc": s.slot_vector(s.q_cyc_start, Q_START_MIN),
            },
        )
        world.connect(
            grid,
            actor,
            ("p_slack_w", "p_import_w"),
            time_shifted=True,
            initial_data={"p_slack_w": 0.0},
        )
        world.connect(conn, ev, "vm_pu", time_shifted=True, initial_data={"vm_pu": 1.0})
        store_links: list[tuple[Any, list[str]]] = [
            (grid, list(GRID_OUTPUTS)),
            (prof, list(PROFILES)),
            (ev, list(FLEET_OUTPUTS)),
            (conn, ["vm_pu"]),
            (actor, ["p_set_w", "plugged"]),
        ]
        add_store(
            world,
            world.start("Store"),
            spec.time,
            out_dir,
            labels,
            vector_labels,
            store_links,
            progress_fd=progress_fd,
            chunk_steps=spec.results.chunk_steps,
        )
    return world


# ---------------------------------------------------------------------------- KPIs
def _vector(frame: pd.DataFrame, attr: str) -> FloatArray:
    cols = [c for c in frame.columns if c.startswith(f"{attr}[")]
    out: FloatArray = frame[cols].to_numpy(dtype=float)
    return out


def quarter_hour_peak_kw(p_w: npt.ArrayLike, step_s: int) -> float:
    """Largest 15-minute mean of ``p_w`` [kW] (steps dividing 900 s, aligned to the start)."""
    p = np.asarray(p_w, dtype=float)
    per = 900 // step_s
    n = len(p) // per * per
    return float(p[:n].reshape(-1, per).mean(axis=1).max()) / 1e3 if n else math.nan


def stored_end_kwh(setup: PortoSetup, park: pd.DataFrame) -> float:
    """Energy in the cars still plugged in at the last step [kWh]: Σ SOC × nominal capacity.

    Compare strategies with it: a strategy that leaves the cars staying beyond the run
    emptier buys that energy after the run, outside ``energy_cost_eur``.
    """
    if park.empty:
        return 0.0
    soc = _vector(park, "soc")[-1]
    plugged = _vector(park, "plugged")[-1] > 0.5
    cap = np.zeros(setup.fleet_size)
    rows = setup.sessions
    cap[setup.slot[rows]] = setup.capacity_kwh[rows]
    return float(np.sum(np.where(plugged, soc * cap, 0.0)))


def stock_change_kwh(setup: PortoSetup, park: pd.DataFrame) -> float:
    """Net energy stored during the run in the cars still plugged in at its end [kWh].

    Σ over those cars of (SOC after the last step − the SOC they entered the run with,
    ``soc_start``) × nominal capacity (as :func:`stored_end_kwh`).  Their users are billed for
    what was charged within the run; what they will still take after it (up to their wish) is
    neither bought nor sold in the run, so strategies that leave them at different SOCs are
    compared on :func:`stock_adjusted_eur`.
    """
    if park.empty:
        return 0.0
    soc = _vector(park, "soc")[-1]
    plugged = _vector(park, "plugged")[-1] > 0.5
    cap = np.asarray(setup.slot_vector(setup.capacity_kwh, 0.0))
    soc0 = np.asarray(setup.slot_vector(setup.soc_start, 0.0))
    return float(np.sum(np.where(plugged, (soc - soc0) * cap, 0.0)))


def stock_adjusted_eur(
    *,
    user_bill_eur: float,
    connection_bill_eur: float,
    stock_change_kwh: float,
    eta_charge: float,
    user_price_eur_per_kwh: float,
    import_price_eur_per_kwh: float,
) -> tuple[float, float]:
    """Return the users' bill and the operator's net cost with the end-of-run stock taken out.

    The stock change ``ΔE`` (:func:`stock_change_kwh`) took ``ΔE/η_c`` kWh at the chargers.  The
    users' bill less that energy at their price, ``bill − ΔE/η_c × p_user``; the connection's
    bill less it at the run's mean import price ``p_import`` (energy cost / import energy); the
    operator's net cost = adjusted connection bill − adjusted users' bill = ``operator_net_cost
    + ΔE/η_c × (p_user − p_import)``.  A stock drawn down (``ΔE < 0``) is added back the same
    way.  **Assumption**: the stock is valued at the run's prices (the users' flat tariff, the
    connection's mean energy price), not at the hour it will be charged.
    """
    e_ac_kwh = stock_change_kwh / eta_charge
    user = user_bill_eur - e_ac_kwh * user_price_eur_per_kwh
    connection = connection_bill_eur - e_ac_kwh * import_price_eur_per_kwh
    return user, connection - user


def session_kpis(sessions: pd.DataFrame, *, eta_charge: float) -> dict[str, Any]:
    """Session KPIs from ``sessions.parquet`` (definitions in ``scenarios/porto/README.md``).

    ``departure_soc_shortfall_kwh`` (the vocabulary's): over the sessions that left at their
    declared departure within the run (``completed``) and whose wish was feasible — (wish − arrival
    SOC) × capacity ≤ P_max × ``eta_charge`` × stay — Σ (wish − SOC at departure)⁺ ×
    capacity, gaps below 1e-4 SOC counted as 0.  ``degradation_calendar_eur`` /
    ``degradation_cycle_eur``: Σ ``dq_cal`` / ``dq_cyc`` × capacity × pack price over the
    served sessions (their sum is ``battery_degradation_cost_eur``).
    """
    from v2xcosim.domain.ageing import degradation_cost_eur, pack_cost_eur_per_kwh
    from v2xcosim.domain.kpis import departure_soc_shortfall_kwh, feasible_sessions

    status = sessions["status"]
    done = sessions[status == "completed"]
    feasible = feasible_sessions(
        done["soc_arrival"].to_numpy(dtype=float),
        done["soc_wish"].to_numpy(dtype=float),
        done["capacity_kwh"].to_numpy(dtype=float),
        done["p_max_kw"].to_numpy(dtype=float) * 1000.0,
        (done["departure_s"] - done["arrival_s"]).to_numpy(dtype=float),
        eta_charge=eta_charge,
    )
    shortfall = departure_soc_shortfall_kwh(
        done["soc_departure"].to_numpy(dtype=float),
        done["soc_wish"].to_numpy(dtype=float),
        done["capacity_kwh"].to_numpy(dtype=float),
        feasible,
        tol_soc=1e-4,
    )
    served = sessions[status != "rejected"]
    counts = status.value_counts()
    cap, price = served["capacity_kwh"].to_numpy(dtype=float), pack_cost_eur_per_kwh()
    calendar = degradation_cost_eur(served["dq_cal"].to_numpy(dtype=float), cap, price)
    cycle = degradation_cost_eur(served["dq_cyc"].to_numpy(dtype=float), cap, price)
    return {
        "departure_soc_shortfall_kwh": shortfall,
        "infeasible_sessions": int(np.sum(~feasible)),
        "sessions": len(sessions),
        "sessions_completed": int(counts.get("completed", 0)),
        "sessions_open_at_end": int(counts.get("open_at_end", 0)),
        "sessions_rejected": int(counts.get("rejected", 0)),
        "sessions_managed": int(served["managed"].sum()),
        "sessions_v2b": int(served["v2b"].sum()),
        "degradation_eur": float(served["degradation_eur"].sum()),
        "battery_degradation_cost_eur": float(served["degradation_eur"].sum()),
        "degradation_calendar_eur": float(calendar.sum()),
        "degradation_cycle_eur": float(cycle.sum()),
        "ev_user_compensation_eur": float(served["compensation_eur"].sum()),
        "ev_user_bill_eur": float(served["bill_eur"].sum()),
        "unserved_energy_kwh": float(sessions["unserved_energy_kwh"].sum()),
    }


def porto_kpis(
    spec: PortoScenario,
    setup: PortoSetup,
    frames: Mapping[str, pd.DataFrame],
    sessions: pd.DataFrame,
    actors: Mapping[str, Any],
) -> dict[str, Any]:
    """Compute the Porto KPIs (``scenarios/porto/README.md`` defines each)."""
    from v2xcosim.usecases.porto.network import charger_power_share

    dt_s = spec.time.step_s
    grid, park = frames["grid"], frames[CARPARK]
    p_imp = grid["p_slack_w"].to_numpy(dtype=float)
    q_imp = grid["q_slack_var"].to_numpy(dtype=float)
    p_ac = _vector(park, "p_ac_w")
    times = step_times(spec.time.start_utc, spec.time.n_steps, dt_s)
    finite = np.isfinite(p_imp) & np.isfinite(q_imp)
    bill = tariff(spec).bill(
        np.where(finite, p_imp, 0.0),
        np.where(finite, q_imp, 0.0),
        times,
        step_s=dt_s,
        contracted_kw=spec.porto.tariff.contracted_kw,
    )
    h = dt_s / 3600.0
    ev_max = ev_excess = ev_limit = None
    if setup.events:
        # every window of the run: its largest import and the energy above its own limit
        limit_w = setup.import_limit_w(0, setup.n_steps)
        w = setup.event_mask()
        ev_max = float(np.max(p_imp[w])) / 1e3
        ev_excess = float(np.maximum(p_imp[w] - limit_w[w], 0.0).sum()) * h / 1e3
        ev_limit = min(e.limit_w for e in setup.events) / 1e3
    ses = session_kpis(sessions, eta_charge=spec.control.eta_charge)
    checks = evaluate_checks(spec, grid, ses["departure_soc_shortfall_kwh"])
    p_term = grid["p_terminal_w"].to_numpy(dtype=float)
    kpis: dict[str, Any] = {
        "use_case": "porto",
        "strategy": spec.control.strategy,
        **grid_kpis(grid, step_s=dt_s, v_min_pu=spec.grid.v_min_pu, v_max_pu=spec.grid.v_max_pu),
        "building_peak_kw": quarter_hour_peak_kw(p_imp, dt_s),
        "energy_cost_eur": bill["energy_eur"],
        "demand_charge_eur": (
            bill["peak_power_eur"] + bill["contracted_power_eur"] + bill["contracted_ratchet_eur"]
        ),
        "peak_hours_kw": bill["peak_hours_kw"],
        "peak_power_eur": bill["peak_power_eur"],
        "contracted_kw": bill["contracted_kw"],
        "contracted_power_eur": bill["contracted_power_eur"],
        "contracted_ratchet_excess_kw": bill["contracted_ratchet_excess_kw"],
        "contracted_ratchet_eur": bill["contracted_ratchet_eur"],
        "reactive_energy_eur": bill["reactive_eur"],
        "connection_bill_eur": bill["total_eur"],
        "energy_kwh_by_period": bill["energy_kwh_by_period"],
        "terminal_energy_mwh": float(p_term.sum()) * h / 1e6,
        "terminal_peak_kw": quarter_hour_peak_kw(p_term, dt_s),
        "ev_energy_charged_kwh": float(np.maximum(p_ac, 0.0).sum()) * h / 1e3,
        "ev_energy_discharged_to_building_mwh": float(np.maximum(-p_ac, 0.0).sum()) * h / 1e6,
        "ev_peak_kw": float(np.max(p_ac.sum(axis=1))) / 1e3 if p_ac.size else 0.0,
        "ev_stored_energy_end_kwh": stored_end_kwh(setup, park),
        "charger_power_share_of_terminal_peak": charger_power_share(network_spec(spec)),
        **ses,
        "dso_events": len(setup.events),
        "dso_event_windows": [[e.start_k, e.end_k, e.limit_w / 1e3] for e in setup.events],
        "dso_event_limit_kw": ev_limit,
        "dso_event_import_max_kw": ev_max,
        "dso_event_excess_kwh": ev_excess,
        "bems_solves": int(actors.get("bems_solves", 0)),
        "checks": checks,
        "checks_passed": all(c["passed"] for c in checks.values() if c["flagged"]),
    }
    kpis["operator_net_cost_eur"] = operator_net_cost_eur(
        bill["total_eur"], ses["ev_user_compensation_eur"], ses["ev_user_bill_eur"]
    )
    stock = stock_change_kwh(setup, park)
    e_imp_kwh = float(np.maximum(np.where(finite, p_imp, 0.0), 0.0).sum()) * h / 1e3
    p_import = bill["energy_eur"] / e_imp_kwh if e_imp_kwh > 0 else 0.0
    user_adj, operator_adj = stock_adjusted_eur(
        user_bill_eur=ses["ev_user_bill_eur"],
        connection_bill_eur=bill["total_eur"],
        stock_change_kwh=stock,
        eta_charge=spec.control.eta_charge,
        user_price_eur_per_kwh=spec.porto.webapp.tariff_eur_per_kwh,
        import_price_eur_per_kwh=p_import,
    )
    kpis["ev_stock_change_kwh"] = stock
    kpis["mean_import_price_eur_per_kwh"] = p_import
    kpis["ev_user_bill_stock_adjusted_eur"] = user_adj
    kpis["operator_net_cost_stock_adjusted_eur"] = operator_adj
    cleaned: dict[str, Any] = json_clean(kpis)
    return cleaned


def operator_net_cost_eur(
    connection_bill_eur: float, compensation_eur: float, user_net_bills_eur: float
) -> float:
    """Net cost of the airport as owner of terminal, car park and charging service [EUR].

    It pays the connection's bill (ratchet term included) and the users' V2B compensation, and
    receives what the users are charged for their energy.  The users' net bills
    (``user_net_bills_eur``, Σ ``bill_eur``) are that charge less the compensation, so
    ``connection bill + compensation − (net bills + compensation)`` = ``connection bill − net
    bills``: the compensation is a transfer inside that sum and is not counted twice.  The cars'
    ageing is the users' (``battery_degradation_cost_eur``), not in this cost.
    """
    gross_income_eur = user_net_bills_eur + compensation_eur
    return connection_bill_eur + compensation_eur - gross_income_eur


def evaluate_checks(
    spec: PortoScenario, grid: pd.DataFrame, shortfall_kwh: float
) -> dict[str, dict[str, bool | str]]:
    """Verdict of each check of ``[checks]`` (``flagged``: a failure makes the run exit 1).

    ``voltage_band``: every bus within ``grid.v_min_pu``..``grid.v_max_pu`` at every step;
    ``loading``: every line and transformer within its limit; ``convergence``: every power
    flow converged; ``soc_target``: no departure-SOC shortfall of a feasible session.
    """
    from v2xcosim.grid.limits import check_limits, check_verdict

    rep = check_limits(
        _vector(grid, "vm_pu"),
        _vector(grid, "line_loading_percent"),
        _vector(grid, "trafo_loading_percent"),
        v_min_pu=spec.grid.v_min_pu,
        v_max_pu=spec.grid.v_max_pu,
        max_line_loading_percent=spec.grid.max_line_loading_percent,
        max_trafo_loading_percent=spec.grid.max_trafo_loading_percent,
    )
    verdicts: dict[str, bool | None] = {
        "convergence": bool((grid["converged"].to_numpy() >= 0.5).all()),
        "voltage_band": rep.voltage_band_ok,
        "loading": rep.loading_ok,
        "soc_target": shortfall_kwh <= 0.0,
    }
    flagged = spec.checks.model_dump()
    return {name: check_verdict(flagged[name], ok) for name, ok in verdicts.items()}


__all__ = [
    "CARPARK",
    "PortoGridModel",
    "PortoPlan",
    "build_world",
    "evaluate_checks",
    "grid_model",
    "operator_net_cost_eur",
    "plan",
    "porto_kpis",
    "preflight",
    "quarter_hour_peak_kw",
    "session_kpis",
]
