"""Scale: a fleet FMU's archive limits follow its own size; larger sites are refused up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from v2xcosim.core.errors import ScenarioError
from v2xcosim.fmu import archive
from v2xcosim.fmu.fleet import FLEET_DESCRIPTION_BYTES_PER_EV, MAX_SITE_EVS, FmuFleet

ROOT = Path(__file__).resolve().parents[1]
FLEET10 = ROOT / "fmus" / "EV_fleet10.fmu"


def test_fleet_description_limit_follows_the_fleet_size(monkeypatch: pytest.MonkeyPatch) -> None:
    if not FLEET10.is_file():
        pytest.skip("fmus/EV_fleet10.fmu is not built (make fmus)")
    import zipfile

    with zipfile.ZipFile(FLEET10) as zf:
        xml_bytes = zf.getinfo("modelDescription.xml").file_size
    # shrink the fixed entry limit below this FMU's description: as for the 9,000-EV fleet
    # (292 MB of XML against 256 MiB), a fixed limit refuses the project's own FMU
    monkeypatch.setattr(archive, "MAX_ENTRY_BYTES", xml_bytes // 2)
    with pytest.raises(ScenarioError, match="possible zip bomb"), archive.open_fmu(FLEET10):
        pass
    # the fleet's own size (10 vehicles x the per-vehicle allowance) admits it
    assert xml_bytes < 10 * FLEET_DESCRIPTION_BYTES_PER_EV
    with archive.open_fmu(FLEET10, description_allowance_bytes=10 * FLEET_DESCRIPTION_BYTES_PER_EV):
        pass
    # and the fleet runtime passes that allowance itself
    fleet = FmuFleet(
        FLEET10, n=10, fleet=True, inputs=["p_set_w"], outputs=["soc"], parameters={}, name="s"
    )
    fleet.close()
    # an allowance for fewer vehicles than the description declares is still refused
    with (
        pytest.raises(ScenarioError, match="possible zip bomb"),
        archive.open_fmu(FLEET10, description_allowance_bytes=FLEET_DESCRIPTION_BYTES_PER_EV),
    ):
        pass


def test_per_vehicle_allowance_covers_the_measured_description_with_margin() -> None:
    # 32.5 kB per vehicle measured on EV_fleet128 (4,157,875 bytes); the allowance doubles it,
    # and the largest accepted site stays inside the archive's other caps
    assert FLEET_DESCRIPTION_BYTES_PER_EV >= 2 * 4_157_875 / 128 * 0.98
    assert (
        archive.description_limit(MAX_SITE_EVS * FLEET_DESCRIPTION_BYTES_PER_EV)
        > MAX_SITE_EVS * 4_157_875 / 128
    )


@pytest.mark.slow
def test_the_largest_site_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # MAX_SITE_EVS is a size shown to run: the demo with that many vehicles in one fleet FMU
    # (built if needed), three 300-s steps, through the watched child as `v2xcosim run` does
    import pandas as pd

    from v2x_helpers import DEMO, cli
    from v2xcosim.report.results import verify_run_folder

    out = tmp_path / "run"
    argv = ["run", str(DEMO), "--out", str(out), "--no-progress"]
    for item in (f"sites.0.n_evs={MAX_SITE_EVS}", "time.duration_s=900", "results.plots=false"):
        argv += ["--set", item]
    rc = cli(argv)
    text = capsys.readouterr().out
    assert rc == 0, text
    assert f"site residential: {MAX_SITE_EVS} EVs" in text
    assert verify_run_folder(out) == []
    site = pd.read_parquet(out / "site_residential.parquet")
    assert len(site) == 3
    soc = site[[f"soc[{i}]" for i in range(MAX_SITE_EVS)]]  # every vehicle recorded
    assert soc.notna().all().all() and ((soc >= 0) & (soc <= 1)).all().all()
