"""The env-API estimator: unbiased Q at every stage (fresh opponent states), splicing, no model."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np
import pytest

import ompo_envs
from ompo_envs.core import PreferenceGameEnv
from ompo_envs.tabular import q_values, reward_against, uniform_policy
from solvers.sampled import (
    BranchingSampler,
    SampledOMPO,
    SampledOMPOConfig,
    TabularPolicy,
    splice,
)
from solvers.sampled.estimation import ContinuationRequest


def test_continuation_means_match_exact_q_at_every_stage():
    """Ĝ_h(s, a; π) → E_{S',A'~d_h^π} Q_h^{π,π}(s, a, S', A') (the exact MPO Q), also at h = 2
    where player_1's state must be redrawn per continuation."""
    env = ompo_envs.make(
        "RandomGame-v0", game_seed=2, num_states=3, num_actions=2, horizon=2, num_initial_states=1
    )
    game = env.unwrapped.game
    table = np.random.default_rng(0).dirichlet(np.ones(2), size=game.policy_shape[:-1])
    exact_q, _ = q_values(game, table, reward_against(game, table))
    policy = TabularPolicy(table)
    sampler = BranchingSampler(env, np.random.default_rng(1))
    episodes = sampler.branch_points(policy, 16)
    branches, roots = episodes.branches, episodes.roots
    k = 600
    opponents = sampler.opponent_points(roots[0], policy, k)
    requests = [
        ContinuationRequest(b, (0, 1), policy, opponents if b.point.stage > 1 else None)
        for b in branches
        if b.root == 0
    ]
    assert {r.branch.point.stage for r in requests} == {1, 2}
    for request, g in zip(requests, sampler.continuation_returns(requests, policy, k), strict=True):
        np.testing.assert_allclose(g.mean(axis=1), exact_q[request.branch.key], atol=0.06)


def test_splice_takes_each_player_from_its_own_point():
    env = ompo_envs.make("RepeatedRockPaperScissors-v0")
    sampler = BranchingSampler(env, np.random.default_rng(0))
    policy = TabularPolicy(uniform_policy(env.unwrapped.game))
    _, points = sampler.play([None, None], [policy] * 2, [policy] * 2, record=True)
    a, b = points[0][1], points[1][1]
    joined = splice(a, b)
    assert joined.episode.states == (a.episode.states[0], b.episode.states[1])
    assert joined.observations == {
        "player_0": a.observations["player_0"],
        "player_1": b.observations["player_1"],
    }
    with pytest.raises(ValueError, match="same stage"):
        splice(points[0][0], b)


class _CoinGame(PreferenceGameEnv[int, int]):
    """A model-free env written against the base only: two states, player_0 paid 1 if its
    action matches a hidden rule. No ``game`` attribute: a solver cannot read a model."""

    metadata: ClassVar[dict[str, Any]] = {"name": "coin", "render_modes": ["ansi"]}

    def __init__(self) -> None:
        super().__init__(horizon=2)

    def _make_observation_space(self):
        return gymnasium.spaces.Discrete(2)

    def _make_action_space(self):
        return gymnasium.spaces.Discrete(2)

    def _initial_state(self, options):
        return 0, {}

    def _next_state(self, state, action, episode):
        return int(self.np_random.random() < 0.5)

    def _preferences(self, pairs):
        return np.array([0.5 + 0.5 * ((a == s) - (a_ == s_)) for s, a, s_, a_ in pairs])

    def _observation(self, state, episode):
        return np.int64(state)

    def _player_info(self, state, episode):
        return {"init_index": 0}


def test_runs_on_an_env_without_a_model_and_learns_the_rule():
    env = _CoinGame()
    with pytest.raises(ValueError, match="initial_policy"):
        SampledOMPO(env)
    solver = SampledOMPO(
        env,
        SampledOMPOConfig(beta=2.0, num_samples=8, num_episodes=8),
        initial_policy=TabularPolicy(np.full((1, 2, 2, 2), 0.5)),
    )
    for _ in range(8):
        solver.step()
    # the dominant action a = s is learned at every reachable row
    assert solver.policy.table[0, 0, 0, 0] > 0.9
    assert solver.policy.table[0, 1, 0, 0] > 0.9 and solver.policy.table[0, 1, 1, 1] > 0.9
