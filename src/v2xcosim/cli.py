"""Command-line interface: ``v2xcosim <command> ...``.

Exit codes: 0 ok, 1 a completed check failed, 2 bad input or error.  Errors derived from
:class:`v2xcosim.core.errors.V2XError` are printed as one clear message, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from v2xcosim import __version__
from v2xcosim.core.errors import V2XError

Handler = Callable[[argparse.Namespace], int]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="v2xcosim",
        description="Co-simulation of bidirectional EV charging (V2G, V2B).",
    )
    parser.add_argument("--version", action="version", version=f"v2xcosim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    from v2xcosim.fmu import cli as fmu_cli

    fmu_cli.register(sub)
    from v2xcosim import demo, run_cli, studies

    run_cli.register(sub)
    studies.register(sub)
    demo.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 on bad arguments, 0 on --help
        return int(exc.code) if isinstance(exc.code, int) else 2
    handler: Handler = args.handler
    try:
        return handler(args)
    except V2XError as exc:
        print(f"v2xcosim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("v2xcosim: interrupted", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
