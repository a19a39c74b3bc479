"""Your own charging strategy: an example for ``control.strategy = "my_strategies:PeakShaver"``.

v2xcosim imports this module from the scenario file's folder (here ``examples/``, see
``peak_shaver.toml``) or from an installed package, builds ``PeakShaver()`` once per run and
calls ``decide`` every step and charging site, and for the EMSP's plan.  Whatever ``decide``
returns passes the CS EMS guard: setpoints are clipped to the SOC band, the ratings and what
the departure wishes still need, and users outside the campaign charge as ``uncontrolled``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from v2xcosim.domain.strategies import StrategyInputs


class PeakShaver:
    """Soak up reverse flow, discharge into the import peak, otherwise wait.

    From the DSO forecast at the primary substation (``inputs.forecast_p_net_w``, load
    convention, this step first):

    * reverse flow (``p_net < 0``): charge at the EV's full power (the guard stops at
      ``control.soc_max``);
    * an import peak — the forecast import is at or above ``peak_quantile`` of the imports
      still ahead: discharge at ``discharge_share`` of the EV's discharge limit (the guard keeps
      ``soc_min`` and the departure wish reachable);
    * otherwise, and before the first forecast: 0 W; the guard charges late what a wish needs.

    Awarded flexibility (``inputs.flex_w``) is added on top, so market commitments are kept.
    """

    bidirectional = True
    peak_quantile = 0.8
    discharge_share = 0.5

    def decide(self, inputs: StrategyInputs) -> npt.NDArray[np.float64]:
        """Return the P setpoint [W, + = charge] of each EV in ``inputs.ev``."""
        ev = inputs.ev
        p = np.zeros(inputs.n_ev)
        forecast = inputs.forecast_p_net_w[np.isfinite(inputs.forecast_p_net_w)]
        now = float(inputs.forecast_p_net_w[0]) if len(inputs.forecast_p_net_w) else np.nan
        if now < 0.0:
            p = ev.p_max_charge_w.copy()
        elif now > 0.0 and now >= np.quantile(forecast[forecast > 0.0], self.peak_quantile):
            p = -self.discharge_share * ev.p_max_discharge_w
        out: npt.NDArray[np.float64] = p + inputs.flex_w
        return out
