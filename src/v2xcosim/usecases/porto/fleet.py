"""Porto airport's EVs: one car per long-term stay of :func:`.parking.draw_stays` (steps 2–4).

For each stay :func:`draw_fleet` draws the car (a model of :data:`PORTUGAL_2025_FLEET`, reusing
:class:`v2xcosim.domain.users.VehicleModel`), its SOC when it arrives at the car park, the
user's choices in the web app (consent, minimum SOC, departure SOC) and, from the car and the
car park's charger, its power limits and whether it can do V2B.  Randomness only from
``rng_for(seed, "porto/fleet")``; one draw per column in a fixed order over the stays in table
order, so the fleet depends only on the seed and the stays — never on the strategy — and
``uncontrolled``, ``smart`` and ``v2b`` runs see the same cars.

Figures (sources or **assumptions**; :class:`FleetSpec`):

* **chargers**: the car park's chargers are bidirectional, AC and DC, limited to ±11 kW per
  charge point (the DriVe2X Porto charge-station emulator limits a charge point to ±11 kW,
  data-facts; bidirectional AC chargers of the time are rated 7–22 kW, Renault Mobilize
  Powerbox; DC ones 7.4–11.5 kW, Wallbox Quasar / Quasar 2).  That both AC and DC are served is
  an **assumption** (the use case's precondition is "installed bidirectional chargers,
  compatible ports").  Limits: a car that can discharge on DC (``v2g_dc``) is served on DC at
  the charger's rating both ways; any other car on AC at ``min(charger, on-board charger)``,
  and it discharges (at that limit) only if it is AC-bidirectional (``v2g_ac``).
* **cars** (:data:`PORTUGAL_2025_FLEET`): the battery-electric cars parked at a Portuguese
  airport in 2025 — Portugal's BEVs were 18.2 % (2023) and 19.9 % (2024) of new cars
  (data-facts); the model mix and shares are **assumptions** (Tesla Model Y/3 leading, then
  Chinese and European compacts).  V2B-capable 2024–2026 models (makers' announcements as far
  as known here, **assumption**): Renault 5 and 4 E-Tech (AC V2G, Mobilize), Nissan Leaf
  (CHAdeMO DC), VW ID. models with the 77 kWh pack (DC bidirectional); Tesla Model 3/Y, BYD,
  MG, Hyundai Kona (vehicle-to-load only), Peugeot, Volvo EX30, BMW iX1, Dacia, Cupra and the
  58 kWh VW: none.  Their shares sum to **22 %** of the cars (:func:`v2b_share`).
* **SOC at arrival**: the car leaves home charged to ``soc_home_range`` (U(0.6, 0.9):
  a charge before a trip, most drivers capping daily charging at 80–90 % — assumption) and
  drives ``trip_km_range`` (U(10, 120) km: Porto's catchment, from the city to the north of
  Portugal — assumption) at ``kwh_per_km`` (0.18 kWh/km at the battery, motorway driving —
  assumption); a car that would arrive below ``soc_arrival_floor`` (0.1) charged on the way
  and arrives at the floor.
* **user choices** (step 3.1, 4): ``p_consent`` = 0.7 of the users accept the GDPR terms and
  let the car park's energy manager use their car (assumption; the street-charging use case
  assumes 0.9 × 0.7 = 0.63 for a public street charger; an airport programme that pays for
  V2B — drive2x.eu — recruits a little more).  Step 4's "minimum SOC at departure" is
  ``soc_wish`` U(0.6, 0.9) (assumption: enough for the drive home and a margin; the energy
  manager guarantees it where feasible); ``soc_min`` U(0.2, 0.4) is the floor V2B never
  discharges below during the stay (as the street-charging use case's ``soc_min``,
  assumption), entered with it.
* **age**: U(0, ``vehicle_age_max_years`` = 5) years (assumption: cars of 2020–2025); initial
  capacity losses by :func:`v2xcosim.domain.ageing.initial_losses`, parked at Porto's annual
  mean 14.0 °C (the mean of the 1961–80 monthly normals, data-facts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.rng import rng_for
from v2xcosim.core.units import W_PER_KW
from v2xcosim.domain.ageing import AgeingHistory, initial_losses
from v2xcosim.domain.cs_ems import EvArrays
from v2xcosim.domain.users import VehicleModel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

STREAM = "porto/fleet"
"""Name of the random stream of the fleet (``rng_for(seed, STREAM)``)."""

PORTO_MEAN_T_K = 273.15 + 14.0
"""Porto's annual mean air temperature [K]: mean of the 1961–80 monthly normals (data-facts)."""

