"""Where each simulator of a world runs: in this process, in a child process, or elsewhere.

mosaik starts a simulator from its ``sim_config`` entry: ``{"python": "module:Class"}`` in the
running process, ``{"cmd": ...}`` as a child process that connects back over TCP, or
``{"connect": "host:port"}`` to a simulator already listening there (mosaik's
``starters.py``).  A scenario's ``[placement]`` table maps a simulator name
(:data:`SIMULATORS`) to one of :data:`IN_PROCESS`, :data:`PROCESS` or ``"host:port"``
(:func:`placement_problems` checks it, :func:`sim_config` turns it into mosaik's entries).

A simulator placed elsewhere is one of the project's own adapters, started by name:
``v2xcosim serve NAME --addr HOST:PORT`` (:func:`serve`) listens for mosaik's connection, and
the child process of a :data:`PROCESS` placement runs ``python -m v2xcosim.cosim.placement
NAME HOST:PORT`` (:func:`main`), which connects to mosaik.  Both run the simulator with
mosaik-api-v3's ``run_simulator``, as its ``start_simulation`` does (``run_as_client`` here;
``serve`` binds the socket itself so that it can say when it listens, take port 0 for a free
port and refuse a second connection; ``start_simulation`` reads ``sys.argv`` through docopt, so
it cannot sit under the project's own command line).

What a remote simulator needs: the same project version, the FMU files and, for ``Actors``
of a use case that writes its own tables, the run folder at the same paths (one machine,
or a shared file system) — its parameters carry absolute paths.  ``Store`` always runs in the
process of the run: it writes the run folder and is the heartbeat the run's watchdog listens to
(a pipe that does not cross processes).
"""

from __future__ import annotations

import asyncio
import importlib
import ipaddress
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import mosaik_api_v3
from mosaik_api_v3.connection import Channel

from v2xcosim.core.errors import ScenarioError
from v2xcosim.cosim.adapters import on_wire

SIMULATORS: dict[str, str] = {
    "Profiles": "v2xcosim.cosim.profile_sim:ProfileSim",
    "Grid": "v2xcosim.cosim.grid_sim:GridSim",
    "FMU": "v2xcosim.cosim.fleet_sim:FmuSim",
    "Actors": "v2xcosim.cosim.flow_sim:FlowSim",
    "Store": "v2xcosim.cosim.store_sim:StoreSim",
}
"""Every simulator a world uses, by name -> ``"module:Class"`` (mosaik's import string)."""

IN_PROCESS = "in-process"
"""Placement: the simulator runs in the process of the run (the default)."""
PROCESS = "process"
"""Placement: the simulator runs in a child process started by mosaik (``cmd``)."""
LOCAL_ONLY = frozenset({"Store"})
"""Simulators that must run in the process of the run (see the module docstring)."""

CONNECT_TIMEOUT_S = 60
"""How long [s] ``serve`` waits for mosaik to connect, and mosaik for a child process
(assumption: generous for a loaded machine; mosaik's own default ``start_timeout`` is 10 s)."""


def parse_address(text: str, *, any_port: bool = False) -> tuple[str, int]:
    """Return ``(host, port)`` of ``"host:port"`` (IPv6 hosts in brackets: ``"[::1]:5678"``).

    Raises ``ValueError`` naming what is wrong: no colon, an empty host, a port that is not an
    integer in 1-65535 (or 0, "any free port", when ``any_port``: for listening only).
    """
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not an address; write host:port, e.g. 127.0.0.1:5678")
    if host.startswith("[") and host.endswith("]"):
        host = str(ipaddress.IPv6Address(host[1:-1]))
    elif ":" in host:
        raise ValueError(f"{text!r}: write an IPv6 host in brackets, e.g. [::1]:5678")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{text!r}: the port {port_text!r} is not an integer") from None
    if not (0 if any_port else 1) <= port <= 65535:
        raise ValueError(f"{text!r}: the port {port} is outside {0 if any_port else 1}-65535")
    return host, port


def placement_problems(placement: Mapping[str, str]) -> list[tuple[str, str]]:
    """Check a ``[placement]`` table; return ``(key path, message)`` per problem (all at once)."""
    problems: list[tuple[str, str]] = []
    for name, where in placement.items():
        path = f"placement.{name}"
        if name not in SIMULATORS:
            problems.append(
                (path, f"{name!r} is not a simulator; the simulators are {', '.join(SIMULATORS)}")
            )
            continue
        if where == IN_PROCESS:
            continue
        if name in LOCAL_ONLY:
            problems.append(
                (
                    path,
                    f"{name} runs in the process of the run (it writes the run folder and is the "
                    f'watchdog\'s heartbeat); remove the key or write "{IN_PROCESS}"',
                )
            )
            continue
        if where == PROCESS:
            continue
        try:
            parse_address(where)
        except ValueError as exc:
            problems.append(
                (path, f'{exc}; or write "{IN_PROCESS}" or "{PROCESS}" (a child process)')
            )
    return problems


