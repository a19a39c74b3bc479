from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v2x_helpers import DEMO
from v2xcosim.config.common import RunnerSpec
from v2xcosim.config.load import apply_overrides, parse_override
from v2xcosim.config.profiles import FileProfileSpec
from v2xcosim.core.errors import ScenarioError
from v2xcosim.scenario import load_scenario, load_scenario_as, spec_from_dict
from v2xcosim.usecases.sites.schema import SitesScenario
from v2xcosim.usecases.terni.schema import TerniScenario


def demo_data() -> dict[str, Any]:
    return tomllib.loads(DEMO.read_text())


def test_demo_is_valid() -> None:
    spec = load_scenario_as(DEMO, SitesScenario)
    assert spec.name == "demo"
    assert spec.time.n_steps == 288
    assert spec.sites[0].n_evs == 10
    household = cast(FileProfileSpec, spec.profiles["household"])
    assert household.file.is_absolute()  # resolved against the file


def test_every_problem_reported_at_once_with_key_paths() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(
            DEMO,
            [
                "time.step_s=7",
                "sites.0.n_evs=-1",
                "foo=1",
                "profiles.pv.tilt_deg=100",
                "sites.0.sessions.soc_target=1.5",
                "grid.pv.0.p_peak_kw=-3",
            ],
        )
    msg = str(err.value)
    for path in (
        "time:",
        "sites[0].n_evs",
        "foo",
        "profiles.pv.tilt_deg",
        "sites[0].sessions.soc_target",
        "grid.pv[0].p_peak_kw",
    ):
        assert path in msg, path
    assert "6 problem(s)" in msg


def test_cross_references_are_checked() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(
            DEMO,
            [
                "grid.pv.0.bus='Bus X'",
                "grid.load_profile='nope'",
                "sites.0.buses.1='Bus Y'",
                "results.attrs=['bogus']",
            ],
        )
    msg = str(err.value)
    assert "grid.pv[0].bus" in msg and "grid.load_profile" in msg
    assert "sites[0].buses[1]" in msg and "results.attrs[0]" in msg


def test_field_and_reference_problems_reported_together() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(
            DEMO, ["sites.0.n_evs=-1", "foo=1", "grid.load_profile='nope'", "grid.pv.0.bus='Bus X'"]
        )
    msg = str(err.value)
    for path in ("sites[0].n_evs", "foo", "grid.load_profile", "grid.pv[0].bus"):
        assert path in msg, path
    assert "4 problem(s)" in msg


def test_missing_data_file_names_the_path(tmp_path: Path) -> None:
    data = demo_data()
    data["profiles"]["household"]["file"] = "data/missing.csv"
    with pytest.raises(ScenarioError) as err:
        spec_from_dict(data, base_dir=DEMO.parent)
    assert str((DEMO.parent / "data/missing.csv").resolve()) in str(err.value)


def test_naive_start_time_refused() -> None:
    data = demo_data()
    data["time"]["start"] = "2016-06-15T00:00:00"
    with pytest.raises(ScenarioError, match=r"time\.start"):
        spec_from_dict(data, base_dir=DEMO.parent)


def test_duplicate_site_ids_and_param_list_length() -> None:
    data = demo_data()
    data["sites"].append(dict(data["sites"][0]))
    data["sites"][0]["fmu"] = dict(data["sites"][0]["fmu"], parameters={"p_rated_w": [1.0, 2.0]})
    with pytest.raises(ScenarioError) as err:
        spec_from_dict(data, base_dir=DEMO.parent)
    assert "duplicate site id" in str(err.value)
    assert "sites[0].fmu.parameters.p_rated_w" in str(err.value)


def test_fmu_needs_exactly_one_source() -> None:
    with pytest.raises(ScenarioError, match="exactly one"):
        load_scenario(DEMO, ["sites.0.fmu.model=''"])


def test_overrides_parse_toml_and_fall_back_to_text() -> None:
    assert parse_override("time.step_s=60") == (["time", "step_s"], 60)
    assert parse_override("base_case=true") == (["base_case"], True)
    assert parse_override("grid.network=cigre_lv") == (["grid", "network"], "cigre_lv")
    assert parse_override("x=[1, 2]") == (["x"], [1, 2])
    with pytest.raises(ScenarioError):
        parse_override("novalue")
    data = apply_overrides({"a": [{"b": 1}]}, ["a.0.b=2", "c.d='x'"])
    assert data == {"a": [{"b": 2}], "c": {"d": "x"}}
    with pytest.raises(ScenarioError, match="index"):
        apply_overrides({"a": [1]}, ["a.5=1"])


def test_base_case_switch_removes_sites() -> None:
    spec = load_scenario_as(DEMO, SitesScenario, ["base_case=true"])
    assert spec.sites and spec.active_sites == []


def test_not_toml_is_a_scenario_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "none.toml")


