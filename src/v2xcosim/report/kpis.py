"""One KPI vocabulary: every name a run's ``kpis.json`` may hold, with its unit and meaning.

A quantity has one name and one unit in every use case.  Names carry their unit: ``_mwh``,
``_mw``, ``_kwh``, ``_kw``, ``_pct`` (percent), ``_pu``, ``_eur``, ``_mvar``; counts name what
they count (``_steps``, ``_bus_steps``, ``_bus_hours``, ``sessions``).  Energies and powers of
the grid are in MWh and MW, loadings in %; energies and powers of EVs and sessions in kWh and kW.
:data:`KPIS` is the table (name -> unit, one-line definition); its unit ``"1"`` is a
dimensionless ratio, ``""`` a label, a verdict or a nested block.

The grid KPIs are computed from a run's grid table the same way for every use case
(:func:`grid_kpis`).  Its columns: ``p_slack_w`` (W through the slack, i.e. the substation
transformer to the upstream grid, load convention: + = import, − = reverse flow), ``p_loss_w``
(W), ``converged`` (1/0), ``vm_pu[<bus>]``, ``line_loading_percent[<line>]``,
``trafo_loading_percent[<trafo>]``.  A step whose power flow did not converge holds NaN there:
it adds nothing to an energy and is left out of an extreme (NaN if no step converged; JSON
``null``), and none of this raises a numpy warning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from v2xcosim.report.results import vector_columns

FloatArray = npt.NDArray[np.float64]

VOLTAGE_WINDOW_S = 600
"""EN 50160 judges the supply voltage on 10-minute mean r.m.s. values: the default window of
:func:`voltage_violation_bus_hours` (a use case may set its own window in its schema)."""


@dataclass(frozen=True)
class Kpi:
    """Unit and one-line definition of a KPI name."""

    unit: str
    definition: str


KPIS: Mapping[str, Kpi] = MappingProxyType(
    {
        # run
        "use_case": Kpi("", "use case of the run (scenario key use_case)"),
        "strategy": Kpi("", "control strategy of the run (control.strategy)"),
        "steps": Kpi("steps", "simulated steps (rows of the grid table)"),
        "checks": Kpi("", "each check of [checks]: flagged (a failure exits 1) and passed"),
        "checks_passed": Kpi("", "true when every flagged check passed"),
        "kpi_notes": Kpi("", "notes on how KPIs were computed in this run (e.g. no 10-min means)"),
        # grid at the slack (substation transformer to the upstream grid)
        "nonconverged_steps": Kpi(
            "steps", "steps whose power flow did not converge (left out of energies and extremes)"
        ),
        "import_energy_mwh": Kpi(
            "MWh", "energy drawn from the upstream grid through the slack: Σ max(P, 0) × Δt"
        ),
        "import_peak_mw": Kpi(
            "MW", "largest power drawn from the upstream grid through the slack, over the steps"
        ),
        "reverse_flow_energy_mwh": Kpi(
            "MWh", "energy fed back into the upstream grid through the slack: Σ max(−P, 0) × Δt"
        ),
        "reverse_flow_peak_mw": Kpi(
            "MW", "largest power fed back into the upstream grid through the slack, over the steps"
        ),
        "reverse_flow_steps": Kpi("steps", "steps with reverse flow through the slack (P < 0)"),
        "losses_mwh": Kpi("MWh", "active-power losses of the network: Σ P_loss × Δt"),
        "q_import_max_mvar": Kpi(
            "Mvar", "largest reactive power drawn from the upstream grid through the slack"
        ),
        "q_export_max_mvar": Kpi(
            "Mvar", "largest reactive power fed into the upstream grid through the slack"
        ),
        # voltages and loadings
        "vm_min_pu": Kpi("pu", "lowest bus voltage over the buses and steps (step values)"),
        "vm_max_pu": Kpi("pu", "highest bus voltage over the buses and steps (step values)"),
        "voltage_violation_bus_hours": Kpi(
            "bus·h",
            "bus × hours of 10-min mean voltages (EN 50160; the step if longer) outside "
            "grid.v_min_pu–v_max_pu",
        ),
        "vm_min_10min_pu": Kpi(
            "pu", "lowest 10-min mean bus voltage (EN 50160); null when step_s > 600 (kpi_notes)"
        ),
        "vm_max_10min_pu": Kpi(
            "pu", "highest 10-min mean bus voltage (EN 50160); null when step_s > 600 (kpi_notes)"
        ),
        "max_line_loading_10min_pct": Kpi(
            "%", "highest 10-min mean line loading; null when step_s > 600 (kpi_notes)"
        ),
        "max_trafo_loading_10min_pct": Kpi(
            "%", "highest 10-min mean transformer loading; null when step_s > 600 (kpi_notes)"
        ),
        "voltage_violation_bus_steps": Kpi(
            "bus·steps", "bus × steps whose step voltage is outside grid.v_min_pu–v_max_pu"
        ),
        "max_line_loading_pct": Kpi("%", "highest line loading over the lines and steps"),
        "max_trafo_loading_pct": Kpi(
            "%", "highest transformer loading over the transformers and steps"
        ),
        "overloaded_line_steps": Kpi(
            "line·steps", "line × steps loaded above grid.max_line_loading_percent"
        ),
        "overloaded_trafo_steps": Kpi(
            "trafo·steps", "transformer × steps loaded above grid.max_trafo_loading_percent"
        ),
        # LV feeders of charging sites
        "lv_reverse_flow_energy_mwh": Kpi(
            "MWh", "Σ over the sites' MV/LV transformers of their reverse-flow energy"
        ),
        "lv_reverse_flow_peak_mw": Kpi(
            "MW", "peak over the steps of Σ over the sites' MV/LV transformers of max(−P, 0)"
        ),
        "lv_sites": Kpi("", "per charging site: its MV/LV transformer's flows and LV voltages"),
        "lv_reverse_flow_bound_smart_mwh": Kpi(
            "MWh",
            "perfect-foresight bound: least Σ LV reverse-flow energy the run's sessions (as they "
            "stayed, wishes kept, non-campaign users uncontrolled) can leave charging only",
        ),
        "lv_reverse_flow_bound_v2g_mwh": Kpi(
            "MWh",
            "as lv_reverse_flow_bound_smart_mwh with V2G-capable cars discharging too "
            "(energy-neutral: every wish still kept)",
        ),
        "lv_surplus_mwh": Kpi(
            "MWh", "Σ over the sites' MV/LV transformers of the reverse-flow energy without EVs"
        ),
        "lv_session_energy_share_of_surplus": Kpi(
            "1", "energy the connected sessions need to their wishes (grid side) / lv_surplus_mwh"
        ),
        "feeder": Kpi("", "name of the site's LV feeder"),
        "vm_charger_min_pu": Kpi("pu", "lowest voltage at the site's charger bus over the steps"),
        "vm_charger_max_pu": Kpi("pu", "highest voltage at the site's charger bus over the steps"),
        # sites and sessions
        "sites": Kpi("", "per charging site: its EVs, sessions and charging energy"),
        "evs": Kpi("EVs", "EVs at the site"),
        "sessions": Kpi("sessions", "charging sessions (of the run, or of one site)"),
        "sessions_reaching_target": Kpi(
            "sessions", "sessions whose EV reached its SOC target by departure"
        ),
        "sessions_completed": Kpi("sessions", "sessions that ended within the horizon"),
        "sessions_open_at_end": Kpi("sessions", "sessions still connected at the end (not judged)"),
        "sessions_rejected": Kpi("sessions", "sessions that found their site full and left"),
        "unserved_energy_kwh": Kpi(
            "kWh", "Σ over rejected sessions of (SOC wish − arrival SOC)⁺ × capacity"
        ),
        "early_departures": Kpi(
            "sessions", "sessions whose car left before the declared departure (not announced)"
        ),
        "early_departure_shortfall_kwh": Kpi(
            "kWh", "Σ over early departures of (SOC wish − SOC at departure)⁺ × capacity"
        ),
        "ev_energy_ac_kwh": Kpi("kWh", "net AC energy drawn by the site's EVs: Σ P_ac × Δt"),
        "ev_peak_kw": Kpi("kW", "largest total AC power drawn by the site's EVs, over the steps"),
        "soc_min": Kpi("1", "lowest SOC of the site's EVs over the steps"),
        "soc_max": Kpi("1", "highest SOC of the site's EVs over the steps"),
        "ev_energy_charged_kwh": Kpi("kWh", "energy charged in all sessions"),
        "ev_energy_discharged_kwh": Kpi("kWh", "energy discharged (V2G) in all sessions"),
        "departure_soc_shortfall_kwh": Kpi(
            "kWh",
            "Σ (SOC wish − SOC at departure)⁺ × capacity over sessions staying to their declared "
            "departure with a feasible wish (must be 0)",
        ),
        "infeasible_sessions": Kpi(
            "sessions", "completed sessions whose SOC wish was out of reach even at full power"
        ),
        "battery_throughput_kwh": Kpi("kWh", "AC throughput of all EVs: Σ |P_ac| × Δt"),
        "degradation_eur": Kpi(
            "EUR",
            "Σ over sessions of the FMU's capacity loss Δ(q_cal + q_cyc) from arrival to "
            "departure × capacity × pack price (BNEF 2024 115 USD/kWh at the ECB 2024 rate)",
        ),
        "battery_degradation_cost_eur": Kpi(
            "EUR",
            "Porto: equal to degradation_eur (the issue's name); V2G runs before "
            "degradation_eur: AC throughput × 20 EUR/MWh of the EMSP's planning wear price",
        ),
        "degradation_calendar_eur": Kpi(
            "EUR", "Porto: the calendar part of degradation_eur, Δq_cal × capacity × pack price"
        ),
        "degradation_cycle_eur": Kpi(
            "EUR", "Porto: the cycle part of degradation_eur, Δq_cyc × capacity × pack price"
        ),
        "bill_eur": Kpi("EUR", "Σ over sessions of tariff × net energy drawn"),
        "bill_uncontrolled_eur": Kpi(
            "EUR", "Σ over sessions of the bill had each been charged uncontrolled (analytic)"
        ),
        "net_change_eur": Kpi(
            "EUR", "Σ over sessions of bill − incentive − uncontrolled bill (− = users gain)"
        ),
        # a building's MV connection and its tariff (Porto)
        "building_peak_kw": Kpi(
            "kW", "largest 15-minute mean import at the building's MV connection, EVs included"
        ),
        "energy_cost_eur": Kpi(
            "EUR", "the connection's import priced by tariff period (no power charges)"
        ),
        "demand_charge_eur": Kpi(
            "EUR",
            "peak-hours power + contracted power charges, prorated to the simulated days, + the "
            "contracted-power ratchet term",
        ),
        "peak_hours_kw": Kpi("kW", "mean import in the tariff's peak hours (ponta)"),
        "peak_power_eur": Kpi("EUR", "peak-hours power charge (prorated)"),
        "contracted_kw": Kpi(
            "kW", "contracted power billed: max(carried in, largest 15-minute mean import)"
        ),
        "contracted_power_eur": Kpi("EUR", "contracted-power charge (prorated)"),
        "contracted_ratchet_excess_kw": Kpi(
            "kW", "largest 15-minute mean import above the contracted power carried in (≥ 0)"
        ),
        "contracted_ratchet_eur": Kpi(
            "EUR",
            "ratchet term: that excess × contracted-power price × the ratchet's months not in "
            "the prorated charge",
        ),
        "reactive_energy_eur": Kpi("EUR", "reactive energy beyond the tariff's tan φ threshold"),
        "connection_bill_eur": Kpi(
            "EUR", "the connection's whole tariff bill, the contracted-power ratchet term included"
        ),
        "operator_net_cost_eur": Kpi(
            "EUR",
            "building owner running the charging service: connection bill + V2B compensation "
            "− users' charges (= bill − Σ users' net bills)",
        ),
        "energy_kwh_by_period": Kpi("kWh", "the connection's import per tariff period"),
        "terminal_energy_mwh": Kpi("MWh", "electricity of the terminal (building) alone"),
        "terminal_peak_kw": Kpi("kW", "largest 15-minute mean load of the terminal alone"),
        "ev_energy_discharged_to_building_mwh": Kpi(
            "MWh", "Σ over the cars of the AC energy discharged (V2B) into the building"
        ),
        "ev_stored_energy_end_kwh": Kpi(
            "kWh", "Σ SOC × capacity of the cars still plugged in after the last step"
        ),
        "charger_power_share_of_terminal_peak": Kpi(
            "1", "the chargers' aggregate rating / the terminal's design peak"
        ),
        "sessions_managed": Kpi("sessions", "sessions whose user consented to the energy manager"),
        "sessions_v2b": Kpi("sessions", "sessions whose car may discharge (v2b strategy)"),
        "ev_user_compensation_eur": Kpi("EUR", "paid to the users per kWh their cars discharged"),
        "ev_user_bill_eur": Kpi("EUR", "Σ over sessions of the users' net bills"),
        "ev_stock_change_kwh": Kpi(
            "kWh", "net energy stored in the run in the cars still plugged in at its end"
        ),
        "mean_import_price_eur_per_kwh": Kpi(
            "EUR/kWh", "the connection's energy cost / its import energy"
        ),
        "ev_user_bill_stock_adjusted_eur": Kpi(
            "EUR", "users' bills less the stock change at their price (/η_c)"
        ),
        "operator_net_cost_stock_adjusted_eur": Kpi(
            "EUR",
            "operator's net cost with the stock change neither bought (mean import price) "
            "nor sold (users' price)",
        ),
        "dso_events": Kpi("events", "the DSO's import-limit events in the run"),
        "dso_event_windows": Kpi(
            "steps, kW", "each DSO event as [start step, end step (exclusive), limit kW]"
        ),
        "dso_event_limit_kw": Kpi("kW", "the DSO's import limit in its event windows (lowest)"),
        "dso_event_import_max_kw": Kpi("kW", "largest import in the DSO's event windows"),
        "dso_event_excess_kwh": Kpi(
            "kWh", "energy imported above each window's limit, summed over the event windows"
        ),
        "bems_solves": Kpi("solves", "BEMS re-solves of the run"),
        # flexibility market
        "flex_requested_mwh": Kpi("MWh", "flexibility requested by the DSO"),
        "flex_matched_mwh": Kpi("MWh", "flexibility matched by the market (awarded to providers)"),
        "flex_delivered_mwh": Kpi(
            "MWh", "flexibility settled: clip(metered − baseline, 0, promised), all providers"
        ),
        "market_clearing_rate": Kpi(
            "1", "matched / requested flexibility (null if none requested)"
        ),
        "dso_payments_eur": Kpi("EUR", "paid by the DSO for delivered flexibility"),
        "dso_forecast_load_bias": Kpi(
            "1", "per DSO zone: Σ forecast load in force / Σ realised load − 1 (+ = high)"
        ),
        "user_revenue_eur": Kpi("EUR", "incentives paid to the EV users"),
        "market": Kpi("", "counts of market sessions, requests, offers and awards"),
        "flex_by_provider": Kpi(
            "", "per flexibility provider: offers, awards, matched and delivered MWh, payments"
        ),
    }
)
"""KPI name -> :class:`Kpi` (unit, definition), for every use case's ``kpis.json``."""

