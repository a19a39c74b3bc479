"""The only mapping from the Porto scenario schema to the use case's modules and domain objects.

:func:`porto_setup` derives everything fixed before the run, deterministically in the scenario
and its seed, and the same for every strategy (the stays, cars, parking decisions and FMU slots
never depend on ``control.strategy``):

* **stays** (:func:`~.parking.draw_stays`) over the local days the horizon touches, with
  ``porto.parking.warmup_days`` drawn before the start; **times on the step grid**: arrival
  ``arr_k`` = the nearest step (cars parked before the start arrive at step 0), departure
  ``dep_k`` = the nearest step after it (≥ ``arr_k + 1``), booking ``booked_k`` = the nearest
  step, not after the arrival (bookings made before the start are made at step 0); stays
  arriving at or after the end are dropped;
* **cars** (:func:`~.fleet.draw_fleet`), one per stay;
* **the start state**: a car parked before the start has charged since it arrived, as a plain
  charger does (:func:`~.fleet.soc_at_start`: its charge limit, ``control.eta_charge``, its
  capacity less its capacity losses — the capacity the FMU's SOC counts — up to the target the
  run's guard charges it to: ``min(wish + control.target_margin_soc, control.soc_max)`` if its
  user consented, else ``control.soc_max``); ``soc_start`` is the SOC it enters the run with
  (``soc_arrival`` for the others), the same under every strategy (**assumption**);
* **parking decisions** by :func:`~.parking.simulate` on the stays at those step times: the
  run's parking manager, replaying the same events in the same order, decides the same
  (:class:`~.flow.PortoFlow` checks it);
* **FMU slots**: one slot of the fleet FMU per accepted stay (a *session*), in arrival order;
  a slot is idle (0 W) before its session arrives and after it leaves; ``n_parallel`` scales
  the reference pack to the car's capacity, the start SOC and capacity losses are the car's;
* **profiles** on the step grid, for the horizon and ``control.horizon_h`` beyond it (the
  BEMS's look-ahead): the terminal's electrical load (:mod:`.terminal`), the outdoor
  temperature, the tariff's energy price and peak-hours mask (:mod:`.tariff`);
* **the DSO's events** (:func:`~.dso.dso_events`: the DSO's rule on its own forecast, or the
  hand-placed window) as step indices (``notice_k`` when the BEMS is told);
* **the BEMS's wear prices** ``wear_car_eur_per_kwh`` (one per stay): ``control.wear_eur_per_kwh``
  for every car if set, else :func:`car_wear_eur_per_kwh` — the EV FMU's marginal cycle ageing of
  each car cycled daily between its own V2B floor and its wish; ``wear_eur_per_kwh`` is the
  median car's (:func:`bems_wear_eur_per_kwh`, reported).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.timegrid import step_times
from v2xcosim.domain.ageing import band_cycling_proxies, marginal_cycle_wear_eur_per_kwh
from v2xcosim.domain.tariff import TouTariff
from v2xcosim.usecases.porto.dso import DsoEvent, dso_events
from v2xcosim.usecases.porto.fleet import FleetSpec, draw_fleet, soc_at_start
from v2xcosim.usecases.porto.network import ChargerGroupSpec, PortoNetworkSpec
from v2xcosim.usecases.porto.parking import ParkingManager, StaySpec, draw_stays, simulate
from v2xcosim.usecases.porto.webapp import WebAppConfig

if TYPE_CHECKING:
    from v2xcosim.usecases.porto.schema import PortoScenario

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

FMU_REFERENCE_N_PARALLEL = 80.0
"""``n_parallel`` of the EV FMU's reference pack (``porto.fmu_reference_capacity_kwh``)."""
NO_EVENT = -1
"""Step index of an absent DSO event."""


def network_spec(spec: PortoScenario) -> PortoNetworkSpec:
    """Return the airport network of ``[porto.network]`` (groups ``G01``… at 60, 80, … m)."""
    n = spec.porto.network
    groups = tuple(
        ChargerGroupSpec(
            name=f"G{k + 1:02d}",
            n_chargers=n.chargers_per_group,
            p_charger_kw=n.charger_kw,
            cable_m=60.0 + 20.0 * k,
        )
        for k in range(n.charger_groups)
    )
    return PortoNetworkSpec(charger_groups=groups, terminal_cos_phi=n.terminal_cos_phi)


