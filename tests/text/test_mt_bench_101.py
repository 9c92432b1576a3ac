from __future__ import annotations

import copy
import sys
import warnings

import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test
from pettingzoo.utils.conversions import parallel_to_aec

import ompo_envs
from ompo_envs.text.datasets import load_mt_bench_101
from ompo_envs.text.mt_bench_101 import MTBench101Env

from .conftest import ConversationOracle, LengthOracle

AGENTS = ("player_0", "player_1")


def make(**kwargs) -> MTBench101Env:
    kwargs.setdefault("oracle", LengthOracle())
    return ompo_envs.make("MTBench101-v0", **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"context": "golden"},
        {"reward_mode": "terminal"},
        {"tasks": ["SC", "PI"]},
        {"dialogue_ids": [5, 700, 1388]},
    ],
)
def test_pettingzoo_api_and_seed_tests(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parallel_api_test(make(**kwargs), num_cycles=20)
        parallel_seed_test(lambda: make(**kwargs))
        api_test(parallel_to_aec(make(**kwargs)), num_cycles=20)


def test_spaces_take_realistic_text():
    env = make()
    space = env.action_space("player_0")
    assert space.contains("Sure! Here's the plan:\n\t• step 1 — é, 中文, 😀 {x}")
    assert space.contains("")
    assert not space.contains("x" * (env.max_answer_chars + 1))
    observations, _ = env.reset(seed=0)
    assert env.observation_space("player_0").contains(observations["player_0"])


def scripted_episode(env, dialogue_id):
    observations, infos = env.reset(options={"dialogue_id": dialogue_id})
    trace = [(observations, None, infos)]
    h = 0
    while env.agents:
        h += 1
        actions = {"player_0": f"answer {h} of p0", "player_1": f"p1 says {h}!"}
        observations, rewards, _, _, infos = env.step(actions)
        trace.append((observations, rewards, infos))
    return trace


@pytest.mark.parametrize("task", ["GR", "CM", "SI", "PI"])
def test_scripted_episode_reproduces_user_turns_in_order(task):
    env = make()
    dialogue = next(d for d in load_mt_bench_101() if d.task == task)
    trace = scripted_episode(env, dialogue.id)
    users = [t.user for t in dialogue.turns]
    assert len(trace) == len(users) + 1  # reset + H steps: H = the dialogue's turns
    for h, (_, _, infos) in enumerate(trace[:-1], start=1):
        for agent in AGENTS:
            messages = infos[agent]["messages"]
            assert messages[-1] == {"role": "user", "content": users[h - 1]}
            assert [m["content"] for m in messages if m["role"] == "user"] == users[:h]
            assert infos[agent]["turn"] == h
            assert infos[agent]["num_turns"] == len(users)
            assert infos[agent]["reference"] == dialogue.turns[h - 1].bot
    final = trace[-1][2]
    for agent in AGENTS:
        assert [m["content"] for m in final[agent]["messages"] if m["role"] == "user"] == users
        assert final[agent]["messages"][-1]["role"] == "assistant"


def test_histories_differ_only_by_the_players_answers():
    env = make()
    dialogue = next(d for d in load_mt_bench_101() if len(d.turns) == 5)
    trace = scripted_episode(env, dialogue.id)
    for observations, _, infos in trace:
        m0, m1 = infos["player_0"]["messages"], infos["player_1"]["messages"]
        assert [m["role"] for m in m0] == [m["role"] for m in m1]
        for a, b in zip(m0, m1, strict=True):
            if a["role"] == "user":
                assert a == b
        answers0 = [m["content"] for m in m0 if m["role"] == "assistant"]
        answers1 = [m["content"] for m in m1 if m["role"] == "assistant"]
        assert answers0 == infos["player_0"]["answers"]
        assert answers1 == infos["player_1"]["answers"]
        swapped = [
            dict(m, content=answers1[i]) if m["role"] == "assistant" else m
            for i, m in zip(_assistant_indices(m0), m0, strict=True)
        ]
        assert swapped == m1
        # the observation renders the same message list
        assert observations["player_0"].count("User: ") == len(
            [m for m in m0 if m["role"] == "user"]
        )


def _assistant_indices(messages):
    i = -1
    out = []
    for m in messages:
        if m["role"] == "assistant":
            i += 1
        out.append(i)
    return out


def test_golden_context_shows_reference_replies_to_both_players():
    env = make(context="golden")
    dialogue = next(d for d in load_mt_bench_101() if len(d.turns) == 4)
    trace = scripted_episode(env, dialogue.id)
    for observations, _, infos in trace:
        assert observations["player_0"] == observations["player_1"]
        bots = [m["content"] for m in infos["player_0"]["messages"] if m["role"] == "assistant"]
        assert bots == [t.bot for t in dialogue.turns[: len(bots)]]
    assert trace[-1][2]["player_0"]["answers"] == [f"answer {h} of p0" for h in range(1, 5)]


@pytest.mark.parametrize("context", ["generated", "golden"])
def test_rewards_sum_to_one_and_one_oracle_call_per_step(context):
    oracle = LengthOracle()
    env = make(oracle=oracle, context=context)
    env.reset(options={"dialogue_id": 3})
    while env.agents:
        before = len(oracle.calls)
        _, rewards, *_ = env.step({"player_0": "short", "player_1": "a much longer answer"})
        assert rewards["player_0"] + rewards["player_1"] == pytest.approx(1.0)
        assert rewards["player_0"] < 0.5
        assert len(oracle.calls) == before + 1
        contexts, answers_a, answers_b = oracle.calls[-1]
        assert (answers_a, answers_b) == (["short"], ["a much longer answer"])
        assert contexts[0][-1]["role"] == "user"


def test_terminal_reward_mode_pays_only_at_the_end():
    env = make(reward_mode="terminal")
    env.reset(options={"dialogue_id": 1})  # 3 turns
    paid = []
    while env.agents:
        _, rewards, *_ = env.step({"player_0": "x" * 80, "player_1": "y"})
        paid.append((rewards["player_0"], rewards["player_1"]))
    assert paid[:-1] == [(0.0, 0.0), (0.0, 0.0)]
    assert sum(paid[-1]) == pytest.approx(1.0) and paid[-1][0] > 0.5


def test_conversation_oracle_sees_whole_conversations():
    oracle = ConversationOracle()
    env = make(oracle=oracle)
    env.reset(options={"dialogue_id": 1})
    env.step({"player_0": "A", "player_1": "B"})
    env.step({"player_0": "C", "player_1": "D"})
    assert oracle.calls == []
    convs_a, convs_b = oracle.conversation_calls[-1]
    assert [m["content"] for m in convs_a[0] if m["role"] == "assistant"] == ["A", "C"]
    assert [m["content"] for m in convs_b[0] if m["role"] == "assistant"] == ["B", "D"]


def test_scored_turns_follow_the_official_scorer():
    env = make()
    judged = 0
    for dialogue in load_mt_bench_101():
        judged += sum(dialogue.scored_turns)
    assert judged == 3615  # SOURCE.md: 3,615 of 4,208 turns are judged
    cm = next(d for d in load_mt_bench_101() if d.task == "CM")
    _, infos = env.reset(options={"dialogue_id": cm.id})
    assert infos["player_0"]["scored"] is False
    assert infos["player_0"]["scored_turns"][0] is False
    _, _, _, _, infos = env.step({"player_0": "", "player_1": ""})
    assert infos["player_0"]["scored"] is True
    gr = next(d for d in load_mt_bench_101() if d.task == "GR")
    _, infos = env.reset(options={"dialogue_id": gr.id})
    assert infos["player_1"]["scored"] is True


def test_reset_options_and_task_filter():
    env = make(tasks=["SC"])
    for seed in range(5):
        _, infos = env.reset(seed=seed)
        assert infos["player_0"]["task"] == "SC"
    env = make()
    _, infos = env.reset(seed=1, options={"task": "TS"})
    assert infos["player_0"]["task"] == "TS"
    _, again = env.reset(seed=1, options={"task": "TS"})
    assert again["player_0"]["dialogue_id"] == infos["player_0"]["dialogue_id"]
    _, infos = env.reset(options={"dialogue_id": 1388})
    assert infos["player_0"]["dialogue_id"] == 1388
    assert env.horizon == 7


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"dialogue_id": 99999}, ValueError, "unknown dialogue_id"),
        ({"dialogue_id": "7"}, TypeError, "integer"),
        ({"task": "XX"}, ValueError, "unknown task"),
        ({"dialogue_id": 1, "task": "CM"}, ValueError, "belongs to task"),
    ],
)
def test_bad_reset_options_raise_and_leave_env_unchanged(options, error, match):
    env = make()
    env.reset(seed=3)
    snapshot = env.snapshot()
    state = env.np_random.bit_generator.state
    with pytest.raises(error, match=match):
        env.reset(seed=5, options=options)
    assert env.snapshot() == snapshot
    assert env.np_random.bit_generator.state == state
    assert env.agents == list(AGENTS)


