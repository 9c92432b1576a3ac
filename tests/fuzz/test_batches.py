"""The batch APIs under generated calls, for every registered env: all envs change, or none.

``step_batch`` / ``reset_batch`` over copies of each env of ``ompo_envs.list_envs()`` (some
finished, some listed twice, some of another game), and ``TextEnvBatch`` over every text env,
with generated joint actions, seeds and options. A call either returns what stepping (resetting)
each env alone returns — checked on twins — or raises a documented error with every env
unchanged.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ompo_envs
from ompo_envs.core import reset_batch, step_batch
from ompo_envs.text.base import TextPreferenceGameEnv
from ompo_envs.text.batch import TextEnvBatch
from tests.fuzz.support import assert_same, env_state, fuzz, make_env, rejected
from tests.fuzz.test_envs import OPTION_KEYS, OPTION_VALUES, _action_values, _any_joint

ENV_IDS = ompo_envs.list_envs()
TEXT_IDS = [i for i in ENV_IDS if isinstance(make_env(i), TextPreferenceGameEnv)]


def _copies(env_id: str, seeds: list[int], finished: list[bool], data: Any) -> list[Any]:
    """Copies of the env, reset with ``seeds``; those flagged ``finished`` played to the end."""
    valid, _ = _action_values(make_env(env_id))
    envs = []
    for seed, done in zip(seeds, finished, strict=True):
        env = copy.deepcopy(make_env(env_id))
        env.reset(seed=seed)
        while done and env.agents:
            env.step({agent: data.draw(valid) for agent in env.agents})
        envs.append(env)
    return envs


def _transaction(call: Any, envs: list[Any], twins: list[Any]) -> None:
    """Run ``call`` on ``envs``; on success replay it on ``twins`` one env at a time."""
    before = [env_state(env) for env in envs]
    try:
        results = call(envs)
    except Exception as error:
        assert rejected(error), repr(error)
        assert [env_state(env) for env in envs] == before, "a rejected batch call changed an env"
        return None
    return results


@pytest.mark.parametrize("env_id", ENV_IDS)
@given(
    seeds=st.lists(st.integers(0, 999), min_size=1, max_size=4),
    data=st.data(),
)
@fuzz(max_examples=20)
def test_step_batch_steps_all_or_none(env_id, seeds, data):
    finished = data.draw(st.lists(st.booleans(), min_size=len(seeds), max_size=len(seeds)))
    finished = [f and data.draw(st.integers(0, 3)) == 0 for f in finished]
    envs = _copies(env_id, seeds, finished, data)
    twins = [copy.deepcopy(env) for env in envs]
    valid, invalid = _action_values(make_env(env_id))
    joints = data.draw(st.lists(_any_joint(valid, invalid), min_size=len(envs), max_size=len(envs)))
    listed = list(range(len(envs)))
    if data.draw(st.booleans()):
        listed.append(data.draw(st.sampled_from(listed)))  # one env twice
    results = _transaction(
        lambda es: step_batch([es[i] for i in listed], [joints[i % len(joints)] for i in listed]),
        envs,
        twins,
    )
    if results is not None:
        for twin, joint, result in zip(twins, joints, results, strict=True):
            assert_same(result, twin.step(joint))
        assert [env_state(e) for e in envs] == [env_state(t) for t in twins]


options_lists = st.lists(
    st.none()
    | st.dictionaries(st.sampled_from(OPTION_KEYS), st.sampled_from(OPTION_VALUES), max_size=2)
    | st.sampled_from(("opts", 3)),
    min_size=1,
    max_size=4,
)


@pytest.mark.parametrize("env_id", ENV_IDS)
@given(
    seeds=st.lists(st.integers(0, 999), min_size=1, max_size=4),
    new_seed=st.sampled_from((None, 0, 5, -1, "1", 1.5, [1, 2])),
    options=options_lists | st.none(),
    data=st.data(),
)
@fuzz(max_examples=15)
def test_reset_batch_resets_all_or_none(env_id, seeds, new_seed, options, data):
    envs = _copies(env_id, seeds, [False] * len(seeds), data)
    twins = [copy.deepcopy(env) for env in envs]
    results = _transaction(lambda es: reset_batch(es, seed=new_seed, options=options), envs, twins)
    if results is not None:
        per_env = options if isinstance(options, list) else [options] * len(twins)
        for i, (twin, result) in enumerate(zip(twins, results, strict=True)):
            if isinstance(new_seed, list):
                seed = new_seed[i]
            else:
                seed = new_seed if new_seed is None else new_seed + i
            assert_same(result, twin.reset(seed=seed, options=per_env[i]))


@pytest.mark.parametrize("env_id", TEXT_IDS)
@given(
    n=st.integers(1, 3),
    seed=st.sampled_from((None, 0, 9, -2, "3")),
    options=options_lists | st.none(),
    data=st.data(),
)
@fuzz(max_examples=15)
def test_text_env_batch_resets_and_steps_all_or_none(env_id, n, seed, options, data):
    batch = TextEnvBatch.from_env(make_env(env_id), n=n)
    batch.reset(seed=0)
    twins = [copy.deepcopy(env) for env in batch]
    results = _transaction(lambda es: batch.reset(seed=seed, options=options), batch.envs, twins)
    if results is not None:
        per_env = options if isinstance(options, list) else [options] * n
        for i, twin in enumerate(twins):
            twin.reset(seed=None if seed is None else seed + i, options=per_env[i])
    assert [env_state(e) for e in batch] == [env_state(t) for t in twins]
    valid, invalid = _action_values(make_env(env_id))
    joints = data.draw(st.lists(st.none() | _any_joint(valid, invalid), min_size=n, max_size=n + 1))
    stepped = _transaction(lambda es: batch.step(joints), batch.envs, twins)
    if stepped is not None:
        for twin, joint, result in zip(twins, joints, stepped, strict=True):
            assert_same(result, None if joint is None else twin.step(joint))
    assert [env_state(e) for e in batch] == [env_state(t) for t in twins]