def stay_spec(spec: PortoScenario) -> StaySpec:
    """Return the stays of ``[porto.parking]`` over the local days the horizon touches."""
    p = spec.porto.parking
    start = pd.Timestamp(spec.time.start_utc)
    end = start + pd.Timedelta(seconds=spec.time.duration_s)
    tz = "Europe/Lisbon"
    n_days = (end.tz_convert(tz).normalize() - start.tz_convert(tz).normalize()).days + 1
    return StaySpec(
        n_days=n_days,
        warmup_days=p.warmup_days,
        arrivals_per_day=p.arrivals_per_day,
        reservation_share=p.reservation_share,
    )


def fleet_spec(spec: PortoScenario) -> FleetSpec:
    """Return the cars of ``[porto.fleet]`` at chargers of ``porto.network.charger_kw``."""
    f = spec.porto.fleet
    return FleetSpec(
        charger_p_max_kw=spec.porto.network.charger_kw,
        soc_wish_range=(f.soc_wish_min, f.soc_wish_max),
        soc_min_range=(f.soc_min_min, f.soc_min_max),
        p_consent=f.p_consent,
        vehicle_age_max_years=f.vehicle_age_max_years,
    )


def tariff(spec: PortoScenario) -> TouTariff:
    """Return the MV tariff with the prices of ``[porto.tariff]``."""
    from v2xcosim.usecases.porto.tariff import (
        CHEIAS,
        PONTA,
        SUPER_VAZIO,
        VAZIO_NORMAL,
        mv_tariff,
    )

    t = spec.porto.tariff
    start = spec.time.start_utc
    years = range(start.year - 1, start.year + 2)
    base = mv_tariff(years)
    return dataclasses.replace(
        base,
        energy_eur_per_kwh={
            PONTA: t.ponta_eur_per_kwh,
            CHEIAS: t.cheias_eur_per_kwh,
            VAZIO_NORMAL: t.vazio_normal_eur_per_kwh,
            SUPER_VAZIO: t.super_vazio_eur_per_kwh,
        },
        peak_power_eur_per_kw_month=t.peak_power_eur_per_kw_month,
        contracted_power_eur_per_kw_month=t.contracted_power_eur_per_kw_month,
        contracted_ratchet_months=t.contracted_ratchet_months,
    )


def webapp_config(spec: PortoScenario) -> WebAppConfig:
    """Return the web app's billing of ``[porto.webapp]``; credit at ``[control]``'s efficiencies.

    The energy the BEMS borrowed is returned at ``1/(η_c·η_d)`` kWh per kWh fed back, so V2B
    never costs a user the round trip (:mod:`.webapp`).
    """
    w, c = spec.porto.webapp, spec.control
    return WebAppConfig(
        tariff_eur_per_kwh=w.tariff_eur_per_kwh,
        v2b_compensation_eur_per_kwh=w.v2b_compensation_eur_per_kwh,
        credit_eta_charge=c.eta_charge,
        credit_eta_discharge=c.eta_discharge,
    )


def charger_groups(spec: PortoScenario) -> list[tuple[str, int]]:
    """``(group name, chargers)`` of the car park, for :class:`~.parking.ParkingManager`."""
    return [(g.name, g.n_chargers) for g in network_spec(spec).charger_groups]


