"""Where a study's network comes from: a scenario, a network file, a SimBench code or a name.

:func:`load_network` accepts (see :data:`SOURCES`)

* a scenario ``.toml`` — the use case's network and its charging sites' connection points
  (:meth:`v2xcosim.usecases.UseCase.network`);
* a pandapower ``.json`` file (``pandapower.to_json``; a run folder's ``network.json``);
* a MATPOWER case, ``.m`` (read with ``matpowercaseframes``) or ``.mat``, converted by
  pandapower's ``pandapower.converter.matpower.from_mpc`` (50 Hz);
* a SimBench code, ``simbench:1-LV-rural1--0-sw`` or the bare code, read offline from the
  files inside the ``simbench`` package (``simbench.get_simbench_net``);
* a built-in network name of :mod:`v2xcosim.grid.networks` (``cigre_lv``);

and returns a :class:`~v2xcosim.usecases.NetworkLayout` whose network passed
:func:`check_network`: every in-service bus named (unique names; a MATPOWER bus without a name
becomes ``bus <number>``), with a nominal voltage and supplied from an external grid; every
in-service line rated (``max_i_ka``) and transformer rated (``sn_mva``); every bus asked for
present.  Anything else — a file that is missing or does not load, an unknown source — is a
:class:`~v2xcosim.core.errors.ScenarioError` naming the element (exit 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from v2xcosim import usecases
from v2xcosim.core.errors import ScenarioError
from v2xcosim.grid.sources import (
    FILE_SUFFIXES,
    SOURCES,
    UNRATED_I_KA,
    check_network,
    load_source,
    require_buses,
)
from v2xcosim.usecases import NetworkLayout


def load_network(source: str | Path, *, buses: Iterable[str] = ()) -> NetworkLayout:
    """Return the checked network of ``source`` (see the module docstring).

    ``buses`` are bus names that must exist (a study's points of interest); a scenario's
    connection points are checked as well.
    """
    text = str(source)
    path = Path(text)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".toml":
            from v2xcosim.scenario import load_scenario

            spec = load_scenario(path)
            layout = usecases.get(spec.use_case).network(spec)
            where = f"{path} (use case {spec.use_case})"
            check_network(layout.net, where)
            for owner, points in layout.connection_points.items():
                require_buses(layout.net, points, f"{where}: {owner}")
            require_buses(layout.net, buses, where)
            return layout
        if suffix not in FILE_SUFFIXES:
            raise ScenarioError(f"{path}: unknown network source; give {SOURCES}")
        net, where = load_source(path)
    else:
        net, where = load_source(text)
    check_network(net, where)
    require_buses(net, buses, where)
    return NetworkLayout(net, {})


__all__ = ["SOURCES", "UNRATED_I_KA", "check_network", "load_network", "require_buses"]
