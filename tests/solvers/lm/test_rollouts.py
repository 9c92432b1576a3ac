"""Rollouts through the env API: batched sampling per stage, recorded answers, comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from ompo_envs.text.lifted import TextRepeatedRockPaperScissorsEnv
from solvers.lm.rollouts import (
    ComparisonPool,
    PlayerPoint,
    RecordingPolicy,
    StageClock,
    joint_point,
    record_trajectories,
)
from solvers.sampled.estimation import BranchingSampler

from .conftest import WordPolicy


class Counting(WordPolicy):
    calls = 0

    def sample_batch(self, observations, infos, rng):
        type(self).calls += 1
        return super().sample_batch(observations, infos, rng)


def test_recorded_trajectories_hold_every_stage_and_its_answer():
    env = TextRepeatedRockPaperScissorsEnv(horizon=3)
    table = np.broadcast_to([0.5, 0.3, 0.2, 0.0], env.class_game.policy_shape).copy()
    policy = Counting(table, env.classifier.names)
    clock = StageClock()
    recorder = RecordingPolicy(policy, clock)
    sampler = BranchingSampler(env, np.random.default_rng(0))
    trajectories, roots = record_trajectories(
        sampler, [None] * 6, range(6), recorder, recorder, clock
    )
    assert Counting.calls > 0
    assert len(trajectories) == 12 and len(roots) == 6
    for trajectory in trajectories:
        answers = [answer for _, answer in trajectory.steps]
        last = trajectory.steps[-1][0]
        assert list(last.info["answers"]) == answers[:-1]  # the state holds the earlier answers
        assert [at.stage for at, _ in trajectory.steps] == [1, 2, 3]
    assert clock.seconds["generation"] > 0 and clock.seconds["oracle"] > 0


def test_comparisons_pay_what_the_env_pays_and_dedupe():
    env = TextRepeatedRockPaperScissorsEnv(horizon=2)
    table = np.broadcast_to([1 / 3, 1 / 3, 1 / 3, 0.0], env.class_game.policy_shape).copy()
    recorder = RecordingPolicy(WordPolicy(table, env.classifier.names), StageClock())
    sampler = BranchingSampler(env, np.random.default_rng(1))
    trajectories, _ = record_trajectories(
        sampler, [None] * 2, range(2), recorder, recorder, StageClock()
    )
    a, b = trajectories[0].steps[1][0], trajectories[3].steps[1][0]
    pool = ComparisonPool(env, StageClock())
    values = pool.compare(
        [
            (a, "paper", b, "rock"),
            (a, "paper", b, "rock"),
            (a, "rock", a, "rock"),
            (b, "x", a, "paper"),
        ]
    )
    np.testing.assert_allclose(values, [1.0, 1.0, 0.5, 0.0])
    assert pool.num_queries == 3  # the repeated pair is stepped once
    with pytest.raises(ValueError, match="same stage"):
        joint_point(trajectories[0].steps[0][0], b)
    assert isinstance(a, PlayerPoint) and a.agent == "player_0"


class PhrasedWordPolicy(WordPolicy):
    """A WordPolicy that says each class in several phrasings: distinct texts, same classes."""

    PHRASES = ("{}", "{}!", "I pick {}.", "{}, final answer")

    def sample_batch(self, observations, infos, rng):
        words = super().sample_batch(observations, infos, rng)
        return [self.PHRASES[rng.integers(len(self.PHRASES))].format(w) for w in words]


class ExactKeys(TextRepeatedRockPaperScissorsEnv):
    """The same game with the default keys: no two distinct (state, answer) pairs alike."""

    def preference_key(self, state, answer):
        return (state, answer)


def _random_points(env, seed, count=6):
    table = np.broadcast_to([0.3, 0.3, 0.3, 0.1], env.class_game.policy_shape).copy()
    recorder = RecordingPolicy(PhrasedWordPolicy(table, env.classifier.names), StageClock())
    sampler = BranchingSampler(env, np.random.default_rng(seed))
    trajectories, _ = record_trajectories(
        sampler, [None] * count, range(count), recorder, recorder, StageClock()
    )
    return trajectories


@pytest.mark.parametrize("env_id", ["TextRockPaperScissors-v0", "TextRepeatedRockPaperScissors-v0"])
def test_equal_preference_keys_get_equal_preferences(env_id):
    import ompo_envs

    env = ompo_envs.make(env_id).unwrapped
    env.reset(seed=0)
    state = env.snapshot().states[0]
    answers = ["rock", "Rock!", "I pick rock.", "paper", "PAPER please", "scissors", "pass", "??"]
    pairs = [(state, a, state, b) for a in answers for b in answers]
    values = env._preferences(pairs).reshape(len(answers), len(answers))
    keys = [env.preference_key(state, a) for a in answers]
    for i, key in enumerate(keys):
        for j, other in enumerate(keys):
            if key == other:
                np.testing.assert_array_equal(values[i], values[j])
                np.testing.assert_array_equal(values[:, i], values[:, j])
    assert len(set(keys)) == 4  # rock, paper, scissors, unrecognised


def test_comparisons_step_once_per_distinct_pair_of_keys_and_pay_the_same():
    import copy

    env = TextRepeatedRockPaperScissorsEnv(horizon=2)
    exact = copy.deepcopy(env)  # the same game (its snapshots restore), with the default keys
    exact.preference_key = lambda state, answer: (state, answer)
    trajectories = _random_points(env, seed=3)
    points = [(at, answer) for t in trajectories for at, answer in t.steps if at.stage == 2]
    pairs = [(a, x, b, y) for a, x in points for b, y in points if a.point is not b.point]
    keyed, plain = ComparisonPool(env, StageClock()), ComparisonPool(exact, StageClock())
    np.testing.assert_array_equal(keyed.compare(pairs), plain.compare(pairs))
    distinct_keys = {(keyed.key(a, x), keyed.key(b, y)) for a, x, b, y in pairs}
    assert keyed.num_queries == len(distinct_keys) < plain.num_queries


@pytest.mark.parametrize("solver", ["SPPO", "DPO"])
def test_conversation_win_rates_by_keys_equal_pair_by_pair_comparison(solver):
    from solvers.lm import LMDPO, LMSPPO

    cls = {"SPPO": LMSPPO, "DPO": LMDPO}[solver]
    rates = []
    for env in (TextRepeatedRockPaperScissorsEnv(horizon=3), ExactKeys(horizon=3)):
        table = np.broadcast_to([0.4, 0.3, 0.2, 0.1], env.class_game.policy_shape).copy()
        policy = PhrasedWordPolicy(table, env.classifier.names)
        solver_ = cls(env, policy=policy, num_prompts=6, num_samples=6, seed=0)
        solver_.start_iteration()
        rates.append((solver_.win_rates(solver_.generate()), solver_.comparisons.num_queries))
    (keyed, keyed_queries), (plain, plain_queries) = rates
    assert keyed == plain and len(keyed) > 10  # bit for bit, over many distinct conversations
    assert keyed_queries < plain_queries
