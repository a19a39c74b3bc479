"""Command-line interface: ``v2xcosim <command> ...``.

Exit codes: 0 ok, 1 a completed check failed, 2 bad input or error.  Errors derived from
:class:`v2xcosim.core.errors.V2XError` are printed as one clear message, never as a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

from v2xcosim import __version__
from v2xcosim.core.errors import Interrupted, V2XError, plain_message

Handler = Callable[[argparse.Namespace], int]

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None
)
"""Signals that stop a command cleanly: one line, exit 2, child processes and temp folders gone."""


def _stop(signum: int, frame: FrameType | None) -> None:
    """Turn a stop signal into :class:`Interrupted`; later ones are ignored while cleaning up."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM/SIGHUP raise :class:`Interrupted` (handlers restored).

    The exception unwinds the command like any error: ``finally`` blocks stop the run's child
    process group, remove its temporary folder and release the run folder's lock.
    """
    old = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="v2xcosim",
        description="Co-simulation of bidirectional EV charging (V2G, V2B).",
    )
    parser.add_argument("--version", action="version", version=f"v2xcosim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    from v2xcosim.fmu import cli as fmu_cli

    fmu_cli.register(sub)
    from v2xcosim import demo, run_cli, studies, sweep

    run_cli.register(sub)
    sweep.register(sub)
    studies.register(sub)
    demo.register(sub)
    from v2xcosim import report_cli

    report_cli.register(sub)
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
        with stop_signals_raise():
            return handler(args)
    except V2XError as exc:
        print(f"v2xcosim: error: {plain_message(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # SIGINT before the handlers were installed
        print("v2xcosim: error: stopped by SIGINT", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
