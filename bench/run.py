"""Benchmarks of the FMU pipeline and the FMUs; writes bench/RESULTS.md.

Not a test: timings depend on the machine.  Every figure is reported with a baseline measured in
the same run, so ratios can be compared across machines:

* build time per model (clean build, cache bypassed) vs the pipeline's trivial test model;
* cost of one Co-Simulation step through fmpy's ``FMU2Slave`` with I/O (set the setpoint, doStep,
  get four outputs) vs the same loop on the trivial model (the calling-cost floor);
* the fleet FMU per vehicle-step with vector set/get vs separate single-EV instances.

Run with ``make bench`` (or ``python bench/run.py``).
"""

from __future__ import annotations

import ctypes
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from v2xcosim.fmu.build import build_one, find_compiler, fmus_dir
from v2xcosim.fmu.runtime import FmuRunner, run_fmu

ROOT = Path(__file__).resolve().parents[1]
TEST_MODELS = ROOT / "tests" / "data" / "models"
MODELS = ("EV", "EVDetailed", "Battery", "ChargerReduced", "ChargerDetailed")
EV_START = {"soc_start": 0.3, "vm_pu": 1.0, "f_hz": 50.0, "t_amb_k": 298.15}
OUTPUTS = ["p_ac_w", "soc", "v_pack_v", "t_cell_k"]


def machine_info() -> dict[str, str]:
    """CPU, cores, OS, Python and compiler of this run."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cc = find_compiler()
    ccv = subprocess.run(
        [cc, "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[0]
    import fmpy

    return {
        "date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "C compiler": ccv,
        "fmpy": fmpy.__version__,
        "numpy": np.__version__,
    }


def median_time(fn: Callable[[], None], repeat: int = 3) -> float:
    """Median wall time of ``repeat`` calls, s."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_builds(tmp: Path) -> list[tuple[str, float]]:
    """Clean build time of each model and of the trivial test model (baseline), s."""
    rows = [
        (
            "PipeTest.Lag (baseline)",
            median_time(lambda: build_one("Lag", out_dir=tmp, mdir=TEST_MODELS, force=True), 3),
        )
    ]
    for m in MODELS:
        rows.append((m, median_time(lambda m=m: build_one(m, out_dir=tmp, force=True), 3)))
    return rows


def _step_loop(
    r: FmuRunner, inputs: list[str], outputs: list[str], setpoints: np.ndarray, h: float
) -> float:
    """Mean µs per set + doStep + get, through fmpy's FMU2Slave with prepared ctypes arrays."""
    fmu = r.fmu
    vin = (ctypes.c_uint * len(inputs))(*r.vr(inputs))
    vout = (ctypes.c_uint * len(outputs))(*r.vr(outputs))
    vals_in = (ctypes.c_double * len(inputs))()
    vals_out = (ctypes.c_double * len(outputs))()
    t = r.time
    n = setpoints.shape[0]
    t0 = time.perf_counter()
    for k in range(n):
        for j in range(len(inputs)):
            vals_in[j] = setpoints[k, j]
        fmu.fmi2SetReal(fmu.component, vin, len(inputs), vals_in)
        fmu.fmi2DoStep(fmu.component, t, h, 1)
        fmu.fmi2GetReal(fmu.component, vout, len(outputs), vals_out)
        t += h
    dt = time.perf_counter() - t0
    r.time = t
    return dt / n * 1e6


