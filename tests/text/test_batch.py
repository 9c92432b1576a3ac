from __future__ import annotations

import pytest

import ompo_envs
from ompo_envs.text.batch import TextEnvBatch
from tests.numerics import assert_elementwise_close

from .conftest import LengthOracle


def joint(i: int, h: int = 0) -> dict[str, str]:
    return {"player_0": "x" * (i + h), "player_1": "y" * 3}


def test_batch_steps_n_episodes_with_one_oracle_call():
    oracle = LengthOracle()
    batch = TextEnvBatch.from_env(ompo_envs.make("MTBench101-v0", oracle=oracle), n=8)
    observations, infos = batch.reset(seed=0)
    assert len(observations) == 8
    assert len({i["player_0"]["dialogue_id"] for i in infos}) > 1  # seeds differ per env
    results = batch.step([joint(i) for i in range(8)])
    assert len(oracle.calls) == 1
    _, answers_a, answers_b = oracle.calls[0]
    assert answers_a == ["x" * i for i in range(8)] and answers_b == ["yyy"] * 8
    for i, (_, rewards, *_rest) in enumerate(results):
        assert rewards["player_0"] + rewards["player_1"] == pytest.approx(1.0)
        assert (rewards["player_0"] > 0.5) == (i > 3)
    assert all(env.oracle is oracle for env in batch)


def test_batch_rewards_equal_single_env_rewards():
    oracle = LengthOracle()
    env = ompo_envs.make("MTBench101-v0", oracle=oracle)
    batch = TextEnvBatch.from_env(env, n=4)
    batch.reset(options=[{"dialogue_id": d} for d in (1, 2, 3, 4)])
    batched = batch.step([joint(i) for i in range(4)])
    for i, d in enumerate((1, 2, 3, 4)):
        env.reset(options={"dialogue_id": d})
        single = env.step(joint(i))
        assert single[0] == batched[i][0]  # observations: strings
        for agent, reward in single[1].items():  # one oracle call of another batch length
            assert_elementwise_close(batched[i][1][agent], reward)


def test_branch_k_continuations_from_one_state():
    oracle = LengthOracle()
    env = ompo_envs.make("MTBench101-v0", oracle=oracle)
    env.reset(options={"dialogue_id": 1})
    env.step(joint(0))
    branches = TextEnvBatch.branch(env, k=5)
    assert all(b.episode.h == 2 for b in branches)
    calls = len(oracle.calls)
    results = branches.step([{"player_0": f"branch {k}", "player_1": "same"} for k in range(5)])
    assert len(oracle.calls) == calls + 1
    last_answers = [r[4]["player_0"]["answers"][-1] for r in results]
    assert last_answers == [f"branch {k}" for k in range(5)]
    assert env.episode.h == 2  # the parent is untouched


def test_finished_envs_are_skipped_with_none():
    oracle = LengthOracle()
    batch = TextEnvBatch.from_env(ompo_envs.make("GSM8K-v0", oracle=oracle), n=3)
    batch.reset(options={"problem_index": 0})
    first = batch.step([{"player_0": "#### 18", "player_1": "#### 18"}, joint(1), joint(2)])
    assert batch.active == [False, True, True]
    assert first[0][2] == {"player_0": True, "player_1": True}
    second = batch.step([None, joint(1), joint(2)])
    assert second[0] is None and second[1] is not None
    with pytest.raises(RuntimeError, match="reset"):
        batch.step([joint(0), None, None])


def test_bad_action_anywhere_changes_no_env():
    oracle = LengthOracle()
    batch = TextEnvBatch.from_env(ompo_envs.make("MTBench101-v0", oracle=oracle), n=3)
    batch.reset(seed=1)
    snapshots = [env.snapshot() for env in batch]
    with pytest.raises(TypeError, match="must be a string"):
        batch.step([joint(0), {"player_0": "ok", "player_1": None}, joint(2)])
    assert [env.snapshot() for env in batch] == snapshots
    assert oracle.calls == []
    with pytest.raises(ValueError, match="one joint action"):
        batch.step([joint(0)])


def test_batch_checks_envs():
    a = ompo_envs.make("MTBench101-v0", oracle=LengthOracle())
    b = ompo_envs.make("MTBench101-v0", oracle=LengthOracle())
    with pytest.raises(ValueError, match="different oracle"):
        TextEnvBatch([a, b])
    with pytest.raises(TypeError, match="one game"):
        TextEnvBatch([a, ompo_envs.make("GSM8K-v0", oracle=a.oracle)])
    with pytest.raises(ValueError, match="at least one"):
        TextEnvBatch([])
    with pytest.raises(ValueError, match="k must be"):
        TextEnvBatch.branch(a, 0)
    with pytest.raises(RuntimeError, match="reset"):
        TextEnvBatch.branch(a, 2)