@dataclasses.dataclass(frozen=True)
class PortoSetup:
    """Everything fixed before a Porto run (module docstring); one row per stay.

    Steps ``k`` on the run's grid (``step_s``); profiles hold ``n_steps + horizon_steps``
    values (the BEMS looks beyond the last step).  ``slot`` is -1 for a rejected stay.
    """

    start_utc: dt.datetime
    step_s: int
    n_steps: int
    horizon_steps: int
    stay_id: tuple[str, ...]
    user_id: tuple[str, ...]
    vehicle_model: tuple[str, ...]
    reserved: BoolArray
    booked_k: IntArray
    arr_k: IntArray
    dep_k: IntArray
    accepted: BoolArray
    charger: IntArray
    group: tuple[str, ...]
    reason: tuple[str, ...]
    slot: IntArray
    fleet_size: int
    capacity_kwh: FloatArray
    soc_arrival: FloatArray
    soc_start: FloatArray
    parked_before_s: FloatArray
    soc_min: FloatArray
    soc_wish: FloatArray
    p_max_charge_kw: FloatArray
    p_max_discharge_kw: FloatArray
    v2b: BoolArray
    consent: BoolArray
    age_years: FloatArray
    q_cal_start: FloatArray
    q_cyc_start: FloatArray
    n_parallel: FloatArray
    p_terminal_w: FloatArray
    t_out_k: FloatArray
    price_eur_per_mwh: FloatArray
    peak_hours: BoolArray
    t_air_k: FloatArray
    p_hvac_w: FloatArray
    ev_notice_k: IntArray
    ev_start_k: IntArray
    ev_end_k: IntArray
    ev_limit_w: FloatArray
    wear_eur_per_kwh: float
    wear_car_eur_per_kwh: FloatArray

    @property
    def events(self) -> tuple[DsoEvent, ...]:
        """The run's DSO events (:func:`~.dso.dso_events`), in start order."""
        return tuple(
            DsoEvent(notice_k=int(a), start_k=int(b), end_k=int(c), limit_w=float(d))
            for a, b, c, d in zip(
                self.ev_notice_k, self.ev_start_k, self.ev_end_k, self.ev_limit_w, strict=True
            )
        )

    @property
    def event_start_k(self) -> int:
        """First DSO event's start step (:data:`NO_EVENT` without one)."""
        return self.events[0].start_k if self.events else NO_EVENT

    @property
    def event_end_k(self) -> int:
        """First DSO event's end step, exclusive (:data:`NO_EVENT` without one)."""
        return self.events[0].end_k if self.events else NO_EVENT

    @property
    def event_notice_k(self) -> int:
        """First DSO event's notice step (:data:`NO_EVENT` without one)."""
        return self.events[0].notice_k if self.events else NO_EVENT

    @property
    def event_limit_w(self) -> float:
        """First DSO event's import limit [W] (0 without one)."""
        return self.events[0].limit_w if self.events else 0.0

    def event_mask(self) -> BoolArray:
        """Return the run's steps inside any DSO event window."""
        out = np.zeros(self.n_steps, dtype=bool)
        for e in self.events:
            out[e.start_k : min(e.end_k, self.n_steps)] = True
        return out

    @property
    def sessions(self) -> IntArray:
        """Rows of the accepted stays in slot order."""
        rows = np.flatnonzero(self.accepted)
        out: IntArray = rows[np.argsort(self.slot[rows], kind="stable")].astype(np.int64)
        return out

    def slot_vector(self, values: npt.ArrayLike, idle: float) -> list[float]:
        """Per-slot list of ``values`` (one per stay); padding slots ``idle``."""
        v = np.asarray(values, dtype=float)
        out = np.full(self.fleet_size, idle)
        rows = self.sessions
        out[self.slot[rows]] = v[rows]
        return [float(x) for x in out]

    def slot_groups(self) -> list[str]:
        """Charger group of each slot (padding slots: the first group's name)."""
        out = [self.group[int(self.sessions[0])] if len(self.sessions) else ""] * self.fleet_size
        for i in self.sessions:
            out[int(self.slot[i])] = self.group[int(i)]
        return out

    def import_limit_w(
        self,
        k0: int,
        n: int,
        *,
        announced_k: int | None = None,
        margin_w: float = 0.0,
        shoulder_steps: int = 0,
    ) -> FloatArray:
        """Return the DSO's import limit over steps ``k0 … k0+n−1`` [W] (``inf`` outside).

        ``announced_k``: only the events told by that step (``notice_k ≤ announced_k``; None:
        all).  ``margin_w``: subtracted inside the windows (the BEMS's planning margin).
        ``shoulder_steps``: the limit itself (without the margin) also holds that many steps
        before and after each window — the BEMS must not move what it sheds in the window
        into a new peak at its edges.
        """
        out = np.full(n, math.inf)
        for e in self.events:
            if announced_k is not None and e.notice_k > announced_k:
                continue
            for lo_k, hi_k, level in (
                (e.start_k - shoulder_steps, e.start_k, e.limit_w),
                (e.end_k, e.end_k + shoulder_steps, e.limit_w),
                (e.start_k, e.end_k, max(e.limit_w - margin_w, 0.0)),
            ):
                lo, hi = max(lo_k - k0, 0), min(hi_k - k0, n)
                if hi > lo:
                    out[lo:hi] = np.minimum(out[lo:hi], level)
        return out


