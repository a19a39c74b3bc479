"""Quiet, short, informative error lines: numpy reprs, unknown FMU names, the FMU's own reason."""

from __future__ import annotations

import argparse
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from v2x_helpers import DEMO, cli
from v2xcosim import run_cli
from v2xcosim.cli import main
from v2xcosim.core.errors import FmuCallError, ScenarioError, plain_message

ROOT = Path(__file__).resolve().parents[1]


def test_numpy_scalar_reprs_are_printed_as_plain_numbers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    values = [np.float64(0.5), np.int64(3), np.float32(-1.25)]
    assert plain_message(f"bad {values}") == "bad [0.5, 3, -1.25]"

    def handler(args: argparse.Namespace) -> int:
        raise ScenarioError(f"values {values} out of range")

    monkeypatch.setattr(run_cli, "cmd_validate", handler)
    assert main(["validate", str(DEMO)]) == 2
    err = capsys.readouterr().err
    assert err == "v2xcosim: error: values [0.5, 3, -1.25] out of range\n"


def test_unknown_fmu_parameter_gives_a_short_message_with_close_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the demo's fleet FMU has 10 vehicles x ~60 parameters: one problem, the closest names
    rc = cli(["validate", str(DEMO), "--set", "sites.0.fmu.parameters={p_ratd_w=1.0}"])
    out = capsys.readouterr().out
    assert rc == 2
    assert len(out) < 600, out
    assert out.count("has no parameter") == 1 and "p_rated_w" in out, out
    assert out.count(",") <= 12, out


def test_the_fmu_s_own_reason_for_a_wrong_guid_is_in_the_error(tmp_path: Path) -> None:
    src = ROOT / "fmus" / "EV.fmu"
    if not src.is_file():
        pytest.skip("fmus/EV.fmu is not built (make fmus)")
    from v2xcosim.fmu.runtime import run_fmu

    bad = tmp_path / "EV.fmu"
    shutil.copy(src, bad)
    with zipfile.ZipFile(src) as zf:
        xml = zf.read("modelDescription.xml").decode()
    start = xml.index('guid="{') + len('guid="{')
    xml = xml[:start] + ("0" if xml[start] != "0" else "1") + xml[start + 1 :]
    rebuilt = tmp_path / "rebuilt.fmu"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = xml.encode() if info.filename == "modelDescription.xml" else zin.read(info)
            zout.writestr(info, data)
    reason = r"instantiate failed.*the FMU says: GUID mismatch"
    with pytest.raises(FmuCallError, match=reason), run_fmu(rebuilt):
        pass
