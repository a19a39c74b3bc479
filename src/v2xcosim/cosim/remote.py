"""mosaik starters for simulators in a child process or on another machine, watched for loss.

mosaik's own ``cmd`` and ``connect`` starters (``mosaik/starters.py``: ``CmdStarter``,
``ConnectStarter``) are what the ``sim_config`` entries ``{"cmd": ...}`` and
``{"connect": "host:port"}`` become.  :class:`ProcessStarter` and :class:`ConnectStarter` are
those two, with two differences that make a run with remote simulators end like one without:

* **A lost simulator stops the run, named.**  mosaik notices a broken connection only when the
  far end closed it cleanly while a request waited.  A reset connection (a killed process, a
  dropped network link) ends the channel's reader with an exception that answers no request,
  and a request sent after the far end has gone is never answered: mosaik would wait forever.
  :class:`WatchedProxy` looks at the connection every :data:`WATCH_S` seconds while it waits and
  raises :class:`RemoteSimulatorLost` naming the simulator, where it was placed and the call.
* **A remote simulator's error is the error of the run.**  mosaik logs an exception raised in a
  remote simulator and returns from ``World.run`` as if the run had ended
  (``AsyncWorld.run`` catches ``RemoteException``).  :class:`WatchedProxy` raises it instead as
  the project's own :class:`~v2xcosim.core.errors.ScenarioError` or
  :class:`~v2xcosim.core.errors.SimulationError` with the remote message, which names simulator,
  entity and simulated time when the failure was inside a guarded call
  (:func:`v2xcosim.cosim.adapters.guarded`); otherwise the simulator and the call are added.

A child process (:class:`ProcessStarter`) is not killed 0.1 s after it was asked to stop, as
mosaik's ``CmdStarter`` does with ``auto_terminate``: it is given :data:`STOP_WAIT_S` to run its
``finalize`` (freeing FMUs and their extraction folders) and end by itself, and is killed only
after that, so no process outlives the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import subprocess
import sys
from typing import Any

from mosaik.exceptions import ConnectionClosedError
from mosaik.proxies import RemoteProxy
from mosaik.starters import Starter
from mosaik_api_v3.connection import Channel, RemoteException

from v2xcosim.core.errors import ScenarioError, SimulationError
from v2xcosim.cosim.adapters import to_wire

WATCH_S = 0.25
"""How often [s] a connection is looked at while an answer is awaited (assumption: a loss is
noticed within a quarter second; the look costs microseconds)."""

STOP_WAIT_S = 30.0
"""How long [s] a child process may take to end by itself after the run stopped it
(assumption: its ``finalize`` frees FMUs, well under a second on an idle machine)."""


class RemoteSimulatorLost(SimulationError):
    """The connection to a simulator in another process or on another machine broke."""

    def __init__(self, name: str, where: str, method: str) -> None:
        """Create the error: simulator ``name``, placed ``where``, lost at its ``method`` call."""
        self.name = name
        super().__init__(
            f"lost the remote simulator {name} ({where}) at its {method!r} call: its process "
            "ended or its connection broke, and the run was stopped. Look at that process (its "
            "messages; was it killed?) and run again"
        )


class WatchedProxy(RemoteProxy):
    """mosaik's proxy of a remote simulator that refuses to wait on a closed connection."""

    def __init__(
        self,
        channel: Channel,
        mosaik_remote: Any,
        reader: asyncio.StreamReader,
        *,
        name: str,
        where: str,
        process: subprocess.Popen[str] | None = None,
    ) -> None:
        """Wrap ``channel`` (read through ``reader``) to simulator ``name`` placed ``where``."""
        super().__init__(channel, mosaik_remote)
        self._reader = reader
        self._name = name
        self._where = where
        self._proc = process

    async def send(self, request: Any) -> Any:
        """Send ``request`` as plain JSON data (:func:`~v2xcosim.cosim.adapters.to_wire`).

        Raises :class:`RemoteSimulatorLost` or the simulator's own error.

        While the answer is awaited, the connection is looked at every :data:`WATCH_S`
        seconds: a far end that closed (EOF) or reset it ends the wait.
        """
        method = str(request[0])
        if self._broken():  # nothing would ever answer
            raise RemoteSimulatorLost(self._name, self._where, method)
        # in-process simulators hand over Python objects (numpy values among them): made plain
        # JSON data here, where they leave the process, as a placed simulator's answers are
        request = to_wire(request)
        answer = asyncio.ensure_future(super().send(request))
        try:
            while True:
                done, _ = await asyncio.wait({answer}, timeout=WATCH_S)
                if done:
                    return answer.result()
                if self._broken():
                    raise RemoteSimulatorLost(self._name, self._where, method)
        except (ConnectionClosedError, ConnectionError):
            raise RemoteSimulatorLost(self._name, self._where, method) from None
        except RemoteException as exc:
            cls = ScenarioError if exc.remote_type == "ScenarioError" else SimulationError
            text = str(exc.remote_msg)
            if not text.startswith("simulator "):  # guarded() names simulator, entity, time
                text = (
                    f"simulator {self._name} ({self._where}), {method}: {exc.remote_type}: {text}"
                )
            raise cls(text) from None
        finally:
            if not answer.done():
                answer.cancel()

    def _broken(self) -> bool:
        """Whether the far end closed the connection (EOF) or it broke (reset)."""
        return self._reader.at_eof() or self._reader.exception() is not None

    async def stop(self) -> None:
        """Stop the simulator; a child process gets :data:`STOP_WAIT_S` to end by itself.

        On a broken connection mosaik's own ``stop`` would wait forever for the end of the
        requests from the simulator (the channel's reader died with the reset and never says
        so); here the request handler is cancelled and the connection closed instead.
        """
        if not self._broken():
            try:
                await super().stop()
            except ConnectionError:
                await self._abandon()
            except asyncio.CancelledError:
                # after a failure the run cancels every pending task (the request handler
                # too, whose end mosaik's stop awaits): the connection is closed by then
                if not self._reader_task.cancelled():
                    raise
        else:
            await self._abandon()
        proc = self._proc
        if proc is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(None, proc.wait), STOP_WAIT_S)
        except TimeoutError:
            proc.kill()
            await loop.run_in_executor(None, proc.wait)

    async def _abandon(self) -> None:
        """Close a broken connection without waiting for anything from its far end."""
        handler: asyncio.Task[None] = self._reader_task
        handler.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await handler
        with contextlib.suppress(Exception):
            await self._channel.close()  # type: ignore[no-untyped-call]
        # the channel's reader task ended with the reset; take its exception so that asyncio
        # does not report it as never retrieved (it is the loss already reported)
        receiver = getattr(self._channel, "_receiver_task", None)
        if isinstance(receiver, asyncio.Task) and receiver.done() and not receiver.cancelled():
            receiver.exception()


