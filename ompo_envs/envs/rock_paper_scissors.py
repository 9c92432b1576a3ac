"""``RockPaperScissors-v0``, ``RepeatedRockPaperScissors-v0``: the smallest cyclic games."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ompo_envs.envs.tabular_env import TabularGameEnv
from ompo_envs.tabular import TabularGame

ACTIONS = ("rock", "paper", "scissors")

#: P(row ≻ column): paper beats rock, scissors beat paper, rock beats scissors; ties ½.
RPS_PREFERENCE = np.array(
    [
        [0.5, 0.0, 1.0],
        [1.0, 0.5, 0.0],
        [0.0, 1.0, 0.5],
    ]
)


def rock_paper_scissors_game(horizon: int = 1, reward_mode: str = "intermediate") -> TabularGame:
    """RPS as a one-state game played ``horizon`` times: NE uniform, value ½ per paid stage."""
    return TabularGame(
        initial_distribution=np.ones(1),
        transitions=np.ones((1, 3, 1)),
        reward=RPS_PREFERENCE.reshape(1, 3, 1, 3),
        horizon=horizon,
        reward_mode=reward_mode,  # type: ignore[arg-type]
    )


def repeated_rock_paper_scissors_game(
    horizon: int = 3, reward_mode: str = "intermediate"
) -> TabularGame:
    """RPS over ``horizon`` stages where a player's state is its own previous throw.

    States: 0 = start, 1 + k = "last threw ACTIONS[k]"; f(1 + a | s, a) = 1. The stage reward
    compares the two current throws only, so a policy is an equilibrium exactly when its stage-h
    marginal of throws is uniform at every h (e.g. uniform everywhere); the value is H/2.
    Policies may condition on their own history, as LLM policies do.
    """
    transitions = np.zeros((4, 3, 4))
    transitions[:, np.arange(3), 1 + np.arange(3)] = 1.0
    reward = np.broadcast_to(RPS_PREFERENCE[None, :, None, :], (4, 3, 4, 3)).copy()
    nu = np.zeros(4)
    nu[0] = 1.0
    return TabularGame(
        initial_distribution=nu,
        transitions=transitions,
        reward=reward,
        horizon=horizon,
        reward_mode=reward_mode,  # type: ignore[arg-type]
    )


class RockPaperScissorsEnv(TabularGameEnv):
    """Rock-paper-scissors as a one-stage preference game.

    ## Description
    One shared prompt, three answers: rock, paper, scissors. The preference is cyclic —
    paper ≻ rock ≻ scissors ≻ paper — so no Bradley–Terry reward explains it and the unique Nash
    equilibrium is the uniform mixture, with value ½ (paper App. H).

    ## Agents
    ``player_0`` and ``player_1``.

    ## Action Space
    ``Discrete(3)``: 0 = rock, 1 = paper, 2 = scissors.

    ## Observation Space
    ``Discrete(1)``: the single prompt state.

    ## Rewards
    player_0 gets 1 for a win, 0 for a loss, ½ for a tie; player_1 gets 1 − that.

    ## Preference Model
    ``RPS_PREFERENCE`` (P(row ≻ column)).

    ## Starting State
    The single state 0.

    ## Episode End
    After ``horizon`` stages (default 1).

    ## Arguments
    ``horizon`` (int ≥ 1, default 1), ``reward_mode``, ``render_mode`` (None | "ansi").

    ## Example
    >>> import ompo_envs
    >>> env = ompo_envs.make("RockPaperScissors-v0")
    >>> obs, infos = env.reset(seed=0)
    >>> env.step({"player_0": 1, "player_1": 0})[1]
    {'player_0': 1.0, 'player_1': 0.0}

    ## Version History
    - v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "rock_paper_scissors_v0",
        "render_modes": ["ansi"],
    }

    def __init__(
        self, horizon: int = 1, reward_mode: str = "intermediate", render_mode: str | None = None
    ) -> None:
        super().__init__(rock_paper_scissors_game(horizon, reward_mode), render_mode=render_mode)


class RepeatedRockPaperScissorsEnv(TabularGameEnv):
    """Rock-paper-scissors over several stages, each player remembering its own last throw.

    ## Description
    The multi-step variant: H stages (default 3) of RPS where a player's state is its own
    previous throw (a player never sees the opponent's). Equilibria throw each move with
    probability ⅓ at every stage (marginally; uniform at every state is one); the value is H/2.

    ## Agents
    ``player_0`` and ``player_1``.

    ## Action Space
    ``Discrete(3)``: 0 = rock, 1 = paper, 2 = scissors.

    ## Observation Space
    ``Discrete(4)``: 0 = start, 1 + k = "my last throw was k".

    ## Rewards
    Every stage: 1 / ½ / 0 to player_0 for a win / tie / loss of the current throws; player_1
    gets 1 − that. With ``reward_mode="terminal"`` only the last stage is paid.

    ## Preference Model
    ``RPS_PREFERENCE`` between the current throws.

    ## Starting State
    State 0 for both players.

    ## Episode End
    After ``horizon`` stages.

    ## Arguments
    ``horizon`` (int ≥ 1, default 3), ``reward_mode``, ``render_mode`` (None | "ansi").

    ## Version History
    - v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "repeated_rock_paper_scissors_v0",
        "render_modes": ["ansi"],
    }

    def __init__(
        self, horizon: int = 3, reward_mode: str = "intermediate", render_mode: str | None = None
    ) -> None:
        game = repeated_rock_paper_scissors_game(horizon, reward_mode)
        super().__init__(game, render_mode=render_mode)
