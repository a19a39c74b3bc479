"""Participants of the market cycle: the DSO as buyer; an EMSP portfolio and a battery as providers.

* :class:`DsoBuyer` — at each opening the DSO forecasts the rest of the run per settlement
  interval with its own model (:class:`~v2xcosim.domain.dso.Dso`; step D1, the forecasts are
  handed to ``on_forecast``) and requests flexibility for the delivery window (D2).
* :class:`EmspPortfolio` — an EMSP selling the flexibility of charging sessions (rows of a
  session table): a *planner* supplied by the caller returns the plan of every session from the
  opening step on (or None: no trade), the EMSP sizes and prices offers on it
  (:meth:`~v2xcosim.domain.emsp.Emsp.build_offers`; offers below the market's minimum are
  handed to ``on_dropped`` instead of the market); the baseline of a zone is the plan summed
  over the sessions of its offers there; awards become per-session commitments ``flex_w``
  [W, sessions × steps] added to the plan in the delivery window; the meter is the sessions'
  metered energy (``energy_kwh``, sessions × steps, filled by the caller); the revenue is split
  with the users (:meth:`~v2xcosim.domain.emsp.Emsp.split_revenue`).
* :class:`BatteryProvider` — a :class:`~v2xcosim.domain.provider.StationaryBattery`: offers at
  opening, its schedule with earlier awards as baseline, applies the sum of its active awards
  each step (:meth:`BatteryProvider.step`, its meter); it keeps all its revenue.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import (
    BaselineDeclaration,
    FlexibilityOffer,
    FlexibilityRequest,
    GridForecast,
    MarketResult,
    MeterData,
)
from v2xcosim.core.timegrid import StepGrid
from v2xcosim.domain.cs_ems import EvArrays
from v2xcosim.domain.dso import Dso
from v2xcosim.domain.emsp import DroppedOffer, Emsp
from v2xcosim.domain.lfmp import SETTLEMENT_S
from v2xcosim.domain.market.cycle import MarketWindow, meter_data, per_interval, step_baseline
from v2xcosim.domain.provider import BatteryPlan, StationaryBattery, battery_schedule

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def interval_means(values: FloatArray, k0: int, n: int) -> FloatArray:
    """Means of ``values[k0:]`` over blocks of ``n`` steps (the last block padded with its end)."""
    tail = values[k0:]
    m = math.ceil(len(tail) / n)
    pad = np.concatenate([tail, np.full(m * n - len(tail), tail[-1])])
    out: FloatArray = pad.reshape(m, n).mean(axis=1)
    return out


class DsoBuyer:
    """The DSO as buyer: forecast at each opening (D1), requests for the delivery window (D2)."""

    def __init__(
        self,
        dso: Dso,
        grid: StepGrid,
        on_forecast: Callable[[int, list[GridForecast]], None] | None = None,
    ) -> None:
        """Buy for ``dso`` on ``grid``; ``on_forecast(k, forecasts)`` sees D1."""
        if SETTLEMENT_S % grid.step_s:
            raise ScenarioError(f"dso buyer: step {grid.step_s} s must divide {SETTLEMENT_S} s")
        self.dso = dso
        self.grid = grid
        self.on_forecast = on_forecast

    @property
    def buyer_id(self) -> str:
        """Id of the DSO (the payer)."""
        return self.dso.dso_id

    def requests(self, window: MarketWindow) -> list[FlexibilityRequest]:
        """Forecast the rest of the run from the opening and request for the delivery window."""
        k, k_all, n = window.open_k, self.grid.n_steps, per_interval(self.grid)
        if k % n:
            raise ScenarioError(f"dso buyer: opening step {k} is not on a quarter hour")
        t = self.grid.utc(k)
        starts = [self.grid.utc(k + j * n) for j in range(math.ceil((k_all - k) / n))]
        forecasts = self.dso.forecast(t, k // n, starts)
        if self.on_forecast is not None:
            self.on_forecast(k, forecasts)
        j0, j1 = (window.delivery_k0 - k) // n, math.ceil((window.delivery_k1 - k) / n)
        subs = [
            GridForecast(
                zone=fc.zone,
                issued_utc=fc.issued_utc,
                interval_s=fc.interval_s,
                interval_start_utc=fc.interval_start_utc[j0:j1],
                p_net_w=fc.p_net_w[j0:j1],
                vm_max_pu=fc.vm_max_pu[j0:j1],
            )
            for fc in forecasts
        ]
        return self.dso.requests(subs, t)


@dataclass(frozen=True)
class PortfolioPlan:
    """The plan of every session from a window's opening step (sessions × steps)."""

    ev: EvArrays
    p_w: FloatArray
    soc_end: FloatArray
    eligible: BoolArray
    """Sessions that may take part in offers (e.g. consented and joined the campaign)."""
    power_headroom: float = 0.0
    """Fraction of each charge rating the planner kept in reserve (e.g.
    :attr:`~v2xcosim.domain.strategies.LpStrategy.power_headroom`): not offered."""


Planner = Callable[[MarketWindow, Sequence[FlexibilityRequest]], PortfolioPlan | None]


