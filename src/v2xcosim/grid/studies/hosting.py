"""Hosting capacity for V2G chargers at one bus: the largest power before the first violation.

One bus at a time, every other element at its base state: a charger's power ``P`` is added at
the bus — drawn (``charging``, a ``load``) or injected (``discharging``, an ``sgen``) with
``Q = 0`` — and raised in steps of ``step_kw`` until the first violation, then bisected down to
``resolution_kw``.  The hosting capacity is the last power without a violation.  Criteria, in
the order they are reported when several trip at once:

* **voltage**: an in-service bus outside ``v_min_pu`` .. ``v_max_pu`` (AC power flow);
* **thermal**: an in-service line or transformer above ``max_loading_pct`` (pandapower's
  ``loading_percent``: current over ``max_i_ka·df·parallel``, transformer power over ``sn_mva``);
* **protection**: the chargers' short-circuit contribution raising the maximum three-phase
  ``Ik''`` at a bus above its switchgear rating, where the bus table gives one
  (:data:`RATING_COLUMNS`); a bidirectional charger feeds fault current whichever way it
  runs, so the criterion applies in both directions.  ``Ik''`` follows IEC 60909 with the
  chargers as current sources ``k·In`` (:mod:`.shortcircuit`); the contribution is linear in
  the chargers' rating, so it is computed once for 1 MVA and scaled.
* a power flow that does not converge counts as a violation (``criterion = "power flow"``).

The two base states (:func:`base_state`): with a scenario's operating point, loads × its load
scale and PV generators × its PV scale; for a bare network ``evening_peak`` — loads at
``p_mw``/``q_mvar`` × ``peak_load_scale``, every ``sgen`` (taken as PV) out of service;
``noon_surplus`` — loads × ``noon_load_scale``, ``sgen`` at their full ``p_mw``.  Charging
is studied at the evening peak, discharging at the noon surplus.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

DIRECTIONS: dict[str, str] = {"charging": "evening_peak", "discharging": "noon_surplus"}
"""Direction of the charger power → the base state it is studied at."""

RATING_COLUMNS = ("max_ikss_ka", "ikss_max_ka")
"""``bus`` columns read as the switchgear's short-circuit rating [kA] (first one present)."""

CRITERIA = ("voltage", "thermal", "protection")


@dataclass(frozen=True)
class Limits:
    """The limits a hosting search respects."""

    v_min_pu: float = 0.9
    v_max_pu: float = 1.1
    max_loading_pct: float = 100.0


@dataclass(frozen=True)
class Point:
    """The network's limiting quantities with ``added_kw`` at the study bus."""

    added_kw: float
    converged: bool
    vm_min_pu: float = math.nan
    vm_min_bus: str = ""
    vm_max_pu: float = math.nan
    vm_max_bus: str = ""
    max_loading_pct: float = math.nan
    max_loading_element: str = ""
    ikss_ratio: float = math.nan
    ikss_ratio_bus: str = ""

    def violation(self, limits: Limits) -> tuple[str, str, float, float] | None:
        """Return (criterion, element, value, limit) of the first violation, or None."""
        if not self.converged:
            return ("power flow", "", math.nan, math.nan)
        if self.vm_max_pu > limits.v_max_pu:
            return ("voltage", self.vm_max_bus, self.vm_max_pu, limits.v_max_pu)
        if self.vm_min_pu < limits.v_min_pu:
            return ("voltage", self.vm_min_bus, self.vm_min_pu, limits.v_min_pu)
        if self.max_loading_pct > limits.max_loading_pct:
            return (
                "thermal",
                self.max_loading_element,
                self.max_loading_pct,
                limits.max_loading_pct,
            )
        if self.ikss_ratio > 1.0:
            return ("protection", self.ikss_ratio_bus, self.ikss_ratio, 1.0)
        return None


