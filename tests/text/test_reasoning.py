from __future__ import annotations

import warnings

import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test
from pettingzoo.utils.conversions import parallel_to_aec

import ompo_envs

from .conftest import ConversationOracle, LengthOracle

IDS = ["GSM8K-v1", "GSM8K-v0", "MATH-v1", "MATH-v0", "MATH500-v0"]


def make(env_id="GSM8K-v0", **kwargs):
    kwargs.setdefault("oracle", LengthOracle())
    return ompo_envs.make(env_id, **kwargs)


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("reward_mode", ["terminal", "intermediate"])
def test_pettingzoo_api_and_seed_tests(env_id, reward_mode):
    kwargs = {"reward_mode": reward_mode, "max_steps": 4}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(make(env_id, **kwargs), num_cycles=10)
        parallel_seed_test(lambda: make(env_id, **kwargs))
        api_test(parallel_to_aec(make(env_id, **kwargs)), num_cycles=10)


def play(env, steps, index=0):
    observations, infos = env.reset(options={"problem_index": index})
    history = [(observations, None, infos)]
    h = 0
    while env.agents:
        actions = {a: steps[a][min(h, len(steps[a]) - 1)] for a in env.agents}
        observations, rewards, _, _, infos = env.step(actions)
        history.append((observations, rewards, infos))
        h += 1
    return history


def test_problem_is_x1_and_steps_extend_each_players_own_trace():
    env = make()
    problem = env.problems[0]
    steps = {
        "player_0": ["16 - 3 - 4 = 9 eggs", "9 * 2 = 18", "#### 18"],
        "player_1": ["She sells 9 eggs.", "The answer is 20."],
    }
    history = play(env, steps)
    observations, _, infos = history[0]
    assert observations["player_0"] == "User: " + problem.problem
    assert infos["player_0"]["messages"] == [{"role": "user", "content": problem.problem}]
    _, _, infos = history[2]
    assert infos["player_0"]["messages"][-1] == {
        "role": "assistant",
        "content": "16 - 3 - 4 = 9 eggs\n9 * 2 = 18",
    }
    assert infos["player_1"]["answered"] is True and infos["player_1"]["final_answer"] == "20"
    assert infos["player_0"]["answered"] is False and infos["player_0"]["final_answer"] is None
    # episode ends once both have answered: step 3
    assert len(history) == 4
    _, _, final = history[-1]
    assert final["player_0"]["correct"] is True and final["player_1"]["correct"] is False
    assert final["player_1"]["answers"] == ["She sells 9 eggs.", "The answer is 20."]
    assert final["player_0"]["reference_answer"] == "18"


def test_answered_player_is_frozen_and_traces_go_to_the_oracle():
    oracle = LengthOracle()
    env = make(oracle=oracle, reward_mode="intermediate")
    steps = {"player_0": ["#### 18", "ignored"], "player_1": ["a", "b", "\\boxed{18}"]}
    history = play(env, steps)
    assert len(history) == 4
    contexts, answers_a, answers_b = oracle.calls[-1]
    assert answers_a == ["#### 18"]
    assert answers_b == ["a\nb\n\\boxed{18}"]
    assert contexts == [[{"role": "user", "content": env.problems[0].problem}]]
    assert history[-1][2]["player_0"]["answers"] == ["#### 18"]
    for _, rewards, _ in history[1:]:
        assert rewards["player_0"] + rewards["player_1"] == pytest.approx(1.0)


def test_terminal_mode_is_default_and_pays_at_the_end():
    oracle = LengthOracle()
    env = make(oracle=oracle)
    assert env.reward_mode == "terminal"
    history = play(env, {"player_0": ["step", "#### 18"], "player_1": ["longer step", "#### 1"]})
    assert [r for _, r, _ in history[1:-1]] == [{"player_0": 0.0, "player_1": 0.0}]
    last = history[-1][1]
    assert sum(last.values()) == pytest.approx(1.0)
    assert len(oracle.calls) == 1


def test_step_limit_ends_the_episode_without_answers():
    env = make(max_steps=3)
    history = play(env, {"player_0": ["thinking"], "player_1": ["still thinking"]})
    assert len(history) == 4
    final = history[-1][2]["player_0"]
    assert final["answered"] is False and final["correct"] is False
    assert env.agents == []


def test_conversation_oracle_gets_problem_and_trace():
    oracle = ConversationOracle()
    env = make(oracle=oracle)
    play(env, {"player_0": ["x", "#### 18"], "player_1": ["#### 18"]})
    convs_a, convs_b = oracle.conversation_calls[-1]
    assert convs_a[0][-1] == {"role": "assistant", "content": "x\n#### 18"}
    assert convs_b[0][-1] == {"role": "assistant", "content": "#### 18"}


def test_math_filters_and_reference_answers():
    env = make("MATH-v0", levels=[5], subjects=["Number Theory"])
    assert {(p.level, p.subject) for p in env.problems} == {(5, "Number Theory")}
    _, infos = env.reset(seed=0)
    assert infos["player_0"]["level"] == 5
    env = make("MATH500-v0")
    _, infos = env.reset(options={"problem_index": 0})
    assert infos["player_0"]["reference_answer"] == env.problems[0].answer
    assert infos["player_0"]["problem_id"].startswith("test/")
    with pytest.raises(ValueError, match="levels"):
        make("MATH-v0", levels=[6])
    with pytest.raises(ValueError, match="subjects"):
        make("MATH-v0", subjects=["Poetry"])


