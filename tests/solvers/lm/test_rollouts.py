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
