"""Tabular games lifted to text: keyword mapping, the class game, and induced exploitability."""

from __future__ import annotations

import re

import numpy as np
import pytest

import ompo_envs
from ompo_envs.envs.rock_paper_scissors import repeated_rock_paper_scissors_game
from ompo_envs.tabular import exploitability, nash_equilibrium, random_game, uniform_policy
from ompo_envs.text.induced import class_game_of, estimate_exploitability
from ompo_envs.text.lifted import (
    LiftedRandomGameEnv,
    LiftedTabularEnv,
    TextRepeatedRockPaperScissorsEnv,
    lifted_class_game,
)

WORDS = ("rock", "paper", "scissors")


class WordPolicy:
    """Answers the word of a class drawn from probs(stage, own last class) (history-dependent)."""

    def __init__(self, probs, words=(*WORDS, "no idea")):
        self.probs, self.words = probs, words

    def sample(self, observation, info, rng):
        last = None
        if info["answers"]:
            last = next(i for i, w in enumerate(self.words) if w == info["answers"][-1])
        p = np.asarray(self.probs(info["h"], last), dtype=float)
        return self.words[rng.choice(len(p), p=p)]


@pytest.mark.parametrize(
    "cls", [LiftedTabularEnv, TextRepeatedRockPaperScissorsEnv, LiftedRandomGameEnv]
)
def test_docstring_example_runs(cls, capsys):
    block = re.findall(r"```python\n(.*?)```", cls.__doc__, flags=re.S)[0]
    lines = block.splitlines()
    indent = min(len(x) - len(x.lstrip()) for x in lines if x.strip())
    exec("\n".join(x[indent:] for x in lines), {})
    out = capsys.readouterr().out.splitlines()
    if cls is LiftedTabularEnv:
        assert out[-1] == "1.0 paper"


def test_class_game_keeps_the_equilibrium_and_value():
    for game in (
        repeated_rock_paper_scissors_game(3),
        random_game(2, num_states=3, num_actions=3, horizon=3),
    ):
        lifted = lifted_class_game(game)
        assert lifted.policy_shape[-1] == game.num_actions + 1
        np.testing.assert_allclose(lifted.reward + lifted.reward.transpose(2, 3, 0, 1), 1.0)
        nash = nash_equilibrium(lifted)
        assert nash.occupancy[..., -1].max() <= 1e-8  # unrecognised is never played
        assert exploitability(lifted, nash.policy) <= 1e-8
        original = nash_equilibrium(game)
        padded = np.concatenate([original.policy, np.zeros((*original.policy.shape[:-1], 1))], -1)
        assert exploitability(lifted, padded) <= 1e-7


def test_answers_map_to_actions_and_rewards_follow_the_game():
    env = ompo_envs.make("TextRepeatedRockPaperScissors-v0")
    _, infos = env.reset(seed=0)
    assert infos["player_0"]["state_index"] == 0 and infos["player_0"]["answer_class"] is None
    _, rewards, _, _, infos = env.step({"player_0": "PAPER!", "player_1": "a stone"})
    assert rewards == {"player_0": 1.0, "player_1": 0.0}
    assert infos["player_0"]["state_index"] == 2 and infos["player_1"]["state_index"] == 1
    assert infos["player_1"]["answer_class"] == "rock"
    _, rewards, _, _, infos = env.step({"player_0": "rocket", "player_1": "scissors"})
    assert rewards["player_0"] == 0.0 and infos["player_0"]["answer_class"] == "unrecognised"
    assert "round 3 of 3" in infos["player_0"]["messages"][-1]["content"]
    assert [m["role"] for m in infos["player_0"]["messages"]] == ["user", "assistant"] * 2 + [
        "user"
    ]
    _, rewards, _, _, _ = env.step({"player_0": "", "player_1": "what?"})
    assert rewards["player_0"] == 0.5 and not env.agents


def test_stochastic_transitions_follow_the_kernel_and_unrecognised_moves_uniformly():
    env = LiftedRandomGameEnv(game_seed=3, num_states=3, num_actions=2, horizon=2)
    class_game = env.class_game
    s1 = int(env.game.initial_states[0])
    counts = np.zeros((3, 3))
    for seed in range(1500):
        env.reset(seed=seed)
        _, _, _, _, infos = env.step({"player_0": "red", "player_1": "the weather"})
        counts[0, infos["player_0"]["state_index"]] += 1
        counts[2, infos["player_1"]["state_index"]] += 1
    np.testing.assert_allclose(counts[0] / 1500, class_game.transitions[s1, 0], atol=0.05)
    np.testing.assert_allclose(counts[2] / 1500, env.game.transitions[s1].mean(0), atol=0.05)


def test_reset_picks_the_initial_state_and_rejects_others():
    env = LiftedRandomGameEnv(game_seed=0, num_states=4, num_actions=2, num_initial_states=2)
    starts = [int(s) for s in env.game.initial_states]
    for s in starts:
        _, infos = env.reset(seed=0, options={"initial_state": s})
        assert infos["player_0"]["state_index"] == s
        assert infos["player_0"]["init_index"] == starts.index(s)
    outside = next(s for s in range(4) if s not in starts)
    with pytest.raises(ValueError, match="support of ν1"):
        env.reset(options={"initial_state": outside})


def test_oracle_needs_states():
    env = ompo_envs.make("TextRepeatedRockPaperScissors-v0")
    with pytest.raises(TypeError, match="compare_states"):
        env.oracle.compare([[{"role": "user", "content": "x"}]], ["rock"], ["paper"])


def test_estimated_exploitability_of_a_fixed_distribution():
    env = ompo_envs.make("TextRockPaperScissors-v0")
    policy = WordPolicy(lambda h, last: (0.6, 0.2, 0.1, 0.1))
    estimate = estimate_exploitability(env, policy, num_episodes=600, rng=np.random.default_rng(0))
    exact = env.exploitability(np.array([0.6, 0.2, 0.1, 0.1]))
    assert abs(estimate.value - exact) <= 4 * estimate.stderr + 0.01
    assert 0.005 < estimate.stderr < 0.04
    assert estimate.unrecognised_rate == pytest.approx(0.1, abs=0.02)
    assert estimate.num_trajectories == 1200


def test_history_dependent_policy_with_uniform_marginals_is_an_equilibrium():
    # First throw uniform, then always repeat it: the marginal is uniform at every round.
    env = ompo_envs.make("TextRepeatedRockPaperScissors-v0")
    repeat = WordPolicy(
        lambda h, last: np.eye(4)[last] if last is not None else (1 / 3,) * 3 + (0,)
    )
    estimate = estimate_exploitability(env, repeat, num_episodes=400, rng=np.random.default_rng(1))
    assert estimate.value <= 3 * estimate.stderr + 0.03
    biased = WordPolicy(lambda h, last: (0.8, 0.1, 0.1, 0.0))
    estimate = estimate_exploitability(env, biased, num_episodes=400, rng=np.random.default_rng(1))
    exact = exploitability(
        env.class_game, np.broadcast_to([0.8, 0.1, 0.1, 0.0], env.class_game.policy_shape).copy()
    )
    assert exact == pytest.approx(1.05)
    assert abs(estimate.value - exact) <= 4 * estimate.stderr + 0.02


def test_exploitability_needs_a_class_game():
    env = ompo_envs.make("RockPaperScissors-v0")
    with pytest.raises(TypeError, match="known class game"):
        class_game_of(env)
    game, classify = class_game_of(ompo_envs.make("TextVoters-v0"))
    assert game.num_actions == 4 and classify("y2") == 1
    assert exploitability(game, uniform_policy(game)) > 0
