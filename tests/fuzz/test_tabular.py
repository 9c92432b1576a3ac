"""The tabular functions under generated arrays: a valid result, or a documented error.

Policies, occupancies, stage rewards, weights, step sizes and Q̂ come with any shape, dtype and
values (the strategy of ``test_numbers``: NaN, inf, negative, unnormalised, strings, booleans,
complex, objects), and the game argument is sometimes an env. Each call returns what it
promises — rows that are distributions, finite values, exploitability in [0, H] — or raises
TypeError / ValueError (FloatingPointError where a computation on valid numbers overflows).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import ompo_envs
from ompo_envs.policies import CandidateSetPolicy, MixturePolicy
from ompo_envs.tabular import (
    OccupancyAverage,
    TabularPolicy,
    backward_recursion,
    best_response,
    check_policy,
    exploitability,
    exploitability_from_occupancy,
    mixture_policy,
    occupancy_measures,
    optimal_q_values,
    optimal_value,
    policy_from_occupancy,
    q_values,
    regularised_value,
    reward_against_occupancy,
    soft_value,
    standard_value,
    uniform_policy,
)
from tests.fuzz.support import fuzz, rejected
from tests.fuzz.test_numbers import SPECIAL, arrays

ENV = ompo_envs.make(
    "RandomGame-v0", game_seed=5, num_states=3, num_actions=2, horizon=2, num_initial_states=2
)
GAME = ENV.unwrapped.game
SHAPE = GAME.policy_shape  # (2, 2, 3, 2)
UNIFORM = uniform_policy(GAME)
GAMES = st.sampled_from((GAME,) * 6 + (ENV, ENV.unwrapped, None, "game"))
WEIGHTS = arrays((2,)) | st.lists(st.sampled_from(SPECIAL) | st.floats(0, 1), max_size=3)


def _call(function, *args, overflow=False, **kwargs):  # type: ignore[no-untyped-def]
    try:
        return function(*args, **kwargs), None
    except Exception as error:
        documented = rejected(error) and not isinstance(error, RuntimeError)
        assert documented or (overflow and isinstance(error, FloatingPointError)), repr(error)
        return None, error


def _is_policy(table: np.ndarray) -> bool:
    return (
        table.shape == SHAPE
        and bool(np.all(table >= 0))
        and np.allclose(table.sum(axis=-1), 1.0, atol=1e-8)
    )


@given(game=GAMES, table=arrays(SHAPE), weights=WEIGHTS)
@fuzz(max_examples=400)
def test_policies_mixtures_and_exploitability_are_valid_or_refused(game, table, weights):
    policy, error = _call(check_policy, game, table)
    if error is None:
        assert _is_policy(policy) and policy is not table
        np.testing.assert_allclose(np.asarray(TabularPolicy(table)), policy, atol=1e-12)
        gap = exploitability(game, policy)
        assert -1e-9 <= gap <= GAME.horizon
        assert best_response(game, policy).value >= GAME.value - 1e-9
    mixed, error = _call(mixture_policy, game, [UNIFORM, table], weights)
    if error is None:
        assert _is_policy(mixed)
    mixture, error = _call(MixturePolicy, [TabularPolicy(UNIFORM), TabularPolicy(UNIFORM)], weights)
    if error is None:
        assert np.isclose(mixture.weights.sum(), 1.0) and np.all(mixture.weights >= 0)
        assert abs(exploitability(GAME, mixture) - exploitability(GAME, UNIFORM)) < 1e-9


@given(game=GAMES, occupancy=arrays(SHAPE), weight=st.sampled_from((*SPECIAL, True, "1", 3)))
@fuzz(max_examples=400)
def test_occupancy_functions_are_valid_or_refused(game, occupancy, weight):
    policy, error = _call(policy_from_occupancy, occupancy)
    if error is None:
        assert np.all(policy >= 0) and np.allclose(policy.sum(axis=-1), 1.0)
    reward, error = _call(reward_against_occupancy, game, occupancy)
    if error is None:
        assert reward.shape == SHAPE and np.all((reward >= 0) & (reward <= 1 + 1e-12))
        assert -1e-9 <= exploitability_from_occupancy(game, occupancy) <= GAME.horizon
    average, error = _call(OccupancyAverage, occupancy)
    if error is None:
        total = average.total_weight
        _, error = _call(average.add, occupancy_measures(GAME, UNIFORM), weight, overflow=True)
        if error is not None:
            assert average.total_weight == total  # a refused add changes nothing
        assert np.all(np.isfinite(average.occupancy))


@given(
    game=GAMES,
    reward=arrays(SHAPE),
    beta=st.sampled_from((0.5, 1.0, 1e300, np.float64(2.0))),
    scale=st.sampled_from((1.0, 1e200, 1e308)),
)
@fuzz(max_examples=400)
def test_q_functions_are_finite_or_refused(game, reward, beta, scale):
    log_uniform = np.log(UNIFORM)
    values = {
        "standard": standard_value(UNIFORM),
        "optimal": optimal_value,
        "soft": soft_value(log_uniform, np.full(GAME.horizon, beta)),
        "regularised": regularised_value(log_uniform, 0.1, log_uniform),
    }
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = reward * scale if isinstance(reward, np.ndarray) else reward
    except TypeError:
        scaled = reward
    result, error = _call(q_values, game, UNIFORM, scaled, overflow=True)
    if error is None:
        q, v = result
        assert q.shape == SHAPE and np.all(np.isfinite(q)) and np.all(np.isfinite(v))
    result, error = _call(optimal_q_values, game, scaled, overflow=True)
    if error is None:
        assert np.all(np.isfinite(result[0])) and np.isfinite(result[1])
    for value in values.values():
        result, error = _call(backward_recursion, game, scaled, value, overflow=True)
        if error is None:
            assert np.all(np.isfinite(result[0])) and np.all(np.isfinite(result[1]))


Q_VALUES = st.sampled_from(
    (0.0, 0.5, 1.0, -3.0, 1e308, float("nan"), float("inf"), "1", None, True)
)


@given(
    q=st.lists(Q_VALUES, min_size=1, max_size=3),
    beta=st.lists(st.sampled_from((0.0, 1.0, 1e308, -1.0, float("nan"), "1")), max_size=3),
)
@fuzz(max_examples=300)
def test_policy_updates_are_valid_or_refused(q, beta):
    """TabularPolicy / CandidateSetPolicy.updated: a valid π^{t+1}, or an error (π^t unchanged)."""
    tabular = TabularPolicy(UNIFORM)
    row = {a: q[a % len(q)] for a in range(len(q))}
    new, error = _call(tabular.updated, {(0, 0, 1): row}, beta, overflow=True)
    if error is None:
        assert _is_policy(np.asarray(new)) and np.all(np.isfinite(new.log_table) | (new.table == 0))
    assert np.array_equal(np.asarray(tabular), UNIFORM)
    candidates = CandidateSetPolicy(["a", "b", "c"])
    info = {"h": 1}
    before = candidates.distribution("x", info)
    key = candidates.key("x", info)
    new, error = _call(
        candidates.updated, {key: dict(zip("abc", q * 3, strict=False))}, beta, overflow=True
    )
    if error is None:
        p = np.array(list(new.distribution("x", info).values()))
        assert np.all(p >= 0) and np.isclose(p.sum(), 1.0)
    assert candidates.distribution("x", info) == before
