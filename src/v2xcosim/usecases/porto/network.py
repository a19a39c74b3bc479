"""Porto airport as an MV customer: its MV ring, terminal substations and the car park's feeder.

Built from parameters only (pandapower, no network data file); every number below is either
sourced or an **assumption**, listed again in :class:`PortoNetworkSpec` and its parts.

* **MV connection**: an external grid (ideal voltage source at ``ext_grid_vm_pu``) at the
  airport's MV switchboard, **15 kV** (assumption: data-facts gives no MV level for the airport;
  E-REDES distributes MV at 10, 15 and 30 kV and 15 kV is the usual level around Porto —
  not verified).  Its short-circuit power (250 MVA, R/X 0.1) is an assumption used only by
  short-circuit studies; pandapower's power flow ignores it.
* **Airport MV ring**: the switchboard, ``n_terminal_substations`` terminal substations and the
  car-park substation on a ring of 12/20 kV XLPE cable (pandapower standard type ``NA2XS2Y
  1x240 RM/25 12/20 kV``, operated at 15 kV; segments of 400 m — assumptions), run open at one
  normally-open point, as MV rings are (two radial half-rings).  Ring order: switchboard, T1 …
  T6, car park, switchboard.  The open point is the segment that minimises the larger half's
  load at the design point (:func:`open_point_segment`): every terminal substation at its share
  of the terminal's peak, the car park at half its chargers' rating (diversified demand,
  **assumption**).  By default that is the segment T3–T4: T1–T3 on one half, T4–T6 and the
  car park on the other (3/3); the choice stays the same for any car-park load below one
  terminal substation's share (2.16 MVA).
* **N-1 of the ring** (:func:`ring_n_minus_1`): a fault on a ring-head segment is cleared and
  the open point closed, so the other head segment carries the whole airport.  At 15 kV the
  240 mm² cable (421 A) then carries at most √3 × 15 kV × 0.421 kA × cos φ 0.95 = 10.4 MW
  (:func:`ring_head_limit_w`): **at the terminal's 12.3 MW peak the ring is not N-1 secure**
  (≈ 120 % loading; ``scenarios/porto/README.md`` gives the July week's value).
* **Terminal substations**: the terminal's load (``Terminal.mo``: peak 12.3 MW hourly mean,
  70.6 GWh/a, its calibration) split equally over six substations, each with **two 2.5 MVA
  15/0.4 kV transformers** in parallel on one LV busbar.  Sizing rule (assumption): **N-1 per
  substation** — one transformer alone carries its substation's share of the peak at
  cos φ 0.95 (12.3 MW / 0.95 / 6 = 2.16 MVA = 86 % of 2.5 MVA; :func:`n_minus_1_loading`).
  Transformer data (:class:`TransformerSpec`): vk 6 %, load losses 22 kW, no-load losses
  1.75 kW — the EU Ecodesign Tier 2 limits for a 2.5 MVA liquid-immersed transformer
  (Regulation (EU) 548/2014 as amended by 2019/1783; values as remembered — assumption).
* **Long-term car park**: its own substation on the ring with one 2.5 MVA 15/0.4 kV
  transformer (no N-1: charging can wait, assumption) and an LV busbar feeding **10 charger
  groups of 20 bidirectional chargers at 11 kW** (200 chargers), each group at the end of its own
  LV cable (two parallel ``NAYY 4x150 SE``, 60–240 m).  11 kW: the DriVe2X Porto
  charge-station emulator limits a charge point to ±11 kW (data-facts); bidirectional AC
  chargers of the time are rated 7–22 kW (Renault Mobilize Powerbox, Wallbox Quasar 2 11.5 kW).
  200 chargers: assumption — a V2B pilot equipping about 10 % of the airport's more than 2,000
  public parking spaces (portoairport.net, "Porto Airport Parking": five car parks, over 2,000
  spaces).

README sentence: *The 200 bidirectional chargers of the long-term car park (11 kW each,
2.2 MW together) equal 17.9 % of the terminal's 12.3 MW peak; fully discharging they could cover
that share of the peak, and charging together they raise the connection's peak by as much.*
(:func:`charger_power_share`.)

Sign convention: load convention (+ = drawn from the grid) in W / var at this module's
boundary; pandapower's MW / MVAr and its generator sign for ``sgen`` stay inside.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.units import W_PER_KW, W_PER_MW
from v2xcosim.grid.powerflow import PowerFlow, PowerFlowOptions

FloatArray = npt.NDArray[np.float64]

LV_KV = 0.4
"""Secondary (LV) voltage of the airport's distribution transformers [kV] (IEC 60038 400 V)."""


