"""Frozen, JSON-serialisable messages exchanged between the actors of a use case.

Conventions (see :mod:`v2xcosim.core.units`): times are timezone-aware **UTC** ``datetime``;
SOC is a
fraction in [0, 1]; battery capacities are *usable* kWh; charger setpoints are W per connector
with the load convention (+ = charging / drawn from the grid, − = V2G discharge); market
quantities are signed MW with **+ = consume more** (reverse-flow relief: the DSO wants more
load) and − = consume less / inject more; prices in EUR/MWh; money in EUR.

Every message validates its fields on construction and raises
:class:`~v2xcosim.core.errors.ScenarioError` with the message type and field name when a value is
out of range, so a bad value is caught where it is created.  :func:`to_json_dict` turns any
message into plain JSON types (datetimes as ISO 8601 strings with ``Z``) for the trace and for
out-of-process simulators.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

from v2xcosim.core.errors import ScenarioError

UTC = dt.UTC


def _fail(obj: object, name: str, why: str) -> None:
    raise ScenarioError(f"{type(obj).__name__}.{name}: {why}")


def _utc(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is None:
            continue
        if not isinstance(value, dt.datetime) or value.utcoffset() != dt.timedelta(0):
            _fail(obj, name, f"must be a timezone-aware UTC datetime, got {value!r}")


def _frac(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 <= value <= 1.0):
            _fail(obj, name, f"SOC must be a fraction in [0, 1], got {value!r}")


def _finite(obj: object, *names: str, nonneg: bool = False) -> None:
    for name in names:
        value = getattr(obj, name)
        if not (isinstance(value, int | float) and math.isfinite(value)):
            _fail(obj, name, f"must be a finite number, got {value!r}")
        if nonneg and value < 0:
            _fail(obj, name, f"must be >= 0, got {value!r}")


def _window(obj: object, start: str = "start_utc", end: str = "end_utc") -> None:
    _utc(obj, start, end)
    if getattr(obj, end) <= getattr(obj, start):
        _fail(obj, end, f"must be after {start}")


def to_json_dict(msg: object) -> dict[str, Any]:
    """Convert a message to a JSON-compatible dict.

    Datetimes become ISO 8601 UTC strings, tuples lists.
    """
    if not dataclasses.is_dataclass(msg) or isinstance(msg, type):
        raise TypeError(f"not a message dataclass: {msg!r}")

    def conv(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if isinstance(value, tuple | list):
            return [conv(v) for v in value]
        if isinstance(value, dict):
            return {str(k): conv(v) for k, v in value.items()}
        return value

    return {f.name: conv(getattr(msg, f.name)) for f in dataclasses.fields(msg)}


# ---------------------------------------------------------------- user ↔ EMSP (steps 3–6, J*)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """Step 4: the user registers with the EMSP and gives (or refuses) GDPR consent."""

    user_id: str
    time_utc: dt.datetime
    gdpr_consent: bool
    v2g_opt_in: bool

    def __post_init__(self) -> None:
        _utc(self, "time_utc")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UserPreferences:
    """Step 5 / J2: departure time, wanted SOC at departure, minimum SOC, price threshold.

    ``price_threshold_eur_per_mwh`` is the lowest remuneration the user accepts for flexibility
    from his car.
    """

    user_id: str
    session_id: str
    departure_utc: dt.datetime
    soc_departure: float
    soc_min: float
    price_threshold_eur_per_mwh: float

    def __post_init__(self) -> None:
        _utc(self, "departure_utc")
        _frac(self, "soc_departure", "soc_min")
        _finite(self, "price_threshold_eur_per_mwh", nonneg=True)
        if self.soc_min > self.soc_departure:
            _fail(self, "soc_min", "must not exceed soc_departure")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CampaignList:
    """J1: the DSO flexibility requests the EMSP shows to a user."""

    user_id: str
    request_ids: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class JoinCampaign:
    """J3: the user asks to join the campaigns (or declines, ``join=False``)."""

    user_id: str
    session_id: str
    join: bool


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CampaignConfirmation:
    """J5: the EMSP confirms to the user which offers include the user's car."""

    user_id: str
    session_id: str
    offer_ids: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SessionCreation:
    """Step 3: the user opens the EMSP UI at a site; the EMSP creates a charging session."""

    user_id: str
    session_id: str
    site_id: str
    time_utc: dt.datetime

    def __post_init__(self) -> None:
        _utc(self, "time_utc")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StartRequest:
    """Step 6: the user starts the charging event."""

    user_id: str
    session_id: str
    time_utc: dt.datetime

    def __post_init__(self) -> None:
        _utc(self, "time_utc")


