"""Functions that take probabilities, matrices or games, under generated arrays of every kind.

Arrays come with any shape, dtype (floats, ints, booleans, complex, strings, objects, None) and
values (NaN, inf, negative, unnormalised); each call returns a valid result — checked against
what the arguments promise — or raises TypeError / ValueError.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ompo_envs
from ompo_envs.core.validation import PROBABILITY_TOLERANCE, probability_array, real_array
from ompo_envs.oracles.synthetic import validate_preference_matrix
from ompo_envs.tabular import TabularGame
from ompo_envs.text.known_ne import class_exploitability
from tests.fuzz.support import fuzz, rejected

SPECIAL = (0.0, 1.0, 0.5, -0.5, 1e-12, 2.0, 1e308, float("nan"), float("inf"), -float("inf"))


def arrays(shape: tuple[int, ...]) -> st.SearchStrategy:
    """Arrays of ``shape`` (or one dimension off) as NumPy arrays, lists or odd objects."""
    shapes = st.sampled_from((shape, shape[:-1], (*shape[:-1], shape[-1] + 1), (), (0,)))

    def build(s: tuple[int, ...], kind: str, values: list[float]) -> object:
        with np.errstate(all="ignore"):
            return _build(s, kind, values)

    def _build(s: tuple[int, ...], kind: str, values: list[float]) -> object:
        size = int(np.prod(s)) if s else 1
        flat = (values * (size // max(len(values), 1) + 1))[:size] if values else [0.0] * size
        array = np.asarray(flat, dtype=np.float64).reshape(s)
        if kind == "probabilities":
            positive = np.abs(np.nan_to_num(array, nan=1.0, posinf=1.0, neginf=1.0)) + 1e-3
            return positive / positive.sum(axis=-1, keepdims=True) if s else positive
        if kind == "list":
            return array.tolist()
        if kind == "strings":
            return array.astype(str)
        if kind == "complex":
            return array + 0j
        if kind == "bool":
            return array > 0.5
        if kind == "int":
            return np.nan_to_num(array).astype(np.int64)
        if kind == "float32":
            return array.astype(np.float32)
        if kind == "object":
            return np.array([*flat[:-1], None], dtype=object) if flat else np.array([None])
        return array

    kinds = st.sampled_from(
        ("probabilities",) * 4
        + ("array", "list", "strings", "complex", "bool", "int")
        + ("float32", "object")
    )
    values = st.lists(st.sampled_from(SPECIAL) | st.floats(0, 1), min_size=1, max_size=6)
    return st.builds(build, shapes, kinds, values) | st.sampled_from((None, "0.5", object()))


def _call(function, *args, **kwargs):  # type: ignore[no-untyped-def]
    try:
        return function(*args, **kwargs), None
    except Exception as error:
        assert rejected(error) and not isinstance(error, RuntimeError), repr(error)
        return None, error


@given(value=arrays((2, 3)))
@fuzz(max_examples=500)
def test_probability_arrays_are_distributions_or_refused(value):
    result, error = _call(probability_array, value, "p", shape=(2, 3))
    if error is None:
        assert result.dtype == np.float64 and result.shape == (2, 3)
        assert np.all(result >= 0)
        assert np.all(np.abs(result.sum(axis=-1) - 1) <= PROBABILITY_TOLERANCE)
        assert result is not value  # a copy: the caller's array is never aliased
    result, error = _call(real_array, value, "x")
    if error is None:
        assert result.dtype == np.float64 and np.all(np.isfinite(result))


@given(policy=arrays((4,)), opponent=arrays((4,)))
@fuzz(max_examples=400)
def test_known_ne_values_take_distributions_or_refuse(policy, opponent):
    env = _rps()
    value, error = _call(env.value, policy, opponent)
    if error is None:
        assert 0.0 <= value <= 1.0
    exploitability, error = _call(env.exploitability, policy)
    if error is None:
        assert -1e-9 <= exploitability <= 0.5 + 1e-9  # RPS: max_j (M π)_j − ½ ∈ [0, ½]
        same, _ = _call(class_exploitability, env.class_matrix, policy)
        assert same == exploitability


@given(matrix=arrays((3, 3)))
@fuzz(max_examples=400)
def test_preference_matrices_are_antisymmetric_or_refused(matrix):
    result, error = _call(validate_preference_matrix, matrix)
    if error is None:
        assert np.allclose(result + result.T, 1.0, atol=1e-9)
        assert np.all((result >= 0) & (result <= 1))


@given(
    nu=arrays((3,)),
    transitions=arrays((3, 2, 3)),
    reward=st.sampled_from(("antisymmetric", "ones", "nan", "complex", "strings", "shape")),
    horizon=st.sampled_from((1, 3, 0, -1, 2.0, True, "3", np.int64(2))),
)
@fuzz(max_examples=400)
def test_tabular_games_are_valid_or_refused(nu, transitions, reward, horizon):
    base = np.random.default_rng(0).random((3, 2, 3, 2))
    antisymmetric = 0.5 + (base - base.transpose(2, 3, 0, 1)) / 2
    rewards = {
        "antisymmetric": antisymmetric,
        "ones": np.ones((3, 2, 3, 2)),
        "nan": np.where(antisymmetric > 0.9, np.nan, antisymmetric),
        "complex": antisymmetric + 0j,
        "strings": antisymmetric.astype(str),
        "shape": antisymmetric[:, :, :2],
    }
    game, error = _call(TabularGame, nu, transitions, rewards[reward], horizon)
    if error is None:
        assert np.isclose(game.initial_distribution.sum(), 1.0)
        assert np.allclose(game.transitions.sum(axis=-1), 1.0)
        assert np.allclose(game.reward + game.reward.transpose(2, 3, 0, 1), 1.0)
        assert isinstance(game.horizon, int) and game.horizon >= 1


_RPS = []


def _rps():  # type: ignore[no-untyped-def]
    if not _RPS:
        _RPS.append(ompo_envs.make("TextRockPaperScissors-v0"))
    return _RPS[0]


@pytest.mark.parametrize("value", [[0.25] * 4, (0.25, 0.25, 0.25, 0.25), np.float32([0.25] * 4)])
def test_lists_tuples_and_other_float_dtypes_are_accepted(value):
    assert _rps().exploitability(value) == _rps().exploitability(np.full(4, 0.25))
