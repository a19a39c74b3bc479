"""power-grid-model backend of the one power-flow wrapper (``grid.solver = "pgm"``).

:class:`PgmSolver` converts a pandapower network **once** into power-grid-model's own input
arrays (``power_grid_model.initialize_array``) and keeps a ``PowerGridModel``; each solve reads
the element powers (loads, storages, static generators), their status and the transformer tap
positions from the pandapower tables into one pre-allocated update dataset, updates the model
in place, solves (Newton-Raphson) and writes the results into the pandapower result tables
(``res_bus``, ``res_line``, ``res_trafo``, ``res_ext_grid``, ``res_load``, ``res_sgen``,
``res_storage``), so everything that reads those tables is unchanged.

Why our own conversion and not power-grid-model-io's pandapower converter: the converter
re-converts the whole network on each call, pins pandas, applies ``tap_pos`` where pandapower
ignores it (``tap_changer_type`` None), gives the source an internal impedance (sk 1e10 VA),
needs ``vector_group`` (SimBench transformers have none) and refuses storages; here each of these
follows pandapower's own model, stated below, and the agreement is tested on every shipped
network (tests/test_pgm.py).

Model mapping (pandapower 3 element model → power-grid-model):

* buses joined by closed bus-bus switches are one node (pandapower fuses them the same way);
  an open line or transformer switch opens that side of the branch (``from_status``/
  ``to_status``); elements at an out-of-service bus are off;
* ``ext_grid`` → ``source`` at ``vm_pu``/``va_degree`` with ``sk`` = :data:`SK_SOURCE_VA` (an
  ideal slack like pandapower's, within numerical precision);
* ``line`` → ``line``: r, x per km × length / parallel, c × length × parallel,
  ``tan1`` = g / (ω c); rated current ``max_i_ka × df × parallel``;
* ``trafo`` (two-winding, pandapower's default T model) → ``transformer`` (a pi) with the
  T's exact pi equivalent (:func:`t_model_as_pi`),
  ``clock`` = ``shift_degree``/30 (wye-wye for even clocks, delta-wye for odd; only the clock
  matters in a balanced flow), ratio tap in volts (``tap_step_percent`` of the tapped side's
  rated voltage) when ``tap_changer_type`` is set, no tap otherwise (as pandapower 3 does);
  parallel units as one of ``parallel`` × sn;
* ``load``, ``storage`` (load convention) → ``sym_load``; ``sgen`` (generator convention) →
  ``sym_gen``; all constant power × ``scaling``; ``shunt`` → ``shunt`` (``p_mw``, ``q_mvar`` at
  ``vn_kv`` × ``step``).

Other in-service elements (``gen``, ``impedance``, ``ward``, ``xward``, ``dcline``,
``trafo3w``, ZIP loads, phase-shifting taps, …) are refused with a
:class:`~v2xcosim.core.errors.ScenarioError` naming the table and element.  Loading follows
pandapower: lines max(i_from, i_to) / (max_i_ka × df × parallel), transformers
max(i_hv × vn_hv, i_lv × vn_lv) × √3 / sn / parallel / df (pandapower's default
``trafo_loading = "current"``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError
from v2xcosim.grid.flow_arrays import FlowArrays

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SK_SOURCE_VA = 1e40
"""Short-circuit power of the sources [VA] (assumption): large enough that the source's internal
impedance changes voltages by far less than 1e-9 pu, so the source acts as pandapower's ideal
slack (power-grid-model's default, 1e10 VA, does not)."""

ERROR_TOLERANCE_PU = 1e-10
"""Newton-Raphson voltage tolerance [pu] (assumption): two orders below pandapower's effective
voltage error at ``tolerance_mva`` = 1e-8, so the agreement test measures the models, not the
stopping rules."""

SUPPORTED = frozenset(
    {"bus", "line", "trafo", "ext_grid", "load", "sgen", "storage", "shunt", "switch"}
)
"""pandapower element tables converted; an in-service row of any other element table is
refused (:func:`check_supported`)."""

_BRANCH_SIDE = {"hv": 0, "lv": 1}


EXTRA_ELEMENTS = ("svc", "tcsc", "vsc", "b2b_vsc", "bus_dc", "line_dc", "source_dc", "load_dc")
"""Power-flow element tables of pandapower 3 beyond :func:`pandapower.pp_elements`' list."""


def _elements(net: Any) -> list[str]:
    """Return pandapower's power-flow element tables (not measurements or controllers)."""
    import pandapower as pp

    names = set(pp.pp_elements(other_elements=False, res_elements=False)) | set(EXTRA_ELEMENTS)
    return sorted(names)


def check_supported(net: Any) -> None:
    """Raise :class:`ScenarioError` naming the first in-service element pgm cannot take."""
    for table in _elements(net):
        if table in SUPPORTED or table not in net:
            continue
        df = net[table]
        if len(df) == 0:
            continue
        active = df[df["in_service"].astype(bool)] if "in_service" in df else df
        if len(active):
            idx = active.index[0]
            name = active.at[idx, "name"] if "name" in active else idx
            raise ScenarioError(
                f"grid.solver = 'pgm': the network has {len(active)} in-service {table!r} "
                f"element(s) (first: {table} {idx} {name!r}) that the power-grid-model backend "
                "does not convert; use grid.solver = 'pandapower' or map them to loads/sgens"
            )
    load = net.load
    for col in ("const_z_p_percent", "const_i_p_percent", "const_z_q_percent", "const_i_q_percent"):
        if col in load and bool((load[col].fillna(0.0).abs() > 0).any()):
            idx = load.index[load[col].fillna(0.0).abs() > 0][0]
            raise ScenarioError(
                f"grid.solver = 'pgm': load {idx} has {col} > 0 (ZIP load); the pgm backend "
                "takes constant-power loads only: use grid.solver = 'pandapower'"
            )
    trafo = net.trafo
    for idx in trafo.index:
        if _tap_active(trafo, idx):
            kind = str(trafo.at[idx, "tap_changer_type"])
            degree = float(np.nan_to_num(trafo.at[idx, "tap_step_degree"]))
            if kind != "Ratio" or degree != 0.0:
                raise ScenarioError(
                    f"grid.solver = 'pgm': trafo {idx} has a {kind!r} tap changer "
                    f"(tap_step_degree {degree}); only ratio taps are converted"
                )
        shift = float(trafo.at[idx, "shift_degree"])
        if not math.isclose(shift / 30.0, round(shift / 30.0), abs_tol=1e-9):
            raise ScenarioError(
                f"grid.solver = 'pgm': trafo {idx} shift_degree {shift} is not a multiple of 30"
            )
    for col in ("leakage_resistance_ratio_hv", "leakage_reactance_ratio_hv"):
        if col in trafo and bool((trafo[col].fillna(0.5) != 0.5).any()):
            raise ScenarioError(
                f"grid.solver = 'pgm': a transformer has {col} other than 0.5 (an asymmetric T "
                "model); not converted"
            )
    if "tap_dependency_table" in trafo and bool(trafo["tap_dependency_table"].fillna(False).any()):
        raise ScenarioError(
            "grid.solver = 'pgm': a transformer has a tap dependency table; not converted"
        )


def _tap_active(trafo: Any, idx: Any) -> bool:
    kind = trafo.at[idx, "tap_changer_type"] if "tap_changer_type" in trafo else None
    if kind is None or (isinstance(kind, float) and math.isnan(kind)):
        return False
    step = trafo.at[idx, "tap_step_percent"]
    return bool(np.isfinite(float(step)))


def t_model_as_pi(
    vk_percent: FloatArray,
    vkr_percent: FloatArray,
    i0_percent: FloatArray,
    pfe_kw: FloatArray,
    sn_va: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return power-grid-model's ``uk``, ``pk`` [W], ``i0``, ``p0`` [W] for pandapower's T model.

    pandapower's default transformer model is a T: half the short-circuit impedance z on each
    side of the magnetising admittance y (both in pu of the rating; ``b`` inductive, negative,
    as pandapower's ``_calc_y_from_dataframe``).  power-grid-model's transformer is a pi with
    the magnetising admittance split over both ends (equal to pandapower's ``trafo_model =
    "pi"``, checked to 1e-15 pu).  The star-delta transform of the T (pandapower's
    ``_wye_delta`` with equal halves) is a symmetric pi with series z' = z (1 + z y / 4) and
    total shunt y' = y / (1 + z y / 4); the returned parameters give that pi.
    """
    z_abs = vk_percent / 100.0
    r = vkr_percent / 100.0
    z = r + 1j * np.sqrt(np.maximum(z_abs**2 - r**2, 0.0))
    g = pfe_kw * 1e3 / sn_va
    y_abs = i0_percent / 100.0
    y = g - 1j * np.sqrt(np.maximum(y_abs**2 - g**2, 0.0))
    k = 1.0 + z * y / 4.0
    z_pi = z * k
    y_pi = y / k
    return (
        np.abs(z_pi).astype(float),
        (z_pi.real * sn_va).astype(float),
        np.abs(y_pi).astype(float),
        (y_pi.real * sn_va).astype(float),
    )


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class PgmSolver:
    """A pandapower network converted once to power-grid-model, solved after each update."""

    def __init__(self, net: Any, *, max_iteration: int = 30) -> None:
        """Convert ``net`` (topology and parameters as they stand now)."""
        from power_grid_model import ComponentType as CT
        from power_grid_model import PowerGridModel, initialize_array

        check_supported(net)
        self.net = net
        self.max_iteration = max_iteration
        bus = net.bus
        n_bus = len(bus)
        bus_pos = {int(b): k for k, b in enumerate(bus.index)}
        self._bus_pos = bus_pos
        uf = _UnionFind(n_bus)
        sw = net.switch
        if len(sw):
            fuse = sw[(sw["et"] == "b") & sw["closed"].astype(bool)]
            for b, e in zip(fuse["bus"], fuse["element"], strict=True):
                uf.union(bus_pos[int(b)], bus_pos[int(e)])
        root = np.array([uf.find(k) for k in range(n_bus)], dtype=np.int64)
        roots, node_of_bus = np.unique(root, return_inverse=True)
        self._node_of_bus: IntArray = node_of_bus.astype(np.int64)
        bus_ok = bus["in_service"].to_numpy(dtype=bool)
        self._bus_ok = bus_ok
        vn_kv = bus["vn_kv"].to_numpy(dtype=float)
        self._vn_kv = vn_kv
        next_id = 0

        def ids(n: int) -> IntArray:
            nonlocal next_id
            out = np.arange(next_id, next_id + n, dtype=np.int64)
            next_id += n
            return out

        node = initialize_array("input", CT.node, len(roots))
        node["id"] = ids(len(roots))
        node["u_rated"] = vn_kv[roots] * 1e3
        self._node_ids: IntArray = node["id"].astype(np.int64)

        def node_id(buses: Any) -> IntArray:
            pos = np.array([bus_pos[int(b)] for b in buses], dtype=np.int64)
            return self._node_ids[self._node_of_bus[pos]]

        def bus_positions(buses: Any) -> IntArray:
            return np.array([bus_pos[int(b)] for b in buses], dtype=np.int64)

        def bus_in_service(buses: Any) -> npt.NDArray[np.bool_]:
            return np.array([bus_ok[bus_pos[int(b)]] for b in buses], dtype=bool)

        # (element type, element, bus) of every open switch: one pass over the switch table
        opened = (
            {
                (str(et), int(e), int(b))
                for et, e, b, closed in zip(
                    sw["et"], sw["element"], sw["bus"], sw["closed"].astype(bool), strict=True
                )
                if not closed
            }
            if len(sw)
            else set()
        )

        def open_side(et: str, element: int, at_bus: int) -> bool:
            return (et, element, at_bus) in opened

        f_hz = float(net.f_hz)
        # lines
        ln = net.line
        line = initialize_array("input", CT.line, len(ln))
        line["id"] = ids(len(ln))
        line["from_node"] = node_id(ln["from_bus"])
        line["to_node"] = node_id(ln["to_bus"])
        ln_ok = ln["in_service"].to_numpy(dtype=bool)
        line["from_status"] = (
            ln_ok
            & bus_in_service(ln["from_bus"])
            & np.array(
                [
                    not open_side("l", int(i), int(b))
                    for i, b in zip(ln.index, ln["from_bus"], strict=True)
                ],
                dtype=bool,
            )
        )
        line["to_status"] = (
            ln_ok
            & bus_in_service(ln["to_bus"])
            & np.array(
                [
                    not open_side("l", int(i), int(b))
                    for i, b in zip(ln.index, ln["to_bus"], strict=True)
                ],
                dtype=bool,
            )
        )
        length = ln["length_km"].to_numpy(dtype=float)
        par = ln["parallel"].to_numpy(dtype=float)
        line["r1"] = ln["r_ohm_per_km"].to_numpy(dtype=float) * length / par
        line["x1"] = ln["x_ohm_per_km"].to_numpy(dtype=float) * length / par
        c_f = ln["c_nf_per_km"].to_numpy(dtype=float) * 1e-9 * length * par
        g_s = (ln["g_us_per_km"].to_numpy(dtype=float) if "g_us_per_km" in ln else 0.0) * 1e-6
        g_s = g_s * length * par
        if np.any((c_f == 0.0) & (np.asarray(g_s) != 0.0)):
            raise ScenarioError(
                "grid.solver = 'pgm': a line has g_us_per_km > 0 with no capacitance"
            )
        line["c1"] = c_f
        with np.errstate(invalid="ignore", divide="ignore"):
            line["tan1"] = np.where(c_f > 0, g_s / (2 * math.pi * f_hz * c_f), 0.0)
        self._line_i_rated_ka: FloatArray = (
            ln["max_i_ka"].to_numpy(dtype=float) * ln["df"].to_numpy(dtype=float) * par
        )
        line["i_n"] = self._line_i_rated_ka * 1e3
        # transformers
        tr = net.trafo
        trafo = initialize_array("input", CT.transformer, len(tr))
        trafo["id"] = ids(len(tr))
        trafo["from_node"] = node_id(tr["hv_bus"])
        trafo["to_node"] = node_id(tr["lv_bus"])
        tr_ok = tr["in_service"].to_numpy(dtype=bool)
        trafo["from_status"] = (
            tr_ok
            & bus_in_service(tr["hv_bus"])
            & np.array(
                [
                    not open_side("t", int(i), int(b))
                    for i, b in zip(tr.index, tr["hv_bus"], strict=True)
                ],
                dtype=bool,
            )
        )
        trafo["to_status"] = (
            tr_ok
            & bus_in_service(tr["lv_bus"])
            & np.array(
                [
                    not open_side("t", int(i), int(b))
                    for i, b in zip(tr.index, tr["lv_bus"], strict=True)
                ],
                dtype=bool,
            )
        )
        tpar = tr["parallel"].to_numpy(dtype=float)
        sn_va = tr["sn_mva"].to_numpy(dtype=float) * 1e6 * tpar
        trafo["u1"] = tr["vn_hv_kv"].to_numpy(dtype=float) * 1e3
        trafo["u2"] = tr["vn_lv_kv"].to_numpy(dtype=float) * 1e3
        trafo["sn"] = sn_va
        uk, pk, i0, p0 = t_model_as_pi(
            tr["vk_percent"].to_numpy(dtype=float),
            tr["vkr_percent"].to_numpy(dtype=float),
            tr["i0_percent"].to_numpy(dtype=float),
            tr["pfe_kw"].to_numpy(dtype=float) * tpar,
            sn_va,
        )
        trafo["uk"] = uk
        trafo["pk"] = pk
        trafo["i0"] = i0
        trafo["p0"] = p0
        clock = np.rint(tr["shift_degree"].to_numpy(dtype=float) / 30.0).astype(np.int64) % 12
        trafo["clock"] = clock
        trafo["winding_from"] = np.where(clock % 2 == 1, 2, 1)  # delta : wye_n
        trafo["winding_to"] = 1  # wye_n
        self._tap = np.array([_tap_active(tr, i) for i in tr.index], dtype=bool)
        side = np.array(
            [
                _BRANCH_SIDE.get(str(s), 0) if t else 0
                for s, t in zip(tr["tap_side"], self._tap, strict=True)
            ],
            dtype=np.int64,
        )
        trafo["tap_side"] = side
        u_side = np.where(side == 0, trafo["u1"], trafo["u2"])
        step = np.nan_to_num(tr["tap_step_percent"].to_numpy(dtype=float))
        trafo["tap_size"] = np.where(self._tap, step / 100.0 * u_side, 0.0)
        self._tap_neutral = np.where(
            self._tap, np.nan_to_num(tr["tap_neutral"].to_numpy(dtype=float)), 0.0
        ).astype(np.int64)
        tap_min = np.where(self._tap, np.nan_to_num(tr["tap_min"].to_numpy(dtype=float)), 0.0)
        tap_max = np.where(self._tap, np.nan_to_num(tr["tap_max"].to_numpy(dtype=float)), 0.0)
        trafo["tap_nom"] = self._tap_neutral
        trafo["tap_min"] = tap_min.astype(np.int64)
        trafo["tap_max"] = tap_max.astype(np.int64)
        trafo["tap_pos"] = self._tap_positions()
        self._trafo_vn_kv = np.vstack(
            [tr["vn_hv_kv"].to_numpy(dtype=float), tr["vn_lv_kv"].to_numpy(dtype=float)]
        ).T
        self._trafo_sn_par_df = (
            tr["sn_mva"].to_numpy(dtype=float) * tpar * tr["df"].to_numpy(dtype=float)
        )
        # sources
        eg = net.ext_grid
        source = initialize_array("input", CT.source, len(eg))
        source["id"] = ids(len(eg))
        source["node"] = node_id(eg["bus"])
        source["status"] = eg["in_service"].to_numpy(dtype=bool) & bus_in_service(eg["bus"])
        source["u_ref"] = eg["vm_pu"].to_numpy(dtype=float)
        source["u_ref_angle"] = np.deg2rad(eg["va_degree"].to_numpy(dtype=float))
        source["sk"] = SK_SOURCE_VA
        source["rx_ratio"] = 0.1
        source["z01_ratio"] = 1.0
        # appliances: loads and storages (load convention), sgens (generator convention)
        self._appl: dict[str, tuple[str, IntArray]] = {}
        self._rows: dict[tuple[str, bool], tuple[IntArray, npt.NDArray[np.bool_]]] = {}
        loads: list[Any] = []
        for table in ("load", "storage"):
            df = net.get(table, None)
            if df is None or not len(df):
                continue
            arr = initialize_array("input", CT.sym_load, len(df))
            arr["id"] = ids(len(df))
            arr["node"] = node_id(df["bus"])
            arr["type"] = 0  # constant power
            loads.append(arr)
            self._appl[table] = ("sym_load", arr["id"].astype(np.int64))
        gens: list[Any] = []
        if len(net.sgen):
            arr = initialize_array("input", CT.sym_gen, len(net.sgen))
            arr["id"] = ids(len(net.sgen))
            arr["node"] = node_id(net.sgen["bus"])
            arr["type"] = 0
            gens.append(arr)
            self._appl["sgen"] = ("sym_gen", arr["id"].astype(np.int64))
        shunts = net.shunt if "shunt" in net else None
        data: dict[Any, Any] = {
            CT.node: node,
            CT.line: line,
            CT.transformer: trafo,
            CT.source: source,
        }
        if loads:
            data[CT.sym_load] = np.concatenate(loads)
        if gens:
            data[CT.sym_gen] = np.concatenate(gens)
        if shunts is not None and len(shunts):
            sh = initialize_array("input", CT.shunt, len(shunts))
            sh["id"] = ids(len(shunts))
            sh["node"] = node_id(shunts["bus"])
            sh["status"] = shunts["in_service"].to_numpy(dtype=bool) & bus_in_service(shunts["bus"])
            v2 = (shunts["vn_kv"].to_numpy(dtype=float) * 1e3) ** 2
            stp = shunts["step"].to_numpy(dtype=float)
            sh["g1"] = shunts["p_mw"].to_numpy(dtype=float) * 1e6 * stp / v2
            sh["b1"] = -shunts["q_mvar"].to_numpy(dtype=float) * 1e6 * stp / v2
            sh["g0"] = sh["g1"]
            sh["b0"] = sh["b1"]
            data[CT.shunt] = sh
        for table, (_, id_arr) in self._appl.items():
            self._fill(data, table, id_arr, update=False)
        self._line_bus_pos = (bus_positions(ln["from_bus"]), bus_positions(ln["to_bus"]))
        # ends opened by a switch: pandapower puts an auxiliary bus there, whose voltage is the
        # open line end's, V_closed / (1 + Z Y/2) (series Z, half the shunt Y at the open end)
        self._line_open = (
            ln_ok & ~np.asarray(line["from_status"], dtype=bool) & bus_in_service(ln["from_bus"]),
            ln_ok & ~np.asarray(line["to_status"], dtype=bool) & bus_in_service(ln["to_bus"]),
        )
        omega = 2 * math.pi * f_hz
        z = line["r1"] + 1j * line["x1"]
        half_y = 0.5 * (g_s + 1j * omega * c_f)
        self._line_open_ratio = 1.0 / (1.0 + z * half_y)
        self._trafo_bus_pos = (bus_positions(tr["hv_bus"]), bus_positions(tr["lv_bus"]))
        self._src_bus_pos = bus_positions(eg["bus"])
        self._shunt_bus_pos = (
            bus_positions(shunts["bus"]) if shunts is not None else bus_positions([])
        )
        self._appl_bus_pos = {t: bus_positions(net[t]["bus"]) for t in self._appl}
        self._input = data
        self._line = line
        self._trafo = trafo
        self._source = source
        self.model = PowerGridModel(data, system_frequency=f_hz)
        # the update dataset, allocated once
        upd: dict[Any, Any] = {}
        if CT.sym_load in data:
            upd[CT.sym_load] = initialize_array("update", CT.sym_load, len(data[CT.sym_load]))
            upd[CT.sym_load]["id"] = data[CT.sym_load]["id"]
        if CT.sym_gen in data:
            upd[CT.sym_gen] = initialize_array("update", CT.sym_gen, len(data[CT.sym_gen]))
            upd[CT.sym_gen]["id"] = data[CT.sym_gen]["id"]
        if bool(self._tap.any()):
            upd[CT.transformer] = initialize_array("update", CT.transformer, len(trafo))
            upd[CT.transformer]["id"] = trafo["id"]
        self._update = upd
        self._arrays: FlowArrays | None = None

    # ------------------------------------------------------------------ per step
    def _tap_positions(self) -> IntArray:
        tr = self.net.trafo
        pos = np.nan_to_num(tr["tap_pos"].to_numpy(dtype=float))
        return np.where(self._tap, np.rint(pos), self._tap_neutral).astype(np.int64)

    def _fill(self, data: dict[Any, Any], table: str, id_arr: IntArray, *, update: bool) -> None:
        """Write the powers and status of pandapower ``table`` into ``data`` (W/var).

        The rows in ``data`` and each element's bus status are computed once per table (the
        topology is fixed at conversion); per call only whole columns are read.
        """
        from power_grid_model import ComponentType as CT

        df = self.net[table]
        kind = CT.sym_gen if table == "sgen" else CT.sym_load
        arr = data[kind]
        key = (table, update)
        if key not in self._rows:
            pos = np.array([self._bus_pos[int(b)] for b in df["bus"]], dtype=np.int64)
            self._rows[key] = (np.searchsorted(arr["id"], id_arr), self._bus_ok[pos])
        rows, bus_ok = self._rows[key]
        scale = df["scaling"].to_numpy(dtype=float) if "scaling" in df else 1.0
        p = df["p_mw"].to_numpy(dtype=float) * scale * 1e6
        q = df["q_mvar"].to_numpy(dtype=float) * scale * 1e6
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
            raise ScenarioError(f"grid (pgm): a {table} power is not finite")
        arr["p_specified"][rows] = p
        arr["q_specified"][rows] = q
        arr["status"][rows] = df["in_service"].to_numpy(dtype=bool) & bus_ok

    def update(self) -> None:
        """Copy the element powers, status and tap positions of the pandapower tables."""
        from power_grid_model import ComponentType as CT

        for table, (_, id_arr) in self._appl.items():
            self._fill(self._update, table, id_arr, update=True)
        if CT.transformer in self._update:
            self._update[CT.transformer]["tap_pos"] = self._tap_positions()
        self.model.update(update_data=self._update)

    def run(self, net: Any = None, *, tables: bool = True, **_: Any) -> None:
        """Update, solve and write the pandapower result tables (pandapower's ``run`` hook).

        Raises pandapower's ``LoadflowNotConverged`` when Newton-Raphson does not converge, as
        ``runpp`` does, so pandapower's controller loop (``run_control``) can drive it.
        ``tables = False`` keeps the results as :attr:`arrays` only (the tables are left as
        they were: a caller that reads them must not pass it).
        """
        import pandapower as pp
        from power_grid_model import CalculationMethod
        from power_grid_model._core.errors import (
            PowerGridError,
        )  # the public module re-exports it without __all__

        self.update()
        try:
            out = self.model.calculate_power_flow(
                calculation_method=CalculationMethod.newton_raphson,
                error_tolerance=ERROR_TOLERANCE_PU,
                max_iterations=self.max_iteration,
            )
        except PowerGridError as err:
            self.net["converged"] = False
            raise pp.powerflow.LoadflowNotConverged(f"power-grid-model: {err}") from err
        self._results(out, tables=tables)
        self.net["converged"] = True

    def solve_batch(
        self,
        p_mw: dict[str, FloatArray],
        q_mvar: dict[str, FloatArray],
        *,
        threads: int = 1,
    ) -> list[FlowArrays] | None:
        """Solve K operating points in one power-grid-model batch call; None if one fails.

        ``p_mw``/``q_mvar`` map an appliance table (``load``, ``storage``: load convention;
        ``sgen``: generator convention) to a (K, rows) array of its powers [MW, MVAr] in the
        table's row order; a table left out keeps its present powers in every point.  The
        elements' status, ``scaling`` and the tap positions are those of the tables as they
        stand (no controller runs inside a batch).  Each point is solved alone, from the same
        start as a single solve, so a batch gives the results of K single solves (agreement
        tested to 1e-12 pu).  ``threads``: power-grid-model's ``threading`` (1 = this thread;
        0 = one per hardware thread); the results do not depend on it.  None when a point does
        not converge: the caller then solves the window point by point under its policy.
        """
        from power_grid_model import CalculationMethod, initialize_array
        from power_grid_model import ComponentType as CT
        from power_grid_model._core.errors import PowerGridError

        given = {len(a) for a in (*p_mw.values(), *q_mvar.values())}
        if len(given) != 1:
            raise ScenarioError("grid (pgm): a batch needs the same number of points per table")
        (k,) = given
        self.update()  # statuses, taps and the tables' present powers
        upd: dict[Any, Any] = {}
        for kind in (CT.sym_load, CT.sym_gen):
            if kind not in self._update:
                continue
            base = self._update[kind]
            arr = initialize_array("update", kind, (k, len(base)))
            arr["id"] = base["id"]
            arr["status"] = base["status"]
            arr["p_specified"] = base["p_specified"]
            arr["q_specified"] = base["q_specified"]
            upd[kind] = arr
        for table, (kind_name, id_arr) in self._appl.items():
            kind = CT.sym_gen if kind_name == "sym_gen" else CT.sym_load
            rows = self._rows[(table, True)][0]
            df = self.net[table]
            scale = df["scaling"].to_numpy(dtype=float) if "scaling" in df else 1.0
            for values, col in (
                (p_mw.get(table), "p_specified"),
                (q_mvar.get(table), "q_specified"),
            ):
                if values is None:
                    continue
                v = np.asarray(values, dtype=float)
                if v.shape != (k, len(id_arr)):
                    raise ScenarioError(
                        f"grid (pgm): batch {table} needs ({k}, {len(id_arr)}) values, "
                        f"got {v.shape}"
                    )
                if not np.all(np.isfinite(v)):
                    raise ScenarioError(f"grid (pgm): a batch {table} power is not finite")
                upd[kind][col][:, rows] = v * scale * 1e6
        try:
            out = self.model.calculate_power_flow(
                calculation_method=CalculationMethod.newton_raphson,
                error_tolerance=ERROR_TOLERANCE_PU,
                max_iterations=self.max_iteration,
                update_data=upd,
                threading=threads,
            )
        except PowerGridError:
            return None
        results = []
        for i in range(k):
            self._results({ct: out[ct][i] for ct in out}, tables=False)
            results.append(self.arrays)
        return results

    @property
    def arrays(self) -> FlowArrays:
        """The last converged solve's results (:class:`~v2xcosim.grid.flow_arrays.FlowArrays`)."""
        if self._arrays is None:
            raise RuntimeError("power-grid-model: no converged solve yet")
        return self._arrays

    def _results(self, out: Any, *, tables: bool) -> None:
        """Keep the results as arrays and, with ``tables``, write pandapower's result tables.

        The arrays and the tables hold the same values, with pandapower's NaN rules.
        As pandapower: a bus that is not supplied has NaN voltages; a branch's end voltages are
        its buses' (whatever the branch's status), at a line end opened by a switch the open
        end's; its current at an end is NaN where that bus
        is not supplied, else 0 when the branch is off; loading is NaN where a current is; the
        powers of a branch that is off are 0; ``res_bus`` p/q are the sums of the elements'
        powers at the bus, load convention.
        """
        import pandas as pd
        from power_grid_model import ComponentType as CT

        net = self.net
        nan = float("nan")
        nd = out[CT.node]
        node_of_bus = self._node_of_bus
        energized = nd["energized"][node_of_bus].astype(bool) & self._bus_ok
        vm = np.where(energized, nd["u_pu"][node_of_bus], nan)
        va = np.where(energized, np.rad2deg(nd["u_angle"][node_of_bus]), nan)
        src = out[CT.source]
        f, t = self._line_bus_pos
        vm_f, va_f, vm_t, va_t = vm[f].copy(), va[f].copy(), vm[t].copy(), va[t].copy()
        ratio = self._line_open_ratio
        open_f, open_t = self._line_open
        for opened, vm_o, va_o, vm_c, va_c in (
            (open_f, vm_f, va_f, vm[t], va[t]),
            (open_t, vm_t, va_t, vm[f], va[f]),
        ):
            u = vm_c[opened] * np.exp(1j * np.deg2rad(va_c[opened])) * ratio[opened]
            vm_o[opened] = np.abs(u)
            va_o[opened] = np.rad2deg(np.angle(u))
        line = self._branch_columns(
            out[CT.line], (vm_f, va_f, vm_t, va_t), ("from", "to"), self._line_i_rated_ka, None
        )
        f, t = self._trafo_bus_pos
        trafo = self._branch_columns(
            out[CT.transformer], (vm[f], va[f], vm[t], va[t]), ("hv", "lv"), None, self._trafo_vn_kv
        )
        ext_p_mw, ext_q_mvar = src["p"] / 1e6, src["q"] / 1e6
        self._arrays = FlowArrays.from_mw(
            vm_pu=vm,
            line_pl_mw=line["pl_mw"],
            line_loading_percent=line["loading_percent"],
            trafo_pl_mw=trafo["pl_mw"],
            trafo_loading_percent=trafo["loading_percent"],
            trafo_p_hv_mw=trafo["p_hv_mw"],
            trafo_q_hv_mvar=trafo["q_hv_mvar"],
            ext_grid_p_mw=ext_p_mw,
            ext_grid_q_mvar=ext_q_mvar,
        )
        if not tables:
            return
        n_bus = len(vm)
        p_bus = np.zeros(n_bus)
        q_bus = np.zeros(n_bus)
        appliance: dict[str, tuple[FloatArray, FloatArray]] = {}
        for table, (kind, id_arr) in self._appl.items():
            res = out[CT.sym_gen if kind == "sym_gen" else CT.sym_load]
            rows = np.searchsorted(res["id"], id_arr)
            p_w, q_var = res["p"][rows].astype(float), res["q"][rows].astype(float)
            appliance[table] = (p_w, q_var)
            sign = -1.0 if table == "sgen" else 1.0
            pos = self._appl_bus_pos[table]
            p_bus += sign * np.bincount(pos, weights=p_w, minlength=n_bus) / 1e6
            q_bus += sign * np.bincount(pos, weights=q_var, minlength=n_bus) / 1e6
        p_bus -= np.bincount(self._src_bus_pos, weights=src["p"], minlength=n_bus) / 1e6
        q_bus -= np.bincount(self._src_bus_pos, weights=src["q"], minlength=n_bus) / 1e6
        if CT.shunt in out:
            sh = out[CT.shunt]
            p_bus += np.bincount(self._shunt_bus_pos, weights=sh["p"], minlength=n_bus) / 1e6
            q_bus += np.bincount(self._shunt_bus_pos, weights=sh["q"], minlength=n_bus) / 1e6
        net["res_bus"] = pd.DataFrame(
            {
                "vm_pu": vm,
                "va_degree": va,
                "p_mw": p_bus,
                "q_mvar": q_bus,
            },
            index=net.bus.index,
        )
        net["res_line"] = pd.DataFrame(line).set_axis(net.line.index)
        net["res_trafo"] = pd.DataFrame(trafo).set_axis(net.trafo.index)
        net["res_ext_grid"] = pd.DataFrame(
            {"p_mw": ext_p_mw, "q_mvar": ext_q_mvar}, index=net.ext_grid.index
        )
        for table, (p_w, q_var) in appliance.items():
            net[f"res_{table}"] = pd.DataFrame(
                {"p_mw": p_w / 1e6, "q_mvar": q_var / 1e6}, index=net[table].index
            )

    def _branch_columns(
        self,
        br: Any,
        end_v: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
        ends: tuple[str, str],
        i_rated_ka: FloatArray | None,
        trafo_vn_kv: FloatArray | None,
    ) -> dict[str, Any]:
        """Return a branch table's result columns (pandapower's names and order)."""
        vm_a, va_a, vm_b, va_b = end_v
        a, b = ends
        i_a = np.where(np.isnan(vm_a), np.nan, br["i_from"] / 1e3)
        i_b = np.where(np.isnan(vm_b), np.nan, br["i_to"] / 1e3)
        if trafo_vn_kv is None:
            assert i_rated_ka is not None
            loading = np.maximum(i_a, i_b) / i_rated_ka * 100.0
        else:
            loading = (
                np.maximum(i_a * trafo_vn_kv[:, 0], i_b * trafo_vn_kv[:, 1])
                * math.sqrt(3)
                / self._trafo_sn_par_df
                * 100.0
            )
        p = "p_hv_mw" if a == "hv" else "p_from_mw"
        cols: dict[str, Any] = {
            p: br["p_from"] / 1e6,
            f"q_{a}_mvar": br["q_from"] / 1e6,
            f"p_{b}_mw": br["p_to"] / 1e6,
            f"q_{b}_mvar": br["q_to"] / 1e6,
            "pl_mw": (br["p_from"] + br["p_to"]) / 1e6,
            "ql_mvar": (br["q_from"] + br["q_to"]) / 1e6,
            f"i_{a}_ka": i_a,
            f"i_{b}_ka": i_b,
        }
        if trafo_vn_kv is None:
            cols["i_ka"] = np.maximum(i_a, i_b)
        cols.update(
            {
                f"vm_{a}_pu": vm_a,
                f"va_{a}_degree": va_a,
                f"vm_{b}_pu": vm_b,
                f"va_{b}_degree": va_b,
                "loading_percent": loading,
            }
        )
        return cols

    def _node_pos(self, node_ids: Any) -> IntArray:
        return np.searchsorted(self._node_ids, np.asarray(node_ids, dtype=np.int64)).astype(
            np.int64
        )


__all__ = ["ERROR_TOLERANCE_PU", "SK_SOURCE_VA", "SUPPORTED", "PgmSolver", "check_supported"]
