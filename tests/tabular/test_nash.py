"""The LP equilibrium, solved directly or by column generation, is a Nash equilibrium."""

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
def test_column_generation_and_direct_lp_agree(game) -> None:
    direct = nash_equilibrium(game, method="lp")
    columns = nash_equilibrium(game, method="column_generation")
    for ne in (direct, columns):
        assert exploitability(game, ne.policy) <= 1e-7
        np.testing.assert_allclose(ne.values, game.value, atol=1e-7)
        np.testing.assert_allclose(ne.occupancy.sum(axis=(2, 3)), 1.0, atol=1e-7)


def test_reachable_states_follow_the_allowed_actions() -> None:
    game = gridworld_game(horizon=3, slip=0.0)
    start = int(game.initial_states[0])
    everywhere = reachable_states(game, start)
    assert [len(r) for r in everywhere] == [1, 5, 9]  # cells within h − 1 moves
    only_stay = np.zeros(game.policy_shape[1:], dtype=bool)
    only_stay[..., 4] = True
    assert [r.tolist() for r in reachable_states(game, start, only_stay)] == [[start]] * 3


def test_unknown_method_is_rejected() -> None:
    with pytest.raises(ValueError, match="method"):
        nash_equilibrium(random_game(0, num_states=3, num_actions=2, horizon=2), method="magic")
