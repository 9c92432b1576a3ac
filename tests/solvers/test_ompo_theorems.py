"""Thm 5 (one player suffices) and Thm 7 (soft vs standard Bellman gap) on random games."""

from __future__ import annotations

import numpy as np
import pytest

import solvers
from ompo_envs.tabular import (
    TabularGame,
    backward_recursion,
    occupancy_measures,
    q_values,
    random_game,
    random_policy,
    soft_value,
    standard_value,
)
from solvers._common import stage_step_sizes

GAMES = [
    random_game(7, num_states=6, num_actions=4, horizon=4),
    random_game(8, num_states=5, num_actions=3, horizon=3, reward_mode="terminal"),
    random_game(9, horizon=3),  # paper sizes
]


def _softmax_step(policy: np.ndarray, scores: np.ndarray, stage_beta: np.ndarray) -> np.ndarray:
    z = np.log(policy) + stage_beta[None, :, None, None] * scores
    z -= z.max(axis=-1, keepdims=True)
    new = np.exp(z)
    return new / new.sum(axis=-1, keepdims=True)


def _against(game: TabularGame, occupancy: np.ndarray, *, as_min_player: bool) -> np.ndarray:
    """Max player: w_h E_{d'} r(s,a,s',a').  Min player (its loss): w_h E_{d'} r(s',a',s,a)."""
    r = game.reward.transpose(2, 3, 0, 1) if as_min_player else game.reward
    per_stage = np.einsum("sapb,nhpb->nhsa", r, occupancy)
    return per_stage * game.stage_weights[None, :, None, None]


@pytest.mark.parametrize("game", GAMES, ids=["intermediate", "terminal", "paper-sizes"])
def test_thm5_one_player_ompo_equals_the_two_player_iterates(game):
    """Max player φ ascends, min player ψ descends its loss; both equal OMPO's π to 1e-12."""
    beta = 2.0
    stage_beta = stage_step_sizes(beta, game.horizon)
    start = random_policy(game, np.random.default_rng(0))
    solver = solvers.OMPO(game, beta=beta, initial_policy=start)
    phi, psi = start.copy(), start.copy()
    prev_phi_reward = prev_psi_loss = None
    for _ in range(25):
        d_phi, d_psi = occupancy_measures(game, phi), occupancy_measures(game, psi)
        phi_reward = _against(game, d_psi, as_min_player=False)
        psi_loss = _against(game, d_phi, as_min_player=True)
        prev_phi_reward = phi_reward if prev_phi_reward is None else prev_phi_reward
        prev_psi_loss = psi_loss if prev_psi_loss is None else prev_psi_loss
        q_phi, _ = q_values(game, phi, 2 * phi_reward - prev_phi_reward)
        q_psi, _ = q_values(game, psi, 2 * psi_loss - prev_psi_loss)
        phi = _softmax_step(phi, q_phi, stage_beta)
        psi = _softmax_step(psi, -q_psi, stage_beta)
        prev_phi_reward, prev_psi_loss = phi_reward, psi_loss
        solver.step()
        np.testing.assert_allclose(solver.policy, phi, rtol=0, atol=1e-12)
        np.testing.assert_allclose(solver.policy, psi, rtol=0, atol=1e-12)


@pytest.mark.parametrize("beta", [0.05, 0.2, 0.5])
@pytest.mark.parametrize("seed", range(4))
def test_thm7_soft_minus_standard_value_gap(seed, beta):
    """0 ≤ V_h − ⟨π_h, Q_h⟩ ≤ β_h Q_max² per stage (Thm 7), and the gap of V_1 sums them."""
    game = random_game(100 + seed, num_states=8, num_actions=4, horizon=5)
    solver = solvers.OMPO(game, beta=beta, bellman="soft")
    stage_beta = stage_step_sizes(beta, game.horizon)
    for _ in range(5):  # a few iterates, so that π^t and r̃^t are not the uniform start
        solver.step()
    _, optimistic = solver.optimistic_reward()
    q_soft, v_soft = backward_recursion(game, optimistic, soft_value(solver.log_policy, stage_beta))
    q_max = np.abs(q_soft).max(axis=(0, 2, 3))  # per stage, (H,)
    assert np.all(stage_beta * q_max <= 1.0), "Thm 7 assumes β_h ≤ 1/Q_max"
    expected = np.einsum("nhsa,nhsa->nhs", solver.policy, q_soft)
    gap = v_soft[:, :-1] - expected
    assert np.all(gap >= -1e-12)
    assert np.all(gap <= (stage_beta * q_max**2)[None, :, None] + 1e-12)
    # The standard-Bellman values (the §3.2 approximation) are below the soft ones by at most
    # the per-stage gaps accumulated along the trajectory.
    _, v_standard = backward_recursion(game, optimistic, standard_value(solver.policy))
    total_gap = v_soft[:, 0] - v_standard[:, 0]
    assert np.all(total_gap >= -1e-12)
    assert np.all(total_gap <= np.sum(stage_beta * q_max**2) + 1e-12)


def test_soft_and_standard_ompo_agree_for_small_beta():
    game = GAMES[0]
    soft = solvers.OMPO(game, beta=0.01, bellman="soft")
    standard = solvers.OMPO(game, beta=0.01, bellman="standard")
    for _ in range(20):
        soft.step()
        standard.step()
    np.testing.assert_allclose(soft.policy, standard.policy, atol=1e-5)
