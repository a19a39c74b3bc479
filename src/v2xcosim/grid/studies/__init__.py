"""Grid impact studies as plain computations on a pandapower network (no scenario, no mosaik).

Each module takes a network (and a run's tables where needed) and returns tables; the command
line and the choice of network live in :mod:`v2xcosim.studies`.
"""
