"""Benchmark of the LP scheduler's re-solve time (v2xcosim.domain.scheduler); not a test.

~30 EV sessions (random arrivals, stays, SOCs and wishes, bidirectional) and a stationary
battery over 96 and 288 steps with prices, a site import cap, a reverse-flow term and one
commitment; re-solved ``N`` times with the sessions shifted as in a rolling horizon.  Prints
median and max [ms] per horizon, wall-clock and CPU time of this process (the CPU time is less
disturbed by other load on a shared machine; budget: median ≤ 50 ms, max ≤ 500 ms).

Run: ``PYTHONPATH=src python bench/bench_scheduler.py``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from v2xcosim.domain.scheduler import Commitment, Site, StorageUnit, schedule


def _case(rng: np.random.Generator, n_steps: int, n_ev: int = 30) -> dict[str, object]:
    per_h = n_steps / 24
    units = []
    for _ in range(n_ev):
        a = int(rng.integers(0, n_steps // 2))
        d = a + int(rng.integers(int(2 * per_h), int(10 * per_h)))
        units.append(
            StorageUnit(
                capacity_kwh=float(rng.uniform(30, 80)),
                soc0=float(rng.uniform(0.1, 0.6)),
                p_charge_max_w=11_000.0,
                p_discharge_max_w=11_000.0,
                soc_min=0.2,
                soc_max=0.9,
                arrival_k=a,
                departure_k=d,
                soc_wish=float(rng.uniform(0.6, 0.85)),
                wear_eur_per_kwh=0.0092,
            )
        )
    units.append(StorageUnit(1000.0, 0.5, 500e3, 500e3, 0.93, 0.93, 0.1, 0.9))
    t = np.arange(n_steps) / per_h
    price = 100 + 60 * np.sin((t - 6) / 24 * 2 * np.pi)
    base = 200e3 - 600e3 * np.clip(np.sin((t - 6) / 12 * np.pi), 0, None)
    delta = np.zeros(n_steps)
    delta[int(18 * per_h) : int(19 * per_h)] = -50e3
    return {
        "units": units,
        "n_steps": n_steps,
        "dt_s": 86400 / n_steps,
        "price_eur_per_mwh": price,
        "sites": [Site(tuple(range(n_ev + 1)), 300e3, 300e3, base, 0.05)],
        "commitments": [Commitment(tuple(range(n_ev)), np.zeros(n_steps), delta)],
    }


def main(n: int = 30) -> None:
    """Time ``n`` solves per horizon and print median and max [ms]."""
    rng = np.random.default_rng(12)
    for n_steps in (96, 288):
        times, cpu = [], []
        for _ in range(n):
            case = _case(rng, n_steps)
            t0, c0 = time.perf_counter(), time.process_time()
            schedule(**case)  # type: ignore[arg-type]
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        print(
            f"{n_steps} steps, 31 units: wall median {statistics.median(times):.1f} ms, "
            f"max {max(times):.1f} ms; CPU median {statistics.median(cpu):.1f} ms, "
            f"max {max(cpu):.1f} ms"
        )


if __name__ == "__main__":
    main()
