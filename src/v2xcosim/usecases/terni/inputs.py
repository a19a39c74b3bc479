"""Per-element inputs of the Terni network: every load and generator its own profile.

Computed once per run, deterministically from the scenario and its seed, by
:func:`element_inputs` in the parent (the grid simulator receives its part,
:class:`GridInputs`, once as JSON data when it starts, so no profile travels per step) and
condensed into the DSO's zone series by :func:`zone_series`.  Sources and assumptions (also
in ``scenarios/terni/README.md``):

* **Loads** (``net.load`` rows ``tn.load_idx``): SimBench's own assignment — each element's
  ``profile`` (``lv_urban6``, ``G0-A``, …; the LV feeders' buildings ``lv_urban6``,
  ``G4-A``, ``G1-B``) from the profiles of SimBench ``1-MV-urban--0-sw`` (year 2016, 15 min),
  ``p = p_mw × <profile>_pload`` and ``q = q_mvar × <profile>_qload`` as
  ``simbench.get_absolute_values`` computes them, at the SimBench row of each step start
  (:func:`~v2xcosim.usecases.terni.profiles.simbench_rows`: the same day of year with the
  weekday aligned, the same local quarter hour).  The element
  magnitudes are those of :func:`~v2xcosim.usecases.terni.network.build_terni_network` (annual
  coincident peak ``peak_load_mw``).
* **Rooftop PV** (``type`` ``lv_RES`` and the LV feeders' ``PV``): each element's kWp split over
  roof orientations (:data:`~v2xcosim.usecases.terni.profiles.PV_ORIENTATIONS`, an
  assumption), each orientation pvlib's Ineichen clear-sky plane-of-array irradiance ×
  performance ratio, × the Kasten–Czeplak factor of the cloud cover of the element's **cloud
  zone** at mid-step.  A cloud zone is an MV feeder of the primary substation (the buses one
  feeder supplies, found from the topology with the open ring switches; the LV feeders belong
  to the MV feeder of their secondary substation).  Zone cloud paths:
  :func:`~v2xcosim.usecases.terni.profiles.zone_cloud_oktas` (a city-wide AR(1) path plus one
  AR(1) deviation per zone, latent correlation ``CloudSpec.zone_correlation``).  SimBench's PV
  shapes (German weather of 2016) are not used.
* **Other generators** (the MV hydro plant): SimBench's own profile (``Hydro3``) × ``p_mw``.

Load convention of :mod:`v2xcosim.core.units` outside pandapower: the arrays here are
pandapower's own (``load`` MW/MVAr drawn, ``sgen`` MW injected); the zone series in W, each
term positive, as :class:`~v2xcosim.domain.zones.ZoneSeries` defines.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.timegrid import step_times
from v2xcosim.domain.zones import ZoneSeries
from v2xcosim.usecases.terni.network import TerniNetwork, element_profile
from v2xcosim.usecases.terni.profiles import (
    PV_ORIENTATIONS,
    CloudSpec,
    PvOrientation,
    kasten_czeplak_factor,
    pv_orientation_pu,
    simbench_rows,
    zone_cloud_oktas,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

ZONE_INTERVAL_S = 900
"""Interval of the DSO's zone series [s] (the settlement quarter hour)."""
PRIMARY = "primary"
"""Zone of the whole MV grid behind the HV/MV transformer."""
REFERENCE_LAG_S = 7 * 86400
"""Lag between the similar days of the DSO's load reference: one week [s]."""
REFERENCE_WEEKS = 4
"""The DSO's load reference is the mean of the same weekday over this many previous weeks
(similar-day averaging, a standard short-term load-forecasting baseline; one week alone was
20 % high on the shipped 15 May: the day-to-day spread of the profiles is ±10 %)."""


@dataclass(frozen=True)
class InputSettings:
    """What the element inputs depend on besides the network: time grid, seed, PV model."""

    start_utc: dt.datetime
    step_s: int
    n_steps: int
    seed: int
    clouds: CloudSpec
    performance_ratio: float = 0.8
    orientations: tuple[PvOrientation, ...] = PV_ORIENTATIONS


