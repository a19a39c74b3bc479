"""Perfect-foresight bound on reverse flow at Terni's charging-site LV transformers; not a test.

From a finished Terni run (``v2xcosim run scenarios/terni_v2g.toml --out DIR``), per charging
site: the transformer's net power without the EVs is the realised transformer power
(``p_lv_trafo_w``, + = import, MV side) minus the EVs' AC power at the site (the change of
losses with the EV power is neglected); the sessions that got a connector are the storage
units (arrival, departure, SOC at arrival, wish + ``target_margin_soc`` capped at ``soc_max``,
capacity, 11 kW, the efficiencies of ``[control]``).  :func:`reverse_flow_bound` then gives the
least reverse-flow energy the sessions could leave with perfect foresight of the day, with
every wish kept: unidirectional (the ``smart`` bound) and bidirectional (the ``v2g`` bound),
each with all users controllable and with only the campaign users controllable (the others
charging uncontrolled).  Prints a table [MWh] and the run's own value.

Run: ``PYTHONPATH=src python bench/terni_bound.py RUN_DIR``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from v2xcosim.domain.scheduler import StorageUnit, reverse_flow_bound

DT_S = 900.0
SOC_MAX = 0.91  # [control] soc_max of scenarios/terni_v2g.toml
MARGIN = 0.005  # [control] target_margin_soc
ETA_C, ETA_D = 0.92, 0.90  # [control] eta_charge, eta_discharge
P_W = 11_000.0  # [terni] connector_kw


def site_bound(run: Path, site: str, *, bidirectional: bool, campaign_only: bool) -> float:
    """Bound [MWh] at one site's LV transformer (module docstring)."""
    table = pd.read_parquet(run / f"site_{site}.parquet")
    p_ev = table[[c for c in table.columns if c.startswith("p_ac_w[")]].to_numpy().sum(axis=1)
    base = table["p_lv_trafo_w"].to_numpy(dtype=float) - p_ev
    sessions = pd.read_parquet(run / "terni_sessions.parquet")
    mine = sessions[(sessions["site"] == site) & sessions["connector_id"].notna()]
    units = []
    for _, r in mine.iterrows():
        a, d = round(r["arrival_s"] / DT_S), round(r["departure_s"] / DT_S)
        if d <= a:
            continue
        units.append(
            StorageUnit(
                capacity_kwh=float(r["capacity_kwh"]),
                soc0=float(r["soc_arrival"]),
                p_charge_max_w=P_W,
                p_discharge_max_w=P_W if bidirectional else 0.0,
                eta_charge=ETA_C,
                eta_discharge=ETA_D,
                soc_min=float(min(r["soc_min"], SOC_MAX)),
                soc_max=SOC_MAX,
                arrival_k=a,
                departure_k=d,
                soc_wish=float(min(r["soc_wish"] + MARGIN, SOC_MAX)),
                controllable=bool(r["campaign"]) or not campaign_only,
            )
        )
    e_kwh, _ = reverse_flow_bound(units, base, dt_s=DT_S)
    return e_kwh / 1e3


def main(run: Path) -> None:
    """Print the bounds of the run in ``run``."""
    kpis = json.loads((run / "kpis.json").read_text())
    sites = sorted(kpis["lv_sites"])
    print(f"run {run.name}: lv_reverse_flow_energy_mwh = {kpis['lv_reverse_flow_energy_mwh']:.4f}")
    for bidir in (False, True):
        for camp in (False, True):
            total = sum(site_bound(run, s, bidirectional=bidir, campaign_only=camp) for s in sites)
            label = f"{'bidirectional' if bidir else 'unidirectional'}, " + (
                "campaign users only" if camp else "all users"
            )
            print(f"  bound ({label}): {total:.4f} MWh")
    # a consistency check: the uncontrolled EV power in the same formula gives the KPI back
    total = 0.0
    for s in sites:
        table = pd.read_parquet(run / f"site_{s}.parquet")
        total += float(np.clip(-table["p_lv_trafo_w"].to_numpy(), 0, None).sum()) * DT_S / 3.6e9
    print(f"  check: realised reverse flow from the site tables {total:.4f} MWh")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
