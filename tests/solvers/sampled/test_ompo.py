"""Sample-based OMPO: Eq. 2 through the env API approaches exact OMPO as K grows."""

from __future__ import annotations

import numpy as np
import pytest

import ompo_envs
from ompo_envs.tabular import exploitability, occupancy_measures
from solvers.ompo import OMPO
from solvers.sampled import SampledOMPO, SampledOMPOConfig, TabularPolicy


def _weighted_distance(game, policy, reference):
    """Σ_{s1,h,s} ν1(s1) d_h^{ref}(s|s1) ‖π(·|s) − π_ref(·|s)‖₁: rows the reference never reaches
    (e.g. stage-1 states other than s1) do not count — they do not affect exploitability."""
    state_mass = occupancy_measures(game, reference).sum(-1)
    nu = game.initial_distribution[game.initial_states]
    return float(np.einsum("n,nhs,nhs->", nu, state_mass, np.abs(policy - reference).sum(-1)))


def _run(env, config, iterations, initial=None):
    solver = SampledOMPO(env, config, initial_policy=initial)
    for _ in range(iterations):
        metrics = solver.step()
    return solver, metrics


def test_rps_exploitability_approaches_exact_solver_as_k_grows():
    env = ompo_envs.make("RockPaperScissors-v0")
    game = env.unwrapped.game
    start = np.array([0.6, 0.3, 0.1]).reshape(1, 1, 1, 3)
    exact = OMPO(game, beta=0.5, initial_policy=start)
    for _ in range(10):
        exact.step()
    target = exploitability(game, exact.policy)
    distance, gap = {}, {}
    for k in (4, 32, 256):
        seeds = (0, 1) if k < 256 else (0,)
        d, g = [], []
        for seed in seeds:
            config = SampledOMPOConfig(beta=0.5, num_samples=k, num_episodes=1, seed=seed)
            solver, _ = _run(env, config, 10, TabularPolicy(start))
            d.append(_weighted_distance(game, solver.policy, exact.policy))
            g.append(abs(exploitability(game, solver.policy) - target))
        distance[k], gap[k] = float(np.mean(d)), float(np.mean(g))
    assert distance[256] < distance[32] < distance[4]
    assert distance[256] < 0.15
    assert gap[256] < 0.05
    assert gap[256] < gap[4]


def test_two_stage_random_game_iterates_approach_exact_solver():
    env = ompo_envs.make(
        "RandomGame-v0",
        game_seed=2,
        num_states=3,
        num_actions=2,
        horizon=2,
        num_initial_states=1,
    )
    game = env.unwrapped.game
    exact = OMPO(game, beta=1.0)
    for _ in range(6):
        exact.step()
    target = exploitability(game, exact.policy)
    small = [
        _run(env, SampledOMPOConfig(beta=1.0, num_samples=4, seed=seed), 6)[0] for seed in (0, 1)
    ]
    large, metrics = _run(env, SampledOMPOConfig(beta=1.0, num_samples=64, seed=0), 6)
    small_distance = np.mean([_weighted_distance(game, s.policy, exact.policy) for s in small])
    large_distance = _weighted_distance(game, large.policy, exact.policy)
    assert large_distance < 0.12
    assert large_distance < small_distance / 2
    assert abs(exploitability(game, large.policy) - target) < 0.01
    # stage 1 (s1) and the stage-2 states were all branched from
    assert metrics["branch_points"] >= 3
    assert metrics["env_steps"] > 0 and metrics["preference_queries"] == metrics["env_steps"]


def test_first_update_is_exact_mwu_step_on_the_expected_q():
    """t = 1 in a one-state game: Q̂(a) is the mean of r(a, A') over K draws A' ~ π^1, so for
    large K the step is π^2 ∝ π^1 exp(β P(a ≻ π^1)) (App. B.2 with H = 1)."""
    env = ompo_envs.make("IntransitiveVoters-v0")
    game = env.unwrapped.game
    start = np.array([0.6, 0.3, 0.1])
    solver = SampledOMPO(
        env,
        SampledOMPOConfig(beta=2.0, num_samples=1000, num_episodes=1),
        initial_policy=TabularPolicy(start.reshape(1, 1, 1, 3)),
    )
    solver.step()
    win_rate = game.reward[0, :, 0, :] @ start  # P(a ≻ π^1)
    expected = start * np.exp(2.0 * win_rate)
    np.testing.assert_allclose(solver.policy.table[0, 0, 0], expected / expected.sum(), atol=0.02)


def test_average_policy_is_the_mixture_of_iterates():
    env = ompo_envs.make("RockPaperScissors-v0")
    game = env.unwrapped.game
    solver = SampledOMPO(env, SampledOMPOConfig(num_samples=4, num_episodes=1))
    for _ in range(3):
        solver.step()
    mixture = solver.average_policy
    assert len(mixture) == 4  # π^1..π^4
    # one state: the trajectory-level mixture is the plain mean of the tables
    tables = np.stack([c.table for c in mixture.components])
    np.testing.assert_allclose(mixture.to_array(game), tables.mean(axis=0))
    assert mixture.draw(np.random.default_rng(0)) in mixture.components


def test_same_seed_same_iterates():
    env = ompo_envs.make("RockPaperScissors-v0")
    config = SampledOMPOConfig(num_samples=8, num_episodes=2, seed=7)
    a, _ = _run(env, config, 3)
    b, _ = _run(env, config, 3)
    np.testing.assert_array_equal(a.policy, b.policy)


@pytest.mark.parametrize(
    "fields",
    [{"beta": 0.0}, {"num_samples": 0}, {"num_episodes": 1.5}, {"seed": -1}, {"beta": "1"}],
)
def test_config_rejects_bad_fields(fields):
    with pytest.raises((TypeError, ValueError)):
        SampledOMPOConfig(**fields)


def test_rejects_non_env_and_wrong_config():
    with pytest.raises(TypeError, match="PreferenceGameEnv"):
        SampledOMPO(object())
    env = ompo_envs.make("RockPaperScissors-v0")
    with pytest.raises(TypeError, match="SampledOMPOConfig"):
        SampledOMPO(env, {"beta": 1.0})


def test_kl_step_estimates_the_exact_solvers_trajectory_kl():
    """kl_step means E_{s1} Σ_h E_{s~d_h^{π^t}} KL(π^{t+1}_h ‖ π^t_h) for every solver; the
    sample-based solvers estimate it on their root episodes."""
    env = ompo_envs.make(
        "RandomGame-v0", game_seed=2, num_states=3, num_actions=2, horizon=2, num_initial_states=1
    )
    game = env.unwrapped.game
    solver = SampledOMPO(env, SampledOMPOConfig(beta=2.0, num_samples=8, num_episodes=256))
    before = solver.policy
    metrics = solver.step()
    after = solver.policy
    kl = (after.table * (after.log_table - before.log_table)).sum(-1)  # (n, H, S)
    exact = float(np.einsum("nhs,nhs->", occupancy_measures(game, before).sum(-1), kl))
    assert metrics["kl_step"] == pytest.approx(exact, rel=0.15)
