"""Wall-time accumulators around the simulators' model calls (``v2xcosim run --profile``).

The fleet adapter adds the time of every fleet-FMU step (``fmu``: set inputs, ``doStep``, get
outputs) and the grid adapter the time of every grid-model step (``grid``: operating point set,
power flow, results collected) to the process-wide :data:`STEP_TIMERS`.  Everything else of a
run's wall time is ``framework``: mosaik's scheduling and data exchange, the actors, the result
store, building the world and the network, reading and writing the results.  These are timers
(``time.perf_counter`` around each call, about 0.1 µs each), not a sampling profiler: the split
is exact up to the timer calls themselves.

Only simulators running in this process are timed; a simulator placed in another process
(``[placement]``) is timed there, and its time here counts as framework (waiting for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PHASES: tuple[str, ...] = ("fmu", "grid")
"""The timed phases, in the order of the profile table."""


@dataclass
class StepTimers:
    """Seconds and number of calls accumulated per phase since the last :meth:`reset`."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PHASES, 0))

    def add(self, phase: str, seconds: float) -> None:
        """Add one call of ``phase`` (one of :data:`PHASES`) that took ``seconds`` [s]."""
        self.seconds[phase] += seconds
        self.calls[phase] += 1

    def reset(self) -> None:
        """Start from zero (a run resets at its start)."""
        for phase in PHASES:
            self.seconds[phase] = 0.0
            self.calls[phase] = 0


STEP_TIMERS = StepTimers()
"""The process-wide accumulators the adapters add to."""


def profile_split(wall_s: float, timers: StepTimers) -> dict[str, float | int]:
    """Split ``wall_s`` [s] into FMU steps, grid solves and framework (the rest).

    Returns ``wall_s``, ``fmu_s``, ``grid_s``, ``framework_s`` [s] (the three add up to
    ``wall_s``), ``framework_share`` (fraction of ``wall_s``) and the number of timed calls
    ``fmu_calls`` and ``grid_calls``.  Raises ``ValueError`` when the timed phases exceed the
    wall time (timers not reset between runs, or a wall time of another span).
    """
    fmu_s = timers.seconds["fmu"]
    grid_s = timers.seconds["grid"]
    framework_s = wall_s - fmu_s - grid_s
    if framework_s < 0.0:
        raise ValueError(
            f"timed phases ({fmu_s:.3f} s FMU + {grid_s:.3f} s grid) exceed the wall time "
            f"{wall_s:.3f} s: the timers were not reset at the start of the run"
        )
    return {
        "wall_s": wall_s,
        "fmu_s": fmu_s,
        "grid_s": grid_s,
        "framework_s": framework_s,
        "framework_share": framework_s / wall_s if wall_s > 0.0 else 0.0,
        "fmu_calls": timers.calls["fmu"],
        "grid_calls": timers.calls["grid"],
    }


def profile_table(split: dict[str, float | int]) -> str:
    """Format the split of :func:`profile_split` as a text table: one row per part, s and %."""
    wall = float(split["wall_s"])
    rows = [
        ("FMU steps", float(split["fmu_s"])),
        ("grid solve", float(split["grid_s"])),
        ("framework (mosaik, actors, store, I/O)", float(split["framework_s"])),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'part':<{width}}  {'s':>9}  {'%':>6}"]
    for name, s in rows:
        share = 100.0 * s / wall if wall > 0.0 else 0.0
        lines.append(f"{name:<{width}}  {s:>9.3f}  {share:>6.1f}")
    lines.append(f"{'wall time':<{width}}  {wall:>9.3f}  {100.0:>6.1f}")
    return "\n".join(lines)
