"""``v2xcosim fmu ...`` sub-commands: ``build`` and ``regress``."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add the ``fmu`` command group to the top-level sub-parser collection ``sub``."""
    fmu = sub.add_parser("fmu", help="build FMUs from models/ and check FMU outputs")
    fmu_sub = fmu.add_subparsers(dest="fmu_command", required=True)

    from v2xcosim.fmu import build, regress

    build.register(fmu_sub)
    regress.register(fmu_sub)
