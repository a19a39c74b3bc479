"""Units and THE sign convention of v2xcosim.

Load convention at every grid connection: **positive power is drawn from the grid** (charging,
building import); negative power is fed into the grid (V2G discharge, PV export, reverse flow at
the substation).  Battery-side DC power uses the same sense (positive = charging the battery).
Reactive power is positive when absorbed (inductive load behaviour).  Setpoints to chargers are
in W per connector, negative = discharge.  SOC is a fraction in [0, 1].

Inside v2xcosim powers are in W / var, energies in J (meters) or kWh (KPIs, named ``*_kwh``),
temperatures in K, time in s.  pandapower's MW/MVAr and its per-element sign (``sgen`` uses the
generator convention) are converted only inside :mod:`v2xcosim.grid`.
"""

from __future__ import annotations

import math

W_PER_KW = 1_000.0
W_PER_MW = 1_000_000.0
J_PER_KWH = 3_600_000.0
KELVIN_OFFSET = 273.15


def kw_to_w(p_kw: float) -> float:
    """Convert kW to W."""
    return p_kw * W_PER_KW


def w_to_mw(p_w: float) -> float:
    """Convert W to MW (pandapower's unit)."""
    return p_w / W_PER_MW


def mw_to_w(p_mw: float) -> float:
    """Convert MW (pandapower's unit) to W."""
    return p_mw * W_PER_MW


def j_to_kwh(e_j: float) -> float:
    """Convert J to kWh."""
    return e_j / J_PER_KWH


def celsius_to_kelvin(t_degc: float) -> float:
    """Convert °C to K."""
    return t_degc + KELVIN_OFFSET


def q_from_cos_phi(p_w: float, cos_phi: float) -> float:
    """Reactive power [var] of a load drawing ``p_w`` [W] at power factor ``cos_phi``.

    The sign follows the load convention: an inductive (lagging) load drawing active power
    absorbs reactive power (``q > 0`` for ``p > 0``).  ``cos_phi`` must be in (0, 1].
    """
    if not 0.0 < cos_phi <= 1.0:
        raise ValueError(f"cos_phi must be in (0, 1], got {cos_phi}")
    return p_w * math.tan(math.acos(cos_phi))
