"""Shared helpers of the co-simulation core tests (toy FMU builds, CLI harness)."""

from __future__ import annotations

import argparse
import functools
import hashlib
import tempfile
from pathlib import Path

import toyfmu
from toyfmu import build_toy_fmu

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scenarios" / "demo.toml"
_CACHE = (
    Path(tempfile.gettempdir())
    / "v2xcosim-test-toyfmu"
    / hashlib.sha256(Path(toyfmu.__file__).read_bytes()).hexdigest()[:12]
)


@functools.cache
def toy_fmu(n: int | None) -> Path:
    """The toy EV FMU (single EV or fleet of n), compiled once per machine."""
    return build_toy_fmu(_CACHE, n)


def toy_overrides(n: int = 10, *, fleet: bool = True) -> list[str]:
    """``--set`` items that point the demo's site at the toy FMU."""
    path = toy_fmu(n if fleet else None)
    return [
        "sites.0.fmu.model=''",
        f"sites.0.fmu.path='{path}'",
        f"sites.0.fmu.fleet={'true' if fleet else 'false'}",
        f"sites.0.n_evs={n}",
    ]


def cli(argv: list[str]) -> int:
    """Run ``validate``/``run`` through run_cli.register like the real CLI (errors → 2)."""
    from v2xcosim import run_cli
    from v2xcosim.core.errors import V2XError

    parser = argparse.ArgumentParser(prog="v2xcosim")
    sub = parser.add_subparsers(dest="command", required=True)
    run_cli.register(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except V2XError as exc:
        print(f"v2xcosim: error: {exc}")
        return exc.exit_code
