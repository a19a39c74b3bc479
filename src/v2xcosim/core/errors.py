"""Exception hierarchy of v2xcosim.

Two tiers, as in mosaik's ``exceptions.py``: :class:`ScenarioError` for bad input or set-up
(the command line exits with code 2) and :class:`SimulationError` for a failure while
something runs (also exit code 2; a *completed* run whose checks fail exits with 1 and does not
raise).  Every error carries a message that says what is wrong, where, and how to fix it.
"""

from __future__ import annotations

import re

_NUMPY_SCALAR = re.compile(r"\bnp\.(?:float|int|uint|bool_?|str_)\d*\(([^()]*)\)")


def plain_message(text: str) -> str:
    """``text`` without numpy's scalar reprs: ``np.float64(0.5)`` -> ``0.5`` (numpy >= 2).

    The one place every error message passes before it is printed, so a value that reached a
    message as a numpy scalar inside a list or ``repr`` reads as the number it is.
    """
    return _NUMPY_SCALAR.sub(r"\1", text)


class V2XError(Exception):
    """Base class of all v2xcosim errors; ``str(err)`` is a complete user-facing message."""

    exit_code: int = 2


class ScenarioError(V2XError):
    """Bad input: a scenario, model source, FMU archive, reference file or argument."""


class SimulationError(V2XError):
    """A failure while building or running something (compiler, FMU call, power flow)."""


class ModelicaSubsetError(ScenarioError):
    """A Modelica source uses a construct outside the supported subset."""

    def __init__(self, message: str, *, file: str | None, line: int | None, construct: str) -> None:
        """Create the error; ``file``/``line`` locate the construct in the ``.mo`` source."""
        super().__init__(message)
        self.file = file
        self.line = line
        self.construct = construct


class ToolMissingError(ScenarioError):
    """A required external tool (C compiler, ...) is not installed."""


class FmuCallError(SimulationError):
    """An FMI function returned a status other than OK/warning."""

    def __init__(self, message: str, *, function: str, status: int, instance: str) -> None:
        """Create the error for ``function`` that returned ``status`` on ``instance``."""
        super().__init__(message)
        self.function = function
        self.status = status
        self.instance = instance


class Interrupted(V2XError):
    """The command was stopped by a signal (SIGINT, SIGTERM, SIGHUP); it cleaned up and ends."""

    def __init__(self, signum: int) -> None:
        """Create the error for signal number ``signum``."""
        import signal

        self.signum = signum
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        super().__init__(f"stopped by {name}; no process or temporary folder is left behind")
