"""DSO: forecast service (reverse flow and voltage per zone) and flexibility requests.

Forecast (step D1).  For each zone (the primary-substation area, an LV feeder, …) with nominal
load ``L`` [W], PV peak ``G`` [W] and dispatchable generation ``H`` [W] at constant output
(e.g. a run-of-river hydro plant the DSO meters), at profile values ``load_pu``/``pv_pu`` the
forecast is

    p_net = L·load_pu·(1 + e_L) − G·pv_pu·(1 + e_G) − H    [W, + = drawn from upstream]
    vm    = vm0 + s·p_net                                  [pu]

with ``s`` the zone's voltage sensitivity [pu/W] (negative; from two power flows on the
use case's network) and ``vm0`` the
voltage at
zero net power.  Forecast errors ``e_L``, ``e_G`` are independent Gaussian per interval with the
configured standard deviations (0 = perfect forecast), drawn from the DSO's own stream
``rng_for(seed, stream)``, the stream named by the use case.

Requests (step D2).  Per interval the needed flexibility is

    up   (+, consume more) = max(−p_net − export_limit, (vm − vm_max)/(−s), 0)
    down (−, consume less) = max(p_net − import_limit, 0)

Consecutive intervals with a need in the same direction are merged into one request of at most
``max_window_intervals`` intervals, asking the window's largest need (the DSO must cover the
worst interval), with the zone's price cap.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import FlexibilityRequest, GridForecast
from v2xcosim.core.rng import rng_for

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ZoneModel:
    """A DSO zone: nominal load and PV [W], voltage model, limits and price cap."""

    zone: str
    load_nom_w: float
    pv_peak_w: float
    gen_const_w: float = 0.0
    vm0_pu: float = 1.0
    dvdp_pu_per_w: float = 0.0
    export_limit_w: float = math.inf
    import_limit_w: float = math.inf
    vm_max_pu: float = 1.1
    price_cap_eur_per_mwh: float = 200.0

    def __post_init__(self) -> None:
        if self.load_nom_w < 0 or self.pv_peak_w < 0 or self.gen_const_w < 0:
            raise ScenarioError(
                f"dso zone {self.zone}: load_nom_w, pv_peak_w and gen_const_w must be >= 0"
            )
        if self.dvdp_pu_per_w > 0:
            raise ScenarioError(
                f"dso zone {self.zone}: dvdp_pu_per_w must be <= 0 (load lowers voltage)"
            )
        if self.export_limit_w < 0 or self.import_limit_w < 0 or self.price_cap_eur_per_mwh < 0:
            raise ScenarioError(f"dso zone {self.zone}: limits and price cap must be >= 0")


@dataclass(frozen=True)
class ForecastConfig:
    """Forecast error standard deviations (fractions) and interval length [s]."""

    load_error_std: float = 0.0
    pv_error_std: float = 0.0
    interval_s: int = 900

    def __post_init__(self) -> None:
        if self.load_error_std < 0 or self.pv_error_std < 0 or self.interval_s <= 0:
            raise ScenarioError("dso forecast: error stds must be >= 0 and interval_s > 0")


class Dso:
    """The DSO actor: forecasts per zone and turns forecast needs into LFMP requests."""

    def __init__(
        self,
        dso_id: str,
        zones: Sequence[ZoneModel],
        forecast: ForecastConfig,
        *,
        seed: int,
        max_window_intervals: int = 4,
        stream: str,
    ) -> None:
        """DSO ``dso_id`` for ``zones`` with forecast settings; draws from stream ``stream``."""
        if not zones:
            raise ScenarioError("dso: at least one zone is required")
        if len({z.zone for z in zones}) != len(zones):
            raise ScenarioError("dso: zone names must be unique")
        if max_window_intervals < 1:
            raise ScenarioError("dso: max_window_intervals must be >= 1")
        self.dso_id = dso_id
        self.zones = tuple(zones)
        self.cfg = forecast
        self.max_window = max_window_intervals
        self._rng = rng_for(seed, stream)
        self._n_req = 0

    def forecast(
        self,
        issued_utc: dt.datetime,
        interval_start_utc: Sequence[dt.datetime],
        load_pu: FloatArray,
        pv_pu: FloatArray,
    ) -> list[GridForecast]:
        """D1: one :class:`GridForecast` per zone for the given intervals and profiles."""
        n = len(interval_start_utc)
        load = np.asarray(load_pu, dtype=float)
        pv = np.asarray(pv_pu, dtype=float)
        if load.shape != (n,) or pv.shape != (n,):
            raise ScenarioError("dso.forecast: load_pu and pv_pu need one value per interval")
        if not (np.all(np.isfinite(load)) and np.all(np.isfinite(pv))):
            raise ScenarioError("dso.forecast: non-finite profile value")
        out = []
        for z in self.zones:
            e_l = (
                self._rng.normal(0.0, self.cfg.load_error_std, n)
                if self.cfg.load_error_std
                else 0.0
            )
            e_g = self._rng.normal(0.0, self.cfg.pv_error_std, n) if self.cfg.pv_error_std else 0.0
            p_net = (
                z.load_nom_w * load * (1.0 + e_l)
                - z.pv_peak_w * np.maximum(pv * (1.0 + e_g), 0.0)
                - z.gen_const_w
            )
            vm = z.vm0_pu + z.dvdp_pu_per_w * p_net
            out.append(
                GridForecast(
                    zone=z.zone,
                    issued_utc=issued_utc,
                    interval_s=self.cfg.interval_s,
                    interval_start_utc=tuple(interval_start_utc),
                    p_net_w=tuple(float(x) for x in p_net),
                    vm_max_pu=tuple(float(x) for x in vm),
                )
            )
        return out

    def needs_w(self, fc: GridForecast) -> FloatArray:
        """Signed flexibility need per interval [W] (+ = consume more) of a zone forecast."""
        z = next(z for z in self.zones if z.zone == fc.zone)
        p = np.asarray(fc.p_net_w)
        vm = np.asarray(fc.vm_max_pu)
        up = np.maximum(-p - z.export_limit_w, 0.0)
        if z.dvdp_pu_per_w < 0:
            up = np.maximum(up, (vm - z.vm_max_pu) / (-z.dvdp_pu_per_w))
        down = np.maximum(p - z.import_limit_w, 0.0)
        out: FloatArray = np.where(up > 0, up, -down)
        return out

    def requests(
        self, forecasts: Sequence[GridForecast], submitted_utc: dt.datetime
    ) -> list[FlexibilityRequest]:
        """D2: merged flexibility requests from ``forecasts`` (module docstring)."""
        out: list[FlexibilityRequest] = []
        for fc in forecasts:
            z = next(z for z in self.zones if z.zone == fc.zone)
            need = self.needs_w(fc)
            step = dt.timedelta(seconds=fc.interval_s)
            k = 0
            while k < len(need):
                if need[k] == 0:
                    k += 1
                    continue
                sign = np.sign(need[k])
                j = k
                while j < len(need) and np.sign(need[j]) == sign and j - k < self.max_window:
                    j += 1
                p_w = float(sign * np.max(np.abs(need[k:j])))
                self._n_req += 1
                out.append(
                    FlexibilityRequest(
                        request_id=f"{self.dso_id}/r{self._n_req}",
                        dso_id=self.dso_id,
                        zone=z.zone,
                        submitted_utc=submitted_utc,
                        start_utc=fc.interval_start_utc[k],
                        end_utc=fc.interval_start_utc[j - 1] + step,
                        p_mw=p_w / 1e6,
                        price_cap_eur_per_mwh=z.price_cap_eur_per_mwh,
                    )
                )
                k = j
        return out


__all__ = ["Dso", "ForecastConfig", "ZoneModel"]
