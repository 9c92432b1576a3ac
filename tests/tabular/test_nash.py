"""The LP equilibrium is a Nash equilibrium; its variables cover exactly the reachable states."""

from __future__ import annotations

import numpy as np
import pytest

from ompo_envs.envs import gridworld_game
from ompo_envs.tabular import exploitability, nash_equilibrium, random_game
from ompo_envs.tabular.nash import reachable_states


@pytest.mark.parametrize(
    "game",
    [
        random_game(11, num_states=12, num_actions=4, horizon=3),
        random_game(12, num_states=8, num_actions=3, horizon=4, reward_mode="terminal"),
        gridworld_game(horizon=5),
    ],
    ids=["random", "random-terminal", "gridworld"],
)
def test_lp_equilibrium_is_exact(game) -> None:
    ne = nash_equilibrium(game)
    assert exploitability(game, ne.policy) <= 1e-7
    np.testing.assert_allclose(ne.values, game.value, atol=1e-7)
    np.testing.assert_allclose(ne.occupancy.sum(axis=(2, 3)), 1.0, atol=1e-7)


def test_reachable_states_are_the_cells_within_h_minus_1_moves() -> None:
    game = gridworld_game(horizon=3, slip=0.0)
    start = int(game.initial_states[0])
    assert [len(r) for r in reachable_states(game, start)] == [1, 5, 9]
