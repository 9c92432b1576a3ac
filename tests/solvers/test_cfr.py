"""CFR+, PCFR+ and DCFR: hand-computed first iterates, weighted averages, known equilibria."""

from __future__ import annotations

import numpy as np
import pytest

from ompo_envs.envs import intransitive_voters_game, rock_paper_scissors_game
from ompo_envs.tabular import (
    TabularGame,
    exploitability,
    mixture_policy,
    nash_equilibrium,
    q_values,
    random_game,
    random_policy,
    reward_against,
)
from solvers import OMPO
from solvers.cfr import DCFR, CFRPlus, PCFRPlus, instantaneous_regret

#: Biased rock–paper–scissors, rows = my throw (R, P, S): r(R, S) = 0.9, r(P, R) = 0.6,
#: r(S, P) = 0.7, ties ½, and r(a, b) = 1 − r(b, a).
BIASED_RPS = np.array([[0.5, 0.4, 0.9], [0.6, 0.5, 0.3], [0.1, 0.7, 0.5]])


def biased_rps() -> TabularGame:
    return TabularGame(
        initial_distribution=np.ones(1),
        transitions=np.ones((1, 3, 1)),
        reward=BIASED_RPS.reshape(1, 3, 1, 3),
        horizon=1,
    )


# Against uniform: r = (1.8, 1.4, 1.3) / 3, V = ½, g¹ = (0.1, −1/30, −1/15). Every method then
# plays rock; against rock r = (0.5, 0.6, 0.1), V = ½, g² = (0, 0.1, −0.4).
# CFR+:  R¹ = (0.1, 0, 0) → π² = R;  R² = [R¹ + g²]⁺ = (0.1, 0.1, 0) → π³ = (½, ½, 0).
# PCFR+: π² ∝ [R¹ + g¹]⁺ = (0.2, 0, 0) → R;  π³ ∝ [R² + g²]⁺ = (0.1, 0.2, 0) → (⅓, ⅔, 0).
# DCFR:  R¹ = ½ g¹ (t = 1: both factors ½) → π² = R;  R¹ + g² = (0.05, 0.1 − 1/60, −0.4 − 1/30),
#        positive × 2^1.5 / (2^1.5 + 1), negative × ½ → π³ ∝ (0.05, 1/12, 0) = (0.375, 0.625, 0).
ROCK = [1.0, 0.0, 0.0]
HAND_ITERATES = {
    CFRPlus: (ROCK, [0.5, 0.5, 0.0]),
    PCFRPlus: (ROCK, [1 / 3, 2 / 3, 0.0]),
    DCFR: (ROCK, [0.375, 0.625, 0.0]),
}


@pytest.mark.parametrize("cls", list(HAND_ITERATES), ids=lambda c: c.__name__)
def test_first_iterates_match_hand_computation(cls) -> None:
    solver = cls(biased_rps())
    np.testing.assert_allclose(solver.policy[0, 0, 0], 1 / 3)
    for expected in HAND_ITERATES[cls]:
        solver.step()
        np.testing.assert_allclose(solver.policy[0, 0, 0], expected, atol=1e-12)


@pytest.mark.parametrize(
    ("cls", "power"), [(CFRPlus, 1.0), (PCFRPlus, 2.0), (DCFR, 2.0)], ids=["CFR+", "PCFR+", "DCFR"]
)
def test_average_weights_iterate_t_by_t_to_the_gamma(cls, power) -> None:
    game = random_game(2, num_states=4, num_actions=3, horizon=3)
    solver = cls(game)
    iterates = [solver.policy.copy()]
    for _ in range(3):
        solver.step()
        iterates.append(solver.policy.copy())
    weights = np.arange(1, 5) ** power
    expected = mixture_policy(game, iterates, weights / weights.sum())
    np.testing.assert_allclose(solver.average_policy, expected, atol=1e-12)
    assert solver.evaluate()["exploitability_average"] == pytest.approx(
        exploitability(game, expected), abs=1e-12
    )


def test_instantaneous_regret_is_q_minus_v_of_the_self_play_reward() -> None:
    game = random_game(4, num_states=5, num_actions=3, horizon=4)
    policy = random_policy(game, np.random.default_rng(0))
    solver = CFRPlus(game, initial_policy=policy)
    q, v = q_values(game, policy, reward_against(game, policy))
    regret = instantaneous_regret(game, policy, solver.occupancy)
    np.testing.assert_allclose(regret, q - v[:, :-1, :, None], atol=1e-12)