@dataclass(frozen=True)
class TransformerSpec:
    """A 15/0.4 kV distribution transformer from its nameplate (pandapower's parameters).

    Defaults: a 2.5 MVA liquid-immersed unit with the EU Ecodesign Tier 2 maximum losses
    (Regulation (EU) 548/2014, amended by 2019/1783: load losses 22 kW, no-load losses 1.75 kW
    — remembered values, **assumption**) and the 6 % short-circuit impedance usual above
    630 kVA.  ``vkr_percent`` = load losses / rating = 22 / 2500 = 0.88 %.  No-load current
    0.3 % (assumption).  ``Dyn11``: the usual European distribution vector group.
    """

    sn_mva: float = 2.5
    vn_hv_kv: float = 15.0
    vn_lv_kv: float = LV_KV
    vk_percent: float = 6.0
    vkr_percent: float = 0.88
    pfe_kw: float = 1.75
    i0_percent: float = 0.3
    vector_group: str = "Dyn11"


@dataclass(frozen=True)
class ChargerGroupSpec:
    """One group of identical chargers on one LV cable from the car park's LV busbar.

    The chargers of a group sit at the cable's far end (a distribution board per row of
    parking bays; the row's own short final circuits are left out — assumption).
    ``p_charger_kw`` is the rating per charger in both directions [kW]; ``cable_m`` the cable
    length [m]; ``parallel_cables`` identical cables in parallel.
    """

    name: str
    n_chargers: int = 20
    p_charger_kw: float = 11.0
    cable_m: float = 100.0
    cable_std_type: str = "NAYY 4x150 SE"
    parallel_cables: int = 2

    @property
    def p_max_w(self) -> float:
        """Aggregate charger rating of the group [W]."""
        return self.n_chargers * self.p_charger_kw * W_PER_KW


DEFAULT_CHARGER_GROUPS: tuple[ChargerGroupSpec, ...] = tuple(
    ChargerGroupSpec(name=f"G{k + 1:02d}", cable_m=60.0 + 20.0 * k) for k in range(10)
)
"""Ten rows of 20 chargers (11 kW) at 60, 80, …, 240 m from the car park's substation
(geometry: assumption for a surface car park of ~200 × 100 m)."""


@dataclass(frozen=True)
class PortoNetworkSpec:
    """Parameters of :func:`build_porto_network` (units in the names; module docstring).

    * ``mv_kv``: MV level of the connection (15 kV, **assumption**);
    * ``ext_grid_vm_pu``: voltage set at the connection [pu];
      ``s_sc_max_mva``/``rx_max``: the upstream grid's short-circuit power and R/X (250 MVA,
      0.1 — **assumption**, short-circuit studies only);
    * ``n_terminal_substations`` × ``terminal_trafos_per_substation`` transformers
      ``terminal_trafo`` (6 × 2 × 2.5 MVA: N-1 per substation, **assumption**);
    * ``terminal_peak_mw``: the terminal's peak (12.3 MW, ``Terminal.mo`` calibration) and
      ``terminal_cos_phi`` its power factor (0.95, **assumption**: compensated building load);
      both used for sizing checks and the default reactive power only;
    * ``ring_cable_std_type``, ``ring_segment_m``: the MV ring's cable and segment length
      (**assumption**);
    * ``carpark_trafo`` and ``charger_groups``: the car park (module docstring);
    * ``pv_kwp``: rooftop PV on the terminal, split over its substations (0 = none; the
      terminal FMU's own PV output, if used, must then not be netted into its load).
    """

    mv_kv: float = 15.0
    ext_grid_vm_pu: float = 1.0
    s_sc_max_mva: float = 250.0
    rx_max: float = 0.1
    n_terminal_substations: int = 6
    terminal_trafos_per_substation: int = 2
    terminal_trafo: TransformerSpec = field(default_factory=TransformerSpec)
    terminal_peak_mw: float = 12.3
    terminal_cos_phi: float = 0.95
    ring_cable_std_type: str = "NA2XS2Y 1x240 RM/25 12/20 kV"
    ring_segment_m: float = 400.0
    carpark_trafo: TransformerSpec = field(default_factory=TransformerSpec)
    charger_groups: tuple[ChargerGroupSpec, ...] = DEFAULT_CHARGER_GROUPS
    pv_kwp: float = 0.0


