"""Both equilibrium methods are exact on known games and agree; the gap certifies exploitability."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from ompo_envs.envs import gridworld_game, intransitive_voters_game, rock_paper_scissors_game
from ompo_envs.tabular import exploitability, nash_equilibrium, random_game
from ompo_envs.tabular import nash as nash_module
from ompo_envs.tabular.interior_point import solve_start
from ompo_envs.tabular.nash import LP_MAX_PAYOFF_ENTRIES, lp_payoff_entries, reachable_states

GAMES = {
    "random": lambda: random_game(11, num_states=12, num_actions=4, horizon=3),
    "random-terminal": lambda: random_game(
        12, num_states=8, num_actions=3, horizon=4, reward_mode="terminal"
    ),
    "gridworld": lambda: gridworld_game(horizon=5),
}


@pytest.mark.parametrize("method", ["lp", "interior-point"])
@pytest.mark.parametrize("name", sorted(GAMES))
def test_equilibrium_is_exact(name, method) -> None:
    game = GAMES[name]()
    ne = nash_equilibrium(game, method)
    assert ne.method == method
    assert ne.exploitability == pytest.approx(exploitability(game, ne.policy), abs=1e-15)
    assert ne.exploitability <= 1e-8
    np.testing.assert_allclose(ne.values, game.value, atol=1e-8)
    np.testing.assert_allclose(ne.occupancy.sum(axis=(2, 3)), 1.0, atol=1e-8)


def test_interior_point_agrees_with_the_lp_on_a_ten_stage_game() -> None:
    game = random_game(3, num_states=10, num_actions=5, horizon=10)
    lp = nash_equilibrium(game, "lp")
    ipm = nash_equilibrium(game, "interior-point")
    assert lp.exploitability <= 1e-8 and ipm.exploitability <= 1e-8
    np.testing.assert_allclose(ipm.values, lp.values, atol=1e-8)
    # A random game has a unique equilibrium: the occupancies agree too.
    np.testing.assert_allclose(ipm.occupancy, lp.occupancy, atol=1e-5)


@pytest.mark.parametrize("make", [rock_paper_scissors_game, intransitive_voters_game])
def test_interior_point_finds_the_uniform_equilibrium_of_cyclic_games(make) -> None:
    ne = nash_equilibrium(make(), "interior-point")
    np.testing.assert_allclose(ne.policy[0, 0, 0], 1 / 3, atol=1e-9)
    assert ne.values[0] == pytest.approx(0.5, abs=1e-9)


def test_gap_bounds_the_exploitability_at_every_iteration_count() -> None:
    game = random_game(5, num_states=6, num_actions=4, horizon=4, num_initial_states=1)
    start = int(game.initial_states[0])
    for iterations in (1, 3, 6, 100):
        solution = solve_start(game, start, gap_tolerance=1e-12, max_iterations=iterations)
        policy = nash_equilibrium(game, "lp").policy.copy()
        occupancy = solution.occupancy / solution.occupancy.sum(axis=-1, keepdims=True).clip(1e-300)
        reached = solution.occupancy.sum(axis=-1) > 0
        policy[0][reached] = occupancy[reached]
        assert exploitability(game, policy) <= solution.gap + 1e-12
        assert solution.value >= game.value + exploitability(game, policy) - 1e-12
    assert solution.converged and solution.gap <= 1e-12
    assert not solve_start(game, start, max_iterations=1).converged


def test_auto_uses_the_lp_for_small_games_and_the_interior_point_method_beyond() -> None:
    small = random_game(11, num_states=12, num_actions=4, horizon=3)
    large = random_game(3, num_states=10, num_actions=5, horizon=10)
    assert lp_payoff_entries(small) <= LP_MAX_PAYOFF_ENTRIES < lp_payoff_entries(large)
    assert nash_equilibrium(small).method == "lp"
    assert nash_equilibrium(large).method == "interior-point"


def test_bad_arguments_and_an_unconverged_run_raise(monkeypatch) -> None:
    game = GAMES["random"]()
    with pytest.raises(ValueError, match="method"):
        nash_equilibrium(game, "simplex")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tolerance"):
        nash_equilibrium(game, tolerance=0.0)
    monkeypatch.setattr(
        nash_module, "solve_start", functools.partial(solve_start, max_iterations=2)
    )
    with pytest.raises(RuntimeError, match="method='lp'"):
        nash_equilibrium(game, "interior-point")


def test_reachable_states_are_the_cells_within_h_minus_1_moves() -> None:
    game = gridworld_game(horizon=3, slip=0.0)
    start = int(game.initial_states[0])
    assert [len(r) for r in reachable_states(game, start)] == [1, 5, 9]