def test_filtered_env_rejects_dialogues_of_other_tasks():
    env = make(tasks=["SC"])
    gr = next(d for d in load_mt_bench_101() if d.task == "GR")
    with pytest.raises(ValueError, match="unknown dialogue_id"):
        env.reset(options={"dialogue_id": gr.id})
    with pytest.raises(ValueError, match="unknown task"):
        make(tasks=["SC", "nope"])


def test_dialogue_ids_restrict_the_env_to_a_fixed_subset():
    sc = [d.id for d in load_mt_bench_101() if d.task == "SC"]
    subset = [sc[-1], 1, sc[-2]]  # dialogue 1 is GR's; the env keeps dataset order
    env = make(dialogue_ids=subset)
    assert [d.id for d in env.dialogues] == sorted(subset)
    assert env.horizon == max(len(d.turns) for d in env.dialogues)
    drawn = {env.reset(seed=seed)[1]["player_0"]["dialogue_id"] for seed in range(40)}
    assert drawn == set(subset)
    _, infos = env.reset(seed=0, options={"task": "SC"})
    assert infos["player_0"]["dialogue_id"] in subset[::2]
    with pytest.raises(ValueError, match="unknown dialogue_id"):
        env.reset(options={"dialogue_id": sc[0]})  # held out
    with pytest.raises(ValueError, match="has no dialogue among this env's dialogue_ids"):
        env.reset(options={"task": "CM"})
    # with tasks, only those tasks' dialogues may be listed; the copy shares the subset
    assert [d.id for d in make(tasks=["SC"], dialogue_ids=sc[:2]).dialogues] == sc[:2]
    assert copy.deepcopy(env).dialogues == env.dialogues


