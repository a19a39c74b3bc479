"""The machinery of ``bench/run.py --only cases`` on a tiny case (6 EVs, 15 one-minute steps).

Runs both sides through the same functions the benchmark uses (``bench_cases.run_side``) and
checks what does not depend on the machine: both give the same KPIs within the benchmark's
tolerance, the EV energy equals the schedule's (the FMU follows setpoints well inside its
limits; 2 % for the chargers' first-order response, tau = 1 s, within each 60-s step and the
losses of the charger model), the wall time splits into its parts, the naive side has one entity
and one timed FMU call per EV and step, and the extrapolation keeps the set-up once.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import bench_cases as bc  # noqa: E402

TINY = dataclasses.replace(
    bc.CASES["a"],
    key="tiny",
    evs=6,
    overrides=(
        *bc.CASES["a"].overrides,
        "time.start=2024-05-15T12:00:00+02:00",  # EVs plugged in around noon
        "time.duration_s=900",  # terni: whole 15-min intervals
        "market.providers=[]",
    ),
)


@pytest.fixture(scope="module")
def sides() -> dict[str, dict[str, object]]:
    return {side: bc.run_side(side, TINY, None) for side in ("ours", "naive")}


def test_both_sides_agree_and_follow_the_schedule(sides: dict[str, dict[str, object]]) -> None:
    ours, naive = sides["ours"], sides["naive"]
    assert isinstance(ours["kpis"], dict) and isinstance(naive["kpis"], dict)
    assert bc.compare_kpis(ours["kpis"], naive["kpis"]) == []
    spec = bc.load_spec(TINY)
    assert bc.local_offset_s(spec) == 12 * 3600
    sched = bc.schedule(TINY.evs, spec.time.n_steps, 60, 12 * 3600)
    assert np.array_equal(sched, bc.schedule(TINY.evs, 720 + 15, 60)[720:])  # noon on
    one = bc.Schedule(TINY.evs, 60, 12 * 3600).rows(np.array([7]))[0]  # the simulator's row
    assert np.array_equal(one, sched[7])
    e_sched_mwh = float(sched.sum()) * 60 / 3.6e9
    assert abs(e_sched_mwh) > 1e-4  # the window holds charging or discharging
    assert ours["kpis"]["e_ev_mwh"] == pytest.approx(e_sched_mwh, rel=0.02)


def test_split_entities_and_extrapolation(sides: dict[str, dict[str, object]]) -> None:
    for m in sides.values():
        parts = float(m["fmu_s"]) + float(m["grid_s"]) + float(m["framework_s"])  # type: ignore[arg-type]
        assert parts == pytest.approx(float(m["wall_s"]), abs=1e-9)  # type: ignore[arg-type]
        assert m["steps"] == 15 and m["grid_calls"] == 15
    assert sides["naive"]["entities"] == TINY.evs and sides["naive"]["fleet_fmus"] == 0
    assert sides["naive"]["fmu_calls"] == TINY.evs * 15
    assert sides["ours"]["fmu_calls"] == 15  # one fleet FMU for the whole case
    assert sides["ours"]["entities"] == 1 and sides["ours"]["fleet_fmus"] == 1
    sys.path.insert(0, str(BENCH))
    import run as bench_run

    m = {"steps": 10, "wall_s": 12.0, "setup_s": 2.0, "fmu_s": 3.0, "grid_s": 4.0}
    x = bench_run._extrapolated(m, 100)  # hand calculation: 2 + 10 * 10 s
    assert x == {"wall_s": 102.0, "fmu_s": 30.0, "grid_s": 40.0, "framework_s": 32.0}
    assert np.isfinite(list(x.values())).all()