def n_minus_1_loading(spec: PortoNetworkSpec) -> float:
    """Return a terminal transformer's loading at the peak with one of its pair out [-].

    ``S_peak / n_substations / ((trafos per substation − 1) × S_n)`` with ``S_peak =
    terminal_peak_mw / terminal_cos_phi``; ``inf`` with one transformer per substation.
    """
    spare = spec.terminal_trafos_per_substation - 1
    if spare < 1:
        return math.inf
    s_sub_mva = spec.terminal_peak_mw / spec.terminal_cos_phi / spec.n_terminal_substations
    return s_sub_mva / (spare * spec.terminal_trafo.sn_mva)


CARPARK_DESIGN_SHARE = 0.5
"""Car park's demand at the terminal's peak as a share of its chargers' rating, used only to
place the ring's open point (diversified demand, **assumption**; the shipped week runs' largest
car-park draw is 1.58 MW = 72 %, at the start of the uncontrolled run)."""


def ring_design_loads_mva(spec: PortoNetworkSpec) -> list[float]:
    """Design loads of the ring's substations in ring order (T1 … Tn, car park) [MVA].

    Each terminal substation: ``terminal_peak_mw / terminal_cos_phi / n`` (its equal share of
    the peak); the car park: :data:`CARPARK_DESIGN_SHARE` × its chargers' rating (cos φ 1).
    """
    n = spec.n_terminal_substations
    s_sub = spec.terminal_peak_mw / spec.terminal_cos_phi / n
    s_cp = CARPARK_DESIGN_SHARE * charger_power_p_max_w(spec) / W_PER_MW
    return [s_sub] * n + [s_cp]


def open_point_segment(spec: PortoNetworkSpec) -> int:
    """Return the ring segment run open: the one minimising the larger half's design load.

    Segment ``k`` joins the ``k``-th and ``k+1``-th ring bus (0 = the switchboard, then T1 …
    Tn, the car park, and the switchboard again); opening it feeds the substations before it
    through segment 0 and those after it through the last segment.  Loads: each substation's
    :func:`ring_design_loads_mva` summed arithmetically (losses and angle differences
    neglected).  Ties go to the lower ``k``.  Default network: 3 (T3–T4), halves of 6.47 and
    6.47 + 1.1 MVA.
    """
    loads = ring_design_loads_mva(spec)
    total = sum(loads)
    best_k, best = 1, math.inf
    for k in range(1, len(loads) + 1):  # open segment k: loads[:k] on the first half
        first = sum(loads[:k])
        larger = max(first, total - first)
        if larger < best - 1e-12:
            best_k, best = k, larger
    return best_k


def ring_head_limit_w(spec: PortoNetworkSpec, cos_phi: float | None = None) -> float:
    """Active power one ring-head segment carries at its rated current [W].

    ``√3 × mv_kv × max_i_ka × cos φ`` at 1.0 pu (cos φ default ``terminal_cos_phi``): the
    airport's import up to which the ring stays N-1 secure (all of it then flows through one
    head segment); the rated current is pandapower's ``max_i_ka`` of ``ring_cable_std_type``.
    """
    import pandapower as pp

    types = pp.available_std_types(pp.create_empty_network(), "line")
    if spec.ring_cable_std_type not in types.index:
        raise ScenarioError(
            f"porto network: ring_cable_std_type {spec.ring_cable_std_type!r} is not a "
            "pandapower standard line type; name one of pandapower.available_std_types"
        )
    i_ka = float(types.at[spec.ring_cable_std_type, "max_i_ka"])
    cos = spec.terminal_cos_phi if cos_phi is None else cos_phi
    return math.sqrt(3.0) * spec.mv_kv * i_ka * cos * W_PER_MW


def charger_power_p_max_w(spec: PortoNetworkSpec) -> float:
    """Aggregate rating of the car park's chargers [W]."""
    return sum(g.p_max_w for g in spec.charger_groups)


def charger_power_share(spec: PortoNetworkSpec) -> float:
    """Aggregate charger rating as a share of the terminal's peak [-] (0.179 by default)."""
    return charger_power_p_max_w(spec) / (spec.terminal_peak_mw * W_PER_MW)


