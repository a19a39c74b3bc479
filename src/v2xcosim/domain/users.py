"""EV users of public chargers: seeded sessions, consent and preferences.

Published statistics used (cited; the rest are assumptions listed in the scenario README of
the use case that draws them):

* arrival and dwell of commuter-type sessions: Dutch public charging, EVnetNL 2015 — weekday
  modal start 08:51 and modal end 17:12 (dwell ≈ 8.35 h);
* energy per session: EVnetNL 2015 mean **8.4 kWh** (a gamma distribution with shape 2 and this
  mean is the assumed shape);
* vehicles: :data:`ITALY_2024_FLEET` — Italy's best-selling BEVs of the sessions' era (2023
  best sellers Tesla Model Y/3, Fiat 500e 42 kWh 11 kW AC, Smart ForTwo; VW ID.3 58 kWh) and
  the AC-V2G cars of the time (Renault ZOE V2G trials at 11 kW; Renault 5 E-Tech), each with its
  usable capacity, on-board AC charger limit and whether it can discharge on AC; only those may
  discharge (shares and some specifications are assumptions, see the table's docstring);
* vehicle age, early departures: stated assumptions (:class:`UserPopulationSpec`); the
  initial capacity losses follow from the age by the Schmalstieg laws
  (:func:`v2xcosim.domain.ageing.initial_losses`).

Draws come from one stream per charging site, ``rng_for(seed, "<stream_prefix>/<site>")``: the
population depends only on the seed and the site list — never on the strategy — so
``uncontrolled``, ``smart`` and ``v2g`` runs see the same users.  Times are s since the run
start (UTC); local (Europe/Rome) clock hours are converted with :mod:`zoneinfo`, DST-safe.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import Registration, UserPreferences
from v2xcosim.core.rng import rng_for
from v2xcosim.domain.ageing import AgeingHistory, initial_losses

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

EVNETNL_MODAL_START_H = 8.0 + 51.0 / 60.0
"""EVnetNL 2015: weekday modal session start, 08:51 local time."""
EVNETNL_MODAL_END_H = 17.0 + 12.0 / 60.0
"""EVnetNL 2015: weekday modal session end, 17:12 local time."""
EVNETNL_MEAN_ENERGY_KWH = 8.4
"""EVnetNL 2015: mean energy per public charging session [kWh]."""


@dataclass(frozen=True)
class VehicleModel:
    """A car model: usable capacity [kWh], on-board AC charger limit [W], AC-V2G capable, share.

    ``v2g_dc``: the car can discharge through a bidirectional **DC** charger (CHAdeMO or
    ISO 15118-20 over CCS); False by default, so tables written before it was added read as
    before (behind AC chargers only ``v2g_ac`` matters).
    """

    name: str
    capacity_kwh: float
    p_ac_max_w: float
    v2g_ac: bool
    share: float
    v2g_dc: bool = False


ITALY_2024_FLEET: tuple[VehicleModel, ...] = (
    VehicleModel("Tesla Model Y RWD", 57.5, 11_000.0, False, 0.22),
    VehicleModel("Tesla Model 3 RWD", 57.5, 11_000.0, False, 0.13),
    VehicleModel("Fiat 500e 42 kWh", 37.3, 11_000.0, False, 0.15),
    VehicleModel("Dacia Spring", 25.0, 7_000.0, False, 0.10),
    VehicleModel("Smart EQ fortwo", 17.6, 4_600.0, False, 0.05),
    VehicleModel("VW ID.3 Pro", 58.0, 11_000.0, False, 0.10),
    VehicleModel("Renault 5 E-Tech 52 kWh", 52.0, 11_000.0, True, 0.10),
    VehicleModel("Renault ZOE R135 (V2G trial)", 52.0, 11_000.0, True, 0.15),
)
"""The cars at Italian public chargers in 2024 (specifications: makers' data sheets as far as
known here; shares and anything marked below are **assumptions**, scenario README).

