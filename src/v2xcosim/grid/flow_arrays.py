"""The results of one solved power flow as numpy arrays, whichever solver ran.

A run's grid step reads a handful of quantities per step (bus voltages, slack power, losses,
branch loadings, transformer flows).  Reading them from pandapower's result tables costs
pandas work per step; power-grid-model produces them as arrays in the first place, so
:class:`~v2xcosim.grid.pgm.PgmSolver` hands them over as :class:`FlowArrays` without building
the tables when no controller needs them (:class:`~v2xcosim.grid.powerflow.PowerFlow`'s
``tables`` option).  For pandapower's ``runpp``, :meth:`FlowArrays.from_tables` reads the same
arrays from the tables.  Both give the same bits as the tables: every figure is computed with the
operations the tables' readers used (MW × :data:`~v2xcosim.core.units.W_PER_MW`, NaN-skipping
sums as pandas' ``Series.sum``).

Units: W, var, pu, percent; load convention at the slack (``p_slack_w`` + = imported from the
upstream grid), transformer flows into the HV side (+ = the LV side imports).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from v2xcosim.core.units import W_PER_MW

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FlowArrays:
    """One solved flow's results, in the row order of pandapower's element tables.

    ``vm_pu``: per ``net.bus`` row (NaN where a bus is not supplied); ``line_*`` per
    ``net.line`` row; ``trafo_*`` per ``net.trafo`` row (NaN where pandapower gives NaN);
    ``p_slack_w``/``q_slack_var`` the sums over ``net.ext_grid`` [W, var]; ``p_loss_w`` the
    lines' and transformers' active losses [W].
    """

    vm_pu: FloatArray
    line_loading_percent: FloatArray
    trafo_loading_percent: FloatArray
    trafo_p_hv_w: FloatArray
    trafo_q_hv_var: FloatArray
    p_slack_w: float
    q_slack_var: float
    p_loss_w: float

    @classmethod
    def from_mw(
        cls,
        *,
        vm_pu: FloatArray,
        line_pl_mw: FloatArray,
        line_loading_percent: FloatArray,
        trafo_pl_mw: FloatArray,
        trafo_loading_percent: FloatArray,
        trafo_p_hv_mw: FloatArray,
        trafo_q_hv_mvar: FloatArray,
        ext_grid_p_mw: FloatArray,
        ext_grid_q_mvar: FloatArray,
    ) -> FlowArrays:
        """Build from the values of pandapower's result columns (MW, MVAr)."""
        return cls(
            vm_pu=np.asarray(vm_pu, dtype=float),
            line_loading_percent=np.asarray(line_loading_percent, dtype=float),
            trafo_loading_percent=np.asarray(trafo_loading_percent, dtype=float),
            trafo_p_hv_w=np.asarray(trafo_p_hv_mw, dtype=float) * W_PER_MW,
            trafo_q_hv_var=np.asarray(trafo_q_hv_mvar, dtype=float) * W_PER_MW,
            p_slack_w=float(np.nansum(ext_grid_p_mw)) * W_PER_MW,
            q_slack_var=float(np.nansum(ext_grid_q_mvar)) * W_PER_MW,
            p_loss_w=float(np.nansum(line_pl_mw) + np.nansum(trafo_pl_mw)) * W_PER_MW,
        )

    @classmethod
    def from_tables(cls, net: Any) -> FlowArrays:
        """Read the arrays from pandapower's result tables of ``net``'s last solved flow."""

        def col(table: str, column: str, rows: Any) -> FloatArray:
            res = net[table]
            s = res[column] if res.index.equals(rows) else res[column].reindex(rows)
            return np.asarray(s.to_numpy(dtype=float), dtype=float)

        line, trafo = net.line.index, net.trafo.index
        return cls.from_mw(
            vm_pu=col("res_bus", "vm_pu", net.bus.index),
            line_pl_mw=col("res_line", "pl_mw", line),
            line_loading_percent=col("res_line", "loading_percent", line),
            trafo_pl_mw=col("res_trafo", "pl_mw", trafo),
            trafo_loading_percent=col("res_trafo", "loading_percent", trafo),
            trafo_p_hv_mw=col("res_trafo", "p_hv_mw", trafo),
            trafo_q_hv_mvar=col("res_trafo", "q_hv_mvar", trafo),
            ext_grid_p_mw=col("res_ext_grid", "p_mw", net.ext_grid.index),
            ext_grid_q_mvar=col("res_ext_grid", "q_mvar", net.ext_grid.index),
        )


__all__ = ["FlowArrays"]
