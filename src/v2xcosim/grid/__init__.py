"""Grid models on pandapower: network builders, the per-step power flow and limit checks.

All pandapower units (MW, MVAr) and per-element sign conventions are converted here; the rest
of v2xcosim sees W/var in the load convention of :mod:`v2xcosim.core.units`.  The power flow is
**balanced three-phase** (positive sequence): single-phase chargers and phase unbalance are not
represented.
"""
