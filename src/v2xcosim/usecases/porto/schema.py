"""Scenario schema of the Porto airport V2B use case (``use_case = "porto"``).

Network, weather, terminal, car park, cars, tariff and actors are built in; the scenario file
sets them through ``[porto.*]``, ``[control]`` and ``[dso_event]``.  Every default is the one of
the module that uses it (:mod:`.parking`, :mod:`.fleet`, :mod:`.network`, :mod:`.tariff`,
:mod:`.terminal`, :mod:`.webapp`), so a file that leaves a key out runs those modules' stated
assumptions; ``scenarios/porto/README.md`` lists every assumption and its source.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from v2xcosim.config.base import Fraction, Spec
from v2xcosim.config.common import ScenarioBase

PortoStrategy = Literal["uncontrolled", "smart", "v2b"]
"""``uncontrolled``: full power from arrival to the wish; ``smart``: the BEMS without
discharge; ``v2b``: the BEMS with discharge (vehicle-to-building)."""


class ParkingSection(Spec):
    """``[porto.parking]``: the long-term stays (:class:`~.parking.StaySpec`)."""

    arrivals_per_day: float = Field(default=45.0, ge=0, le=2000, description="EV stays per day")
    reservation_share: Fraction = Field(default=0.6, description="booked online ahead (step 1)")
    warmup_days: int = Field(
        default=7, ge=0, le=30, description="days drawn before the start (cars parked at start)"
    )


class FleetSection(Spec):
    """``[porto.fleet]``: the cars and their users' choices (:class:`~.fleet.FleetSpec`)."""

    p_consent: Fraction = Field(default=0.7, description="users accepting GDPR terms and V2B")
    soc_wish_min: Fraction = 0.6
    soc_wish_max: Fraction = 0.9
    soc_min_min: Fraction = 0.2
    soc_min_max: Fraction = 0.4
    vehicle_age_max_years: float = Field(default=5.0, ge=0, le=30)

    @model_validator(mode="after")
    def _ranges(self) -> FleetSection:
        if not self.soc_wish_min <= self.soc_wish_max:
            raise ValueError("soc_wish_min must not exceed soc_wish_max")
        if not self.soc_min_min <= self.soc_min_max <= self.soc_wish_min:
            raise ValueError("need soc_min_min <= soc_min_max <= soc_wish_min")
        return self


class NetworkSection(Spec):
    """``[porto.network]``: the car park's chargers (:class:`~.network.PortoNetworkSpec`)."""

    charger_groups: int = Field(default=10, ge=1, le=50, description="LV cables of chargers")
    chargers_per_group: int = Field(default=20, ge=1, le=60)
    charger_kw: float = Field(default=11.0, gt=0, le=50.0, description="rating, both ways")
    terminal_cos_phi: float = Field(default=0.95, gt=0, le=1)


class TariffSection(Spec):
    """``[porto.tariff]``: the MV time-of-use tariff (:func:`~.tariff.mv_tariff`), EUR.

    ``contracted_kw`` (required, > 0): the contracted power ("potência contratada") carried in
    from the ``contracted_ratchet_months`` before the start — the largest 15-minute mean import
    of that time; a new maximum above it is billed in the run's prorated charge and, as the
    ratchet term, for the remaining months (:meth:`~v2xcosim.domain.tariff.TouTariff.bill`).
    ``contracted_ratchet_months``: how long a new maximum stays billed (12: the Portuguese MV
    rule as data-facts gives it, unverified — an assumption; 0: no ratchet).
    """

    ponta_eur_per_kwh: float = Field(default=0.19, ge=0)
    cheias_eur_per_kwh: float = Field(default=0.15, ge=0)
    vazio_normal_eur_per_kwh: float = Field(default=0.11, ge=0)
    super_vazio_eur_per_kwh: float = Field(default=0.10, ge=0)
    peak_power_eur_per_kw_month: float = Field(default=9.0, ge=0)
    contracted_power_eur_per_kw_month: float = Field(default=1.2, ge=0)
    contracted_kw: float = Field(
        gt=0, description="contracted power carried in from the ratchet's months before [kW]"
    )
    contracted_ratchet_months: float = Field(
        default=12.0, ge=0, le=36, description="months a new 15-minute maximum stays billed"
    )


class TerminalSection(Spec):
    """``[porto.terminal]``: the terminal's use (:mod:`.terminal`; its FMU keeps its defaults)."""

    p_base_day_kw: float = Field(default=6000.0, ge=0, description="base load, day level")
    p_base_night_kw: float = Field(default=2200.0, ge=0, description="base load, night floor")
    people_day: float = Field(default=8000.0, ge=0, description="people in the terminal by day")
    solar_aperture_m2: float = Field(default=5000.0, ge=0, description="effective glazing")
    base_heat_share: Fraction = Field(default=0.9, description="base load released as heat")
    warmup_days: int = Field(default=14, ge=0, le=60, description="thermal warm-up before start")


