"""Generated invalid scenarios: every variant refused with exit 2, its key path named.

Variants of the shipped scenarios (``scenarios/demo.toml``, ``scenarios/terni_v2g.toml``) are
generated with hypothesis as ``--set`` overrides — unknown keys, text for numbers and booleans,
negative capacities and powers, SOC outside [0, 1], departure not after arrival (a session
duration <= 0), duplicate ids, steps not dividing the horizon, missing files and out-of-range
physical values, one to three at a time — and run through the command line's entry function
(``v2xcosim.cli.main``) in-process: exit code 2, one ``v2xcosim: error:`` message naming the key
path of every planted problem, no traceback, nothing written.  Twenty more run as real
``v2xcosim validate`` processes (``slow``); valid variants are accepted.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from v2xcosim import cli
from v2xcosim.usecases.sites import schema as sites_schema

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = {"demo": ROOT / "scenarios" / "demo.toml",
             "terni": ROOT / "scenarios" / "terni_v2g.toml"}
RAW = {k: tomllib.loads(p.read_text(encoding="utf-8")) for k, p in SCENARIOS.items()}
N_IN_PROCESS = 300  # per scenario: 600 generated invalid variants
N_PROCESSES = 20
REQUIRED = ("seed", "time")
"""Required keys: while one is broken, the cross-reference checks still run (see
:func:`test_cross_references_checked_while_a_required_key_is_broken`)."""


@dataclass(frozen=True)
class Mutation:
    """One planted problem: its ``--set`` items and the key path the message must name."""

    sets: tuple[str, ...]
    path: str
    kind: str

    @property
    def cross_reference(self) -> bool:
        """Found by the use case's cross-reference check (needs the rest of the scenario)."""
        return self.kind == "duplicate id"

    @property
    def breaks_required(self) -> bool:
        """Makes a required key (``seed``, the ``[time]`` table) unusable."""
        return self.path.split(".")[0].split("[")[0] in REQUIRED


