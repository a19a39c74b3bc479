"""Opening fleet FMUs fast: the light, cached variable table against fmpy's full parse.

The reference is fmpy's ``read_model_description`` (the parse every other command uses): the
light table must hold exactly its names, value references, types, causalities, variabilities,
initials, start/min/max texts, in document order.  The cache must never serve a table to an
archive with another SHA-256, and a damaged cache file is rebuilt from the XML.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from v2x_helpers import toy_fmu
from v2xcosim.core.errors import ScenarioError
from v2xcosim.fmu import variable_table as vt
from v2xcosim.fmu.archive import open_fmu, sha256_file
from v2xcosim.fmu.build import build_fmu
from v2xcosim.fmu.fleet import (
    ChunkedFleet,
    FleetVariables,
    FmuFleet,
    fleet_chunks,
    fleet_fmu_entries,
    fleet_fmus,
    fleet_fmus_of,
    fleet_size,
    open_fleet,
    read_variables,
)

FIELDS = (
    "name",
    "valueReference",
    "type",
    "causality",
    "variability",
    "initial",
    "start",
    "min",
    "max",
)


def fmpy_rows(md: Any) -> list[tuple[Any, ...]]:
    return [tuple(getattr(v, f) for f in FIELDS) for v in md.modelVariables]


def light_rows(table: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(table[name]) for name in table]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache folder and an empty in-process memory."""
    monkeypatch.setenv(vt.CACHE_ENV, str(tmp_path / "cache"))
    vt.forget()
    return tmp_path / "cache" / "fmu-descriptions"


def open_light(path: Path) -> Any:
    with open_fmu(path, light=True) as opened:
        return opened.model_description


@pytest.mark.parametrize("which", ["project EV fleet of 3", "toy fleet of 3"])
def test_light_table_equals_fmpys_full_parse(which: str, cache: Path) -> None:
    from fmpy import read_model_description

    path = Path(build_fmu("EV", fleet=3)) if which.startswith("project") else toy_fmu(3)
    full = read_model_description(str(path), validate=True)
    for source in ("parsed", "cache file", "memory"):
        if source == "cache file":
            vt.forget()
        md = open_light(path)
        assert light_rows(md.variables) == fmpy_rows(full), source
        assert (md.fmiVersion, md.guid, md.modelName) == (
            full.fmiVersion,
            full.guid,
            full.modelName,
        )
        assert md.coSimulation.modelIdentifier == full.coSimulation.modelIdentifier
        # the fleet's view: the same Variable objects as read_variables (fmpy) gives
        assert dict(FleetVariables(md.variables)) == read_variables(path)[1]
    assert fleet_size(md.variables, "ev") == 3
    assert [p.name for p in cache.iterdir()] == [f"{sha256_file(path)}.v{vt.FORMAT}.json"]


EDGE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="2.0" modelName="Edge" guid="{1}" generationTool="hand">
  <CoSimulation modelIdentifier="Edge"/>
  <TypeDefinitions>
    <SimpleType name="Mode"><Enumeration><Item name="a" value="1"/><Item name="b" value="2"/>
    </Enumeration></SimpleType>
  </TypeDefinitions>
  <ModelVariables>
    <ScalarVariable name="x" valueReference="0"><Real/></ScalarVariable>
    <ScalarVariable name="u" valueReference="1" causality="input"><Real start="1.5" min="-2"
      max="3e3"/></ScalarVariable>
    <ScalarVariable name="k" valueReference="0" causality="parameter" variability="tunable">
      <Integer start="4" min="1" max="9"/></ScalarVariable>
    <ScalarVariable name="on" valueReference="0" causality="parameter" variability="fixed">
      <Boolean start="true"/></ScalarVariable>
    <ScalarVariable name="mode" valueReference="1" causality="output" variability="discrete"
      initial="exact"><Enumeration declaredType="Mode" start="2" min="1" max="2"/>
    </ScalarVariable>
    <ScalarVariable name="label" valueReference="0" causality="parameter" variability="fixed">
      <String start="line one"/></ScalarVariable>
    <ScalarVariable name="y" valueReference="2" causality="output" initial="approx">
      <Real start="0.25" max="1"/></ScalarVariable>
    <ScalarVariable name="c" valueReference="3" variability="constant"><Real start="9.81"/>
    </ScalarVariable>
  </ModelVariables>
  <ModelStructure><Outputs><Unknown index="5"/><Unknown index="7"/></Outputs></ModelStructure>
