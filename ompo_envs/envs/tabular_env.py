"""A PettingZoo env over any :class:`~ompo_envs.tabular.TabularGame` (the exact-model games)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gymnasium
import numpy as np

from ompo_envs.core import Episode, PreferenceGameEnv
from ompo_envs.tabular import TabularGame


class TabularGameEnv(PreferenceGameEnv[int, int]):
    """Play a :class:`~ompo_envs.tabular.TabularGame` through the PettingZoo parallel API.

    Observations are the player's own state index (``Discrete(S)``), actions are action indices
    (``Discrete(A)``, plain ``int`` or numpy integers; floats and bools are rejected). ``infos``
    carry ``h`` (1-based stage), ``s1`` (the shared initial state) and ``init_index`` (the row of
    ``s1`` in policy arrays, i.e. its position in ``game.initial_states``), so a tabular policy
    ``pi[init_index, h - 1, obs]`` can be played directly. The exact model is ``env.game``
    (``env.unwrapped.game``), for exact values, best responses and exploitability.
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "tabular_game", "render_modes": ["ansi"]}
    _shared_attributes: ClassVar[tuple[str, ...]] = ("game", "_cumulative_transitions")
    _preference_model_attribute: ClassVar[str | None] = "game"

    def __init__(self, game: TabularGame, render_mode: str | None = None) -> None:
        if not isinstance(game, TabularGame):
            raise TypeError(f"game must be a TabularGame, got {type(game).__name__}")
        self.game = game
        self._cumulative_transitions = np.cumsum(game.transitions, axis=-1)
        self._init_index = {int(s): i for i, s in enumerate(game.initial_states)}
        super().__init__(
            horizon=game.horizon, reward_mode=game.reward_mode, render_mode=render_mode
        )

    def _make_observation_space(self) -> gymnasium.Space:
        return gymnasium.spaces.Discrete(self.game.num_states)

    def _make_action_space(self) -> gymnasium.Space:
        return gymnasium.spaces.Discrete(self.game.num_actions)

    def _initial_state(self, options: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        s1 = int(self.np_random.choice(self.game.num_states, p=self.game.initial_distribution))
        return s1, {"init_index": self._init_index[s1]}

    def _check_action(self, agent: str, action: Any) -> int:
        if isinstance(action, bool | np.bool_) or not isinstance(action, int | np.integer):
            raise TypeError(
                f"action for {agent} must be an integer in [0, {self.game.num_actions}), "
                f"got {action!r} of type {type(action).__name__}"
            )
        if not 0 <= action < self.game.num_actions:
            raise ValueError(
                f"action {action} for {agent} is out of range: valid actions are "
                f"0..{self.game.num_actions - 1}"
            )
        return int(action)

    def _next_state(self, state: int, action: int, episode: Episode[int]) -> int:
        cumulative = self._cumulative_transitions[state, action]
        index = int(np.searchsorted(cumulative, self.np_random.random() * cumulative[-1], "right"))
        return min(index, self.game.num_states - 1)

    def _check_snapshot(self, episode: Episode[int]) -> None:
        named = {"s1": episode.s1, "player_0's state": episode.states[0]}
        named["player_1's state"] = episode.states[1]
        for name, state in named.items():
            if (
                isinstance(state, bool | np.bool_)
                or not isinstance(state, int | np.integer)
                or not 0 <= state < self.game.num_states
            ):
                raise ValueError(
                    f"a snapshot's {name} must be a state index in [0, {self.game.num_states}), "
                    f"got {state!r}"
                )
        expected = self._init_index.get(int(episode.s1))
        if expected is None or episode.extra.get("init_index") != expected:
            raise ValueError(
                f"a snapshot's s1={episode.s1!r} must be an initial state of this game (one of "
                f"{sorted(self._init_index)}) with its init_index"
            )

    def _preferences(self, pairs: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
        s, a, s_, a_ = np.asarray(pairs, dtype=np.int64).T
        return self.game.reward[s, a, s_, a_]

    def _observation(self, state: int, episode: Episode[int]) -> np.int64:
        return np.int64(state)

    def _player_info(self, state: int, episode: Episode[int]) -> dict[str, Any]:
        return {"init_index": episode.extra["init_index"]}
