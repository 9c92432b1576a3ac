"""Every registered env under generated calls: a valid result, or an error that changes nothing.

For each id in ``ompo_envs.list_envs()`` (never a hand list), two copies of the env start from the
same seed. A generated sequence of calls — steps with valid and invalid joint actions, resets
with good and bad seeds and options, snapshots, restores of valid, edited and foreign snapshots,
the same env twice in one batch, two-phase steps with generated preferences — goes to the fuzzed
copy. A call that raises must raise a documented error (TypeError, ValueError, RuntimeError) and
leave the env's episode, live agents and random stream exactly as they were; a call that
succeeds is replayed on the twin and must give the same result. At the end both envs play on
with the same actions (the next trajectory) and must agree step by step.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ompo_envs
from ompo_envs.core import Episode, step_batch
from tests.fuzz.support import assert_same, env_state, fuzz, make_env, rejected

ENV_IDS = ompo_envs.list_envs()
AGENTS = ("player_0", "player_1")

#: Answers that mean something to the text games (moves, classes, final answers, markup).
TEXT_PIECES = (
    "",
    "rock",
    "Paper!",
    "scissors",
    "y1",
    "I choose y3.",
    "#### 18",
    "The answer is 5.",
    "\\boxed{\\frac{1}{2}}",
    "16 - 3 - 4 = 9 eggs",
    "Sure, here is my answer.",
    "é中😀\n\t",
)
#: Values that are not actions of any env (plus out-of-range ones added per env).
NOT_ACTIONS = (
    None,
    1.5,
    np.float64(1.0),
    float("nan"),
    True,
    np.bool_(False),
    1 + 0j,
    np.array([1]),
    [1],
    b"rock",
    {"a": 1},
    "\ud800",
    object(),
)
#: Values for seeds, options and snapshot fields, good and bad.
SEEDS = (None, 0, 1, 7, 2**40, np.int64(3), -1, 1.5, "3", True, [1], object())
OPTION_KEYS = ("problem_index", "dialogue_id", "task", "initial_state", "unknown")
OPTION_VALUES = (0, 1, 2, 3, -1, 10**6, 1.5, "0", "CC", None, True, [0], np.int64(1))
FIELD_VALUES = (0, 1, 2, 3, 4, 14, -1, 1.5, "1", None, True, False, {}, (), np.int64(2))


@functools.cache
def _strategies(env_id: str) -> tuple[st.SearchStrategy, st.SearchStrategy]:
    """Return (valid actions, generated calls) strategies for the env ``env_id``."""
    valid, invalid = _action_values(make_env(env_id))
    return valid, st.lists(_calls(valid, invalid), max_size=8)


def _action_values(env: Any) -> tuple[st.SearchStrategy, st.SearchStrategy]:
    """Return (valid actions, invalid actions) strategies for one of env's players."""
    space = env.action_space("player_0")
    if isinstance(space, gymnasium.spaces.Discrete):
        n = int(space.n)
        valid = st.integers(0, n - 1) | st.integers(0, n - 1).map(np.int64)
        invalid = st.sampled_from((*NOT_ACTIONS, -1, n, 2**70, "rock", str(n - 1)))
    else:
        valid = st.sampled_from(TEXT_PIECES) | st.text(max_size=24)
        too_long = "x" * (space.max_length + 1)
        invalid = st.sampled_from((*NOT_ACTIONS, 0, 3, np.int64(1), too_long))
    return valid, invalid