class WebAppSection(Spec):
    """``[porto.webapp]``: what users pay and get (:class:`~.webapp.WebAppConfig`), EUR/kWh."""

    tariff_eur_per_kwh: float = Field(default=0.30, ge=0)
    v2b_compensation_eur_per_kwh: float = Field(default=0.10, ge=0)


class PortoSpec(Spec):
    """``[porto]``: the built-in airport; sub-tables per module; EV FMU settings here."""

    parking: ParkingSection = Field(default_factory=ParkingSection)
    fleet: FleetSection = Field(default_factory=FleetSection)
    network: NetworkSection = Field(default_factory=NetworkSection)
    tariff: TariffSection
    terminal: TerminalSection = Field(default_factory=TerminalSection)
    webapp: WebAppSection = Field(default_factory=WebAppSection)
    fmu_soc_min: Fraction = Field(default=0.05, description="EV FMU BMS lower SOC limit")
    fmu_soc_max: Fraction = Field(default=0.95, description="EV FMU BMS upper SOC limit")
    fmu_reference_capacity_kwh: float = Field(
        default=59.0, gt=0, description="capacity of the EV FMU at n_parallel = 80"
    )
    fmu_instance_parameters: dict[str, float | int | bool] = Field(
        default_factory=dict, description="FMU-wide parameters of the fleet FMU (solver.*)"
    )

    @model_validator(mode="after")
    def _fmu_band(self) -> PortoSpec:
        if self.fmu_soc_min >= self.fmu_soc_max:
            raise ValueError("fmu_soc_min must be below fmu_soc_max")
        return self


class PortoControlSpec(Spec):
    """``[control]``: the strategy, the BEMS's rolling horizon and the CS EMS guard.

    The BEMS re-solves on arrivals, departures and DSO signals, and at the latest
    ``replan_h`` after its last plan; each plan covers ``horizon_h``.  ``wear_eur_per_kwh``:
    battery wear per kWh of throughput the BEMS prices; unset (default), the marginal cycle
    ageing of the EV FMU's own law for the fleet's median car cycled daily between its V2B floor
    and its wish (:func:`~v2xcosim.usecases.porto.wiring.bems_wear_eur_per_kwh`).
    ``guard_eta_discharge``: the discharge efficiency the CS EMS guard assumes when it keeps a
    car above its V2B floor — a lower bound of the FMU's (setpoint to SOC energy 0.89–1.0 at
    discharges above 1 kW in the July week's Tuesday and Wednesday; 0.88 with a margin,
    assumption).  ``import_limit_margin_kw``: the BEMS plans the import this far below a
    DSO limit (100 kW, assumption: about nine plain-charging cars of 11 kW arriving unforeseen
    in the window, and the FMU's losses beyond the BEMS's linear model).  ``dso_shoulder_h``:
    over this time before and after each DSO window the BEMS plans the import at most at the
    limit itself (without the margin), or at the building's own forecast where that is higher
    (the cars may not lift the import above the limit there, and owe no discharge): what it
    sheds in the window must not come back as a new maximum at the window's edges, where the
    terminal's afternoon plateau is still within a few hundred kW of the peak (2 h,
    assumption: the terminal's load falls below the July limit about 2 h either side of its
    16:00 maximum).  ``min_discharge_kw``: the weakest discharge a charger delivers; a weaker
    discharge setpoint becomes that or 0 (:func:`~.flow.discharge_floor`; 4.1 kW = IEC
    61851-1's 6-A minimum current × 3 phases × 230 V, **assumption** for the DC chargers of the
    DC V2B cars too).  ``min_charge_kw``: the weakest charging a managed car's charger
    delivers (the same 6 A; :func:`~.flow.charge_floor`): a weaker setpoint becomes that or 0,
    or the guard's upper bound where the car's top is nearer.
    """

    strategy: PortoStrategy = "v2b"
    horizon_h: float = Field(default=24.0, gt=0, le=168)
    replan_h: float = Field(default=4.0, gt=0, le=168)
    soc_max: Fraction = Field(default=0.92, description="upper SOC the BEMS/CS EMS charge to")
    target_margin_soc: float = Field(default=0.005, ge=0, le=0.1)
    eta_charge: float = Field(default=0.92, gt=0, le=1)
    eta_discharge: float = Field(default=0.92, gt=0, le=1)
    wear_eur_per_kwh: float | None = Field(default=None, ge=0)
    guard_eta_discharge: float = Field(default=0.88, gt=0, le=1)
    import_limit_margin_kw: float = Field(
        default=100.0, ge=0, description="the BEMS plans this far below a DSO import limit"
    )
    min_discharge_kw: float = Field(
        default=4.1, ge=0, le=50, description="smallest discharge a charger delivers [kW]"
    )
    min_charge_kw: float = Field(
        default=4.1, ge=0, le=50, description="smallest charging of a managed car [kW]"
    )
    dso_shoulder_h: float = Field(
        default=2.0, ge=0, le=24, description="the DSO limit also holds this long either side"
    )


DsoEventMode = Literal["forecast_peak", "fixed"]
"""``forecast_peak``: the DSO calls its events at its own forecast of the week's largest import
(:mod:`~v2xcosim.usecases.porto.dso`); ``fixed``: one hand-placed window."""