PORTUGAL_2025_FLEET: tuple[VehicleModel, ...] = (
    VehicleModel("Tesla Model Y RWD", 57.5, 11_000.0, False, 0.18),
    VehicleModel("Tesla Model 3 RWD", 57.5, 11_000.0, False, 0.10),
    VehicleModel("BYD Dolphin 60 kWh", 60.4, 11_000.0, False, 0.07),
    VehicleModel("MG4 Standard", 49.0, 11_000.0, False, 0.06),
    VehicleModel("Peugeot e-2008 54 kWh", 51.0, 7_400.0, False, 0.08),
    VehicleModel("Volvo EX30", 51.0, 11_000.0, False, 0.06),
    VehicleModel("Dacia Spring", 25.0, 7_000.0, False, 0.05),
    VehicleModel("BMW iX1 eDrive20", 64.7, 11_000.0, False, 0.05),
    VehicleModel("Hyundai Kona Electric 65 kWh", 64.8, 11_000.0, False, 0.04),
    VehicleModel("Cupra Born 58 kWh", 58.0, 11_000.0, False, 0.03),
    VehicleModel("VW ID.3 Pro 58 kWh", 58.0, 11_000.0, False, 0.06),
    VehicleModel("VW ID.4 Pro 77 kWh", 77.0, 11_000.0, False, 0.07, v2g_dc=True),
    VehicleModel("Renault 5 E-Tech 52 kWh", 52.0, 11_000.0, True, 0.08),
    VehicleModel("Renault 4 E-Tech 52 kWh", 52.0, 11_000.0, True, 0.03),
    VehicleModel("Nissan Leaf 40 kWh", 39.0, 6_600.0, False, 0.04, v2g_dc=True),
)
"""Cars at Porto airport's chargers, 2025 (module docstring: shares **assumptions**; usable
capacities and on-board AC limits from the makers' data sheets as remembered, **assumption**)."""


@dataclass(frozen=True)
class FleetSpec:
    """Parameters of :func:`draw_fleet` (module docstring for sources and assumptions).

    Ranges are ``(lo, hi)`` of uniform draws; SOC as fractions, powers in kW, distances in km.
    """

    vehicles: tuple[VehicleModel, ...] = PORTUGAL_2025_FLEET
    charger_p_max_kw: float = 11.0
    charger_ac_bidirectional: bool = True
    charger_dc_bidirectional: bool = True
    soc_home_range: tuple[float, float] = (0.6, 0.9)
    trip_km_range: tuple[float, float] = (10.0, 120.0)
    kwh_per_km: float = 0.18
    soc_arrival_floor: float = 0.1
    soc_wish_range: tuple[float, float] = (0.6, 0.9)
    soc_min_range: tuple[float, float] = (0.2, 0.4)
    p_consent: float = 0.7
    vehicle_age_max_years: float = 5.0
    history: AgeingHistory = field(default_factory=lambda: AgeingHistory(t_k=PORTO_MEAN_T_K))

    def validate(self) -> None:
        """Raise :class:`ScenarioError` listing every bad parameter (key named)."""
        bad: list[str] = []
        for key in ("charger_p_max_kw", "kwh_per_km"):
            v = getattr(self, key)
            if not (math.isfinite(v) and v > 0):
                bad.append(f"{key} must be finite and > 0, got {v}")
        for key in ("soc_arrival_floor", "p_consent"):
            v = getattr(self, key)
            if not 0.0 <= v <= 1.0:
                bad.append(f"{key} must be in [0, 1], got {v}")
        if not (math.isfinite(self.vehicle_age_max_years) and self.vehicle_age_max_years >= 0):
            bad.append("vehicle_age_max_years must be finite and >= 0")
        for key in ("soc_home_range", "soc_wish_range", "soc_min_range"):
            lo, hi = getattr(self, key)
            if not 0.0 <= lo <= hi <= 1.0:
                bad.append(f"{key} must satisfy 0 <= lo <= hi <= 1, got {(lo, hi)}")
        lo, hi = self.trip_km_range
        if not 0.0 <= lo <= hi < math.inf:
            bad.append(f"trip_km_range must satisfy 0 <= lo <= hi < inf, got {(lo, hi)}")
        if self.soc_min_range[1] > self.soc_wish_range[0]:
            bad.append("soc_min_range must lie below soc_wish_range (soc_min <= soc_wish)")
        shares = [v.share for v in self.vehicles]
        if not self.vehicles or min(shares) < 0 or not math.isclose(sum(shares), 1.0, abs_tol=1e-9):
            bad.append("vehicles: need at least one model and shares >= 0 summing to 1")
        elif min(min(v.capacity_kwh, v.p_ac_max_w) for v in self.vehicles) <= 0:
            bad.append("vehicles: capacity_kwh and p_ac_max_w must be > 0")
        if bad:
            raise ScenarioError("porto fleet: " + "; ".join(bad))


