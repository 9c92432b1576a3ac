"""Tolerances for comparing floats that two code paths computed (README, "Numbers on any CPU").

Bitwise equality is promised only where the same code runs the same operations in the same
order in one process. Where two paths compute the same quantity differently — a matmul of
another shape, a batch of another length, another processor's kernels — tests compare with a
tolerance derived here from the computation.
"""

from __future__ import annotations

import numpy as np

from ompo_envs.tabular import contraction_rounding_bound

#: Ulps an elementwise formula (exp, log1p, a sigmoid) may differ by between numpy's vector
#: loop and its scalar tail, or between two SIMD widths: each is accurate to ≤ 2 ulp, so two
#: of them differ by ≤ 4.
ELEMENTWISE_ULPS = 4


def assert_elementwise_close(actual, expected) -> None:
    """Same elementwise formula, evaluated in batches of other lengths: within a few ulps."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    np.testing.assert_array_max_ulp(actual, expected, maxulp=ELEMENTWISE_ULPS)


def rounding_tolerance(game, updates: int, beta: float) -> float:
    """First-order bound on what contraction rounding moves an exploitability after ``updates``.

    Each update's contraction is off by at most b = contraction_rounding_bound(game) per entry
    (BLAS may sum in another order for another matrix shape or processor). A Q value sums H
    stage rewards (≤ H·b); OMPO's step moves log π by β(2Q^t − Q^{t−1}) (≤ 3βH·b), the
    normaliser at most doubles that, and an exploitability (values summing H stages) moves by
    at most H per unit of change in log π: 6βH²·b per update, added over the updates. It
    ignores the dynamics' own amplification, so it holds for a few updates
    (``tests/solvers/test_benchmark_tabular.py`` checks it by perturbing every contraction),
    not for hundreds of updates of a cycling last iterate (README, "Numbers on any CPU").
    """
    return updates * 6 * max(beta, 1.0) * game.horizon**2 * contraction_rounding_bound(game)