def test_boxed_answer_is_graded_with_normalisation():
    env = make("MATH500-v0")
    index = next(p.index for p in env.problems if p.answer == "\\frac{14}{3}")
    history = play(
        env,
        {"player_0": ["So $x = \\boxed{\\dfrac{14}{3}}$."], "player_1": ["\\boxed{4.6667}"]},
        index,
    )
    final = history[-1][2]
    assert final["player_0"]["correct"] is True
    assert final["player_1"]["correct"] is False


def test_bad_input_leaves_env_unchanged():
    oracle = LengthOracle()
    env = make(oracle=oracle, reward_mode="intermediate")
    env.reset(seed=0)
    snapshot = env.snapshot()
    with pytest.raises(TypeError, match="must be a string"):
        env.step({"player_0": 18, "player_1": "#### 18"})
    with pytest.raises(ValueError, match="max_answer_chars"):
        env.step({"player_0": "y" * 20_000, "player_1": "#### 18"})
    assert env.snapshot() == snapshot and oracle.calls == []
    with pytest.raises(ValueError, match="unknown problem_index"):
        env.reset(options={"problem_index": 1319})
    with pytest.raises(TypeError, match="problem_index"):
        env.reset(options={"problem_index": "3"})
    assert env.snapshot() == snapshot
    with pytest.raises(ValueError, match="max_steps"):
        make(max_steps=0)


# ------------------------------------------------------------------ splits (GSM8K-v1, MATH-v1)
@pytest.mark.parametrize(
    ("env_id", "kwargs", "size"),
    [
        ("GSM8K-v1", {}, 7473),
        ("GSM8K-v1", {"split": "train"}, 7473),
        ("GSM8K-v1", {"split": "test"}, 1319),
        ("GSM8K-v0", {}, 1319),
        ("MATH-v1", {}, 4500),
        ("MATH-v1", {"split": "train"}, 4500),
        ("MATH-v1", {"split": "test"}, 500),
        ("MATH-v0", {}, 5000),
        ("MATH500-v0", {}, 500),
    ],
)
def test_split_sizes(env_id, kwargs, size):
    env = make(env_id, **kwargs)
    assert len(env.problems) == size
    if env_id.endswith("-v1"):
        assert env.split == kwargs.get("split", "train")


def test_math_splits_partition_the_math_test_set_as_prm800k_does():
    train = make("MATH-v1").problems
    test = make("MATH-v1", split="test").problems
    assert test == make("MATH500-v0").problems
    everything = make("MATH-v0").problems
    # train keeps the 5,000-problem file's positions and ids; MATH500's positions are missing
    assert all(p == everything[p.index] and p.problem_id == str(p.index) for p in train)
    train_texts = {p.problem for p in train}
    assert not train_texts & {p.problem for p in test}
    assert train_texts | {p.problem for p in test} == {p.problem for p in everything}


@pytest.mark.parametrize("env_id", ["GSM8K-v1", "MATH-v1"])
@pytest.mark.parametrize("split", ["dev", "Train", "", None, ["train"], 0])
def test_unknown_split_is_refused_with_the_allowed_values(env_id, split):
    with pytest.raises(ValueError, match=r"no split .*expected split='train' or 'test'"):
        make(env_id, split=split)


@pytest.mark.parametrize("env_id", ["GSM8K-v0", "MATH-v0", "MATH500-v0"])
def test_envs_without_splits_take_no_split_argument(env_id):
    with pytest.raises(TypeError, match="split"):
        make(env_id, split="train")


def test_gsm8k_training_episode_runs_and_is_graded():
    env = make("GSM8K-v1")
    problem = env.problems[0]
    assert problem.problem.startswith("Natalia sold clips") and problem.problem_id == "train/0"
    steps = {"player_0": ["48 / 2 = 24 in May", "48 + 24 = 72", "#### 72"], "player_1": ["#### 96"]}
    history = play(env, steps)
    final = history[-1][2]
    assert final["player_0"]["correct"] is True and final["player_1"]["correct"] is False
    assert final["player_0"]["problem_id"] == "train/0"
    assert sum(history[-1][1].values()) == pytest.approx(1.0)


def test_math_training_episode_runs_and_math500_indices_are_not_in_it():
    env = make("MATH-v1", reward_mode="intermediate", max_steps=2)
    _, infos = env.reset(seed=3)
    by_index = {p.index: p for p in env.problems}
    index = infos["player_0"]["problem_index"]
    problem = by_index[index]
    history = play(env, {"player_0": [f"\\boxed{{{problem.answer}}}"], "player_1": ["hmm"]}, index)
    final = history[-1][2]
    assert final["player_0"]["correct"] is True and final["player_1"]["answered"] is False
    in_math500 = next(i for i in range(5000) if i not in by_index)
    with pytest.raises(ValueError, match="unknown problem_index"):
        env.reset(options={"problem_index": in_math500})
