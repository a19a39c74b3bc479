"""CS EMS / CS controller of a public charging site (plain Python, vectorised over connectors).

* :class:`ChargingSite` allocates a free connector to an arriving session (lowest connector
  first; ``None`` when the site is full) and releases it at departure.
* :func:`power_bounds` is the **SOC guard**: the interval ``[p_lo, p_hi]`` [W, load convention]
  a connector may draw during the next step so that (a) the SOC stays within
  ``[soc_min, soc_max]``, (b) the ratings are kept and (c) the wished departure SOC stays
  reachable by charging at full power for the rest of the stay ("must-charge" rule).  If the
  wish is already infeasible, ``p_lo = p_hi = p_max_charge`` (charge as fast as possible).
  An EV that may not discharge (``p_max_discharge_w = 0``) is never charged above its target
  (``soc_target``, the wish plus the guard's margin): that would be overfill its user pays for.
* :meth:`ChargingSite.dispatch` turns requested P/Q per connector (from the EMSP via the
  DriVe2X adapter, or from a strategy) into setpoints for the charger FMUs: P clipped into the
  guard interval, Q limited to the converter's remaining apparent power
  ``sqrt(S² − P²)``.  The CS EMS enforces these limits itself, whatever it is asked.

Energy bookkeeping: grid power ``P > 0`` adds ``P·η_ch·Δt`` to the battery; ``P < 0`` removes
``|P|·Δt/η_dis``.  SOC is a fraction, capacities usable kWh.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError
from v2xcosim.core.units import J_PER_KWH

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class EvArrays:
    """State of connected EVs as equal-length arrays (one entry per connector or session).

    ``departure_s`` in s on the run clock; powers in W (both limits ≥ 0); capacities usable kWh;
    efficiencies in (0, 1].  ``connected`` False entries get 0 W.
    """

    soc: FloatArray
    capacity_kwh: FloatArray
    departure_s: FloatArray
    soc_target: FloatArray
    soc_min: FloatArray
    soc_max: FloatArray
    p_max_charge_w: FloatArray
    p_max_discharge_w: FloatArray
    connected: BoolArray
    eta_charge: float = 0.92
    eta_discharge: float = 0.92

    def __post_init__(self) -> None:
        n = self.soc.shape
        for name in _ARRAYS:
            if getattr(self, name).shape != n:
                raise ScenarioError(f"EvArrays.{name}: shape {getattr(self, name).shape} != {n}")
        if not (0 < self.eta_charge <= 1 and 0 < self.eta_discharge <= 1):
            raise ScenarioError("EvArrays: efficiencies must be in (0, 1]")
        c = self.connected
        if np.any(~np.isfinite(self.soc[c])) or np.any((self.soc[c] < 0) | (self.soc[c] > 1)):
            raise ScenarioError("EvArrays.soc: must be finite fractions in [0, 1]")
        if np.any(self.capacity_kwh[c] <= 0):
            raise ScenarioError("EvArrays.capacity_kwh: must be > 0 for connected EVs")
        if np.any(self.soc_min[c] > self.soc_max[c]):
            raise ScenarioError("EvArrays: soc_min must not exceed soc_max")

    def take(self, rows: npt.NDArray[np.int64]) -> EvArrays:
        """Return the EVs at ``rows`` (every array indexed, efficiencies kept)."""
        return dataclasses.replace(self, **{f: getattr(self, f)[rows] for f in _ARRAYS})


_ARRAYS = (
    "soc",
    "capacity_kwh",
    "departure_s",
    "soc_target",
    "soc_min",
    "soc_max",
    "p_max_charge_w",
    "p_max_discharge_w",
    "connected",
)


def power_bounds(ev: EvArrays, t_s: float, dt_s: float) -> tuple[FloatArray, FloatArray]:
    """Compute the allowed grid power ``[p_lo, p_hi]`` [W] per EV for the next step.

    The step is ``[t_s, t_s + dt_s)``.

    See the module docstring.  Disconnected EVs, and EVs whose departure is reached, get
    ``(0, 0)``.  ``p_lo ≤ p_hi`` always holds.
    """
    if dt_s <= 0:
        raise ScenarioError(f"power_bounds: dt_s must be > 0, got {dt_s}")
    cap_j = ev.capacity_kwh * J_PER_KWH
    eta_c, eta_d = ev.eta_charge, ev.eta_discharge
    live = ev.connected & (ev.departure_s > t_s)
    t_rem = np.maximum(ev.departure_s - (t_s + dt_s), 0.0)
    # upper bound: rating and soc_max
    room_j = np.maximum(ev.soc_max - ev.soc, 0.0) * cap_j
    p_hi = np.minimum(ev.p_max_charge_w, room_j / (eta_c * dt_s))
    # must-charge: energy the battery still needs beyond what full power after this step gives
    target = np.minimum(ev.soc_target, ev.soc_max)
    need_j = np.maximum(target - ev.soc, 0.0) * cap_j
    later_j = ev.p_max_charge_w * eta_c * t_rem
    p_must = (need_j - later_j) / (eta_c * dt_s)
    # discharge limit: soc_min and keeping the target reachable after the discharge
    floor_soc = np.maximum(ev.soc_min, target - later_j / np.where(cap_j > 0, cap_j, 1.0))
    spare_j = np.maximum(ev.soc - floor_soc, 0.0) * cap_j
    p_dis = np.minimum(ev.p_max_discharge_w, spare_j * eta_d / dt_s)
    # an EV that may not discharge never needs more than its target: above it is overfill the
    # user pays for (its model efficiency may differ from the vehicle's, so the last step of a
    # schedule is trimmed here, whatever the strategy)
    p_hi = np.where(ev.p_max_discharge_w <= 0.0, np.minimum(p_hi, need_j / (eta_c * dt_s)), p_hi)
    p_lo = np.where(p_must > 0.0, np.minimum(p_must, ev.p_max_charge_w), -p_dis)
    # if the wish is infeasible the guard still charges as fast as the battery allows
    p_lo = np.minimum(p_lo, p_hi)
    p_lo = np.where(live, p_lo, 0.0)
    p_hi = np.where(live, p_hi, 0.0)
    return p_lo.astype(np.float64), p_hi.astype(np.float64)


def soc_after(ev: EvArrays, p_w: FloatArray, dt_s: float) -> FloatArray:
    """SOC after drawing ``p_w`` [W] for ``dt_s`` [s] (the bookkeeping of the module doc)."""
    cap_j = ev.capacity_kwh * J_PER_KWH
    e_j = np.where(p_w >= 0.0, p_w * ev.eta_charge, p_w / ev.eta_discharge) * dt_s
    out: FloatArray = ev.soc + np.where(cap_j > 0, e_j / np.where(cap_j > 0, cap_j, 1.0), 0.0)
    return out


@dataclass
class ChargingSite:
    """A public charging site: connectors with ratings, allocation and setpoint dispatch.

    Connector ids follow OCPP's ``charge_point:evse:connector`` (the DriVe2X ``ConnectedEVId``
    string): double columns ``<site>-col<k>`` with EVSEs 1 and 2, connector 1 each.
    """

    site_id: str
    n_connectors: int
    p_rated_w: float
    s_rated_va: float | None = None
    connector_ids: tuple[str, ...] = field(init=False)
    _occupant: list[str | None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.n_connectors < 1 or self.p_rated_w <= 0:
            raise ScenarioError(f"site {self.site_id}: need n_connectors >= 1 and p_rated_w > 0")
        if self.s_rated_va is None:
            self.s_rated_va = self.p_rated_w
        if self.s_rated_va < self.p_rated_w:
            raise ScenarioError(f"site {self.site_id}: s_rated_va must be >= p_rated_w")
        self.connector_ids = tuple(
            f"{self.site_id}-col{k // 2 + 1}:{k % 2 + 1}:1" for k in range(self.n_connectors)
        )
        self._occupant = [None] * self.n_connectors

    def allocate(self, session_id: str) -> str | None:
        """Connector id for ``session_id`` (lowest free), or None when the site is full."""
        if session_id in self._occupant:
            raise ScenarioError(f"site {self.site_id}: session {session_id} already connected")
        for k, occ in enumerate(self._occupant):
            if occ is None:
                self._occupant[k] = session_id
                return self.connector_ids[k]
        return None

    def release(self, session_id: str) -> str:
        """Free the connector of ``session_id``; returns its id."""
        try:
            k = self._occupant.index(session_id)
        except ValueError:
            raise ScenarioError(
                f"site {self.site_id}: session {session_id} not connected"
            ) from None
        self._occupant[k] = None
        return self.connector_ids[k]

    def occupants(self) -> tuple[str | None, ...]:
        """Session id per connector (None = free)."""
        return tuple(self._occupant)

    def dispatch(
        self,
        ev: EvArrays,
        t_s: float,
        dt_s: float,
        p_request_w: FloatArray,
        q_request_var: FloatArray | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Per-connector P [W] and Q [var] setpoints within ratings and SOC limits.

        ``ev`` arrays are per connector (length ``n_connectors``); the connector rating caps
        the EV's own limits.
        """
        if ev.soc.shape != (self.n_connectors,) or p_request_w.shape != (self.n_connectors,):
            raise ScenarioError(
                f"site {self.site_id}: arrays must have {self.n_connectors} entries"
            )
        if not np.all(np.isfinite(p_request_w)):
            raise ScenarioError(f"site {self.site_id}: non-finite P request")
        rated = EvArrays(
            soc=ev.soc,
            capacity_kwh=ev.capacity_kwh,
            departure_s=ev.departure_s,
            soc_target=ev.soc_target,
            soc_min=ev.soc_min,
            soc_max=ev.soc_max,
            p_max_charge_w=np.minimum(ev.p_max_charge_w, self.p_rated_w),
            p_max_discharge_w=np.minimum(ev.p_max_discharge_w, self.p_rated_w),
            connected=ev.connected,
            eta_charge=ev.eta_charge,
            eta_discharge=ev.eta_discharge,
        )
        lo, hi = power_bounds(rated, t_s, dt_s)
        p = np.clip(p_request_w, lo, hi)
        s_va = self.p_rated_w if self.s_rated_va is None else self.s_rated_va
        q_lim = np.sqrt(np.maximum(s_va**2 - p**2, 0.0))
        q_req = np.zeros_like(p) if q_request_var is None else q_request_var
        if not np.all(np.isfinite(q_req)):
            raise ScenarioError(f"site {self.site_id}: non-finite Q request")
        q = np.where(ev.connected, np.clip(q_req, -q_lim, q_lim), 0.0)
        return p, q


__all__ = ["ChargingSite", "EvArrays", "power_bounds", "soc_after"]
