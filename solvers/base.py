"""The one interface every solver follows.

A solver holds its current iterate π^t and the running trajectory-level mixture of its iterates
(the "average iterate", App. E.2: the policy whose occupancy is the mean of the iterates'
occupancies). The same method names everywhere::

    solver = solvers.OMPO(game, OMPOConfig(beta=0.1))
    for _ in range(100):
        metrics = solver.step()          # one policy update; a dict of floats
    solver.policy                        # π^{t}, shape (n_init, H, S, A)
    solver.average_policy                # mixture of π^1..π^t, shape (n_init, H, S, A)
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from ompo_envs.tabular import (
    TabularGame,
    occupancy_measures,
    optimal_q_values,
    policy_from_occupancy,
    reward_against_occupancy,
)


class Solver(abc.ABC):
    """Base class: iteration counter, current iterate and its trajectory-level average.

    Subclasses implement :meth:`_update` (return π^{t+1} and metrics) and set ``self.config``.
    The average iterate weights every iterate π^1, …, π^t equally (``iteration = t − 1`` updates
    have been made); its occupancy is accumulated exactly from the game model.
    """

    config: Any

    def __init__(self, game: TabularGame, initial_policy: np.ndarray) -> None:
        self.game = game
        self.iteration = 0
        self._policy = np.array(initial_policy, dtype=np.float64)
        self._occupancy = occupancy_measures(game, self._policy)
        self._occupancy_sum = self._occupancy.copy()
        self._num_iterates = 1

    @property
    def policy(self) -> np.ndarray:
        """The current (last) iterate π^t, shape (n_init, H, S, A)."""
        return self._policy

    @property
    def occupancy(self) -> np.ndarray:
        """d^{π^t}_h(s, a | s1) of the current iterate, shape (n_init, H, S, A)."""
        return self._occupancy

    @property
    def average_occupancy(self) -> np.ndarray:
        """The mean occupancy of π^1..π^t, i.e. the occupancy of :attr:`average_policy`."""
        return self._occupancy_sum / self._num_iterates

    @property
    def average_policy(self) -> np.ndarray:
        """The trajectory-level mixture of π^1..π^t (occupancy = mean of the occupancies)."""
        return policy_from_occupancy(self._occupancy_sum / self._num_iterates)

    def step(self) -> dict[str, float]:
        """Make one policy update π^t → π^{t+1}; return metrics (floats) of the update."""
        new_policy, metrics = self._update()
        self._policy = new_policy
        self._occupancy = occupancy_measures(self.game, new_policy)
        self._occupancy_sum = self._occupancy_sum + self._occupancy
        self._num_iterates += 1
        self.iteration += 1
        return {"iteration": float(self.iteration), **metrics}

    def evaluate(self) -> dict[str, float]:
        """Exploitability (§4.1) of the last and of the average iterate (exact; 2 contractions).

        Same value as :func:`ompo_envs.tabular.exploitability` of :attr:`policy` and
        :attr:`average_policy`, computed from the occupancies already held.
        """
        return {
            "exploitability_last": self._exploitability(self._occupancy),
            "exploitability_average": self._exploitability(self.average_occupancy),
        }

    def _exploitability(self, occupancy: np.ndarray) -> float:
        """max_π̄ ⟨ν1, V^{π̄,π}⟩ − ⟨ν1, V^{π,π}⟩ for the policy π with this occupancy."""
        stage_reward = reward_against_occupancy(self.game, occupancy)
        nu = self.game.initial_distribution[self.game.initial_states]
        self_value = float(nu @ np.einsum("nhsa,nhsa->n", occupancy, stage_reward))
        _, best_value = optimal_q_values(self.game, stage_reward)
        return best_value - self_value

    @abc.abstractmethod
    def _update(self) -> tuple[np.ndarray, dict[str, float]]:
        """Return π^{t+1} and the metrics of this update."""