@pytest.mark.parametrize(
    ("dialogue_ids", "error", "match"),
    [
        ([], TypeError, "non-empty list"),
        ("12", TypeError, "non-empty list"),
        ([1, "2"], TypeError, "must be integers"),
        ([1, True], TypeError, "must be integers"),
        ([1, 1], ValueError, r"lists \[1\] more than once"),
        ([0, 1389], ValueError, r"dialogue_ids \[0, 1389\] are not dialogues"),
    ],
)
def test_bad_dialogue_ids_are_refused(dialogue_ids, error, match):
    with pytest.raises(error, match=match):
        make(dialogue_ids=dialogue_ids)
    with pytest.raises(ValueError, match=r"are not dialogues of tasks \['SC'\]"):
        make(tasks=["SC"], dialogue_ids=[1])


@pytest.mark.parametrize(
    ("action", "error", "match"),
    [
        (None, TypeError, "must be a string"),
        (42, TypeError, "must be a string"),
        (b"bytes", TypeError, "must be a string"),
        (["a"], TypeError, "must be a string"),
        ("x" * 16_385, ValueError, "max_answer_chars"),
        ("bad \ud800 surrogate", ValueError, "surrogate"),
    ],
)
def test_bad_actions_raise_and_leave_env_unchanged(action, error, match):
    oracle = LengthOracle()
    env = make(oracle=oracle)
    env.reset(seed=0)
    snapshot = env.snapshot()
    with pytest.raises(error, match=match):
        env.step({"player_0": "fine", "player_1": action})
    assert env.snapshot() == snapshot
    assert oracle.calls == []


