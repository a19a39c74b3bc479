"""Charging strategies (``control.strategy``): the built-in three and your own, vectorised.

One call per step: a strategy maps :class:`StrategyInputs` (the connected EVs as
:class:`EvArrays`, the time, the DSO/price forecasts and windows, the market commitments) to
per-EV P setpoints [W, load convention].  Every strategy, built-in or not, is called through
:func:`apply_strategy`, which passes the result through the CS EMS guard :func:`power_bounds`
(SOC limits, ratings, reachable departure SOC), so a strategy can never strand a user whose
wish is feasible.

* ``uncontrolled`` — charge at full power from arrival until the wished departure SOC.
* ``smart`` — unidirectional: charge (up to the wished SOC) only in *charge windows* (hours
  with forecast reverse power flow at the primary substation), otherwise wait; the guard's
  must-charge rule charges late if the windows do not suffice.  Awarded flexibility
  (``flex_w``, + = consume more) is added on top, up to ``soc_max``.
* ``v2g`` — bidirectional: like ``smart`` and in addition discharges in *discharge windows*
  down to what the guard allows (``soc_min`` and a reachable wish); awarded flexibility of
  either sign is added.  A discharge window (:func:`windows`) is a step whose price is at or
  above the ``discharge_price_quantile`` of the remaining horizon **and** whose DSO forecast at
  the primary substation is an import larger than ``min_import_w``
  (``control.discharge_min_import_mw``): V2G never discharges into forecast reverse flow, and
  the margin covers the forecast error and the fleet's own discharge power, which could
  otherwise turn a small forecast import into reverse flow.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeVar, cast

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError, SimulationError, V2XError
from v2xcosim.domain.cs_ems import EvArrays, power_bounds, soc_after

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

    @property
    def n_ev(self) -> int:
        """Number of EVs (entries of every per-EV array)."""
        return int(self.ev.soc.shape[0])


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
    """One of the built-in strategies (``uncontrolled``, ``smart``, ``v2g``) as a strategy."""

    def __init__(self, name: str) -> None:
        """Create the built-in strategy ``name`` (one of :data:`STRATEGIES`)."""
        if name not in STRATEGIES:
            raise ScenarioError(f"control.strategy: unknown {name!r}; use one of {STRATEGIES}")
        self.name = name
        self.bidirectional = name == "v2g"

    def __repr__(self) -> str:
        """Return ``BuiltinStrategy('name')``."""
        return f"BuiltinStrategy({self.name!r})"

    def decide(self, inputs: StrategyInputs) -> FloatArray:
        """P setpoints [W] per EV (see the module docstring)."""
        return _builtin_decide(
            self.name,
            inputs.ev,
            inputs.t_s,
            inputs.dt_s,
            inputs.charge_window,
            inputs.discharge_window,
            inputs.flex_w,
            inputs.campaign,
        )


def _as_mask(x: bool | BoolArray, n: int) -> BoolArray:
    out = np.broadcast_to(np.asarray(x, dtype=bool), (n,))
    return np.array(out, dtype=bool)


def _hi_target(ev: EvArrays, t_s: float, dt_s: float) -> FloatArray:
    """Upper guard bound when charging only up to the wish: the ``uncontrolled`` setpoint."""
    to_target = dataclasses.replace(ev, soc_max=np.minimum(ev.soc_target, ev.soc_max))
    return power_bounds(to_target, t_s, dt_s)[1]


def _builtin_decide(
    strategy: str,
    ev: EvArrays,
    t_s: float,
    dt_s: float,
    charge_window: bool | BoolArray,
    discharge_window: bool | BoolArray,
    flex_w: FloatArray | None,
    campaign: BoolArray | None,
) -> FloatArray:
    n = ev.soc.shape[0]
    hi_target = _hi_target(ev, t_s, dt_s)
    if strategy == "uncontrolled":
        return hi_target
    lo, hi = power_bounds(ev, t_s, dt_s)
    cw = _as_mask(charge_window, n)
    flex = np.zeros(n) if flex_w is None else np.asarray(flex_w, dtype=float)
    if flex.shape != (n,) or not np.all(np.isfinite(flex)):
        raise ScenarioError(f"decide: flex_w must be {n} finite values")
    joined = np.ones(n, dtype=bool) if campaign is None else _as_mask(campaign, n)
    if strategy == "smart":
        lo = np.maximum(lo, 0.0)
        base = np.where(cw, hi_target, 0.0)
    else:
        dw = _as_mask(discharge_window, n) & ~cw
        base = np.where(cw, hi_target, np.where(dw, lo, 0.0))
    p = np.clip(base + flex, lo, hi)
    out: FloatArray = np.where(joined, p, hi_target)
    return out


def decide(
    strategy: str,
    ev: EvArrays,
    t_s: float,
    dt_s: float,
    *,
    charge_window: bool | BoolArray = False,
    discharge_window: bool | BoolArray = False,
    flex_w: FloatArray | None = None,
    campaign: BoolArray | None = None,
) -> FloatArray:
    """P setpoints [W] per EV of a built-in strategy for ``[t_s, t_s + dt_s)`` (module doc).

    The windows may be per EV; :meth:`BuiltinStrategy.decide` is the same on
    :class:`StrategyInputs`.
    """
    if strategy not in STRATEGIES:
        raise ScenarioError(f"control.strategy: unknown {strategy!r}; use one of {STRATEGIES}")
    return _builtin_decide(
        strategy, ev, t_s, dt_s, charge_window, discharge_window, flex_w, campaign
    )


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
        campaign=_read_only(inputs.campaign),
        forecast_p_net_w=_read_only(inputs.forecast_p_net_w),
        price_eur_per_mwh=_read_only(inputs.price_eur_per_mwh),
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
) -> tuple[FloatArray, FloatArray]:
    """Forecast of the strategy over ``len(charge_window)`` steps.

    ``strategy`` is a built-in name or a :class:`ChargingStrategy`; each step goes through
    :func:`apply_strategy` (``name`` and ``where`` label its errors).  ``flex_w`` (n_ev ×
    n_steps, optional) holds market commitments already awarded; without it the plan has none.
    ``forecast_p_net_w`` and ``price_eur_per_mwh`` (n_steps each, optional, NaN if absent) are
    what the strategy sees as forecasts from each step on.

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
    "STRATEGIES",
    "BuiltinStrategy",
    "ChargingStrategy",
    "Strategy",
    "StrategyInputs",
    "apply_strategy",
    "decide",
    "load_strategy",
    "plan",
    "windows",
]