Italy's 2023 best-selling BEVs were Tesla Model Y and Model 3, Fiat 500e (42 kWh gross, 11 kW
AC) and Smart ForTwo (data-facts); VW ID.3 packs 45/58/77 kWh.  Usable capacities of Tesla
(RWD), Dacia Spring and the on-board limits of Dacia (7 kW) and Smart (4.6 kW standard, 22 kW
option) are **assumptions** from memory of the data sheets.  AC V2G: only the
Renault ZOE (V2G trials at 11 kW AC, data-facts) and the Renault 5 E-Tech (bidirectional
on-board charger, marketed with Mobilize V2G from late 2024 — **assumption**) discharge; Tesla,
Fiat, Dacia, Smart and VW offer no AC V2G (VW: DC bidirectional only).  The V2G cars' 25 % share
stands for the DriVe2X pilot recruiting V2G-capable users (**assumption**)."""


@dataclass(frozen=True)
class UserPopulationSpec:
    """Parameters of the user draw (probabilities in [0, 1], times in local hours)."""

    sessions_per_connector_per_day: float = 1.5
    commuter_share: float = 0.5
    commuter_arrival_std_h: float = 1.0
    commuter_dwell_std_h: float = 1.5
    visitor_arrival_window_h: tuple[float, float] = (9.0, 19.0)
    visitor_dwell_median_h: float = 2.5
    visitor_dwell_sigma: float = 0.5
    min_dwell_h: float = 0.5
    energy_mean_kwh: float = EVNETNL_MEAN_ENERGY_KWH
    vehicles: tuple[VehicleModel, ...] = ITALY_2024_FLEET
    p_max_w: float = 11_000.0
    soc_departure_range: tuple[float, float] = (0.7, 0.9)
    soc_min_range: tuple[float, float] = (0.2, 0.4)
    soc_arrival_floor: float = 0.1
    price_threshold_median_eur_per_mwh: float = 60.0
    price_threshold_sigma: float = 0.5
    p_gdpr_consent: float = 0.9
    p_v2g_opt_in: float = 0.7
    early_departure_share: float = 0.15
    early_departure_fraction_range: tuple[float, float] = (0.3, 0.9)
    vehicle_age_max_years: float = 6.0
    history: AgeingHistory = field(default_factory=AgeingHistory)
    timezone: str = "Europe/Rome"

    def validate(self) -> None:
        """Raise :class:`ScenarioError` listing every out-of-range parameter."""
        bad: list[str] = []
        for name in (
            "commuter_share",
            "p_gdpr_consent",
            "p_v2g_opt_in",
            "soc_arrival_floor",
            "early_departure_share",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                bad.append(f"{name} must be in [0, 1]")
        for name in (
            "sessions_per_connector_per_day",
            "energy_mean_kwh",
            "p_max_w",
            "visitor_dwell_median_h",
            "min_dwell_h",
        ):
            if not getattr(self, name) > 0:
                bad.append(f"{name} must be > 0")
        shares = [v.share for v in self.vehicles]
        if not self.vehicles or abs(sum(shares) - 1.0) > 1e-9 or min(shares) < 0:
            bad.append("vehicles: need at least one model and shares >= 0 summing to 1")
        elif min(min(v.capacity_kwh, v.p_ac_max_w) for v in self.vehicles) <= 0:
            bad.append("vehicles: capacity_kwh and p_ac_max_w must be > 0")
        if self.vehicle_age_max_years < 0:
            bad.append("vehicle_age_max_years must be >= 0")
        for name in ("soc_departure_range", "soc_min_range", "early_departure_fraction_range"):
            lo, hi = getattr(self, name)
            if not 0.0 <= lo <= hi <= 1.0:
                bad.append(f"{name} must satisfy 0 <= lo <= hi <= 1")
        if self.soc_min_range[1] > self.soc_departure_range[0]:
            bad.append("soc_min_range must lie below soc_departure_range")
        if bad:
            raise ScenarioError("users: " + "; ".join(bad))


@dataclass(frozen=True)
class UserTable:
    """One row per session (a user's visit), sorted by arrival.  Times in s since run start.

    ``departure_s`` is the departure the user declares (all the EMSP and the strategy know);
    ``departure_actual_s`` when the car really leaves (earlier for ``left_early``).  The car:
    ``vehicle_model``, its ``capacity_kwh`` (usable, new), ``p_max_w`` (on-board AC limit and
    charger rating), ``v2g_capable`` (AC discharge), ``age_years`` and initial capacity losses
    ``q_cal_start``, ``q_cyc_start`` (fractions of the nominal capacity).
    """

    session_id: tuple[str, ...]
    user_id: tuple[str, ...]
    site_id: tuple[str, ...]
    arrival_s: FloatArray
    departure_s: FloatArray
    capacity_kwh: FloatArray
    soc_arrival: FloatArray
    soc_departure: FloatArray
    soc_min: FloatArray
    price_threshold_eur_per_mwh: FloatArray
    p_max_w: FloatArray
    gdpr_consent: BoolArray
    v2g_opt_in: BoolArray
    commuter: BoolArray
    vehicle_model: tuple[str, ...]
    v2g_capable: BoolArray
    departure_actual_s: FloatArray
    left_early: BoolArray
    age_years: FloatArray
    q_cal_start: FloatArray
    q_cyc_start: FloatArray

    def __len__(self) -> int:
        """Return the number of sessions."""
        return len(self.session_id)

    @property
    def campaign(self) -> BoolArray:
        """Sessions that take part in the flexibility campaign (consent and opt-in)."""
        out: BoolArray = self.gdpr_consent & self.v2g_opt_in
        return out

    @property
    def energy_need_kwh(self) -> FloatArray:
        """Energy the battery needs for the wished departure SOC [kWh]."""
        out: FloatArray = np.maximum(self.soc_departure - self.soc_arrival, 0.0) * self.capacity_kwh
        return out


def _local_midnights_s(start_utc: dt.datetime, n_days: int, tz: str) -> FloatArray:
    zone = zoneinfo.ZoneInfo(tz)
    first = start_utc.astimezone(zone).date()
    out = []
    for k in range(n_days):
        day = first + dt.timedelta(days=k)
        midnight = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
        out.append((midnight.astimezone(dt.UTC) - start_utc).total_seconds())
    return np.array(out, dtype=float)


def draw_users(
    spec: UserPopulationSpec,
    *,
    seed: int,
    start_utc: dt.datetime,
    n_days: int,
    sites: Sequence[tuple[str, int]],
    stream_prefix: str,
) -> UserTable:
    """Draw the sessions at ``sites`` (``(site_id, n_connectors)``) over ``n_days`` local days.

    Each site draws from its own stream ``rng_for(seed, f"{stream_prefix}/{site_id}")``.

    Per site and day the number of sessions is Poisson(``sessions_per_connector_per_day`` ×
    connectors).  Sessions that leave before arriving, or start before the run, are kept as
    drawn except that arrivals are clipped to the run start.  A share
    ``early_departure_share`` of the users leaves after a fraction U(``early_departure_fraction
    _range``) of the declared stay (they declared the longer stay); the car's age is
    U(0, ``vehicle_age_max_years``).  These are drawn after every earlier column, so adding them
    changed none of the others.
    """
    spec.validate()
    if start_utc.utcoffset() != dt.timedelta(0):
        raise ScenarioError("users: start_utc must be UTC")
    if n_days < 1:
        raise ScenarioError("users: n_days must be >= 1")
    midnights = _local_midnights_s(start_utc, n_days, spec.timezone)
    cols: dict[str, list[npt.NDArray[Any]]] = {
        k: []
        for k in (
            "arr",
            "dep",
            "model",
            "soc0",
            "socd",
            "socmin",
            "thr",
            "gdpr",
            "opt",
            "comm",
            "early",
            "frac",
            "age",
        )
    }
    models = spec.vehicles
    caps = np.array([m.capacity_kwh for m in models])
    sids: list[str] = []
    site_col: list[str] = []
    for site_id, n_conn in sites:
        rng = rng_for(seed, f"{stream_prefix}/{site_id}")
        counts = rng.poisson(spec.sessions_per_connector_per_day * n_conn, size=n_days)
        n = int(counts.sum())
        day = np.repeat(np.arange(n_days), counts)
        comm = rng.random(n) < spec.commuter_share
        arr_h = np.where(
            comm,
            rng.normal(EVNETNL_MODAL_START_H, spec.commuter_arrival_std_h, n),
            rng.uniform(*spec.visitor_arrival_window_h, n),
        )
        arr_h = np.clip(arr_h, 0.0, 23.75)
        dwell_h = np.where(
            comm,
            rng.normal(EVNETNL_MODAL_END_H - EVNETNL_MODAL_START_H, spec.commuter_dwell_std_h, n),
            spec.visitor_dwell_median_h * np.exp(rng.normal(0.0, spec.visitor_dwell_sigma, n)),
        )
        dwell_h = np.maximum(dwell_h, spec.min_dwell_h)
        model = rng.choice(len(models), size=n, p=np.array([m.share for m in models]))
        cap = caps[model]
        energy = rng.gamma(2.0, spec.energy_mean_kwh / 2.0, n)
        socd = rng.uniform(*spec.soc_departure_range, n)
        socmin = rng.uniform(*spec.soc_min_range, n)
        soc0 = np.maximum(socd - energy / cap, spec.soc_arrival_floor)
        thr = spec.price_threshold_median_eur_per_mwh * np.exp(
            rng.normal(0.0, spec.price_threshold_sigma, n)
        )
        gdpr = rng.random(n) < spec.p_gdpr_consent
        opt = rng.random(n) < spec.p_v2g_opt_in
        early = rng.random(n) < spec.early_departure_share
        frac = rng.uniform(*spec.early_departure_fraction_range, n)
        age = rng.uniform(0.0, spec.vehicle_age_max_years, n)
        arr_s = np.maximum(midnights[day] + arr_h * 3600.0, 0.0)
        cols["arr"].append(arr_s)
        cols["dep"].append(arr_s + dwell_h * 3600.0)
        cols["model"].append(model)
        cols["soc0"].append(soc0)
        cols["socd"].append(socd)
        cols["socmin"].append(socmin)
        cols["thr"].append(thr)
        cols["gdpr"].append(gdpr)
        cols["opt"].append(opt)
        cols["comm"].append(comm)
        cols["early"].append(early)
        cols["frac"].append(frac)
        cols["age"].append(age)
        sids.extend(f"{site_id}/s{k:04d}" for k in range(n))
        site_col.extend([site_id] * n)
    cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
    order = np.lexsort((np.arange(len(sids)), cat["arr"]))
    sid = tuple(sids[i] for i in order)
    model = cat["model"][order].astype(np.int64)
    cap = caps[model].astype(float)
    arr, dep = cat["arr"][order].astype(float), cat["dep"][order].astype(float)
    early = cat["early"][order].astype(bool)
    actual = np.where(early, arr + cat["frac"][order] * (dep - arr), dep)
    age = cat["age"][order].astype(float)
    q_cal, q_cyc = initial_losses(age, cap, spec.history) if len(sid) else (age, age)
    return UserTable(
        session_id=sid,
        user_id=tuple(f"user/{s}" for s in sid),
        site_id=tuple(site_col[i] for i in order),
        arrival_s=arr,
        departure_s=dep,
        capacity_kwh=cap,
        soc_arrival=cat["soc0"][order].astype(float),
        soc_departure=cat["socd"][order].astype(float),
        soc_min=cat["socmin"][order].astype(float),
        price_threshold_eur_per_mwh=cat["thr"][order].astype(float),
        p_max_w=np.minimum(np.array([m.p_ac_max_w for m in models])[model], spec.p_max_w),
        gdpr_consent=cat["gdpr"][order].astype(bool),
        v2g_opt_in=cat["opt"][order].astype(bool),
        commuter=cat["comm"][order].astype(bool),
        vehicle_model=tuple(models[int(j)].name for j in model),
        v2g_capable=np.array([models[int(j)].v2g_ac for j in model], dtype=bool),
        departure_actual_s=actual,
        left_early=early,
        age_years=age,
        q_cal_start=q_cal,
        q_cyc_start=q_cyc,
    )


def registration(users: UserTable, i: int, start_utc: dt.datetime) -> Registration:
    """Step 4 message of session ``i`` (sent at its arrival)."""
    return Registration(
        user_id=users.user_id[i],
        time_utc=start_utc + dt.timedelta(seconds=float(users.arrival_s[i])),
        gdpr_consent=bool(users.gdpr_consent[i]),
        v2g_opt_in=bool(users.v2g_opt_in[i]),
    )


def preferences(users: UserTable, i: int, start_utc: dt.datetime) -> UserPreferences:
    """Step 5 / J2 message of session ``i``: departure (UTC), SOC wish, minimum SOC, price."""
    return UserPreferences(
        user_id=users.user_id[i],
        session_id=users.session_id[i],
        departure_utc=start_utc + dt.timedelta(seconds=float(users.departure_s[i])),
        soc_departure=float(users.soc_departure[i]),
        soc_min=float(users.soc_min[i]),
        price_threshold_eur_per_mwh=float(users.price_threshold_eur_per_mwh[i]),
    )


__all__ = [
    "EVNETNL_MEAN_ENERGY_KWH",
    "EVNETNL_MODAL_END_H",
    "EVNETNL_MODAL_START_H",
    "ITALY_2024_FLEET",
    "UserPopulationSpec",
    "UserTable",
    "VehicleModel",
    "draw_users",
    "preferences",
    "registration",
]