def test_empty_answer_is_legal():
    env = make()
    env.reset(options={"dialogue_id": 1})
    _, rewards, *_, infos = env.step({"player_0": "", "player_1": ""})
    assert rewards == {"player_0": 0.5, "player_1": 0.5}
    assert infos["player_0"]["messages"][1] == {"role": "assistant", "content": ""}


def test_deepcopy_shares_oracle_and_data():
    env = make()
    env.reset(seed=0)
    clone = copy.deepcopy(env)
    assert clone.oracle is env.oracle and clone.dialogues is env.dialogues
    clone.step({"player_0": "a", "player_1": "b"})
    assert env.episode.h == 1 and clone.episode.h == 2


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="context"):
        make(context="reference")
    with pytest.raises(ValueError, match="max_answer_chars"):
        make(max_answer_chars=0)
    with pytest.raises(TypeError, match="PreferenceOracle"):
        make(oracle=lambda *a: 0.5)


def test_missing_default_oracle_says_how_to_pass_one(monkeypatch):
    monkeypatch.setitem(sys.modules, "ompo_envs.oracles.pairrm", None)
    with pytest.raises(RuntimeError, match=r"PairRM\.from_pretrained\('/local/dir") as info:
        ompo_envs.make("MTBench101-v0")
    assert "EmbeddingOracle()" in str(info.value)


def test_native_pairrm_compares_the_players_own_histories(tmp_path, monkeypatch):
    """context="generated": PairRM scores [s_h, a_h] vs [s'_h, a'_h], each player's own history."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("sentencepiece")
    from ompo_envs.oracles.pairrm import PairRM
    from ompo_envs.oracles.pairrm_checkpoint import build_tiny_pairrm_checkpoint

    # cache_size: the cross-check below re-scores the last pair without another forward pass.
    oracle = PairRM(build_tiny_pairrm_checkpoint(tmp_path, seed=0), device="cpu", cache_size=8)
    calls = []
    real = oracle.compare_conversations

    def spy(conversations_a, conversations_b):
        calls.append((conversations_a, conversations_b))
        return real(conversations_a, conversations_b)

    monkeypatch.setattr(oracle, "compare_conversations", spy)
    env = make(oracle=oracle, context="generated")

    def second_reward(first_answer_of_p0):
        env.reset(options={"dialogue_id": 180})  # 3 turns, the first two short (fast)
        env.step({"player_0": first_answer_of_p0, "player_1": "I do not know."})
        _, rewards, *_ = env.step({"player_0": "Same answer.", "player_1": "Other answer."})
        return rewards["player_0"]

    helpful = second_reward("Here is a careful, complete answer.")
    convs_a, convs_b = calls[-1]
    replies = [[m["content"] for m in c[0] if m["role"] == "assistant"] for c in calls[-1]]
    assert replies == [
        ["Here is a careful, complete answer.", "Same answer."],
        ["I do not know.", "Other answer."],
    ]
    assert [m for m in convs_a[0] if m["role"] == "user"] == [
        m for m in convs_b[0] if m["role"] == "user"
    ]
    assert helpful == pytest.approx(real(convs_a, convs_b)[0])
    rude = second_reward("No.")
    assert abs(helpful - rude) > 1e-4  # player_0's earlier answer changes the later reward
