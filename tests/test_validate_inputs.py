"""``v2xcosim validate`` refuses what the run would stop at: profile files, ranges, horizon.

Each case is one planted defect in the demo scenario (``--set`` or a broken copy of its load
profile file); the expected outcome is exit 2 with the key path and its TOML line, no
traceback.  The valid variants next to them (a fill rule, a raised step limit) are accepted.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from v2x_helpers import DEMO, cli

DATA = DEMO.parent / "data" / "household_h0a_2016-06-14_16.csv"
LINES = DATA.read_text().splitlines()
HEADER = [x for x in LINES if x.startswith("#")] + ["time,p_pu"]
ROWS = [x for x in LINES if x and not x.startswith("#") and not x.startswith("time,")]


def _validate(capsys: pytest.CaptureFixture[str], *overrides: str) -> tuple[int, str]:
    argv = ["validate", str(DEMO)]
    for item in overrides:
        argv += ["--set", item]
    rc = cli(argv)
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "Traceback" not in out
    return rc, out


def _csv(tmp_path: Path, rows: list[str], header: list[str] = HEADER) -> Path:
    path = tmp_path / "profile.csv"
    path.write_text("\n".join([*header, *rows]) + "\n")
    return path


def _swap(rows: list[str], i: int) -> list[str]:
    out = list(rows)
    out[i], out[i + 1] = out[i + 1], out[i]
    return out


def _set_value(rows: list[str], i: int, value: str) -> list[str]:
    out = list(rows)
    out[i] = out[i].split(",")[0] + "," + value
    return out


def _naive(rows: list[str]) -> list[str]:
    return [re.sub(r"[+-]\d\d:\d\d,", ",", r) for r in rows]


FILE_CASES: dict[str, tuple[object, str]] = {
    "nan": (lambda: _set_value(ROWS, 100, "nan"), "non-finite value 'nan'"),
    "inf": (lambda: _set_value(ROWS, 100, "inf"), "non-finite"),
    "text": (lambda: _set_value(ROWS, 100, "high"), "non-numeric"),
    "gap": (lambda: ROWS[:100] + ROWS[104:], "irregular spacing / gap"),
    "unsorted": (lambda: _swap(ROWS, 120), "not sorted"),
    "duplicate": (lambda: [*ROWS[:50], ROWS[50], *ROWS[50:]], "duplicate timestamp"),
    "naive": (lambda: _naive(ROWS), "timestamps have no time zone"),
    "mixed offsets": (lambda: _naive(ROWS[:10]) + ROWS[10:], "mix UTC offsets and naive"),
    "short": (lambda: ROWS[:150], "data end at 2016-06-15 12:15:00+00:00"),
    "starts late": (lambda: ROWS[150:], "data start at"),
    "header only": (lambda: [], "only a header"),
    "one row": (lambda: ROWS[:1], "at least two data rows, has 1"),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_profile_file_defects_are_refused_at_validate(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, expected = FILE_CASES[case]
    path = _csv(tmp_path, make())  # type: ignore[operator]
    rc, out = _validate(capsys, f"profiles.household.file='{path}'")
    assert rc == 2, out
    assert re.search(r"demo\.toml:\d+:\d+: profiles\.household\.file: ", out), out
    assert expected in out, out


def test_broken_files_are_refused_at_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = {
        "empty": (b"", "cannot read the file"),
        "binary": (bytes(range(256)) * 8, "cannot read the file"),
        "wrong column": ("\n".join(["time,value", *ROWS]).encode(), "no column(s) ['p_pu']"),
        "decimal comma ;": (
            "\n".join(
                ["time;p_pu", *[r.replace(",", ";").replace(".", ",") for r in ROWS]]
            ).encode(),
            "separated by ';'",
        ),
        "decimal comma quoted": (
            "\n".join(["time,p_pu", *[f'{r.split(",")[0]},"0,5"' for r in ROWS]]).encode(),
            "a decimal comma?",
        ),
    }
    for name, (content, expected) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_').replace(';', 'semi')}.csv"
        path.write_bytes(content)
        rc, out = _validate(capsys, f"profiles.household.file='{path}'")
        assert rc == 2, (name, out)
        assert "profiles.household.file" in out and expected in out, (name, out)


def test_dst_naive_times_are_refused_and_a_fill_rule_accepts_a_short_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2016-03-27 02:00–02:59 does not exist in Europe/Rome (spring forward)
    rows = [f"2016-03-27T{h:02d}:{m:02d}:00,0.5" for h in range(0, 4) for m in (0, 15, 30, 45)]
    path = _csv(tmp_path, rows)
    rc, out = _validate(
        capsys, f"profiles.household.file='{path}'", "profiles.household.tz='Europe/Rome'"
    )
    assert rc == 2 and "DST" in out, out
    short = _csv(tmp_path, ROWS[:150])
    rc, out = _validate(capsys, f"profiles.household.file='{short}'")
    assert rc == 2 and "fill_gaps = 'hold'" in out, out
    rc, out = _validate(
        capsys, f"profiles.household.file='{short}'", "profiles.household.fill_gaps='hold'"
    )
    assert rc == 0, out


RANGE_CASES = {
    "rtol 0": ('sites.0.fmu.instance_parameters={"solver.rtol"=0}', "solver.rtol = 0"),
    "threads -1": ('sites.0.fmu.instance_parameters={"solver.threads"=-1}', "solver.threads"),
    "threads float": ('sites.0.fmu.instance_parameters={"solver.threads"=1.5}', "whole number"),
    "t_amb below 0 K": ("sites.0.t_amb_k=-5", "sites[0].t_amb_k"),
    "t_amb profile": ("profiles.t_amb.value=-300", "ambient temperature -26.85 K"),
    "PV power": ("grid.pv.0.p_peak_kw=1e9", "grid.pv[0].p_peak_kw: Input should be less"),
    "charger power": ("sites.0.controller.p_max_kw=11000", "sites[0].controller.p_max_kw"),
    "attr": ("results.attrs=['grid.vm_kv']", "grid has no attribute 'vm_kv'"),
    "site attr": ("results.attrs=['site.residential.p_ac_kw']", "no attribute 'p_ac_kw'"),
    "pu in kW": ("profiles.household.unit='kW'", "needs pu, but is declared in 'kW'"),
    "t_amb in W": ("profiles.t_amb.unit='W'", "needs K or degC"),
    "steps": ("runner.max_steps=100", "288 steps, more than runner.max_steps = 100"),
    "overflow": ("time.start=2262-04-11T00:00:00Z", "the last representable time"),
    "fleet size": ("sites.0.n_evs=100000", "limit of MAX_SITE_EVS = 2000 per site"),
    "fleet size + 1": ("sites.0.n_evs=2001", "2001 vehicles exceed the limit of MAX_SITE_EVS"),
}


@pytest.mark.parametrize("case", sorted(RANGE_CASES))
def test_out_of_range_fields_are_refused(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    override, expected = RANGE_CASES[case]
    rc, out = _validate(capsys, override)
    assert rc == 2, out
    assert expected in out, out
    assert re.search(r"demo\.toml:\d+:\d+: ", out), out


def test_a_huge_horizon_is_refused_before_any_work(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _validate(capsys, "time.duration_s=1000000000000", "time.step_s=1000")
    assert rc == 2
    assert "1000000000 steps, more than runner.max_steps = 1000000" in out
    assert "2 problem(s)" in out  # the step count and the date overflow, both


def test_every_planted_problem_is_reported_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(tmp_path, _set_value(ROWS, 3, "nan"))
    rc, out = _validate(
        capsys,
        f"profiles.household.file='{path}'",
        'sites.0.fmu.instance_parameters={"solver.rtol"=0}',
        "results.attrs=['grid.nope']",
        "profiles.t_amb.unit='W'",
        "grid.pv.1.p_peak_kw=-1",
    )
    assert rc == 2
    assert "5 problem(s)" in out, out
    for key in (
        "profiles.household.file",
        "sites[0].fmu.instance_parameters",
        "results.attrs[0]",
        "profiles.t_amb.unit",
        "grid.pv[1].p_peak_kw",
    ):
        assert f": {key}: " in out, (key, out)


def test_the_shipped_demo_and_a_raised_step_limit_validate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _validate(capsys)[0] == 0
    rc, out = _validate(capsys, "runner.max_steps=288")
    assert rc == 0, out


TERNI = DEMO.parent / "terni_v2g.toml"
TERNI_SOLVER_CASES = {
    "rtol 0": ('{"solver.rtol"=0}', "solver.rtol = 0: a relative tolerance"),
    "rtol 1": ('{"solver.rtol"=1.0}', "solver.rtol = 1.0"),
    "rtol text": ('{"solver.rtol"=true}', "solver.rtol = True"),
    "threads -1": ('{"solver.threads"=-1}', "solver.threads = -1"),
    "threads 4097": ('{"solver.threads"=4097}', "solver.threads = 4097"),
    "threads float": ('{"solver.threads"=1.5}', "solver.threads = 1.5: give a whole number"),
}


@pytest.mark.parametrize("case", sorted(TERNI_SOLVER_CASES))
def test_terni_solver_parameters_are_range_checked(
    case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    value, expected = TERNI_SOLVER_CASES[case]
    rc = cli(["validate", str(TERNI), "--set", f"terni.fmu_instance_parameters={value}"])
    out = "".join(capsys.readouterr())
    assert rc == 2, out
    assert "1 problem(s)" in out and "Traceback" not in out
    assert re.search(r"terni_v2g\.toml:\d+:\d+: terni\.fmu_instance_parameters: " +
                     re.escape(expected), out), out


def test_terni_solver_parameters_in_range_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli(["validate", str(TERNI), "--set",
              'terni.fmu_instance_parameters={"solver.rtol"=1e-4, "solver.threads"=4096}'])
    out = "".join(capsys.readouterr())
    assert rc == 0, out