</fmiModelDescription>
"""


def test_light_parse_applies_fmpys_defaults_on_every_type(tmp_path: Path) -> None:
    """Boolean, Integer, Enumeration (declared type), String; absent causality, variability
    and initial; min/max only where fmpy keeps them (Real, Integer, Enumeration)."""
    from fmpy import read_model_description

    xml = tmp_path / "modelDescription.xml"
    xml.write_text(EDGE_XML)
    md = vt.parse_description(xml, tmp_path / "edge.fmu")
    assert light_rows(md.variables) == fmpy_rows(read_model_description(str(xml)))
    # a hand check of the defaults, independent of fmpy
    assert tuple(md.variables["x"])[2:] == (
        "Real",
        "local",
        "continuous",
        "calculated",
        None,
        None,
        None,
    )
    assert md.variables["on"].type == "Boolean" and md.variables["on"].min is None
    assert md.coSimulation is not None and md.modelExchange is None


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        ('name="y"', 'name="x"', "not unique"),
        ('<Real start="1.5" min="-2"', '<Real min="-2"', "no start value"),
        ('declaredType="Mode"', 'declaredType="Gear"', "not defined"),
        ('causality="input"', 'causality="sideways"', "line"),
    ],
)
def test_light_parse_refuses_what_fmpy_refuses(
    tmp_path: Path, old: str, new: str, why: str
) -> None:
    from fmpy import read_model_description

    xml = tmp_path / "modelDescription.xml"
    xml.write_text(EDGE_XML.replace(old, new, 1))
    with pytest.raises(Exception):  # noqa: B017 (fmpy raises bare Exception or its own)
        read_model_description(str(xml), validate=True)
    with pytest.raises(ScenarioError, match=why):
        vt.parse_description(xml, tmp_path / "edge.fmu")


def test_a_changed_fmu_is_not_served_a_stale_table(tmp_path: Path, cache: Path) -> None:
    """The same path with other bytes (a rebuilt FMU) has another SHA-256: parsed afresh."""
    path = tmp_path / "fleet.fmu"
    shutil.copyfile(toy_fmu(3), path)
    assert fleet_size(open_light(path).variables, "ev") == 3
    shutil.copyfile(toy_fmu(4), path)
    with FmuFleet(
        path, n=4, fleet=True, inputs=["p_set_w"], outputs=["soc"], parameters={}, name="s"
    ) as f:
        assert fleet_size(f.model_description.variables, "ev") == 4
        assert f.sha256 == sha256_file(toy_fmu(4))
    assert len(list(cache.iterdir())) == 2


def _damage(kind: str, blob: bytes) -> bytes:
    head, _, payload = blob.partition(b"\n")
    if kind == "truncated":
        return blob[: len(blob) // 2]
    if kind == "payload changed":  # a name edited in place: the payload checksum no longer fits
        return head + b"\n" + payload.replace(b"p_set_w", b"p_sex_w", 1)
    if kind == "not json":
        return b"\x00\xff garbage"
    # a consistent file written for another archive
    return head.replace(b'"fmu_sha256": "', b'"fmu_sha256": "0', 1) + b"\n" + payload


@pytest.mark.parametrize("kind", ["truncated", "payload changed", "not json", "other archive"])
def test_a_damaged_cache_file_is_rebuilt_not_trusted(
    kind: str, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = toy_fmu(3)
    good = light_rows(open_light(path).variables)
    [file] = cache.iterdir()
    intact = file.read_bytes()
    file.write_bytes(_damage(kind, intact))
    vt.forget()
    parsed: list[Path] = []
    real = vt.parse_description

    def counting(xml: Path, fmu: Path) -> vt.LightDescription:
        parsed.append(xml)
        return real(xml, fmu)

    monkeypatch.setattr(vt, "parse_description", counting)
    assert light_rows(open_light(path).variables) == good
    assert len(parsed) == 1  # rebuilt from the XML
    assert file.read_bytes() == intact  # and written again


def test_warm_opens_read_the_cache_not_the_xml(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = toy_fmu(3)
    open_light(path)
    vt.forget()

    def refuse(xml: Path, fmu: Path) -> vt.LightDescription:
        raise AssertionError("parsed although cached")

    monkeypatch.setattr(vt, "parse_description", refuse)
    with open_fmu(path, light=True) as opened:
        assert not (opened.unzipdir / "modelDescription.xml").exists()  # not even extracted
        assert fleet_size(opened.variables, "ev") == 3


def test_an_unwritable_cache_still_opens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(vt.CACHE_ENV, str(blocker))
    vt.forget()
    md = open_light(toy_fmu(3))
    assert fleet_size(md.variables, "ev") == 3


# ----------------------------------------------------------------------------- split fleets
def test_fleet_chunks_by_hand() -> None:
    assert fleet_chunks(10, 4) == [4, 3, 3]
    assert fleet_chunks(10_000) == [1000] * 10
    assert fleet_chunks(2_500) == [834, 833, 833]
    assert fleet_chunks(8, 4) == [4, 4]
    assert fleet_chunks(3, 4) == [3]
    for n in range(1, 60):
        sizes = fleet_chunks(n, 7)
        assert sum(sizes) == n and max(sizes) <= 7 and max(sizes) - min(sizes) <= 1
        assert len(sizes) == -(-n // 7)


N = 10
IN = ["p_set_w", "q_set_var", "vm_pu"]
OUT_NAMES = ["p_ac_w", "q_ac_var", "soc", "p_loss_charger_w"]


def _inputs(k: int) -> dict[str, np.ndarray]:
    """Setpoints that differ per vehicle and step (W, var, pu): charge, discharge, idle."""
    i = np.arange(N)
    return {
        "p_set_w": np.where((i + k) % 3 == 0, -3700.0, np.where((i + k) % 3 == 1, 7000.0, 0.0)),
        "q_set_var": 100.0 * (i - 5) * (k % 2),
        "vm_pu": 1.0 - 0.005 * i,
    }


def _run(f: Any) -> list[dict[str, np.ndarray]]:
    f.initialise(0.0, {"soc_start": [0.2 + 0.05 * i for i in range(N)]})
    return [f.step(900.0 * k, 900.0, _inputs(k)) for k in range(6)]


def test_ten_vehicles_as_three_fmus_equal_one_fmu_of_ten() -> None:
    params: dict[str, Any] = {
        "p_rated_w": [11000.0 - 500.0 * i for i in range(N)],
        "eta_charger": 0.94,
    }
    kw: dict[str, Any] = {"inputs": IN, "outputs": OUT_NAMES, "parameters": params, "name": "s"}
    with FmuFleet(toy_fmu(N), n=N, fleet=True, **kw) as one:
        ref = _run(one)
    paths = {4: toy_fmu(4), 3: toy_fmu(3)}
    with open_fleet(paths, n=N, fleet=True, **kw) as split:
        assert isinstance(split, ChunkedFleet)
        assert [p.n for p in split.parts] == [4, 3, 3]
        assert [p.path for p in split.parts] == [paths[4], paths[3], paths[3]]
        got = _run(split)
        split.reset()
        again = _run(split)
    for r, g, a in zip(ref, got, again, strict=True):
        for name in OUT_NAMES:
            np.testing.assert_array_equal(g[name], r[name])  # bit for bit, per vehicle
            np.testing.assert_array_equal(a[name], r[name])
    assert np.ptp(ref[-1]["soc"]) > 0.05  # the vehicles really differ


def test_a_split_fleet_needs_every_chunk_size() -> None:
    with pytest.raises(ScenarioError, match=r"no FMU given for size\(s\) \[3\]"):
        open_fleet(
            {4: toy_fmu(4)}, n=N, fleet=True, inputs=IN, outputs=["soc"], parameters={}, name="s"
        )


def test_the_fleet_adapter_runs_a_split_fleet_like_one_fmu() -> None:
    """Through FmuSim (JSON parameters, as mosaik passes them): the same vectors."""
    from v2xcosim.cosim.fleet_sim import FmuSim, fleet_params

    def run(fmu: Any) -> list[list[float]]:
        sim = FmuSim()
        sim.init("FMU-0", step_s=900, outputs=[])
        [ent] = sim.create(
            1,
            "Fleet",
            **json.loads(
                json.dumps(
                    fleet_params(
                        site_id="s",
                        fmu_path=fmu,
                        n=N,
                        inputs={"p_set_w": "p_set_w", "vm_pu": "vm_pu"},
                        outputs={"p_ac_w": "p_ac_w", "q_ac_var": "q_ac_var", "soc": "soc"},
                        parameters={"p_rated_w": [7000.0 + 100 * i for i in range(N)]},
                        start={"soc_start": [0.3 + 0.04 * i for i in range(N)]},
                    )
                )
            ),
        )
        eid = ent["eid"]
        out = []
        for k in range(4):
            p = _inputs(k)["p_set_w"].tolist()
            sim.step(900 * k, {eid: {"p_set_w": {"c": p}}}, 3600)
            out.append(sim.get_data({eid: ["soc"]})[eid]["soc"])
        sim.finalize()
        return out

    assert run({4: toy_fmu(4), 3: toy_fmu(3)}) == run(toy_fmu(N))


def test_project_fleets_beyond_the_largest_fmu_are_built_once_per_size() -> None:
    """``fleet_fmus`` (what Terni, Porto and built sites call): one FMU up to the largest
    size, else one build per chunk size; the preflight entries name each and invert."""
    one = fleet_fmus("EV", 3, max_size=4)
    assert isinstance(one, Path) and one == Path(build_fmu("EV", fleet=3))
    split = fleet_fmus("EV", 10, max_size=4)
    assert isinstance(split, dict) and sorted(split) == [3, 4]
    for k, path in split.items():
        with open_fmu(path, light=True) as opened:
            assert fleet_size(opened.variables, "ev") == k
    entries = fleet_fmu_entries("EV", split)
    assert sorted(entries) == ["EV/fleet3", "EV/fleet4"]
    assert fleet_fmus_of("EV", {**entries, "Terminal": one}) == split
    assert fleet_fmus_of("EV", fleet_fmu_entries("EV", one)) == one
    with pytest.raises(KeyError):
        fleet_fmus_of("EV", {"Terminal": one})


def test_a_terni_run_split_over_fleet_fmus_equals_the_unsplit_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The use case end to end: the Terni morning's 5 slots per site as FMUs of 3 and 2
    (largest size 4) give the same tables and KPIs, bit for bit, as one FMU of 5."""
    import pandas as pd

    from v2xcosim.fmu import fleet as fleet_module
    from v2xcosim.scenario import load_scenario, run

    root = Path(__file__).resolve().parents[1]
    spec = load_scenario(
        root / "scenarios" / "terni_v2g.toml",
        ["time.duration_s=7200", "time.start=2024-05-15T07:00:00+02:00", "results.plots=false"],
    )

    def run_into(name: str) -> tuple[Any, dict[str, pd.DataFrame], dict[str, Any]]:
        out = tmp_path / name
        out.mkdir()
        res = run(spec, out)
        meta = json.loads((out / "metadata.json").read_text())
        return res.kpis, {p.stem: pd.read_parquet(p) for p in out.glob("*.parquet")}, meta

    kpis, tables, meta = run_into("one")
    assert list(meta["fmus"]) == ["EV"]
    whole = fleet_module.fleet_fmus
    monkeypatch.setattr(
        fleet_module, "fleet_fmus", lambda model, n, max_size=4: whole(model, n, max_size)
    )
    kpis_split, tables_split, meta_split = run_into("split")
    assert sorted(meta_split["fmus"]) == ["EV/fleet2", "EV/fleet3"]
    assert json.dumps(kpis_split, sort_keys=True, default=str) == json.dumps(
        kpis, sort_keys=True, default=str
    )
    assert sorted(tables_split) == sorted(tables)
    for name, table in tables.items():
        pd.testing.assert_frame_equal(tables_split[name], table, check_exact=True)
    assert tables["terni_steps"].shape[0] == 24  # 2 h of 5-min steps: the run really ran


