from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test
from pettingzoo.utils.conversions import parallel_to_aec

import ompo_envs
from ompo_envs.text.known_ne import class_exploitability

IDS = ["TextRockPaperScissors-v0", "TextVoters-v0"]
SAMPLE_ANSWERS = {
    "TextRockPaperScissors-v0": ["I pick Rock!", "paper", "SCISSORS.", "a stone", "banana", ""],
    "TextVoters-v0": ["y1", "I choose y2.", "Y3!", "y4", ""],
}


@pytest.mark.parametrize("env_id", IDS)
def test_pettingzoo_api_and_seed_tests(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(ompo_envs.make(env_id), num_cycles=5)
        parallel_seed_test(lambda: ompo_envs.make(env_id))
        api_test(parallel_to_aec(ompo_envs.make(env_id)), num_cycles=5)


@pytest.mark.parametrize("env_id", IDS)
def test_rewards_are_the_class_matrix(env_id):
    env = ompo_envs.make(env_id)
    for a, b in itertools.product(SAMPLE_ANSWERS[env_id], repeat=2):
        observations, infos = env.reset(seed=0)
        assert observations["player_0"] == "User: " + env.prompt
        _, rewards, terminations, _, infos = env.step({"player_0": a, "player_1": b})
        expected = env.class_matrix[env.classify(a), env.classify(b)]
        assert rewards["player_0"] == pytest.approx(expected)
        assert rewards["player_0"] + rewards["player_1"] == pytest.approx(1.0)
        assert all(terminations.values())
        assert infos["player_0"]["answer_class"] == env.classes[env.classify(a)]


def test_rps_mapping_and_known_equilibrium():
    env = ompo_envs.make("TextRockPaperScissors-v0")
    assert env.classes == ("rock", "paper", "scissors", "unrecognised")
    assert [env.classify(a) for a in SAMPLE_ANSWERS["TextRockPaperScissors-v0"]] == [
        0, 1, 2, 0, 3, 3,
    ]  # fmt: skip
    assert env.classify("rock or paper") == 0  # classes are tried in order
    nash = env.nash_equilibrium
    np.testing.assert_allclose(nash, [1 / 3, 1 / 3, 1 / 3, 0])
    assert env.exploitability(nash) == pytest.approx(0.0, abs=1e-12)
    # the NE is a fixed point: no class beats it by more than the value ½
    np.testing.assert_allclose(env.class_matrix[:3] @ nash, 0.5)
    assert env.class_matrix[3] @ nash == 0.0
    assert env.exploitability([1, 0, 0, 0]) == pytest.approx(0.5)
    assert env.exploitability([0, 0, 0, 1]) == pytest.approx(0.5)
    assert env.value(nash, [1, 0, 0, 0]) == pytest.approx(0.5)


def test_voters_known_equilibrium_matches_app_h():
    env = ompo_envs.make("TextVoters-v0")
    m = env.class_matrix
    assert m[0, 1] == pytest.approx(2 / 3) and m[1, 2] == pytest.approx(2 / 3)
    assert m[2, 0] == pytest.approx(2 / 3)
    assert env.exploitability(env.nash_equilibrium) == pytest.approx(0.0, abs=1e-12)
    for pure in np.eye(3):
        assert env.exploitability(np.append(pure, 0)) == pytest.approx(1 / 6)


def test_exploitability_from_sampled_answers():
    env = ompo_envs.make("TextRockPaperScissors-v0")
    answers = ["rock"] * 10 + ["paper"] * 10 + ["scissors"] * 10
    assert env.exploitability(env.class_distribution(answers)) == pytest.approx(0.0, abs=1e-12)
    skewed = env.class_distribution(["rock"] * 20 + ["paper"] * 10)
    np.testing.assert_allclose(skewed, [2 / 3, 1 / 3, 0, 0])
    assert env.exploitability(skewed) == pytest.approx(2 / 3 * 1 + 1 / 3 * 0.5 - 0.5)


def test_class_exploitability_checks_inputs():
    with pytest.raises(ValueError, match="shape"):
        class_exploitability(np.full((3, 3), 0.5), [1.0, 0.0])
    with pytest.raises(ValueError, match="probability"):
        class_exploitability(np.full((2, 2), 0.5), [0.7, 0.7])
    with pytest.raises(ValueError, match="square"):
        class_exploitability(np.full((2, 3), 0.5), [0.5, 0.5])


def test_rps_rejects_non_matrix_oracle_and_bad_actions():
    from .conftest import LengthOracle

    with pytest.raises(TypeError, match="MatrixOracle"):
        ompo_envs.make("TextRockPaperScissors-v0", oracle=LengthOracle())
    env = ompo_envs.make("TextRockPaperScissors-v0")
    env.reset(seed=0)
    with pytest.raises(TypeError, match="must be a string"):
        env.step({"player_0": 0, "player_1": "rock"})
    with pytest.raises(ValueError, match="max_answer_chars"):
        env.step({"player_0": "r" * 5000, "player_1": "rock"})
    assert env.episode.h == 1 and env.agents == ["player_0", "player_1"]


def test_value_and_exploitability_take_distributions_over_the_classes():
    """Issue 13, finding 9: value([1] * 4, [1] * 4) returned 8.0; strings and complex passed."""
    env = ompo_envs.make("TextRockPaperScissors-v0")
    nash = env.nash_equilibrium
    assert env.value(nash, nash) == pytest.approx(0.5)
    for bad in ([1] * 4, [0.5, 0.5, 0.5, -0.5], [np.nan, 1, 0, 0], [1 / 3] * 3):
        with pytest.raises(ValueError, match="policy"):
            env.value(bad, nash)
        with pytest.raises(ValueError, match="opponent"):
            env.value(nash, bad)
    for bad in (["0.25"] * 4, np.full(4, 0.25 + 0j), [None] * 4, "0.25", [True] * 4):
        with pytest.raises(TypeError, match="real numbers"):
            env.value(bad, nash)
        with pytest.raises(TypeError, match="real numbers"):
            env.exploitability(bad)