class DsoEventSpec(Spec):
    """``[dso_event]``: OpenADR-like import limits at the airport's MV connection.

    ``mode = "forecast_peak"`` (default): the DSO's rule of :mod:`~v2xcosim.usecases.porto.dso`
    — per local week, limit = the week's forecast maximum − ``shave_kw``, and on each day whose
    forecast maximum is within ``band_kw`` of it a window: the contiguous span around that
    day's maximum where the forecast exceeds the limit, at most ``max_window_h``.
    ``mode = "fixed"``: ``start``/``end`` (ISO 8601 with offset) bound one window and
    ``limit_mw`` is the import allowed in it (all three required, only in this mode).  The BEMS
    learns of each event ``notice_h`` before its start (step 10.1).
    """

    mode: DsoEventMode = "forecast_peak"
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    limit_mw: float | None = Field(default=None, gt=0)
    notice_h: float = Field(default=24.0, ge=0, le=168)
    max_window_h: float = Field(
        default=6.0, gt=0, le=24, description="forecast_peak: longest window [h]"
    )
    band_kw: float = Field(
        default=250.0, ge=0, description="forecast_peak: days within this of the week's max [kW]"
    )
    shave_kw: float = Field(
        default=200.0, ge=0, description="forecast_peak: limit below the forecast max [kW]"
    )

    @model_validator(mode="after")
    def _window(self) -> DsoEventSpec:
        fixed = {"start": self.start, "end": self.end, "limit_mw": self.limit_mw}
        if self.mode == "fixed":
            missing = [k for k, v in fixed.items() if v is None]
            if missing:
                raise ValueError(
                    f'mode = "fixed" needs {", ".join(missing)} (or use mode = "forecast_peak")'
                )
            assert self.start is not None and self.end is not None
            if self.end <= self.start:
                raise ValueError("end must be after start")
        else:
            given = [k for k, v in fixed.items() if v is not None]
            if given:
                raise ValueError(
                    f'{", ".join(given)} only with mode = "fixed"; mode "forecast_peak" places '
                    "the window and limit itself (max_window_h, band_kw, shave_kw)"
                )
        return self

    @property
    def start_utc(self) -> dt.datetime:
        """Window start in UTC (``fixed`` mode)."""
        if self.start is None:
            raise ValueError("dso_event.start: only in mode fixed")
        return self.start.astimezone(dt.UTC)

    @property
    def end_utc(self) -> dt.datetime:
        """Window end in UTC (``fixed`` mode)."""
        if self.end is None:
            raise ValueError("dso_event.end: only in mode fixed")
        return self.end.astimezone(dt.UTC)


class PortoScenario(ScenarioBase):
    """A complete Porto scenario (``scenarios/porto_v2b.toml`` shows every key)."""

    use_case: Literal["porto"] = "porto"
    porto: PortoSpec
    control: PortoControlSpec = Field(default_factory=PortoControlSpec)
    dso_event: DsoEventSpec | None = None


def check(spec: PortoScenario) -> list[tuple[str, str]]:
    """Check the quarter-hour grid the tariff and the BEMS work on, and the event window."""
    problems: list[tuple[str, str]] = []
    if spec.grid.batch_steps > 0:
        problems.append(
            (
                "grid.batch_steps",
                "porto closes loops through the grid (the chargers' voltages are fed back to the "
                "fleet one step later and the BEMS reads the site's metered power every step), so"
                " each step is solved before the next: set grid.batch_steps = 0",
            )
        )
    if 900 % spec.time.step_s:
        problems.append(("time.step_s", "must divide 900 s (the tariff's quarter hour) for porto"))
    start = spec.time.start_utc
    if (start.minute * 60 + start.second) % 900 or start.microsecond:
        problems.append(("time.start", "must be on a quarter hour for porto"))
    if spec.time.duration_s % 900:
        problems.append(("time.duration_s", "must be a multiple of 900 s for porto"))
    ev = spec.dso_event
    if ev is not None and ev.mode == "fixed":
        end = start + dt.timedelta(seconds=spec.time.duration_s)
        if ev.end_utc <= start or ev.start_utc >= end:
            problems.append(("dso_event.start", "the event window lies outside the horizon"))
    if spec.porto.fleet.soc_wish_max + spec.control.target_margin_soc > spec.control.soc_max:
        problems.append(
            (
                "control.soc_max",
                "must be at least porto.fleet.soc_wish_max + control.target_margin_soc",
            )
        )
    if spec.control.soc_max > spec.porto.fmu_soc_max:
        problems.append(("control.soc_max", "must not exceed porto.fmu_soc_max"))
    from v2xcosim.config.fmu import solver_parameter_problems

    for msg in solver_parameter_problems(spec.porto.fmu_instance_parameters):
        problems.append(("porto.fmu_instance_parameters", msg))
    return problems


__all__ = [
    "DsoEventMode",
    "DsoEventSpec",
    "PortoControlSpec",
    "PortoScenario",
    "PortoSpec",
    "PortoStrategy",
    "check",
]