def _rounded_stays(spec: PortoScenario, stays: pd.DataFrame) -> pd.DataFrame:
    """Stays on the step grid (module docstring); those arriving at or after the end dropped."""
    dt_s = spec.time.step_s
    arr_k = np.maximum(np.rint(stays["arrival_s"].to_numpy(float) / dt_s), 0).astype(np.int64)
    dep_k = np.maximum(np.rint(stays["departure_s"].to_numpy(float) / dt_s), arr_k + 1)
    booked = stays["booked_s"].to_numpy(float)
    booked_k = np.where(
        np.isfinite(booked),
        np.minimum(np.maximum(np.rint(np.nan_to_num(booked) / dt_s), 0), arr_k),
        -1,
    ).astype(np.int64)
    keep = arr_k < spec.time.n_steps
    out = pd.DataFrame(
        {
            "stay_id": stays["stay_id"].to_numpy()[keep],
            "reserved": stays["reserved"].to_numpy(bool)[keep],
            "booked_s": np.where(booked_k >= 0, booked_k * float(dt_s), np.nan)[keep],
            "arrival_s": (arr_k * float(dt_s))[keep],
            "departure_s": (dep_k * float(dt_s))[keep],
            "parked_before_s": np.maximum(-stays["arrival_s"].to_numpy(float), 0.0)[keep],
        }
    )
    return out.reset_index(drop=True)