def bench_single(ev: Path, lag: Path, n_steps: int = 1440) -> list[tuple[str, float, float]]:
    """Single-EV step cost for three setpoint profiles vs the trivial model (µs per step)."""
    with run_fmu(lag) as r:
        r.initialize({"x_start": 1.0})
        base = _step_loop(r, ["u"], ["x", "z", "w", "fast"], np.full((n_steps, 1), 0.001), 60.0)
    rows = [("trivial model (baseline)", base, 1.0)]
    profiles = {
        "EV, constant 11 kW setpoint": np.full((n_steps, 1), 11000.0),
        "EV, setpoint changes every 15 min": np.repeat(
            np.tile([11000.0, -7000.0, 3000.0, 0.0], n_steps // 60 + 1), 15
        )[:n_steps, None],
        "EV, setpoint changes every 60 s": np.tile(
            [11000.0, -7000.0, 3000.0, 0.0], n_steps // 4 + 1
        )[:n_steps, None],
    }
    for label, sp in profiles.items():
        with run_fmu(ev) as r:
            r.initialize(EV_START)
            us = _step_loop(r, ["p_set_w"], OUTPUTS, sp, 60.0)
        rows.append((label, us, us / base))
    return rows


def bench_fleet(n: int, n_steps: int, n_single: int) -> dict[str, float]:
    """Fleet FMU per vehicle-step (vector set/get) vs separate single-EV instances."""
    out: dict[str, float] = {}
    out["build_1_s"] = build_one("EV", fleet=1, force=True).seconds
    res = build_one("EV", fleet=n, force=True)
    out["build_s"] = res.seconds
    out["fmu_mb"] = res.path.stat().st_size / 1e6
    rng = np.random.default_rng(1)
    sp = rng.choice([11000.0, 7000.0, 0.0, -7000.0], size=(n_steps, n))
    sp = np.repeat(sp[::15], 15, axis=0)[:n_steps]  # setpoints change every 15 min per vehicle
    t0 = time.perf_counter()
    with run_fmu(res.path) as r:
        out["open_s"] = time.perf_counter() - t0
        r.initialize(
            {
                **{f"ev[{i + 1}].soc_start": 0.3 + 0.4 * i / n for i in range(n)},
                **{f"ev[{i + 1}].t_amb_k": 298.15 for i in range(n)},
                **{f"ev[{i + 1}].vm_pu": 1.0 for i in range(n)},
                **{f"ev[{i + 1}].f_hz": 50.0 for i in range(n)},
            }
        )
        us = _step_loop(
            r,
            [f"ev[{i + 1}].p_set_w" for i in range(n)],
            [f"ev[{i + 1}].{o}" for i in range(n) for o in OUTPUTS],
            sp,
            60.0,
        )
    out["fleet_us_per_vehicle_step"] = us / n
    ev = build_one("EV").path
    runners = []
    with run_fmu(ev) as first:
        first.initialize(EV_START)
        runners.append(first)
        from v2xcosim.fmu.archive import open_fmu

        opened = [open_fmu(ev) for _ in range(n_single - 1)]
        try:
            for i, cm in enumerate(opened):
                rr = FmuRunner(cm.__enter__(), instance_name=f"ev{i}")
                rr.initialize(EV_START)
                runners.append(rr)
            fmus = [
                (
                    r.fmu,
                    (ctypes.c_uint * 1)(*r.vr(["p_set_w"])),
                    (ctypes.c_uint * 4)(*r.vr(OUTPUTS)),
                )
                for r in runners
            ]
            vin = (ctypes.c_double * 1)()
            vout = (ctypes.c_double * 4)()
            t = 0.0
            t0 = time.perf_counter()
            for k in range(n_steps):
                for j, (f, a, b) in enumerate(fmus):
                    vin[0] = sp[k, j % n]
                    f.fmi2SetReal(f.component, a, 1, vin)
                    f.fmi2DoStep(f.component, t, 60.0, 1)
                    f.fmi2GetReal(f.component, b, 4, vout)
                t += 60.0
            out["single_us_per_vehicle_step"] = (
                (time.perf_counter() - t0) / (n_steps * n_single) * 1e6
            )
        finally:
            for rr in runners[1:]:
                rr.close()
            for cm in opened:
                cm.__exit__(None, None, None)
    out["ratio"] = out["fleet_us_per_vehicle_step"] / out["single_us_per_vehicle_step"]
    return out


def main() -> int:
    """Run all benchmarks and write bench/RESULTS.md."""
    import tempfile

    info = machine_info()
    with tempfile.TemporaryDirectory() as td:
        builds = bench_builds(Path(td))
        lag = build_one("Lag", out_dir=Path(td), mdir=TEST_MODELS).path
        ev = build_one("EV", out_dir=fmus_dir()).path
        single = bench_single(ev, lag)
    fleet = bench_fleet(1000, 96, 100)
    total = sum(s for m, s in builds[1:])
    lines = [
        "# v2xcosim benchmarks",
        "",
        "Written by `make bench` (`bench/run.py`); medians of 3 runs "
        "where repeated. Not a test: compare ratios measured in one run.",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += [
        "",
        "## Build time per model (clean build: rumoca + code generation + gcc -O2)",
        "",
        "| model | s | ratio to baseline |",
        "|---|---|---|",
    ]
    base = builds[0][1]
    lines += [f"| {m} | {s:.2f} | {s / base:.2f} |" for m, s in builds]
    lines += [
        f"| **all five models** | **{total:.2f}** | "
        f"target < 10 s: {'met' if total < 10 else 'NOT met'} |",
        "",
    ]
    lines += [
        "## Single-EV Co-Simulation step through fmpy's FMU2Slave "
        "(60-s steps, set 1 + doStep + get 4)",
        "",
        "| case | µs per step | ratio to baseline |",
        "|---|---|---|",
    ]
    lines += [f"| {m} | {us:.1f} | {ratio:.1f} |" for m, us, ratio in single]
    steady = single[1][1]
    lines += [
        "",
        f"Target ≤ 10 µs per step with I/O at 60-s steps (reduced charger): constant setpoint "
        f"{steady:.1f} µs — {'met' if steady <= 10 else 'NOT met'}. "
        f"The calling floor through fmpy on this machine (trivial model) is {single[0][1]:.1f} µs, "
        f"so the EV model's own work is {steady - single[0][1]:.1f} µs per step. "
        "After a setpoint step the integrator "
        "resolves the charger's first-order response (τ = 1 s) to the relative tolerance 1e-6, "
        "which costs tens of internal steps; the 15-min and 60-s rows show that cost.",
        "",
    ]
    lines += [
        "## Fleet FMU, N = 1000 "
        "(one instance, vector set/get, 60-s steps, setpoints change every 15 min)",
        "",
        "| figure | value |",
        "|---|---|",
        "| build, N = 1 (one kernel compiled once, N is a constant of the shell) | "
        f"{fleet['build_1_s']:.2f} s |",
        "| build, N = 1000 (the same compile; modelDescription.xml grows with N) | "
        f"{fleet['build_s']:.2f} s |",
        f"| FMU size | {fleet['fmu_mb']:.1f} MB |",
        f"| open (extract + parse modelDescription) | {fleet['open_s']:.2f} s |",
        f"| fleet, per vehicle-step | {fleet['fleet_us_per_vehicle_step']:.2f} µs |",
        "| baseline: 100 single-EV instances, per vehicle-step | "
        f"{fleet['single_us_per_vehicle_step']:.2f} µs |",
        f"| ratio fleet / single instances | {fleet['ratio']:.2f} |",
        "",
        f"Target ≤ 2 µs per vehicle-step at N = 1000: "
        f"{'met' if fleet['fleet_us_per_vehicle_step'] <= 2 else 'NOT met'}.",
        "",
    ]
    out = Path(__file__).resolve().parent / "RESULTS.md"
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(out)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
