"""The LM solvers reach the game only through the env API, with one batched oracle call per step.

A lifted tabular game is played by a tabular policy over words (the LM solvers' code path); every
batched env step (:func:`ompo_envs.core.step_batch`, the only way the solvers step an env), every
oracle call and every sampling call of an iteration's generate and judge stages are counted.
"""

from __future__ import annotations

import numpy as np
import pytest

import solvers.lm.rollouts as rollouts_module
import solvers.sampled.estimation as estimation_module
from ompo_envs.text.lifted import LiftedRandomGameEnv
from solvers.lm import LMDPO, LMMPO, LMOMPO, LMSPPO, LMStepDPO

from .conftest import WordPolicy

CASES = [
    pytest.param(LMOMPO, {}, id="OMPO-one-step-stored"),
    pytest.param(
        LMOMPO, {"estimator": "trajectory", "optimism_source": "policy"}, id="OMPO-trajectory"
    ),
    pytest.param(LMMPO, {"estimator": "trajectory", "num_continuations": 3}, id="MPO-trajectory"),
    pytest.param(LMStepDPO, {}, id="Step-DPO"),
    pytest.param(LMSPPO, {}, id="SPPO"),
    pytest.param(LMDPO, {}, id="DPO"),
]


class _CountingWords(WordPolicy):
    """A word policy that counts its batched sampling calls (its copies count with it)."""

    def __init__(self, table, words, calls):
        super().__init__(table, words)
        self.calls = calls

    def sample_batch(self, observations, infos, rng):
        self.calls.append(len(infos))
        return super().sample_batch(observations, infos, rng)

    def copy(self):
        return _CountingWords(self.table, self.answers[:-1], self.calls)


@pytest.mark.parametrize(("cls", "fields"), CASES)
def test_each_batched_env_step_is_one_oracle_call_and_sampling_is_batched(cls, fields, monkeypatch):
    env = LiftedRandomGameEnv(game_seed=3, num_states=3, num_actions=2, horizon=3)
    steps: list[int] = []
    oracle_calls: list[int] = []
    generation_calls: list[int] = []

    def counting_step_batch(envs, actions, _step_batch=estimation_module.step_batch):
        steps.append(len(envs))
        return _step_batch(envs, actions)

    def counting_compare(states_a, *rest, _compare=env.oracle.compare_states):
        oracle_calls.append(len(states_a))
        return _compare(states_a, *rest)

    for module in (rollouts_module, estimation_module):
        monkeypatch.setattr(module, "step_batch", counting_step_batch)
    monkeypatch.setattr(env.oracle, "compare_states", counting_compare)
    rng = np.random.default_rng(0)
    table = rng.dirichlet(np.ones(3), size=env.class_game.policy_shape[:-1])
    policy = _CountingWords(table, env.classifier.names, generation_calls)
    solver = cls(env, policy=policy, num_prompts=6, num_samples=3, seed=0, **fields)

    for iteration in range(2):  # the second iteration also compares against π^{t−1}
        solver.start_iteration()
        before = len(steps)
        records = solver.judge(solver.generate())
        assert records
        solver.finish_iteration({})
        # every env step went through step_batch: one oracle call each, of the whole batch
        # (every stage of this game pays a preference)
        assert oracle_calls[before:] == steps[before:], iteration
        assert max(steps[before:]) > 1
        assert sum(steps[before:]) >= solver.comparisons.num_queries
    # sampling: at most one call per player per batched step, plus the K answers per state (and
    # π^{t−1}'s) in one call each — never one call per episode
    assert max(generation_calls) > 1
    assert len(generation_calls) <= 2 * len(steps) + 2 * 2


def test_ompo_compares_with_the_answers_the_previous_iterate_gave_at_the_same_states():
    env = LiftedRandomGameEnv(game_seed=3, num_states=3, num_actions=2, horizon=3)
    table = np.random.default_rng(1).dirichlet(np.ones(3), size=env.class_game.policy_shape[:-1])
    solver = LMOMPO(env, policy=WordPolicy(table, env.classifier.names), num_prompts=4, seed=0)
    seen = []
    compare = solver.one_step_win_rates

    def spy(samples, opponents=None):
        seen.append(({k: s.counts.copy() for k, s in samples.items()}, opponents))
        return compare(samples, opponents)

    solver.one_step_win_rates = spy
    for _ in range(2):
        solver.start_iteration()
        solver.judge(solver.generate())
        solver.finish_iteration({})
    (first, none), (second, stored) = seen
    assert not none  # t = 1: no π^{t−1}
    # t = 2: at every state met again, exactly the answers π^1 gave there (s1 always recurs)
    recurring = set(first) & set(second)
    assert recurring and stored == {key: first[key] for key in recurring}