def toml_value(value: Any) -> str:
    """Inline TOML for plain data (tables, arrays, text, numbers, booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _dotted(path: str) -> str:
    """``sites[0].n_evs`` -> ``sites.0.n_evs`` (the --set spelling)."""
    return path.replace("[", ".").replace("]", "")


negative = st.one_of(st.integers(-(10**6), -1), st.floats(-1e6, -1e-6))
outside_unit = st.one_of(st.floats(1.0 + 1e-6, 1e3), st.floats(-1e3, -1e-6))
texts = st.sampled_from(["'300'", "'yes'", "'true'", "'1e3'", "'ten'", "''"])
key_names = st.from_regex(r"[a-z][a-z_]{2,12}", fullmatch=True)


def unknown_key(prefixes: list[str]) -> st.SearchStrategy[Mutation]:
    @st.composite
    def build(draw: st.DrawFn) -> Mutation:
        prefix = draw(st.sampled_from(prefixes))
        key = "zz_" + draw(key_names)
        path = f"{prefix}.{key}" if prefix else key
        return Mutation((f"{_dotted(path)}=1",), path, "unknown key")

    return build()


def with_values(paths: list[str], values: st.SearchStrategy[Any], kind: str
                ) -> st.SearchStrategy[Mutation]:
    @st.composite
    def build(draw: st.DrawFn) -> Mutation:
        path = draw(st.sampled_from(paths))
        value = draw(values)
        shown = value if isinstance(value, str) else toml_value(value)
        return Mutation((f"{_dotted(path)}={shown}",), path, kind)

    return build()


def fixed(sets: str, path: str, kind: str) -> st.SearchStrategy[Mutation]:
    return st.just(Mutation((sets,), path, kind))


def missing_file(path: str) -> st.SearchStrategy[Mutation]:
    return st.builds(
        lambda name: Mutation((f"{_dotted(path)}='data/{name}.csv'",), path, "missing file"),
        key_names,
    )


def step_not_dividing(duration_s: int) -> st.SearchStrategy[Mutation]:
    return st.integers(1, 10_000).filter(lambda s: duration_s % s != 0).map(
        lambda s: Mutation((f"time.step_s={s}",), "time", "step not dividing the horizon")
    )


def _duplicate(path: str, items: list[Any]) -> Mutation:
    return Mutation((f"{_dotted(path)}={toml_value([items[0], items[0]])}",), path,
                    "duplicate id")


DEMO = RAW["demo"]
TERNI = RAW["terni"]
MUTATIONS: dict[str, st.SearchStrategy[Mutation]] = {
    "demo": st.one_of(
        unknown_key(["", "time", "grid", "sites[0]", "sites[0].sessions", "profiles.pv",
                     "results", "runner"]),
        with_values(["time.step_s", "time.duration_s", "seed", "sites[0].n_evs",
                     "grid.v_min_pu", "sites[0].sessions.soc_target", "base_case",
                     "results.plots", "checks.voltage_band", "grid.load_scaling",
                     "sites[0].controller.p_max_kw", "runner.stall_timeout_s"], texts,
                    "text for a number or boolean"),
        with_values(["sites[0].n_evs", "grid.pv[0].p_peak_kw", "sites[0].controller.p_max_kw",
                     "sites[0].controller.capacity_kwh", "time.duration_s", "time.step_s",
                     "runner.stall_timeout_s", "grid.load_scaling"], negative,
                    "negative capacity or power"),
        with_values(["sites[0].sessions.soc_target", "sites[0].sessions.soc_arrival_min",
                     "sites[0].sessions.soc_arrival_max"], outside_unit, "SOC outside [0, 1]"),
        with_values(["sites[0].sessions.duration_mean_h"],
                    st.one_of(st.just(0), st.floats(-48, 0)), "departure <= arrival"),
        st.just(_duplicate("sites", DEMO["sites"])),
        step_not_dividing(DEMO["time"]["duration_s"]),
        missing_file("profiles.household.file"),
        with_values(["profiles.pv.tilt_deg", "profiles.pv.latitude_deg",
                     "sites[0].sessions.arrival_mean_h", "grid.load_cos_phi",
                     "grid.max_line_loading_percent"],
                    st.one_of(st.floats(1e3, 1e9), st.floats(-1e9, -1e3)),
                    "out-of-range physical value"),
        fixed("grid.v_min_pu=1.2", "grid", "out-of-range physical value"),
    ),
    "terni": st.one_of(
        unknown_key(["", "time", "terni", "control", "users", "market", "market.providers[0]",
                     "dso", "runner"]),
        with_values(["time.step_s", "seed", "terni.connectors_per_site", "terni.oltc",
                     "control.soc_max", "market.providers[0].capacity_kwh", "results.plots",
                     "dso.export_limit_mw"], texts, "text for a number or boolean"),
        with_values(["market.providers[0].capacity_kwh", "market.providers[0].p_max_kw",
                     "terni.connectors_per_site", "terni.connector_kw", "terni.peak_load_mw",
                     "market.period_s"], negative, "negative capacity or power"),
        with_values(["market.providers[0].soc_initial", "market.providers[0].soc_max",
                     "control.soc_max", "users.commuter_share"], outside_unit,
                    "SOC outside [0, 1]"),
        st.just(_duplicate("market.providers", TERNI["market"]["providers"])),
        step_not_dividing(TERNI["time"]["duration_s"]),
        with_values(["control.eta_charge", "control.eta_discharge", "market.providers[0].eta",
                     "control.discharge_price_quantile"],
                    st.one_of(st.floats(1.0 + 1e-6, 1e3), st.floats(-1e3, -1e-6)),
                    "out-of-range physical value"),
    ),
}


def variants(scenario: str) -> st.SearchStrategy[list[Mutation]]:
    """One to three mutations in distinct top-level tables (one message must name each).

    Distinct tables, so that no mutation overwrites another (``sites=[...]`` would replace a
    planted ``sites.0.n_evs``).
    """
    return st.lists(MUTATIONS[scenario], min_size=1, max_size=3,
                    unique_by=lambda m: m.path.split("[")[0].split(".")[0])


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def _snapshot() -> set[tuple[str, int]]:
    """Files under scenarios/ and whether results/ exists: what a refused run must not touch."""
    files = {(str(p), p.stat().st_mtime_ns) for p in (ROOT / "scenarios").rglob("*")}
    return files | {("results", int((ROOT / "results").exists()))}


def _check_refused(code: int, out: str, err: str, mutations: list[Mutation]) -> None:
    assert code == 2, (mutations, out, err)
    assert err.startswith("v2xcosim: error:"), err
    assert "Traceback" not in err and "Traceback" not in out
    for m in mutations:
        assert m.path in err, (m, err)


def _in_process(scenario: str) -> Callable[[], None]:
    @settings(max_examples=N_IN_PROCESS, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow],
              phases=[Phase.explicit, Phase.generate])  # no shrinking: report the case as is
    @given(variants(scenario))
    def check(mutations: list[Mutation]) -> None:
        sets = [s for m in mutations for s in m.sets]
        with tempfile.TemporaryDirectory() as cwd, contextlib.chdir(cwd):
            code, out, err = run_main(
                ["validate", str(SCENARIOS[scenario]), *(f"--set={s}" for s in sets)]
            )
            assert list(Path(cwd).iterdir()) == []  # nothing written where the command ran
        _check_refused(code, out, err, mutations)

    return check


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_generated_invalid_scenarios_are_refused_in_process(
    scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the network's bus names are the same for every variant: built once (about 1 s each)
    monkeypatch.setattr(sites_schema, "network_buses",
                        functools.cache(sites_schema.network_buses))
    before = _snapshot()
    _in_process(scenario)()
    assert _snapshot() == before


@pytest.mark.slow
def test_generated_invalid_scenarios_are_refused_by_the_command(tmp_path: Path) -> None:
    samples: list[tuple[str, list[Mutation]]] = []

    def collector(scenario: str) -> Callable[[], None]:
        @settings(max_examples=N_PROCESSES // 2, derandomize=True, deadline=None,
                  database=None)
        @given(variants(scenario))
        def collect(mutations: list[Mutation]) -> None:
            samples.append((scenario, mutations))

        return collect

    for scenario in sorted(SCENARIOS):
        collector(scenario)()
    assert len(samples) == N_PROCESSES
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def run(sample: tuple[str, list[Mutation]]) -> tuple[list[Mutation], int, str, str]:
        scenario, mutations = sample
        sets = [f"--set={s}" for m in mutations for s in m.sets]
        res = subprocess.run(
            [sys.executable, "-m", "v2xcosim.cli", "validate", str(SCENARIOS[scenario]), *sets],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300, check=False,
        )
        return mutations, res.returncode, res.stdout, res.stderr

    before = _snapshot()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, samples))
    for mutations, code, out, err in results:
        _check_refused(code, out, err, mutations)
    assert list(tmp_path.iterdir()) == [] and _snapshot() == before


@pytest.mark.parametrize(
    ("scenario", "sets"),
    [
        ("demo", ["time.step_s=600", "time.duration_s=43200"]),
        ("demo", ["sites.0.n_evs=4", "sites.0.sessions.soc_target=0.8", "seed=7"]),
        ("demo", ["base_case=true"]),
        ("terni", ["time.duration_s=7200", "control.soc_max=0.95", "market.providers.0.eta=0.9"]),
    ],
)
def test_valid_variants_are_accepted(scenario: str, sets: list[str], tmp_path: Path) -> None:
    with contextlib.chdir(tmp_path):
        code, out, err = run_main(["validate", str(SCENARIOS[scenario]),
                                   *(f"--set={s}" for s in sets)])
    assert code == 0, err
    assert ": ok — use case" in out


BROKEN_REQUIRED = {
    "seed negative": (["seed=-1"], "seed"),
    "seed as text": (["seed='7'"], "seed"),
    "step not dividing": (["time.step_s=7"], "time"),
    "step as text": (["time.step_s='300'"], "time.step_s"),
    "start without offset": (["time.start='2024-06-03T00:00:00'"], "time.start"),
    "time not a table": (["time=3"], "time"),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_REQUIRED))
@pytest.mark.parametrize(
    ("scenario", "dup", "message"),
    [("demo", _duplicate("sites", DEMO["sites"]), "duplicate site id"),
     ("terni", _duplicate("market.providers", TERNI["market"]["providers"]), "duplicate 'bess_1'")],
)
def test_cross_references_checked_while_a_required_key_is_broken(
    scenario: str, dup: Mutation, message: str, broken: str
) -> None:
    sets, path = BROKEN_REQUIRED[broken]
    code, out, err = run_main(["validate", str(SCENARIOS[scenario]),
                               *(f"--set={s}" for s in (*sets, *dup.sets))])
    _check_refused(code, out, err, [dup, Mutation(tuple(sets), path, "broken required key")])
    assert message in err
    # the stand-in horizon is never judged: the one problem under the broken key is the user's
    assert sum(f": {path}" in line for line in err.splitlines()) == 1, err
    assert "2024-01-01" not in err  # the stand-in's start