GRID_KPI_KEYS: tuple[str, ...] = (
    "steps",
    "nonconverged_steps",
    "import_energy_mwh",
    "import_peak_mw",
    "reverse_flow_energy_mwh",
    "reverse_flow_peak_mw",
    "reverse_flow_steps",
    "losses_mwh",
    "vm_min_pu",
    "vm_max_pu",
    "voltage_violation_bus_hours",
    "max_line_loading_pct",
    "max_trafo_loading_pct",
)
"""The KPIs :func:`grid_kpis` returns."""


README_BEGIN = "<!-- kpi-table: generated by `python -m v2xcosim.report.kpis`; do not edit -->"
README_END = "<!-- /kpi-table -->"
"""Markers of the KPI table in README.md (a test keeps it equal to :func:`markdown_table`)."""


def markdown_table() -> str:
    """Return the KPI vocabulary as a Markdown table (name, unit, definition), in order."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = [README_BEGIN, "", "| KPI | unit | definition |", "|---|---|---|"]
    rows += [f"| `{k}` | {cell(v.unit) or '—'} | {cell(v.definition)} |" for k, v in KPIS.items()]
    return "\n".join([*rows, "", README_END])


def finite_max(values: npt.ArrayLike) -> float:
    """Largest finite value (NaN marks a step without a power-flow result); NaN if none."""
    a = np.asarray(values, dtype=float)
    finite = a[np.isfinite(a)]
    return float(finite.max()) if finite.size else math.nan


def finite_min(values: npt.ArrayLike) -> float:
    """Smallest finite value; NaN if none (see :func:`finite_max`)."""
    a = np.asarray(values, dtype=float)
    finite = a[np.isfinite(a)]
    return float(finite.min()) if finite.size else math.nan


def energy_mwh(power_w: npt.ArrayLike, step_s: float) -> float:
    """Energy [MWh] of a power series [W] held over steps of ``step_s``; NaN steps add nothing."""
    return float(np.nansum(np.asarray(power_w, dtype=float))) * step_s / 3.6e9


def peak_mw(power_w: npt.ArrayLike) -> float:
    """Largest finite value [MW] of a power series [W]; 0 for no steps, NaN if none finite."""
    a = np.asarray(power_w, dtype=float)
    return finite_max(a) / 1e6 if len(a) else 0.0


def voltage_violation_bus_hours(
    vm_pu: npt.ArrayLike,
    step_s: int,
    *,
    v_min_pu: float,
    v_max_pu: float,
    window_s: float = VOLTAGE_WINDOW_S,
) -> float:
    """Bus × hours whose mean voltage over a window is outside ``v_min_pu``..``v_max_pu``.

    ``vm_pu`` is (steps × buses).  A window is ``ceil(window_s / step_s)`` steps (one step if
    the step is longer); windows start at the first step and a last, incomplete window is not
    judged.  A window holding a NaN step has no mean and counts as no violation.
    """
    w = max(1, math.ceil(window_s / step_s))
    means = window_means(vm_pu, step_s, window_s)
    if not means.shape[0]:
        return 0.0
    with np.errstate(invalid="ignore"):
        bad = (means < v_min_pu) | (means > v_max_pu)
    return float(bad.sum() * w * step_s / 3600.0)


def window_means(values: npt.ArrayLike, step_s: int, window_s: float) -> FloatArray:
    """Means over consecutive windows of ``ceil(window_s / step_s)`` steps (rows of ``values``).

    Windows start at the first step; a last, incomplete window is dropped; a window holding a
    NaN step is NaN.  Returns (windows × columns).
    """
    a = np.asarray(values, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    w = max(1, math.ceil(window_s / step_s))
    n_blocks = a.shape[0] // w
    out: FloatArray = a[: n_blocks * w].reshape(n_blocks, w, a.shape[1]).mean(axis=1)
    return out


TEN_MINUTE_KPI_KEYS: tuple[str, ...] = (
    "vm_min_10min_pu",
    "vm_max_10min_pu",
    "max_line_loading_10min_pct",
    "max_trafo_loading_10min_pct",
)
"""The KPIs :func:`ten_minute_kpis` returns."""


def ten_minute_kpis(
    grid: pd.DataFrame, *, step_s: int, window_s: int = VOLTAGE_WINDOW_S
) -> tuple[dict[str, Any], list[str]]:
    """Voltage and loading extremes of ``window_s`` means (EN 50160: 10 min) and notes.

    With ``step_s`` ≤ ``window_s`` the extremes are taken over the means of
    :func:`window_means`; a step that does not divide the window gives windows of
    ``ceil(window_s / step_s)`` steps (said in a note).  With ``step_s`` > ``window_s`` no mean
    exists: the KPIs are None and a note says so (the step values are ``vm_min_pu`` …).
    """
    notes: list[str] = []
    if step_s > window_s:
        notes.append(
            f"time.step_s = {step_s} s > {window_s} s: no {window_s // 60}-minute means; "
            f"{', '.join(TEN_MINUTE_KPI_KEYS)} are null and vm_min_pu, vm_max_pu, "
            "max_*_loading_pct and voltage_violation_bus_hours use step values"
        )
        return dict.fromkeys(TEN_MINUTE_KPI_KEYS), notes
    w = math.ceil(window_s / step_s)
    if w * step_s != window_s:
        notes.append(
            f"time.step_s = {step_s} s does not divide {window_s} s: means over {w * step_s} s"
        )

    def ext(attr: str, fn: Any) -> float:
        means = window_means(vector_columns(grid, attr).to_numpy(dtype=float), step_s, window_s)
        return float(fn(means))

    out = {
        "vm_min_10min_pu": ext("vm_pu", finite_min),
        "vm_max_10min_pu": ext("vm_pu", finite_max),
        "max_line_loading_10min_pct": ext("line_loading_percent", finite_max),
        "max_trafo_loading_10min_pct": ext("trafo_loading_percent", finite_max),
    }
    return out, notes


def grid_kpis(
    grid: pd.DataFrame,
    *,
    step_s: int,
    v_min_pu: float,
    v_max_pu: float,
    voltage_window_s: float = VOLTAGE_WINDOW_S,
) -> dict[str, Any]:
    """Compute the grid KPIs of :data:`GRID_KPI_KEYS` from a run's grid table (see the module)."""
    p = grid["p_slack_w"].to_numpy(dtype=float)
    imported = np.clip(p, 0.0, None)
    reverse = np.clip(-p, 0.0, None)
    vm = vector_columns(grid, "vm_pu").to_numpy(dtype=float)
    return {
        "steps": len(grid),
        "nonconverged_steps": int((grid["converged"].to_numpy() < 0.5).sum()),
        "import_energy_mwh": energy_mwh(imported, step_s),
        "import_peak_mw": peak_mw(imported),
        "reverse_flow_energy_mwh": energy_mwh(reverse, step_s),
        "reverse_flow_peak_mw": peak_mw(reverse),
        "reverse_flow_steps": int(np.sum(reverse > 0.0)),
        "losses_mwh": energy_mwh(grid["p_loss_w"].to_numpy(dtype=float), step_s),
        "vm_min_pu": finite_min(vm),
        "vm_max_pu": finite_max(vm),
        "voltage_violation_bus_hours": voltage_violation_bus_hours(
            vm, step_s, v_min_pu=v_min_pu, v_max_pu=v_max_pu, window_s=voltage_window_s
        ),
        "max_line_loading_pct": finite_max(vector_columns(grid, "line_loading_percent")),
        "max_trafo_loading_pct": finite_max(vector_columns(grid, "trafo_loading_percent")),
    }


__all__ = [
    "GRID_KPI_KEYS",
    "KPIS",
    "README_BEGIN",
    "README_END",
    "TEN_MINUTE_KPI_KEYS",
    "VOLTAGE_WINDOW_S",
    "Kpi",
    "energy_mwh",
    "finite_max",
    "finite_min",
    "grid_kpis",
    "markdown_table",
    "peak_mw",
    "ten_minute_kpis",
    "voltage_violation_bus_hours",
    "window_means",
]


if __name__ == "__main__":  # pragma: no cover - prints the README table
    print(markdown_table())