@settings(max_examples=60, deadline=None)
@given(
    key=st.sampled_from(
        [
            "time.step_s",
            "time.duration_s",
            "seed",
            "sites.0.n_evs",
            "grid.v_min_pu",
            "sites.0.sessions.soc_arrival_min",
            "grid.pv.0.p_peak_kw",
            "sites.0.controller.p_max_kw",
        ]
    ),
    value=st.one_of(
        st.integers(-(10**6), -1),
        st.just("'text'"),
        st.just("[1]"),
        st.floats(allow_nan=False, max_value=-1e-9),
    ),
)
def test_generated_invalid_values_rejected_without_traceback(key: str, value: float | str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(DEMO, [f"{key}={value}"])
    assert "problem(s)" in str(err.value)


def test_terni_market_providers_are_checked() -> None:
    terni = Path(__file__).resolve().parents[1] / "scenarios" / "terni_v2g.toml"
    spec = load_scenario_as(terni, TerniScenario)
    (bess,) = spec.market.providers
    assert (bess.provider_id, bess.zone, bess.kind) == ("bess_1", "primary", "battery")
    assert spec.control.discharge_min_import_mw == 1.0
    with pytest.raises(ScenarioError) as err:
        load_scenario(
            terni,
            [
                "market.providers.0.soc_initial=0.95",
                "market.providers.0.zone=somewhere",
                "market.providers.0.price_eur_per_mwh=-1",
            ],
        )
    msg = str(err.value)
    assert "market.providers[0]" in msg and "price_eur_per_mwh" in msg
    with pytest.raises(ScenarioError, match=r"market\.providers\[0\]\.zone"):
        load_scenario(terni, ["market.providers.0.zone=somewhere"])


def test_runner_limits_default_and_must_be_positive() -> None:
    assert RunnerSpec() == RunnerSpec(startup_timeout_s=600.0, stall_timeout_s=120.0)
    runner = load_scenario(DEMO, ["runner.stall_timeout_s=8"]).runner
    assert runner.startup_timeout_s == 600.0 and runner.stall_timeout_s == 8.0
    for key in ("runner.startup_timeout_s", "runner.stall_timeout_s"):
        with pytest.raises(ScenarioError, match=f"{key}: Input should be greater than 0"):
            load_scenario(DEMO, [f"{key}=0"])


def _demo_copy(tmp_path: Path, edits: dict[str, str]) -> Path:
    """The demo scenario in ``tmp_path`` (data paths absolute) with whole lines replaced."""
    text = DEMO.read_text().replace('file = "data/', f'file = "{DEMO.parent}/data/')
    for old, new in edits.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "demo.toml"
    path.write_text(text)
    return path


def _line_of(path: Path, start: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(start))


def test_quoted_numbers_and_words_are_not_coerced(tmp_path: Path) -> None:
    """Strict types: text is never read as a number or a bool; each refusal has key and line."""
    path = _demo_copy(
        tmp_path,
        {
            "base_case = false": 'base_case = "yes"',
            "step_s = 300": 'step_s = "300"',
            "seed = 20240615": 'seed = "1"',
            "load_scaling = 3.0": 'load_scaling = "3.0"',
        },
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    msg = str(err.value)
    assert "4 problem(s)" in msg, msg
    for key, start in [
        ("base_case", "base_case ="),
        ("time.step_s", "step_s ="),
        ("seed", "seed ="),
        ("grid.load_scaling", "load_scaling ="),
    ]:
        assert f"{path}:{_line_of(path, start)}:1: {key}:" in msg, msg
    assert "not the text '300' (write numbers and true/false without quotes)" in msg, msg


def test_ints_are_not_bools_and_floats_are_not_ints() -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(DEMO, ["base_case=1", "time.step_s=300.0", "results.plots='true'"])
    msg = str(err.value)
    assert "3 problem(s)" in msg and "base_case" in msg and "time.step_s" in msg, msg
    assert "results.plots" in msg
    with pytest.raises(ScenarioError, match="base_case"):
        load_scenario(DEMO, ["base_case=yes"])  # a bare word stays text, and text is not a bool


def test_set_values_keep_their_toml_types() -> None:
    """``--set`` values are TOML: numbers, bools and datetimes arrive typed, paths as text."""
    spec = load_scenario_as(
        DEMO,
        SitesScenario,
        [
            "time.step_s=600",
            "time.start=2016-06-15T00:00:00+02:00",
            "base_case=true",
            "seed=7",
            "grid.load_scaling=2",  # an int where a float is expected
            f"profiles.household.file='{DEMO.parent}/data/household_h0a_2016-06-14_16.csv'",
        ],
    )
    assert spec.time.step_s == 600 and spec.base_case is True and spec.seed == 7
    assert spec.time.start.utcoffset() is not None
    household = cast(FileProfileSpec, spec.profiles["household"])
    assert household.file.is_absolute()
