"""RPS and App. H voters: OMPO's last iterate converges; MPO (MWU) cycles, its average converges.

Both games have the uniform NE and value ½. The voters' preference is a third as steep as RPS's
(P − ½ = ±1/6 instead of ±½), so it gets a 3× larger β.
"""

from __future__ import annotations

import numpy as np
import pytest

import solvers
from tests.solvers.conftest import cyclic_games, off_centre_policy

GAMES = cyclic_games()
#: (OMPO β, MPO β) per game.
BETAS = {"rps": (1.0, 0.3), "voters": (3.0, 1.0)}


def _run(solver: solvers.Solver, updates: int, every: int = 5) -> tuple[np.ndarray, np.ndarray]:
    last, average = [], []
    for t in range(updates):
        solver.step()
        if (t + 1) % every == 0:
            evaluation = solver.evaluate()
            last.append(evaluation["exploitability_last"])
            average.append(evaluation["exploitability_average"])
    return np.array(last), np.array(average)


@pytest.mark.parametrize("bellman", ["standard", "soft"])
@pytest.mark.parametrize("game_name", sorted(GAMES))
def test_ompo_last_iterate_converges_to_the_uniform_nash(game_name, bellman):
    game = GAMES[game_name]
    beta = BETAS[game_name][0]
    solver = solvers.OMPO(game, beta=beta, bellman=bellman, initial_policy=off_centre_policy(game))
    last, average = _run(solver, 1000)
    assert last[-1] < 1e-6
    assert np.all(last[-20:] < 1e-5)  # it stays there
    np.testing.assert_allclose(solver.policy, 1.0 / 3.0, atol=1e-4)
    assert average[-1] < 2e-3


@pytest.mark.parametrize("game_name", sorted(GAMES))
def test_mpo_last_iterate_cycles_while_its_average_converges(game_name):
    game = GAMES[game_name]
    solver = solvers.MPO(game, beta=BETAS[game_name][1], initial_policy=off_centre_policy(game))
    leaders = set()
    last, average = [], []
    for t in range(1000):
        metrics = solver.step()
        leaders.add(int(np.argmax(solver.policy[0, 0, 0])))
        if (t + 1) % 5 == 0:
            evaluation = solver.evaluate()
            last.append(evaluation["exploitability_last"])
            average.append(evaluation["exploitability_average"])
    # The last iterate never settles: it stays far from the NE, keeps moving, and every answer
    # is the most likely one at some point (it orbits the NE).
    assert min(last[-100:]) > 0.03
    assert metrics["kl_step"] > 1e-5
    assert leaders == {0, 1, 2}
    # The average iterate converges.
    assert average[-1] < 0.015
    assert average[-1] < 0.5 * average[19]


def test_ompo_and_mpo_side_by_side():
    """Same start, each with its β: OMPO's last iterate is at the NE, MPO's is not."""
    for name, game in GAMES.items():
        ompo_beta, mpo_beta = BETAS[name]
        start = off_centre_policy(game)
        ompo = solvers.OMPO(game, beta=ompo_beta, initial_policy=start)
        mpo = solvers.MPO(game, beta=mpo_beta, initial_policy=start)
        for _ in range(800):
            ompo.step()
            mpo.step()
        ompo_eval, mpo_eval = ompo.evaluate(), mpo.evaluate()
        assert ompo_eval["exploitability_last"] < 1e-6 < 0.03 < mpo_eval["exploitability_last"]
        assert mpo_eval["exploitability_average"] < 0.015