class EmspPortfolio:
    """An EMSP selling its sessions' flexibility on the market cycle (module docstring)."""

    def __init__(
        self,
        emsp: Emsp,
        grid: StepGrid,
        *,
        zones: Sequence[str],
        thresholds_eur_per_mwh: FloatArray,
        energy_kwh: FloatArray,
        planner: Planner,
        on_dropped: Callable[[int, DroppedOffer], None] | None = None,
    ) -> None:
        """Sessions with their DSO ``zones`` and price thresholds; ``energy_kwh`` is metered.

        ``on_dropped(k, d)`` sees each offer not submitted at opening step ``k`` (below the
        market's ``min_offer_kw``).
        """
        self.on_dropped = on_dropped
        self.emsp = emsp
        self.grid = grid
        self.zones = list(zones)
        self.thresholds = thresholds_eur_per_mwh
        self.energy_kwh = energy_kwh
        self.planner = planner
        self.flex_w = np.zeros((len(self.zones), grid.n_steps))
        self._plans: dict[str, FloatArray] = {}

    @property
    def provider_id(self) -> str:
        """Id of the EMSP."""
        return self.emsp.config.provider_id

    def offers(
        self, window: MarketWindow, requests: Sequence[FlexibilityRequest]
    ) -> list[FlexibilityOffer]:
        """Plan (if there are requests and the planner trades) and offer on the plan."""
        if not requests:
            return []
        plan = self.planner(window, requests)
        if plan is None:
            return []
        k = window.open_k
        self._plans[window.market_session_id] = plan.p_w
        n_dropped = len(self.emsp.dropped)
        offers = self.emsp.build_offers(
            requests,
            plan.ev,
            plan.p_w,
            plan.soc_end,
            plan_t0_s=float(k * self.grid.step_s),
            dt_s=float(self.grid.step_s),
            zones=self.zones,
            thresholds_eur_per_mwh=self.thresholds,
            campaign=plan.eligible,
            now_utc=self.grid.utc(k),
            power_headroom=plan.power_headroom,
        )
        if self.on_dropped is not None:
            for d in self.emsp.dropped[n_dropped:]:
                self.on_dropped(k, d)
        return offers

    def portfolio(self, window: MarketWindow, zone: str) -> IntArray:
        """Session rows of the EMSP's offers in ``zone`` in the window's session."""
        rows = [
            self.emsp.sessions_of(o.offer_id)
            for o in window.session.offers
            if o.provider_id == self.provider_id and o.zone == zone
        ]
        return np.unique(np.concatenate(rows)).astype(np.int64) if rows else np.zeros(0, np.int64)

    def baselines(self, window: MarketWindow) -> list[BaselineDeclaration]:
        """Per zone of its offers: the plan of the zone's portfolio, mean per interval."""
        plan = self._plans[window.market_session_id]
        zones = sorted({o.zone for o in window.session.offers if o.provider_id == self.provider_id})
        return [
            step_baseline(
                self.provider_id,
                zone,
                window.market_session_id,
                plan[self.portfolio(window, zone)].sum(axis=0),
                self.grid,
                window.open_k,
            )
            for zone in zones
        ]

    def accept(self, window: MarketWindow, result: MarketResult) -> None:
        """Add the commitments of the own awards to ``flex_w`` (if the window was planned)."""
        if window.market_session_id not in self._plans:
            return
        k0 = window.open_k
        com = self.emsp.commitments(result, len(self.zones), self.grid.n_steps - k0)
        self.flex_w[:, k0:] += com

    def meters(self, window: MarketWindow) -> list[MeterData]:
        """Per zone of its awards: metered energy of the zone's portfolio."""
        assert window.result is not None
        zones = sorted({a.zone for a in window.result.awards if a.provider_id == self.provider_id})
        out = []
        for zone in zones:
            e = self.energy_kwh[self.portfolio(window, zone)].sum(axis=0)
            out.append(
                meter_data(self.provider_id, zone, e, self.grid, window.open_k, window.delivery_k1)
            )
        return out

    def split_revenue(self, offer_id: str, amount_eur: float) -> tuple[dict[int, float], float]:
        """User incentives per session row and the EMSP's share of what an offer earned."""
        return self.emsp.split_revenue(offer_id, amount_eur)


Signals = Callable[[int], tuple[FloatArray, FloatArray]]
"""``signals(k)`` → (energy price [EUR/MWh], DSO forecast of the zone's net power [W]) per step
from step ``k`` to the end of the run."""