@dataclass(frozen=True)
class ElementInputs:
    """Per-step, per-element values (rows = steps; columns = elements in the net's row order).

    ``load_*``: background loads ``tn.load_idx`` [MW, MVAr drawn]; ``load_ref_p_mw`` the mean of
    the same elements on the same weekday over the :data:`REFERENCE_WEEKS` previous weeks;
    ``sgen_*``: every ``net.sgen`` row [MW injected],
    ``sgen_clearsky_mw`` the same without clouds (= ``sgen_p_mw`` for non-PV elements);
    ``sgen_is_pv`` marks rooftop PV, ``sgen_zone`` its cloud zone (``""`` for other sgens);
    ``zone_oktas`` the realised cloud cover of each cloud zone per step; ``pv_orientation_mw``
    the PV of all elements per orientation (their sum is the total PV).
    """

    step_s: int
    load_p_mw: FloatArray
    load_q_mvar: FloatArray
    load_ref_p_mw: FloatArray
    sgen_p_mw: FloatArray
    sgen_clearsky_mw: FloatArray
    sgen_is_pv: BoolArray
    sgen_zone: tuple[str, ...]
    zone_oktas: dict[str, FloatArray]
    pv_orientation_mw: dict[str, FloatArray]

    @property
    def n_steps(self) -> int:
        """Number of steps."""
        return int(self.load_p_mw.shape[0])


@dataclass(frozen=True)
class GridInputs:
    """What the grid simulator takes of :class:`ElementInputs`: each step's element values.

    Rows = steps; ``load_p_mw``/``load_q_mvar`` the background loads ``tn.load_idx`` [MW, MVAr
    drawn], ``sgen_p_mw`` every ``net.sgen`` row [MW injected].  Computed once in the parent
    (:func:`grid_inputs`) and handed to the grid simulator as JSON data
    (:func:`~v2xcosim.core.jsondata.to_json`, bit for bit), so it may run in its own process.
    """

    load_p_mw: FloatArray
    load_q_mvar: FloatArray
    sgen_p_mw: FloatArray

    @property
    def n_steps(self) -> int:
        """Number of steps."""
        return int(self.load_p_mw.shape[0])


def grid_inputs(inputs: ElementInputs) -> GridInputs:
    """Return the part of ``inputs`` the grid simulator needs (the same arrays, not copies)."""
    return GridInputs(inputs.load_p_mw, inputs.load_q_mvar, inputs.sgen_p_mw)


def cloud_zones(tn: TerniNetwork) -> dict[int, str]:
    """Bus → cloud zone ``mv<k>`` (MV feeder ``k``, numbered by its lowest bus index).

    The feeders are the connected parts of the MV/LV network without the primary substation's
    busbars (open switches respected, MV/LV transformers joining an LV feeder to its MV
    feeder); buses outside any feeder (the substation) are zone ``mv0``.
    """
    import pandapower.topology as top

    net = tn.net
    graph = top.create_nxgraph(net, respect_switches=True, include_trafos=True)
    names = net.bus["name"].astype(str)
    station = set(net.bus.index[names.str.contains("busbar") & ~names.str.contains(" BS ")])
    station |= set(net.bus.index[net.bus["vn_kv"] > 50.0])
    station |= {int(net.trafo.at[tn.hvmv_trafo, "lv_bus"])}
    graph.remove_nodes_from(station)
    parts = sorted(sorted(int(b) for b in c) for c in top.connected_components(graph))
    out = {int(b): "mv0" for b in net.bus.index}
    k = 0
    for part in parts:
        if len(part) < 3:  # substation-internal buses, not a feeder
            continue
        k += 1
        out.update({b: f"mv{k}" for b in part})
    return out


def _renewables_profile(net: Any, name: str) -> FloatArray | None:
    table = net.profiles.get("renewables")
    if table is None or name not in table.columns:
        return None
    out: FloatArray = table[name].to_numpy(dtype=float)
    return out


