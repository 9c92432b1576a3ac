"""Seeds derived from the run seed and a position, so a resumed run draws the same numbers.

Every random draw of a run (an episode's reset, a chunk's sampling, an epoch's data order) is
seeded from ``(run seed, iteration, purpose, index...)`` through ``numpy.random.SeedSequence``,
never from a stream carried across chunks. So a chunk redone after a kill, or by another process
of a distributed run, gets exactly the numbers of the uninterrupted single-process run.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PURPOSES", "derive_seed", "derived_rng"]

#: Stable integer codes of the places that draw random numbers.
PURPOSES = {
    "episode": 1,
    "generate": 2,
    "data-order": 3,
    "evaluate": 4,
    "warm-start": 5,
    "judge": 6,
    "lora-init": 7,
}


def derive_seed(seed: int, purpose: str, *position: int) -> int:
    """Return a 63-bit seed for ``purpose`` at ``position`` (e.g. iteration, chunk, turn)."""
    entropy = [int(seed), PURPOSES[purpose], *(int(p) for p in position)]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)


def derived_rng(seed: int, purpose: str, *position: int) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` seeded by :func:`derive_seed`."""
    return np.random.default_rng(derive_seed(seed, purpose, *position))