class BatteryProvider:
    """A stationary battery on the market cycle; :meth:`step` once per step.

    Without ``signals`` the battery idles and applies its awards (baseline 0).  With them it is
    *scheduled* (:func:`~v2xcosim.domain.provider.battery_schedule`): re-planned at every
    market opening and after its awards, its baseline is the schedule and it bids what it can
    deliver on top of it.
    """

    def __init__(
        self,
        battery: StationaryBattery,
        grid: StepGrid,
        signals: Signals | None = None,
        surplus_eur_per_mwh: float = 50.0,
    ) -> None:
        """Wrap ``battery`` on ``grid``; ``p_w`` records the power of every step [W].

        ``surplus_eur_per_mwh``: value of charging in the deepest forecast surplus (assumption,
        as the EV strategies' :data:`~v2xcosim.domain.strategies.SURPLUS_EUR_PER_MWH`).
        """
        self.battery = battery
        self.grid = grid
        self.p_w = np.zeros(grid.n_steps)
        self.signals = signals
        self.surplus_eur_per_mwh = surplus_eur_per_mwh
        self.schedule_w = np.zeros(grid.n_steps)
        self.schedule_soc = np.full(grid.n_steps, battery.soc)
        self._base_w = np.zeros(grid.n_steps)
        self._delta_w = np.zeros(grid.n_steps)
        self._replan_at: int | None = 0 if signals is not None else None
        self._soc_end = battery.soc  # the day ends where it began (no ratchet across re-plans)

    def _replan(self, k: int) -> None:
        assert self.signals is not None
        price, forecast = self.signals(k)
        out = battery_schedule(
            self.battery,
            dt_s=float(self.grid.step_s),
            price_eur_per_mwh=price,
            forecast_net_w=forecast,
            surplus_eur_per_mwh=self.surplus_eur_per_mwh,
            commitment_base_w=self._base_w[k:],
            commitment_delta_w=self._delta_w[k:],
            soc_end=self._soc_end,
        )
        self.schedule_w[k:] = out.p_w[0]
        self.schedule_soc[k:] = out.soc_end[0]
        self._replan_at = None

    @property
    def provider_id(self) -> str:
        """Id of the battery."""
        return self.battery.provider_id

    def offers(
        self, window: MarketWindow, requests: Sequence[FlexibilityRequest]
    ) -> list[FlexibilityOffer]:
        """Offers of the battery (:meth:`StationaryBattery.build_offers`), on its schedule."""
        k = window.open_k
        if self.signals is None:
            return self.battery.build_offers(requests, self.grid.utc(k))
        self._replan(k)
        plan = BatteryPlan(
            self.grid.utc(k), float(self.grid.step_s), self.schedule_w[k:], self.schedule_soc[k:]
        )
        return self.battery.build_offers(requests, self.grid.utc(k), plan)

    def baselines(self, window: MarketWindow) -> list[BaselineDeclaration]:
        """Its schedule with the earlier awards (idle otherwise), per interval to delivery end."""
        if self.signals is not None:
            k = window.open_k
            return [
                step_baseline(
                    self.provider_id,
                    self.battery.zone,
                    window.market_session_id,
                    self.schedule_w[k : window.delivery_k1],
                    self.grid,
                    k,
                )
            ]
        n = per_interval(self.grid)
        starts = self.grid.every(window.open_k, window.delivery_k1, n)
        return [
            BaselineDeclaration(
                provider_id=self.provider_id,
                zone=self.battery.zone,
                market_session_id=window.market_session_id,
                interval_s=SETTLEMENT_S,
                interval_start_utc=starts,
                p_w=tuple(float(self.battery.setpoint_w(t)) for t in starts),
            )
        ]

    def accept(self, window: MarketWindow, result: MarketResult) -> None:
        """Keep the own awards (a scheduled battery: as commitments, re-planned next step)."""
        self.battery.accept(result.awards)
        if self.signals is None:
            return
        for a in result.awards:
            if a.provider_id != self.provider_id:
                continue
            for k in range(self.grid.n_steps):
                if a.start_utc <= self.grid.utc(k) < a.end_utc:
                    if self._delta_w[k] == 0.0:
                        self._base_w[k] = self.schedule_w[k]
                    self._delta_w[k] += a.p_mw * 1e6
        self._replan_at = window.gate_k

    def meters(self, window: MarketWindow) -> list[MeterData]:
        """Meter the energy the battery drew per interval."""
        e = self.p_w * self.grid.step_s / 3.6e6
        return [
            meter_data(
                self.provider_id,
                self.battery.zone,
                e,
                self.grid,
                window.open_k,
                window.delivery_k1,
            )
        ]

    def totals(self) -> dict[str, float]:
        """Energy charged and discharged over the run [kWh] and the SOC now."""
        p, dt_s = self.p_w, self.grid.step_s
        return {
            "energy_charged_kwh": float(np.clip(p, 0, None).sum() * dt_s / 3.6e6),
            "energy_discharged_kwh": float(-np.clip(p, None, 0).sum() * dt_s / 3.6e6),
            "soc_end": float(self.battery.soc),
        }

    def step(self, k: int) -> float:
        """Apply the schedule (or the sum of the active awards) in step ``k``; record the power."""
        if self.signals is None:
            p = self.battery.setpoint_w(self.grid.utc(k))
        else:
            if self._replan_at is not None:
                self._replan(k)
            p = float(self.schedule_w[k])
        self.p_w[k] = self.battery.step(p, float(self.grid.step_s))
        return float(self.p_w[k])


__all__ = [
    "BatteryProvider",
    "DsoBuyer",
    "EmspPortfolio",
    "Planner",
    "PortfolioPlan",
    "Signals",
    "interval_means",
]