def _loads(tn: TerniNetwork, times: pd.DatetimeIndex) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Background loads at ``times``: realised P [MW], Q [MVAr] and the similar-day P [MW]."""
    net = tn.net
    rows = simbench_rows(times)
    ref_rows = [
        simbench_rows(times - pd.Timedelta(seconds=w * REFERENCE_LAG_S))
        for w in range(1, REFERENCE_WEEKS + 1)
    ]
    n, n_load = len(times), len(tn.load_idx)
    load_p = np.zeros((n, n_load))
    load_q = np.zeros((n, n_load))
    load_ref = np.zeros((n, n_load))
    for j, i in enumerate(tn.load_idx):
        prof = net.load.at[int(i), "profile"]
        if not isinstance(prof, str) or not prof:
            raise ScenarioError(f"terni inputs: load row {int(i)} has no profile")
        pload = element_profile(net, prof, "pload")
        qload = element_profile(net, prof, "qload")
        p_nom = float(tn.load_p_nom_mw[j])
        load_p[:, j] = p_nom * pload[rows]
        load_ref[:, j] = p_nom * np.mean([pload[r] for r in ref_rows], axis=0)
        load_q[:, j] = float(tn.load_q_nom_mvar[j]) * qload[rows]
    return load_p, load_q, load_ref


@dataclass(frozen=True)
class PastLoads:
    """The background loads of the hours before the run (the DSO's metered past).

    Rows = steps of ``step_s`` before the start, oldest first (whole 900-s intervals);
    columns as :attr:`ElementInputs.load_p_mw`.  ``load_p_mw``: realised [MW], computed as for
    the run itself; ``load_ref_p_mw``: the similar-day reference of the same steps [MW].
    """

    step_s: int
    load_p_mw: FloatArray
    load_ref_p_mw: FloatArray


def past_loads(tn: TerniNetwork, settings: InputSettings, hours: float) -> PastLoads:
    """Background loads of the ``hours`` before the run's start (rounded up to 900-s intervals).

    SimBench's profiles cover the whole year, so the days before the run are computed exactly
    as the run's own (:func:`element_inputs`): deterministic, no draw.
    """
    if ZONE_INTERVAL_S % settings.step_s:
        raise ScenarioError(f"terni zones: time.step_s must divide {ZONE_INTERVAL_S} s")
    per = ZONE_INTERVAL_S // settings.step_s
    n_past = math.ceil(hours * 3600.0 / ZONE_INTERVAL_S - 1e-9) * per
    start = pd.Timestamp(settings.start_utc) - pd.Timedelta(seconds=n_past * settings.step_s)
    times = step_times(start.to_pydatetime(), n_past, settings.step_s)
    load_p, _, load_ref = _loads(tn, times)
    return PastLoads(step_s=settings.step_s, load_p_mw=load_p, load_ref_p_mw=load_ref)


def element_inputs(tn: TerniNetwork, settings: InputSettings) -> ElementInputs:
    """Compute every element's values over the horizon (module docstring)."""
    net = tn.net
    times = step_times(settings.start_utc, settings.n_steps, settings.step_s)
    mid = times + pd.Timedelta(seconds=settings.step_s / 2)
    rows = simbench_rows(times)
    n, n_sgen = len(times), len(net.sgen)
    load_p, load_q, load_ref = _loads(tn, times)
    zone_of_bus = cloud_zones(tn)
    is_pv = net.sgen.index.isin(tn.pv_idx)
    sgen_zone = tuple(
        zone_of_bus[int(b)] if pv else "" for b, pv in zip(net.sgen["bus"], is_pv, strict=True)
    )
    zones = sorted({z for z in sgen_zone if z})
    oktas = zone_cloud_oktas(mid, settings.clouds, settings.seed, zones)
    orient = pv_orientation_pu(mid, settings.orientations, settings.performance_ratio)
    cs_pu = np.sum(list(orient.values()), axis=0) if orient else np.zeros(n)
    kc = {z: kasten_czeplak_factor(o) for z, o in oktas.items()}
    peak = dict(zip(tn.pv_idx.tolist(), tn.pv_peak_mw.tolist(), strict=True))
    sgen_p = np.zeros((n, n_sgen))
    sgen_cs = np.zeros((n, n_sgen))
    pv_orient = {name: np.zeros(n) for name in orient}
    for j, i in enumerate(net.sgen.index):
        if is_pv[j]:
            kwp = float(peak[int(i)])
            sgen_cs[:, j] = kwp * cs_pu
            sgen_p[:, j] = sgen_cs[:, j] * kc[sgen_zone[j]]
            for name, pu in orient.items():
                pv_orient[name] += kwp * pu * kc[sgen_zone[j]]
            continue
        p_nom = float(net.sgen.at[i, "p_mw"]) if bool(net.sgen.at[i, "in_service"]) else 0.0
        prof = net.sgen.at[i, "profile"] if "profile" in net.sgen.columns else None
        shape = _renewables_profile(net, prof) if isinstance(prof, str) else None
        sgen_p[:, j] = p_nom * (shape[rows] if shape is not None else 1.0)
        sgen_cs[:, j] = sgen_p[:, j]
    return ElementInputs(
        step_s=settings.step_s,
        load_p_mw=load_p,
        load_q_mvar=load_q,
        load_ref_p_mw=load_ref,
        sgen_p_mw=sgen_p,
        sgen_clearsky_mw=sgen_cs,
        sgen_is_pv=np.asarray(is_pv, dtype=bool),
        sgen_zone=sgen_zone,
        zone_oktas=oktas,
        pv_orientation_mw=pv_orient,
    )


def _interval_means(values: FloatArray, per: int) -> FloatArray:
    """Means over consecutive blocks of ``per`` rows (the row count is a multiple of ``per``)."""
    n = values.shape[0]
    if n % per:
        raise ScenarioError(
            f"terni zones: {n} steps are not whole {ZONE_INTERVAL_S}-s intervals; "
            "time.duration_s must be a multiple of 900 s"
        )
    out: FloatArray = values.reshape(n // per, per, *values.shape[1:]).mean(axis=1)
    return out


def zone_members(tn: TerniNetwork) -> dict[str, tuple[BoolArray, BoolArray]]:
    """Zone → (mask over background loads, mask over sgens) of its elements.

    ``primary``: every element of the MV grid; ``feeder/<name>``: the elements on the LV buses
    of the detailed LV feeder ``name``.
    """
    net = tn.net
    load_bus = net.load.loc[tn.load_idx, "bus"].to_numpy()
    sgen_bus = net.sgen["bus"].to_numpy()
    out = {PRIMARY: (np.ones(len(load_bus), dtype=bool), np.ones(len(sgen_bus), dtype=bool))}
    for name, f in sorted(tn.feeders.items()):
        buses = [tn.bus_index(b) for b in f.lv_buses]
        out[f"feeder/{name}"] = (np.isin(load_bus, buses), np.isin(sgen_bus, buses))
    return out


def zone_series(
    tn: TerniNetwork, inputs: ElementInputs, past: PastLoads | None = None
) -> dict[str, ZoneSeries]:
    """Return the DSO's series of ``primary`` and each ``feeder/<LV feeder>`` (900-s means).

    ``load_w``/``load_reference_w``: Σ of the zone's background loads (realised / the same
    elements on the same weekday, mean of the four previous weeks); ``load_past_w``/
    ``load_reference_past_w``: the same sums over ``past`` (the metered hours before the run,
    for the DSO's level correction; none without ``past``); ``pv_w``/``pv_clearsky_w``:
    Σ of its rooftop PV; ``gen_w``:
    its other generators (the hydro plant, in ``primary`` only); ``cloud_oktas``: the cloud
    path of the zone's cloud zone (a feeder lies in one MV feeder), for ``primary`` the
    kWp-weighted mean of the cloud zones' paths (assumption: one number for the whole area).
    """
    if ZONE_INTERVAL_S % inputs.step_s:
        raise ScenarioError(f"terni zones: time.step_s must divide {ZONE_INTERVAL_S} s")
    per = ZONE_INTERVAL_S // inputs.step_s
    if past is not None and past.step_s != inputs.step_s:
        raise ScenarioError("terni zones: the past loads must have the run's step_s")
    pv_peak = inputs.sgen_clearsky_mw.max(axis=0) if inputs.n_steps else np.zeros(0)
    out: dict[str, ZoneSeries] = {}
    for zone, (lm, sm) in zone_members(tn).items():
        pv_m = np.asarray(sm, dtype=bool) & inputs.sgen_is_pv
        gen_m = np.asarray(sm, dtype=bool) & ~inputs.sgen_is_pv
        load = inputs.load_p_mw[:, lm].sum(axis=1)
        ref = inputs.load_ref_p_mw[:, lm].sum(axis=1)
        if past is not None:
            load_past = _interval_means(past.load_p_mw[:, lm].sum(axis=1), per) * 1e6
            ref_past = _interval_means(past.load_ref_p_mw[:, lm].sum(axis=1), per) * 1e6
        else:
            load_past, ref_past = np.zeros(0), np.zeros(0)
        pv = inputs.sgen_p_mw[:, pv_m].sum(axis=1)
        cs = inputs.sgen_clearsky_mw[:, pv_m].sum(axis=1)
        gen = inputs.sgen_p_mw[:, gen_m].sum(axis=1)
        weights: dict[str, float] = {}
        for j in np.flatnonzero(pv_m):
            z = inputs.sgen_zone[int(j)]
            weights[z] = weights.get(z, 0.0) + float(pv_peak[int(j)])
        total = sum(weights.values())
        if total > 0:
            oktas = sum(w / total * inputs.zone_oktas[z] for z, w in sorted(weights.items()))
        else:
            oktas = np.zeros(inputs.n_steps)
        out[zone] = ZoneSeries(
            zone=zone,
            interval_s=ZONE_INTERVAL_S,
            load_w=_interval_means(load, per) * 1e6,
            load_reference_w=_interval_means(ref, per) * 1e6,
            pv_w=_interval_means(pv, per) * 1e6,
            pv_clearsky_w=_interval_means(cs, per) * 1e6,
            cloud_oktas=np.clip(_interval_means(np.asarray(oktas, dtype=float), per), 0.0, 8.0),
            gen_w=_interval_means(gen, per) * 1e6,
            load_past_w=load_past,
            load_reference_past_w=ref_past,
        )
    return out


def primary_net_mw(inputs: ElementInputs) -> FloatArray:
    """Background load − PV − other generation of the whole grid per step [MW, + = import]."""
    out: FloatArray = inputs.load_p_mw.sum(axis=1) - inputs.sgen_p_mw.sum(axis=1)
    return out


def zones_as_pu(
    zones: Mapping[str, ZoneSeries], zone: str, step_s: int
) -> tuple[float, float, float, FloatArray, FloatArray]:
    """Express a zone in the terms of today's DSO model (nominal sums, per-step pu series).

    Returns ``(load_nom_w, pv_peak_w, gen_const_w, load_pu, pv_pu)`` with one value per step
    (each 900-s value repeated): ``gen_const_w`` is the mean of ``gen_w``; its deviation from
    the mean is netted into the load series, so ``load_nom_w·load_pu − pv_peak_w·pv_pu −
    gen_const_w`` is the zone's net power exactly; ``load_nom_w`` and ``pv_peak_w`` are the
    zone's largest load and clear-sky PV of the horizon.
    """
    z = zones[zone]
    per = z.interval_s // step_s
    gen_const = float(np.mean(z.gen_w)) if z.n else 0.0
    load = np.asarray(z.load_w) - (np.asarray(z.gen_w) - gen_const)
    load_nom = float(np.max(load)) if z.n and np.max(load) > 0 else 1.0
    pv_peak = float(np.max(z.pv_clearsky_w)) if z.n and np.max(z.pv_clearsky_w) > 0 else 1.0
    load_pu: FloatArray = np.repeat(load / load_nom, per)
    pv_pu: FloatArray = np.repeat(np.asarray(z.pv_w) / pv_peak, per)
    return load_nom, pv_peak, gen_const, load_pu, pv_pu


__all__ = [
    "PRIMARY",
    "REFERENCE_LAG_S",
    "ZONE_INTERVAL_S",
    "ElementInputs",
    "GridInputs",
    "InputSettings",
    "PastLoads",
    "cloud_zones",
    "element_inputs",
    "grid_inputs",
    "past_loads",
    "primary_net_mw",
    "zone_members",
    "zone_series",
    "zones_as_pu",
]