# ---------------------------------------------------------- charging site (steps 2, 7–9, 11)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PlugIn:
    """Step 2: ISO 15118-20 plug-in data of the car at a connector."""

    session_id: str
    connector_id: str
    time_utc: dt.datetime
    soc: float
    usable_capacity_kwh: float
    p_max_charge_w: float
    p_max_discharge_w: float

    def __post_init__(self) -> None:
        _utc(self, "time_utc")
        _frac(self, "soc")
        _finite(self, "usable_capacity_kwh", "p_max_charge_w", "p_max_discharge_w", nonneg=True)
        if self.usable_capacity_kwh <= 0:
            _fail(self, "usable_capacity_kwh", "must be > 0")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SessionData:
    """Steps 7/9: session data of a connected EV (the DriVe2X ``SCADatum`` content)."""

    session_id: str
    connector_id: str
    time_utc: dt.datetime
    soc: float
    usable_capacity_kwh: float
    departure_utc: dt.datetime

    def __post_init__(self) -> None:
        _utc(self, "time_utc", "departure_utc")
        _frac(self, "soc")
        _finite(self, "usable_capacity_kwh", nonneg=True)
        if self.usable_capacity_kwh <= 0:
            _fail(self, "usable_capacity_kwh", "must be > 0")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StartCharging:
    """Step 7/8: start command for a session at a connector."""

    session_id: str
    connector_id: str
    time_utc: dt.datetime

    def __post_init__(self) -> None:
        _utc(self, "time_utc")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StopCharging:
    """Step 11: the session ends (user stop or departure); triggers final settlement."""

    session_id: str
    connector_id: str
    time_utc: dt.datetime
    soc: float
    reason: str

    def __post_init__(self) -> None:
        _utc(self, "time_utc")
        _frac(self, "soc")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Setpoint:
    """Step 10: active/reactive power setpoint for one connector [W]/[var], load convention."""

    connector_id: str
    time_utc: dt.datetime
    p_w: float
    q_var: float = 0.0

    def __post_init__(self) -> None:
        _utc(self, "time_utc")
        _finite(self, "p_w", "q_var")


