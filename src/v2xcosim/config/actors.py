"""Actor sections shared by the market use cases: control, users, market, providers, DSO."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from v2xcosim.config.base import Fraction, Identifier, PathText, Spec

Strategy = Literal["uncontrolled", "smart", "v2g"]
"""The built-in charging strategies."""

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_IMPORT_STRING = re.compile(rf"{_NAME}(\.{_NAME})*:{_NAME}")


def _strategy_value(value: str) -> str:
    if value in typing.get_args(Strategy) or _IMPORT_STRING.fullmatch(value):
        return value
    raise ValueError(
        f"{value!r} is neither a built-in strategy ({', '.join(typing.get_args(Strategy))}) "
        "nor an import string 'module:Class' (e.g. 'my_strategies:PeakShaver')"
    )


StrategyRef = Annotated[str, AfterValidator(_strategy_value)]
"""``control.strategy``: a built-in :data:`Strategy` or ``"module:Class"`` of your own."""


def is_import_string(strategy: str) -> bool:
    """Return True when ``strategy`` names a class of your own (``"module:Class"``)."""
    return strategy not in typing.get_args(Strategy)


class ControlSpec(Spec):
    """Charging strategy and the CS EMS guard (``control.strategy``).

    ``uncontrolled``: full power from arrival to the wish; ``smart``: unidirectional, charges in
    forecast reverse-flow hours and sells up-flexibility; ``v2g``: bidirectional, also
    discharges in high-price steps whose DSO forecast imports more than
    ``discharge_min_import_mw`` at the primary substation, and sells flexibility both ways.

    Or your own: ``"module:Class"`` names a class implementing
    :class:`v2xcosim.domain.strategies.ChargingStrategy`, imported with ``strategy_path``
    first on ``sys.path``.  ``strategy_path`` defaults to the scenario file's folder (the
    validation context ``base_dir``); a relative path is taken from that folder.  It is stored
    resolved, so a simulator rebuilding the spec from JSON imports from the same folder.
    """

    strategy: StrategyRef = "v2g"
    strategy_path: PathText | None = Field(
        default=None,
        validate_default=True,
        description="folder the module of an import-string strategy is imported from "
        "(default: the scenario file's folder; unused by the built-in strategies)",
    )
    soc_max: Fraction = Field(default=0.91, description="upper SOC the EMSP/CS EMS may charge to")
    target_margin_soc: float = Field(
        default=0.005, ge=0, le=0.1, description="the guard aims this much above the wish"
    )
    eta_charge: float = Field(default=0.92, gt=0, le=1, description="guard/KPI efficiency")
    eta_discharge: float = Field(default=0.90, gt=0, le=1)
    discharge_price_quantile: Fraction = 0.75
    discharge_min_import_mw: float = Field(
        default=1.0,
        ge=0,
        description="v2g discharges only where the DSO forecast at the primary substation "
        "imports more than this (reverse-flow safety margin)",
    )

    @field_validator("strategy_path")
    @classmethod
    def _strategy_folder(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        base = (info.context or {}).get("base_dir")
        if value is None:
            strategy = info.data.get("strategy")
            if base is None or strategy is None or not is_import_string(strategy):
                return None
            return Path(base).resolve()
        path = value if value.is_absolute() or base is None else Path(base) / value
        path = path.resolve()
        if not path.is_dir():
            raise ValueError(
                f"folder not found: {path} (paths are relative to the scenario file's folder)"
            )
        return path


class VehicleSpec(Spec):
    """A car model of ``users.fleet`` (:class:`v2xcosim.domain.users.VehicleModel`)."""

    name: str = Field(min_length=1)
    capacity_kwh: float = Field(gt=0, description="usable capacity of the new car")
    p_ac_max_kw: float = Field(gt=0, description="on-board AC charger limit")
    v2g_ac: bool = Field(default=False, description="can discharge on AC (V2G)")
    share: Fraction


class UsersSpec(Spec):
    """User population (:class:`v2xcosim.domain.users.UserPopulationSpec`); strategy-independent."""

    sessions_per_connector_per_day: float = Field(default=1.5, gt=0)
    commuter_share: Fraction = 0.5
    energy_mean_kwh: float = Field(default=8.4, gt=0)
    soc_departure_min: Fraction = 0.7
    soc_departure_max: Fraction = 0.9
    soc_min_min: Fraction = 0.2
    soc_min_max: Fraction = 0.4
    soc_arrival_floor: Fraction = 0.1
    price_threshold_median_eur_per_mwh: float = Field(default=60.0, ge=0)
    p_gdpr_consent: Fraction = 0.9
    p_v2g_opt_in: Fraction = 0.7
    early_departure_share: Fraction = Field(
        default=0.15, description="share of users leaving before their declared departure"
    )
    early_departure_min_fraction: Fraction = Field(
        default=0.3, description="an early leaver stays U(min, max) of the declared stay"
    )
    early_departure_max_fraction: Fraction = 0.9
    vehicle_age_max_years: float = Field(
        default=6.0, ge=0, description="car age U(0, max) sets its initial capacity losses"
    )
    fleet: list[VehicleSpec] | None = Field(
        default=None,
        description="car models and shares (shares sum to 1); none: Italy 2024 (users.py)",
    )

    @model_validator(mode="after")
    def _ranges(self) -> UsersSpec:
        if self.fleet is not None and (
            not self.fleet or abs(sum(v.share for v in self.fleet) - 1.0) > 1e-9
        ):
            raise ValueError("fleet: give at least one car model, with shares summing to 1")
        if not self.early_departure_min_fraction <= self.early_departure_max_fraction:
            raise ValueError("early_departure_min_fraction must not exceed the max fraction")
        if not self.soc_departure_min <= self.soc_departure_max:
            raise ValueError("soc_departure_min must not exceed soc_departure_max")
        if not self.soc_min_min <= self.soc_min_max <= self.soc_departure_min:
            raise ValueError("need soc_min_min <= soc_min_max <= soc_departure_min")
        return self


class ProviderSpec(Spec):
    """Another flexibility provider on the LFMP: a stationary battery (``kind = "battery"``).

    :class:`v2xcosim.domain.provider.StationaryBattery` in DSO zone ``zone`` (``"primary"`` or
    ``"feeder/<LV feeder>"``), connected as a pandapower ``storage`` (load convention) at the
    bus named ``bus``; it offers at ``price_eur_per_mwh``.
    """

    provider_id: Identifier
    kind: Literal["battery"] = "battery"
    zone: str = "primary"
    bus: str = Field(default="MV3.101 Bus 13", description="pandapower bus name of the battery")
    capacity_kwh: float = Field(default=1000.0, gt=0)
    p_max_kw: float = Field(default=500.0, gt=0)
    soc_initial: Fraction = 0.5
    soc_min: Fraction = 0.1
    soc_max: Fraction = 0.9
    eta: float = Field(default=0.93, gt=0, le=1, description="one-way efficiency")
    price_eur_per_mwh: float = Field(default=50.0, ge=0, description="bid price")

    @model_validator(mode="after")
    def _soc_band(self) -> ProviderSpec:
        if not self.soc_min <= self.soc_initial <= self.soc_max:
            raise ValueError("need soc_min <= soc_initial <= soc_max")
        if self.provider_id in {"emsp", "dso", "lfmp"}:
            raise ValueError(f"provider_id {self.provider_id!r} is taken by another actor")
        return self


class MarketSpec(Spec):
    """LFMP sessions and EMSP economics.

    A market session opens every ``period_s`` (from the run start): the DSO forecasts and
    publishes requests for the delivery window ``[open + delivery_lead_s, + period_s)``, the
    EMSP offers at opening, the gate closes ``gate_closure_after_s`` after opening.
    """

    period_s: int = Field(default=3600, gt=0)
    gate_closure_after_s: int = Field(default=900, ge=0)
    delivery_lead_s: int = Field(default=1800, gt=0)
    degradation_eur_per_mwh: float = Field(
        default=20.0,
        ge=0,
        description="EMSP planning/offer wear price per MWh of throughput (not the reported cost)",
    )
    pack_cost_usd_per_kwh: float = Field(
        default=115.0, ge=0, description="pack price pricing capacity loss (BNEF 2024 average)"
    )
    usd_per_eur: float = Field(
        default=1.0824, gt=0, description="exchange rate of the pack price (ECB 2024 average)"
    )
    emsp_margin_eur_per_mwh: float = Field(default=5.0, ge=0)
    price_step_eur_per_mwh: float = Field(default=10.0, gt=0)
    emsp_share: Fraction = 0.2
    tariff_eur_per_kwh: float = Field(default=0.45, ge=0)
    min_offer_kw: float = Field(
        default=0.0,
        ge=0,
        le=1000.0,
        description="smallest offer the market accepts [kW], 0 = no minimum; no provider (the "
        "EMSP, the stationary batteries) submits a smaller one (e.g. 10 kW: UK Power "
        "Networks' flexibility services ask 10 kW+ per location); above 1000 kW is refused "
        "as a likely W-for-kW mistake",
    )
    providers: list[ProviderSpec] = Field(
        default_factory=list, description="other flexibility providers ([[market.providers]])"
    )

    @model_validator(mode="after")
    def _timing(self) -> MarketSpec:
        if self.period_s % 900 or self.delivery_lead_s % 900:
            raise ValueError("period_s and delivery_lead_s must be multiples of 900 s")
        if self.gate_closure_after_s >= self.delivery_lead_s:
            raise ValueError("gate_closure_after_s must be below delivery_lead_s")
        return self


ZONE_NAME = re.compile(r"primary|feeder/[A-Za-z0-9_\-]+")
"""A DSO zone: ``primary`` (the primary-substation area) or ``feeder/<LV feeder name>``."""

_OLD_DSO_KEYS = {
    "export_limit_mw": "[dso.zones.primary] reverse_flow_limit_mw (MW of reverse flow the zone "
    "tolerates; requests follow forecast violations of it)",
    "load_error_std": "the DSO's own forecast (similar-day load: dso.load_scale; PV: cloud "
    "error dso.cloud_error_std_oktas_0h / _24h / cloud_error_correlation_h)",
    "pv_error_std": "dso.cloud_error_std_oktas_0h / _24h and dso.cloud_error_correlation_h "
    "(the PV forecast error comes from a cloud-cover forecast error)",
}


class DsoZoneSpec(Spec):
    """Limits of one DSO zone (each None = no such limit) and the reason for them.

    A request is made only where the DSO's forecast violates one of them.
    """

    reverse_flow_limit_mw: float | None = Field(
        default=None,
        ge=0,
        description="reverse flow (export to upstream) tolerated [MW]: e.g. the transformer's "
        "reverse capability or a protection setting",
    )
    import_limit_mw: float | None = Field(
        default=None, ge=0, description="import tolerated [MW] (e.g. transformer rating)"
    )
    vm_max_pu: float | None = Field(
        default=None, gt=0, description="highest LV bus voltage the DSO plans to [pu]"
    )
    vm_min_pu: float | None = Field(
        default=None, gt=0, description="lowest LV bus voltage the DSO plans to [pu]"
    )
    rationale: str = Field(default="", description="why these limits (device, setting, source)")


class DsoSpec(Spec):
    """The DSO: its own forecast model, zone limits, request sizing and flexibility product.

    Forecast (:class:`v2xcosim.domain.dso.ForecastConfig`): similar-day load levelled by the
    metered load of the last ``level_window_h`` hours, times ``load_scale``; PV = clear sky ×
    Kasten–Czeplak factor of a forecast cloud cover whose error is AR(1) with a std growing
    from ``cloud_error_std_oktas_0h`` to ``cloud_error_std_oktas_24h`` at 24 h lead.  Zones:
    ``[dso.zones.primary]``, ``[dso.feeders]`` (default of every ``feeder/<name>`` zone) and
    ``[dso.zones."feeder/<name>"]`` overriding it key by key.  Product (EDGE-like):
    ``availability_price_eur_per_mw_h`` on awarded MW × hours and ``price_cap_eur_per_mwh``
    on delivered energy (activation, pay-as-bid up to this cap).
    """

    margin: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="requests = forecast exceedance × (1 + margin) (assumption: 10 % covers "
        "the forecast error at 1–2 h lead)",
    )
    load_scale: float = Field(
        default=1.0, ge=0, description="factor on the similar-day load (1 = as the reference day)"
    )
    level_window_h: float = Field(
        default=24.0,
        ge=0,
        le=168,
        description="metered hours before each forecast issue whose load over its similar-day "
        "reference levels the forecast load (assumption: the last 24 h of meter values; 0 = no "
        "level correction; at most a week)",
    )
    cloud_error_std_oktas_0h: float = Field(
        default=0.5,
        ge=0,
        description="cloud-cover forecast error std at lead 0 [oktas] (assumption: about the "
        "observation's own resolution)",
    )
    cloud_error_std_oktas_24h: float = Field(
        default=2.0,
        ge=0,
        description="cloud-cover forecast error std at >= 24 h lead [oktas] (assumption: "
        "day-ahead NWP total cloud cover errors of about 2 oktas)",
    )
    cloud_error_correlation_h: float = Field(
        default=3.0,
        gt=0,
        description="correlation time of the cloud error [h] (assumption: as the cloud cover)",
    )
    product: str = Field(default="local-flex", description="name of the flexibility product")
    availability_price_eur_per_mw_h: float = Field(
        default=40.0,
        ge=0,
        description="availability price [EUR/(MW h)]: Terna UVAM 30,000 EUR/MW/yr over 750 h/yr "
        "of commitment (3 h x 250 working days; ARERA 70/2021)",
    )
    price_cap_eur_per_mwh: float = Field(
        default=200.0,
        ge=0,
        description="activation price cap [EUR/MWh]: lower end of the UVAM strike 200-400",
    )
    max_window_intervals: int = Field(
        default=4, ge=1, description="longest request, in 15-min intervals"
    )
    merge_tolerance: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="intervals merge into one request only if each needs >= (1 - this) x the "
        "window's largest need",
    )
    feeders: DsoZoneSpec = Field(
        default_factory=DsoZoneSpec, description="limits of every feeder/<name> zone"
    )
    zones: dict[str, DsoZoneSpec] = Field(
        default_factory=dict,
        description="limits per zone: 'primary' and 'feeder/<name>' (overrides [dso.feeders])",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_keys(cls, data: object) -> object:
        if isinstance(data, dict):
            for key, instead in _OLD_DSO_KEYS.items():
                if key in data:
                    raise ValueError(f"dso.{key} is no longer a key; use {instead}")
        return data

    @field_validator("zones")
    @classmethod
    def _zone_names(cls, value: dict[str, DsoZoneSpec]) -> dict[str, DsoZoneSpec]:
        for name in value:
            if not ZONE_NAME.fullmatch(name):
                raise ValueError(
                    f"dso.zones.{name}: unknown zone; use 'primary' or 'feeder/<LV feeder name>'"
                )
        return value

    def zone(self, name: str) -> DsoZoneSpec:
        """Limits of zone ``name``: its own section, for a feeder over ``[dso.feeders]``."""
        own = self.zones.get(name)
        if not name.startswith("feeder/"):
            return own if own is not None else DsoZoneSpec()
        if own is None:
            return self.feeders
        return self.feeders.model_copy(update=own.model_dump(include=own.model_fields_set))
