"""Shared fixtures for the exact-solver tests: small games with known or LP equilibria."""

from __future__ import annotations

import numpy as np

import solvers
from ompo_envs.envs import intransitive_voters_game, rock_paper_scissors_game
from ompo_envs.tabular import TabularGame, random_game

#: Every exact iterative solver with settings under which it is *unregularised* (α = 0).
UNREGULARISED = {
    "OMPO-standard": (solvers.OMPO, {"beta": 1.0, "bellman": "standard"}),
    "OMPO-soft": (solvers.OMPO, {"beta": 1.0, "bellman": "soft"}),
    "MPO": (solvers.MPO, {"beta": 0.5}),
    "SPPO": (solvers.SPPO, {"beta": 2.0}),
    "SPO": (solvers.SPO, {"beta": 2.0}),
    "MTPO(α=0)": (solvers.MTPO, {"beta": 2.0, "alpha": 0.0}),
    "Nash-MD(α=0)": (solvers.NashMD, {"beta": 0.5, "alpha": 0.0}),
    "EGPO": (solvers.EGPO, {"beta": 0.5}),
    "ONPO": (solvers.ONPO, {"beta": 0.5}),
    "MMD(α=0)": (solvers.MMD, {"beta": 0.5, "alpha": 0.0}),
}

#: RPS's NE is uniform, so cycling needs a start away from it.
OFF_CENTRE = np.array([0.6, 0.3, 0.1])


def small_random_game(seed: int) -> TabularGame:
    """A game small enough for the LP (seconds) with stochastic transitions and H = 3."""
    return random_game(seed, num_states=4, num_actions=3, horizon=3)


def cyclic_games() -> dict[str, TabularGame]:
    """The one-state cyclic games with the uniform NE: RPS and the App. H voters."""
    return {"rps": rock_paper_scissors_game(), "voters": intransitive_voters_game()}


def off_centre_policy(game: TabularGame) -> np.ndarray:
    """π^1 = (0.6, 0.3, 0.1) at every (s1, h, s): not the NE of a cyclic game."""
    return np.broadcast_to(OFF_CENTRE, game.policy_shape).copy()