def sessions_draw(spec: PortoScenario) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stays on the step grid, their cars and the parking log (same for every strategy)."""
    start = pd.Timestamp(spec.time.start_utc)
    stays = _rounded_stays(spec, draw_stays(stay_spec(spec), seed=spec.seed, start_utc=start))
    if spec.base_case:  # the documented switch: the same week without any EV
        stays = stays.iloc[:0]
    cars = draw_fleet(stays, fleet_spec(spec), seed=spec.seed)
    log = simulate(stays, ParkingManager(charger_groups(spec)))
    return stays, cars, log


def fleet_size(spec: PortoScenario) -> int:
    """Slots of the fleet FMU: the accepted stays (at least 1), without profiles."""
    _, _, log = sessions_draw(spec)
    return max(1, int(log["accepted"].sum()))


def bems_wear_eur_per_kwh(
    q_cyc_start: npt.ArrayLike, soc_min: npt.ArrayLike, soc_wish: npt.ArrayLike
) -> float:
    """Return the BEMS's wear price γ [EUR per kWh of battery throughput] from the FMU's ageing.

    :func:`~v2xcosim.domain.ageing.marginal_cycle_wear_eur_per_kwh` for the fleet's median car
    (one value per accepted stay): its cycle loss ``q_cyc_start`` at the start, and the FMU's
    V_rms and DOD proxies of a car that V2B cycles once a day between its V2B floor and its
    wish (:func:`~v2xcosim.domain.ageing.band_cycling_proxies` over the medians of ``soc_min``
    and ``soc_wish``), priced at BNEF 2024's pack price.  **Assumption**: one median car and
    one daily cycle through the band stand for the fleet.  No car: 0.
    """
    q = np.asarray(q_cyc_start, dtype=float)
    if q.size == 0:
        return 0.0
    lo = float(np.median(np.asarray(soc_min, dtype=float)))
    hi = max(float(np.median(np.asarray(soc_wish, dtype=float))), lo)
    v_rms_v, dod = band_cycling_proxies(lo, hi)
    return float(marginal_cycle_wear_eur_per_kwh(float(np.median(q)), v_rms_v=v_rms_v, dod=dod)[()])


def car_wear_eur_per_kwh(
    q_cyc_start: npt.ArrayLike, soc_min: npt.ArrayLike, soc_wish: npt.ArrayLike
) -> FloatArray:
    """Return each car's own wear price γ [EUR per kWh of battery throughput] (one per car).

    The law of :func:`bems_wear_eur_per_kwh` for each car instead of the median one: its cycle
    loss ``q_cyc_start`` at the start and the V_rms and DOD proxies of a daily cycle between its
    own V2B floor and its wish (a wish below the floor: the floor).  A young car (small
    ``q_cyc``) ages fastest per kWh (the law's slope ∝ 1/q_cyc) and so is the dearest to cycle.
    """
    q = np.asarray(q_cyc_start, dtype=float)
    lo = np.asarray(soc_min, dtype=float)
    hi = np.maximum(np.asarray(soc_wish, dtype=float), lo)
    out = np.empty(q.size)
    for n in range(q.size):
        v_rms_v, dod = band_cycling_proxies(float(lo[n]), float(hi[n]))
        out[n] = marginal_cycle_wear_eur_per_kwh(float(q[n]), v_rms_v=v_rms_v, dod=dod)[()]
    return out


def terminal_max_before(
    spec: PortoScenario, terminal_fmu: Path, *, days: float = 365.0
) -> tuple[float, pd.Timestamp]:
    """Return the terminal's largest step-mean load [kW] over the ``days`` before the run, and when.

    The same terminal FMU, use and weather generator (``synthesise_weather`` with the scenario's
    seed) as the run, over the ``days`` (default 12 months) that end at the run's start, after
    the same thermal warm-up; at 15-minute steps the step mean is the tariff's 15-minute mean.
    This is where the contracted power a Portuguese MV customer carries into the simulated week
    comes from (the 12-month ratchet, ``porto.tariff.contracted_kw``): the terminal's own maximum
    of the past year, which a run's week may or may not exceed.
    """
    from v2xcosim.usecases.porto.terminal import run_terminal, terminal_inputs, terminal_use
    from v2xcosim.usecases.porto.weather import synthesise_weather

    dt_s = spec.time.step_s
    warm = math.ceil(spec.porto.terminal.warmup_days * 86400 / dt_s)
    n = math.ceil(days * 86400 / dt_s)
    t0 = pd.Timestamp(spec.time.start_utc) - pd.Timedelta(seconds=(warm + n) * dt_s)
    weather = synthesise_weather(t0, warm + n, dt_s, spec.seed)
    term = run_terminal(
        terminal_fmu, terminal_inputs(weather, terminal_use(spec)), dt_s, warmup_steps=warm
    )
    p_kw = term["p_el_w"].to_numpy(dtype=float) / 1e3
    k = int(np.argmax(p_kw))
    return float(p_kw[k]), pd.Timestamp(weather.index[warm + k])


def porto_setup(spec: PortoScenario, terminal_fmu: Path) -> PortoSetup:
    """Compute the setup of ``spec`` (module docstring); runs the terminal FMU once."""
    from v2xcosim.usecases.porto.terminal import run_terminal, terminal_inputs, terminal_use
    from v2xcosim.usecases.porto.weather import synthesise_weather

    dt_s, n_steps = spec.time.step_s, spec.time.n_steps
    horizon = max(1, math.ceil(spec.control.horizon_h * 3600.0 / dt_s))
    stays, cars, log = sessions_draw(spec)
    dt_k = np.rint(stays["departure_s"].to_numpy(float) / dt_s).astype(np.int64)
    accepted = log["accepted"].to_numpy(bool)
    slot = np.full(len(stays), -1, dtype=np.int64)
    slot[accepted] = np.arange(int(accepted.sum()))
    # profiles: a thermal warm-up, the horizon and the BEMS's look-ahead
    tu = spec.porto.terminal
    warm = math.ceil(tu.warmup_days * 86400 / dt_s)
    n_prof = n_steps + horizon
    t0 = pd.Timestamp(spec.time.start_utc) - pd.Timedelta(seconds=warm * dt_s)
    weather = synthesise_weather(t0, warm + n_prof, dt_s, spec.seed)
    use = terminal_use(spec)
    term = run_terminal(terminal_fmu, terminal_inputs(weather, use), dt_s, warmup_steps=warm)
    times = step_times(spec.time.start_utc, n_prof, dt_s)
    tar = tariff(spec)
    price = tar.energy_prices_at(times) * 1000.0
    peak = tar.labels_at(times) == tar.peak_period
    ref = spec.porto.fmu_reference_capacity_kwh
    cap = cars["capacity_kwh"].to_numpy(float)
    c = spec.control
    soc_arrival = cars["soc_arrival"].to_numpy(float)
    parked_s = stays["parked_before_s"].to_numpy(float)
    target = np.where(
        cars["consent"].to_numpy(bool),
        np.minimum(cars["soc_wish"].to_numpy(float) + c.target_margin_soc, c.soc_max),
        c.soc_max,
    )
    aged = cap * (1.0 - cars["q_cal_start"].to_numpy(float) - cars["q_cyc_start"].to_numpy(float))
    soc_start = soc_at_start(
        soc_arrival,
        target,
        cars["p_max_charge_kw"].to_numpy(float),
        aged,
        parked_s,
        eta_charge=c.eta_charge,
    )
    events = dso_events(spec, terminal_fmu)
    return PortoSetup(
        start_utc=spec.time.start_utc,
        step_s=dt_s,
        n_steps=n_steps,
        horizon_steps=horizon,
        stay_id=tuple(stays["stay_id"].astype(str)),
        user_id=tuple(cars["user_id"].astype(str)),
        vehicle_model=tuple(cars["vehicle_model"].astype(str)),
        reserved=stays["reserved"].to_numpy(bool),
        booked_k=np.where(
            np.isfinite(stays["booked_s"].to_numpy(float)),
            np.rint(np.nan_to_num(stays["booked_s"].to_numpy(float)) / dt_s),
            -1,
        ).astype(np.int64),
        arr_k=np.rint(stays["arrival_s"].to_numpy(float) / dt_s).astype(np.int64),
        dep_k=dt_k,
        accepted=accepted,
        charger=log["charger"].to_numpy(np.int64),
        group=tuple(log["group"].astype(str)),
        reason=tuple(log["reason"].astype(str)),
        slot=slot,
        fleet_size=max(1, int(accepted.sum())),
        capacity_kwh=cap,
        soc_arrival=soc_arrival,
        soc_start=soc_start,
        parked_before_s=parked_s,
        soc_min=cars["soc_min"].to_numpy(float),
        soc_wish=cars["soc_wish"].to_numpy(float),
        p_max_charge_kw=cars["p_max_charge_kw"].to_numpy(float),
        p_max_discharge_kw=cars["p_max_discharge_kw"].to_numpy(float),
        v2b=cars["v2b"].to_numpy(bool),
        consent=cars["consent"].to_numpy(bool),
        age_years=cars["age_years"].to_numpy(float),
        q_cal_start=cars["q_cal_start"].to_numpy(float),
        q_cyc_start=cars["q_cyc_start"].to_numpy(float),
        n_parallel=FMU_REFERENCE_N_PARALLEL * cap / ref,
        p_terminal_w=term["p_el_w"].to_numpy(float),
        t_out_k=term["t_out_k"].to_numpy(float),
        price_eur_per_mwh=np.asarray(price, dtype=float),
        peak_hours=np.asarray(peak, dtype=bool),
        t_air_k=term["t_air_k"].to_numpy(float),
        p_hvac_w=term["p_hvac_w"].to_numpy(float),
        ev_notice_k=np.array([e.notice_k for e in events], dtype=np.int64),
        ev_start_k=np.array([e.start_k for e in events], dtype=np.int64),
        ev_end_k=np.array([e.end_k for e in events], dtype=np.int64),
        ev_limit_w=np.array([e.limit_w for e in events], dtype=float),
        wear_eur_per_kwh=(
            bems_wear_eur_per_kwh(
                cars["q_cyc_start"].to_numpy(float)[accepted],
                cars["soc_min"].to_numpy(float)[accepted],
                cars["soc_wish"].to_numpy(float)[accepted],
            )
            if c.wear_eur_per_kwh is None
            else c.wear_eur_per_kwh
        ),
        wear_car_eur_per_kwh=(
            car_wear_eur_per_kwh(
                cars["q_cyc_start"].to_numpy(float),
                cars["soc_min"].to_numpy(float),
                cars["soc_wish"].to_numpy(float),
            )
            if c.wear_eur_per_kwh is None
            else np.full(len(cars), c.wear_eur_per_kwh)
        ),
    )


__all__ = [
    "FMU_REFERENCE_N_PARALLEL",
    "NO_EVENT",
    "PortoSetup",
    "bems_wear_eur_per_kwh",
    "car_wear_eur_per_kwh",
    "charger_groups",
    "fleet_size",
    "fleet_spec",
    "network_spec",
    "porto_setup",
    "sessions_draw",
    "stay_spec",
    "tariff",
    "webapp_config",
]