def v2b_share(spec: FleetSpec) -> float:
    """Share of the cars that can discharge through the car park's chargers (expected value)."""
    return float(sum(v.share for v in spec.vehicles if _v2b(spec, v)))


def _v2b(spec: FleetSpec, v: VehicleModel) -> bool:
    return (v.v2g_ac and spec.charger_ac_bidirectional) or (
        v.v2g_dc and spec.charger_dc_bidirectional
    )


def _limits_kw(spec: FleetSpec, v: VehicleModel) -> tuple[float, float]:
    """(charge, discharge) limits [kW] of car ``v`` at a charger of ``spec`` (module docstring)."""
    if v.v2g_dc and spec.charger_dc_bidirectional:
        return spec.charger_p_max_kw, spec.charger_p_max_kw
    p_kw = min(spec.charger_p_max_kw, v.p_ac_max_w / W_PER_KW)
    return p_kw, p_kw if (v.v2g_ac and spec.charger_ac_bidirectional) else 0.0


FLEET_COLUMNS: tuple[str, ...] = (
    "stay_id",
    "user_id",
    "vehicle_model",
    "capacity_kwh",
    "soc_arrival",
    "soc_min",
    "soc_wish",
    "p_max_charge_kw",
    "p_max_discharge_kw",
    "v2b",
    "consent",
    "arrival_s",
    "departure_s",
    "age_years",
    "q_cal_start",
    "q_cyc_start",
)
"""Columns of :func:`draw_fleet`'s table: ``departure_s`` is the declared departure (the
stay's); ``v2b`` whether the car can discharge through the car park's charger;
``p_max_discharge_kw`` is 0 where it cannot; ``consent`` whether the user accepted the GDPR
terms and lets the energy manager use the car (step 3.1)."""


def draw_fleet(stays: pd.DataFrame, spec: FleetSpec, *, seed: int) -> pd.DataFrame:
    """One car per row of ``stays`` (:data:`.parking.STAY_COLUMNS`), as :data:`FLEET_COLUMNS`.

    Drawn from ``rng_for(seed, "porto/fleet")`` in this order, each one value per stay: the
    car model (by ``share``), SOC at home, trip length, ``soc_wish``, ``soc_min``, consent and
    the car's age.  ``soc_arrival = max(soc_home − trip_km·kwh_per_km/capacity,
    soc_arrival_floor)``.  The user of stay ``P00012`` is ``user/P00012``.
    """
    spec.validate()
    missing = [c for c in ("stay_id", "arrival_s", "departure_s") if c not in stays.columns]
    if missing:
        raise ScenarioError(f"porto fleet: stay table lacks columns {missing}")
    arr = stays["arrival_s"].to_numpy(dtype=float)
    dep = stays["departure_s"].to_numpy(dtype=float)
    if not (np.all(np.isfinite(arr)) and np.all(np.isfinite(dep)) and np.all(dep > arr)):
        raise ScenarioError(
            "porto fleet: stays need finite arrival_s and departure_s with departure after arrival"
        )
    n = len(stays)
    models = spec.vehicles
    rng = rng_for(seed, STREAM)
    model: IntArray = rng.choice(len(models), size=n, p=np.array([m.share for m in models]))
    soc_home = rng.uniform(*spec.soc_home_range, n)
    trip_km = rng.uniform(*spec.trip_km_range, n)
    soc_wish = rng.uniform(*spec.soc_wish_range, n)
    soc_min = rng.uniform(*spec.soc_min_range, n)
    consent = rng.random(n) < spec.p_consent
    age = rng.uniform(0.0, spec.vehicle_age_max_years, n)
    cap = np.array([m.capacity_kwh for m in models], dtype=float)[model]
    limits = np.array([_limits_kw(spec, m) for m in models], dtype=float).reshape(-1, 2)[model]
    v2b = np.array([_v2b(spec, m) for m in models], dtype=bool)[model]
    soc0 = np.maximum(soc_home - trip_km * spec.kwh_per_km / cap, spec.soc_arrival_floor)
    q_cal, q_cyc = initial_losses(age, cap, spec.history) if n else (age, age)
    sid = stays["stay_id"].astype(str).tolist()
    return pd.DataFrame(
        {
            "stay_id": sid,
            "user_id": [f"user/{s}" for s in sid],
            "vehicle_model": [models[int(j)].name for j in model],
            "capacity_kwh": cap,
            "soc_arrival": soc0,
            "soc_min": soc_min,
            "soc_wish": soc_wish,
            "p_max_charge_kw": limits[:, 0],
            "p_max_discharge_kw": limits[:, 1],
            "v2b": v2b,
            "consent": consent,
            "arrival_s": arr,
            "departure_s": dep,
            "age_years": age,
            "q_cal_start": q_cal,
            "q_cyc_start": q_cyc,
        },
        columns=list(FLEET_COLUMNS),
    )


