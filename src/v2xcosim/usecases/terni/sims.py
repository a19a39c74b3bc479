"""Thin mosaik adapters of the Terni use case (``grid.network = "terni"``).

* ``TerniProfiles`` — entity ``profiles``: ``load_pu``, ``pv_pu``, ``t_amb_k``,
  ``price_eur_per_mwh`` of the current step (precomputed by
  :func:`v2xcosim.usecases.terni.flow.terni_setup`).
* ``TerniGrid`` — entity ``grid``: inputs ``load_pu``, ``pv_pu`` and ``p_ev_w__<site>`` (slot
  vector, summed per site); outputs ``converged``, ``p_slack_w`` (= ``p_primary_w``, the power
  through the HV/MV transformer, + = import), ``p_loss_w``, ``tap_pos``, ``vm_pu``,
  ``line_loading_percent``, ``trafo_loading_percent`` (vectors) and, per charging site
  (:data:`LV_SITE_OUTPUTS`), ``vm_pu__<site>`` (charger bus voltage, also fed back time-shifted
  to the fleets), ``p_lv_trafo_w__<site>`` (power through the site's MV/LV transformer at its
  MV side, + = the LV feeder imports, − = reverse flow into MV), ``vm_lv_max_pu__<site>`` and
  ``vm_lv_min_pu__<site>`` (extreme voltages over the site's LV feeder buses).  Each
  ``[[market.providers]]`` battery is a pandapower ``storage`` at its ``bus`` driven by input
  ``p_provider_w__<provider_id>`` (W, load convention).
* ``TerniFleets`` — one entity ``fleet_<site>`` per site (:class:`v2xcosim.fmu.fleet.FmuFleet`, one
  slot per session): inputs ``p_set_w`` (vector), ``vm_pu``, ``t_amb_k`` (scalars); outputs
  ``p_ac_w``, ``q_ac_var``, ``soc``, ``e_ac_j``.
* ``TerniActors`` — entity ``actors`` (:class:`v2xcosim.usecases.terni.flow.TerniUseCase`):
  inputs ``soc__<site>``, ``p_ac_w__<site>`` (time-shifted); outputs ``p_set_w__<site>`` and
  ``p_provider_w__<provider_id>`` (battery power drawn in the step).  ``finalize`` writes
  ``trace.parquet``, ``terni_sessions.parquet``, ``settlement.parquet``, ``terni_steps.parquet``,
  ``terni_awards.parquet`` and ``terni_actors.json`` into the run folder.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from v2xcosim.config.common import GridOptions
from v2xcosim.cosim.adapters import TimeBasedSimulator, first_value, guarded
from v2xcosim.fmu.fleet import FmuFleet
from v2xcosim.usecases.terni.flow import TerniSetup, TerniUseCase, network_spec, terni_setup
from v2xcosim.usecases.terni.schema import TerniScenario

FLEET_OUTPUTS = ["p_ac_w", "q_ac_var", "soc", "e_ac_j"]
GRID_OUTPUTS = [
    "converged",
    "p_slack_w",
    "q_slack_var",
    "p_loss_w",
    "tap_pos",
    "vm_pu",
    "line_loading_percent",
    "trafo_loading_percent",
]
LV_SITE_OUTPUTS = ["p_lv_trafo_w", "vm_lv_max_pu", "vm_lv_min_pu", "vm_pu"]
"""Per-charging-site grid outputs, named ``<attr>__<site>`` (see the module docstring)."""


def lv_site_attrs(sites: tuple[str, ...] | list[str]) -> list[str]:
    """Return the grid's per-site output names (:data:`LV_SITE_OUTPUTS`) of ``sites``."""
    return [f"{a}__{s}" for s in sites for a in LV_SITE_OUTPUTS]


