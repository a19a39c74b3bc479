"""A Terni-like urban distribution network (HV/MV primary substation, MV feeders, LV feeders).

Built offline from data that ships inside PyPI packages plus documented parameters (every
assumption is listed in ``scenarios/terni/README.md``):

* **MV topology and aggregated loads/PV**: SimBench ``1-MV-urban--0-sw`` (Meinecke et al.,
  "SimBench — A Benchmark Dataset of Electric Power Systems to Compare Innovative Solutions
  Based on Power Flow Analysis", Energies 13 (2020) 3290), read by
  ``simbench.get_simbench_net`` from the CSV files inside the ``simbench`` wheel
  (``simbench/networks/1-complete_data-mixed-all-0-sw``): no network access.  144 buses,
  10 kV in the original.
* **Re-rated to Terni's 20 kV** (ASM Terni MV level, ternioggi.it): every 10 kV bus becomes
  20 kV; each cable takes r, x, c and ampacity of pandapower's ``NA2XS2Y 1x<section> RM/25
  12/20 kV`` type of the same cross-section where pandapower has one (95–240 mm²).  The 300
  and 400 mm² cables keep SimBench's r, x and ampacity (same conductor) but take a 12/20 kV
  **capacitance derived from IEC 60502-2 geometry** (:func:`xlpe_capacitance_nf_per_km`:
  coaxial capacitor ``C = 2π ε0 εr / ln(D_i/d_i)`` with XLPE εr = 2.5, the nominal 5.5 mm
  insulation of a 12/20 kV cable and typical compacted-conductor diameters), instead of the
  10 kV values, which are ≈ 50 % high for a 20 kV cable.  The same formula reproduces
  pandapower's 12/20 kV values of 95–240 mm² within 3 % (tested).
* **Primary substation**: one **25 MVA** HV/MV transformer (Terni Ovest, umbriaon.it) with
  pandapower's documented standard type ``25 MVA 110/20 kV`` (vk 12 %, vkr 0.41 %, YNd5),
  rated HV voltage set to the assumed 132 kV (the HV level was not found; Italian
  sub-transmission is 132/150 kV).  SimBench's second 63 MVA transformer is taken out of
  service; the busbar couplers of the SimBench substation stay closed so every MV feeder is fed
  through the one transformer.  An **on-load tap changer** on the HV side with SimBench's
  range (±9 steps × 1.5 %) — :func:`add_oltc_control` adds pandapower's
  ``DiscreteTapControl`` for it.
* **Loads** keep SimBench's own profile per element (``net.load.profile``: the aggregated LV
  grids ``lv_*`` and six commercial MV customers ``G0-A``, ``G0-M``, ``G4-M``, ``BL-H``,
  ``G3-H``, ``WB-H``).  Two scale factors, one for the residential ``lv_*`` elements and one
  for the commercial ones, are set so that (a) the commercial elements draw
  ``commercial_energy_share`` of the annual energy (assumed 0.6: Italy's services take ≈ 31 %
  and households ≈ 22 % of electricity, Terna consumption statistics — industry is fed at HV
  and left out; figures to be checked at the source) and (b) the **annual coincident peak** of
  all background loads (SimBench's year 2016 in quarter hours) is ``peak_load_mw`` (assumed
  20 MW, 80 % of the transformer rating).  The resulting load factor (annual mean / peak) is
  ≈ 0.51 (:func:`annual_load_mw` — within the 0.5–0.65 typical of urban primaries, an
  engineering rule of thumb, no Terni figure found).  Q scales with P (SimBench's
  ``q_mvar`` with the ``*_qload`` profile).
* **PV** (SimBench's aggregated LV rooftop PV, ``type == lv_RES``) scaled to ``pv_mwp`` in
  total; its output comes from :mod:`v2xcosim.usecases.terni.inputs` (orientations, clouds per
  MV feeder), not from SimBench's German PV shapes.  The MV hydro plant (2.9 MW, SimBench
  profile ``Hydro3``) stays as SimBench gives it.
* **Detailed LV feeders** at named city-centre secondary substations (pandapower standard types
  ``0.63 MVA 20/0.4 kV`` and ``NAYY 4x150 SE``): a radial cable with a building load and a
  rooftop PV system at every node and a public bidirectional charging station at one node.
  Every node is a mixed-use city-centre building, not one household: node ``k`` takes
  ``NODE_PROFILES[(k − 1) % 4]`` — SimBench's aggregated urban LV profile ``lv_urban6`` for a
  building of flats, and its standard commercial profiles ``G4-A`` (shops) and ``G1-B``
  (offices, weekdays 8–18) for the ground-floor businesses of a Terni shopping street —
  scaled so each node's annual peak is ``node_load_kw``; Q from the profile's ``qload`` with
  ``q = p·tan φ`` at the profile peak.  (A single household's ``H0-*`` profile scaled to a
  building's peak would understate its mean load by half — load factor 0.09–0.14 against 0.32
  for the aggregate — and leave the feeder in reverse flow from 07:00 to 19:00.)
  The aggregated load/PV of the MV bus the feeder hangs on is reduced by the feeder's own
  (by peak), so nothing is counted twice.

All powers returned by this module follow the load convention of :mod:`v2xcosim.core.units`
(W, + = drawn from the grid); pandapower's MW/MVAr and per-element signs stay inside.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError, SimulationError
from v2xcosim.core.units import W_PER_MW
from v2xcosim.grid.flow_arrays import FlowArrays
from v2xcosim.grid.powerflow import PowerFlow, PowerFlowOptions

if TYPE_CHECKING:
    from v2xcosim.usecases.terni.inputs import GridInputs

FloatArray = npt.NDArray[np.float64]

SIMBENCH_CODE = "1-MV-urban--0-sw"
"""SimBench code of the MV grid the Terni network is derived from."""

NODE_PROFILES: tuple[str, ...] = ("lv_urban6", "G4-A", "lv_urban6", "G1-B")
"""SimBench profiles of the detailed LV feeders' building loads, in node order (flats, shops,
flats, offices): a city-centre mixed-use street (assumption; module docstring)."""

EPS0_F_PER_M = 8.8541878128e-12
"""Vacuum permittivity [F/m] (CODATA 2018)."""
XLPE_EPS_R = 2.5
"""Relative permittivity of XLPE (IEC 60287-1-1, Table 3: 2.5)."""
INSULATION_20KV_MM = 5.5
"""Nominal XLPE insulation thickness of a 12/20 (24) kV cable [mm] (IEC 60502-2)."""
CONDUCTOR_SCREEN_MM = 0.5
"""Semiconducting conductor screen [mm] (typical; the field starts at its surface) —
assumption."""
CONDUCTOR_DIAMETER_MM: dict[str, float] = {
    "95": 11.3,
    "120": 12.7,
    "150": 14.2,
    "185": 15.8,
    "240": 18.2,
    "300": 20.4,
    "400": 23.2,
}
"""Diameter of compacted round stranded aluminium conductors (IEC 60228 class 2) [mm]:
typical values of NA2XS2Y data sheets — assumption (±0.3 mm)."""


def xlpe_capacitance_nf_per_km(
    section_mm2: str, insulation_mm: float = INSULATION_20KV_MM, eps_r: float = XLPE_EPS_R
) -> float:
    """Operating capacitance of a single-core screened XLPE cable [nF/km].

    ``C = 2π ε0 εr / ln(D_i / d_i)`` (coaxial capacitor) with ``d_i`` = conductor diameter
    + 2 × conductor screen and ``D_i = d_i + 2 × insulation`` (IEC 60502-2 geometry,
    :data:`CONDUCTOR_DIAMETER_MM`, :data:`CONDUCTOR_SCREEN_MM`).
    """
    if section_mm2 not in CONDUCTOR_DIAMETER_MM:
        raise ScenarioError(
            f"cable capacitance: no conductor diameter for {section_mm2} mm²; "
            f"known: {', '.join(CONDUCTOR_DIAMETER_MM)}"
        )
    d_i = CONDUCTOR_DIAMETER_MM[section_mm2] + 2.0 * CONDUCTOR_SCREEN_MM
    big_d = d_i + 2.0 * insulation_mm
    c_f_per_m = 2.0 * math.pi * EPS0_F_PER_M * eps_r / math.log(big_d / d_i)
    return c_f_per_m * 1e12  # F/m -> nF/km


_CABLE_20KV = {
    "95": "NA2XS2Y 1x95 RM/25 12/20 kV",
    "120": "NA2XS2Y 1x120 RM/25 12/20 kV",
    "150": "NA2XS2Y 1x150 RM/25 12/20 kV",
    "185": "NA2XS2Y 1x185 RM/25 12/20 kV",
    "240": "NA2XS2Y 1x240 RM/25 12/20 kV",
}


@dataclass(frozen=True)
class LvFeederSpec:
    """One detailed LV feeder with a public charging station.

    ``mv_bus`` names the SimBench MV bus (``"MV3.101 Bus 13"``) whose secondary substation
    feeds the feeder.  Lengths in m, powers in kW / kWp (per node), connector ratings in kW.
    """

    name: str
    site_id: str
    mv_bus: str
    n_nodes: int = 8
    segment_m: float = 40.0
    node_load_kw: float = 15.0
    node_pv_kwp: float = 20.0
    charger_node: int = 4
    n_connectors: int = 4
    connector_kw: float = 11.0
    trafo_std_type: str = "0.63 MVA 20/0.4 kV"
    cable_std_type: str = "NAYY 4x150 SE"
    load_cos_phi: float = 0.95


DEFAULT_LV_FEEDERS: tuple[LvFeederSpec, ...] = (
    LvFeederSpec(name="LV1", site_id="cs_piazza_tacito", mv_bus="MV3.101 Bus 13"),
    LvFeederSpec(name="LV2", site_id="cs_corso_vecchio", mv_bus="MV3.101 Bus 18"),
    LvFeederSpec(name="LV3", site_id="cs_piazza_europa", mv_bus="MV3.101 Bus 21"),
)
"""Three city-centre feeders.  The site names are illustrative Terni city-centre places; the
actual DriVe2X charger locations were not found (see the scenario README)."""


@dataclass(frozen=True)
class TerniNetworkSpec:
    """Parameters of :func:`build_terni_network` (units in the names)."""

    hv_kv: float = 132.0
    mv_kv: float = 20.0
    hvmv_trafo_std_type: str = "25 MVA 110/20 kV"
    peak_load_mw: float = 20.0
    commercial_energy_share: float = 0.6
    pv_mwp: float = 20.0
    ext_grid_vm_pu: float = 1.0
    oltc_tap_min: int = -9
    oltc_tap_max: int = 9
    oltc_tap_step_percent: float = 1.5
    lv_feeders: tuple[LvFeederSpec, ...] = DEFAULT_LV_FEEDERS


@dataclass
class LvFeeder:
    """Bus names of a built LV feeder and the row of its MV/LV (secondary) transformer."""

    name: str
    site_id: str
    mv_bus: str
    lv_busbar: str
    end_bus: str
    charger_bus: str
    node_buses: tuple[str, ...]
    trafo: int = -1
    """Pandapower ``trafo`` row of the feeder's MV/LV transformer."""

    @property
    def lv_buses(self) -> tuple[str, ...]:
        """Every LV bus of the feeder: the LV busbar and the nodes."""
        return (self.lv_busbar, *self.node_buses)


