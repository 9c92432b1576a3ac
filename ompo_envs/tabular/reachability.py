"""Which states a player can reach at each stage from a given initial state."""

from __future__ import annotations

import numpy as np

from ompo_envs.tabular.game import TabularGame


def reachable_states(game: TabularGame, start: int) -> list[np.ndarray]:
    """Return, per stage h, the sorted states reachable from ``start`` under some policy."""
    support = game.transitions.max(axis=1) > 0  # (S, S'): some action moves s to s'
    reach = [np.array([start])]
    for _ in range(game.horizon - 1):
        reach.append(np.flatnonzero(support[reach[-1]].any(axis=0)))
    return reach
