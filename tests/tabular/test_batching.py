"""Solvers run in lockstep compute what they compute alone (to rounding), in fewer matmuls."""

from __future__ import annotations

import numpy as np
import pytest

import ompo_envs.tabular.batching as batching
from ompo_envs.tabular import (
    occupancy_measures,
    random_game,
    reward_against_occupancy,
    uniform_policy,
)
from ompo_envs.tabular.batching import ContractionBatcher, run_in_lockstep
from solvers import EGPO, OMPO, FictitiousPlay, NashMD, PCFRPlus
from tests.numerics import rounding_tolerance

#: One contraction per update, two (EGPO), against the average (FP), against a mixture (Nash-MD).
SOLVERS = [
    (OMPO, {"beta": 2.0}),
    (EGPO, {"beta": 1.0}),
    (FictitiousPlay, {}),
    (NashMD, {}),
    (PCFRPlus, {}),
]


def _run(cls, fields, game, steps=6):
    solver = cls(game, **fields)
    evaluations = []
    for _ in range(steps):
        solver.step()
        evaluations.append(solver.evaluate())
    return solver.policy, solver.average_policy, evaluations


def test_lockstep_runs_equal_runs_alone_and_share_matmuls(monkeypatch):
    game = random_game(2, num_states=6, num_actions=3, horizon=4, num_initial_states=2)
    alone = [_run(cls, fields, game) for cls, fields in SOLVERS]
    batch_sizes = []
    contract_rows = batching.contract_rows

    def recording(game, occupancies):
        batch_sizes.append(len(occupancies))
        return contract_rows(game, occupancies)

    monkeypatch.setattr(batching, "contract_rows", recording)
    together = run_in_lockstep(game, [lambda c=c, f=f: _run(c, f, game) for c, f in SOLVERS])
    for (policy, average, evaluations), (policy2, average2, evaluations2) in zip(
        alone, together, strict=True
    ):
        # another matmul shape: equal to rounding (bitwise under some BLAS kernels, not all)
        tolerance = rounding_tolerance(game, 6, 2.0)
        np.testing.assert_allclose(policy2, policy, rtol=0, atol=tolerance)
        np.testing.assert_allclose(average2, average, rtol=0, atol=tolerance)
        for one, other in zip(evaluations2, evaluations, strict=True):
            assert one == pytest.approx(other, rel=0, abs=tolerance)
    # 6 updates (7 contractions with EGPO's second) and 6 evaluations of 2, for 5 solvers: the
    # memo serves each evaluation's repeat of the current iterate.
    assert max(batch_sizes) == len(SOLVERS)
    assert len(batch_sizes) < sum(batch_sizes) / 3


def test_a_failing_task_raises_once_the_others_have_finished():
    game = random_game(1, num_states=4, num_actions=2, horizon=2)
    finished = []

    def good():
        solver = OMPO(game)
        for _ in range(5):
            solver.step()
        finished.append(True)
        return solver.iteration

    def bad():
        solver = OMPO(game)
        solver.step()
        raise RuntimeError("this task fails")

    with pytest.raises(RuntimeError, match="this task fails"):
        run_in_lockstep(game, [good, bad, good])
    assert finished == [True, True]
    assert run_in_lockstep(game, [good, good]) == [5, 5]
    assert run_in_lockstep(game, []) == []


def test_other_games_and_bad_arguments():
    game, other = random_game(1, num_states=4, num_actions=2, horizon=2), random_game(2)

    def contract_both():
        d = occupancy_measures(other, uniform_policy(other))
        return reward_against_occupancy(other, d)  # not batched: another game

    (result,) = run_in_lockstep(game, [contract_both])
    expected = reward_against_occupancy(other, occupancy_measures(other, uniform_policy(other)))
    np.testing.assert_array_equal(result, expected)
    with pytest.raises(TypeError, match="TabularGame"):
        run_in_lockstep("RandomGame-v0", [])
    with pytest.raises(ValueError, match="participants"):
        ContractionBatcher(game, 0)
    with pytest.raises(ValueError, match=r"\(n, H, S, A\)"):
        ContractionBatcher(game, 1).contract(np.zeros((1, 2, 4)))
