"""The terminal's use and its thermal model's run: the building load at the MV connection.

The terminal is the FMU ``Terminal`` (``models/V2X/Terminal.mo``, ISO 13790 5R1C, smooth ideal
thermostat; its parameters and their sources are in the model).  This module supplies its
inputs per step and runs it:

* outdoor temperature ``t_out_k`` and global horizontal irradiance from
  :func:`~v2xcosim.usecases.porto.weather.synthesise_weather` (seeded, Porto's normals);
* transmitted solar gains ``q_sol_w`` = GHI × ``solar_aperture_m2`` (5000 m²: 18,000 m² of
  facade glazing × g-value 0.4 × shading 0.6 × vertical/horizontal 0.5, plus skylights —
  **assumption**, the calibration's ``tests/terminal_year.py``);
* occupancy (**assumption**, as the calibration year): 15 % of the day level from 01:00 to
  05:00 local time, 100 % from 06:00 to 22:00, linear ramps between; weekday factors Mon..Sun
  0.95, 0.90, 0.90, 0.95, 1.05, 0.95, 1.05; a seasonal factor ``1 + 0.15·cos(2π(doy − 213)/365)``
  (summer peak);
* base electrical load ``p_base_w`` = night floor + occupancy × (day level − floor) (2.2 and
  6.0 MW, **assumption**); internal gains ``q_int_w`` = ``base_heat_share`` (0.9) × base
  load + people × occupancy × 100 W (sensible heat of a walking person, ISO 13790 Table G.8's
  order of magnitude).

With these inputs the model's calibration year gives 70.6 GWh/a (4.7 kWh per passenger at 15 M
passengers), HVAC 37.5 %, peak 12.3 MW (``models/README.md``).

**Why the terminal runs before the co-simulation**: nothing the run decides feeds back into the
building (its inputs are weather and occupancy only; the EVs change the connection's import,
not the terminal's), so the FMU is stepped over the horizon — preceded by ``warmup_days`` of
the same weather pattern so the mass temperature is not the start value — once in the plan,
with the co-simulation's step; its electrical load then enters the run as a profile (grid and
BEMS).  The BEMS's forecast of the building is this series (a perfect forecast of the
building: **assumption**; time of week and temperature predict airport load well, Transportation
Research Record 2603).  Each step holds the inputs at their step-middle values and reports the
step's mean electrical power from the FMU's energy meter ``e_el_j``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.core.errors import ScenarioError

if TYPE_CHECKING:
    from v2xcosim.usecases.porto.schema import PortoScenario

FloatArray = npt.NDArray[np.float64]

LOCAL_TZ = "Europe/Lisbon"
WEEKDAY_FACTOR: tuple[float, ...] = (0.95, 0.90, 0.90, 0.95, 1.05, 0.95, 1.05)
"""Occupancy factor Monday … Sunday (assumption, the calibration year's)."""
Q_PERSON_W = 100.0
"""Sensible heat of one person in the terminal [W] (ISO 13790 Table G.8 order; assumption)."""
INPUTS = ("t_out_k", "q_sol_w", "q_int_w", "p_base_w")
"""The FMU inputs this module drives."""
OUTPUTS = ("t_air_k", "q_hvac_w", "p_hvac_w")
"""FMU outputs kept per step (end of step) besides the mean electrical power."""


@dataclass(frozen=True)
class TerminalUse:
    """Use of the terminal (module docstring; W, m², people; assumptions)."""

    p_base_day_w: float = 6.0e6
    p_base_night_w: float = 2.2e6
    people_day: float = 8000.0
    solar_aperture_m2: float = 5000.0
    base_heat_share: float = 0.9

    def validate(self) -> None:
        """Raise :class:`ScenarioError` naming every bad value."""
        bad = [f.name for f in dataclasses.fields(self) if not getattr(self, f.name) >= 0]
        if self.base_heat_share > 1:
            bad.append("base_heat_share (<= 1)")
        if bad:
            raise ScenarioError(f"porto terminal: need values >= 0: {', '.join(bad)}")


def occupancy(times_utc: pd.DatetimeIndex) -> FloatArray:
    """Occupancy factor at ``times_utc`` (1 = the day level of an average weekday; local time)."""
    local = times_utc.tz_convert(LOCAL_TZ)
    hour = local.hour.to_numpy() + local.minute.to_numpy() / 60.0
    day = np.interp(hour, [0, 1, 5, 6, 22, 23, 24], [0.4, 0.15, 0.15, 1.0, 1.0, 0.4, 0.4])
    week = np.asarray(WEEKDAY_FACTOR)[local.dayofweek.to_numpy()]
    doy = local.dayofyear.to_numpy().astype(float)
    season = 1.0 + 0.15 * np.cos(2 * np.pi * (doy - 213.0) / 365.0)
    return np.asarray(day * week * season, dtype=np.float64)


def terminal_inputs(weather: pd.DataFrame, use: TerminalUse) -> dict[str, FloatArray]:
    """Return the FMU inputs per step from ``weather`` (:func:`synthesise_weather`), W, K.

    Occupancy is taken at each step's middle, as the weather is.
    """
    use.validate()
    index = pd.DatetimeIndex(weather.index)
    step = index[1] - index[0] if len(index) > 1 else pd.Timedelta(seconds=900)
    occ = occupancy(index + step / 2)
    p_base = use.p_base_night_w + occ * (use.p_base_day_w - use.p_base_night_w)
    return {
        "t_out_k": weather["t_out_k"].to_numpy(dtype=float),
        "q_sol_w": weather["ghi_w_m2"].to_numpy(dtype=float) * use.solar_aperture_m2,
        "q_int_w": use.base_heat_share * p_base + use.people_day * occ * Q_PERSON_W,
        "p_base_w": p_base,
    }


def run_terminal(
    fmu: Path, inputs: dict[str, FloatArray], step_s: float, *, warmup_steps: int
) -> pd.DataFrame:
    """Step the terminal FMU over ``inputs``; the first ``warmup_steps`` are not returned.

    Returns per step (after the warm-up): the inputs, ``p_el_w`` (mean electrical power of the
    step from the meter ``e_el_j``, W, load convention) and :data:`OUTPUTS` at the step's end.
    """
    from v2xcosim.fmu.runtime import run_fmu

    names = list(INPUTS)
    cols = np.column_stack([inputs[n] for n in names])
    n = len(cols)
    outs = ["e_el_j", *OUTPUTS]
    rows = np.empty((n, len(outs)))
    with run_fmu(fmu) as r:
        r.initialize(dict(zip(names, cols[0], strict=True)))
        e0 = float(r.get(["e_el_j"])[0])
        for i in range(n):
            r.set(names, cols[i])
            r.do_step(float(step_s))
            rows[i] = r.get(outs)
    e = np.concatenate([[e0], rows[:, 0]])
    out = {n: inputs[n] for n in names}
    out["p_el_w"] = np.diff(e) / step_s
    for j, name in enumerate(OUTPUTS, start=1):
        out[name] = rows[:, j]
    frame = pd.DataFrame(out).iloc[warmup_steps:].reset_index(drop=True)
    return frame


__all__ = [
    "INPUTS",
    "LOCAL_TZ",
    "OUTPUTS",
    "Q_PERSON_W",
    "WEEKDAY_FACTOR",
    "TerminalUse",
    "occupancy",
    "run_terminal",
    "terminal_inputs",
]


def terminal_use(spec: PortoScenario) -> TerminalUse:
    """Return the terminal's use of ``[porto.terminal]`` (base load W, people, aperture m²)."""
    tu = spec.porto.terminal
    return TerminalUse(
        p_base_day_w=tu.p_base_day_kw * 1e3,
        p_base_night_w=tu.p_base_night_kw * 1e3,
        people_day=tu.people_day,
        solar_aperture_m2=tu.solar_aperture_m2,
        base_heat_share=tu.base_heat_share,
    )
