"""Reductions over the last axis of small arrays, fast for short rows and the same on any CPU.

The tabular solvers reduce over the action axis of (n_init, H, S, A) tables, whose rows are short
(A = 2..10 in the paper's games). NumPy reduces a short innermost axis one row at a time, with a
fixed cost per row that exceeds the arithmetic; these functions instead make one elementwise
operation per column, over all rows at once (``ompo-bench profile tabular`` shows what the
reductions cost in the benchmark).

:func:`row_sum` adds in index order, ((x_0 + x_1) + x_2) + …, with plain elementwise additions:
no pairwise blocking and no SIMD reassociation, so its result is the same bits on every processor
and every NumPy build. :func:`row_max` is exact whatever the order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["row_max", "row_sum"]

#: Rows longer than this are reduced by NumPy itself (its per-row cost is then amortised).
SHORT_ROW = 64


def row_max(x: np.ndarray) -> np.ndarray:
    """Max over the last axis (NaN propagates, as ``np.max``); shape ``x.shape[:-1]``."""
    x = np.asarray(x)
    if x.ndim == 0 or not 0 < x.shape[-1] <= SHORT_ROW:
        return x.max(axis=-1)
    out = x[..., 0].copy()
    for a in range(1, x.shape[-1]):
        np.maximum(out, x[..., a], out=out)
    return out


def row_sum(x: np.ndarray) -> np.ndarray:
    """Σ over the last axis, added in index order; shape ``x.shape[:-1]``, float64 for floats.

    Rows longer than :data:`SHORT_ROW` are summed by ``np.sum`` (pairwise order).
    """
    x = np.asarray(x)
    if x.ndim == 0 or not 0 < x.shape[-1] <= SHORT_ROW:
        return x.sum(axis=-1)
    out = x[..., 0].copy()
    for a in range(1, x.shape[-1]):
        out += x[..., a]
    return out
