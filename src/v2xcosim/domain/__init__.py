"""Floor 1: plain-Python actors of the co-simulation (no mosaik, no scenario schema).

Sessions (:mod:`.sessions`, the session book; :mod:`.charging`, the ``sites`` use case's EV
stays), users, CS EMS, strategies, DSO, EMSP, LFMP, the market cycle and its participants
(:mod:`.market`), flexibility providers and KPI helpers take dataclasses and numbers; a use
case's ``wiring`` maps its scenario schema onto them.  Every actor draws random numbers only
from its own stream (:func:`v2xcosim.core.rng.rng_for`).
"""
