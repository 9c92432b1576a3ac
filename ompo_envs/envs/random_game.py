"""``RandomGame-v0``: the paper's random tabular games (§4.1, Fig. 1(a))."""

from __future__ import annotations

from typing import Any, ClassVar

from ompo_envs.envs.tabular_env import TabularGameEnv
from ompo_envs.tabular.generators import random_game


class RandomGameEnv(TabularGameEnv):
    """Random sparse MDP with a random antisymmetric preference reward, as in the paper's §4.1.

    ## Description
    The tabular experiment of the paper: S ~ U{1..100} states and A ~ U{2..10} actions (unless
    given), each (s, a) moving to 1–3 random successor states, and a random general (not
    Bradley–Terry, generally non-transitive) preference r(s, a, s', a') = (u + 1 − u')/2 between
    state-action pairs. The same ``game_seed`` always builds the same game.

    ## Agents
    ``player_0`` and ``player_1``, each moving in its own copy of the MDP from a shared s1.

    ## Action Space
    ``Discrete(A)`` for each player.

    ## Observation Space
    ``Discrete(S)``: the player's own state only. ``infos`` add ``h``, ``s1`` and ``init_index``.

    ## Rewards
    player_0 gets r(s_h, a_h, s'_h, a'_h) ∈ [0, 1], player_1 gets 1 − r, every stage
    (``reward_mode="intermediate"``) or at stage H only (``"terminal"``).

    ## Preference Model
    A uniformly random antisymmetric table over (S·A)² pairs of state-action pairs.

    ## Starting State
    s1 ~ ν1, a Dirichlet distribution on 1–3 random states (or ``num_initial_states``).

    ## Episode End
    Both players terminate after H stages. There is no truncation.

    ## Arguments
    - ``game_seed`` (int, default 0): seed of the game's construction (not of the episodes).
    - ``num_states`` (int ≥ 1 | None), ``num_actions`` (int ≥ 2 | None): fixed sizes or random.
    - ``horizon`` (int ≥ 1, default 10), ``num_initial_states`` (int | None).
    - ``reward_mode`` ("intermediate" | "terminal"), ``render_mode`` (None | "ansi").

    ## Example
    >>> import ompo_envs
    >>> from ompo_envs.tabular import exploitability, uniform_policy
    >>> env = ompo_envs.make("RandomGame-v0", game_seed=3, num_states=5, num_actions=3)
    >>> round(exploitability(env.unwrapped.game, uniform_policy(env.unwrapped.game)), 3) >= 0
    True

    ## Version History
    - v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "random_game_v0", "render_modes": ["ansi"]}

    def __init__(
        self,
        game_seed: int = 0,
        num_states: int | None = None,
        num_actions: int | None = None,
        horizon: int = 10,
        num_initial_states: int | None = None,
        reward_mode: str = "intermediate",
        render_mode: str | None = None,
    ) -> None:
        game = random_game(
            game_seed,
            num_states=num_states,
            num_actions=num_actions,
            horizon=horizon,
            num_initial_states=num_initial_states,
            reward_mode=reward_mode,
        )
        super().__init__(game, render_mode=render_mode)
