"""Bills of charging sessions: the energy a user pays for, and the statement (steps 12 / 18).

One rule for every use case's EMSP or web app (:meth:`v2xcosim.domain.emsp.Emsp.billed_kwh`
and :meth:`~v2xcosim.domain.emsp.Emsp.statement` delegate here):

* billed energy ``(E_ch − E_dis/(η_c·η_d))⁺`` [kWh], ``E_ch`` and ``E_dis`` the energies
  charged and discharged at the charger (AC meter): each kWh fed back is credited at the
  ``1/(η_c·η_d)`` kWh that put it back, so the operator who orders the V2G/V2B cycles bears
  their losses (an assumption of the use cases: a user who lends the car must not pay for the
  round trip); with both efficiencies 1 this is the net energy drawn;
* statement: cost = tariff [EUR/kWh] × billed energy; net = cost − incentive (+ = the user
  pays), the incentive being whatever the use case pays the user for the flexibility
  (e.g. a share of a flexibility market's revenue, or a compensation per kWh discharged).
"""

from __future__ import annotations

import math

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.messages import UserStatement


def billed_kwh(
    energy_charged_kwh: float,
    energy_discharged_kwh: float,
    *,
    eta_charge: float = 1.0,
    eta_discharge: float = 1.0,
) -> float:
    """Energy [kWh] the user pays for: ``(E_ch − E_dis/(η_c·η_d))⁺`` (module docstring)."""
    if not (0.0 < eta_charge <= 1.0 and 0.0 < eta_discharge <= 1.0):
        raise ScenarioError(
            f"billing: eta_charge and eta_discharge must be in (0, 1], got "
            f"{eta_charge}, {eta_discharge}"
        )
    credit = energy_discharged_kwh / (eta_charge * eta_discharge)
    return max(energy_charged_kwh - credit, 0.0)


def user_statement(
    user_id: str,
    session_id: str,
    *,
    energy_charged_kwh: float,
    energy_discharged_kwh: float,
    soc_departure: float,
    tariff_eur_per_kwh: float,
    incentive_eur: float,
    eta_charge: float = 1.0,
    eta_discharge: float = 1.0,
) -> UserStatement:
    """Return the user's bill: tariff × :func:`billed_kwh`, minus the incentive [EUR]."""
    for key, value in (
        ("energy_charged_kwh", energy_charged_kwh),
        ("energy_discharged_kwh", energy_discharged_kwh),
        ("tariff_eur_per_kwh", tariff_eur_per_kwh),
    ):
        if not (math.isfinite(value) and value >= 0.0):
            raise ScenarioError(f"billing: {key} of session {session_id!r} must be finite and >= 0")
    if not math.isfinite(incentive_eur):
        raise ScenarioError(f"billing: incentive_eur of session {session_id!r} must be finite")
    cost = tariff_eur_per_kwh * billed_kwh(
        energy_charged_kwh,
        energy_discharged_kwh,
        eta_charge=eta_charge,
        eta_discharge=eta_discharge,
    )
    return UserStatement(
        user_id=user_id,
        session_id=session_id,
        energy_charged_kwh=energy_charged_kwh,
        energy_discharged_kwh=energy_discharged_kwh,
        soc_departure=soc_departure,
        energy_cost_eur=cost,
        incentive_eur=incentive_eur,
        net_eur=cost - incentive_eur,
    )


__all__ = ["billed_kwh", "user_statement"]
