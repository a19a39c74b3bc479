"""Thin layer over fmpy's FMI 2.0 Co-Simulation and Model Exchange classes.

One choke point for foreign calls: every FMI call goes through :meth:`FmuRunner.call`, which
turns a bad status into :class:`~v2xcosim.core.errors.FmuCallError` carrying the FMU's own log
messages
(which name the variable and time for non-finite values).  Unknown variable names are an error
(fmpy itself would ignore them).  Archives are opened through
:func:`v2xcosim.fmu.archive.open_fmu`.
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from v2xcosim.core.errors import FmuCallError, ScenarioError
from v2xcosim.fmu.archive import OpenedFmu, open_fmu


def _unknown(name: str, known: Sequence[str], fmu: str) -> ScenarioError:
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ScenarioError(f"FMU {fmu}: no variable named {name!r}.{hint}")


class FmuRunner:
    """One FMI 2.0 instance (Co-Simulation or Model Exchange) of an opened FMU."""

    def __init__(
        self,
        opened: OpenedFmu,
        *,
        kind: str = "CoSimulation",
        instance_name: str = "v2x",
        logging: bool = False,
    ) -> None:
        """Load the binary and instantiate; ``kind`` is ``CoSimulation`` or ``ModelExchange``.

        ``logging`` turns on the FMU's debug logging (FMI ``loggingOn``): its informational
        messages are collected in :attr:`messages` next to its warnings and errors.
        """
        from fmpy.fmi2 import (
            FMU2Model,
            FMU2Slave,
            fmi2CallbackAllocateMemoryTYPE,
            fmi2CallbackFreeMemoryTYPE,
            fmi2CallbackFunctions,
            fmi2CallbackLoggerTYPE,
            fmi2StepFinishedTYPE,
        )

        md = opened.model_description
        if str(md.fmiVersion) != "2.0":
            raise ScenarioError(
                f"FMU {opened.path}: FMI {md.fmiVersion}; this runner needs FMI 2.0"
            )
        iface = md.coSimulation if kind == "CoSimulation" else md.modelExchange
        if iface is None:
            raise ScenarioError(f"FMU {opened.path}: has no {kind} interface")
        self.path = opened.path
        self.kind = kind
        self.variables: Mapping[str, Any] = opened.variables
        self.messages: list[str] = []
        self.time = 0.0
        cls = FMU2Slave if kind == "CoSimulation" else FMU2Model

        def _log(env: Any, inst: bytes, status: int, cat: bytes, msg: bytes) -> None:
            text = (msg or b"").decode("utf-8", "replace").replace("%%", "%")
            self.messages.append(text)

        libc = ctypes.CDLL(None)
        libc.calloc.restype = ctypes.c_void_p
        libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
        libc.free.argtypes = [ctypes.c_void_p]
        self._cb_refs = (
            fmi2CallbackLoggerTYPE(_log),
            fmi2CallbackAllocateMemoryTYPE(libc.calloc),
            fmi2CallbackFreeMemoryTYPE(libc.free),
            fmi2StepFinishedTYPE(),
        )
        callbacks = fmi2CallbackFunctions()
        (
            callbacks.logger,
            callbacks.allocateMemory,
            callbacks.freeMemory,
            callbacks.stepFinished,
        ) = self._cb_refs
        callbacks.componentEnvironment = None
        self._callbacks = callbacks
        self.fmu = cls(
            guid=md.guid,
            unzipDirectory=str(opened.unzipdir),
            modelIdentifier=iface.modelIdentifier,
            instanceName=instance_name,
        )
        self.call(
            "instantiate",
            lambda: self.fmu.instantiate(callbacks=callbacks, loggingOn=logging),
        )

    # ------------------------------------------------------------------ choke point
    def call(
        self,
        what: str,
        fn: Callable[[], Any],
        *,
        time_s: float | None = None,
        owner: str | None = None,
    ) -> Any:
        """Make an FMI call: the one choke point where a bad status becomes an error.

        The :class:`FmuCallError` names the FMU, the ``owner`` (the site an instance serves) when
        given, the function, the simulated time (``time_s``, default :attr:`time`) and the FMU's
        last log messages.
        """
        from fmpy.fmi1 import FMICallException

        who = f" (site {owner})" if owner else ""
        try:
            return fn()
        except FMICallException as exc:
            status = int(getattr(exc, "status", 3))
            log = "; ".join(self.messages[-3:]) or "the FMU logged no message"
            t = self.time if time_s is None else time_s
            raise FmuCallError(
                f"FMU {self.path.name}{who} failed in {what} at simulated time t = {t:g} s with "
                f"status {status} ({log}); check the FMU's inputs and parameters at that time",
                function=what,
                status=status,
                instance=owner or str(self.path),
            ) from None
        except OSError as exc:
            raise FmuCallError(
                f"FMU {self.path.name}{who}: {what} failed: {exc}",
                function=what,
                status=4,
                instance=owner or str(self.path),
            ) from None
        except Exception as exc:  # fmpy raises a bare Exception when instantiate returns NULL
            log = "; ".join(self.messages[-3:]) or "the FMU logged no message"
            raise FmuCallError(
                f"FMU {self.path.name}{who}: {what} failed: {exc} (the FMU says: {log})",
                function=what,
                status=4,
                instance=owner or str(self.path),
            ) from None

    def vr(self, names: Sequence[str]) -> list[int]:
        """Value references of ``names``; an unknown name is a :class:`ScenarioError`."""
        out = []
        for n in names:
            v = self.variables.get(n)
            if v is None:
                raise _unknown(n, list(self.variables), self.path.name)
            out.append(int(v.valueReference))
        return out

    # ------------------------------------------------------------------ life cycle
    def initialize(
        self,
        start_values: dict[str, float] | None = None,
        *,
        start_time: float = 0.0,
        tolerance: float | None = None,
    ) -> None:
        """Set start values, then set up the experiment and initialise."""
        self.time = start_time
        self.call(
            "setupExperiment",
            lambda: self.fmu.setupExperiment(tolerance=tolerance, startTime=start_time),
        )
        if start_values:
            names = list(start_values)
            self.set(names, [start_values[n] for n in names])
        self.call("enterInitializationMode", self.fmu.enterInitializationMode)
        self.call("exitInitializationMode", self.fmu.exitInitializationMode)

    def set(self, names: Sequence[str], values: Sequence[float] | NDArray[np.float64]) -> None:
        """Set Real variables by name."""
        vrs = self.vr(names)
        vals = [float(x) for x in values]
        self.call("fmi2SetReal(" + ", ".join(names[:3]) + ")", lambda: self.fmu.setReal(vrs, vals))

    def get(self, names: Sequence[str]) -> NDArray[np.float64]:
        """Get Real variables by name."""
        vrs = self.vr(names)
        return np.asarray(self.call("fmi2GetReal", lambda: self.fmu.getReal(vrs)), dtype=float)

    def do_step(self, h: float) -> None:
        """Advance a Co-Simulation FMU by ``h`` seconds."""
        t = self.time
        self.call(
            "fmi2DoStep",
            lambda: self.fmu.doStep(currentCommunicationPoint=t, communicationStepSize=h),
        )
        self.time = t + h

    def get_state(self) -> Any:
        """Save the FMU state (fmi2GetFMUstate)."""
        return self.call("fmi2GetFMUstate", self.fmu.getFMUstate)

    def set_state(self, state: Any, t: float) -> None:
        """Restore a saved FMU state taken at time ``t``."""
        self.call("fmi2SetFMUstate", lambda: self.fmu.setFMUstate(state))
        self.time = t

    def free_state(self, state: Any) -> None:
        """Free a saved FMU state."""
        self.call("fmi2FreeFMUstate", lambda: self.fmu.freeFMUstate(state))

    def serialize(self, state: Any) -> bytes:
        """Serialize a saved state to bytes."""
        return bytes(self.call("fmi2SerializeFMUstate", lambda: self.fmu.serializeFMUstate(state)))

    def deserialize(self, data: bytes) -> Any:
        """Turn bytes from :meth:`serialize` back into a state."""
        return self.call(
            "fmi2DeSerializeFMUstate", lambda: self.fmu.deSerializeFMUstate(bytes(data))
        )

    def close(self) -> None:
        """Terminate and free the instance (errors while closing are ignored)."""
        # best effort on an instance that may be in error state
        with contextlib.suppress(Exception):
            self.fmu.terminate()
        with contextlib.suppress(Exception):
            self.fmu.freeInstance()


@contextlib.contextmanager
def run_fmu(
    path: Path, *, kind: str = "CoSimulation", instance_name: str = "v2x", logging: bool = False
) -> Iterator[FmuRunner]:
    """Open ``path`` safely and yield an instantiated :class:`FmuRunner`; always cleaned up."""
    with open_fmu(path) as opened:
        runner = FmuRunner(opened, kind=kind, instance_name=instance_name, logging=logging)
        try:
            yield runner
        finally:
            runner.close()
