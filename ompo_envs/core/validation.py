"""Checks for the numbers users pass in: real arrays and probability distributions.

One rule everywhere, as :class:`~ompo_envs.tabular.TabularGame` checks its arrays: a numeric
argument must hold real numbers (Python or NumPy integers and floats — not strings, not even
numeric ones, not booleans, not complex numbers), be finite and have the expected shape; a
distribution must also be non-negative and sum to 1 along its last axis. A failed check raises
``TypeError`` (wrong kind of value) or ``ValueError`` (wrong shape or value) whose message names
the argument, says what was wrong and what is expected.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ompo_envs.core.rows import row_sum

__all__ = ["PROBABILITY_TOLERANCE", "probability_array", "real_array"]

#: Largest |Σ p − 1| accepted for a distribution.
PROBABILITY_TOLERANCE = 1e-8


def real_array(value: Any, name: str, *, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``value`` as a new finite float64 array, or raise a clear error.

    Args:
        value: An array-like of real numbers (a NumPy array, a list, a scalar).
        name: The argument's name, for error messages.
        shape: The required shape, if any.

    Raises:
        TypeError: ``value`` holds something other than real numbers (strings, booleans,
            complex numbers, ``None``, other objects), or is ragged.
        ValueError: The shape differs from ``shape``, or an entry is NaN or infinite.
    """
    if isinstance(value, str | bytes):
        raise TypeError(f"{name} must be an array of real numbers, got a string {value!r:.60}")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a (rectangular) array of real numbers, got {type(value).__name__}"
        ) from error
    if array.dtype.kind == "O":
        flat = array.reshape(-1)
        if not all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in flat):
            bad = next(x for x in flat if not isinstance(x, numbers.Real) or isinstance(x, bool))
            raise TypeError(
                f"{name} must hold real numbers, got an entry {bad!r:.60} of type "
                f"{type(bad).__name__} (arrays must also be rectangular)"
            )
    elif array.dtype.kind not in "iuf":
        kinds = {"b": "booleans", "c": "complex numbers", "U": "strings", "S": "bytes"}
        got = kinds.get(array.dtype.kind, f"dtype {array.dtype}")
        raise TypeError(f"{name} must hold real numbers (ints or floats), got {got}")
    array = np.array(array, dtype=np.float64)
    if shape is not None and array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got NaN or inf in {array.tolist()!r:.120}")
    return array


def probability_array(value: Any, name: str, *, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``value`` as float64 distributions along its last axis, or raise a clear error.

    Every entry must be a finite real number >= 0 and every slice along the last axis must sum to
    1 within :data:`PROBABILITY_TOLERANCE`.

    Raises:
        TypeError: As :func:`real_array`.
        ValueError: Wrong shape, non-finite or negative entries, or sums that are not 1.
    """
    array = real_array(value, name, shape=shape)
    if array.ndim == 0:
        raise ValueError(f"{name} must be an array of probabilities, got the scalar {value!r}")
    if np.any(array < 0.0):
        raise ValueError(f"{name} must be non-negative, got {array.min():.6g} as an entry")
    with np.errstate(over="ignore"):  # entries near 1e308 sum to inf: refused below
        sums = row_sum(array)
    worst = float(np.max(np.abs(sums - 1.0))) if sums.size else 0.0
    if worst > PROBABILITY_TOLERANCE:
        raise ValueError(
            f"{name} must sum to 1 along its last axis (a probability distribution); a sum is "
            f"off by {worst:.3g}. Normalise it, e.g. p / p.sum(axis=-1, keepdims=True)"
        )
    return array
