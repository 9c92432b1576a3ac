"""The LM solvers' Q̂ estimators against the exact Q of a lifted tabular game.

A tabular policy over words (:class:`WordPolicy`) goes through exactly the code path of the LM
solvers (root episodes, step groups, pooled one-step comparisons, continuations from fresh
opponent states); its exact Q comes from the class game's Bellman recursion.
"""

from __future__ import annotations

import numpy as np

from ompo_envs.tabular import q_values, reward_against
from ompo_envs.text.lifted import LiftedRandomGameEnv
from solvers.lm import LMMPO, LMOMPO

from .conftest import WordPolicy


def _setup(seed=4):
    env = LiftedRandomGameEnv(game_seed=seed, num_states=3, num_actions=2, horizon=3)
    rng = np.random.default_rng(seed)
    table = rng.dirichlet(np.full(3, 1.5), size=env.class_game.policy_shape[:-1])
    policy = WordPolicy(table, env.classifier.names)
    return env, table, policy


def test_trajectory_estimator_is_unbiased_for_q_against_the_policy():
    env, table, policy = _setup()
    game = env.class_game
    q, _ = q_values(game, table, reward_against(game, table))
    solver = LMMPO(
        env,
        policy=policy,
        estimator="trajectory",
        num_prompts=3,
        num_samples=2,
        num_continuations=150,
        seed=1,
    )
    rollouts = solver.generate()
    samples = solver.pooled(rollouts.groups)
    solver.continuation_values(samples, rollouts.roots, policy)
    checked = 0
    for sample in samples.values():
        info = sample.at.info
        for answer, estimate in sample.current.items():
            exact = q[info["init_index"], info["h"] - 1, info["state_index"], env.classify(answer)]
            assert abs(estimate - exact) <= 4 * sample.stderr[answer] + 1e-9, (
                answer,
                estimate,
                exact,
            )
            checked += 1
    assert checked >= 6 and {s.at.stage for s in samples.values()} == {1, 2, 3}


def test_one_step_estimator_is_unbiased_for_the_win_rate_at_the_same_state():
    env, table, policy = _setup(5)
    game = env.class_game
    solver = LMOMPO(env, policy=policy, num_prompts=1, num_samples=400, seed=2)
    rollouts = solver.generate()
    samples = solver.pooled(rollouts.groups)
    solver.one_step_win_rates(samples)
    for sample in samples.values():
        info = sample.at.info
        s, row = info["state_index"], table[info["init_index"], info["h"] - 1, info["state_index"]]
        n = sum(sample.counts.values())
        for answer, estimate in sample.current.items():
            payoff = game.reward[s, env.classify(answer), s]
            exact = row @ payoff
            stderr = np.sqrt((row @ payoff**2 - exact**2) / (n - 1))
            assert abs(estimate - exact) <= 4 * stderr + 0.01, (answer, estimate, exact)
        # the pooled win rates average to ½ exactly (the one-step centring constant)
        mean = sum(m * sample.current[a] for a, m in sample.counts.items()) / n
        assert abs(mean - 0.5) < 1e-9


def test_optimistic_term_against_stored_answers():
    env, _, policy = _setup(6)
    solver = LMOMPO(env, policy=policy, num_prompts=1, num_samples=300, seed=3)
    rollouts = solver.generate()
    samples = solver.pooled(rollouts.groups)
    first = next(iter(samples))
    stored = {first: samples[first].counts.copy()}
    solver.one_step_win_rates(samples, stored)
    sample = samples[first]
    # against its own sample, the previous term is the current win rate with self-pairs added
    n = sum(sample.counts.values())
    for answer, w in sample.current.items():
        expected = (w * (n - 1) + 0.5) / n
        assert abs(sample.previous[answer] - expected) < 1e-9
    assert all(s.previous is None for k, s in samples.items() if k != first)