def _validate(spec: PortoNetworkSpec) -> None:
    bad: list[str] = []
    for key in ("mv_kv", "ext_grid_vm_pu", "s_sc_max_mva", "terminal_peak_mw", "ring_segment_m"):
        value = getattr(spec, key)
        if not (math.isfinite(value) and value > 0):
            bad.append(f"{key} = {value} must be finite and > 0")
    if not 0 < spec.terminal_cos_phi <= 1:
        bad.append(f"terminal_cos_phi = {spec.terminal_cos_phi} must be in (0, 1]")
    if not (math.isfinite(spec.pv_kwp) and spec.pv_kwp >= 0):
        bad.append(f"pv_kwp = {spec.pv_kwp} must be finite and >= 0")
    for key in ("n_terminal_substations", "terminal_trafos_per_substation"):
        if getattr(spec, key) < 1:
            bad.append(f"{key} must be >= 1")
    for key in ("terminal_trafo", "carpark_trafo"):
        t: TransformerSpec = getattr(spec, key)
        if not (t.sn_mva > 0 and 0 < t.vkr_percent < t.vk_percent and t.pfe_kw >= 0):
            bad.append(f"{key}: need sn_mva > 0, 0 < vkr_percent < vk_percent, pfe_kw >= 0")
        if not math.isclose(t.vn_hv_kv, spec.mv_kv):
            bad.append(f"{key}.vn_hv_kv = {t.vn_hv_kv} must equal mv_kv = {spec.mv_kv}")
    names = [g.name for g in spec.charger_groups]
    if not names:
        bad.append("charger_groups: need at least one group")
    if len(set(names)) != len(names):
        bad.append(f"charger_groups: names must be unique, got {names}")
    for g in spec.charger_groups:
        if g.n_chargers < 1 or g.parallel_cables < 1:
            bad.append(f"charger_groups[{g.name}]: n_chargers and parallel_cables must be >= 1")
        if not (g.p_charger_kw > 0 and g.cable_m > 0):
            bad.append(f"charger_groups[{g.name}]: p_charger_kw and cable_m must be > 0")
    if bad:
        raise ScenarioError("porto network: " + "; ".join(bad))


@dataclass
class PortoNetwork:
    """A built airport network and where its elements are (pandapower row indices).

    ``terminal_load_idx``: one load per terminal substation (the terminal's power is split
    equally); ``charger_load_idx``: group name -> the load row of its chargers;
    ``pv_sgen_idx``: the PV sgens (empty without PV); ``group_line_idx`` / ``group_bus_idx``:
    each group's LV cable and far-end bus; ``power_flow``: the project's one power-flow wrapper
    on ``net``; ``ring_line_idx``: the MV ring's segments in ring order (``ring 0`` leaves the
    switchboard towards T1, the last one returns from the car park); ``open_switch_idx``: the
    switch of the normally-open point.
    """

    net: Any
    spec: PortoNetworkSpec
    connection_bus: int
    ext_grid_idx: int
    terminal_load_idx: tuple[int, ...]
    terminal_trafo_idx: tuple[int, ...]
    charger_load_idx: dict[str, int]
    group_line_idx: dict[str, int]
    group_bus_idx: dict[str, int]
    carpark_trafo_idx: int
    carpark_lv_bus: int
    pv_sgen_idx: tuple[int, ...]
    power_flow: PowerFlow
    ring_line_idx: tuple[int, ...] = ()
    open_switch_idx: int = -1

    @property
    def groups(self) -> tuple[str, ...]:
        """Names of the charger groups, in spec order."""
        return tuple(g.name for g in self.spec.charger_groups)


def _create_trafo(pp: Any, net: Any, hv: int, lv: int, t: TransformerSpec, name: str) -> int:
    return int(
        pp.create_transformer_from_parameters(
            net,
            hv,
            lv,
            sn_mva=t.sn_mva,
            vn_hv_kv=t.vn_hv_kv,
            vn_lv_kv=t.vn_lv_kv,
            vk_percent=t.vk_percent,
            vkr_percent=t.vkr_percent,
            pfe_kw=t.pfe_kw,
            i0_percent=t.i0_percent,
            vector_group=t.vector_group,
            shift_degree=330.0 if t.vector_group.endswith("11") else 0.0,
            name=name,
        )
    )


