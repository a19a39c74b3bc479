"""v2xcosim: co-simulation of bidirectional EV charging (V2G, V2B).

Physical models are written in Modelica (``models/``) and reach the co-simulation only as
FMI 2.0 FMUs built by :mod:`v2xcosim.fmu`.  See ``README.md`` for the quick start and
:mod:`v2xcosim.core.units` for the one sign convention used everywhere.
"""

from v2xcosim.core.errors import ScenarioError, SimulationError, V2XError

__version__ = "0.1.0"

__all__ = ["ScenarioError", "SimulationError", "V2XError", "__version__"]