def _valid_joint(valid: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({agent: valid for agent in AGENTS})


def _any_joint(valid: st.SearchStrategy, invalid: st.SearchStrategy) -> st.SearchStrategy:
    one_bad = st.tuples(st.sampled_from(AGENTS), invalid, valid).map(
        lambda t: {t[0]: t[1], AGENTS[1 - AGENTS.index(t[0])]: t[2]}
    )
    odd_agents = st.dictionaries(st.sampled_from((*AGENTS, "player_2", 0)), valid, max_size=3)
    not_a_dict = st.sampled_from(([0, 1], "rock", None, (("player_0", 0),)))
    return st.one_of(_valid_joint(valid), one_bad, odd_agents, not_a_dict)


def _options() -> st.SearchStrategy:
    return st.one_of(
        st.none(),
        st.dictionaries(st.sampled_from(OPTION_KEYS), st.sampled_from(OPTION_VALUES), max_size=2),
        st.sampled_from(([("problem_index", 0)], "problem_index=0", 3)),
    )


@dataclasses.dataclass(frozen=True)
class Call:
    """One generated call; ``apply`` runs it on an env (and its own list of snapshots)."""

    name: str
    args: tuple = ()

    def apply(self, env: Any, saved: list, foreign: Any) -> Any:
        if self.name == "step":
            return env.step(self.args[0])
        if self.name == "reset":
            return env.reset(seed=self.args[0], options=self.args[1])
        if self.name == "snapshot":
            saved.append(env.snapshot())
            return None
        if self.name == "restore":
            slot, edit = self.args
            return env.restore(edit(saved[slot % len(saved)]))
        if self.name == "restore_foreign":
            return env.restore(foreign)
        if self.name == "restore_object":
            return env.restore(self.args[0])
        if self.name == "same_env_twice":
            return step_batch([env, env], [self.args[0]] * 2)
        if self.name == "two_phase":
            joint, preference = self.args
            return env.apply_step(env.plan_step(joint), preference)
        if self.name == "spaces":
            return env.observation_space(self.args[0]), env.action_space(self.args[0])
        raise AssertionError(self.name)


def _edits() -> st.SearchStrategy[Callable[[Any], Any]]:
    """Ways to edit a snapshot (the identity included: a plain restore)."""

    def field(name: str, value: Any) -> Callable[[Any], Any]:
        return lambda snap: dataclasses.replace(copy.deepcopy(snap), **{name: value})

    def state(i: int, value: Any) -> Callable[[Any], Any]:
        def edit(snap: Any) -> Any:
            states = list(snap.states)
            states[i] = snap.states[1 - i] if value == "other" else value
            return dataclasses.replace(copy.deepcopy(snap), states=tuple(states))

        return edit

    def plain(snap: Any) -> Any:
        return Episode(s1=snap.s1, states=snap.states, h=snap.h, done=snap.done, extra=snap.extra)

    def owner(value: int) -> Callable[[Any], Any]:
        def edit(snap: Any) -> Any:
            changed = dataclasses.replace(snap.owner, horizon=snap.owner.horizon + value)
            return dataclasses.replace(copy.deepcopy(snap), owner=changed)

        return edit

    identity = st.just(lambda snap: snap)
    return st.one_of(
        identity,
        identity,
        st.builds(
            field, st.sampled_from(("h", "done", "s1", "extra")), st.sampled_from(FIELD_VALUES)
        ),
        st.builds(state, st.sampled_from((0, 1)), st.sampled_from((*FIELD_VALUES, "other"))),
        st.just(plain),
        st.builds(owner, st.sampled_from((-1, 1))),
    )


def _calls(valid: st.SearchStrategy, invalid: st.SearchStrategy) -> st.SearchStrategy[Call]:
    joints = _any_joint(valid, invalid)
    preferences = st.sampled_from((0.0, 0.25, 1.0, None, float("nan"), -0.5, 2.0, "0.5", 1 + 0j))
    return st.one_of(
        st.builds(lambda j: Call("step", (j,)), _valid_joint(valid)),
        st.builds(lambda j: Call("step", (j,)), joints),
        st.builds(lambda s, o: Call("reset", (s, o)), st.sampled_from(SEEDS), _options()),
        st.just(Call("snapshot")),
        st.builds(lambda i, e: Call("restore", (i, e)), st.integers(0, 3), _edits()),
        st.just(Call("restore_foreign")),
        st.builds(
            lambda v: Call("restore_object", (v,)), st.sampled_from((None, "snapshot", 3, {}))
        ),
        st.builds(lambda j: Call("same_env_twice", (j,)), _valid_joint(valid)),
        st.builds(lambda j, p: Call("two_phase", (j, p)), joints, preferences),
        st.builds(lambda a: Call("spaces", (a,)), st.sampled_from((*AGENTS, "player_2", None))),
    )


@pytest.fixture(scope="module")
def foreign_snapshots() -> dict[str, Any]:
    """For each env id, a snapshot of another registered env (it must always be refused)."""
    out = {}
    for i, env_id in enumerate(ENV_IDS):
        other = copy.deepcopy(make_env(ENV_IDS[(i + 1) % len(ENV_IDS)]))
        other.reset(seed=0)
        out[env_id] = other.snapshot()
    return out


def _play_on(fuzzed: Any, twin: Any, data: st.DataObject, valid: st.SearchStrategy) -> None:
    """The next trajectory: both envs play the same actions to the end and must agree."""
    if not fuzzed.agents:
        assert_same(fuzzed.reset(), twin.reset())
    while fuzzed.agents:
        joint = data.draw(_valid_joint(valid), label="next trajectory")
        assert_same(fuzzed.step(joint), twin.step(joint))
    assert_same(env_state(fuzzed), env_state(twin))


@pytest.mark.parametrize("env_id", ENV_IDS)
@given(data=st.data())
@fuzz(max_examples=60)
def test_env_calls_are_valid_or_change_nothing(env_id, data, foreign_snapshots):
    base = make_env(env_id)
    fuzzed, twin = copy.deepcopy(base), copy.deepcopy(base)
    seed = data.draw(st.integers(0, 2**16), label="seed")
    assert_same(fuzzed.reset(seed=seed), twin.reset(seed=seed))
    valid, calls = _strategies(env_id)
    saved_fuzzed, saved_twin = [fuzzed.snapshot()], [twin.snapshot()]
    foreign = foreign_snapshots[env_id]
    for call in data.draw(calls, label="calls"):
        before = env_state(fuzzed)
        try:
            result = call.apply(fuzzed, saved_fuzzed, foreign)
        except Exception as error:
            assert rejected(error), f"{call.name} raised an undocumented {error!r}"
            assert env_state(fuzzed) == before, f"a rejected {call.name} changed the env"
            continue
        assert_same(result, call.apply(twin, saved_twin, foreign))
        assert env_state(fuzzed) == env_state(twin)
    _play_on(fuzzed, twin, data, valid)
