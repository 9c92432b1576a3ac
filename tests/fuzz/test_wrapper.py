"""SingleAgentEnv under generated calls: a valid result, or an error that changes nothing.

Two wrappers of copies of one registered env (every tabular one, and a text game) play the same
opponent — a table, a function, a trajectory mixture, or a function that sometimes answers with
an invalid action — from the same seed. Generated calls (steps with valid and invalid actions,
steps after the end, resets with good and bad seeds and options, ``encode``) go to the fuzzed
wrapper: a call that raises must raise a documented error and leave the wrapper's random stream
and the underlying env exactly as they were; a call that succeeds is replayed on the twin and
must give the same result. Then both play on to the end of an episode and must agree.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ompo_envs
from ompo_envs.policies import MixturePolicy
from ompo_envs.wrappers import SingleAgentEnv
from tests.fuzz.support import assert_same, env_state, fuzz, make_env, rejected
from tests.fuzz.test_envs import SEEDS, _action_values, _options

TABULAR_IDS = [
    env_id
    for env_id in ompo_envs.list_envs()
    if isinstance(make_env(env_id).observation_space("player_0"), gymnasium.spaces.Discrete)
]
WRAPPED_IDS = [*TABULAR_IDS, "TextRockPaperScissors-v0"]
MOVES = ("rock", "paper", "scissors")
ENCODE_ARGS = (0, 1, 2, -1, 99, 1.0, True, None, np.int64(1))


def _opponent(env: Any, kind: str) -> Any:
    """An opponent of the given kind for ``env`` (the player_1 side, or player_0's)."""
    game = getattr(env, "game", None)
    if game is not None:
        n = game.num_actions

        def pick(observation, info, rng):
            return int(rng.integers(n))

        invalid = (n, -1, 1.5, "0")
    else:

        def pick(observation, info, rng):
            return MOVES[int(rng.integers(3))]

        invalid = (3, None, "x" * 10_000)

    def faulty(observation, info, rng):
        u = rng.random()  # an invalid action with probability 1/4, deterministic given the stream
        return invalid[int(u * 16) % len(invalid)] if u < 0.25 else pick(observation, info, rng)

    if kind == "table" and game is not None:
        return np.random.default_rng(0).dirichlet(np.ones(n), size=game.policy_shape[:-1])
    if kind == "mixture":
        return MixturePolicy([pick, lambda o, i, rng: pick(o, i, rng)], [0.3, 0.7])
    return faulty if kind == "faulty" else pick


def _state(wrapper: SingleAgentEnv) -> Any:
    return env_state(wrapper.env), wrapper.np_random.bit_generator.state


def _apply(wrapper: SingleAgentEnv, call: tuple) -> Any:
    name, *args = call
    if name == "step":
        return wrapper.step(args[0])
    if name == "reset":
        return wrapper.reset(seed=args[0], options=args[1])
    return wrapper.encode(*args)


@pytest.mark.parametrize("env_id", WRAPPED_IDS)
@given(data=st.data())
@fuzz(max_examples=40)
def test_wrapper_calls_are_valid_or_change_nothing(env_id, data):
    base = make_env(env_id)
    kind = data.draw(st.sampled_from(("table", "function", "mixture", "faulty")), label="opponent")
    agent = data.draw(st.sampled_from(("player_0", "player_1")), label="agent")
    fuzzed, twin = (
        SingleAgentEnv(copy.deepcopy(base), _opponent(base, kind), agent=agent) for _ in range(2)
    )
    seed = data.draw(st.integers(0, 2**16), label="seed")
    assert_same(fuzzed.reset(seed=seed), twin.reset(seed=seed))
    valid, invalid = _action_values(base)
    calls = st.one_of(
        st.tuples(st.just("step"), valid),
        st.tuples(st.just("step"), valid),
        st.tuples(st.just("step"), invalid),
        st.tuples(st.just("reset"), st.sampled_from(SEEDS), _options()),
        st.tuples(st.just("encode"), *[st.sampled_from(ENCODE_ARGS)] * 3),
    )
    for call in data.draw(st.lists(calls, max_size=10), label="calls"):
        before = _state(fuzzed)
        try:
            result = _apply(fuzzed, call)
        except Exception as error:
            assert rejected(error), f"{call[0]} raised an undocumented {error!r}"
            assert _state(fuzzed) == before, f"a rejected {call[0]} changed the wrapper"
            continue
        assert_same(result, _apply(twin, call))
        if call[0] == "step":
            assert 0.0 <= result[1] <= 1.0 and fuzzed.observation_space.contains(result[0])
    assert _state(fuzzed) == _state(twin)
    fuzzed.reset(seed=seed + 1), twin.reset(seed=seed + 1)
    for _ in range(base.horizon):
        action = data.draw(valid, label="next trajectory")
        try:
            result = fuzzed.step(action)
        except Exception as error:  # the faulty opponent: both must fail alike
            assert rejected(error)
            with pytest.raises(type(error)):
                twin.step(action)
            break
        assert_same(result, twin.step(action))
        if result[2]:
            break
