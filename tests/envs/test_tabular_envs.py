"""The tabular envs: bad input leaves the env unchanged; branching; reward modes; fuzzing."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ompo_envs
from ompo_envs.envs import GridworldEnv, RandomGameEnv


def _fingerprint(env):
    """Everything a step may change: episode, live agents, and the random stream."""
    episode = env.unwrapped.episode
    return (
        episode.states,
        episode.h,
        episode.done,
        tuple(env.agents),
        str(env.unwrapped.np_random.bit_generator.state),
    )


def _env():
    env = ompo_envs.make("RandomGame-v0", game_seed=0, num_states=6, num_actions=3, horizon=3)
    env.reset(seed=0)
    return env


@pytest.mark.parametrize(
    ("actions", "error", "match"),
    [
        ({"player_0": 3, "player_1": 0}, ValueError, "out of range"),
        ({"player_0": -1, "player_1": 0}, ValueError, "out of range"),
        ({"player_0": 1.0, "player_1": 0}, TypeError, "integer"),
        ({"player_0": "1", "player_1": 0}, TypeError, "integer"),
        ({"player_0": True, "player_1": 0}, TypeError, "integer"),
        ({"player_0": np.array([1]), "player_1": 0}, TypeError, "integer"),
        ({"player_0": 1}, ValueError, "missing"),
        ({"player_0": 1, "player_1": 0, "player_2": 0}, ValueError, "unexpected"),
        ([1, 0], TypeError, "dict"),
    ],
)
def test_bad_actions_raise_and_leave_the_env_unchanged(actions, error, match) -> None:
    env = _env()
    env.step({"player_0": 0, "player_1": 1})
    before = _fingerprint(env)
    with pytest.raises(error, match=match):
        env.step(actions)
    assert _fingerprint(env) == before


def test_stepping_a_finished_or_unstarted_episode_raises() -> None:
    env = ompo_envs.make("RockPaperScissors-v0")
    with pytest.raises(RuntimeError, match="reset"):
        env.step({"player_0": 0, "player_1": 0})
    env.reset(seed=0)
    env.step({"player_0": 0, "player_1": 0})
    assert env.agents == []
    before = _fingerprint(env)
    with pytest.raises(RuntimeError, match="reset"):
        env.step({"player_0": 0, "player_1": 0})
    assert _fingerprint(env) == before


def test_unknown_agent_in_space_lookup_raises() -> None:
    env = _env()
    with pytest.raises(ValueError, match="unknown agent"):
        env.action_space("player_2")
    with pytest.raises(ValueError, match="unknown agent"):
        env.observation_space("nobody")


@pytest.mark.parametrize(
    ("env_id", "kwargs", "error"),
    [
        ("RandomGame-v0", {"num_states": 0}, ValueError),
        ("RandomGame-v0", {"num_actions": 1}, ValueError),
        ("RandomGame-v0", {"horizon": 0}, ValueError),
        ("RandomGame-v0", {"horizon": 2.5}, TypeError),
        ("RandomGame-v0", {"reward_mode": "sometimes"}, ValueError),
        ("RandomGame-v0", {"render_mode": "human"}, ValueError),
        ("RockPaperScissors-v0", {"horizon": 0}, ValueError),
        ("Gridworld-v0", {"slip": 1.5}, ValueError),
        ("Gridworld-v0", {"layout": ("s#", "x.")}, ValueError),
        ("IntransitiveVoters-v0", {"horizon": -1}, ValueError),
    ],
)
def test_invalid_constructor_arguments_raise(env_id, kwargs, error) -> None:
    with pytest.raises(error):
        ompo_envs.make(env_id, **kwargs)


def test_episode_protocol_rewards_and_infos() -> None:
    env = _env()
    obs, infos = env.reset(seed=3)
    game = env.unwrapped.game
    assert obs["player_0"] == obs["player_1"] == infos["player_0"]["s1"]
    assert infos["player_0"]["h"] == 1
    assert game.initial_states[infos["player_0"]["init_index"]] == infos["player_0"]["s1"]
    for h in range(1, game.horizon + 1):
        states = env.unwrapped.episode.states
        actions = {"player_0": h % 3, "player_1": (h + 1) % 3}
        obs, rewards, terminations, truncations, infos = env.step(actions)
        expected = game.reward[states[0], actions["player_0"], states[1], actions["player_1"]]
        assert rewards["player_0"] == pytest.approx(expected)
        assert rewards["player_0"] + rewards["player_1"] == pytest.approx(1.0)
        assert infos["player_1"]["h"] == h + 1
        assert all(terminations.values()) == (h == game.horizon)
        assert not any(truncations.values())
    assert env.agents == []


def test_terminal_reward_mode_pays_only_at_the_end() -> None:
    env = ompo_envs.make("RepeatedRockPaperScissors-v0", horizon=3, reward_mode="terminal")
    env.reset(seed=0)
    paid = [env.step({"player_0": 1, "player_1": 0})[1] for _ in range(3)]
    assert paid[0] == paid[1] == {"player_0": 0.0, "player_1": 0.0}
    assert paid[2] == {"player_0": 1.0, "player_1": 0.0}
    assert env.unwrapped.game.value == 0.5


def test_snapshot_restore_branches_from_the_same_state() -> None:
    env = ompo_envs.make("Gridworld-v0", slip=0.5)
    env.reset(seed=0)
    env.step({"player_0": 0, "player_1": 1})
    snap = env.snapshot()
    outcomes = set()
    for _ in range(30):
        env.restore(snap)
        assert env.unwrapped.episode.states == snap.states and env.agents
        obs, *_ = env.step({"player_0": 2, "player_1": 3})
        outcomes.add((int(obs["player_0"]), int(obs["player_1"])))
    assert len(outcomes) > 1  # the random stream is not rewound: branches differ
    with pytest.raises(TypeError, match="snapshot"):
        env.restore({"h": 1})


def test_deepcopy_branches_and_shares_the_model() -> None:
    env = _env()
    env.step({"player_0": 0, "player_1": 0})
    clone = copy.deepcopy(env)
    assert clone.game is env.game
    assert clone.episode.states == env.episode.states and clone.episode is not env.episode
    a = env.step({"player_0": 1, "player_1": 2})
    b = clone.step({"player_0": 1, "player_1": 2})
    assert a[1] == b[1]  # same RNG state copied: the same continuation
    assert clone.episode.h == env.episode.h


def test_render_ansi_and_reseeding() -> None:
    env = GridworldEnv(render_mode="ansi")
    env.reset(seed=1)
    assert "player_0" in env.render()
    assert RandomGameEnv(num_states=3, num_actions=2).render() is None


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    actions=st.lists(
        st.fixed_dictionaries(
            {
                "player_0": st.one_of(
                    st.integers(-3, 6),
                    st.floats(allow_nan=True),
                    st.text(max_size=2),
                    st.none(),
                    st.booleans(),
                ),
                "player_1": st.integers(-3, 6),
            },
            optional={"player_9": st.integers(0, 2)},
        ),
        max_size=8,
    ),
)
def test_fuzz_step_either_succeeds_consistently_or_raises_without_change(seed, actions) -> None:
    env = ompo_envs.make("RandomGame-v0", game_seed=1, num_states=4, num_actions=3, horizon=4)
    env.reset(seed=seed)
    for joint in actions:
        before = _fingerprint(env)
        try:
            obs, rewards, _terms, _truncs, _infos = env.step(joint)
        except (TypeError, ValueError, RuntimeError):
            assert _fingerprint(env) == before
            continue
        assert all(
            isinstance(joint[a], int) and 0 <= joint[a] < 3 for a in ("player_0", "player_1")
        )
        assert rewards["player_0"] + rewards["player_1"] == pytest.approx(1.0)
        for agent in ("player_0", "player_1"):
            assert env.observation_space(agent).contains(obs[agent])


def test_step_batch_makes_one_preference_call_and_is_all_or_nothing() -> None:
    from ompo_envs.core import step_batch

    env = _env()
    branches = [copy.deepcopy(env) for _ in range(4)]
    calls = []
    original = type(env)._preferences

    def counting(self, pairs):
        calls.append(len(pairs))
        return original(self, pairs)

    type(env)._preferences = counting
    try:
        before = [_fingerprint(b) for b in branches]
        bad = [{"player_0": 0, "player_1": 1}] * 3 + [{"player_0": 9, "player_1": 1}]
        with pytest.raises(ValueError, match="out of range"):
            step_batch(branches, bad)
        assert [_fingerprint(b) for b in branches] == before and calls == []
        results = step_batch(branches, [{"player_0": a % 3, "player_1": 1} for a in range(4)])
        assert calls == [4] and len(results) == 4
        assert all(r[1]["player_0"] + r[1]["player_1"] == pytest.approx(1.0) for r in results)
    finally:
        type(env)._preferences = original
    other = ompo_envs.make("RandomGame-v0", game_seed=5, num_states=6, num_actions=3, horizon=3)
    other.reset(seed=0)
    with pytest.raises(ValueError, match="one preference model"):
        step_batch([env, other], [{"player_0": 0, "player_1": 0}] * 2)


def test_restore_returns_observations_and_infos() -> None:
    env = _env()
    snap = env.snapshot()
    env.step({"player_0": 0, "player_1": 0})
    obs, infos = env.restore(snap)
    assert infos["player_0"]["h"] == 1 and obs["player_0"] == snap.states[0]