def soc_at_start(
    soc_arrival: npt.ArrayLike,
    soc_target: npt.ArrayLike,
    p_charge_kw: npt.ArrayLike,
    capacity_kwh: npt.ArrayLike,
    parked_s: npt.ArrayLike,
    *,
    eta_charge: float,
) -> FloatArray:
    """SOC at the run's start of cars plugged in ``parked_s`` [s] before it (0: not parked).

    A car parked before the start has been on its charger since it arrived: it charged as a
    plain charger does (the ``uncontrolled`` rule) at ``p_charge_kw`` [kW, the car's limit at the
    car park's charger] with battery-side efficiency ``eta_charge`` into ``capacity_kwh`` [kWh,
    the capacity the FMU's SOC counts], up to ``soc_target``; a car that arrived at or above its
    target keeps its arrival SOC.  **Assumption**: the same start state under every strategy
    (so the strategies stay comparable), no management before the start, no ageing from it.
    ``soc_start = soc_arr + min(η·P·t / C, (target − soc_arr)⁺)``.
    """
    soc0 = np.asarray(soc_arrival, dtype=float)
    target = np.asarray(soc_target, dtype=float)
    p_kw = np.asarray(p_charge_kw, dtype=float)
    cap = np.asarray(capacity_kwh, dtype=float)
    t_s = np.asarray(parked_s, dtype=float)
    if not 0.0 < eta_charge <= 1.0:
        raise ScenarioError(f"porto fleet: eta_charge must be in (0, 1], got {eta_charge}")
    if np.any(cap <= 0) or np.any(p_kw < 0) or np.any(t_s < 0):
        raise ScenarioError("porto fleet: need capacity_kwh > 0, p_charge_kw >= 0, parked_s >= 0")
    gain = eta_charge * p_kw * t_s / 3600.0 / cap
    out: FloatArray = soc0 + np.minimum(gain, np.maximum(target - soc0, 0.0))
    return out


def ev_arrays(
    fleet: pd.DataFrame,
    soc: npt.ArrayLike,
    *,
    connected: npt.ArrayLike | None = None,
    soc_max: float = 1.0,
    allow_discharge: bool = True,
) -> EvArrays:
    """Return the fleet's rows as :class:`~v2xcosim.domain.cs_ems.EvArrays` (W, s) at ``soc``.

    Target = ``soc_wish``; discharge allowed (``p_max_discharge_kw``) only for ``v2b`` cars
    whose user consented and when ``allow_discharge`` (False for the unidirectional
    strategies); ``connected`` defaults to every row.
    """
    missing = [c for c in FLEET_COLUMNS if c not in fleet.columns]
    if missing:
        raise ScenarioError(f"porto fleet: fleet table lacks columns {missing}")
    n = len(fleet)
    s = np.asarray(soc, dtype=float)
    conn = np.ones(n, dtype=bool) if connected is None else np.asarray(connected, dtype=bool)
    if s.shape != (n,) or conn.shape != (n,):
        raise ScenarioError(f"porto fleet: soc and connected need shape ({n},)")
    may = fleet["v2b"].to_numpy(dtype=bool) & fleet["consent"].to_numpy(dtype=bool)
    p_dis_w = fleet["p_max_discharge_kw"].to_numpy(dtype=float) * W_PER_KW
    return EvArrays(
        soc=s,
        capacity_kwh=fleet["capacity_kwh"].to_numpy(dtype=float),
        departure_s=fleet["departure_s"].to_numpy(dtype=float),
        soc_target=fleet["soc_wish"].to_numpy(dtype=float),
        soc_min=fleet["soc_min"].to_numpy(dtype=float),
        soc_max=np.full(n, soc_max),
        p_max_charge_w=fleet["p_max_charge_kw"].to_numpy(dtype=float) * W_PER_KW,
        p_max_discharge_w=np.where(may & allow_discharge, p_dis_w, 0.0),
        connected=conn,
    )


__all__ = [
    "FLEET_COLUMNS",
    "PORTO_MEAN_T_K",
    "PORTUGAL_2025_FLEET",
    "STREAM",
    "FleetSpec",
    "draw_fleet",
    "ev_arrays",
    "soc_at_start",
    "v2b_share",
]
