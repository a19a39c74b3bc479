"""Plain-Python decision logic of the co-simulation's actors (no mosaik imports).

Every actor draws random numbers only from its own stream, :func:`rng_for`, derived from the
scenario seed and the actor's name: adding or removing one actor never changes the draws of
another, and the same seed reproduces every draw.
"""

from __future__ import annotations

import hashlib

import numpy as np


def rng_for(seed: int, name: str) -> np.random.Generator:
    """Return the random stream of actor ``name`` under scenario ``seed`` (PCG64, SeedSequence)."""
    digest = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng(np.random.SeedSequence([seed, digest]))
