"""Exact evaluation against known answers: game values, occupancies, RPS, the App. H voters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import ompo_envs
from ompo_envs.envs import (
    gridworld_game,
    intransitive_voters_game,
    repeated_rock_paper_scissors_game,
    rock_paper_scissors_game,
    voters_preference,
)
from ompo_envs.envs.intransitive_voters import VOTER_PREFERENCES
from ompo_envs.tabular import (
    best_response,
    exploitability,
    mixture_policy,
    nash_equilibrium,
    occupancy_measures,
    pair_value,
    q_values,
    random_game,
    random_policy,
    reward_against,
    uniform_policy,
)

GAMES = {
    "random-small": lambda: random_game(3, num_states=7, num_actions=3, horizon=4),
    "random-terminal": lambda: random_game(
        4, num_states=5, num_actions=2, horizon=3, reward_mode="terminal"
    ),
    "random-paper-sizes": lambda: random_game(5, horizon=3),
    "gridworld": lambda: gridworld_game(horizon=4),
    "rps": rock_paper_scissors_game,
    "repeated-rps": repeated_rock_paper_scissors_game,
    "voters": intransitive_voters_game,
}


@pytest.fixture(params=sorted(GAMES))
def game(request):
    return GAMES[request.param]()


def test_self_play_value_is_half_per_paid_stage(game) -> None:
    rng = np.random.default_rng(0)
    for _ in range(3):
        pi = random_policy(game, rng)
        assert pair_value(game, pi, pi) == pytest.approx(game.value, abs=1e-9)
    assert game.value == (game.horizon / 2 if game.reward_mode == "intermediate" else 0.5)


def test_occupancies_sum_to_one_per_start_and_stage(game) -> None:
    d = occupancy_measures(game, random_policy(game, np.random.default_rng(1)))
    np.testing.assert_allclose(d.sum(axis=(2, 3)), 1.0, atol=1e-12)
    assert np.all(d >= 0)


def test_pair_value_is_constant_sum(game) -> None:
    rng = np.random.default_rng(2)
    pi, mu = random_policy(game, rng), random_policy(game, rng)
    total = pair_value(game, pi, mu) + pair_value(game, mu, pi)
    assert total == pytest.approx(2 * game.value, abs=1e-9)


def test_q_values_reproduce_the_pair_value(game) -> None:
    rng = np.random.default_rng(3)
    pi, mu = random_policy(game, rng), random_policy(game, rng)
    _, v = q_values(game, pi, reward_against(game, mu))
    starts = game.initial_states
    from_q = game.initial_distribution[starts] @ v[np.arange(len(starts)), 0, starts]
    assert from_q == pytest.approx(pair_value(game, pi, mu), abs=1e-12)


def test_exploitability_is_non_negative_and_best_response_is_best(game) -> None:
    rng = np.random.default_rng(4)
    pi = random_policy(game, rng)
    assert exploitability(game, pi) >= -1e-9
    br = best_response(game, pi)
    assert br.value == pytest.approx(pair_value(game, br.policy, pi), abs=1e-12)
    for _ in range(20):  # no random policy beats the best response
        assert pair_value(game, random_policy(game, rng), pi) <= br.value + 1e-12


def test_lp_nash_equilibrium_has_exploitability_below_1e_7(game) -> None:
    ne = nash_equilibrium(game)
    assert exploitability(game, ne.policy) <= 1e-7
    np.testing.assert_allclose(ne.values, game.value, atol=1e-7)


def test_best_response_matches_brute_force_on_a_tiny_game() -> None:
    game = random_game(8, num_states=2, num_actions=2, horizon=2, num_initial_states=1)
    opponent = random_policy(game, np.random.default_rng(0))
    best = -np.inf
    _n, horizon, num_states, num_actions = game.policy_shape
    for choice in itertools.product(range(num_actions), repeat=horizon * num_states):
        pi = np.zeros(game.policy_shape)
        pi[0].reshape(-1, num_actions)[np.arange(horizon * num_states), choice] = 1.0
        best = max(best, pair_value(game, pi, opponent))
    assert best_response(game, opponent).value == pytest.approx(best, abs=1e-12)


def test_rock_paper_scissors_known_answers() -> None:
    game = rock_paper_scissors_game()
    ne = nash_equilibrium(game)
    np.testing.assert_allclose(ne.policy[0, 0, 0], [1 / 3, 1 / 3, 1 / 3], atol=1e-7)
    assert ne.values[0] == pytest.approx(0.5, abs=1e-9)
    always_rock = np.zeros(game.policy_shape)
    always_rock[..., 0] = 1.0
    # Paper beats rock: the best response wins every time, exploitability 1 − ½.
    assert exploitability(game, always_rock) == pytest.approx(0.5)
    np.testing.assert_array_equal(best_response(game, always_rock).policy[0, 0, 0], [0, 1, 0])
    assert exploitability(game, uniform_policy(game)) == pytest.approx(0.0, abs=1e-15)


def test_repeated_rps_nash_throws_uniformly_at_every_stage_with_value_h_over_2() -> None:
    game = repeated_rock_paper_scissors_game(horizon=3)
    ne = nash_equilibrium(game)
    # The opponent never sees my state, so only my stage marginal of throws matters: uniform.
    np.testing.assert_allclose(ne.occupancy.sum(axis=2)[0], 1 / 3, atol=1e-7)
    assert ne.values[0] == pytest.approx(1.5, abs=1e-9)
    assert exploitability(game, uniform_policy(game)) == pytest.approx(0.0, abs=1e-12)


def test_voters_hand_computation() -> None:
    # Each human's table is a strict ranking, hence transitive ...
    for table in VOTER_PREFERENCES:
        np.testing.assert_allclose(table + table.T, 1.0)
        scores = table.sum(axis=1)  # Borda scores order a strict ranking consistently
        for i, j in itertools.permutations(range(3), 2):
            assert (table[i, j] == 1.0) == (scores[i] > scores[j])
    # ... but the average is the 2/3 cycle y1 ≻ y2 ≻ y3 ≻ y1 (App. H).
    p = voters_preference()
    assert p[0, 1] == pytest.approx(2 / 3) and p[1, 2] == pytest.approx(2 / 3)
    assert p[2, 0] == pytest.approx(2 / 3)
    # Against the uniform mixture each answer wins (1/2 + 2/3 + 1/3)/3 = 1/2: uniform is the NE.
    game = intransitive_voters_game()
    np.testing.assert_allclose(reward_against(game, uniform_policy(game))[0, 0, 0], 0.5)
    ne = nash_equilibrium(game)
    np.testing.assert_allclose(ne.policy[0, 0, 0], 1 / 3, atol=1e-7)
    # A pure answer is beaten by the one that beats it with probability 2/3: exploitability 1/6.
    pure = np.zeros(game.policy_shape)
    pure[..., 0] = 1.0
    assert exploitability(game, pure) == pytest.approx(2 / 3 - 1 / 2)
    np.testing.assert_array_equal(best_response(game, pure).policy[0, 0, 0], [0, 0, 1])


def test_gridworld_equilibrium_is_mixed() -> None:
    game = gridworld_game()
    ne = nash_equilibrium(game)
    start = game.initial_states[0]
    assert exploitability(game, ne.policy) <= 1e-7
    assert ne.policy[0, 0, start].max() < 0.99  # the first move is randomised
    # Heading straight for any single region is exploitable.
    assert exploitability(game, uniform_policy(game)) > 0.1


def test_mixture_policy_has_the_mean_occupancy() -> None:
    game = random_game(6, num_states=6, num_actions=3, horizon=3)
    rng = np.random.default_rng(0)
    policies = [random_policy(game, rng) for _ in range(3)]
    mixed = mixture_policy(game, policies)
    expected = np.mean([occupancy_measures(game, p) for p in policies], axis=0)
    np.testing.assert_allclose(occupancy_measures(game, mixed), expected, atol=1e-12)
    # Its value against any opponent is the mean of the iterates' values (linearity in d).
    mu = random_policy(game, rng)
    values = [pair_value(game, p, mu) for p in policies]
    assert pair_value(game, mixed, mu) == pytest.approx(np.mean(values), abs=1e-12)


def test_exploitability_matches_monte_carlo_through_the_env_api() -> None:
    env = ompo_envs.make("RandomGame-v0", game_seed=2, num_states=5, num_actions=3, horizon=3)
    game = env.unwrapped.game
    rng = np.random.default_rng(0)
    pi = random_policy(game, rng)
    br = best_response(game, pi).policy

    def play(policy_0, policy_1, episodes, seed):
        returns = np.empty(episodes)
        obs, infos = env.reset(seed=seed)
        for e in range(episodes):
            if e:
                obs, infos = env.reset()
            total = 0.0
            while env.agents:
                actions = {}
                for agent, policy in (("player_0", policy_0), ("player_1", policy_1)):
                    info = infos[agent]
                    probs = policy[info["init_index"], info["h"] - 1, obs[agent]]
                    actions[agent] = int(rng.choice(game.num_actions, p=probs))
                obs, rewards, _, _, infos = env.step(actions)
                total += rewards["player_0"]
            returns[e] = total
        return returns

    br_returns = play(br, pi, 3000, seed=1)
    self_returns = play(pi, pi, 3000, seed=2)
    estimate = br_returns.mean() - self_returns.mean()
    standard_error = np.sqrt(br_returns.var() / 3000 + self_returns.var() / 3000)
    assert abs(estimate - exploitability(game, pi)) <= 3 * standard_error


def test_helpers_refuse_bad_numbers_instead_of_returning_garbage() -> None:
    """Issue 13, finding 5: each of these returned a uniform policy, NaN or an AttributeError."""
    from ompo_envs.tabular import (
        OccupancyAverage,
        optimal_q_values,
        policy_from_occupancy,
        reward_against_occupancy,
    )

    env = ompo_envs.make("RandomGame-v0", game_seed=1, num_states=4, num_actions=2, horizon=2)
    game = env.unwrapped.game
    pi = uniform_policy(game)
    greedy = np.zeros(game.policy_shape)
    greedy[..., 0] = 1.0
    occupancy = occupancy_measures(game, pi)
    reward = reward_against(game, pi)
    nan_reward, nan_occupancy = reward.copy(), occupancy.copy()
    nan_reward[0, 0, 0, 0] = nan_occupancy[0, 0, 0, 0] = np.nan
    refusals = {
        "weights": lambda: mixture_policy(game, [pi, greedy], [np.nan, np.nan]),
        "weights'": lambda: mixture_policy(game, [pi, greedy], [np.nan, 1.0]),
        "real numbers": lambda: mixture_policy(game, [pi, greedy], ["0.5", "0.5"]),
        "occupancy must be finite": lambda: policy_from_occupancy(nan_occupancy),
        "occupancy must be non-negative": lambda: policy_from_occupancy(-occupancy),
        "stage_reward must be finite": lambda: q_values(game, pi, nan_reward),
        "stage_reward must be finite'": lambda: optimal_q_values(game, nan_reward),
        "stage_reward must have shape": lambda: optimal_q_values(game, reward[:, :1]),
        "opponent_occupancy must be finite": lambda: reward_against_occupancy(game, nan_occupancy),
        "opponent_occupancy must have shape": lambda: reward_against_occupancy(
            game, occupancy[:, :1]
        ),
        "must sum to 1": lambda: reward_against_occupancy(game, 2 * occupancy),
        "occupancy must be finite'": lambda: OccupancyAverage(nan_occupancy),
        "policy must hold real numbers": lambda: exploitability(game, pi.astype(str)),
    }
    for message, call in refusals.items():
        with pytest.raises((TypeError, ValueError), match=message.rstrip("'")):
            call()
    for function in (exploitability, best_response, occupancy_measures):
        with pytest.raises(TypeError, match=r"env\.unwrapped\.game"):
            function(env, pi)
    for function in (uniform_policy, nash_equilibrium):
        with pytest.raises(TypeError, match=r"env\.unwrapped\.game"):
            function(env)
    with pytest.raises(FloatingPointError, match="NaN or inf"):
        optimal_q_values(game, np.full(game.policy_shape, 1e308))  # H·1e308 overflows
    assert exploitability(game, mixture_policy(game, [pi, greedy], [0.5, 0.5])) >= 0


def test_skipping_the_checks_changes_no_number():
    """check=False (the solvers' update loop) computes what the checked call computes."""
    from ompo_envs.tabular import (
        backward_recursion,
        exploitability_from_occupancy,
        occupancy_measures,
        random_game,
        random_policy,
        reward_against_occupancy,
        standard_value,
    )

    game = random_game(2, num_states=6, num_actions=3, horizon=4)
    policy = random_policy(game, np.random.default_rng(0))
    occupancy = occupancy_measures(game, policy)
    np.testing.assert_array_equal(occupancy_measures(game, policy, check=False), occupancy)
    reward = reward_against_occupancy(game, occupancy)
    np.testing.assert_array_equal(reward_against_occupancy(game, occupancy, check=False), reward)
    for a, b in zip(
        backward_recursion(game, reward, standard_value(policy)),
        backward_recursion(game, reward, standard_value(policy), check=False),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert exploitability_from_occupancy(game, occupancy, check=False) == (
        exploitability_from_occupancy(game, occupancy)
    )
