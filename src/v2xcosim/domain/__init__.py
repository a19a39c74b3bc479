"""Floor 1: plain-Python actors of the co-simulation (no mosaik, no scenario schema).

Sessions, users, CS EMS, strategies, DSO, EMSP, LFMP, flexibility providers and KPI helpers take
dataclasses and numbers; a use case's ``wiring`` maps its scenario schema onto them.  Every actor
draws random numbers only from its own stream (:func:`v2xcosim.core.rng.rng_for`).
"""