class ProcessStarter(Starter):
    """Start a simulator as a child process that connects back to mosaik (mosaik's ``cmd``)."""

    def __init__(self, name: str, cmd: str, *, connect_timeout_s: float) -> None:
        """Start simulator ``name`` with ``cmd`` (``%(python)s``, ``%(addr)s`` as in mosaik)."""
        self.name = name
        self.cmd = cmd
        self.connect_timeout_s = connect_timeout_s
        self.api_version = None

    async def start(self, sim_id: str, mosaik_remote: Any, mosaik_config: Any) -> WatchedProxy:
        """Listen on a free loopback port, start the child, wait for its connection."""
        connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
        connected = asyncio.get_running_loop().create_future()

        async def on_connect(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            if not connected.done():
                connected.set_result((r, w))

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        try:
            host, port = server.sockets[0].getsockname()[:2]
            cmd = self.cmd % {"addr": f"{host}:{port}", "python": sys.executable}
            try:
                proc = subprocess.Popen(shlex.split(cmd), text=True)
            except OSError as exc:
                raise SimulationError(
                    f"simulator {self.name} could not be started in a child process ({cmd}): {exc}"
                ) from None
            try:
                reader, writer = await asyncio.wait_for(connected, self.connect_timeout_s)
            except TimeoutError:
                proc.kill()
                proc.wait()
                raise SimulationError(
                    f"simulator {self.name} in a child process ({cmd}) did not connect within "
                    f"{self.connect_timeout_s:g} s"
                ) from None
        finally:
            server.close()
        channel = Channel(reader, writer, name=sim_id)
        where = f'placement.{self.name} = "process", pid {proc.pid}'
        return WatchedProxy(
            channel, mosaik_remote, reader, name=self.name, where=where, process=proc
        )

    @classmethod
    def from_starter_config(cls, starter_config: Any) -> None:
        """Not read from dict entries: the project builds this starter itself."""
        return None


class ConnectStarter(Starter):
    """Connect to a simulator listening at ``host:port`` (mosaik's ``connect``)."""

    def __init__(self, name: str, host: str, port: int) -> None:
        """Connect simulator ``name`` to ``host:port`` (a running ``v2xcosim serve``)."""
        self.name = name
        self.host = host
        self.port = port
        self.api_version = None

    async def start(self, sim_id: str, mosaik_remote: Any, mosaik_config: Any) -> WatchedProxy:
        """Open the connection; a refused or unreachable address is a :class:`SimulationError`."""
        addr = f"{self.host}:{self.port}"
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise SimulationError(
                f"simulator {self.name}: could not connect to placement.{self.name} = "
                f'"{addr}" ({exc}); start it there first: v2xcosim serve {self.name} --addr {addr}'
            ) from None
        channel = Channel(reader, writer, name=sim_id)
        where = f'placement.{self.name} = "{addr}"'
        return WatchedProxy(channel, mosaik_remote, reader, name=self.name, where=where)

    @classmethod
    def from_starter_config(cls, starter_config: Any) -> None:
        """Not read from dict entries: the project builds this starter itself."""
        return None