def build_porto_network(
    spec: PortoNetworkSpec | None = None, options: PowerFlowOptions | None = None
) -> PortoNetwork:
    """Build the airport network (module docstring); every load and PV starts at 0 W.

    ``options`` configure the power flow (:class:`~v2xcosim.grid.powerflow.PowerFlow`).
    Raises :class:`ScenarioError` listing every bad parameter of ``spec``.
    """
    import pandapower as pp

    spec = spec or PortoNetworkSpec()
    _validate(spec)
    net = pp.create_empty_network(name="Porto airport (MV customer)")
    mv = spec.mv_kv
    switchboard = int(pp.create_bus(net, vn_kv=mv, name="airport MV switchboard", type="b"))
    ext = int(
        pp.create_ext_grid(
            net,
            switchboard,
            vm_pu=spec.ext_grid_vm_pu,
            s_sc_max_mva=spec.s_sc_max_mva,
            rx_max=spec.rx_max,
            name="MV connection",
        )
    )
    n_sub = spec.n_terminal_substations
    ring = [switchboard]
    ring += [int(pp.create_bus(net, vn_kv=mv, name=f"T{k + 1} MV", type="b")) for k in range(n_sub)]
    carpark_mv = int(pp.create_bus(net, vn_kv=mv, name="car park MV", type="b"))
    ring += [carpark_mv, switchboard]
    open_segment = open_point_segment(spec)
    for k in range(len(ring) - 1):
        line = pp.create_line(
            net,
            ring[k],
            ring[k + 1],
            length_km=spec.ring_segment_m / 1000.0,
            std_type=spec.ring_cable_std_type,
            name=f"ring {k}",
        )
        if k == open_segment:  # the normally-open point
            pp.create_switch(net, ring[k + 1], line, et="l", closed=False, name="ring NOP")
    ring_lines = tuple(int(i) for i in net.line.index)
    nop = int(net.switch.index[-1])
    loads: list[int] = []
    trafos: list[int] = []
    pv: list[int] = []
    for k in range(n_sub):
        lv = int(pp.create_bus(net, vn_kv=LV_KV, name=f"T{k + 1} LV", type="b"))
        for j in range(spec.terminal_trafos_per_substation):
            trafos.append(
                _create_trafo(pp, net, ring[k + 1], lv, spec.terminal_trafo, f"T{k + 1}.{j + 1}")
            )
        loads.append(int(pp.create_load(net, lv, p_mw=0.0, q_mvar=0.0, name=f"terminal T{k + 1}")))
        if spec.pv_kwp > 0:
            pv.append(
                int(
                    pp.create_sgen(
                        net,
                        lv,
                        p_mw=0.0,
                        sn_mva=spec.pv_kwp / 1000.0 / n_sub,
                        name=f"PV T{k + 1}",
                        type="PV",
                    )
                )
            )
    cp_lv = int(pp.create_bus(net, vn_kv=LV_KV, name="car park LV", type="b"))
    cp_trafo = _create_trafo(pp, net, carpark_mv, cp_lv, spec.carpark_trafo, "car park")
    charger_load: dict[str, int] = {}
    group_line: dict[str, int] = {}
    group_bus: dict[str, int] = {}
    for g in spec.charger_groups:
        end = int(pp.create_bus(net, vn_kv=LV_KV, name=f"car park {g.name}", type="n"))
        group_bus[g.name] = end
        group_line[g.name] = int(
            pp.create_line(
                net,
                cp_lv,
                end,
                length_km=g.cable_m / 1000.0,
                std_type=g.cable_std_type,
                parallel=g.parallel_cables,
                name=f"car park feeder {g.name}",
            )
        )
        charger_load[g.name] = int(
            pp.create_load(net, end, p_mw=0.0, q_mvar=0.0, name=f"chargers {g.name}")
        )
    return PortoNetwork(
        net=net,
        spec=spec,
        connection_bus=switchboard,
        ext_grid_idx=ext,
        terminal_load_idx=tuple(loads),
        terminal_trafo_idx=tuple(trafos),
        charger_load_idx=charger_load,
        group_line_idx=group_line,
        group_bus_idx=group_bus,
        carpark_trafo_idx=cp_trafo,
        carpark_lv_bus=cp_lv,
        pv_sgen_idx=tuple(pv),
        power_flow=PowerFlow(net, options or PowerFlowOptions(), name="porto grid"),
        ring_line_idx=ring_lines,
        open_switch_idx=nop,
    )


