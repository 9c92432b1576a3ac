"""Row reductions of ompo_envs.core.rows: numpy's results, in a stated order, for short rows."""

from __future__ import annotations

import numpy as np
import pytest

from ompo_envs.core.rows import SHORT_ROW, row_max, row_sum


@pytest.mark.parametrize("length", [1, 2, 7, 10, SHORT_ROW, SHORT_ROW + 1])
def test_row_max_is_numpys_max_exactly(length):
    x = np.random.default_rng(length).normal(size=(3, 4, length))
    x[0, 0, 0] = -np.inf
    np.testing.assert_array_equal(row_max(x), x.max(axis=-1))


def test_row_max_propagates_nan_as_numpy_does():
    x = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(row_max(x), x.max(axis=-1))


@pytest.mark.parametrize("length", [1, 2, 7, 10, SHORT_ROW])
def test_row_sum_adds_in_index_order(length):
    x = np.random.default_rng(length).normal(size=(5, length)) * 10.0 ** np.arange(length) % 7
    expected = np.zeros(5)
    for a in range(length):  # ((x0 + x1) + x2) + ..., the promised order, bit for bit
        expected = x[:, 0].copy() if a == 0 else expected + x[:, a]
    np.testing.assert_array_equal(row_sum(x), expected)
    np.testing.assert_allclose(row_sum(x), x.sum(axis=-1), rtol=1e-14, atol=1e-12)


def test_long_rows_and_scalars_fall_back_to_numpy():
    x = np.random.default_rng(0).normal(size=(2, SHORT_ROW + 1))
    np.testing.assert_array_equal(row_sum(x), x.sum(axis=-1))
    assert row_sum(np.ones(3)) == 3.0 and row_max(np.arange(4.0)) == 3.0
