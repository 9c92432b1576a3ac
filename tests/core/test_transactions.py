"""Every state-changing env API is a transaction (issue 13, findings 2, 3 and 6).

A call either returns a valid result, or raises a documented error and leaves every env — episode,
live agents, random stream — exactly as it was.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest

import ompo_envs
from ompo_envs.core import Episode, Snapshot, reset_batch, step_batch
from ompo_envs.envs.rock_paper_scissors import RepeatedRockPaperScissorsEnv
from ompo_envs.text.batch import TextEnvBatch
from tests.fuzz.support import CheapOracle, env_state

ROCK_PAPER = {"player_0": 0, "player_1": 1}


def repeated_rps(horizon: int = 3) -> RepeatedRockPaperScissorsEnv:
    env = ompo_envs.make("RepeatedRockPaperScissors-v0", horizon=horizon)
    env.reset(seed=0)
    return env


# ---------------------------------------------------------------------- finding 2
def test_step_batch_refuses_the_same_env_twice():
    env = repeated_rps()
    before = env_state(env)
    for _ in range(5):  # before the fix this stepped the env past H (h = 14 after 5 calls)
        with pytest.raises(ValueError, match="same env object"):
            step_batch([env, env, env], [ROCK_PAPER] * 3)
    assert env_state(env) == before
    for _ in range(3):
        env.step(ROCK_PAPER)
    assert env.agents == [] and env.episode.h == 4 and env.episode.done


def test_text_env_batch_refuses_the_same_env_twice():
    env = ompo_envs.make("TextRockPaperScissors-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="same env object"):
        TextEnvBatch([env, env])
    batch = TextEnvBatch.branch(env, k=2)
    batch.envs.append(batch.envs[0])  # smuggled in after construction
    before = [env_state(e) for e in batch]
    with pytest.raises(ValueError, match="same env object"):
        batch.step([{"player_0": "rock", "player_1": "paper"}] * 3)
    assert [env_state(e) for e in batch] == before


# ---------------------------------------------------------------------- finding 3
def test_restore_refuses_another_games_snapshot():
    env = repeated_rps(horizon=3)
    env.step(ROCK_PAPER)
    before = env_state(env)
    others = [
        repeated_rps(horizon=2),  # same class and spaces, another horizon
        ompo_envs.make("RockPaperScissors-v0"),  # another class, same spaces
        ompo_envs.make("RandomGame-v0", num_states=4, num_actions=3, horizon=3),
    ]
    for other in others:
        other.reset(seed=1)
        with pytest.raises(ValueError, match="belongs to"):
            env.restore(other.snapshot())
        assert env_state(env) == before
    gsm8k = ompo_envs.make("GSM8K-v0", oracle=CheapOracle())
    math = ompo_envs.make("MATH-v0", oracle=CheapOracle())
    gsm8k.reset(seed=0)
    math.reset(seed=0)
    math_before = env_state(math)
    with pytest.raises(ValueError, match="belongs to"):
        math.restore(gsm8k.snapshot())
    assert env_state(math) == math_before


def _edited(snapshot: Snapshot, **changes) -> Snapshot:
    return dataclasses.replace(copy.deepcopy(snapshot), **changes)


def test_restore_refuses_an_edited_snapshot_before_touching_the_env():
    env = repeated_rps(horizon=3)
    snap = env.snapshot()
    env.step(ROCK_PAPER)
    before = env_state(env)
    edits = {
        "past the horizon": _edited(snap, h=14),  # the case: h = 14, H = 3
        "h = H + 1 but live": _edited(snap, h=4, done=False),
        "finished at h = 1": _edited(snap, done=True),
        "state out of range": _edited(snap, states=(99, 0)),
        "state of a wrong type": _edited(snap, states=("1", 0)),
        "not an initial state": _edited(snap, s1=2, states=(2, 2)),
        "missing init_index": _edited(snap, extra={}),
        "one state": _edited(snap, states=(0,)),
        "h not an integer": _edited(snap, h=1.5),
    }
    for name, edited in edits.items():
        with pytest.raises(ValueError):
            env.restore(edited)
        assert env_state(env) == before, name
    plain = Episode(s1=snap.s1, states=snap.states, h=snap.h, done=snap.done, extra=snap.extra)
    for bad in (plain, None, "snapshot"):
        with pytest.raises(TypeError, match="snapshot"):
            env.restore(bad)
    assert env_state(env) == before


def test_restore_refuses_edited_text_snapshots():
    env = ompo_envs.make("MTBench101-v0", oracle=CheapOracle())
    env.reset(options={"dialogue_id": 1})  # a 3-turn dialogue in an H = 7 env
    snap = env.snapshot()
    before = env_state(env)
    too_late = _edited(snap, h=4)  # live at turn 4 of a 3-turn dialogue: IndexError on step
    with pytest.raises(ValueError, match="turns"):
        env.restore(too_late)
    not_a_state = _edited(snap, states=("User: hi", snap.states[1]))
    with pytest.raises(ValueError, match="TextState"):
        env.restore(not_a_state)
    assert env_state(env) == before


def test_snapshots_move_between_copies_and_twins_and_survive_replace():
    env = repeated_rps()
    env.step(ROCK_PAPER)
    snap = env.snapshot()
    twin = repeated_rps()
    twin.restore(snap)
    assert env_state(twin)[:2] == env_state(env)[:2]
    spliced = dataclasses.replace(snap, states=(snap.states[0], 0))  # how solvers splice
    copy.deepcopy(env).restore(spliced)


# ---------------------------------------------------------------------- all or nothing
class _FlakyRPS(RepeatedRockPaperScissorsEnv):
    """Draws its transition, then fails on scissors; resets draw, then fail on request."""

    def _next_state(self, state, action, episode):
        next_state = super()._next_state(state, action, episode)
        if action == 2:
            raise RuntimeError("transition failed")
        return next_state

    def _initial_state(self, options):
        self.np_random.random()
        if options.get("fail"):
            raise ValueError("bad option")
        return super()._initial_state(options)


def test_a_failing_transition_changes_no_env_and_no_random_stream():
    first = _FlakyRPS()
    first.reset(seed=0)
    second = copy.deepcopy(first)
    before = [env_state(first), env_state(second)]
    with pytest.raises(RuntimeError, match="transition failed"):
        step_batch([first, second], [ROCK_PAPER, {"player_0": 2, "player_1": 2}])
    assert [env_state(first), env_state(second)] == before


def test_a_failing_reset_leaves_the_episode_and_the_random_stream():
    env = _FlakyRPS()
    env.reset(seed=0)
    env.step(ROCK_PAPER)
    before = env_state(env)
    with pytest.raises(ValueError, match="bad option"):
        env.reset(options={"fail": True})
    assert env_state(env) == before
    for seed in (-1, 1.5, "3", True, [1]):
        with pytest.raises((TypeError, ValueError), match="seed"):
            env.reset(seed=seed)
        assert env_state(env) == before
    with pytest.raises(TypeError, match="options"):
        env.reset(options=[("fail", True)])
    assert env_state(env) == before


def test_apply_step_refuses_stale_plans_and_bad_preferences():
    env = repeated_rps()
    plan = env.plan_step(ROCK_PAPER)
    before = env_state(env)
    for preference in (None, float("nan"), 1.5, "0.5"):
        with pytest.raises(ValueError):
            env.apply_step(plan, preference)
        assert env_state(env) == before
    env.apply_step(plan, 0.0)
    with pytest.raises(RuntimeError, match="another episode"):
        env.apply_step(plan, 0.0)  # the same plan twice
    stale = env.plan_step(ROCK_PAPER)
    env.reset(seed=3)
    with pytest.raises(RuntimeError, match="another episode"):
        env.apply_step(stale, 0.0)


# ---------------------------------------------------------------------- finding 6
def test_text_env_batch_reset_is_all_or_nothing():
    batch = TextEnvBatch.from_env(ompo_envs.make("GSM8K-v0", oracle=CheapOracle()), n=3)
    batch.reset(seed=0)
    batch.step([{"player_0": "2 + 2 = 4", "player_1": "#### 4"}] * 3)
    before = [env_state(env) for env in batch]
    bad_last = [{"problem_index": 0}, {"problem_index": 1}, {"problem_index": 10**6}]
    with pytest.raises(ValueError, match="problem_index"):
        batch.reset(seed=1, options=bad_last)
    assert [env_state(env) for env in batch] == before
    for options in ([{}, {}, "problem 3"], [{}, {}], {"problem_index": "0"}):
        with pytest.raises((TypeError, ValueError)):
            batch.reset(options=options)
        assert [env_state(env) for env in batch] == before
    with pytest.raises(TypeError, match="seed"):
        batch.reset(seed="1")
    assert [env_state(env) for env in batch] == before


def test_reset_batch_seeds_each_env_as_reset_does():
    envs = [repeated_rps(), ompo_envs.make("RandomGame-v0", num_states=4, horizon=2)]
    results = reset_batch(envs, seed=[5, 6])
    singles = [copy.deepcopy(envs[0]).reset(seed=5), copy.deepcopy(envs[1]).reset(seed=6)]
    assert [r[1]["player_0"]["s1"] for r in results] == [s[1]["player_0"]["s1"] for s in singles]
    with pytest.raises(ValueError, match="seeds"):
        reset_batch(envs, seed=[1])