def process_command(name: str) -> str:
    """Return mosaik's ``cmd`` for simulator ``name`` in a child process.

    mosaik fills ``%(python)s`` (its own interpreter) and ``%(addr)s`` (where it listens).
    """
    return f"%(python)s -m v2xcosim.cosim.placement {name} %(addr)s"


def sim_config(placement: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return mosaik's ``sim_config`` for ``placement`` (checked; simulators not named: here).

    In-process simulators get mosaik's ``{"python": "module:Class"}`` entry; the others get the
    ``cmd`` and ``connect`` starters of :mod:`v2xcosim.cosim.remote` (mosaik accepts a starter
    object as an entry), which stop the run naming a simulator whose process is lost.
    """
    problems = placement_problems(placement or {})
    if problems:
        raise ScenarioError("; ".join(f"{path}: {msg}" for path, msg in problems))
    from v2xcosim.cosim.remote import ConnectStarter, ProcessStarter

    config: dict[str, Any] = {}
    for name, target in SIMULATORS.items():
        where = (placement or {}).get(name, IN_PROCESS)
        if where == IN_PROCESS:
            config[name] = {"python": target}
        elif where == PROCESS:
            config[name] = ProcessStarter(
                name, process_command(name), connect_timeout_s=CONNECT_TIMEOUT_S
            )
        else:
            config[name] = ConnectStarter(name, *parse_address(where))
    return config


def remote_names(placement: Mapping[str, str] | None) -> list[str]:
    """Return the simulators ``placement`` puts outside the process of the run."""
    return [n for n, where in (placement or {}).items() if where != IN_PROCESS]


def simulator(name: str) -> mosaik_api_v3.Simulator:
    """Return a new instance of the project's simulator ``name`` (:data:`SIMULATORS`), placed.

    For a process of its own (:func:`serve`, :func:`main`): its ``get_data`` answers leave the
    process as JSON, so they pass through :func:`~v2xcosim.cosim.adapters.to_wire`
    (:func:`~v2xcosim.cosim.adapters.on_wire`).
    """
    if name not in SIMULATORS:
        raise KeyError(name)
    module, _, cls = SIMULATORS[name].partition(":")
    sim: mosaik_api_v3.Simulator = getattr(importlib.import_module(module), cls)()
    return on_wire(sim)


def serve(
    name: str,
    host: str,
    port: int,
    *,
    timeout_s: float = CONNECT_TIMEOUT_S,
    on_listen: Callable[[str, int], None] | None = None,
    on_connect: Callable[[str], None] | None = None,
) -> None:
    """Listen on ``host:port`` for one mosaik connection and run simulator ``name`` for it.

    ``port`` 0 picks a free port; ``on_listen(host, port)`` is called once the socket listens
    (with the real port), ``on_connect(peer)`` when the run has connected (``"host:port"``).
    Returns when mosaik stops the simulator or closes the connection,
    after the simulator's ``finalize``.  A second connection while one is served is closed at
    once.  Raises ``OSError`` when the address cannot be bound and :class:`ScenarioError` when
    no connection arrives within ``timeout_s`` seconds.
    """
    sim = simulator(name)
    asyncio.run(_serve(sim, name, host, port, timeout_s, on_listen, on_connect))


async def _serve(
    sim: mosaik_api_v3.Simulator,
    name: str,
    host: str,
    port: int,
    timeout_s: float,
    on_listen: Callable[[str, int], None] | None,
    on_connect: Callable[[str], None] | None,
) -> None:
    loop = asyncio.get_running_loop()
    connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
    connected = loop.create_future()

    async def accept(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if connected.done():  # one run per serve: refuse the others
            w.close()
            return
        connected.set_result((r, w))

    server = await asyncio.start_server(accept, host, port)
    try:
        bound = server.sockets[0].getsockname()
        if on_listen is not None:
            on_listen(str(bound[0]), int(bound[1]))
        try:
            reader, writer = await asyncio.wait_for(connected, timeout_s)
        except TimeoutError:
            raise ScenarioError(
                f"serve {name}: no mosaik run connected to {host}:{bound[1]} within "
                f'{timeout_s:g} s; start the run with placement.{name} = "{host}:{bound[1]}" '
                "sooner, or give a longer --timeout"
            ) from None
    finally:
        server.close()
    if on_connect is not None:
        peer = writer.get_extra_info("peername")
        on_connect(f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer))
    channel = Channel(reader, writer, name=name)
    try:
        await mosaik_api_v3.run_simulator(channel, sim, api_compliant=True)
    finally:
        await channel.close()  # type: ignore[no-untyped-call]


def main(argv: Sequence[str] | None = None) -> int:
    """Child process of a :data:`PROCESS` placement: ``NAME HOST:PORT`` (connect to mosaik)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in SIMULATORS:
        print(
            f"usage: python -m v2xcosim.cosim.placement {{{','.join(SIMULATORS)}}} HOST:PORT",
            file=sys.stderr,
        )
        return 2
    try:
        host, port = parse_address(args[1])
    except ValueError as exc:
        print(f"v2xcosim.cosim.placement: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(mosaik_api_v3.run_as_client(simulator(args[0]), host, port))
    except ConnectionError:  # mosaik went away: nothing left to serve
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover - the child process of a "process" placement
    sys.exit(main())
