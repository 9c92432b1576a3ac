"""TabularGame validates its arrays on construction."""

from __future__ import annotations

import numpy as np
import pytest

from ompo_envs.envs import rock_paper_scissors_game
from ompo_envs.tabular import TabularGame, random_game


def _parts():
    game = rock_paper_scissors_game()
    return dict(
        initial_distribution=game.initial_distribution.copy(),
        transitions=game.transitions.copy(),
        reward=game.reward.copy(),
        horizon=1,
    )


def test_valid_game_is_read_only() -> None:
    game = TabularGame(**_parts())
    with pytest.raises(ValueError):
        game.reward[0, 0, 0, 0] = 0.3
    assert game.policy_shape == (1, 1, 1, 3)
    assert game.value == 0.5


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (dict(initial_distribution=np.array([0.5])), ValueError, "sum to 1"),
        (dict(initial_distribution=[1.0]), TypeError, "numpy array"),
        (dict(transitions=np.full((1, 3, 1), 0.9)), ValueError, "sum to 1"),
        (dict(transitions=np.ones((2, 3, 1))), ValueError, "shape"),
        (dict(reward=np.full((1, 3, 1, 3), 0.7)), ValueError, "antisymmetric"),
        (dict(reward=np.full((1, 3, 1, 2), 0.5)), ValueError, "shape"),
        (dict(reward=np.full((1, 3, 1, 3), np.nan)), ValueError, "NaN"),
        (dict(reward=np.full((1, 3, 1, 3), 1.5)), ValueError, r"\[0, 1\]"),
        (dict(horizon=0), ValueError, "horizon"),
        (dict(horizon=1.5), TypeError, "horizon"),
        (dict(reward_mode="final"), ValueError, "reward_mode"),
    ],
)
def test_malformed_arrays_raise_clear_errors(change, error, match) -> None:
    with pytest.raises(error, match=match):
        TabularGame(**{**_parts(), **change})


def test_antisymmetry_tolerance_is_1e_9() -> None:
    parts = _parts()
    parts["reward"][0, 0, 0, 1] += 5e-10
    TabularGame(**parts)
    parts["reward"][0, 0, 0, 1] += 5e-9
    with pytest.raises(ValueError, match="antisymmetric"):
        TabularGame(**parts)


def test_random_game_is_reproducible_and_in_the_papers_ranges() -> None:
    for seed in range(10):
        a, b = random_game(seed), random_game(seed)
        assert np.array_equal(a.reward, b.reward) and np.array_equal(a.transitions, b.transitions)
        assert 1 <= a.num_states <= 100 and 2 <= a.num_actions <= 10 and a.horizon == 10
    assert not np.array_equal(random_game(0).reward.shape, random_game(1).reward.shape) or (
        not np.array_equal(random_game(0).reward, random_game(1).reward)
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(num_states=0), "num_states"),
        (dict(num_actions=1), "num_actions"),
        (dict(horizon=0), "horizon"),
        (dict(num_states=3, num_initial_states=4), "num_initial_states"),
    ],
)
def test_random_game_rejects_bad_sizes(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        random_game(0, **kwargs)