def _finite(key: str, value: float) -> float:
    if not math.isfinite(value):
        raise ScenarioError(f"porto operating point: {key} = {value} is not finite; give a number")
    return float(value)


def _per_group(pn: PortoNetwork, values: Mapping[str, float] | None, key: str) -> dict[int, float]:
    """Check per-group values [W or var] and return them per load row [MW or MVAr]."""
    out: dict[int, float] = {}
    for name, value in (values or {}).items():
        if name not in pn.charger_load_idx:
            raise ScenarioError(
                f"porto operating point: {key}[{name!r}]: unknown charger group; "
                f"known: {', '.join(pn.groups)}"
            )
        out[pn.charger_load_idx[name]] = _finite(f"{key}[{name!r}]", value) / W_PER_MW
    return out


def set_operating_point(
    pn: PortoNetwork,
    *,
    p_terminal_w: float,
    q_terminal_var: float | None = None,
    p_group_w: Mapping[str, float] | None = None,
    q_group_var: Mapping[str, float] | None = None,
    p_pv_w: float = 0.0,
) -> None:
    """Set one step's powers, load convention (+ = drawn from the grid), W and var.

    ``p_terminal_w``: the terminal's electrical load (split equally over its substations);
    ``q_terminal_var``: its reactive power (default ``p · tan φ`` at ``terminal_cos_phi``);
    ``p_group_w`` / ``q_group_var``: group name -> the group's chargers' total power (negative
    = V2B discharge); groups not named keep their previous value; ``p_pv_w``: the PV output
    (≤ 0: PV feeds in), split equally over the PV sgens.

    Raises :class:`ScenarioError` naming the key for an unknown group, a non-finite value or
    PV power on a network without PV / drawing power.
    """
    net = pn.net
    p_t = _finite("p_terminal_w", p_terminal_w)
    if q_terminal_var is None:
        q_t = p_t * math.tan(math.acos(pn.spec.terminal_cos_phi))
    else:
        q_t = _finite("q_terminal_var", q_terminal_var)
    p_pv = _finite("p_pv_w", p_pv_w)
    if p_pv > 0:
        raise ScenarioError(
            f"porto operating point: p_pv_w = {p_pv} > 0; PV only feeds in (load convention: "
            "give its output as a negative number)"
        )
    if p_pv != 0 and not pn.pv_sgen_idx:
        raise ScenarioError(
            "porto operating point: p_pv_w given but the network has no PV; set pv_kwp > 0"
        )
    group_p = _per_group(pn, p_group_w, "p_group_w")
    group_q = _per_group(pn, q_group_var, "q_group_var")
    n_t = len(pn.terminal_load_idx)
    rows = list(pn.terminal_load_idx)
    net.load.loc[rows, "p_mw"] = p_t / W_PER_MW / n_t
    net.load.loc[rows, "q_mvar"] = q_t / W_PER_MW / n_t
    for row, p_mw in group_p.items():
        net.load.loc[row, "p_mw"] = p_mw
    for row, q_mvar in group_q.items():
        net.load.loc[row, "q_mvar"] = q_mvar
    if pn.pv_sgen_idx:
        # sgen: generator convention (p_mw > 0 injects)
        net.sgen.loc[list(pn.pv_sgen_idx), "p_mw"] = -p_pv / W_PER_MW / len(pn.pv_sgen_idx)


@dataclass(frozen=True)
class PortoFlowResult:
    """One solved step (load convention, W / var; loadings as fractions of the rating).

    ``p_import_w`` / ``q_import_var``: at the MV connection; ``p_losses_w``: lines and
    transformers; ``carpark_trafo_loading``: the car park transformer's current over its rated
    current (pandapower's ``loading_percent`` / 100); ``group_vm_pu``: far-end voltage of each
    charger group; ``vm_min_pu`` / ``vm_max_pu`` over all buses.
    """

    converged: bool
    p_import_w: float
    q_import_var: float
    p_losses_w: float
    carpark_trafo_loading: float
    terminal_trafo_loading_max: float
    group_vm_pu: dict[str, float]
    vm_min_pu: float
    vm_max_pu: float


