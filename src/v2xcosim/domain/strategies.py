"""Charging strategies (``control.strategy``): the built-in three and your own, vectorised.

One call per step: a strategy maps :class:`StrategyInputs` (the connected EVs as
:class:`EvArrays`, the time, the DSO/price forecasts and windows, the market commitments) to
per-EV P setpoints [W, load convention].  Every strategy, built-in or not, is called through
:func:`apply_strategy`, which passes the result through the CS EMS guard :func:`power_bounds`
(SOC limits, ratings, reachable departure SOC), so a strategy can never strand a user whose
wish is feasible.

* ``uncontrolled`` — charge at full power from arrival until the wished departure SOC.
* ``smart`` — unidirectional, and ``v2g`` — bidirectional: rolling-horizon linear programs
  (:class:`LpStrategy` on :func:`v2xcosim.domain.scheduler.schedule`; the LP is written out in
  that module's docstring).  Each keeps one schedule per caller (``inputs.context``: a site, the
  EMSP's plan) over the rest of the horizon and re-solves it only on events — arrivals and
  departures, new awards (``flex_horizon_w``), a new DSO forecast or prices, an SOC off the
  schedule.  Guarantees: a consenting user leaves with the wish (``soc_target``) whenever it is
  feasible and never with more (awarded up-flexibility is delivered by shifting charge into the
  window); a discharge is never followed by a recharge that costs more than it earned (losses
  and wear are priced); in ``v2g`` no EV discharges where the DSO forecast of the primary
  substation imports ``min_import_w`` or less (``control.discharge_min_import_mw``), nor where
  the forecast of its own zone (``ev_zone``) is in reverse flow.  The rule is a constraint of
  the schedule itself (per EV and step, :meth:`LpStrategy.discharge_allowed`), so what is
  dispatched is what was planned: the plan is re-solved whenever the forecast in force
  changes, and award baselines come from a plan that is followed.  The windows
  (:func:`windows`) are still passed in :class:`StrategyInputs` for strategies of your own.

In ``smart`` and ``v2g`` an EV whose user did not join the campaign (``campaign`` False) is
charged as in ``uncontrolled``: the EMSP controls only consented sessions.

**Your own strategy.**  ``control.strategy = "module:Class"`` names a class implementing
:class:`ChargingStrategy`: a constructor without arguments, a ``bool`` class attribute
``bidirectional`` and a method ``decide(self, inputs: StrategyInputs) -> FloatArray``.
:func:`load_strategy` imports the module with the scenario file's folder first on
``sys.path`` (an installed package works as well).  What ``decide`` returns goes through the
same guard as the built-ins (:func:`apply_strategy`); a result that is not one finite number
per EV stops the run with a :class:`~v2xcosim.core.errors.SimulationError` naming the strategy
and where it was called.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal, Protocol, TypeVar, cast

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError, SimulationError, V2XError
from v2xcosim.domain.cs_ems import EvArrays, power_bounds, soc_after
from v2xcosim.domain.scheduler import (
    Commitment,
    Site,
    StorageUnit,
    cycle_wear_eur_per_kwh,
    schedule,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Strategy = Literal["uncontrolled", "smart", "v2g"]
STRATEGIES: tuple[str, ...] = ("uncontrolled", "smart", "v2g")


@dataclass(frozen=True)
class StrategyInputs:
    """What a charging strategy knows when it decides one step ``[t_s, t_s + dt_s)``.

    Arrays of one entry per EV are in the order of ``ev``; the strategy answers in that order.

    ``ev`` — the EVs of the call (:class:`EvArrays`): ``soc`` (fraction), ``capacity_kwh``
    (usable), ``departure_s`` (wished departure, s on the run clock), ``soc_target`` (the
    departure wish plus the guard's margin, at most ``soc_max``), ``soc_min``/``soc_max`` (the
    band the EMSP may use), ``p_max_charge_w``/``p_max_discharge_w`` (vehicle and connector
    limits, W ≥ 0; the discharge limit is 0 unless the strategy is ``bidirectional``),
    ``connected`` (False entries get 0 W whatever is asked), ``eta_charge``/``eta_discharge``.
    ``t_s`` — start of the step, s on the run clock (0 = the scenario's start).
    ``dt_s`` — step length [s].
    ``charge_window`` — this step has forecast reverse flow at the primary substation.
    ``discharge_window`` — this step is a V2G discharge window (:func:`windows`).
    ``flex_w`` — market commitments: flexibility awarded to each EV for this step [W,
    + = consume more than the declared baseline]; a strategy honouring the market adds it.
    ``campaign`` — the EV's user joined the EMSP's campaign: only these EVs may be controlled;
    the others are charged at full power to their wish whatever the strategy says.
    ``forecast_p_net_w`` — the DSO forecast in force of the net active power at the primary
    substation [W, load convention: negative = reverse flow], one value per step from this
    step to the end of the horizon (NaN before the first forecast).
    ``price_eur_per_mwh`` — the energy price [EUR/MWh], one value per step from this step to
    the end of the horizon.
    ``flex_horizon_w`` — optional: the commitments of every EV from this step to the end of the
    horizon (n_ev × steps, W, column 0 = ``flex_w``); ``None`` when the caller knows only
    this step's.  A planning strategy sees awards before their delivery this way.
    ``ev_id`` — optional: one stable id per EV (e.g. the session id), so a strategy that keeps
    state between calls can tell arrivals and departures apart; ``()`` when not given.
    ``context`` — optional: who calls (e.g. the site, or ``"plan"`` for the EMSP's plan), so a
    strategy with state keeps one per caller.
    ``ev_zone`` — optional: the DSO zone of each EV's grid connection (e.g. ``"feeder/LV1"``,
    the LV feeder of its charging site); ``()`` when not given.
    ``zone_forecast_p_net_w`` — optional: per zone of ``ev_zone`` the DSO forecast in force of
    the zone's net active power without the EVs [W, load convention: negative = reverse flow
    through the zone's transformer], one value per step from this step on, like
    ``forecast_p_net_w`` (NaN before the first forecast); empty when not given.  A site's own
    feeder is where its EVs relieve reverse flow first (:meth:`ev_forecast_p_net_w`).
    """

    ev: EvArrays
    t_s: float
    dt_s: float
    charge_window: bool
    discharge_window: bool
    flex_w: FloatArray
    campaign: BoolArray
    forecast_p_net_w: FloatArray
    price_eur_per_mwh: FloatArray
    flex_horizon_w: FloatArray | None = None
    ev_id: tuple[str, ...] = ()
    context: str = ""
    ev_zone: tuple[str, ...] = ()
    zone_forecast_p_net_w: Mapping[str, FloatArray] = dataclasses.field(default_factory=dict)

    @property
    def n_ev(self) -> int:
        """Number of EVs (entries of every per-EV array)."""
        return int(self.ev.soc.shape[0])

    def ev_forecast_p_net_w(self) -> FloatArray:
        """Per EV the forecast of its own zone [W] (n_ev × steps of ``price_eur_per_mwh``).

        An EV without a zone, or whose zone has no forecast, gets ``forecast_p_net_w`` (the
        primary substation's); steps beyond a forecast are NaN.
        """
        t_n = len(self.price_eur_per_mwh)
        out = np.tile(_pad(self.forecast_p_net_w, t_n), (self.n_ev, 1))
        if len(self.ev_zone) == self.n_ev:
            for i, zone in enumerate(self.ev_zone):
                fc = self.zone_forecast_p_net_w.get(zone)
                if fc is not None:
                    out[i] = _pad(fc, t_n)
        return out


class ChargingStrategy(Protocol):
    """A charging strategy: ``control.strategy = "module:Class"`` names a class like this.

    The class is built without arguments (``Class()``), once per run and process.  Example::

        class Hold:
            bidirectional = False

            def decide(self, inputs: StrategyInputs) -> FloatArray:
                return np.zeros(inputs.n_ev)  # the guard still charges what the wishes need
    """

    bidirectional: bool
    """True: the strategy may discharge (V2G) and the EMSP offers flexibility both ways;
    False: the guard's discharge limit is 0 W and only consume-more flexibility is offered."""

    def decide(self, inputs: StrategyInputs) -> FloatArray:
        """Return the P setpoint [W, load convention: + = charge] of each EV in ``inputs.ev``.

        One finite number per EV.  The result is passed through the CS EMS guard
        (:func:`apply_strategy`): values outside the EV's bounds are clipped, EVs of users
        outside the campaign are charged as in ``uncontrolled``.
        """
        ...


class BuiltinStrategy:
    """One of the built-in strategies (``uncontrolled``, ``smart``, ``v2g``) as a strategy.

    ``smart`` and ``v2g`` hold an :class:`LpStrategy` (``lp``; its parameters may be set after
    construction, e.g. ``lp.min_import_w``); ``uncontrolled`` has none.
    """

    def __init__(self, name: str) -> None:
        """Create the built-in strategy ``name`` (one of :data:`STRATEGIES`)."""
        if name not in STRATEGIES:
            raise ScenarioError(f"control.strategy: unknown {name!r}; use one of {STRATEGIES}")
        self.name = name
        self.bidirectional = name == "v2g"
        self.lp = None if name == "uncontrolled" else LpStrategy(self.bidirectional)

    def __repr__(self) -> str:
        """Return ``BuiltinStrategy('name')``."""
        return f"BuiltinStrategy({self.name!r})"

    def decide(self, inputs: StrategyInputs) -> FloatArray:
        """P setpoints [W] per EV (see the module docstring), inside the guard's bounds."""
        hi_target = _hi_target(inputs.ev, inputs.t_s, inputs.dt_s)
        if self.lp is None:
            return hi_target
        lo, hi = power_bounds(inputs.ev, inputs.t_s, inputs.dt_s)
        if not self.bidirectional:
            lo = np.maximum(lo, 0.0)
        p = np.clip(self.lp.decide(inputs), lo, hi)
        out: FloatArray = np.where(inputs.campaign, p, hi_target)
        return out


def planning_headroom(strategy: ChargingStrategy) -> float:
    """Fraction of each charge rating ``strategy`` keeps in reserve when it plans.

    A built-in LP strategy's :attr:`LpStrategy.power_headroom` (``smart``, ``v2g``), an
    :class:`LpStrategy`'s own; 0 for ``uncontrolled`` and strategies of your own (they plan
    with the full rating, as far as the EMSP knows).  The EMSP sizes its offers against the
    derated rating (:func:`v2xcosim.domain.emsp.flex_capacity_w`), so the reserve is not sold.
    """
    lp = strategy.lp if isinstance(strategy, BuiltinStrategy) else strategy
    return float(lp.power_headroom) if isinstance(lp, LpStrategy) else 0.0


SURPLUS_EUR_PER_MWH = 50.0
"""Value the LP strategies give a MWh charged in the deepest forecast reverse flow of the
horizon, scaled by the surplus of each step (assumption: of the order of the energy price, so
the surplus decides where prices are flat; the DSO's flexibility price cap is 200 EUR/MWh)."""

SHORTFALL_EUR_PER_MWH = 1000.0
"""Cost the LP strategies give a MWh of awarded flexibility not delivered (assumption: five
times the DSO's price cap of 200 EUR/MWh, so awards are kept whenever the wishes allow)."""

RESOLVE_SOC_TOL = 0.005
"""A re-solve is triggered when an EV's SOC differs from the schedule's by more than this."""


@dataclass
class _LpPlan:
    """The schedule an :class:`LpStrategy` follows for one caller (``context``)."""

    k0: int  # absolute step of column 0
    ids: tuple[str, ...]
    live: BoolArray
    p_w: FloatArray  # n × T
    soc_end: FloatArray  # n × T
    flex_w: FloatArray  # n × T, the commitments the schedule keeps
    forecast_w: FloatArray  # T, the primary's (discharge rule)
    ev_forecast_w: FloatArray  # n × T, each EV's zone (surplus value, discharge rule)
    price: FloatArray  # T


class LpStrategy:
    """Rolling-horizon LP charging (``smart``: unidirectional, ``v2g``: bidirectional).

    Each call ``decide(inputs)`` returns the current column of a schedule made by
    :func:`v2xcosim.domain.scheduler.schedule` over the rest of the horizon and re-solves only
    on an *event*: a new caller (``inputs.context``), an arrival or departure (``ev_id`` or the
    connected set changed), new awards (``flex_horizon_w`` differs from what the schedule
    keeps), a new DSO forecast or prices, an SOC off the schedule by more than
    :data:`RESOLVE_SOC_TOL`, or the schedule's end.  The LP per call:

    * horizon: from now to the latest declared departure of the connected EVs, at most
      ``horizon_s`` (default 24 h) and the end of ``price_eur_per_mwh`` (an EV staying longer
      is held to what full power after the horizon cannot add, as in the guard);
    * units: the connected EVs with their wish ``soc_target`` (kept: the user leaves with it
      when feasible, never with more — an award's extra energy is delivered by shifting), the
      EV's band and ratings (discharge only if ``bidirectional``), users outside the campaign as
      uncontrolled loads;
    * the own feeder (when the caller gives ``ev_zone`` and ``zone_forecast_p_net_w``): the
      EVs of each zone form one LP site whose base profile is the zone's forecast ``B_k``
      (:class:`~v2xcosim.domain.scheduler.Site`); every kWh of the zone's forecast reverse
      flow ``S_k = max(−B_k, 0)`` the EVs absorb earns ``λ_k = surplus_eur_per_mwh·(½ +
      ½·S_k/max S)`` (deeper surplus first), and a discharge that would itself push the zone
      into reverse flow costs the same; steps without a forecast carry no value.  Without
      zones the primary substation's forecast is a price term instead: ``price −
      surplus_eur_per_mwh·S_k/max S`` with ``S = max(−forecast_p_net_w, 0)``;
    * price: ``price_eur_per_mwh`` (what the EMSP pays for energy) plus
      ``user_tariff_eur_per_mwh`` (default 0; a constant that only prices cycle losses);
    * battery wear ``wear_eur_per_kwh`` per kWh throughput
      (:func:`~v2xcosim.domain.scheduler.cycle_wear_eur_per_kwh`);
    * ``v2g``: an EV may discharge only in steps where the primary forecast imports more than
      ``min_import_w`` (as the windows of :func:`windows`) and, with zones, its own zone's
      forecast imports (``≥ 0``); a step without a forecast allows none
      (:meth:`discharge_allowed`, passed to the LP per unit and step, so the schedule obeys
      the rule and dispatch needs no clip of its own);
    * awards: per EV and step with ``flex ≠ 0`` the schedule must reach ``baseline + flex``
      (baseline: the schedule's power at that step before the award was known), shortfalls at
      ``shortfall_eur_per_mwh``.

    **Who pays the cycle losses.**  The EMSP buys the energy at ``price_eur_per_mwh`` and bears
    the losses of the cycles it orders: the user is billed the energy as if no V2G had
    happened (each kWh fed back is credited at ``1/(η_c·η_d)`` kWh, the energy that puts it
    back; :meth:`v2xcosim.domain.emsp.Emsp.billed_kwh`), so a round trip is priced at the
    EMSP's own energy price plus wear, and a discharge happens where a price spread, the
    surplus value or an award pays for it — never on the user's bill.  A caller whose users pay
    the losses instead sets ``user_tariff_eur_per_mwh`` to their tariff.
    """

    def __init__(
        self,
        bidirectional: bool,
        *,
        wear_eur_per_kwh: float | None = None,
        surplus_eur_per_mwh: float = SURPLUS_EUR_PER_MWH,
        min_import_w: float = 0.0,
        shortfall_eur_per_mwh: float = SHORTFALL_EUR_PER_MWH,
        user_tariff_eur_per_mwh: float = 0.0,
        power_headroom: float = 0.05,
        horizon_s: float = 86400.0,
    ) -> None:
        """LP strategy; ``wear_eur_per_kwh`` default: the Schmalstieg law at its defaults.

        ``power_headroom``: the LP plans charging with ``(1 − headroom)`` of each EV's rating
        (assumption: 5 %), so an EV that charges less efficiently than modelled, found at a
        re-solve, still has power in reserve to reach its wish (the guard allows the full
        rating).  ``horizon_s``: the longest look-ahead [s] (default 24 h: a day's PV and
        price cycle; it keeps a re-solve within the time budget on runs of a week or more).
        """
        if not 0.0 <= power_headroom < 1.0:
            raise ScenarioError("LpStrategy: power_headroom must be in [0, 1)")
        if not horizon_s > 0:
            raise ScenarioError("LpStrategy: horizon_s must be > 0")
        self.power_headroom = power_headroom
        self.horizon_s = horizon_s
        self.user_tariff_eur_per_mwh = user_tariff_eur_per_mwh
        self.bidirectional = bidirectional
        self.wear_eur_per_kwh = (
            cycle_wear_eur_per_kwh() if wear_eur_per_kwh is None else wear_eur_per_kwh
        )
        self.surplus_eur_per_mwh = surplus_eur_per_mwh
        self.min_import_w = min_import_w
        self.shortfall_eur_per_mwh = shortfall_eur_per_mwh
        self.n_solves = 0
        self._plans: dict[str, _LpPlan] = {}
        self._baseline: dict[str, dict[tuple[str, int], float]] = {}

    def __repr__(self) -> str:
        """Return ``LpStrategy(bidirectional=...)``."""
        return f"LpStrategy(bidirectional={self.bidirectional})"

    def decide(self, inputs: StrategyInputs) -> FloatArray:
        """P setpoints [W] per EV: the current column of the schedule (re-solved on events)."""
        n = inputs.n_ev
        ids = inputs.ev_id if len(inputs.ev_id) == n else tuple(str(i) for i in range(n))
        k_abs = round(inputs.t_s / inputs.dt_s)
        live = inputs.ev.connected & (inputs.ev.departure_s > inputs.t_s)
        if not live.any():
            return np.zeros(n)
        t_n = self._horizon(inputs, live)
        flex = self._flex(inputs, t_n)
        fc = _pad(inputs.forecast_p_net_w, t_n)
        fc_ev = inputs.ev_forecast_p_net_w()[:, :t_n] if self._zoned(inputs) else None
        price = np.nan_to_num(_pad(inputs.price_eur_per_mwh, t_n), nan=0.0)
        plan = self._plans.get(inputs.context)
        if plan is None or self._stale(plan, inputs, ids, live, k_abs, flex, fc, fc_ev, price):
            plan = self._solve(inputs, ids, live, k_abs, flex, fc, fc_ev, price)
            self._plans[inputs.context] = plan
        # the discharge rule is in the plan (:meth:`discharge_allowed`), and the plan is the
        # forecast in force's (``_stale`` re-solves when it changes): dispatch follows the plan
        out: FloatArray = np.where(live, plan.p_w[:, k_abs - plan.k0], 0.0)
        return out

    def discharge_allowed(self, fc: FloatArray, fc_ev: FloatArray | None) -> BoolArray:
        """Where each EV may discharge (``v2g`` rule): n_ev × steps bools.

        ``fc``: the primary substation's forecast [W] per step; ``fc_ev``: per EV its own
        zone's forecast [W] (n_ev × steps, :meth:`StrategyInputs.ev_forecast_p_net_w`) or
        ``None`` without zones.  An EV may discharge in a step where the primary forecast
        imports more than ``min_import_w`` and, with zones, its own zone's forecast imports
        (``≥ 0``: a discharge never feeds a transformer that is forecast in reverse flow).  A
        NaN forecast (none in force) allows nothing.
        """
        primary = np.nan_to_num(np.asarray(fc, dtype=float), nan=-np.inf) > self.min_import_w
        if fc_ev is None:
            return np.array(primary[None, :], dtype=bool)
        own = np.nan_to_num(np.asarray(fc_ev, dtype=float), nan=-np.inf) >= 0.0
        out: BoolArray = primary[None, :] & own
        return out

    def _horizon(self, inputs: StrategyInputs, live: BoolArray) -> int:
        """Return the steps to plan: to the latest declared departure, ≤ ``horizon_s``."""
        dt_s = inputs.dt_s
        last = float(inputs.ev.departure_s[live].max()) - inputs.t_s
        steps = math.ceil(min(last, self.horizon_s) / dt_s - 1e-9)
        return max(min(steps, len(inputs.price_eur_per_mwh)), 1)

    @staticmethod
    def _zoned(inputs: StrategyInputs) -> bool:
        """Tell whether the caller gave each EV's zone and a forecast of one of them."""
        return len(inputs.ev_zone) == inputs.n_ev and any(
            z in inputs.zone_forecast_p_net_w for z in inputs.ev_zone
        )

    @staticmethod
    def _flex(inputs: StrategyInputs, t_n: int) -> FloatArray:
        n = inputs.n_ev
        if inputs.flex_horizon_w is not None:
            f = np.asarray(inputs.flex_horizon_w, dtype=float)
            if f.ndim == 2 and f.shape[0] == n:
                out = np.zeros((n, t_n))
                m = min(f.shape[1], t_n)
                out[:, :m] = f[:, :m]
                out[:, 0] = inputs.flex_w
                return out
        out = np.zeros((n, t_n))
        out[:, 0] = inputs.flex_w
        return out

    def _stale(
        self,
        plan: _LpPlan,
        inputs: StrategyInputs,
        ids: tuple[str, ...],
        live: BoolArray,
        k_abs: int,
        flex: FloatArray,
        fc: FloatArray,
        fc_ev: FloatArray | None,
        price: FloatArray,
    ) -> bool:
        j = k_abs - plan.k0
        t_n = plan.p_w.shape[1]
        if plan.ids != ids or not np.array_equal(plan.live, live) or not 0 <= j < t_n:
            return True
        m = min(t_n - j, flex.shape[1])
        if not np.array_equal(plan.flex_w[:, j : j + m], flex[:, :m]):
            return True
        if not np.array_equal(plan.forecast_w[j : j + m], fc[:m], equal_nan=True):
            return True
        if (fc_ev is None) != (plan.ev_forecast_w.size == 0):
            return True
        if fc_ev is not None and not np.array_equal(
            plan.ev_forecast_w[:, j : j + m], fc_ev[:, :m], equal_nan=True
        ):
            return True
        if not np.array_equal(plan.price[j : j + m], price[:m]):
            return True
        if j > 0:
            expected = plan.soc_end[:, j - 1]
            off = np.abs(np.nan_to_num(expected, nan=0.0) - inputs.ev.soc) > RESOLVE_SOC_TOL
            if np.any(off & live & np.isfinite(expected)):
                return True
        return False

    def _solve(
        self,
        inputs: StrategyInputs,
        ids: tuple[str, ...],
        live: BoolArray,
        k_abs: int,
        flex: FloatArray,
        fc: FloatArray,
        fc_ev: FloatArray | None,
        price: FloatArray,
    ) -> _LpPlan:
        ev, dt_s = inputs.ev, inputs.dt_s
        n, t_n = inputs.n_ev, len(price)
        rows = np.flatnonzero(live)
        units = []
        for i in map(int, rows):
            # whole steps before departure (a last partial step is left to the guard, so the
            # LP never counts on more charging time than the guard's must-charge rule)
            dep_k = max(math.floor((ev.departure_s[i] - inputs.t_s) / dt_s + 1e-9), 1)
            units.append(
                StorageUnit(
                    capacity_kwh=float(ev.capacity_kwh[i]),
                    soc0=float(np.clip(ev.soc[i], 0.0, 1.0)),
                    p_charge_max_w=float(ev.p_max_charge_w[i]) * (1.0 - self.power_headroom),
                    p_discharge_max_w=float(ev.p_max_discharge_w[i]) if self.bidirectional else 0.0,
                    eta_charge=ev.eta_charge,
                    eta_discharge=ev.eta_discharge,
                    soc_min=float(min(ev.soc_min[i], ev.soc_max[i])),
                    soc_max=float(ev.soc_max[i]),
                    departure_k=dep_k,
                    soc_wish=float(ev.soc_target[i]),
                    controllable=bool(inputs.campaign[i]),
                    wear_eur_per_kwh=self.wear_eur_per_kwh,
                )
            )
        value = np.zeros(t_n)
        sites: list[Site] = []
        if fc_ev is not None:  # the EVs of each zone relieve their own transformer
            sites = self._zone_sites(inputs, rows, fc_ev)
        else:
            surplus = np.maximum(-np.nan_to_num(fc, nan=0.0), 0.0)
            if surplus.max() > 0:
                value = self.surplus_eur_per_mwh * surplus / surplus.max()
        allowed = None
        if self.bidirectional:  # per unit: the primary imports enough and its own zone imports
            mask = self.discharge_allowed(fc, fc_ev)
            allowed = np.broadcast_to(mask, (n, t_n))[rows]
        base, missing = self._baselines(inputs.context, ids, rows, k_abs, flex, t_n)
        run = partial(
            schedule,
            units,
            n_steps=t_n,
            dt_s=dt_s,
            price_eur_per_mwh=price + self.user_tariff_eur_per_mwh - value,
            discharge_allowed=allowed,
            sites=sites,
        )
        if missing.any():  # awards on a schedule never made here: its commitment-free plan
            first = run().p_w
            base = np.where(missing, first, base)
            known = self._baseline[inputs.context]
            for u, j in zip(*np.nonzero(missing), strict=True):
                known[(ids[int(rows[u])], k_abs + int(j))] = float(first[u, j])
        commitments = [
            Commitment((u,), base[u], flex[i], self.shortfall_eur_per_mwh)
            for u, i in enumerate(map(int, rows))
            if np.any(flex[i] != 0.0)
        ]
        out = run(commitments=commitments)
        self.n_solves += 1
        p_w = np.zeros((n, t_n))
        soc = np.full((n, t_n), np.nan)
        p_w[rows] = out.p_w
        soc[rows] = out.soc_end
        fc_kept = np.zeros((0, 0)) if fc_ev is None else fc_ev.copy()
        return _LpPlan(
            k_abs, ids, live.copy(), p_w, soc, flex.copy(), fc.copy(), fc_kept, price.copy()
        )

    def _zone_sites(
        self, inputs: StrategyInputs, rows: npt.NDArray[np.int64], fc_ev: FloatArray
    ) -> list[Site]:
        """One LP site per zone of the live EVs: base = the zone's forecast, value λ_k."""
        zone_rows: dict[str, list[int]] = {}
        for u, i in enumerate(map(int, rows)):
            zone_rows.setdefault(inputs.ev_zone[i], []).append(u)
        out = []
        for zone in sorted(zone_rows):
            members = zone_rows[zone]
            fc = fc_ev[int(rows[members[0]])]
            known = np.isfinite(fc)
            if not known.any():
                continue
            base = np.where(known, fc, 0.0)
            surplus = np.maximum(-base, 0.0)
            depth = surplus / surplus.max() if surplus.max() > 0 else np.zeros_like(surplus)
            lam = np.where(known, self.surplus_eur_per_mwh / 1e3 * (0.5 + 0.5 * depth), 0.0)
            out.append(Site(units=tuple(members), base_net_w=base, reverse_eur_per_kwh=lam))
        return out

    def _baselines(
        self,
        context: str,
        ids: tuple[str, ...],
        rows: npt.NDArray[np.int64],
        k_abs: int,
        flex: FloatArray,
        t_n: int,
    ) -> tuple[FloatArray, BoolArray]:
        """Baseline [W] per live EV and step of its commitments, and where none is known yet.

        The baseline of an award is the power the schedule had at that step before the award
        was known (kept from then on).
        """
        known = self._baseline.setdefault(context, {})
        prev = self._plans.get(context)
        prev_row = {} if prev is None else {sid: r for r, sid in enumerate(prev.ids)}
        out = np.zeros((len(rows), t_n))
        missing = np.zeros((len(rows), t_n), dtype=bool)
        for u, i in enumerate(map(int, rows)):
            for j in map(int, np.flatnonzero(flex[i] != 0.0)):
                key = (ids[i], k_abs + j)
                if key not in known and prev is not None and ids[i] in prev_row:
                    jj = k_abs + j - prev.k0
                    if 0 <= jj < prev.p_w.shape[1]:
                        known[key] = float(prev.p_w[prev_row[ids[i]], jj])
                if key in known:
                    out[u, j] = known[key]
                else:
                    missing[u, j] = True
        return out, missing


def _pad(values: FloatArray, n: int) -> FloatArray:
    a = np.asarray(values, dtype=float)[:n]
    out: FloatArray = np.concatenate([a, np.full(n - len(a), np.nan)]) if len(a) < n else a.copy()
    return out


def _as_mask(x: bool | BoolArray, n: int) -> BoolArray:
    out = np.broadcast_to(np.asarray(x, dtype=bool), (n,))
    return np.array(out, dtype=bool)


def _hi_target(ev: EvArrays, t_s: float, dt_s: float) -> FloatArray:
    """Upper guard bound when charging only up to the wish: the ``uncontrolled`` setpoint."""
    to_target = dataclasses.replace(ev, soc_max=np.minimum(ev.soc_target, ev.soc_max))
    return power_bounds(to_target, t_s, dt_s)[1]


def decide(
    strategy: str,
    ev: EvArrays,
    t_s: float,
    dt_s: float,
    *,
    charge_window: bool = False,
    discharge_window: bool = False,
    flex_w: FloatArray | None = None,
    campaign: BoolArray | None = None,
    forecast_p_net_w: FloatArray | None = None,
    price_eur_per_mwh: FloatArray | None = None,
) -> FloatArray:
    """P setpoints [W] per EV of a built-in strategy for ``[t_s, t_s + dt_s)``, without state.

    A fresh :class:`BuiltinStrategy` decides once.  The LP strategies plan over the
    ``price_eur_per_mwh``/``forecast_p_net_w`` horizon given (this step first), else until the
    last departure at price 0 (then they charge as late as the wishes allow); the windows are
    only passed on.
    """
    n = ev.soc.shape[0]
    flex = np.zeros(n) if flex_w is None else np.asarray(flex_w, dtype=float)
    if flex.shape != (n,) or not np.all(np.isfinite(flex)):
        raise ScenarioError(f"decide: flex_w must be {n} finite values")
    if price_eur_per_mwh is None:
        live = ev.connected & (ev.departure_s > t_s)
        last = float(ev.departure_s[live].max()) if live.any() else t_s + dt_s
        t_n = max(math.ceil((last - t_s) / dt_s - 1e-9), 1)
        price = np.zeros(t_n)
    else:
        price = np.asarray(price_eur_per_mwh, dtype=float)
    fc = np.full(len(price), np.nan) if forecast_p_net_w is None else forecast_p_net_w
    inputs = StrategyInputs(
        ev=ev,
        t_s=t_s,
        dt_s=dt_s,
        charge_window=bool(charge_window),
        discharge_window=bool(discharge_window),
        flex_w=flex,
        campaign=np.ones(n, dtype=bool) if campaign is None else _as_mask(campaign, n),
        forecast_p_net_w=np.asarray(fc, dtype=float),
        price_eur_per_mwh=price,
    )
    return BuiltinStrategy(strategy).decide(inputs)


def _where_raised(exc: BaseException) -> str:
    """`` (file:line)`` of the innermost frame of ``exc``'s traceback, or nothing."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    f = frames[-1]
    return f" ({f.filename}:{f.lineno})"


def load_strategy(ref: str, folder: str | Path | None = None) -> ChargingStrategy:
    """Return the strategy ``control.strategy = ref`` names: built-in, or ``"module:Class"``.

    ``module`` is imported with ``folder`` (the scenario file's folder) temporarily first on
    ``sys.path``; an installed module is found as well.  ``Class`` is built without arguments
    and must implement :class:`ChargingStrategy`.  Raises :class:`ScenarioError` saying what
    is wrong.  A module already imported in this process is reused (module names are global).
    """
    if ref in STRATEGIES:
        return BuiltinStrategy(ref)
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ScenarioError(
            f"{ref!r} is neither a built-in strategy ({', '.join(STRATEGIES)}) nor an import "
            "string 'module:Class'"
        )
    where = "installed packages" if folder is None else f"{folder} or installed packages"
    entry = None if folder is None else str(folder)
    if entry is not None:
        sys.path.insert(0, entry)
    try:
        importlib.invalidate_caches()
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise ScenarioError(
                f"{ref!r}: no module {missing!r} in {where} (the module is imported from the "
                "scenario file's folder or an installed package)"
            ) from None
        raise ScenarioError(
            f"{ref!r}: importing {module_name!r} failed: {exc}{_where_raised(exc)}"
        ) from None
    except Exception as exc:  # the user's module failed while it was imported
        raise ScenarioError(
            f"{ref!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
            f"{_where_raised(exc)}"
        ) from None
    finally:
        if entry is not None:
            if sys.path and sys.path[0] == entry:
                del sys.path[0]
            elif entry in sys.path:
                sys.path.remove(entry)
    cls = getattr(module, attr, None)
    if cls is None:
        raise ScenarioError(f"{ref!r}: module {module_name!r} has no {attr!r}")
    if not isinstance(cls, type):
        raise ScenarioError(f"{ref!r}: {attr!r} is not a class (it is a {type(cls).__name__})")
    problems = []
    if not isinstance(getattr(cls, "bidirectional", None), bool):
        problems.append("a bool class attribute 'bidirectional'")
    fn = getattr(cls, "decide", None)
    if not callable(fn):
        problems.append("a method 'decide(self, inputs)'")
    else:
        try:
            inspect.signature(fn).bind(None, None)
        except TypeError:
            problems.append("a method 'decide(self, inputs)' taking exactly one argument")
        except ValueError:  # no signature to inspect (a builtin): trust it
            pass
    if problems:
        raise ScenarioError(
            f"{ref!r}: class {attr} does not implement the strategy protocol: it needs "
            f"{' and '.join(problems)} (see v2xcosim.domain.strategies.ChargingStrategy)"
        )
    try:
        obj = cls()
    except Exception as exc:
        raise ScenarioError(
            f"{ref!r}: {attr}() failed (the class is built without arguments): "
            f"{type(exc).__name__}: {exc}{_where_raised(exc)}"
        ) from None
    return cast(ChargingStrategy, obj)


_A = TypeVar("_A", bound=np.generic)


def _read_only(a: npt.NDArray[_A]) -> npt.NDArray[_A]:
    out = np.array(a, copy=True)
    out.setflags(write=False)
    return out


def _private_copy(inputs: StrategyInputs) -> StrategyInputs:
    """Return ``inputs`` with read-only copies of its arrays (the run's state stays its own)."""
    ev = inputs.ev
    ev_copy = EvArrays(
        soc=_read_only(ev.soc),
        capacity_kwh=_read_only(ev.capacity_kwh),
        departure_s=_read_only(ev.departure_s),
        soc_target=_read_only(ev.soc_target),
        soc_min=_read_only(ev.soc_min),
        soc_max=_read_only(ev.soc_max),
        p_max_charge_w=_read_only(ev.p_max_charge_w),
        p_max_discharge_w=_read_only(ev.p_max_discharge_w),
        connected=_read_only(ev.connected),
        eta_charge=ev.eta_charge,
        eta_discharge=ev.eta_discharge,
    )
    return dataclasses.replace(
        inputs,
        ev=ev_copy,
        flex_w=_read_only(inputs.flex_w),
        flex_horizon_w=None if inputs.flex_horizon_w is None else _read_only(inputs.flex_horizon_w),
        campaign=_read_only(inputs.campaign),
        forecast_p_net_w=_read_only(inputs.forecast_p_net_w),
        price_eur_per_mwh=_read_only(inputs.price_eur_per_mwh),
        zone_forecast_p_net_w={z: _read_only(v) for z, v in inputs.zone_forecast_p_net_w.items()},
    )


def apply_strategy(
    strategy: ChargingStrategy, inputs: StrategyInputs, *, name: str, where: str
) -> FloatArray:
    """Call ``strategy.decide(inputs)`` and pass its answer through the CS EMS guard.

    The guard: the answer must be one finite number per EV, else :class:`SimulationError`
    naming the strategy ``name`` and ``where`` (site, step); EVs of users outside the campaign
    get the ``uncontrolled`` setpoint; every setpoint is clipped into :func:`power_bounds` of
    ``inputs.ev`` (SOC band, ratings, must-charge).  The built-ins' answers already lie
    inside, so for them the guard changes nothing.
    """
    n = inputs.n_ev
    builtin = isinstance(strategy, BuiltinStrategy)
    try:
        raw = strategy.decide(inputs if builtin else _private_copy(inputs))
    except V2XError:
        raise
    except Exception as exc:
        raise SimulationError(
            f"control.strategy {name!r} at {where}: decide() raised {type(exc).__name__}: "
            f"{exc}{_where_raised(exc)}"
        ) from None
    bad = _bad_answer(raw, n)
    if bad:
        raise SimulationError(
            f"control.strategy {name!r} at {where}: decide() returned {bad}; it must return "
            f"one finite number (P setpoint in W) per EV of inputs.ev, {n} in all"
        )
    p = np.asarray(raw, dtype=np.float64)
    if not np.all(inputs.campaign):
        p = np.where(inputs.campaign, p, _hi_target(inputs.ev, inputs.t_s, inputs.dt_s))
    lo, hi = power_bounds(inputs.ev, inputs.t_s, inputs.dt_s)
    # clip, leaving a value inside the bounds exactly as it was (the sign of a zero included)
    out: FloatArray = np.where(p < lo, lo, np.where(p > hi, hi, p))
    return out


def _bad_answer(raw: object, n: int) -> str:
    """Say what is wrong with a strategy's answer for ``n`` EVs ('' when nothing)."""
    if raw is None:
        return "None"
    try:
        a = np.asarray(raw)
    except Exception as exc:  # ragged nested sequences and the like
        return f"a {type(raw).__name__} numpy cannot read ({type(exc).__name__})"
    if a.dtype.kind not in "iuf":
        return f"a {type(raw).__name__} of {a.dtype} values, not numbers"
    if a.shape != (n,):
        return f"shape {a.shape} for {n} EVs"
    finite = np.isfinite(a)
    if not np.all(finite):
        return f"non-finite values (NaN or inf) at positions {np.flatnonzero(~finite).tolist()}"
    return ""


def plan(
    strategy: str | ChargingStrategy,
    ev: EvArrays,
    t0_s: float,
    dt_s: float,
    charge_window: BoolArray,
    discharge_window: BoolArray,
    campaign: BoolArray | None = None,
    flex_w: FloatArray | None = None,
    *,
    forecast_p_net_w: FloatArray | None = None,
    price_eur_per_mwh: FloatArray | None = None,
    name: str | None = None,
    where: str = "plan",
    ev_id: tuple[str, ...] = (),
    context: str = "plan",
    ev_zone: tuple[str, ...] = (),
    zone_forecast_p_net_w: Mapping[str, FloatArray] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Forecast of the strategy over ``len(charge_window)`` steps.

    ``strategy`` is a built-in name or a :class:`ChargingStrategy`; each step goes through
    :func:`apply_strategy` (``name`` and ``where`` label its errors).  ``flex_w`` (n_ev ×
    n_steps, optional) holds market commitments already awarded; without it the plan has none.
    ``forecast_p_net_w`` and ``price_eur_per_mwh`` (n_steps each, optional, NaN if absent) are
    what the strategy sees as forecasts from each step on; ``flex_w`` is passed on as the
    commitments ahead (``flex_horizon_w``).  ``ev_id``, ``context``, ``ev_zone`` and
    ``zone_forecast_p_net_w`` (per zone n_steps values, sliced from each step on) are passed on
    to the strategy (a stateful strategy keeps one schedule per context).

    Returns ``(p_w, soc_end)``, each (n_ev × n_steps): the power in each step and the SOC at
    its end.  EVs are taken as connected until their departure.  The EMSP uses the plan as the
    baseline it declares at gate closure and to size offers.
    """
    n_steps = len(charge_window)
    if len(discharge_window) != n_steps:
        raise ScenarioError("plan: charge_window and discharge_window need equal lengths")
    n = ev.soc.shape[0]
    if flex_w is not None and np.shape(flex_w) != (n, n_steps):
        raise ScenarioError(f"plan: flex_w must be ({n}, {n_steps})")
    fc = _horizon(forecast_p_net_w, n_steps, "forecast_p_net_w")
    price = _horizon(price_eur_per_mwh, n_steps, "price_eur_per_mwh")
    zone_fc = {
        z: _horizon(v, n_steps, f"zone_forecast_p_net_w[{z!r}]")
        for z, v in (zone_forecast_p_net_w or {}).items()
    }
    if isinstance(strategy, str):
        name = strategy if name is None else name
        strategy = BuiltinStrategy(strategy)
    label = name if name is not None else type(strategy).__name__
    joined = np.ones(n, dtype=bool) if campaign is None else _as_mask(campaign, n)
    no_flex = np.zeros(n)
    p_out = np.zeros((n, n_steps))
    soc_out = np.zeros((n, n_steps))
    state = ev
    for k in range(n_steps):  # time loop; vectorised over EVs
        t = t0_s + k * dt_s
        inputs = StrategyInputs(
            ev=state,
            t_s=t,
            dt_s=dt_s,
            charge_window=bool(charge_window[k]),
            discharge_window=bool(discharge_window[k]),
            flex_w=no_flex if flex_w is None else np.asarray(flex_w[:, k], dtype=float),
            campaign=joined,
            forecast_p_net_w=fc[k:],
            price_eur_per_mwh=price[k:],
            flex_horizon_w=None if flex_w is None else np.asarray(flex_w[:, k:], dtype=float),
            ev_id=ev_id,
            context=context,
            ev_zone=ev_zone,
            zone_forecast_p_net_w={z: v[k:] for z, v in zone_fc.items()},
        )
        p = apply_strategy(strategy, inputs, name=label, where=f"{where}, for t = {t:g} s")
        soc = np.clip(soc_after(state, p, dt_s), 0.0, 1.0)
        p_out[:, k] = p
        soc_out[:, k] = soc
        state = dataclasses.replace(state, soc=soc)
    return p_out, soc_out


def _horizon(values: FloatArray | None, n_steps: int, what: str) -> FloatArray:
    if values is None:
        return np.full(n_steps, np.nan)
    out = np.asarray(values, dtype=float)
    if out.shape != (n_steps,):
        raise ScenarioError(f"plan: {what} must have {n_steps} values, got shape {out.shape}")
    return out


def windows(
    p_net_forecast_w: FloatArray,
    price_eur_per_mwh: FloatArray,
    discharge_price_quantile: float = 0.75,
    min_import_w: float = 0.0,
) -> tuple[BoolArray, BoolArray]:
    """Compute charge and discharge windows.

    Charge windows: forecast reverse flow, ``p_net < 0``; discharge windows: forecast import
    ``p_net > min_import_w`` (≥ 0) and price at or above the given quantile of the horizon's
    prices.  The two never overlap; a step with ``0 ≤ p_net ≤ min_import_w`` is neither.
    """
    p = np.asarray(p_net_forecast_w, dtype=float)
    price = np.asarray(price_eur_per_mwh, dtype=float)
    if p.shape != price.shape:
        raise ScenarioError("windows: forecast and price arrays need equal shapes")
    if not 0.0 <= discharge_price_quantile <= 1.0:
        raise ScenarioError("windows: discharge_price_quantile must be in [0, 1]")
    if not (math.isfinite(min_import_w) and min_import_w >= 0.0):
        raise ScenarioError("windows: min_import_w must be finite and >= 0")
    charge = p < 0.0
    discharge = (p > min_import_w) & (price >= np.quantile(price, discharge_price_quantile))
    return charge, discharge


__all__ = [
    "RESOLVE_SOC_TOL",
    "SHORTFALL_EUR_PER_MWH",
    "STRATEGIES",
    "SURPLUS_EUR_PER_MWH",
    "BuiltinStrategy",
    "ChargingStrategy",
    "LpStrategy",
    "Strategy",
    "StrategyInputs",
    "apply_strategy",
    "decide",
    "load_strategy",
    "plan",
    "planning_headroom",
    "windows",
]
