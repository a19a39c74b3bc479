"""Where a study's network comes from: a scenario file or a pandapower network file.

:func:`load_network` accepts a scenario TOML (the use case's network and its charging sites'
connection points, :meth:`v2xcosim.usecases.UseCase.network`) or a pandapower JSON file, and
returns a :class:`~v2xcosim.usecases.NetworkLayout`.  A file that does not load is a clear
:class:`~v2xcosim.core.errors.ScenarioError` (exit 2).
"""

from __future__ import annotations

from pathlib import Path

from v2xcosim import usecases
from v2xcosim.core.errors import ScenarioError
from v2xcosim.usecases import NetworkLayout


def load_network(source: str | Path) -> NetworkLayout:
    """Return the network of ``source``: a scenario ``.toml`` or a pandapower ``.json`` file."""
    path = Path(source)
    if not path.is_file():
        raise ScenarioError(f"network source not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        from v2xcosim.scenario import load_scenario

        spec = load_scenario(path)
        return usecases.get(spec.use_case).network(spec)
    if suffix == ".json":
        import pandapower as pp

        try:
            net = pp.from_json(str(path))
        except Exception as exc:  # pandapower raises many kinds for a bad file
            raise ScenarioError(
                f"{path}: not a pandapower network ({type(exc).__name__}: {exc}); "
                "save one with pandapower.to_json(net, path)"
            ) from None
        return NetworkLayout(net, {})
    raise ScenarioError(
        f"{path}: unknown network source; give a scenario (.toml) or a pandapower network (.json)"
    )
