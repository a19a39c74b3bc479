"""``v2xcosim study ...``: grid impact studies on a scenario's network, a run or a network file.

One module per study (``voltage``, ``protection``, ``hosting``) registers its sub-command; the
computations live in :mod:`v2xcosim.grid.studies`, the network sources in :mod:`.inputs`.
Every study prints a short summary, writes its tables and plots atomically into ``--out`` and
exits 1 when a limit is violated and ``--fail-on-violation`` is given (0 otherwise, 2 on bad
input).
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

STUDIES: tuple[str, ...] = (
    "v2xcosim.studies.voltage:register",
    "v2xcosim.studies.protection:register",
    "v2xcosim.studies.hosting:register",
)
"""Import strings (``"module:register"``) of the study sub-commands."""


def register(sub: Any) -> None:
    """Add ``study`` and its sub-commands to the top-level sub-parsers ``sub``."""
    study = sub.add_parser("study", help="grid impact studies (voltage, protection, hosting)")
    studies = study.add_subparsers(dest="study", required=True)
    for target in STUDIES:
        module, _, attr = target.partition(":")
        getattr(importlib.import_module(module), attr)(studies)


def add_common(p: argparse.ArgumentParser) -> None:
    """Add the flags every study has: ``--out`` and ``--fail-on-violation``."""
    p.add_argument(
        "--out", default=None, help="folder for tables and plots (default: beside the input)"
    )
    p.add_argument(
        "--fail-on-violation",
        action="store_true",
        help="exit with code 1 when a limit is violated",
    )