@dataclass
class TerniNetwork:
    """A built Terni network and the indices needed to drive it.

    ``load_p_nom_mw``/``load_q_nom_mvar`` are the nominal values of ``net.load`` rows
    ``load_idx`` (background loads, not EV chargers) that SimBench's profiles multiply;
    ``load_p_peak_mw``/``load_q_peak_mvar`` each element's own annual peak (nominal × the
    profile's largest value; Q at the nominal ratio); ``pv_peak_mw`` the peak of the PV sgens
    ``pv_idx``.  ``ev_load_idx`` maps a charging site to its pandapower load row.
    """

    net: Any
    spec: TerniNetworkSpec
    hvmv_trafo: int
    hv_bus: int
    mv_busbar: str
    feeders: dict[str, LvFeeder]
    load_idx: npt.NDArray[np.int64]
    load_p_nom_mw: FloatArray
    load_q_nom_mvar: FloatArray
    load_p_peak_mw: FloatArray
    load_q_peak_mvar: FloatArray
    pv_idx: npt.NDArray[np.int64]
    pv_peak_mw: FloatArray
    ev_load_idx: dict[str, int] = field(default_factory=dict)
    storage_idx: dict[str, int] = field(default_factory=dict)
    """Flexibility provider id → pandapower ``storage`` row (:func:`add_storage`)."""

    _bus_names: tuple[Any, dict[str, tuple[int, int]]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    """Cache of :meth:`bus_index`: (the bus table's index it was built from, name → (index,
    row); (-1, -1) for a name that is not unique)."""
    _load_rows: tuple[Any, npt.NDArray[np.intp]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    """Cache of the rows of ``load_idx`` in ``net.load`` (keyed by the load table's index)."""

    def _bus(self, name: str) -> tuple[int, int]:
        index = self.net.bus.index
        cache = self._bus_names
        if cache is None or cache[0] is not index:
            names: dict[str, tuple[int, int]] = {}
            for row, (i, n) in enumerate(zip(index, self.net.bus["name"], strict=True)):
                names[n] = (-1, -1) if n in names else (int(i), row)
            cache = self._bus_names = (index, names)
        hit = cache[1].get(name, (-1, -1))
        if hit[0] < 0:
            raise ScenarioError(f"terni network: no unique bus named {name!r}")
        return hit

    def bus_index(self, name: str) -> int:
        """Pandapower index of the bus called ``name``.

        The name → index map is built once per bus table (a run looks buses up every step) and
        rebuilt when buses are added or the table is replaced; bus names are fixed once
        :func:`build_terni_network` has returned.
        """
        return self._bus(name)[0]

    def bus_row(self, name: str) -> int:
        """Row of the bus called ``name`` in ``net.bus`` (and in the result arrays)."""
        return self._bus(name)[1]

    def load_rows(self) -> npt.NDArray[np.intp]:
        """Rows of the background loads ``load_idx`` in ``net.load``."""
        index = self.net.load.index
        if self._load_rows is None or self._load_rows[0] is not index:
            self._load_rows = (index, index.get_indexer(self.load_idx))
        return self._load_rows[1]

    @property
    def charger_buses(self) -> dict[str, str]:
        """Charging-site id → bus name."""
        return {f.site_id: f.charger_bus for f in self.feeders.values()}

    @property
    def connectors_per_site(self) -> dict[str, tuple[int, float]]:
        """Charging-site id → (number of connectors, connector rating [W])."""
        return {
            f.site_id: (s.n_connectors, s.connector_kw * 1000.0)
            for s in self.spec.lv_feeders
            for f in self.feeders.values()
            if f.name == s.name
        }


@functools.cache
def _simbench_raw() -> Any:
    """SimBench 1-MV-urban, read once per process from the files inside the simbench wheel."""
    import simbench

    return simbench.get_simbench_net(SIMBENCH_CODE)


def simbench_mv_urban() -> Any:
    """Return a fresh copy of SimBench ``1-MV-urban--0-sw`` (no download; cached per process)."""
    return copy.deepcopy(_simbench_raw())


def _validate(spec: TerniNetworkSpec) -> None:
    problems: list[str] = []
    for name in ("hv_kv", "mv_kv", "peak_load_mw", "ext_grid_vm_pu"):
        if not getattr(spec, name) > 0:
            problems.append(f"{name} must be > 0, got {getattr(spec, name)}")
    if not 0.0 < spec.commercial_energy_share < 1.0:
        problems.append(
            f"commercial_energy_share must be in (0, 1), got {spec.commercial_energy_share}"
        )
    if spec.pv_mwp < 0:
        problems.append(f"pv_mwp must be >= 0, got {spec.pv_mwp}")
    if not spec.oltc_tap_min < 0 < spec.oltc_tap_max:
        problems.append("oltc_tap_min < 0 < oltc_tap_max is required")
    names = [f.name for f in spec.lv_feeders]
    sites = [f.site_id for f in spec.lv_feeders]
    if len(set(names)) != len(names) or len(set(sites)) != len(sites):
        problems.append("lv_feeders: names and site ids must be unique")
    for f in spec.lv_feeders:
        if f.n_nodes < 1 or not 1 <= f.charger_node <= f.n_nodes:
            problems.append(
                f"lv_feeders {f.name}: need n_nodes >= 1 and 1 <= charger_node <= n_nodes"
            )
        if f.segment_m <= 0 or f.node_load_kw < 0 or f.node_pv_kwp < 0:
            problems.append(f"lv_feeders {f.name}: segment_m > 0, node_load_kw/node_pv_kwp >= 0")
        if f.n_connectors < 1 or f.connector_kw <= 0:
            problems.append(f"lv_feeders {f.name}: n_connectors >= 1 and connector_kw > 0")
        if not 0.0 < f.load_cos_phi <= 1.0:
            problems.append(f"lv_feeders {f.name}: load_cos_phi must be in (0, 1]")
    if problems:
        raise ScenarioError("terni network: " + "; ".join(problems))


def element_profile(net: Any, name: Any, kind: str = "pload") -> FloatArray:
    """SimBench load profile ``name`` (``kind`` ``pload``/``qload``): 35136 quarter hours.

    Taken from the net's own ``profiles["load"]`` table when it has the column, else from
    SimBench's complete data set (the ``G*`` commercial profiles of the LV feeders).
    """
    from v2xcosim.usecases.terni.profiles import simbench_load_profile

    column = f"{name}_{kind}"
    table = net.profiles["load"]
    if column in table.columns:
        out: FloatArray = table[column].to_numpy(dtype=float)
        return out
    return simbench_load_profile(column)


def annual_load_mw(
    net: Any, rows: Sequence[int] | npt.NDArray[np.int64] | None = None
) -> FloatArray:
    """Σ over the load rows ``rows`` (default: every load with a profile) of p_mw × profile.

    One value per quarter hour of SimBench's year 2016 (35136) [MW]: the annual series whose
    maximum is the coincident peak and whose mean / maximum is the load factor.
    """
    idx = net.load.index if rows is None else rows
    total = np.zeros(len(net.profiles["load"]))
    for i in idx:
        prof = net.load.at[i, "profile"]
        if isinstance(prof, str) and prof:
            total += float(net.load.at[i, "p_mw"]) * element_profile(net, prof)
    return total


def _load_scales(net: Any, spec: TerniNetworkSpec) -> tuple[float, float]:
    """Scale factors (residential ``lv_*``, commercial) of SimBench's loads (module docstring).

    Commercial energy share ``s``: k_c·E_c / (k_r·E_r + k_c·E_c) = s; then both scale together
    so the annual coincident peak is ``peak_load_mw``.
    """
    res_rows = [i for i in net.load.index if str(net.load.at[i, "profile"]).startswith("lv_")]
    com_rows = [i for i in net.load.index if i not in set(res_rows)]
    res = annual_load_mw(net, res_rows)
    com = annual_load_mw(net, com_rows)
    s = spec.commercial_energy_share
    ratio = s / (1.0 - s) * float(res.sum()) / float(com.sum())
    peak = float(np.max(res + ratio * com))
    k_res = spec.peak_load_mw / peak
    return k_res, k_res * ratio


def build_terni_network(spec: TerniNetworkSpec | None = None) -> TerniNetwork:
    """Build the Terni-like network (see the module docstring for every step and source)."""
    import pandapower as pp

    spec = spec or TerniNetworkSpec()
    _validate(spec)
    net = simbench_mv_urban()
    # --- HV/MV primary substation: one 25 MVA transformer with an OLTC -------------------
    hv_buses = net.bus.index[net.bus["vn_kv"] > 50.0]
    net.bus.loc[hv_buses, "vn_kv"] = spec.hv_kv
    mv_buses = net.bus.index[(net.bus["vn_kv"] > 1.0) & (net.bus["vn_kv"] <= 50.0)]
    net.bus.loc[mv_buses, "vn_kv"] = spec.mv_kv
    std = pp.load_std_type(net, spec.hvmv_trafo_std_type, "trafo")
    t0 = int(net.trafo.index[0])
    for key in ("sn_mva", "vk_percent", "vkr_percent", "pfe_kw", "i0_percent", "shift_degree"):
        net.trafo.loc[t0, key] = std[key]
    net.trafo.loc[t0, "std_type"] = spec.hvmv_trafo_std_type
    net.trafo.loc[t0, "vn_hv_kv"] = spec.hv_kv
    net.trafo.loc[t0, "vn_lv_kv"] = spec.mv_kv
    net.trafo.loc[t0, "tap_side"] = "hv"
    net.trafo.loc[t0, "tap_neutral"] = 0
    net.trafo.loc[t0, "tap_min"] = spec.oltc_tap_min
    net.trafo.loc[t0, "tap_max"] = spec.oltc_tap_max
    net.trafo.loc[t0, "tap_step_percent"] = spec.oltc_tap_step_percent
    net.trafo.loc[t0, "tap_step_degree"] = 0.0
    net.trafo.loc[t0, "tap_pos"] = 0
    net.trafo.loc[t0, "tap_changer_type"] = "Ratio"
    net.trafo.loc[t0, "max_loading_percent"] = 100.0
    net.trafo.loc[t0, "name"] = "Terni primary HV/MV 25 MVA"
    net.trafo.loc[net.trafo.index[1:], "in_service"] = False
    # close the busbar couplers of the primary substation (open in SimBench, where each
    # transformer feeds its own busbar pair) so the one transformer feeds every MV feeder
    station = net.bus.index[
        net.bus["name"].astype(str).str.contains("busbar")
        & ~net.bus["name"].astype(str).str.contains(" BS ")
    ]
    couplers = net.switch.index[
        (net.switch["et"] == "b")
        & net.switch["bus"].isin(station)
        & net.switch["element"].isin(station)
    ]
    net.switch.loc[couplers, "closed"] = True
    net.ext_grid["vm_pu"] = spec.ext_grid_vm_pu
    # --- MV cables re-rated to 12/20 kV types of the same cross-section -------------------
    for idx, std_name in net.line["std_type"].items():
        section = str(std_name).split("1x")[-1].split(" ")[0]
        if section in _CABLE_20KV:
            new = pp.load_std_type(net, _CABLE_20KV[section], "line")
            for key in ("r_ohm_per_km", "x_ohm_per_km", "c_nf_per_km", "max_i_ka"):
                net.line.loc[idx, key] = new[key]
            net.line.loc[idx, "std_type"] = _CABLE_20KV[section]
        elif section in CONDUCTOR_DIAMETER_MM and "6/10 kV" in str(std_name):
            net.line.loc[idx, "c_nf_per_km"] = xlpe_capacitance_nf_per_km(section)
            net.line.loc[idx, "std_type"] = str(std_name).replace("6/10 kV", "12/20 kV (derived)")
    # --- scale background load (residential / commercial, annual coincident peak) and PV --
    k_res, k_com = _load_scales(net, spec)
    res = net.load["profile"].astype(str).str.startswith("lv_").to_numpy()
    k_el = np.where(res, k_res, k_com)
    net.load["p_mw"] *= k_el
    net.load["q_mvar"] *= k_el
    is_pv = (net.sgen["type"] == "lv_RES").to_numpy()
    pv_sum = float(net.sgen.loc[is_pv, "p_mw"].sum())
    net.sgen.loc[is_pv, "p_mw"] *= spec.pv_mwp / pv_sum
    net.sgen.loc[is_pv, "q_mvar"] = 0.0
    # --- detailed LV feeders ---------------------------------------------------------------
    feeders: dict[str, LvFeeder] = {}
    ev_load_idx: dict[str, int] = {}
    name_to_bus = {str(n): int(i) for i, n in net.bus["name"].items()}
    for f in spec.lv_feeders:
        if f.mv_bus not in name_to_bus:
            raise ScenarioError(f"terni network: lv feeder {f.name}: no MV bus {f.mv_bus!r}")
        mv = name_to_bus[f.mv_bus]
        lv0 = pp.create_bus(net, vn_kv=0.4, name=f"{f.name} LV busbar", type="b")
        mvlv = int(
            pp.create_transformer(net, mv, lv0, std_type=f.trafo_std_type, name=f"{f.name} MV/LV")
        )
        tan = math.tan(math.acos(f.load_cos_phi))
        prev, nodes = lv0, []
        own_peak_mw = 0.0
        for k in range(1, f.n_nodes + 1):
            b = pp.create_bus(net, vn_kv=0.4, name=f"{f.name} node {k}", type="n")
            pp.create_line(
                net,
                prev,
                b,
                length_km=f.segment_m / 1000.0,
                std_type=f.cable_std_type,
                name=f"{f.name} cable {k}",
            )
            # nominal p so that the node profile's annual peak is node_load_kw
            prof = NODE_PROFILES[(k - 1) % len(NODE_PROFILES)]
            p_mw = f.node_load_kw / 1000.0 / float(np.max(element_profile(net, prof, "pload")))
            own_peak_mw += f.node_load_kw / 1000.0
            row = pp.create_load(net, b, p_mw=p_mw, q_mvar=p_mw * tan, name=f"{f.name} load {k}")
            net.load.loc[row, "profile"] = prof
            pp.create_sgen(
                net,
                b,
                p_mw=f.node_pv_kwp / 1000.0,
                q_mvar=0.0,
                type="PV",
                name=f"{f.name} PV {k}",
            )
            nodes.append(b)
            prev = b
        charger_bus = nodes[f.charger_node - 1]
        net.bus.loc[charger_bus, "name"] = f"{f.name} node {f.charger_node} ({f.site_id})"
        ev_load_idx[f.site_id] = int(
            pp.create_load(net, charger_bus, p_mw=0.0, q_mvar=0.0, name=f"EV {f.site_id}")
        )
        # remove the detailed feeder's share (by annual peak) from the aggregated MV load
        at_bus = net.load.index[(net.load["bus"] == mv) & net.load["profile"].notna()]
        agg_peak = sum(
            float(net.load.at[i, "p_mw"])
            * float(np.max(element_profile(net, net.load.at[i, "profile"])))
            for i in at_bus
        )
        if agg_peak > 0:
            keep = max(agg_peak - own_peak_mw, 0.0) / agg_peak
            net.load.loc[at_bus, ["p_mw", "q_mvar"]] *= keep
        pv_at = net.sgen.index[(net.sgen["bus"] == mv) & (net.sgen["type"] == "lv_RES")]
        agg_pv = float(net.sgen.loc[pv_at, "p_mw"].sum())
        own_pv = f.n_nodes * f.node_pv_kwp / 1000.0
        if agg_pv > 0:
            net.sgen.loc[pv_at, "p_mw"] *= max(agg_pv - own_pv, 0.0) / agg_pv
        names = net.bus["name"]
        feeders[f.name] = LvFeeder(
            name=f.name,
            site_id=f.site_id,
            mv_bus=f.mv_bus,
            lv_busbar=str(names[lv0]),
            end_bus=str(names[nodes[-1]]),
            charger_bus=str(names[charger_bus]),
            node_buses=tuple(str(names[b]) for b in nodes),
            trafo=mvlv,
        )
    import pandapower.topology as top

    unsupplied = sorted(int(b) for b in top.unsupplied_buses(net))
    if unsupplied:  # pragma: no cover - guards the builder against SimBench changes
        raise SimulationError(f"terni network: buses without supply: {unsupplied[:10]}")
    names_list = net.bus["name"].astype(str).tolist()
    if len(set(names_list)) != len(names_list):  # pragma: no cover - guards the builder
        raise ScenarioError("terni network: bus names are not unique")
    bg = net.load.index[~net.load.index.isin(list(ev_load_idx.values()))].to_numpy(dtype=np.int64)
    pv_idx = net.sgen.index[net.sgen["type"].isin(["lv_RES", "PV"])].to_numpy(dtype=np.int64)
    p_nom = net.load.loc[bg, "p_mw"].to_numpy(dtype=float).copy()
    q_nom = net.load.loc[bg, "q_mvar"].to_numpy(dtype=float).copy()
    prof_max = np.array(
        [float(np.max(element_profile(net, net.load.at[int(i), "profile"]))) for i in bg]
    )
    return TerniNetwork(
        net=net,
        spec=spec,
        hvmv_trafo=t0,
        hv_bus=int(net.trafo.loc[t0, "hv_bus"]),
        mv_busbar=str(net.bus.loc[int(net.trafo.loc[t0, "lv_bus"]), "name"]),
        feeders=feeders,
        load_idx=bg,
        load_p_nom_mw=p_nom,
        load_q_nom_mvar=q_nom,
        load_p_peak_mw=p_nom * prof_max,
        load_q_peak_mvar=q_nom * prof_max,
        pv_idx=pv_idx,
        pv_peak_mw=net.sgen.loc[pv_idx, "p_mw"].to_numpy(dtype=float).copy(),
        ev_load_idx=ev_load_idx,
    )


def set_operating_point(
    tn: TerniNetwork,
    load_pu: float,
    pv_pu: float,
    ev_site_w: Mapping[str, float] | None = None,
    ev_site_var: Mapping[str, float] | None = None,
    *,
    background: bool = True,
) -> None:
    """Set background load, PV and EV site powers: one scalar per kind.

    Each background load draws ``load_pu`` × its own annual peak, each PV ``pv_pu`` × its peak.

    One scalar for every element, for studies of a uniform operating point; a run sets each
    element from its own profile (:func:`set_element_inputs`).  ``background=False`` sets
    only the EV sites.

    ``ev_site_w`` maps a charging-site id to its chargers' total active power [W] and
    ``ev_site_var`` to their total reactive power [var], load convention (+ = drawn from the
    grid: charging, absorbing Q; − = V2G discharge, injecting Q).
    """
    if not (math.isfinite(load_pu) and math.isfinite(pv_pu)) or load_pu < 0 or pv_pu < 0:
        raise ScenarioError(
            f"terni operating point: load_pu={load_pu}, pv_pu={pv_pu} must be finite >= 0"
        )
    net = tn.net
    if background:
        net.load.loc[tn.load_idx, "p_mw"] = tn.load_p_peak_mw * load_pu
        net.load.loc[tn.load_idx, "q_mvar"] = tn.load_q_peak_mvar * load_pu
        net.sgen.loc[tn.pv_idx, "p_mw"] = tn.pv_peak_mw * pv_pu
    for row, p_mw in _ev_site_values(tn, ev_site_w, "power").items():
        net.load.loc[row, "p_mw"] = p_mw
    for row, q_mvar in _ev_site_values(tn, ev_site_var, "reactive power").items():
        net.load.loc[row, "q_mvar"] = q_mvar


def _ev_site_values(
    tn: TerniNetwork, values: Mapping[str, float] | None, what: str
) -> dict[int, float]:
    """Check the EV sites' powers [W or var] and return them per load row [MW or MVAr]."""
    out: dict[int, float] = {}
    for site, value in (values or {}).items():
        if site not in tn.ev_load_idx:
            raise ScenarioError(f"terni operating point: unknown charging site {site!r}")
        if not math.isfinite(value):
            raise ScenarioError(f"terni operating point: EV {what} of {site} is not finite")
        out[tn.ev_load_idx[site]] = value / W_PER_MW
    return out


def set_element_inputs(
    tn: TerniNetwork,
    load_p_mw: FloatArray,
    load_q_mvar: FloatArray,
    sgen_p_mw: FloatArray,
    ev_site_w: Mapping[str, float] | None = None,
    ev_site_var: Mapping[str, float] | None = None,
) -> None:
    """Set every background load, every sgen and the EV sites of one step.

    Loads are rows ``tn.load_idx``, sgens every ``net.sgen`` row in order; the EV sites as in
    :func:`set_operating_point`.

    ``load_p_mw``/``load_q_mvar`` [MW, MVAr, pandapower's load sign = drawn] and ``sgen_p_mw``
    [MW injected] are one step's row of :class:`~v2xcosim.usecases.terni.inputs.ElementInputs`.
    """
    net = tn.net
    lp = np.asarray(load_p_mw, dtype=float)
    lq = np.asarray(load_q_mvar, dtype=float)
    sp = np.asarray(sgen_p_mw, dtype=float)
    if lp.shape != (len(tn.load_idx),) or lq.shape != lp.shape or sp.shape != (len(net.sgen),):
        raise ScenarioError(
            f"terni operating point: need {len(tn.load_idx)} load and {len(net.sgen)} sgen "
            f"values, got {lp.shape}, {lq.shape}, {sp.shape}"
        )
    if not (np.all(np.isfinite(lp)) and np.all(np.isfinite(lq)) and np.all(np.isfinite(sp))):
        raise ScenarioError("terni operating point: a load or sgen value is not finite")
    ev_p = _ev_site_values(tn, ev_site_w, "power")
    ev_q = _ev_site_values(tn, ev_site_var, "reactive power")
    # once per step: write whole columns built in numpy (a .loc write per element is slow);
    # the columns are fresh arrays, so nothing aliases the caller's rows
    rows = tn.load_rows()
    for col, background, ev in (("p_mw", lp, ev_p), ("q_mvar", lq, ev_q)):
        values = net.load[col].to_numpy(dtype=float, copy=True)
        values[rows] = background
        if ev:
            values[net.load.index.get_indexer(list(ev))] = list(ev.values())
        net.load[col] = values
    net.sgen["p_mw"] = sp


def add_storage(tn: TerniNetwork, provider_id: str, bus_name: str, max_e_kwh: float) -> int:
    """Connect a stationary battery as a pandapower ``storage`` (0 W) at the bus ``bus_name``.

    pandapower's storage uses the load convention (``p_mw`` > 0 = charging); its power is set
    per step with :func:`set_storage_power`.  Returns the storage row.
    """
    import pandapower as pp

    if provider_id in tn.storage_idx:
        raise ScenarioError(f"terni network: storage {provider_id!r} exists already")
    bus = tn.bus_index(bus_name)
    idx = int(
        pp.create_storage(
            tn.net, bus, p_mw=0.0, max_e_mwh=max_e_kwh / 1000.0, q_mvar=0.0, name=provider_id
        )
    )
    tn.storage_idx[provider_id] = idx
    return idx


def set_storage_power(tn: TerniNetwork, p_w: Mapping[str, float]) -> None:
    """Set the active power [W, load convention: + = charging] of the storages in ``p_w``."""
    for pid, value in p_w.items():
        if pid not in tn.storage_idx:
            raise ScenarioError(f"terni network: unknown storage {pid!r}")
        if not math.isfinite(value):
            raise ScenarioError(f"terni network: storage power of {pid} is not finite")
        tn.net.storage.loc[tn.storage_idx[pid], "p_mw"] = value / W_PER_MW


def add_oltc_control(tn: TerniNetwork, vm_lower_pu: float = 0.99, vm_upper_pu: float = 1.01) -> Any:
    """Add pandapower's ``DiscreteTapControl`` to the HV/MV transformer (MV-side voltage band).

    Effective only with ``pandapower.runpp(net, run_control=True)`` (or :func:`run_power_flow`
    with ``control=True``).  Returns the controller.
    """
    from pandapower.control import DiscreteTapControl

    if not vm_lower_pu < vm_upper_pu:
        raise ScenarioError("terni OLTC: vm_lower_pu must be below vm_upper_pu")
    return DiscreteTapControl(
        tn.net,
        element_index=tn.hvmv_trafo,
        vm_lower_pu=vm_lower_pu,
        vm_upper_pu=vm_upper_pu,
        side="lv",
        drop_same_existing_ctrl=True,
    )


@dataclass(frozen=True)
class TerniFlowResult:
    """Key results of one power flow, load convention (W; + = drawn from the upstream grid)."""

    p_primary_w: float
    """Active power through the HV/MV transformer, + = MV grid imports from HV (reverse flow
    is negative)."""
    vm_mv_busbar_pu: float
    vm_lv_busbar_pu: dict[str, float]
    vm_lv_end_pu: dict[str, float]
    vm_charger_pu: dict[str, float]
    vm_max_pu: float
    vm_min_pu: float
    tap_pos: int
    q_primary_var: float = 0.0
    """Reactive power through the HV/MV transformer, + = the MV grid draws Q from HV."""
    p_lv_trafo_w: dict[str, float] = field(default_factory=dict)
    """Charging-site id → active power through the site's MV/LV transformer at its MV side,
    + = the LV feeder imports from MV, − = reverse flow from LV into MV."""
    vm_lv_max_pu: dict[str, float] = field(default_factory=dict)
    """Charging-site id → highest voltage over the LV buses (busbar and nodes) of its feeder."""
    vm_lv_min_pu: dict[str, float] = field(default_factory=dict)
    """Charging-site id → lowest voltage over the LV buses of its feeder."""


def run_power_flow(
    tn: TerniNetwork,
    *,
    control: bool = False,
    max_iteration: int = 30,
    tolerance_mva: float = 1e-8,
) -> TerniFlowResult:
    """Run one Newton-Raphson power flow (cold start) and return the Terni key results.

    A flow that does not converge within ``max_iteration`` iterations to ``tolerance_mva``
    raises :class:`~v2xcosim.grid.powerflow.LoadFlowError`.  A run steps the network through
    :class:`TerniGridModel` instead (warm start, non-convergence policy).
    """
    flow = PowerFlow(
        tn.net,
        PowerFlowOptions(max_iteration, tolerance_mva),
        control=control,
        cold_init="auto",
        name="terni network",
    )
    flow.solve(0, 0)
    return flow_result(tn, flow.arrays())


def _total(value: Any) -> float:
    """Sum of a connection's per-EV vector (or its scalar) [W or var]."""
    return float(np.sum(np.asarray(value, dtype=float)))


def _nan_as_zero(values: FloatArray) -> list[float]:
    """``values`` as a list with NaN (a branch out of service) as 0."""
    return np.where(np.isnan(values), 0.0, values).tolist()  # type: ignore[no-any-return]


def flow_result(tn: TerniNetwork, res: FlowArrays | None = None) -> TerniFlowResult:
    """Return the Terni key results of the network's last solved power flow.

    ``res``: that flow's arrays (:meth:`~v2xcosim.grid.powerflow.PowerFlow.arrays`); None reads
    them from pandapower's result tables.
    """
    net = tn.net
    if res is None:
        res = FlowArrays.from_tables(net)
    vm_all = res.vm_pu  # per net.bus row
    trafo_row = net.trafo.index.get_loc

    def vm(name: str) -> float:
        return float(vm_all[tn.bus_row(name)])

    lv_vm = {f.site_id: vm_all[[tn.bus_row(b) for b in f.lv_buses]] for f in tn.feeders.values()}
    primary = trafo_row(tn.hvmv_trafo)
    return TerniFlowResult(
        p_primary_w=float(res.trafo_p_hv_w[primary]),
        vm_mv_busbar_pu=vm(tn.mv_busbar),
        vm_lv_busbar_pu={n: vm(f.lv_busbar) for n, f in tn.feeders.items()},
        vm_lv_end_pu={n: vm(f.end_bus) for n, f in tn.feeders.items()},
        vm_charger_pu={f.site_id: vm(f.charger_bus) for f in tn.feeders.values()},
        vm_max_pu=float(np.nanmax(vm_all)),
        vm_min_pu=float(np.nanmin(vm_all)),
        tap_pos=int(float(net.trafo.loc[tn.hvmv_trafo, "tap_pos"])),
        q_primary_var=float(res.trafo_q_hv_var[primary]),
        # pandapower's p_hv_mw: power flowing into the transformer at its HV (here MV) side
        p_lv_trafo_w={
            f.site_id: float(res.trafo_p_hv_w[trafo_row(f.trafo)]) for f in tn.feeders.values()
        },
        vm_lv_max_pu={s: float(np.max(v)) for s, v in lv_vm.items()},
        vm_lv_min_pu={s: float(np.min(v)) for s, v in lv_vm.items()},
    )


def voltage_sensitivity_pu_per_w(
    tn: TerniNetwork, load_pu: float, pv_pu: float, dp_w: float = 50_000.0
) -> dict[str, float]:
    """dV/dP at each charging site [pu per W drawn], by a finite difference of two power flows.

    ``dp_w`` extra load is added at every site at once (the DSO uses the value to turn a
    voltage excess into a power request); the value is negative (more load → lower voltage).
    """
    if dp_w <= 0:
        raise ScenarioError("voltage sensitivity: dp_w must be > 0")
    set_operating_point(tn, load_pu, pv_pu, {s: 0.0 for s in tn.ev_load_idx})
    base = run_power_flow(tn).vm_charger_pu
    set_operating_point(tn, load_pu, pv_pu, {s: dp_w for s in tn.ev_load_idx})
    up = run_power_flow(tn).vm_charger_pu
    set_operating_point(tn, load_pu, pv_pu, {s: 0.0 for s in tn.ev_load_idx})
    return {s: (up[s] - base[s]) / dp_w for s in base}


def zone_voltage_models(
    tn: TerniNetwork, set_background: Callable[[], None], dp_w: float = 25_000.0
) -> dict[str, tuple[float, dict[str, float], float]]:
    """Linear models of each LV feeder's highest bus voltage for the DSO, from power flows.

    For zone ``feeder/<name>``: ``vm ≈ vm0 + s_f·p_f + s_p·p_primary`` with ``p_f`` the feeder's
    net power (through its MV/LV transformer) and ``p_primary`` the primary's (through the HV/MV
    transformer), W drawn; and ``s_flex``, the voltage change per W drawn at the feeder's
    charging site (where its flexibility sits).  At the operating point ``set_background()``
    sets (every load and generator; no EV load; tap at its position, no tap control) a base
    flow and one flow per
    perturbation of ``dp_w`` more net load, shaped as the forecast's main uncertainty, PV
    (active power only): ``dp_w`` less PV over the whole area pro rata to the PV peaks and,
    apart, over the feeder's own PV systems, spread along it (``s_f``, ``s_p`` solve the two
    flows' voltage changes, each flow moving both powers), and ``dp_w`` more load at its
    charger (→ ``s_flex = Δvm/dp_w``).
    ``vm0`` makes the model exact at the base point.  The highest bus may move (feeder end ↔
    busbar) for large changes: the model is linear about the point, in active power only
    (MV voltage moves from reactive load and tap changes are not in it).
    Returns ``{zone: (vm0, {zone_j: s_j}, s_flex)}``.
    """
    if dp_w <= 0:
        raise ScenarioError("zone voltage models: dp_w must be > 0")
    net = tn.net
    zero = {s: 0.0 for s in tn.ev_load_idx}

    def base_point(extra: Mapping[str, float]) -> None:
        set_background()
        set_operating_point(tn, 1.0, 1.0, zero | dict(extra), background=False)

    base_point({})
    base = run_power_flow(tn)
    share = tn.pv_peak_mw / tn.pv_peak_mw.sum()
    net.sgen.loc[tn.pv_idx, "p_mw"] -= share * dp_w / W_PER_MW
    mv = run_power_flow(tn)
    out: dict[str, tuple[float, dict[str, float], float]] = {}
    for f in tn.feeders.values():
        site = f.site_id
        vm_b = base.vm_lv_max_pu[site]
        base_point({})
        nodes = [tn.bus_index(b) for b in f.node_buses]
        own = np.intersect1d(net.sgen.index[net.sgen["bus"].isin(nodes)], tn.pv_idx)
        net.sgen.loc[own, "p_mw"] -= dp_w / len(own) / W_PER_MW
        spread = run_power_flow(tn)
        # both perturbations move both powers (the area's PV includes the feeder's): solve
        # [Δp_f Δp_p] · [s_f s_p]ᵀ = Δvm for the two flows
        a = np.array(
            [
                [r.p_lv_trafo_w[site] - base.p_lv_trafo_w[site], r.p_primary_w - base.p_primary_w]
                for r in (mv, spread)
            ]
        )
        dv = np.array([r.vm_lv_max_pu[site] - vm_b for r in (mv, spread)])
        s_f, s_p = (float(x) for x in np.linalg.solve(a, dv))
        base_point({site: dp_w})
        s_flex = (run_power_flow(tn).vm_lv_max_pu[site] - vm_b) / dp_w
        vm0 = vm_b - s_f * base.p_lv_trafo_w[site] - s_p * base.p_primary_w
        out[f"feeder/{f.name}"] = (vm0, {f"feeder/{f.name}": s_f, "primary": s_p}, s_flex)
    base_point({})
    return out


__all__ = [
    "DEFAULT_LV_FEEDERS",
    "NODE_PROFILES",
    "SIMBENCH_CODE",
    "LvFeeder",
    "LvFeederSpec",
    "TerniFlowResult",
    "TerniNetwork",
    "TerniNetworkSpec",
    "add_oltc_control",
    "add_storage",
    "annual_load_mw",
    "build_terni_network",
    "element_profile",
    "run_power_flow",
    "set_element_inputs",
    "set_operating_point",
    "set_storage_power",
    "simbench_mv_urban",
    "voltage_sensitivity_pu_per_w",
    "xlpe_capacitance_nf_per_km",
    "zone_voltage_models",
]


SITE_OUTPUTS = ["vm_pu", "p_lv_trafo_w", "vm_lv_max_pu", "vm_lv_min_pu"]
"""Outputs of a charging site's grid connection: the charger-bus voltage [pu], the power
through its MV/LV transformer at the MV side [W, + = the LV feeder imports], and the highest
and lowest voltage over the buses of its LV feeder [pu]."""

GRID_OUTPUTS = [
    "converged",
    "p_slack_w",
    "q_slack_var",
    "p_loss_w",
    "tap_pos",
    "vm_pu",
    "line_loading_percent",
    "trafo_loading_percent",
    "p_trafo_hv_w",
    "q_trafo_hv_var",
]
"""Network-wide outputs; ``p_slack_w``/``q_slack_var`` are the powers through the HV/MV
transformer at its HV side (+ = the MV grid draws from HV), ``tap_pos`` the OLTC position,
``p_trafo_hv_w``/``q_trafo_hv_var`` the powers into every transformer at its HV side [W, var]
(+ = its LV side imports; 0 for a transformer out of service)."""


class TerniGridModel:
    """The Terni network as a :class:`~v2xcosim.grid.powerflow.GridCase`.

    Every background load and sgen takes its own value of the step from ``inputs`` (computed
    once per run by :func:`~v2xcosim.usecases.terni.inputs.element_inputs` and handed over
    when the model is built: no profile travels per step); one connection per charging site (its
    chargers' P and Q, summed onto the site's load at the charger bus) and per stationary
    battery (a pandapower ``storage``, P only).  Solved by the shared
    :class:`~v2xcosim.grid.powerflow.PowerFlow` (warm start, OLTC control,
    ``grid.on_nonconvergence``).
    """

    grid_inputs: tuple[str, ...] = ()
    grid_outputs = tuple(GRID_OUTPUTS)
    connection_outputs = tuple(SITE_OUTPUTS)

    def __init__(
        self,
        tn: TerniNetwork,
        options: PowerFlowOptions,
        inputs: GridInputs,
        *,
        oltc: bool,
        providers: Sequence[str] = (),
    ) -> None:
        """Step the network ``tn`` (storages already added for ``providers``) with ``inputs``."""
        self.tn = tn
        self.inputs = inputs
        self.sites = tuple(sorted(tn.ev_load_idx))
        self.providers = tuple(providers)
        # the step reads the flow's arrays only: power-grid-model need not write the tables
        self.flow = PowerFlow(
            tn.net, options, control=oltc, cold_init="auto", name="terni network", tables=False
        )
        self._grid: dict[str, Any] = {}
        self._conn: dict[str, dict[str, Any]] = {}
        self.batch_threads = 1
        """power-grid-model's threads in :meth:`solve_batch` (1 = the calling thread)."""
        self.batch_arrays: list[FlowArrays | None] = []
        """The last batch's flow results per step (None: that step diverged)."""

    def connections(self) -> list[str]:
        """Return the charging sites and the batteries."""
        return [*self.sites, *self.providers]

    def solve(
        self,
        step: int,
        time_s: int,
        grid_in: Mapping[str, float],
        conn_in: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """Set the operating point of ``step``, solve, and keep the results."""

        def total(c: str, attr: str) -> float:
            return _total(conn_in[c][attr])

        if not 0 <= step < self.inputs.n_steps:
            raise SimulationError(f"terni grid: step {step} outside the inputs' horizon")
        set_element_inputs(
            self.tn,
            self.inputs.load_p_mw[step],
            self.inputs.load_q_mvar[step],
            self.inputs.sgen_p_mw[step],
            {c: total(c, "p_w") for c in self.sites if "p_w" in conn_in.get(c, {})},
            {c: total(c, "q_var") for c in self.sites if "q_var" in conn_in.get(c, {})},
        )
        set_storage_power(
            self.tn, {c: total(c, "p_w") for c in self.providers if "p_w" in conn_in.get(c, {})}
        )
        if self.flow.solve(step, time_s):
            arrays = self.flow.arrays()
            self._store(flow_result(self.tn, arrays), arrays)
        else:
            self._store(None, None)

    def batch_powers(
        self, steps: Sequence[int], conn_in: Sequence[Mapping[str, Mapping[str, Any]]]
    ) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
        """Return the (K, rows) powers [MW, MVAr] of the load, sgen and storage tables.

        Row i is what :meth:`solve` would set for ``steps[i]`` with ``conn_in[i]``: the
        inputs' background loads and PV, each site's EV total, each battery's power; a site or
        battery that sends nothing keeps its previous value, as step by step.
        """
        net = self.tn.net
        k = len(steps)
        idx = np.asarray(steps, dtype=np.int64)
        if k == 0 or len(conn_in) != k:
            raise SimulationError("terni grid: a batch needs one input set per step")
        if idx.min() < 0 or idx.max() >= self.inputs.n_steps:
            raise SimulationError(f"terni grid: step {int(idx.max())} outside the inputs' horizon")
        lp = np.tile(net.load["p_mw"].to_numpy(dtype=float), (k, 1))
        lq = np.tile(net.load["q_mvar"].to_numpy(dtype=float), (k, 1))
        rows = self.tn.load_rows()
        lp[:, rows] = self.inputs.load_p_mw[idx]
        lq[:, rows] = self.inputs.load_q_mvar[idx]
        p: dict[str, FloatArray] = {"load": lp, "sgen": np.array(self.inputs.sgen_p_mw[idx])}
        q: dict[str, FloatArray] = {"load": lq}
        site_rows = net.load.index.get_indexer([self.tn.ev_load_idx[c] for c in self.sites])
        st = None
        if self.providers:
            st = np.tile(net.storage["p_mw"].to_numpy(dtype=float), (k, 1))
            st_rows = net.storage.index.get_indexer(
                [self.tn.storage_idx[c] for c in self.providers]
            )
            p["storage"] = st
        for i, ci in enumerate(conn_in):
            if i > 0:  # what nobody sets keeps its previous value
                lp[i, site_rows] = lp[i - 1, site_rows]
                lq[i, site_rows] = lq[i - 1, site_rows]
                if st is not None:
                    st[i] = st[i - 1]
            for j, c in enumerate(self.sites):
                for arr, attr in ((lp, "p_w"), (lq, "q_var")):
                    if attr in ci.get(c, {}):
                        arr[i, site_rows[j]] = _total(ci[c][attr]) / W_PER_MW
            if st is not None:
                for j, c in enumerate(self.providers):
                    if "p_w" in ci.get(c, {}):
                        st[i, st_rows[j]] = _total(ci[c]["p_w"]) / W_PER_MW
        for name, arr in (*p.items(), *(("load q", lq),)):
            if not np.all(np.isfinite(arr)):
                i = int(np.flatnonzero(~np.all(np.isfinite(arr), axis=1))[0])
                raise ScenarioError(
                    f"terni grid: a {name} power is not finite at step {int(idx[i])}"
                )
        return p, q

    def solve_batch(
        self,
        steps: Sequence[int],
        times_s: Sequence[int],
        grid_in: Sequence[Mapping[str, float]],
        conn_in: Sequence[Mapping[str, Mapping[str, Any]]],
    ) -> list[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
        """Solve several steps in one batch; return each step's (grid, connection) results.

        Only for a run in which nothing reads the grid's results while it runs (no charger
        voltage fed back, no OLTC): the steps' operating points do not depend on each other's
        results.  The results equal :meth:`solve`'s step by step (tests/test_grid_batch.py).
        """
        p, q = self.batch_powers(steps, conn_in)
        return self.solve_powers_batch(steps, times_s, grid_in, conn_in, p, q)

    def solve_powers_batch(
        self,
        steps: Sequence[int],
        times_s: Sequence[int],
        grid_in: Sequence[Mapping[str, float]],
        conn_in: Sequence[Mapping[str, Mapping[str, Any]]],
        p_mw: dict[str, FloatArray],
        q_mvar: dict[str, FloatArray],
    ) -> list[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
        """:meth:`solve_batch` with the tables' powers given (:meth:`batch_powers`)."""
        out: list[tuple[dict[str, Any], dict[str, dict[str, Any]]]] = []
        res = self.flow.solve_batch(p_mw, q_mvar, threads=self.batch_threads)
        if res is None:  # a point did not converge: step by step, under the run's policy
            self.batch_arrays = []
            for k, t, g, c in zip(steps, times_s, grid_in, conn_in, strict=True):
                self.solve(k, t, g, c)
                out.append((self._grid, self._conn))
                self.batch_arrays.append(self.flow.arrays() if self._grid["converged"] else None)
            return out
        self.batch_arrays = list(res)
        for arrays in res:
            self._store(flow_result(self.tn, arrays), arrays)
            out.append((self._grid, self._conn))
        net = self.tn.net  # leave the tables at the last point, as step by step
        net.load["p_mw"] = p_mw["load"][-1].copy()
        net.load["q_mvar"] = q_mvar["load"][-1].copy()
        net.sgen["p_mw"] = p_mw["sgen"][-1].copy()
        if "storage" in p_mw:
            net.storage["p_mw"] = p_mw["storage"][-1].copy()
        return out

    def _store(self, res: TerniFlowResult | None, arrays: FlowArrays | None) -> None:
        net = self.tn.net
        nan = float("nan")
        tap = float(net.trafo.loc[self.tn.hvmv_trafo, "tap_pos"])
        if res is None:  # flagged step: status 0, every value NaN, the tap as it stands
            self._grid = {a: nan for a in ("p_slack_w", "q_slack_var", "p_loss_w")}
            self._grid.update(
                converged=0.0,
                tap_pos=tap,
                vm_pu=[nan] * len(net.bus),
                line_loading_percent=[nan] * len(net.line),
                trafo_loading_percent=[nan] * len(net.trafo),
                p_trafo_hv_w=[nan] * len(net.trafo),
                q_trafo_hv_var=[nan] * len(net.trafo),
            )
            self._conn = {s: dict.fromkeys(SITE_OUTPUTS, nan) for s in self.sites}
            return
        assert arrays is not None
        self._grid = {
            "converged": 1.0,
            "p_slack_w": res.p_primary_w,
            "q_slack_var": res.q_primary_var,
            "p_loss_w": arrays.p_loss_w,
            "tap_pos": float(res.tap_pos),
            "vm_pu": arrays.vm_pu.tolist(),
            "line_loading_percent": arrays.line_loading_percent.tolist(),
            "trafo_loading_percent": _nan_as_zero(arrays.trafo_loading_percent),
            "p_trafo_hv_w": _nan_as_zero(arrays.trafo_p_hv_w),
            "q_trafo_hv_var": _nan_as_zero(arrays.trafo_q_hv_var),
        }
        self._conn = {
            s: {
                "vm_pu": res.vm_charger_pu[s],
                "p_lv_trafo_w": res.p_lv_trafo_w[s],
                "vm_lv_max_pu": res.vm_lv_max_pu[s],
                "vm_lv_min_pu": res.vm_lv_min_pu[s],
            }
            for s in self.sites
        }

    def grid_result(self) -> dict[str, Any]:
        """Return the network-wide results of the last step."""
        return self._grid

    def connection_result(self, conn_id: str) -> dict[str, Any]:
        """Return a charging site's results of the last step (a battery has none)."""
        return self._conn.get(conn_id, {})
