"""The week scenario (``scenarios/terni_v2g_week.toml``): seven days for EN 50160's weekly rule.

The whole week runs once under ``v2g`` (``slow``: ≈ 5 min on 2 cores) and passes its own
``[checks]``; the voltage study then judges every bus over one full week (not "indicative").
``uncontrolled`` and ``smart`` run its first two days (Monday and Tuesday) and pass too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from v2xcosim import cli
from v2xcosim.scenario import load_scenario, run

ROOT = Path(__file__).resolve().parents[1]
WEEK = ROOT / "scenarios" / "terni_v2g_week.toml"


def _kpis(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "kpis.json").read_text())
    return data


def test_week_scenario_is_a_week_of_300_s_steps() -> None:
    spec = load_scenario(WEEK)
    assert spec.time.duration_s == 7 * 86400 and spec.time.step_s == 300
    assert spec.time.n_steps == 2016
    assert pd.Timestamp(spec.time.start_utc).tz_convert("Europe/Rome").day_name() == "Monday"


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["uncontrolled", "smart"])
def test_first_two_days_pass_their_checks(tmp_path: Path, strategy: str) -> None:
    spec = load_scenario(
        WEEK, [f"control.strategy={strategy}", "time.duration_s=172800", "results.plots=false"]
    )
    res = run(spec, tmp_path)
    assert res.exit_code == 0
    k = _kpis(tmp_path)
    assert k["checks_passed"] is True
    assert k["departure_soc_shortfall_kwh"] == 0.0
    assert k["steps"] == 576


@pytest.mark.slow
def test_whole_week_v2g_passes_its_checks_and_en50160_is_judged_on_the_week(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    res = run(load_scenario(WEEK, ["results.plots=false"]), out)
    assert res.exit_code == 0
    k = _kpis(out)
    assert k["checks_passed"] is True and k["steps"] == 2016
    assert k["departure_soc_shortfall_kwh"] == 0.0
    assert k["flex_requested_mwh"] > 0 and k["flex_delivered_mwh"] > 0  # the market runs
    # the requests never exceed what the DSO forecast, nor the realised reverse flow
    assert k["flex_requested_mwh"] <= k["reverse_flow_energy_mwh"]
    study = tmp_path / "study"
    assert cli.main(["study", "voltage", str(out), "--out", str(study)]) == 0
    en = pd.read_csv(study / "en50160.csv")
    assert set(en["week"]) == {1} and en["full_week"].all()
    assert set(en["verdict"]) == {"compliant"}