@pytest.mark.parametrize("cls", [CFRPlus, PCFRPlus, DCFR], ids=lambda c: c.__name__)
def test_the_uniform_equilibrium_of_rps_is_a_fixed_point(cls) -> None:
    solver = cls(rock_paper_scissors_game())  # against uniform every throw wins exactly ½
    for _ in range(5):
        solver.step()
        np.testing.assert_array_equal(solver.policy, 1 / 3)
    assert solver.evaluate()["exploitability_average"] == 0.0


@pytest.mark.parametrize("cls", [CFRPlus, PCFRPlus, DCFR], ids=lambda c: c.__name__)
def test_the_average_finds_the_uniform_equilibrium_of_the_voters_cycle(cls) -> None:
    game = intransitive_voters_game()
    solver = cls(game, initial_policy=np.broadcast_to([0.6, 0.3, 0.1], game.policy_shape).copy())
    for _ in range(300):
        solver.step()
    np.testing.assert_allclose(solver.average_policy[0, 0, 0], 1 / 3, atol=0.05)
    assert solver.evaluate()["exploitability_average"] < 1e-2


@pytest.mark.parametrize("cls", [CFRPlus, PCFRPlus, DCFR], ids=lambda c: c.__name__)
def test_average_approaches_the_lp_equilibrium_of_a_random_game(cls) -> None:
    game = random_game(7, num_states=6, num_actions=4, horizon=4)
    equilibrium = nash_equilibrium(game, "lp")
    solver = cls(game)
    gaps = []
    for updates in (10, 100, 400):
        while solver.iteration < updates:
            solver.step()
        gaps.append(solver.evaluate()["exploitability_average"])
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-2
    distance = np.abs(solver.average_occupancy - equilibrium.occupancy).max()
    assert distance < 0.05


def test_pcfr_plus_converges_faster_than_cfr_plus() -> None:
    game = random_game(7, num_states=6, num_actions=4, horizon=4)
    final = {}
    for cls in (CFRPlus, PCFRPlus):
        solver = cls(game)
        for _ in range(300):
            solver.step()
        final[cls] = solver.evaluate()["exploitability_average"]
    assert final[PCFRPlus] < final[CFRPlus]


@pytest.mark.parametrize("seed", [3, 6])
def test_pcfr_plus_beats_ompo_at_its_best_beta_after_100_updates(seed) -> None:
    """Two of the benchmark's games (README, "Tabular benchmark", has all ten): at 100 updates,
    one Q evaluation each, PCFR+'s average iterate is < half as exploitable as OMPO's."""
    game = random_game(seed, horizon=10)
    final = {}
    for name, solver in [("PCFR+", PCFRPlus(game))] + [
        (f"OMPO {beta}", OMPO(game, beta=beta))
        for beta in (20.0, 40.0)  # its best on these games
    ]:
        for _ in range(100):
            solver.step()
        final[name] = solver.evaluate()["exploitability_average"]
    assert final["PCFR+"] < 0.5 * min(v for k, v in final.items() if k.startswith("OMPO")), final


def test_settings_are_validated() -> None:
    game = rock_paper_scissors_game()
    with pytest.raises(ValueError, match="averaging_power"):
        CFRPlus(game, averaging_power=-1.0)
    with pytest.raises(ValueError, match="beta"):
        DCFR(game, beta=float("nan"))
    with pytest.raises(TypeError, match="no field"):
        PCFRPlus(game, step_size=0.1)
    with pytest.raises(TypeError, match="TabularGame"):
        CFRPlus("RockPaperScissors-v0")


@pytest.mark.parametrize("cls", [CFRPlus, PCFRPlus, DCFR], ids=lambda c: c.__name__)
def test_one_update_is_one_pairwise_contraction(cls, monkeypatch) -> None:
    import solvers.cfr as cfr_module

    calls = []
    contraction = cfr_module.reward_against_occupancy
    monkeypatch.setattr(
        cfr_module,
        "reward_against_occupancy",
        lambda game, occupancy, **kwargs: calls.append(1) or contraction(game, occupancy, **kwargs),
    )
    solver = cls(random_game(1, num_states=4, num_actions=3, horizon=3))
    for _ in range(5):
        solver.step()
    assert len(calls) == 5 == 5 * cls.cost_per_update
    assert cls.beta_grid == ()
