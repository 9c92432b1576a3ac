"""Known fixed points: the LP NE is stationary; regularised methods reach their regularised NE."""

from __future__ import annotations

import numpy as np
import pytest

import solvers
from ompo_envs.tabular import (
    TabularGame,
    backward_recursion,
    nash_equilibrium,
    occupancy_measures,
    regularised_value,
    reward_against_occupancy,
)
from ompo_envs.tabular.policies import normalise_logits
from solvers._common import trajectory_scale
from tests.solvers.conftest import UNREGULARISED, cyclic_games, small_random_game

GAMES = {**cyclic_games(), **{f"random-{s}": small_random_game(s) for s in (0, 1)}}
EQUILIBRIA = {name: nash_equilibrium(game) for name, game in GAMES.items()}


@pytest.mark.parametrize("game_name", sorted(GAMES))
@pytest.mark.parametrize("solver_name", sorted(UNREGULARISED))
def test_lp_nash_is_stationary(solver_name, game_name):
    """Updates from π* keep the occupancy d^{π*} (the policy at unreached states may move)."""
    game, equilibrium = GAMES[game_name], EQUILIBRIA[game_name]
    cls, settings = UNREGULARISED[solver_name]
    solver = cls(game, initial_policy=equilibrium.policy, **settings)
    for _ in range(3):
        metrics = solver.step()
    np.testing.assert_allclose(
        occupancy_measures(game, solver.policy), equilibrium.occupancy, atol=1e-6
    )
    assert metrics["kl_step"] < 1e-8


def test_lp_reference_solver_returns_the_lp_nash():
    game = GAMES["random-0"]
    solver = solvers.LPEquilibrium(game)
    solver.step()
    np.testing.assert_array_equal(solver.policy, EQUILIBRIA["random-0"].policy)
    assert solver.evaluate()["exploitability_last"] < 1e-7


def _regularised_residual(
    game: TabularGame, policy: np.ndarray, alpha: float, scale: float
) -> float:
    """Spread over actions of log π − log μ − Q_α/α with μ uniform: 0 at the regularised NE.

    The regularised NE of max_π min_π' E[scale · Σ_h r] − α Σ_h E KL(π_h‖μ_h) + α Σ_h E KL(π'_h‖μ_h)
    is the policy that is its own KL-regularised best response: π_h ∝ μ_h exp(Q_{α,h}/α).
    """
    log_policy = normalise_logits(np.log(policy))
    log_uniform = np.full_like(log_policy, -np.log(game.num_actions))
    reward = scale * reward_against_occupancy(game, occupancy_measures(game, policy))
    q, _ = backward_recursion(game, reward, regularised_value(log_policy, alpha, log_uniform))
    gap = log_policy - log_uniform - q / alpha
    return float(np.max(gap.max(axis=-1) - gap.min(axis=-1)))


@pytest.mark.parametrize("game_name", ["voters", "random-0"])
def test_mtpo_and_fixed_magnet_mmd_converge_to_the_regularised_nash(game_name):
    game = GAMES[game_name]
    alpha = 0.2
    mtpo = solvers.MTPO(game, beta=2.0, alpha=alpha)
    mmd = solvers.MMD(game, beta=1.0, alpha=alpha, magnet_step=0.0)
    for _ in range(600):
        mtpo.step()
        mmd.step()
    assert _regularised_residual(game, mtpo.policy, alpha, trajectory_scale(game)) < 1e-6
    assert _regularised_residual(game, mmd.policy, alpha, 1.0) < 1e-6
    # ... which is not the NE of the unregularised game (exploitability plateaus > 0),
    assert mmd.evaluate()["exploitability_last"] > 1e-4 or game_name == "voters"


def test_nash_md_last_iterate_is_near_the_regularised_nash():
    """Nash-MD's fixed point is the regularised NE up to O(β): it shrinks with β."""
    game, alpha = GAMES["random-0"], 0.2
    residuals = []
    for beta in (0.4, 0.1):
        solver = solvers.NashMD(game, beta=beta, alpha=alpha)
        for _ in range(int(240 / beta)):
            solver.step()
        residuals.append(_regularised_residual(game, solver.policy, alpha, 1.0))
    assert residuals[1] < residuals[0] < 0.5


def test_regularisation_vanishes_as_alpha_goes_to_zero():
    """MMD's fixed-magnet (QRE) exploitability shrinks with α."""
    game = GAMES["random-1"]
    plateau = []
    for alpha in (0.5, 0.05):
        solver = solvers.MMD(game, beta=1.0, alpha=alpha, magnet_step=0.0)
        for _ in range(800):
            solver.step()
        plateau.append(solver.evaluate()["exploitability_last"])
    assert plateau[1] < 0.5 * plateau[0]