# -------------------------------------------------------------------- DSO / LFMP (7, 10, M*, S*)
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GridForecast:
    """DSO forecast for one zone.

    Net power [W, + = drawn from upstream] and max voltage [pu] per interval starting at
    ``interval_start_utc`` (all of length ``interval_s``).
    """

    zone: str
    issued_utc: dt.datetime
    interval_s: int
    interval_start_utc: tuple[dt.datetime, ...]
    p_net_w: tuple[float, ...]
    vm_max_pu: tuple[float, ...]

    def __post_init__(self) -> None:
        _utc(self, "issued_utc")
        n = len(self.interval_start_utc)
        if len(self.p_net_w) != n or len(self.vm_max_pu) != n:
            _fail(self, "p_net_w", "interval_start_utc, p_net_w and vm_max_pu need equal lengths")
        if self.interval_s <= 0:
            _fail(self, "interval_s", "must be > 0")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FlexibilityRequest:
    """A DSO flexibility request.

    Fields after the SOFIE project's flexibility-marketplace pilot (quantity, zone, request date,
    deadline (gate closure), start, end, maximum price).

    ``p_mw`` signed: + = consume more (reverse flow / over-voltage), − = consume less.

    The product (EDGE-like, e-distribuzione's pilot): ``product`` names it,
    ``availability_price_eur_per_mw_h`` [€/(MW·h)] is paid on the awarded MW over the award's
    hours, ``price_cap_eur_per_mwh`` caps the activation price paid on delivered energy.
    """

    request_id: str
    dso_id: str
    zone: str
    submitted_utc: dt.datetime
    start_utc: dt.datetime
    end_utc: dt.datetime
    p_mw: float
    price_cap_eur_per_mwh: float
    product: str = "activation"
    availability_price_eur_per_mw_h: float = 0.0

    def __post_init__(self) -> None:
        _utc(self, "submitted_utc")
        _window(self)
        _finite(self, "p_mw")
        _finite(self, "price_cap_eur_per_mwh", "availability_price_eur_per_mw_h", nonneg=True)
        if self.p_mw == 0:
            _fail(self, "p_mw", "must not be 0")

    @property
    def energy_mwh(self) -> float:
        """Requested energy |p_mw| × duration [MWh]."""
        return abs(self.p_mw) * (self.end_utc - self.start_utc).total_seconds() / 3600.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FlexibilityOffer:
    """A flexibility offer (EMSP J4 / other providers): ``p_mw`` signed like the request.

    ``divisible``: the LFMP may accept part of it (the marginal offer).  ``request_id`` names
    the request the offer answers, or None for any request it fits.
    """

    offer_id: str
    provider_id: str
    zone: str
    submitted_utc: dt.datetime
    start_utc: dt.datetime
    end_utc: dt.datetime
    p_mw: float
    price_eur_per_mwh: float
    divisible: bool = True
    request_id: str | None = None

    def __post_init__(self) -> None:
        _utc(self, "submitted_utc")
        _window(self)
        _finite(self, "p_mw", "price_eur_per_mwh")
        if self.p_mw == 0:
            _fail(self, "p_mw", "must not be 0")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Award:
    """M3: an accepted (part of an) offer for a request, pay-as-bid.

    ``price_eur_per_mwh``: activation price (the offer's); ``availability_price_eur_per_mw_h``:
    the request's availability price [€/(MW·h)] on the awarded MW.
    """

    award_id: str
    market_session_id: str
    request_id: str
    offer_id: str
    provider_id: str
    zone: str
    start_utc: dt.datetime
    end_utc: dt.datetime
    p_mw: float
    price_eur_per_mwh: float
    availability_price_eur_per_mw_h: float = 0.0

    def __post_init__(self) -> None:
        _window(self)
        _finite(self, "p_mw", "price_eur_per_mwh")
        _finite(self, "availability_price_eur_per_mw_h", nonneg=True)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OrderBook:
    """M2: the bids the marketplace collected for one session at gate closure."""

    market_session_id: str
    gate_closure_utc: dt.datetime
    requests: tuple[FlexibilityRequest, ...]
    offers: tuple[FlexibilityOffer, ...]

    def __post_init__(self) -> None:
        _utc(self, "gate_closure_utc")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MarketResult:
    """M4: the published result of one market session."""

    market_session_id: str
    gate_closure_utc: dt.datetime
    awards: tuple[Award, ...]
    requested_mwh: float
    matched_mwh: float
    rejected_offer_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _utc(self, "gate_closure_utc")
        _finite(self, "requested_mwh", "matched_mwh", nonneg=True)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class BaselineDeclaration:
    """Baseline schedule a provider declares at gate closure for one zone.

    Power per settlement interval [W, load convention] of every asset it controls there.
    """

    provider_id: str
    zone: str
    market_session_id: str
    interval_s: int
    interval_start_utc: tuple[dt.datetime, ...]
    p_w: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.interval_start_utc) != len(self.p_w):
            _fail(self, "p_w", "needs one value per interval")
        if self.interval_s <= 0:
            _fail(self, "interval_s", "must be > 0")
        for t in self.interval_start_utc:
            if t.utcoffset() != dt.timedelta(0):
                _fail(self, "interval_start_utc", "must be UTC")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class MeterData:
    """S1: metered energy of a provider's assets in a zone per interval [kWh, + = drawn]."""

    provider_id: str
    zone: str
    interval_s: int
    interval_start_utc: tuple[dt.datetime, ...]
    energy_kwh: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.interval_start_utc) != len(self.energy_kwh):
            _fail(self, "energy_kwh", "needs one value per interval")
        if self.interval_s <= 0:
            _fail(self, "interval_s", "must be > 0")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SettlementLine:
    """S2: settlement of one award in one 15-min interval.

    Energies in MWh, signed as the award: + = consumed more than baseline).  ``paid_mwh =
    clip(delivered, 0, promised)``; ``amount_eur = paid_mwh × price_eur_per_mwh +
    availability_eur`` (activation plus availability: awarded MW × hours × availability price).
    """

    award_id: str
    provider_id: str
    interval_start_utc: dt.datetime
    promised_mwh: float
    delivered_mwh: float
    paid_mwh: float
    price_eur_per_mwh: float
    amount_eur: float
    availability_eur: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Payment:
    """S2–S4: money from ``payer`` to ``payee`` [EUR] for ``reason``."""

    payer: str
    payee: str
    amount_eur: float
    reason: str

    def __post_init__(self) -> None:
        _finite(self, "amount_eur")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class UserStatement:
    """Step 12: statistics and bill of one session.

    Energies kWh, money EUR; net = cost − incentive, + = the user pays).
    """

    user_id: str
    session_id: str
    energy_charged_kwh: float
    energy_discharged_kwh: float
    soc_departure: float
    energy_cost_eur: float
    incentive_eur: float
    net_eur: float


__all__ = [
    "Award",
    "BaselineDeclaration",
    "CampaignConfirmation",
    "CampaignList",
    "FlexibilityOffer",
    "FlexibilityRequest",
    "GridForecast",
    "JoinCampaign",
    "MarketResult",
    "MeterData",
    "OrderBook",
    "Payment",
    "PlugIn",
    "Registration",
    "SessionCreation",
    "SessionData",
    "Setpoint",
    "SettlementLine",
    "StartCharging",
    "StartRequest",
    "StopCharging",
    "UserPreferences",
    "UserStatement",
    "to_json_dict",
]