class TerniProfileSim(TimeBasedSimulator):
    """Serves the precomputed Terni profiles step by step."""

    def __init__(self) -> None:
        """Create the simulator."""
        super().__init__(
            {
                "Profiles": {
                    "public": True,
                    "params": [],
                    "attrs": ["load_pu", "pv_pu", "t_amb_k", "price_eur_per_mwh"],
                }
            }
        )
        self._setup: TerniSetup | None = None
        self._k = 0

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """``scenario``: the resolved scenario JSON."""
        spec = TerniScenario.model_validate(sim_params["scenario"])
        self._setup = guarded(sid, "profiles", 0, lambda: terni_setup(spec))
        return self.meta

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """Create the one ``profiles`` entity."""
        return [{"eid": "profiles", "type": model}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Advance to ``time``."""
        assert self._setup is not None
        self._k = time // self._setup.step_s
        return time + self._setup.step_s

    def get_data(self, outputs: Any) -> Any:
        """Return the current profile values."""
        s = self._setup
        assert s is not None
        vals = {
            "load_pu": s.load_pu,
            "pv_pu": s.pv_pu,
            "t_amb_k": s.t_amb_k,
            "price_eur_per_mwh": s.price_eur_per_mwh,
        }
        return {eid: {a: float(vals[a][self._k]) for a in attrs} for eid, attrs in outputs.items()}


class TerniGridSim(TimeBasedSimulator):
    """One power flow of the Terni network per step."""

    def __init__(self) -> None:
        """Create the simulator (META completed in :meth:`init`)."""
        super().__init__()
        self._tn: Any = None
        self._sites: tuple[str, ...] = ()
        self._providers: tuple[str, ...] = ()
        self._step_s = 1
        self._oltc = True
        self._pf = GridOptions()
        self._out: dict[str, Any] = {}
        self._sid = "TerniGrid"

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """Build the network (SimBench read once per process)."""
        from v2xcosim.usecases.terni.network import (
            add_oltc_control,
            add_storage,
            build_terni_network,
        )

        spec = TerniScenario.model_validate(sim_params["scenario"])
        self._sid = sid
        self._step_s = spec.time.step_s

        def build() -> Any:
            tn = build_terni_network(network_spec(spec))
            for prov in spec.market.providers:
                add_storage(tn, prov.provider_id, prov.bus, prov.capacity_kwh)
            return tn

        self._tn = guarded(sid, "grid", 0, build)
        self._sites = tuple(sorted(self._tn.ev_load_idx))
        self._providers = tuple(p.provider_id for p in spec.market.providers)
        self._oltc = spec.terni.oltc
        self._pf = spec.grid
        if self._oltc:
            add_oltc_control(self._tn, spec.terni.oltc_vm_lower_pu, spec.terni.oltc_vm_upper_pu)
        self.meta["models"]["Grid"] = {
            "public": True,
            "params": [],
            "attrs": ["load_pu", "pv_pu"]
            + [f"p_ev_w__{s}" for s in self._sites]
            + [f"q_ev_var__{s}" for s in self._sites]
            + [f"p_provider_w__{p}" for p in self._providers]
            + GRID_OUTPUTS
            + lv_site_attrs(self._sites),
        }
        return self.meta

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """Create the ``grid`` entity."""
        return [{"eid": "grid", "type": model}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Set the operating point and run the power flow."""
        from v2xcosim.usecases.terni.network import (
            PowerFlowNotConverged,
            run_power_flow,
            set_operating_point,
            set_storage_power,
        )

        data = inputs.get("grid", {})
        tn = self._tn

        def solve() -> dict[str, Any]:
            ev = {
                s: float(np.sum(first_value(data[f"p_ev_w__{s}"])))
                for s in self._sites
                if f"p_ev_w__{s}" in data
            }
            ev_q = {
                s: float(np.sum(first_value(data[f"q_ev_var__{s}"])))
                for s in self._sites
                if f"q_ev_var__{s}" in data
            }
            set_operating_point(
                tn,
                float(first_value(data["load_pu"])),
                float(first_value(data["pv_pu"])),
                ev,
                ev_q,
            )
            set_storage_power(
                tn,
                {
                    p: float(first_value(data[f"p_provider_w__{p}"]))
                    for p in self._providers
                    if f"p_provider_w__{p}" in data
                },
            )
            try:
                res = run_power_flow(
                    tn,
                    control=self._oltc,
                    max_iteration=self._pf.max_iteration,
                    tolerance_mva=self._pf.tolerance_mva,
                )
            except PowerFlowNotConverged:
                if self._pf.on_nonconvergence == "abort":
                    raise
                return self._not_converged()
            net = tn.net
            out: dict[str, Any] = {
                "converged": 1.0,
                "p_slack_w": res.p_primary_w,
                "q_slack_var": res.q_primary_var,
                "p_loss_w": float(net.res_line["pl_mw"].sum() + net.res_trafo["pl_mw"].sum()) * 1e6,
                "tap_pos": float(res.tap_pos),
                "vm_pu": net.res_bus["vm_pu"].astype(float).tolist(),
                "line_loading_percent": net.res_line["loading_percent"].astype(float).tolist(),
                "trafo_loading_percent": net.res_trafo["loading_percent"]
                .astype(float)
                .fillna(0.0)
                .tolist(),
            }
            for s in self._sites:
                out[f"vm_pu__{s}"] = res.vm_charger_pu[s]
                out[f"p_lv_trafo_w__{s}"] = res.p_lv_trafo_w[s]
                out[f"vm_lv_max_pu__{s}"] = res.vm_lv_max_pu[s]
                out[f"vm_lv_min_pu__{s}"] = res.vm_lv_min_pu[s]
            return out

        self._out = guarded(self._sid, "grid", time, solve)
        return time + self._step_s

    def _not_converged(self) -> dict[str, Any]:
        """Return the outputs of a step whose power flow failed: status 0, every value NaN.

        The chargers keep the last valid voltage (the fleet adapter ignores NaN); the tap stays.
        """
        net = self._tn.net
        nan = float("nan")
        out: dict[str, Any] = {a: nan for a in ("p_slack_w", "q_slack_var", "p_loss_w")}
        out["converged"] = 0.0
        out["tap_pos"] = float(net.trafo.loc[self._tn.hvmv_trafo, "tap_pos"])
        out["vm_pu"] = [nan] * len(net.bus)
        out["line_loading_percent"] = [nan] * len(net.line)
        out["trafo_loading_percent"] = [nan] * len(net.trafo)
        for s in self._sites:
            for a in LV_SITE_OUTPUTS:
                out[f"{a}__{s}"] = nan
        return out

    def get_data(self, outputs: Any) -> Any:
        """Return the requested results."""
        return {eid: {a: self._out[a] for a in attrs} for eid, attrs in outputs.items()}


class TerniFleetSim(TimeBasedSimulator):
    """One EV fleet FMU per charging site, one slot per session."""

    def __init__(self) -> None:
        """Create the simulator."""
        super().__init__(
            {
                "Fleet": {
                    "public": True,
                    "params": ["site_id", "fmu_path"],
                    "attrs": ["p_set_w", "vm_pu", "t_amb_k", *FLEET_OUTPUTS],
                }
            }
        )
        self._spec: Any = None
        self._setup: TerniSetup | None = None
        self._fleets: dict[str, FmuFleet] = {}
        self._in: dict[str, dict[str, Any]] = {}
        self._out: dict[str, dict[str, list[float]]] = {}
        self._sid = "TerniFleets"

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """``scenario``: the resolved scenario JSON."""
        self._spec = TerniScenario.model_validate(sim_params["scenario"])
        self._setup = terni_setup(self._spec)
        self._sid = sid
        return self.meta

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """Create the fleet of site ``site_id`` from ``fmu_path`` (slot parameters from setup)."""
        s = self._setup
        assert s is not None
        site = str(model_params["site_id"])
        eid = f"fleet_{site}"
        t = self._spec.terni

        def build() -> FmuFleet:
            rows = s.site_rows(site)
            n_par = np.full(s.fleet_size, 80.0)
            n_par[s.slot[rows]] = s.n_parallel[rows]
            fleet = FmuFleet(
                Path(model_params["fmu_path"]),
                n=s.fleet_size,
                fleet=True,
                inputs=["p_set_w", "vm_pu", "f_hz", "t_amb_k"],
                outputs=["p_ac_w", "q_ac_var", "soc", "e_ac_j"],
                parameters={
                    "n_parallel": [float(x) for x in n_par],
                    "p_rated_w": t.connector_kw * 1000.0,
                    "soc_min": t.fmu_soc_min,
                    "soc_max": t.fmu_soc_max,
                },
                instance_parameters=t.fmu_instance_parameters,
                name=site,
                prefix="ev",
            )
            try:
                soc0 = s.slot_vector(site, s.users.soc_arrival, 0.5)
                fleet.initialise(0.0, {"soc_start": soc0})
            except BaseException:
                fleet.close()
                raise
            return fleet

        self._fleets[eid] = guarded(self._sid, eid, 0, build)
        n = s.fleet_size
        self._in[eid] = {
            "p_set_w": np.zeros(n),
            "vm_pu": np.ones(n),
            "f_hz": np.full(n, 50.0),
            "t_amb_k": np.full(n, 293.15),
        }
        return [{"eid": eid, "type": model}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Set inputs (vectors or broadcast scalars) and advance every fleet one step."""
        step_s = self._spec.time.step_s
        for eid, fleet in self._fleets.items():
            ins = self._in[eid]
            for attr, srcs in inputs.get(eid, {}).items():
                value = np.broadcast_to(np.asarray(first_value(srcs), dtype=float), ins[attr].shape)
                if attr == "vm_pu":  # a step whose power flow failed: keep the last voltage
                    ok = np.isfinite(value)
                    ins[attr][ok] = value[ok]
                else:
                    ins[attr][:] = value
            res: dict[str, Any] = guarded(
                self._sid, eid, time, functools.partial(fleet.step, float(time), float(step_s), ins)
            )
            self._out[eid] = {a: res[a].tolist() for a in FLEET_OUTPUTS}
        return int(time + step_s)

    def get_data(self, outputs: Any) -> Any:
        """Return the requested output vectors."""
        return {eid: {a: self._out[eid][a] for a in attrs} for eid, attrs in outputs.items()}

    def finalize(self) -> None:
        """Free the FMU instances."""
        for fleet in self._fleets.values():
            fleet.close()


class TerniActorSim(TimeBasedSimulator):
    """Hosts :class:`TerniUseCase`; moves slot vectors in and setpoints out."""

    def __init__(self) -> None:
        """Create the simulator (META completed in :meth:`init`)."""
        super().__init__()
        self._uc: TerniUseCase | None = None
        self._out: dict[str, Any] = {}
        self._out_dir: Path | None = None
        self._sid = "TerniActors"
        self._step_s = 1

    def init(self, sid: str, time_resolution: float = 1.0, **sim_params: Any) -> Any:
        """``scenario`` (JSON), ``out_dir`` (run folder for the trace and actor tables)."""
        from v2xcosim.usecases.terni.network import build_terni_network

        spec = TerniScenario.model_validate(sim_params["scenario"])
        self._sid = sid
        self._step_s = spec.time.step_s
        self._out_dir = Path(sim_params["out_dir"])

        def build() -> TerniUseCase:
            setup = terni_setup(spec)
            tn = build_terni_network(network_spec(spec))
            sgen = tn.net.sgen
            other = ~sgen.index.isin(tn.pv_idx) & sgen["in_service"].astype(bool)
            return TerniUseCase(
                spec,
                setup,
                zone_load_w=float(tn.load_p_nom_mw.sum()) * 1e6,
                zone_pv_w=float(tn.pv_peak_mw.sum()) * 1e6,
                # SimBench's MV hydro plant runs at its nominal output all day (never scaled)
                zone_gen_w=float(sgen.loc[other, "p_mw"].sum()) * 1e6,
            )

        self._uc = guarded(sid, "actors", 0, build)
        sites = self._uc.s.sites
        self.meta["models"]["Actors"] = {
            "public": True,
            "params": [],
            "attrs": [f"{a}__{s}" for s in sites for a in ("soc", "p_ac_w", "p_set_w")]
            + [f"p_provider_w__{p}" for p in self._uc.providers],
        }
        return self.meta

    def create(self, num: int, model: str, **model_params: Any) -> list[Any]:
        """Create the ``actors`` entity."""
        return [{"eid": "actors", "type": model}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        """Run every actor for step ``time // step_s``."""
        uc = self._uc
        assert uc is not None
        data = inputs.get("actors", {})
        soc = {s: list(first_value(data[f"soc__{s}"])) for s in uc.s.sites}
        p_ac = {s: list(first_value(data[f"p_ac_w__{s}"])) for s in uc.s.sites}
        sp = guarded(self._sid, "actors", time, lambda: uc.step(time // self._step_s, soc, p_ac))
        self._out = {f"p_set_w__{s}": v for s, v in sp.items()}
        self._out.update({f"p_provider_w__{p}": v for p, v in uc.provider_power_w().items()})
        return time + self._step_s

    def get_data(self, outputs: Any) -> Any:
        """Setpoint vectors ``p_set_w__<site>`` and battery powers ``p_provider_w__<id>``."""
        return {eid: {a: self._out[a] for a in attrs} for eid, attrs in outputs.items()}

    def finalize(self) -> None:
        """Write the trace, the session and settlement tables and the actor summary."""
        from v2xcosim.core.io import write_json_atomic, write_parquet_atomic

        if self._uc is None or self._out_dir is None:
            return
        uc = self._uc
        write_parquet_atomic(uc.trace.to_frame(), self._out_dir / "trace.parquet")
        write_parquet_atomic(uc.sessions_frame(), self._out_dir / "terni_sessions.parquet")
        write_parquet_atomic(uc.settlement_frame(), self._out_dir / "settlement.parquet")
        write_parquet_atomic(uc.steps_frame(), self._out_dir / "terni_steps.parquet")
        write_parquet_atomic(uc.awards_frame(), self._out_dir / "terni_awards.parquet")
        write_json_atomic(uc.summary(), self._out_dir / "terni_actors.json")
