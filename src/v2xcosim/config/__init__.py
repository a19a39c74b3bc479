"""Floor 1: the scenario schema's shared parts (pydantic) and the TOML loader.

A use case's own scenario model lives in its package (``usecases/<name>/schema.py``), built on
:mod:`v2xcosim.config.base` and :mod:`v2xcosim.config.common`; :mod:`v2xcosim.scenario`
assembles the discriminated union on ``use_case`` from the registry.
"""
