"""The Portuguese MV (MT) time-of-use tariff, weekly cycle, for the airport's connection.

Periods (data-facts "Portuguese MV time-of-use periods", the weekly cycle in **legal time**;
seasons follow Portugal's legal time: "winter" while WET is in force, "summer" under WEST):

============  ==========================================================================
Mon–Fri       winter: ponta 09:30–12:00 and 18:30–21:00; cheias 07:00–09:30,
              12:00–18:30, 21:00–24:00; vazio normal 00:00–02:00 and 06:00–07:00;
              super vazio 02:00–06:00.
              summer: ponta 09:15–12:15; cheias 07:00–09:15 and 12:15–24:00; vazio and
              super vazio as in winter.
Saturday      cheias 09:30–13:00 and 18:30–22:00 (winter), 09:00–14:00 and 20:00–22:00
              (summer); super vazio 02:00–06:00; vazio normal otherwise.
Sunday        super vazio 02:00–06:00; vazio normal otherwise.
============  ==========================================================================

Public holidays follow Sunday's rule (**assumption**: the weekly cycle's treatment of
holidays was not checked in ERSE's text offline).  Holidays: the mandatory holidays of the
Portuguese Labour Code (Código do Trabalho, Lei 7/2009, art. 234, as restored by Lei 8/2016):
1 January, Good Friday, Easter Sunday, 25 April, 1 May, Corpus Christi (Easter + 60 days),
10 June, 15 August, 5 October, 1 November, 1 December, 8 December, 25 December; Easter
computed (Gregorian).  Optional holidays (Carnival, the municipal holiday, art. 235) are left
out.

Prices (**all assumptions**: no ERSE 2024/25 tariff values were available offline; plausible
all-in MV supply prices, energy + network access, for a large consumer):

* energy [EUR/kWh]: ponta 0.19, cheias 0.15, vazio normal 0.11, super vazio 0.10;
* peak-hours power ("potência em horas de ponta" = energy in ponta ÷ ponta hours):
  9.0 EUR/(kW·month) (≈ 0.30 EUR/(kW·day));
* contracted power ("potência contratada", the largest 15-minute mean of the last 12 months):
  1.2 EUR/(kW·month) (≈ 0.04 EUR/(kW·day)), prorated to the days simulated on the larger of
  the power carried in (the scenario's ``porto.tariff.contracted_kw``) and the simulated
  maximum; a new maximum stays billed for 12 months (the ratchet: data-facts gives the rule
  and flags it "verify", so an **assumption**), its remaining months reported as the bill's
  ratchet term (:meth:`~v2xcosim.domain.tariff.TouTariff.bill`);
* reactive energy: inductive energy outside vazio (ponta + cheias) beyond tan φ = 0.3 of the
  active energy (Portugal's threshold as data-facts and the brief give it; the graded
  multipliers above 0.4 and 0.5 are not modelled), 0.025 EUR/kvarh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from v2xcosim.core.errors import ScenarioError
from v2xcosim.domain.tariff import (
    ClockPeriod,
    DayClass,
    TouSchedule,
    TouTariff,
    day_periods,
    gregorian_easter,
)

LOCAL_TZ = "Europe/Lisbon"
PONTA = "ponta"
CHEIAS = "cheias"
VAZIO_NORMAL = "vazio_normal"
SUPER_VAZIO = "super_vazio"
PERIODS: tuple[str, ...] = (PONTA, CHEIAS, VAZIO_NORMAL, SUPER_VAZIO)

ENERGY_EUR_PER_KWH: dict[str, float] = {
    PONTA: 0.19,
    CHEIAS: 0.15,
    VAZIO_NORMAL: 0.11,
    SUPER_VAZIO: 0.10,
}
"""Energy price per period [EUR/kWh] (assumption, see the module docstring)."""
PEAK_POWER_EUR_PER_KW_MONTH = 9.0
"""Peak-hours power price [EUR/(kW·month)] (assumption)."""
CONTRACTED_POWER_EUR_PER_KW_MONTH = 1.2
"""Contracted power price [EUR/(kW·month)] (assumption)."""
CONTRACTED_RATCHET_MONTHS = 12.0
"""Months a new contracted-power maximum stays billed (data-facts, unverified: assumption)."""
REACTIVE_TAN_PHI_MAX = 0.3
"""Free inductive reactive energy as a share of active energy outside vazio."""
REACTIVE_EUR_PER_KVARH = 0.025
"""Price of reactive energy beyond the free share [EUR/kvarh] (assumption)."""
HOLIDAY_RULE_FROM_YEAR = 2016
"""First year of the present list of mandatory holidays (Lei 8/2016 restored four)."""

_WEEKDAY_NIGHT = [("00:00", "02:00", VAZIO_NORMAL), ("02:00", "06:00", SUPER_VAZIO)]
_WEEKDAY = {
    "winter": [
        *_WEEKDAY_NIGHT,
        ("06:00", "07:00", VAZIO_NORMAL),
        ("07:00", "09:30", CHEIAS),
        ("09:30", "12:00", PONTA),
        ("12:00", "18:30", CHEIAS),
        ("18:30", "21:00", PONTA),
        ("21:00", "24:00", CHEIAS),
    ],
    "summer": [
        *_WEEKDAY_NIGHT,
        ("06:00", "07:00", VAZIO_NORMAL),
        ("07:00", "09:15", CHEIAS),
        ("09:15", "12:15", PONTA),
        ("12:15", "24:00", CHEIAS),
    ],
}
_SATURDAY = {
    "winter": [
        *_WEEKDAY_NIGHT,
        ("06:00", "09:30", VAZIO_NORMAL),
        ("09:30", "13:00", CHEIAS),
        ("13:00", "18:30", VAZIO_NORMAL),
        ("18:30", "22:00", CHEIAS),
        ("22:00", "24:00", VAZIO_NORMAL),
    ],
    "summer": [
        *_WEEKDAY_NIGHT,
        ("06:00", "09:00", VAZIO_NORMAL),
        ("09:00", "14:00", CHEIAS),
        ("14:00", "20:00", VAZIO_NORMAL),
        ("20:00", "22:00", CHEIAS),
        ("22:00", "24:00", VAZIO_NORMAL),
    ],
}
_SUNDAY = [*_WEEKDAY_NIGHT, ("06:00", "24:00", VAZIO_NORMAL)]


def portuguese_holidays(year: int) -> frozenset[dt.date]:
    """Mandatory public holidays of ``year`` (Labour Code art. 234; Easter-dependent computed)."""
    if (
        isinstance(year, bool)
        or not isinstance(year, int)
        or not (HOLIDAY_RULE_FROM_YEAR <= year <= 2099)
    ):
        raise ScenarioError(
            f"porto tariff: holidays are known for {HOLIDAY_RULE_FROM_YEAR}–2099 (the present "
            f"list of art. 234), got year {year!r}"
        )
    easter = gregorian_easter(year)
    fixed = [
        (1, 1),
        (4, 25),
        (5, 1),
        (6, 10),
        (8, 15),
        (10, 5),
        (11, 1),
        (12, 1),
        (12, 8),
        (12, 25),
    ]
    days = {dt.date(year, m, d) for m, d in fixed}
    days |= {
        easter - dt.timedelta(days=2),  # Sexta-Feira Santa (Good Friday)
        easter,  # Domingo de Páscoa
        easter + dt.timedelta(days=60),  # Corpo de Deus (Corpus Christi)
    }
    return frozenset(days)


def mv_schedule(
    years: Iterable[int] = (2024, 2025, 2026), *, holidays_as_sunday: bool = True
) -> TouSchedule:
    """Build the MT weekly-cycle schedule; holidays of ``years`` follow Sunday."""
    days: dict[tuple[str, DayClass], tuple[ClockPeriod, ...]] = {}
    for season in ("winter", "summer"):
        where = f"porto tariff {season}"
        days[(season, "weekday")] = day_periods(_WEEKDAY[season], where)
        days[(season, "saturday")] = day_periods(_SATURDAY[season], where)
        days[(season, "sunday")] = day_periods(_SUNDAY, where)
    holidays: frozenset[dt.date] = frozenset()
    if holidays_as_sunday:
        holidays = frozenset().union(*(portuguese_holidays(y) for y in years))
    return TouSchedule(tz=LOCAL_TZ, days=days, season_months=None, holidays=holidays)


def mv_tariff(
    years: Iterable[int] = (2024, 2025, 2026), *, holidays_as_sunday: bool = True
) -> TouTariff:
    """Build the Portuguese MT time-of-use tariff with the assumed prices of this module."""
    return TouTariff(
        schedule=mv_schedule(years, holidays_as_sunday=holidays_as_sunday),
        energy_eur_per_kwh=dict(ENERGY_EUR_PER_KWH),
        peak_period=PONTA,
        peak_power_eur_per_kw_month=PEAK_POWER_EUR_PER_KW_MONTH,
        contracted_power_eur_per_kw_month=CONTRACTED_POWER_EUR_PER_KW_MONTH,
        contracted_ratchet_months=CONTRACTED_RATCHET_MONTHS,
        reactive_tan_phi_max=REACTIVE_TAN_PHI_MAX,
        reactive_eur_per_kvarh=REACTIVE_EUR_PER_KVARH,
        reactive_periods=frozenset({PONTA, CHEIAS}),
    )


__all__ = [
    "CHEIAS",
    "CONTRACTED_RATCHET_MONTHS",
    "ENERGY_EUR_PER_KWH",
    "LOCAL_TZ",
    "PERIODS",
    "PONTA",
    "SUPER_VAZIO",
    "VAZIO_NORMAL",
    "mv_schedule",
    "mv_tariff",
    "portuguese_holidays",
]