@dataclass
class HostingResult:
    """Hosting capacity at one bus in one direction, with every point evaluated (the curve).

    ``criterion``/``element`` name the first violation above ``hosting_kw`` (``"none"`` when
    the search reached ``max_kw``); ``value`` is that quantity at ``hosting_kw`` (``ikss_ratio``
    for protection: Ik''/rating), ``limit`` its limit, ``value_over`` it just above.
    """

    bus: int
    bus_name: str
    direction: str
    state: str
    hosting_kw: float
    criterion: str
    element: str
    value: float
    value_over: float
    limit: float
    base_violation: bool
    curve: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def base_state(
    net: Any,
    state: str,
    *,
    peak_load_scale: float = 1.0,
    noon_load_scale: float = 0.3,
    scales: tuple[float, float] | None = None,
) -> Any:
    """Return a copy of ``net`` at ``state`` (``evening_peak`` or ``noon_surplus``).

    ``scales = (load_scale, pv_scale)`` (a scenario's own operating point) multiplies every
    load and every PV generator (``sgen.type`` "PV", any case; other generators stay);
    without it the rule for a bare network file applies (see the module docstring).
    """
    work = copy.deepcopy(net)
    if state not in ("evening_peak", "noon_surplus"):
        raise ValueError(f"unknown state {state!r}; expected evening_peak or noon_surplus")
    if scales is not None:
        load_scale, pv_scale = scales
        if len(work.load):
            work.load["p_mw"] = work.load["p_mw"].astype(float) * load_scale
            work.load["q_mvar"] = work.load["q_mvar"].astype(float) * load_scale
        if len(work.sgen):
            pv = work.sgen["type"].astype(str).str.lower() == "pv"
            work.sgen.loc[pv, "p_mw"] = work.sgen.loc[pv, "p_mw"].astype(float) * pv_scale
            work.sgen.loc[pv, "q_mvar"] = work.sgen.loc[pv, "q_mvar"].astype(float) * pv_scale
        return work
    if state == "evening_peak":
        scale, sgens_on = peak_load_scale, False
    elif state == "noon_surplus":
        scale, sgens_on = noon_load_scale, True
    else:
        raise ValueError(f"unknown state {state!r}; expected evening_peak or noon_surplus")
    if len(work.load):
        work.load["p_mw"] = work.load["p_mw"].astype(float) * scale
        work.load["q_mvar"] = work.load["q_mvar"].astype(float) * scale
    if len(work.sgen) and not sgens_on:
        work.sgen["in_service"] = False
    return work


def rating_column(net: Any) -> str | None:
    """Return the bus column with a short-circuit rating, or None (criterion skipped)."""
    for col in RATING_COLUMNS:
        if col in net.bus.columns and pd.to_numeric(net.bus[col], errors="coerce").gt(0).any():
            return col
    return None


def ikss_per_mva(net: Any, bus: int, k: float) -> tuple[pd.Series, pd.Series]:
    """Return Ik'' max [kA] at the rated buses without chargers, and its rise per charger MVA.

    Three-phase maximum case of IEC 60909, chargers at ``bus`` as current sources ``k·In``.
    """
    from v2xcosim.grid.studies import shortcircuit as scm

    col = rating_column(net)
    if col is None:
        raise ValueError("the network gives no short-circuit rating")
    rated = [int(b) for b in net.bus.index[pd.to_numeric(net.bus[col], errors="coerce") > 0]]
    sn = scm.study_net(net, [scm.Charger("hosting", bus, 1.0, k)], default_k=k)
    table = scm.short_circuit_study(sn, rated).table.set_index("bus")
    base = table["ikss_ka_base"].astype(float)
    return base, table["ikss_ka_v2g"].astype(float) - base


class _Evaluator:
    """Adds ``P`` at the study bus of a base-state copy and reads the limiting quantities."""

    def __init__(
        self,
        net: Any,
        bus: int,
        direction: str,
        ikss: tuple[pd.Series, pd.Series] | None,
        ratings: pd.Series | None,
    ) -> None:
        import pandapower as pp

        self.pp = pp
        self.net = net
        self.direction = direction
        if direction == "charging":
            self.table, self.row = (
                "load",
                int(pp.create_load(net, bus, p_mw=0.0, name="hosting charger")),
            )
        else:
            self.table, self.row = (
                "sgen",
                int(pp.create_sgen(net, bus, p_mw=0.0, name="hosting charger", type="v2g")),
            )
        self.ikss = ikss
        self.ratings = ratings
        self.names = net.bus["name"].astype(str)
        self.cache: dict[float, Point] = {}

    def __call__(self, kw: float) -> Point:
        if kw in self.cache:
            return self.cache[kw]
        net = self.net
        getattr(net, self.table).at[self.row, "p_mw"] = kw / 1000.0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.pp.runpp(net, algorithm="nr", numba=False, max_iteration=30)
            ok = bool(net.converged)
        except self.pp.powerflow.LoadflowNotConverged:
            ok = False
        if not ok:
            point = Point(kw, False)
            self.cache[kw] = point
            return point
        vm = net.res_bus["vm_pu"][net.bus["in_service"].astype(bool)].dropna()
        loading = pd.concat(
            [
                pd.Series(
                    net.res_line["loading_percent"].to_numpy(),
                    index=[_name(net.line, i, "line") for i in net.res_line.index],
                )[net.line["in_service"].astype(bool).to_numpy()],
                pd.Series(
                    net.res_trafo["loading_percent"].to_numpy(),
                    index=[_name(net.trafo, i, "trafo") for i in net.res_trafo.index],
                )[net.trafo["in_service"].astype(bool).to_numpy()],
            ]
        ).dropna()
        ratio, ratio_bus = math.nan, ""
        if self.ikss is not None and self.ratings is not None:
            base, per_mva = self.ikss
            r = (base + per_mva * kw / 1000.0) / self.ratings.loc[base.index]
            ratio = float(r.max())
            ratio_bus = str(self.names[r.index[int(np.argmax(r.to_numpy()))]])
        point = Point(
            kw,
            True,
            float(vm.min()),
            str(self.names[int(vm.idxmin())]),
            float(vm.max()),
            str(self.names[int(vm.idxmax())]),
            float(loading.max()) if len(loading) else 0.0,
            str(loading.idxmax()) if len(loading) else "",
            ratio,
            ratio_bus,
        )
        self.cache[kw] = point
        return point


