"""A Gymnasium single-agent view of a preference game against a fixed opponent (SB3 interop).

Exploitability is max_π̄ ⟨ν1, V^{π̄,π}⟩ − ⟨ν1, V^{π,π}⟩ (§4.1). Where the game is too big for the
exact best response (:func:`ompo_envs.tabular.best_response`), its first term can be estimated
by training any single-agent RL algorithm against π held fixed: :class:`SingleAgentEnv` is that
MDP, a ``gymnasium.Env`` in which the learner plays one side and the opponent's moves are part of
the environment. The second term is ½ per paid stage by antisymmetry (App. H).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium
import numpy as np

from ompo_envs.core import AGENTS, PreferenceGameEnv
from ompo_envs.core.preference_game import _check_seed
from ompo_envs.policies import MixturePolicy, Policy, PolicyFunction, as_policy, episode_policy
from ompo_envs.tabular import TabularPolicy


class SingleAgentEnv(gymnasium.Env):
    """One player of a preference game against a fixed opponent, as a ``gymnasium.Env``.

    ## Description
    Each step the learner picks its action, the opponent's action is drawn from its fixed policy
    (with this env's ``np_random``), and the underlying parallel env plays both. Against a fixed
    opponent the game is an MDP for the learner, so any RL algorithm (e.g. SB3 PPO) learns an
    approximate best response; its value estimates max_π̄ ⟨ν1, V^{π̄,π}⟩.

    ## Action Space
    The learner's action space in the underlying env (``Discrete(A)`` for tabular games).

    ## Observation Space
    For a ``Discrete(S)`` observation (tabular games): a flat one-hot ``Box`` of size
    n_init + H + S, the concatenation one_hot(init_index) ‖ one_hot(h − 1) ‖ one_hot(state) — all a
    tabular policy π_h(a | s, s1) conditions on, in the form MLP policies handle well. For any
    other space (text games) the learner's own observation unchanged; ``info`` then carries ``h``.

    ## Rewards
    The learner's reward: r = P([s, a] ≻ [s', a']) as ``player_0``, 1 − r as ``player_1``.

    ## Starting State
    The underlying env's ``reset``: s1 ~ ν1 for both players.

    ## Episode End
    When the underlying episode ends (after H stages, or earlier where the game says so).

    ## Arguments
    - ``env``: a :class:`~ompo_envs.core.PreferenceGameEnv` (e.g. ``ompo_envs.make(...)``).
    - ``opponent``: any policy (:func:`ompo_envs.policies.as_policy`): a
      :class:`~ompo_envs.tabular.TabularPolicy` or its table of shape (n_init, H, S, A); an
      object with ``sample(observation, info, rng)`` (an LLM policy on a text env); or such a
      function. A :class:`~ompo_envs.policies.MixturePolicy` (e.g. a sample-based solver's
      ``average_policy``) is drawn once per episode and the drawn policy is followed for the
      whole episode.
    - ``agent``: the learner, ``"player_0"`` (default) or ``"player_1"``.

    ## Example
    >>> import numpy as np, ompo_envs
    >>> from ompo_envs.wrappers import SingleAgentEnv
    >>> biased = np.array([0.6, 0.3, 0.1]).reshape(1, 1, 1, 3)
    >>> env = SingleAgentEnv(ompo_envs.make("RockPaperScissors-v0"), biased)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape
    (3,)

    ## Version History
    - v0: initial release.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        env: PreferenceGameEnv,
        opponent: np.ndarray | Policy | MixturePolicy | PolicyFunction,
        agent: str = "player_0",
    ) -> None:
        inner = getattr(env, "unwrapped", env)
        if not isinstance(inner, PreferenceGameEnv):
            raise TypeError(
                "SingleAgentEnv wraps an ompo_envs PreferenceGameEnv (e.g. "
                f"ompo_envs.make('RandomGame-v0')), got {type(env).__name__}"
            )
        if agent not in AGENTS:
            raise ValueError(f"agent must be one of {list(AGENTS)}, got {agent!r}")
        self.env = inner
        self.agent = agent
        self.opponent_agent = AGENTS[1 - AGENTS.index(agent)]
        game = getattr(inner, "game", None)
        space = inner.observation_space(agent)
        self._tabular = isinstance(space, gymnasium.spaces.Discrete)
        if self._tabular:
            self._num_init = game.num_initial_states if game is not None else 1
            self._num_states = int(space.n)
            size = self._num_init + inner.horizon + self._num_states
            self.observation_space = gymnasium.spaces.Box(0.0, 1.0, (size,), np.float32)
        else:
            self.observation_space = space
        self.action_space = inner.action_space(agent)
        self._policy_shape = None if game is None else game.policy_shape
        if isinstance(opponent, np.ndarray | TabularPolicy):
            opponent = self._check_table_opponent(TabularPolicy(opponent))
        opponent = as_policy(opponent, "opponent")
        for component in getattr(opponent, "components", ()):  # a mixture: each one playable
            self._check_table_opponent(as_policy(component, "a mixture opponent's component"))
        self.opponent = opponent
        self._episode_opponent: Any = None
        self._last: tuple[dict[str, Any], dict[str, dict[str, Any]]] | None = None

    def _check_table_opponent(self, opponent: Any) -> Any:
        """Refuse a table opponent for a non-tabular env or of another game's shape."""
        if not isinstance(opponent, TabularPolicy):
            return opponent
        if not self._tabular:
            raise TypeError(
                "a policy table opponent needs a tabular env (Discrete observations); pass "
                "an object with sample(observation, info, rng) instead"
            )
        if self._policy_shape is not None and opponent.shape != self._policy_shape:
            raise ValueError(
                f"opponent table must have shape {self._policy_shape}, got {opponent.shape}"
            )
        return opponent

    def _encode(self, observation: Any, info: Mapping[str, Any]) -> Any:
        if not self._tabular:
            return observation
        encoded = np.zeros(self.observation_space.shape, dtype=np.float32)
        init_index = int(info.get("init_index", 0))
        h = min(int(info["h"]), self.env.horizon)
        encoded[init_index] = 1.0
        encoded[self._num_init + h - 1] = 1.0
        encoded[self._num_init + self.env.horizon + int(observation)] = 1.0
        return encoded

    def _opponent_action(self, observations: Mapping[str, Any], infos: Mapping[str, Any]) -> Any:
        observation, info = observations[self.opponent_agent], infos[self.opponent_agent]
        return self._episode_opponent.sample(observation, info, self.np_random)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset the game (seeded with ``seed`` too) and draw the opponent for this episode.

        Raises:
            TypeError / ValueError: A bad seed or option (from the underlying env's ``reset``);
                the wrapper, its random stream and the underlying env are left as they were.
        """
        seed = _check_seed(seed)
        saved = self._save_random()
        try:
            super().reset(seed=seed)
            inner_seed = seed if seed is not None else int(self.np_random.integers(2**63 - 1))
            opponent = episode_policy(self.opponent, self.np_random)
            observations, infos = self.env.reset(seed=inner_seed, options=options)
        except BaseException:
            self._restore_random(saved)
            raise
        self._episode_opponent = opponent
        self._last = (observations, infos)
        info = dict(infos[self.agent])
        return self._encode(observations[self.agent], info), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Play the learner's ``action`` against the opponent's; return the learner's view.

        The learner's action is checked (by the underlying env's rules: an integer in range for
        a tabular game, no floats, booleans or strings) before the opponent's action is drawn;
        a step that fails — a bad learner action, an opponent that raises or returns an invalid
        action — leaves the wrapper, its random stream and the underlying env as they were.

        Raises:
            RuntimeError: Before the first ``reset()``, or after the episode ended.
            TypeError / ValueError: An invalid action; nothing changes.
        """
        if self._last is None:
            raise RuntimeError("step() called before reset(): call reset() first")
        if not self.env.agents:
            raise RuntimeError(
                "step() called after the episode ended (terminated or truncated was True): "
                "call reset() first"
            )
        if isinstance(action, np.ndarray) and action.shape == ():
            action = action[()]  # a 0-d array (what some RL libraries pass) as its scalar
        self.env._check_action(self.agent, action)  # the env's own rules, before any draw
        observations, infos = self._last
        saved = self._save_random()
        try:
            joint = {
                self.agent: action,
                self.opponent_agent: self._opponent_action(observations, infos),
            }
            observations, rewards, terminations, truncations, infos = self.env.step(joint)
        except BaseException:
            self._restore_random(saved)
            raise
        self._last = (observations, infos)
        info = dict(infos[self.agent])
        return (
            self._encode(observations[self.agent], info),
            float(rewards[self.agent]),
            bool(terminations[self.agent]),
            bool(truncations[self.agent]),
            info,
        )

    def _save_random(self) -> tuple[Any, Any, Any]:
        generator = self._np_random
        state = None if generator is None else generator.bit_generator.state
        return generator, self._np_random_seed, state

    def _restore_random(self, saved: tuple[Any, Any, Any]) -> None:
        generator, seed, state = saved
        if generator is not None:
            generator.bit_generator.state = state
        self._np_random, self._np_random_seed = generator, seed

    def encode(self, init_index: int, h: int, state: int) -> np.ndarray:
        """The observation for row (s1 index, stage h (1-based), state) — to read a policy table.

        Raises:
            TypeError: The env is not tabular, or an index is not an integer.
            ValueError: An index is out of range.
        """
        if not self._tabular:
            raise TypeError("encode() is for tabular envs (Discrete observations)")
        limits = {
            "init_index": (init_index, 0, self._num_init - 1),
            "h": (h, 1, self.env.horizon),
            "state": (state, 0, self._num_states - 1),
        }
        for name, (value, low, high) in limits.items():
            if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
                raise TypeError(f"{name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"{name} must lie in {low}..{high}, got {value}")
        return self._encode(state, {"init_index": init_index, "h": h})
