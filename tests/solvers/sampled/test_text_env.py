"""Sample-based OMPO trains a policy over candidate answers in a text game (no model read)."""

from __future__ import annotations

import numpy as np
import pytest

import ompo_envs
from ompo_envs.policies import CandidateSetPolicy, MixturePolicy
from solvers.sampled import SampledOMPO

ANSWERS = ("Rock.", "I play paper", "scissors!")


def _class_exploitability(env, policy, observation, info):
    """env.exploitability of the distribution over answer classes (computed by hand)."""
    classes = np.zeros(len(env.classes))
    for answer, p in policy.distribution(observation, info).items():
        classes[env.classify(answer)] += p
    return env.exploitability(classes)


def test_sampled_ompo_on_text_rock_paper_scissors_reaches_the_equilibrium():
    env = ompo_envs.make("TextRockPaperScissors-v0")
    assert not hasattr(env.unwrapped, "game")  # a text env: nothing but the env API to learn from
    start = CandidateSetPolicy(ANSWERS, [0.8, 0.1, 0.1])
    observations, infos = env.reset(seed=0)
    prompt = observations["player_0"], infos["player_0"]
    assert _class_exploitability(env, start, *prompt) >= 0.3
    solver = SampledOMPO(
        env, beta=1.0, num_samples=16, num_episodes=1, seed=4, initial_policy=start
    )
    for _ in range(100):
        metrics = solver.step()
    assert metrics["branch_points"] == 1.0 and metrics["kl_step"] > 0.0
    evaluation = solver.evaluate()
    # Thm 4's guarantee is for the average iterate (the trajectory mixture, App. E.2).
    assert evaluation["exploitability_average"] <= 0.02
    average = solver.average_policy
    assert isinstance(average, MixturePolicy) and len(average) == 101
    by_hand = [_class_exploitability(env, p, *prompt) for p in average.components]
    assert evaluation["exploitability_last"] == pytest.approx(by_hand[-1], abs=1e-12)
    # Every episode, SampledOMPO's policy answers in free text that the env scores.
    answer = solver.policy.sample(*prompt, np.random.default_rng(0))
    assert answer in ANSWERS


def test_candidate_policy_errors_are_clear():
    with pytest.raises(ValueError, match="distinct"):
        CandidateSetPolicy(["rock", "rock"])
    with pytest.raises(ValueError, match="sum to 1"):
        CandidateSetPolicy(["rock", "paper"], [0.5, 0.6])
    with pytest.raises(TypeError, match="sequence of actions"):
        CandidateSetPolicy("rock")
    policy = CandidateSetPolicy(["rock", "paper"])
    with pytest.raises(KeyError, match="never visited"):
        policy.updated({(1, "unseen"): {"rock": 0.0, "paper": 1.0}}, [1.0])
    with pytest.raises(ValueError, match="info\\['h'\\]"):
        policy.sample("User: hi", {}, np.random.default_rng(0))
    env = ompo_envs.make("TextRockPaperScissors-v0")
    with pytest.raises(ValueError, match="CandidateSetPolicy"):
        SampledOMPO(env)
