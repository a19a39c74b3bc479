"""DSO: its own day-ahead forecast per zone and flexibility requests driven by grid limits.

**Zones.**  The DSO watches zones (``"primary"``, ``"feeder/<name>"``, …); a use case gives it
one :class:`~v2xcosim.domain.zones.ZoneSeries` per zone (what the DSO knows of the zone) and
one :class:`ZoneLimits` (what the zone tolerates and why).

**Forecast (step D1)**, issued at each market session for the rest of the horizon, per
interval of ``interval_s`` (the settlement quarter hour):

    load_fc = load_scale · f_level · load_reference_w         (similar-day load, levelled)
    N_fc    = clip(cloud_oktas + e, 0, 8)                     (forecast cloud cover [oktas])
    pv_fc   = pv_clearsky_w · (1 − 0.75·(N_fc/8)^3.4)          (Kasten & Czeplak 1980)
    p_net   = load_fc − pv_fc − gen_w                         [W, + = drawn from upstream]

The cloud error ``e = σ(lead)·x`` has a unit AR(1) path ``x`` with lag-1 autocorrelation
``φ = exp(−interval_s / τ)`` (``τ`` = ``cloud_error_correlation_h``; ``x₀ ~ N(0, 1)``,
``x_k = φ·x_{k−1} + √(1−φ²)·ε_k``), drawn afresh at every issue from the DSO's own stream
``rng_for(seed, stream)`` and shared by all zones (one weather forecast for the area).  Its
standard deviation grows linearly with the lead time (interval start − issue time) from
``cloud_error_std_oktas_0h`` to ``cloud_error_std_oktas_24h`` at 24 h and stays there.
**Level correction.**  The similar days reach back four weeks and more (other lighting and
heating, another level of activity), so the DSO levels the reference with its own meters: at
each issue time ``t``, per zone,

    f_level = Σ load_w / Σ load_reference_w     over the intervals of [t − W, t)

with ``W`` = ``level_window_h`` (assumption: 24 h, the last full day of metered values a DSO's
smart meters deliver; a whole day keeps the daily shape out of the ratio).  Only intervals that
*ended* by ``t`` are metered: nothing at or after the issue time is read.  Where the window
reaches before the run's start, the zone's ``load_past_w``/``load_reference_past_w`` (the
metered past and its reference) serve; a window clipped by the data uses what there is, and
no data (or a reference summing to ≤ 0) gives ``f_level = 1``.  ``level_window_h = 0``
switches the correction off.  The realised ``pv_w`` is never read.

**Voltage.**  A zone with a :class:`VoltageModel` forecasts its highest (LV) bus voltage as
``vm = vm0 + Σ_j s_j·p_net_j`` over the zones ``j`` named in the model (sensitivities
``s_j`` [pu/W], computed by the use case from power flows on its network).  Flexibility in
zone ``z`` also flows through every zone containing ``z`` (``zone_parent``), so its effect on
the voltage is ``s_flex = Σ s_j`` over ``z`` and its ancestors named in the model, unless
the model states ``s_flex`` itself (e.g. measured at the providers' connection point).

**Requests (step D2).**  Per interval, with margin ``m``:

    up   (+, consume more) = (1+m)·max(−p_net − reverse_flow_limit, (vm − vm_max)/(−s_flex), 0)
    down (−, consume less) = (1+m)·max(p_net − import_limit, (vm_min − vm)/(−s_flex), 0)

``up`` is capped at the forecast reverse flow ``max(−p_net, 0)`` (consuming more than the
reverse flow relieves nothing) and ``down`` at the forecast import ``max(p_net, 0)``, so
``flex_requested_mwh`` never exceeds the forecast reverse-flow (import) energy it relieves.
Consecutive intervals with a need in the same direction are merged into one request of
``p = max(need)`` over at most ``max_window_intervals`` intervals, and only while every
interval of the window needs at least ``(1 − merge_tolerance)·p`` and ``p × duration`` stays
within the forecast reverse-flow (import) energy of the window: no window inflates the
energy asked beyond what it relieves.

**Product.**  Every request carries the DSO's product (EDGE-like: an availability price
[€/(MW·h)] paid on the awarded MW over the window and an activation price cap [€/MWh], the
SOFIE pilot's "maximum price", paid pay-as-bid on delivered energy).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import FlexibilityRequest, GridForecast
from v2xcosim.core.rng import rng_for
from v2xcosim.domain.zones import ZoneSeries

FloatArray = npt.NDArray[np.float64]

HOURS_24 = 24.0
"""Lead time [h] at which the cloud-error standard deviation reaches its day-ahead value."""
LEVEL_WINDOW_MAX_H = 168.0
"""Longest level-correction window [h]: one week (assumption: older meter values say little
about today's level, and the use case provides at most a week of metered past)."""


def kasten_czeplak_factor(oktas: FloatArray) -> FloatArray:
    """Global over clear-sky irradiance at cloud cover ``oktas`` (0–8): 1 − 0.75·(N/8)^3.4.

    Kasten, F. and Czeplak, G. (1980), "Solar and terrestrial radiation dependent on the
    amount and type of cloud", Solar Energy 24(2), 177–189.
    """
    n = np.asarray(oktas, dtype=float)
    if np.any((n < 0) | (n > 8)):
        raise ScenarioError("kasten_czeplak_factor: oktas must be in [0, 8]")
    out: FloatArray = 1.0 - 0.75 * (n / 8.0) ** 3.4
    return out


@dataclass(frozen=True)
class VoltageModel:
    """Linear voltage model of a zone's highest (or lowest) bus: ``vm0 + Σ s_j·p_net_j``.

    ``dvdp_pu_per_w`` maps zone names to sensitivities [pu per W drawn] (either sign: a
    distant zone's power may act through reactive flows); ``flex_pu_per_w`` is the voltage
    change per W drawn where the zone's flexibility sits (< 0; None: the sum of the zone's
    and its ancestors' sensitivities); ``vm_max_pu``/``vm_min_pu`` the limits the DSO plans
    to (None: no limit).
    """

    vm0_pu: float
    dvdp_pu_per_w: Mapping[str, float]
    vm_max_pu: float | None = None
    vm_min_pu: float | None = None
    flex_pu_per_w: float | None = None

    def __post_init__(self) -> None:
        vals = [self.vm0_pu, *self.dvdp_pu_per_w.values()]
        if not all(math.isfinite(v) for v in vals):
            raise ScenarioError("dso voltage model: vm0_pu and sensitivities must be finite")
        f = self.flex_pu_per_w
        if f is not None and not (math.isfinite(f) and f < 0):
            raise ScenarioError("dso voltage model: flex_pu_per_w must be < 0 (load lowers vm)")


@dataclass(frozen=True)
class ZoneLimits:
    """What a zone tolerates [W] and why (``rationale``, e.g. the device or setting).

    ``reverse_flow_limit_w``: export to upstream tolerated (``inf``: none); ``import_limit_w``:
    import tolerated (``inf``: none); ``voltage``: a voltage model with limits, or None.
    """

    zone: str
    reverse_flow_limit_w: float = math.inf
    import_limit_w: float = math.inf
    voltage: VoltageModel | None = None
    rationale: str = ""

    def __post_init__(self) -> None:
        if self.reverse_flow_limit_w < 0 or self.import_limit_w < 0:
            raise ScenarioError(f"dso zone {self.zone}: limits must be >= 0")


@dataclass(frozen=True)
class ForecastConfig:
    """The DSO's forecast model (module docstring); every number an assumption stated here.

    ``load_scale``: factor on the similar-day load (1 = the reference day as is);
    ``level_window_h``: metered hours before each issue that level the reference (module
    docstring; 0 = no level correction, at most :data:`LEVEL_WINDOW_MAX_H`).
    ``cloud_error_std_oktas_0h``/``_24h``: cloud-cover error std at lead 0 and ≥ 24 h
    [oktas]; ``cloud_error_correlation_h``: its correlation time [h]; ``interval_s``: the
    forecast interval [s].
    """

    load_scale: float = 1.0
    cloud_error_std_oktas_0h: float = 0.5
    cloud_error_std_oktas_24h: float = 2.0
    cloud_error_correlation_h: float = 3.0
    interval_s: int = 900
    level_window_h: float = 24.0

    def __post_init__(self) -> None:
        w = self.level_window_h
        if not (math.isfinite(w) and 0 <= w <= LEVEL_WINDOW_MAX_H):
            raise ScenarioError(
                f"dso forecast: level_window_h = {w} must be within [0, {LEVEL_WINDOW_MAX_H:g}] h"
            )
        if self.load_scale < 0 or self.cloud_error_std_oktas_0h < 0:
            raise ScenarioError("dso forecast: load_scale and error stds must be >= 0")
        if self.cloud_error_std_oktas_24h < 0 or self.cloud_error_correlation_h <= 0:
            raise ScenarioError("dso forecast: error std >= 0 and correlation time > 0")
        if self.interval_s <= 0:
            raise ScenarioError("dso forecast: interval_s must be > 0")

    @property
    def phi(self) -> float:
        """Lag-1 autocorrelation of the unit cloud-error path per interval."""
        return math.exp(-self.interval_s / 3600.0 / self.cloud_error_correlation_h)

    def error_std_oktas(self, lead_h: FloatArray) -> FloatArray:
        """Cloud-error standard deviation [oktas] at lead times ``lead_h`` [h]."""
        frac = np.clip(np.asarray(lead_h, dtype=float) / HOURS_24, 0.0, 1.0)
        s0, s24 = self.cloud_error_std_oktas_0h, self.cloud_error_std_oktas_24h
        out: FloatArray = s0 + (s24 - s0) * frac
        return out


@dataclass(frozen=True)
class Product:
    """The flexibility product a request carries (EDGE-like: availability + activation).

    ``availability_price_eur_per_mw_h`` [€/(MW·h)] is paid on the awarded MW over the award's
    hours; ``activation_price_eur_per_mwh`` [€/MWh] caps the (pay-as-bid) activation price.
    """

    name: str = "local-flex"
    availability_price_eur_per_mw_h: float = 40.0
    activation_price_eur_per_mwh: float = 200.0

    def __post_init__(self) -> None:
        if not (
            math.isfinite(self.availability_price_eur_per_mw_h)
            and math.isfinite(self.activation_price_eur_per_mwh)
            and self.availability_price_eur_per_mw_h >= 0
            and self.activation_price_eur_per_mwh >= 0
        ):
            raise ScenarioError("dso product: prices must be finite and >= 0")


@dataclass(frozen=True)
class RequestConfig:
    """Sizing of requests: ``margin`` on the exceedance, merging of consecutive intervals."""

    margin: float = 0.1
    max_window_intervals: int = 4
    merge_tolerance: float = 0.1

    def __post_init__(self) -> None:
        if self.margin < 0 or not 0 <= self.merge_tolerance <= 1:
            raise ScenarioError("dso requests: margin >= 0 and merge_tolerance in [0, 1]")
        if self.max_window_intervals < 1:
            raise ScenarioError("dso requests: max_window_intervals must be >= 1")


@dataclass
class _Zone:
    series: ZoneSeries
    limits: ZoneLimits
    block: int
    """Series intervals per forecast interval."""


@dataclass
class ForecastLog:
    """What the DSO forecast and requested, per issue (for KPIs: requested vs forecast)."""

    reverse_flow_mwh: dict[str, float] = field(default_factory=dict)
    """Forecast reverse-flow energy per zone over the windows requests were made for [MWh]."""
    requested_mwh: dict[str, float] = field(default_factory=dict)
    """Energy requested per zone [MWh] (up and down)."""
    level_factor: dict[str, list[float]] = field(default_factory=dict)
    """Level-correction factor per zone, one per issue (module docstring)."""
    load_w: dict[str, FloatArray] = field(default_factory=dict)
    """Forecast load in force per zone and forecast interval [W] (the last issue covering
    it; NaN before the first)."""


class Dso:
    """The DSO actor: its own forecast per zone and constraint-driven LFMP requests."""

    def __init__(
        self,
        dso_id: str,
        zones: Sequence[tuple[ZoneSeries, ZoneLimits]],
        forecast: ForecastConfig,
        *,
        seed: int,
        stream: str,
        requests: RequestConfig | None = None,
        product: Product | None = None,
        zone_parent: Mapping[str, str] | None = None,
    ) -> None:
        """DSO ``dso_id`` for ``zones`` (series and limits of each); draws from ``stream``."""
        if not zones:
            raise ScenarioError("dso: at least one zone is required")
        names = [s.zone for s, _ in zones]
        if len(set(names)) != len(names):
            raise ScenarioError("dso: zone names must be unique")
        self.dso_id = dso_id
        self.cfg = forecast
        self.req = requests or RequestConfig()
        self.product = product or Product()
        self.zone_parent = dict(zone_parent or {})
        self._zones: dict[str, _Zone] = {}
        n_fc: set[int] = set()
        for s, lim in zones:
            if lim.zone != s.zone:
                raise ScenarioError(f"dso: limits of {lim.zone!r} given for series {s.zone!r}")
            if forecast.interval_s % s.interval_s:
                raise ScenarioError(
                    f"dso zone {s.zone}: series interval {s.interval_s} s must divide the "
                    f"forecast interval {forecast.interval_s} s"
                )
            block = forecast.interval_s // s.interval_s
            n_fc.add(math.ceil(s.n / block))
            if lim.voltage is not None:
                unknown = set(lim.voltage.dvdp_pu_per_w) - set(names)
                if unknown:
                    raise ScenarioError(
                        f"dso zone {s.zone}: voltage sensitivity to unknown zones {sorted(unknown)}"
                    )
            self._zones[s.zone] = _Zone(s, lim, block)
        if len(n_fc) != 1:
            raise ScenarioError("dso: all zone series must span the same horizon")
        self.n_intervals = n_fc.pop()
        self._rng = rng_for(seed, stream)
        self._n_req = 0
        self.log = ForecastLog()

    @property
    def zones(self) -> tuple[str, ...]:
        """Zone names."""
        return tuple(self._zones)

    def limits(self, zone: str) -> ZoneLimits:
        """Limits of ``zone``."""
        return self._zones[zone].limits

    # ------------------------------------------------------------------ D1 forecast
    def cloud_error_oktas(self, lead_h: FloatArray) -> FloatArray:
        """One seeded AR(1) cloud-error path [oktas] at lead times ``lead_h`` (module docs)."""
        n = len(lead_h)
        if n == 0:
            return np.zeros(0)
        phi = self.cfg.phi
        eps = self._rng.normal(0.0, 1.0, n)
        x = np.empty(n)
        x[0] = eps[0]
        b = math.sqrt(1.0 - phi * phi)
        for k in range(1, n):  # AR(1) recursion (one scalar per interval)
            x[k] = phi * x[k - 1] + b * eps[k]
        out: FloatArray = self.cfg.error_std_oktas(lead_h) * x
        return out

    def _block(self, z: _Zone, values: FloatArray, j0: int, n: int) -> FloatArray:
        """Means of series ``values`` over forecast intervals ``j0 … j0+n-1``."""
        b = z.block
        v = np.asarray(values, dtype=float)[j0 * b : (j0 + n) * b]
        m = math.ceil(len(v) / b)
        pad = np.concatenate([v, np.full(m * b - len(v), v[-1] if len(v) else 0.0)])
        out: FloatArray = pad.reshape(m, b).mean(axis=1) if m else np.zeros(0)
        return out

    def level_factor(self, zone: str, issue_index: int) -> float:
        """``f_level`` of ``zone`` (module docstring) for an issue at series index ``issue_index``.

        ``issue_index`` counts series intervals from the run's start: intervals before it are
        metered (ended by the issue time); none at or after it is read.
        """
        z = self._zones[zone]
        w = math.ceil(self.cfg.level_window_h * 3600.0 / z.series.interval_s - 1e-9)
        if w <= 0:
            return 1.0
        load, ref = z.series.load_window_w(issue_index - w, issue_index)
        ref_sum = float(np.sum(ref))
        if len(ref) == 0 or ref_sum <= 0:
            return 1.0
        return float(np.sum(load)) / ref_sum

    def forecast_load_w(
        self, zone: str, j0: int, n: int, issue_index: int | None = None
    ) -> FloatArray:
        """Forecast load [W] of ``zone`` over forecast intervals ``j0 … j0+n−1``.

        ``issue_index``: the series interval the forecast is issued at (None: the start of
        interval ``j0``, i.e. ``j0`` × series intervals per forecast interval).
        """
        z = self._zones[zone]
        i = j0 * z.block if issue_index is None else issue_index
        f = self.level_factor(zone, i)
        self.log.level_factor.setdefault(zone, []).append(f)
        out: FloatArray = self.cfg.load_scale * f * self._block(z, z.series.load_reference_w, j0, n)
        return out

    def forecast_p_net_w(
        self, zone: str, j0: int, error_oktas: FloatArray, issue_index: int | None = None
    ) -> FloatArray:
        """Forecast net power [W] of ``zone`` from interval ``j0`` with a given cloud error.

        ``issue_index`` as in :meth:`forecast_load_w`.
        """
        z = self._zones[zone]
        n = len(error_oktas)
        s = z.series
        load = self.forecast_load_w(zone, j0, n, issue_index)
        in_force = self.log.load_w.setdefault(zone, np.full(self.n_intervals, math.nan))
        in_force[j0 : j0 + n] = load
        clouds = np.clip(self._block(z, s.cloud_oktas, j0, n) + error_oktas, 0.0, 8.0)
        pv = self._block(z, s.pv_clearsky_w, j0, n) * kasten_czeplak_factor(clouds)
        out: FloatArray = load - pv - self._block(z, s.gen_w, j0, n)
        return out

    @staticmethod
    def _issue_index(
        z: _Zone, issued_utc: dt.datetime, j0: int, interval_start_utc: Sequence[dt.datetime]
    ) -> int:
        """Series index of the first interval not yet ended at ``issued_utc``.

        Interval ``j0`` starts at ``interval_start_utc[0]``, series interval ``j0 × block``
        with it; the intervals before the returned index ended by the issue time.
        """
        if not interval_start_utc:
            return j0 * z.block
        since = issued_utc - interval_start_utc[0]
        return j0 * z.block + since // dt.timedelta(seconds=z.series.interval_s)

    def forecast(
        self, issued_utc: dt.datetime, j0: int, interval_start_utc: Sequence[dt.datetime]
    ) -> list[GridForecast]:
        """D1: one :class:`GridForecast` per zone for intervals ``j0 …`` starting at the times."""
        n = len(interval_start_utc)
        if j0 < 0 or j0 + n > self.n_intervals:
            raise ScenarioError(
                f"dso.forecast: intervals {j0}..{j0 + n} outside the horizon {self.n_intervals}"
            )
        lead_h = np.array([(t - issued_utc).total_seconds() / 3600.0 for t in interval_start_utc])
        err = self.cloud_error_oktas(np.maximum(lead_h, 0.0))
        p = {
            name: self.forecast_p_net_w(
                name, j0, err, self._issue_index(z, issued_utc, j0, interval_start_utc)
            )
            for name, z in self._zones.items()
        }
        out = []
        for name, z in self._zones.items():
            v = z.limits.voltage
            if v is None:
                vm = np.full(n, math.nan)
            else:
                vm = v.vm0_pu + sum(
                    (s * p[j] for j, s in v.dvdp_pu_per_w.items()), start=np.zeros(n)
                )
            out.append(
                GridForecast(
                    zone=name,
                    issued_utc=issued_utc,
                    interval_s=self.cfg.interval_s,
                    interval_start_utc=tuple(interval_start_utc),
                    p_net_w=tuple(float(x) for x in p[name]),
                    vm_max_pu=tuple(float(x) for x in vm),
                )
            )
        return out

    def load_bias(self, zone: str) -> float:
        """Σ forecast load in force / Σ realised ``load_w`` − 1 over the forecast intervals.

        A verification figure (reads the realised load after the fact; no forecast uses it):
        + = forecast high.  NaN before any forecast or if the realised load sums to ≤ 0.
        """
        z = self._zones[zone]
        fc = self.log.load_w.get(zone)
        if fc is None:
            return math.nan
        real = self._block(z, z.series.load_w, 0, self.n_intervals)
        seen = np.isfinite(fc)
        total = float(real[seen].sum())
        if not seen.any() or total <= 0:
            return math.nan
        return float(fc[seen].sum()) / total - 1.0

    # ------------------------------------------------------------------ D2 requests
    def flex_sensitivity_pu_per_w(self, zone: str) -> float:
        """dV/dP [pu/W] of ``zone``'s voltage for flexibility located in ``zone`` (≤ 0)."""
        v = self._zones[zone].limits.voltage
        if v is None:
            return 0.0
        if v.flex_pu_per_w is not None:
            return v.flex_pu_per_w
        total, seen = 0.0, set()
        z: str | None = zone
        while z is not None and z not in seen:
            total += v.dvdp_pu_per_w.get(z, 0.0)
            seen.add(z)
            z = self.zone_parent.get(z)
        return total

    def needs_w(self, fc: GridForecast) -> FloatArray:
        """Signed need per interval [W] (+ = consume more), margin included and capped."""
        lim = self._zones[fc.zone].limits
        p = np.asarray(fc.p_net_w, dtype=float)
        vm = np.asarray(fc.vm_max_pu, dtype=float)
        up = np.maximum(-p - lim.reverse_flow_limit_w, 0.0)
        down = np.maximum(p - lim.import_limit_w, 0.0)
        v, s = lim.voltage, self.flex_sensitivity_pu_per_w(fc.zone)
        if v is not None and s < 0:
            if v.vm_max_pu is not None:
                up = np.maximum(up, (vm - v.vm_max_pu) / (-s))
            if v.vm_min_pu is not None:
                down = np.maximum(down, (v.vm_min_pu - vm) / (-s))
        m = 1.0 + self.req.margin
        up = np.minimum(up * m, np.maximum(-p, 0.0))
        down = np.minimum(down * m, np.maximum(p, 0.0))
        out: FloatArray = np.where(up > 0, up, -down)
        return out

    def _window_end(self, need: FloatArray, cap: FloatArray, k: int) -> int:
        """End (exclusive) of the window of same-sign needs starting at ``k`` (module docs)."""
        sign = np.sign(need[k])
        tol = 1.0 - self.req.merge_tolerance
        j = k + 1
        while j < len(need) and j - k < self.req.max_window_intervals:
            if np.sign(need[j]) != sign:
                break
            cand = np.abs(need[k : j + 1])
            peak = float(cand.max())
            if float(cand.min()) < tol * peak or peak * len(cand) > float(cap[k : j + 1].sum()):
                break
            j += 1
        return j

    def requests(
        self, forecasts: Sequence[GridForecast], submitted_utc: dt.datetime
    ) -> list[FlexibilityRequest]:
        """D2: flexibility requests where ``forecasts`` violate a zone limit (module docs)."""
        out: list[FlexibilityRequest] = []
        for fc in forecasts:
            need = self.needs_w(fc)
            p = np.asarray(fc.p_net_w, dtype=float)
            cap = np.where(need > 0, np.maximum(-p, 0.0), np.maximum(p, 0.0))
            h = fc.interval_s / 3600.0
            self.log.reverse_flow_mwh[fc.zone] = self.log.reverse_flow_mwh.get(fc.zone, 0.0) + (
                float(np.maximum(-p, 0.0).sum()) * h / 1e6
            )
            step = dt.timedelta(seconds=fc.interval_s)
            k = 0
            while k < len(need):
                if need[k] == 0:
                    k += 1
                    continue
                j = self._window_end(need, cap, k)
                p_w = float(np.sign(need[k]) * np.max(np.abs(need[k:j])))
                self._n_req += 1
                out.append(
                    FlexibilityRequest(
                        request_id=f"{self.dso_id}/r{self._n_req}",
                        dso_id=self.dso_id,
                        zone=fc.zone,
                        submitted_utc=submitted_utc,
                        start_utc=fc.interval_start_utc[k],
                        end_utc=fc.interval_start_utc[j - 1] + step,
                        p_mw=p_w / 1e6,
                        price_cap_eur_per_mwh=self.product.activation_price_eur_per_mwh,
                        product=self.product.name,
                        availability_price_eur_per_mw_h=(
                            self.product.availability_price_eur_per_mw_h
                        ),
                    )
                )
                r = out[-1]
                self.log.requested_mwh[r.zone] = (
                    self.log.requested_mwh.get(r.zone, 0.0) + r.energy_mwh
                )
                k = j
        return out


__all__ = [
    "LEVEL_WINDOW_MAX_H",
    "Dso",
    "ForecastConfig",
    "ForecastLog",
    "Product",
    "RequestConfig",
    "VoltageModel",
    "ZoneLimits",
    "kasten_czeplak_factor",
]