def _name(table: Any, idx: Any, kind: str) -> str:
    name = table.at[idx, "name"]
    if name is None or (isinstance(name, float) and math.isnan(name)) or str(name) == "":
        return f"{kind} {idx}"
    return str(name)


def hosting_capacity(
    net: Any,
    bus: int,
    direction: str,
    limits: Limits = Limits(),
    *,
    step_kw: float = 11.0,
    resolution_kw: float = 1.0,
    max_kw: float = 5000.0,
    peak_load_scale: float = 1.0,
    noon_load_scale: float = 0.3,
    k: float | None = None,
    scales: tuple[float, float] | None = None,
) -> HostingResult:
    """Return the hosting capacity of ``bus`` in ``direction`` (``charging``/``discharging``).

    ``net`` is the network as given; it is not changed.  The state follows
    :data:`DIRECTIONS`; ``k`` is the chargers' fault current over rated current for the
    protection criterion (default :data:`~.shortcircuit.DEFAULT_K`); ``scales`` a scenario's
    operating point for the state (:func:`base_state`).
    """
    from v2xcosim.grid.studies.shortcircuit import DEFAULT_K

    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; expected {sorted(DIRECTIONS)}")
    if not (step_kw > 0 and resolution_kw > 0 and max_kw > 0):
        raise ValueError("step_kw, resolution_kw and max_kw must be > 0")
    state = DIRECTIONS[direction]
    notes: list[str] = []
    work = base_state(
        net,
        state,
        peak_load_scale=peak_load_scale,
        noon_load_scale=noon_load_scale,
        scales=scales,
    )
    col = rating_column(net)
    ikss: tuple[pd.Series, pd.Series] | None = None
    ratings: pd.Series | None = None
    if col is None:
        notes.append(
            "protection criterion skipped: the network gives no short-circuit rating "
            f"(bus column {' or '.join(RATING_COLUMNS)})"
        )
    else:
        ikss = ikss_per_mva(net, bus, DEFAULT_K if k is None else k)
        ratings = pd.to_numeric(net.bus[col], errors="coerce").astype(float)
    evaluate = _Evaluator(work, bus, direction, ikss, ratings)
    base = evaluate(0.0)
    lo, hi = 0.0, math.nan
    found = base.violation(limits)
    if found is None:
        kw = 0.0
        while kw < max_kw:
            kw = min(kw + step_kw, max_kw)
            if evaluate(kw).violation(limits) is not None:
                hi = kw
                break
            lo = kw
        if not math.isnan(hi):
            while hi - lo > resolution_kw:
                mid = (lo + hi) / 2.0
                if evaluate(mid).violation(limits) is None:
                    lo = mid
                else:
                    hi = mid
    name = str(net.bus.at[bus, "name"])
    at = evaluate(lo)
    if found is not None:
        criterion, element, value, limit = found
        over = value
        notes.append(f"the {state} base state already violates a limit ({criterion})")
    elif math.isnan(hi):
        criterion, element, limit, over = "none", "", math.nan, math.nan
        value = math.nan
        notes.append(f"no violation up to the search limit {max_kw:g} kW")
    else:
        hit = evaluate(hi).violation(limits)
        assert hit is not None
        criterion, element, over, limit = hit
        value = _quantity(at, criterion, over, limits)
    curve = pd.DataFrame(
        [vars(p) for p in sorted(evaluate.cache.values(), key=lambda p: p.added_kw)]
    )
    return HostingResult(
        bus=int(bus),
        bus_name=name,
        direction=direction,
        state=state,
        hosting_kw=float(lo),
        criterion=criterion,
        element=element,
        value=value,
        value_over=over,
        limit=limit,
        base_violation=found is not None,
        curve=curve,
        notes=notes,
    )


def _quantity(p: Point, criterion: str, over: float, limits: Limits) -> float:
    """Return the limiting quantity of ``criterion`` at point ``p`` (the same side as ``over``)."""
    if criterion == "voltage":
        return p.vm_max_pu if over > limits.v_max_pu else p.vm_min_pu
    if criterion == "thermal":
        return p.max_loading_pct
    if criterion == "protection":
        return p.ikss_ratio
    return float(np.nan)


__all__ = [
    "CRITERIA",
    "DIRECTIONS",
    "RATING_COLUMNS",
    "HostingResult",
    "Limits",
    "Point",
    "base_state",
    "hosting_capacity",
    "ikss_per_mva",
    "rating_column",
]
