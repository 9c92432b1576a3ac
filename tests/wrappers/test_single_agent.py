"""SingleAgentEnv: Gymnasium API, opponent kinds, and SB3 PPO reaching the exact best response."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import ompo_envs
from ompo_envs.tabular import best_response, pair_value, uniform_policy
from ompo_envs.wrappers import SingleAgentEnv

BIASED_RPS = np.array([0.6, 0.3, 0.1]).reshape(1, 1, 1, 3)


def _two_stage():
    return ompo_envs.make(
        "RandomGame-v0", game_seed=2, num_states=3, num_actions=3, horizon=2, num_initial_states=1
    )


def _check(env):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*render modes.*")
        check_env(env, skip_render_check=True)


@pytest.mark.parametrize("agent", ["player_0", "player_1"])
def test_passes_gymnasium_env_checker(agent):
    _check(SingleAgentEnv(ompo_envs.make("RockPaperScissors-v0"), BIASED_RPS, agent=agent))
    game_env = ompo_envs.make("RandomGame-v0", game_seed=4, num_states=4, num_actions=2, horizon=3)
    game = game_env.unwrapped.game
    _check(SingleAgentEnv(game_env, uniform_policy(game), agent=agent))


def test_observation_is_one_hot_of_init_stage_state_and_rewards_are_the_learners():
    env = SingleAgentEnv(_two_stage(), uniform_policy(_two_stage().unwrapped.game))
    obs, info = env.reset(seed=3)
    assert obs.shape == (1 + 2 + 3,) and obs.sum() == 3.0
    np.testing.assert_array_equal(obs, env.encode(info["init_index"], 1, int(np.argmax(obs[3:]))))
    # as player_1 against "always rock", playing paper always wins: reward 1 − r = 1
    rock = np.zeros((1, 1, 1, 3))
    rock[..., 0] = 1.0
    rps = SingleAgentEnv(ompo_envs.make("RockPaperScissors-v0"), rock, agent="player_1")
    rps.reset(seed=0)
    _, reward, terminated, truncated, _ = rps.step(1)
    assert (reward, terminated, truncated) == (1.0, True, False)


def test_callable_and_mixture_opponents():
    calls = []

    def always_scissors(observation, info, rng):
        calls.append(info["h"])
        return 2

    env = SingleAgentEnv(ompo_envs.make("RockPaperScissors-v0"), always_scissors)
    env.reset(seed=0)
    assert env.step(0)[1] == 1.0 and calls == [1]

    class Mixture:  # the draw(rng) protocol of solvers.sampled.MixturePolicy
        def __init__(self):
            self.draws = 0

        def draw(self, rng):
            self.draws += 1
            return lambda observation, info, rng: 0

    mixture = Mixture()
    env = SingleAgentEnv(ompo_envs.make("RockPaperScissors-v0"), mixture)
    for seed in range(3):
        env.reset(seed=seed)
        assert env.step(1)[1] == 1.0
    assert mixture.draws == 3


def test_same_seed_same_episode():
    env = SingleAgentEnv(_two_stage(), uniform_policy(_two_stage().unwrapped.game))
    runs = []
    for _ in range(2):
        obs, _ = env.reset(seed=11)
        trace = [obs]
        for action in (0, 2):
            trace.append(env.step(action)[0])
        runs.append(np.stack(trace))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_bad_arguments_raise_helpful_errors():
    rps = ompo_envs.make("RockPaperScissors-v0")
    with pytest.raises(TypeError, match="PreferenceGameEnv"):
        SingleAgentEnv(object(), BIASED_RPS)
    with pytest.raises(ValueError, match="agent must be"):
        SingleAgentEnv(rps, BIASED_RPS, agent="player_2")
    with pytest.raises(ValueError, match="shape"):
        SingleAgentEnv(rps, np.full((1, 2, 1, 3), 1 / 3))
    with pytest.raises(TypeError, match="opponent must be"):
        SingleAgentEnv(rps, "rock")
    with pytest.raises(RuntimeError, match="reset"):
        SingleAgentEnv(rps, BIASED_RPS).step(0)


def _trajectory(env, actions):
    return [(obs.tolist(), *rest) for obs, *rest, _ in (env.step(a) for a in actions)]


def test_rejected_steps_change_nothing_and_the_episode_end_is_an_error():
    """Issue 13, finding 4: no truncation of 1.7 to 1, no opponent draw on a rejected step."""
    game = _two_stage().unwrapped.game
    env = SingleAgentEnv(_two_stage(), uniform_policy(game))
    fresh = SingleAgentEnv(_two_stage(), uniform_policy(game))
    env.reset(seed=5)
    fresh.reset(seed=5)
    for bad in (1.7, 1.0, np.float64(1.0), np.array(1.5), True, np.bool_(False), "1", None, 3, -1):
        with pytest.raises((TypeError, ValueError), match="action"):
            env.step(bad)
    assert _trajectory(env, [np.array(2)]) == _trajectory(fresh, [2])  # a 0-d integer array
    assert _trajectory(env, [1]) == _trajectory(fresh, [1])  # same draws: nothing was consumed
    with pytest.raises(RuntimeError, match=r"episode ended.*reset"):
        env.step(0)


def test_an_opponent_that_fails_changes_nothing():
    answers = iter([7, "rock", 0, 1])  # two invalid opponent actions, then valid ones

    def opponent(observation, info, rng):
        rng.random()  # consumes the wrapper's stream: must be rolled back on failure
        return next(answers)

    env = SingleAgentEnv(_two_stage(), opponent)
    env.reset(seed=1)
    before = (env.env.snapshot(), env.np_random.bit_generator.state)
    for _ in range(2):
        with pytest.raises((TypeError, ValueError), match="player_1"):
            env.step(0)
    assert (env.env.snapshot(), env.np_random.bit_generator.state) == before
    fresh = SingleAgentEnv(_two_stage(), lambda o, i, rng: (rng.random(), [0, 1][i["h"] - 1])[1])
    fresh.reset(seed=1)
    assert _trajectory(env, [0, 1]) == _trajectory(fresh, [0, 1])


def test_bad_opponents_and_bad_resets_are_refused():
    rps = ompo_envs.make("RockPaperScissors-v0")
    nan = BIASED_RPS.copy()
    nan[0, 0, 0, 0] = np.nan
    for table in (nan, BIASED_RPS.astype(str), BIASED_RPS + 0j, -BIASED_RPS):
        with pytest.raises((TypeError, ValueError), match="table"):
            SingleAgentEnv(rps, table)
    env = SingleAgentEnv(rps, BIASED_RPS)
    env.reset(seed=0)
    before = (env.env.snapshot(), env.np_random.bit_generator.state)
    for seed in (-1, 1.5, "0"):
        with pytest.raises((TypeError, ValueError)):
            env.reset(seed=seed)
    assert (env.env.snapshot(), env.np_random.bit_generator.state) == before
    for args in ((0, 0, 0), (0, 1, 5), (1, 1, 0), (0, 1.0, 0)):
        with pytest.raises((TypeError, ValueError)):
            env.encode(*args)


def _ppo_greedy_table(env, game, total_timesteps):
    torch = pytest.importorskip("torch")
    sb3 = pytest.importorskip("stable_baselines3")
    torch.manual_seed(0)
    model = sb3.PPO(
        "MlpPolicy",
        env,
        n_steps=128,
        batch_size=64,
        n_epochs=10,
        learning_rate=3e-3,
        gamma=1.0,
        seed=0,
        device="cpu",
    )
    model.learn(total_timesteps)
    table = np.zeros(game.policy_shape)
    for i in range(game.num_initial_states):
        for h in range(1, game.horizon + 1):
            for s in range(game.num_states):
                action, _ = model.predict(env.encode(i, h, s), deterministic=True)
                table[i, h - 1, s, int(action)] = 1.0
    return table


@pytest.mark.parametrize(
    ("make_env", "opponent", "timesteps"),
    [
        (lambda: ompo_envs.make("RockPaperScissors-v0"), lambda game: BIASED_RPS, 1536),
        (
            _two_stage,
            lambda game: np.random.default_rng(0).dirichlet(
                np.full(game.num_actions, 0.5), size=game.policy_shape[:-1]
            ),
            2560,
        ),
    ],
    ids=["rps", "random-game-h2"],
)
def test_sb3_ppo_reaches_the_exact_best_response_value(make_env, opponent, timesteps):
    parallel = make_env()
    game = parallel.unwrapped.game
    fixed = opponent(game)
    exact = best_response(game, fixed).value
    # not vacuous: the uniform policy is more than 5 % below the best response
    assert pair_value(game, uniform_policy(game), fixed) < 0.95 * exact
    env = SingleAgentEnv(parallel, fixed)
    learned = pair_value(game, _ppo_greedy_table(env, game, timesteps), fixed)
    assert learned >= 0.95 * exact
