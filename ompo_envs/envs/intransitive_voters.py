"""``IntransitiveVoters-v0``: three transitive humans, a cyclic average preference (App. H)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ompo_envs.envs.tabular_env import TabularGameEnv
from ompo_envs.tabular import TabularGame

ANSWERS = ("y1", "y2", "y3")

#: o_e(y_i ≻ y_j) for the three humans of App. H; each is a strict ranking (transitive):
#: e1: y3 ≻ y1 ≻ y2,  e2: y2 ≻ y3 ≻ y1,  e3: y1 ≻ y2 ≻ y3.
VOTER_PREFERENCES = np.array(
    [
        [[0.5, 1.0, 0.0], [0.0, 0.5, 0.0], [1.0, 1.0, 0.5]],
        [[0.5, 0.0, 0.0], [1.0, 0.5, 1.0], [1.0, 0.0, 0.5]],
        [[0.5, 1.0, 1.0], [0.0, 0.5, 1.0], [0.0, 0.0, 0.5]],
    ]
)


def voters_preference() -> np.ndarray:
    """P(y_i ≻ y_j) = (1/3) Σ_e o_e(y_i ≻ y_j): P(y1≻y2) = P(y2≻y3) = P(y3≻y1) = 2/3."""
    return VOTER_PREFERENCES.mean(axis=0)


def intransitive_voters_game(horizon: int = 1, reward_mode: str = "intermediate") -> TabularGame:
    """The voters' preference as a one-state game over three answers: NE uniform, value H/2."""
    return TabularGame(
        initial_distribution=np.ones(1),
        transitions=np.ones((1, 3, 1)),
        reward=voters_preference().reshape(1, 3, 1, 3),
        horizon=horizon,
        reward_mode=reward_mode,  # type: ignore[arg-type]
    )


class IntransitiveVotersEnv(TabularGameEnv):
    """The paper's App. H example: averaging transitive humans gives a non-transitive preference.

    ## Description
    Three humans e1, e2, e3 each rank three answers y1, y2, y3 transitively (``VOTER_PREFERENCES``);
    their average prefers y1 to y2, y2 to y3 and y3 to y1, each with probability 2/3, so no
    Bradley–Terry model fits it. The game's Nash equilibrium is uniform over the answers and
    wins at least ½ against every policy (value ½ per stage).

    ## Agents
    ``player_0`` and ``player_1``.

    ## Action Space
    ``Discrete(3)``: answer y1, y2 or y3.

    ## Observation Space
    ``Discrete(1)``: the shared prompt.

    ## Rewards
    player_0 gets P(y_i ≻ y_j) for answers (y_i, y_j); player_1 gets 1 − that.

    ## Preference Model
    The mean of three strict rankings (App. H).

    ## Starting State
    The single prompt state.

    ## Episode End
    After ``horizon`` stages (default 1).

    ## Arguments
    ``horizon`` (int ≥ 1, default 1), ``reward_mode``, ``render_mode`` (None | "ansi").

    ## Version History
    - v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "intransitive_voters_v0",
        "render_modes": ["ansi"],
    }

    def __init__(
        self, horizon: int = 1, reward_mode: str = "intermediate", render_mode: str | None = None
    ) -> None:
        super().__init__(intransitive_voters_game(horizon, reward_mode), render_mode=render_mode)
