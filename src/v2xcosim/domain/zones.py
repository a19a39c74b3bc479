"""What a DSO knows of one grid zone over the horizon: the basis of its own forecast.

A *zone* is the area behind one transformer the DSO watches: ``"primary"`` (the HV/MV primary
substation) or ``"feeder/<name>"`` (a secondary MV/LV substation and its LV feeder).  A use case
builds one :class:`ZoneSeries` per zone from its network and profiles; the DSO
(:mod:`v2xcosim.domain.dso`) turns it into a day-ahead forecast with its *own* model, not by
adding noise to the realised values:

* load: ``load_reference_w`` — what the DSO's load model predicts (e.g. the same elements'
  profiles on the same weekday in previous weeks: a similar-day forecast), levelled by the
  zone's metered load ``load_w`` of the hours *before* each forecast's issue (the metered
  past before the run's start: ``load_past_w`` with its reference ``load_reference_past_w``);
* PV: ``pv_clearsky_w`` × a cloud factor of the DSO's forecast cloud path, which departs from
  the realised ``cloud_oktas`` by a correlated error;
* dispatchable generation the DSO meters and schedules (e.g. run-of-river hydro): ``gen_w``.

The realised ``load_w`` and ``pv_w`` are carried for verification and KPIs; a forecast model
reads ``load_w`` only before its issue time (what the DSO has metered), never ``pv_w``.  All
arrays hold one value per interval of ``interval_s`` seconds from the start of the run (the
``*_past_w`` arrays: one per interval of the hours just before the start, oldest first,
possibly none), in W, each term positive (a load draws ``load_w``, PV and generation inject
``pv_w``/``gen_w``); the zone's net power is ``load_w − pv_w − gen_w`` (load convention:
+ = drawn from upstream, − = reverse flow).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from v2xcosim.core.errors import ScenarioError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ZoneSeries:
    """Per-interval series of one zone [W] (module docstring); ``cloud_oktas`` in oktas (0–8)."""

    zone: str
    interval_s: int
    load_w: FloatArray
    load_reference_w: FloatArray
    pv_w: FloatArray
    pv_clearsky_w: FloatArray
    cloud_oktas: FloatArray
    gen_w: FloatArray
    load_past_w: FloatArray = field(default_factory=lambda: np.zeros(0))
    """Metered load of the intervals just before the run's start, oldest first [W]."""
    load_reference_past_w: FloatArray = field(default_factory=lambda: np.zeros(0))
    """The load model's reference for the same intervals as ``load_past_w`` [W]."""

    def __post_init__(self) -> None:
        n = len(self.load_w)
        n_past = len(self.load_past_w)
        shapes = {
            "load_reference_w": n,
            "pv_w": n,
            "pv_clearsky_w": n,
            "cloud_oktas": n,
            "gen_w": n,
            "load_past_w": n_past,
            "load_reference_past_w": n_past,
        }
        for name, size in shapes.items():
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.shape != (size,):
                raise ScenarioError(
                    f"zone {self.zone}: {name} has shape {arr.shape}, expected ({size},)"
                )
            if not np.all(np.isfinite(arr)):
                raise ScenarioError(f"zone {self.zone}: {name} holds a non-finite value")
        if self.interval_s <= 0:
            raise ScenarioError(f"zone {self.zone}: interval_s must be > 0")
        if np.any(np.asarray(self.cloud_oktas) < 0) or np.any(np.asarray(self.cloud_oktas) > 8):
            raise ScenarioError(f"zone {self.zone}: cloud_oktas must be within [0, 8]")

    @property
    def n(self) -> int:
        """Number of intervals."""
        return len(self.load_w)

    def load_window_w(self, i0: int, i1: int) -> tuple[FloatArray, FloatArray]:
        """Metered load and its reference [W] over intervals ``i0 … i1−1``.

        Indices count from the run's start (negative: the past before it, ``load_past_w``);
        the window is clipped to the intervals the series holds.
        """
        n_past = len(self.load_past_w)
        a, b = max(i0 + n_past, 0), max(min(i1, self.n) + n_past, 0)
        load = np.concatenate([np.asarray(self.load_past_w), np.asarray(self.load_w)])
        ref = np.concatenate(
            [np.asarray(self.load_reference_past_w), np.asarray(self.load_reference_w)]
        )
        out: tuple[FloatArray, FloatArray] = (load[a:b], ref[a:b])
        return out

    @property
    def p_net_w(self) -> FloatArray:
        """Realised net power [W, + = drawn from upstream]."""
        out: FloatArray = np.asarray(self.load_w) - np.asarray(self.pv_w) - np.asarray(self.gen_w)
        return out


__all__ = ["ZoneSeries"]
