"""Sample-based MPO and SPPO approach their exact-expectation updates as K grows."""

from __future__ import annotations

import numpy as np
import pytest

import ompo_envs
from ompo_envs.tabular import exploitability, occupancy_measures, q_values, reward_against
from solvers.mpo import MPO
from solvers.sampled import (
    SampledMPO,
    SampledMPOConfig,
    SampledSPPO,
    SampledSPPOConfig,
    TabularPolicy,
)


def _weighted_distance(game, policy, reference):
    state_mass = occupancy_measures(game, reference).sum(-1)
    nu = game.initial_distribution[game.initial_states]
    return float(np.einsum("n,nhs,nhs->", nu, state_mass, np.abs(policy - reference).sum(-1)))


def _two_stage_game():
    return ompo_envs.make(
        "RandomGame-v0", game_seed=2, num_states=3, num_actions=2, horizon=2, num_initial_states=1
    )


def test_mpo_approaches_exact_mpo_as_k_grows():
    env = _two_stage_game()
    game = env.unwrapped.game
    exact = MPO(game, beta=1.0)
    for _ in range(6):
        exact.step()
    distance = {}
    for k in (4, 64):
        solver = SampledMPO(env, SampledMPOConfig(beta=1.0, num_samples=k, seed=3))
        for _ in range(6):
            solver.step()
        distance[k] = _weighted_distance(game, solver.policy, exact.policy)
    assert distance[64] < 0.12
    assert distance[64] < distance[4]
    assert abs(exploitability(game, solver.policy) - exploitability(game, exact.policy)) < 0.02


def test_sppo_equals_mpo_in_expectation_when_h_is_1():
    """App. B.2: with H = 1, SPPO's update π ∝ π exp(β P(a ≻ π^t)) is MPO's."""
    env = ompo_envs.make("IntransitiveVoters-v0")
    game = env.unwrapped.game
    start = np.array([0.6, 0.3, 0.1]).reshape(1, 1, 1, 3)
    exact = MPO(game, beta=1.0, initial_policy=start)
    for _ in range(8):
        exact.step()
    distance = {}
    for k in (4, 256):
        solver = SampledSPPO(
            env,
            SampledSPPOConfig(beta=1.0, num_samples=k, num_episodes=1, seed=0),
            initial_policy=TabularPolicy(start),
        )
        for _ in range(8):
            solver.step()
        distance[k] = _weighted_distance(game, solver.policy, exact.policy)
    assert distance[256] < 0.1
    assert distance[256] < distance[4]


def test_sppo_two_stage_step_is_mwu_on_the_trajectory_win_rate():
    env = _two_stage_game()
    game = env.unwrapped.game
    start = np.random.default_rng(0).dirichlet(np.ones(2), size=game.policy_shape[:-1])
    solver = SampledSPPO(
        env,
        SampledSPPOConfig(beta=2.0, num_samples=400, num_episodes=32),
        initial_policy=TabularPolicy(start),
    )
    solver.step()
    q, _ = q_values(game, start, reward_against(game, start))
    win_rate = q / 2.0  # standard-Bellman Q of the reward normalised by W = H
    expected = start * np.exp(2.0 * win_rate)
    expected /= expected.sum(-1, keepdims=True)
    assert _weighted_distance(game, solver.policy, expected) < 0.05


@pytest.mark.parametrize("cls", [SampledMPOConfig, SampledSPPOConfig])
def test_configs_validate(cls):
    with pytest.raises(ValueError, match="num_samples"):
        cls(num_samples=0)
    with pytest.raises(ValueError, match="beta"):
        cls(beta=-1.0)