def test_parallel_processes_on_an_empty_cache_agree(cache: Path) -> None:
    """Four processes open the same FMU at once with no cache: all read the same table and
    one complete cache file remains (no temporary file left, the file checks out)."""
    import os
    import subprocess
    import sys

    path = toy_fmu(3)
    code = (
        "import json, sys\n"
        "from v2xcosim.fmu.archive import open_fmu\n"
        "with open_fmu(sys.argv[1], light=True) as o:\n"
        "    print(json.dumps([list(o.variables[n]) for n in o.variables]))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(outs)) == 1
    assert json.loads(outs[0]) == [list(r) for r in light_rows(open_light(path).variables)]
    # one file, no temporary left behind
    assert [p.name for p in cache.iterdir()] == [f"{sha256_file(path)}.v{vt.FORMAT}.json"]
    vt.forget()
    assert vt.cached_description(sha256_file(path)) is not None  # and it checks out


def test_fuzzed_descriptions_open_as_fmpy_opens_them_or_are_refused(
    cache: Path, tmp_path: Path
) -> None:
    """The robustness fuzzer's edits of modelDescription.xml (values, attributes, cut
    documents, duplicated or dropped lines) on a fleet FMU: the light path never raises
    anything but a ScenarioError naming the archive, opens whatever fmpy's full parse opens
    with the same table, and refuses what it refuses."""
    from test_fmu_robustness import fuzz_xml
    from v2xcosim.core.rng import rng_for

    data = toy_fmu(3).read_bytes()
    archive = tmp_path / "mutant.fmu"
    rng = rng_for(7, "tests/fleet-open-fuzz")
    outcomes = {"both": 0, "light only": 0, "neither": 0}
    for i in range(150):
        archive.write_bytes(fuzz_xml(data, rng))
        try:
            with open_fmu(archive) as opened:
                full = [tuple(getattr(v, f) for f in FIELDS) for v in opened.variables.values()]
        except ScenarioError:
            full = None
        try:
            with open_fmu(archive, light=True) as opened:
                light = light_rows(opened.variables)
        except ScenarioError as exc:
            assert str(exc).startswith(f"FMU {archive}"), str(exc)
            light = None
        if full is not None:
            assert light == full, i
            outcomes["both"] += 1
        else:
            outcomes["light only" if light is not None else "neither"] += 1
    # the edits bite: most are refused, some still open; none fmpy refuses opens light
    assert outcomes["neither"] > 50 and outcomes["both"] > 0, outcomes
    assert outcomes["light only"] == 0, outcomes