def run_power_flow(pn: PortoNetwork, step: int = 0, time_s: int = 0) -> PortoFlowResult:
    """Solve the present operating point (``step``/``time_s`` appear in errors only).

    A flow that does not converge raises :class:`~v2xcosim.grid.powerflow.LoadFlowError`
    under the ``"abort"`` policy; under ``"flag"`` every number is NaN.
    """
    net = pn.net
    if not pn.power_flow.solve(step, time_s):
        nan = math.nan
        return PortoFlowResult(
            False, nan, nan, nan, nan, nan, {g: nan for g in pn.groups}, nan, nan
        )
    ext = net.res_ext_grid.loc[pn.ext_grid_idx]
    losses_mw = float(net.res_line.pl_mw.sum() + net.res_trafo.pl_mw.sum())
    vm = net.res_bus.vm_pu.to_numpy(dtype=float)
    return PortoFlowResult(
        converged=True,
        p_import_w=float(ext.p_mw) * W_PER_MW,
        q_import_var=float(ext.q_mvar) * W_PER_MW,
        p_losses_w=losses_mw * W_PER_MW,
        carpark_trafo_loading=float(net.res_trafo.loading_percent.at[pn.carpark_trafo_idx]) / 100.0,
        terminal_trafo_loading_max=float(
            net.res_trafo.loading_percent.loc[list(pn.terminal_trafo_idx)].max()
        )
        / 100.0,
        group_vm_pu={g: float(net.res_bus.vm_pu.at[b]) for g, b in pn.group_bus_idx.items()},
        vm_min_pu=float(vm.min()),
        vm_max_pu=float(vm.max()),
    )


@dataclass(frozen=True)
class RingContingency:
    """The ring's loadings with one head segment out and the open point closed (fractions).

    ``normal``: each ring segment's loading in normal operation (by line name);
    ``faulted``: segment name -> the largest loading of the other ring segments with that
    segment out of service and the open point closed; ``worst``: the largest of those;
    ``worst_segment``: the segment carrying it and ``worst_fault``: the fault causing it.
    """

    normal: dict[str, float]
    faulted: dict[str, float]
    worst: float
    worst_segment: str
    worst_fault: str


def ring_n_minus_1(pn: PortoNetwork) -> RingContingency:
    """N-1 of the MV ring at the present operating point (pandapower, on a copy of ``net``).

    For each ring-head segment (the first and the last of ``ring_line_idx``): take it out of
    service, close the normally-open point and solve; ``pn.net`` itself is left untouched.
    Loadings are pandapower's ``loading_percent`` / 100 (current over the cable's
    ``max_i_ka``).  Raises :class:`~v2xcosim.grid.powerflow.LoadFlowError` if a case does not
    converge.
    """
    import copy

    lines = list(pn.ring_line_idx)
    if len(lines) < 2 or pn.open_switch_idx < 0:
        raise ScenarioError(
            "porto network: no MV ring to study (build it with build_porto_network)"
        )
    names = {i: str(pn.net.line.at[i, "name"]) for i in lines}

    def solve(net: Any) -> dict[str, float]:
        PowerFlow(net, PowerFlowOptions(on_nonconvergence="abort"), name="porto ring N-1").solve(
            0, 0
        )
        load = net.res_line.loading_percent
        return {names[i]: float(load.at[i]) / 100.0 for i in lines if net.line.at[i, "in_service"]}

    normal = solve(copy.deepcopy(pn.net))
    faulted: dict[str, float] = {}
    worst, worst_seg, worst_fault = -math.inf, "", ""
    for head in (lines[0], lines[-1]):
        net = copy.deepcopy(pn.net)
        net.line.at[head, "in_service"] = False
        net.switch.at[pn.open_switch_idx, "closed"] = True
        res = solve(net)
        seg = max(res, key=lambda k: res[k])
        faulted[names[head]] = res[seg]
        if res[seg] > worst:
            worst, worst_seg, worst_fault = res[seg], seg, names[head]
    return RingContingency(normal, faulted, worst, worst_seg, worst_fault)


__all__ = [
    "CARPARK_DESIGN_SHARE",
    "DEFAULT_CHARGER_GROUPS",
    "LV_KV",
    "ChargerGroupSpec",
    "PortoFlowResult",
    "PortoNetwork",
    "PortoNetworkSpec",
    "RingContingency",
    "TransformerSpec",
    "build_porto_network",
    "charger_power_p_max_w",
    "charger_power_share",
    "n_minus_1_loading",
    "open_point_segment",
    "ring_design_loads_mva",
    "ring_head_limit_w",
    "ring_n_minus_1",
    "run_power_flow",
    "set_operating_point",
]
