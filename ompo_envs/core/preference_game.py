"""The env base: a two-player constant-sum Markov game in which each player has its own state.

Paper §2.2: both players start from the same prompt s1 ~ ν1. At stage h each player acts from its
*own* state (its own conversation), s_{h+1} ~ f(·|s_h, a_h) and s'_{h+1} ~ f(·|s'_h, a'_h)
independently, and the stage reward is

    player_0:  r_h = P([s_h, a_h] ≻ [s'_h, a'_h])        player_1:  1 − r_h

so the two rewards sum to 1 at every paid step (constant-sum). ``reward_mode="intermediate"`` pays
this at every stage (the paper's default); ``reward_mode="terminal"`` pays 0 to both players until
the last stage and then the preference between the two final state-action pairs (App. G ablation).

Subclasses describe one concrete game through six small hooks (initial state, action check,
transition, batched preference, observation, spaces); this class owns the PettingZoo protocol,
input validation, the episode bookkeeping and branching (:meth:`snapshot` / :meth:`restore`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

import gymnasium
import numpy as np
from gymnasium.utils import seeding
from pettingzoo.utils.env import ParallelEnv

StateT = TypeVar("StateT")
ActionT = TypeVar("ActionT")

AGENTS: tuple[str, str] = ("player_0", "player_1")
RewardMode = Literal["intermediate", "terminal"]
REWARD_MODES: tuple[str, ...] = ("intermediate", "terminal")


@dataclass
class Episode(Generic[StateT]):
    """Everything that changes during one episode; a deep copy of it is a branch point.

    Attributes:
        s1: The shared initial state.
        states: ``(state of player_0, state of player_1)``.
        h: Stage of the states (1-based as in the paper: states are s_h).
        done: Whether the episode has ended.
        extra: Per-episode data a subclass needs (e.g. a dialogue's user turns).
    """

    s1: StateT
    states: tuple[StateT, StateT]
    h: int = 1
    done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepPlan(Generic[StateT, ActionT]):
    """A validated joint action, before anything in the env has changed (see :func:`step_batch`)."""

    actions: tuple[ActionT, ActionT]
    pays_preference: bool
    ends_episode: bool


class PreferenceGameEnv(ParallelEnv, Generic[StateT, ActionT]):
    """Base PettingZoo ``ParallelEnv`` for alignment games with independent per-player states.

    Agents are ``player_0`` (paid r) and ``player_1`` (paid 1 − r). Each observation is that
    player's own state only; ``infos[agent]`` carries ``h`` (the paper's 1-based stage of the
    observed state) and ``s1`` (the shared initial state), plus whatever the subclass adds.

    Branching (paper Alg. 2 rolls out K continuations from one state)::

        snap = env.snapshot()
        for k in range(K):
            env.restore(snap)      # the random stream is *not* rewound: branches differ
            ...                    # roll out one continuation

    ``copy.deepcopy(env)`` also works and shares the heavy read-only parts listed in
    ``_shared_attributes`` (a game model, a preference oracle) instead of copying them.

    Bad input never changes the env: a step validates every action first and, for the
    preference, asks the model before any state moves.
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "preference_game", "render_modes": ["ansi"]}
    #: Attributes shared (not copied) by ``copy.deepcopy``: read-only models.
    _shared_attributes: ClassVar[tuple[str, ...]] = ()
    #: The attribute holding the preference model (envs batched by ``step_batch`` must share it).
    _preference_model_attribute: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        horizon: int,
        reward_mode: RewardMode = "intermediate",
        render_mode: str | None = None,
    ) -> None:
        if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
            raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
        if reward_mode not in REWARD_MODES:
            raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}"
            )
        self.horizon = int(horizon)
        self.reward_mode: RewardMode = reward_mode
        self.render_mode = render_mode
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        self._episode: Episode[StateT] | None = None
        self._np_random, self._np_random_seed = seeding.np_random()
        self._observation_spaces = {a: self._make_observation_space() for a in AGENTS}
        self._action_spaces = {a: self._make_action_space() for a in AGENTS}

    # ------------------------------------------------------------------ hooks for subclasses
    def _make_observation_space(self) -> gymnasium.Space:
        """Return one player's observation space (called once per agent)."""
        raise NotImplementedError

    def _make_action_space(self) -> gymnasium.Space:
        """Return one player's action space (called once per agent)."""
        raise NotImplementedError

    def _initial_state(self, options: Mapping[str, Any]) -> tuple[StateT, dict[str, Any]]:
        """Sample s1 ~ ν1 with ``self.np_random``; return it and the episode's ``extra`` data."""
        raise NotImplementedError

    def _check_action(self, agent: str, action: Any) -> ActionT:
        """Return ``action`` in canonical form or raise ``TypeError``/``ValueError``."""
        if not self.action_space(agent).contains(action):
            raise ValueError(
                f"action {action!r} for {agent} is not in its action space "
                f"{self.action_space(agent)}"
            )
        return action

    def _next_state(self, state: StateT, action: ActionT, episode: Episode[StateT]) -> StateT:
        """Sample s_{h+1} ~ f(·|s_h, a_h) for one player with ``self.np_random``."""
        raise NotImplementedError

    def _preferences(self, pairs: Sequence[tuple[StateT, ActionT, StateT, ActionT]]) -> np.ndarray:
        """Return P([s, a] ≻ [s', a']) for each ``(s, a, s', a')`` in ``pairs``, shape (n,)."""
        raise NotImplementedError

    def _observation(self, state: StateT, episode: Episode[StateT]) -> Any:
        """Return what a player sees of its own state."""
        raise NotImplementedError

    def _player_info(self, state: StateT, episode: Episode[StateT]) -> dict[str, Any]:
        """Return extra per-player infos (default: none)."""
        return {}

    def _ends_early(self, episode: Episode[StateT], actions: tuple[ActionT, ActionT]) -> bool:
        """Return True if playing ``actions`` from ``episode`` ends it before the horizon.

        Default: never. (A reasoning game ends once both players have given a final answer.)
        """
        return False

    # ------------------------------------------------------------------ PettingZoo API
    @property
    def np_random(self) -> np.random.Generator:
        """The env's random generator; every random draw of the game comes from it."""
        return self._np_random

    @property
    def episode(self) -> Episode[StateT]:
        """The current episode (read it, don't change it). Raises before the first ``reset``."""
        if self._episode is None:
            raise RuntimeError("the env has no episode yet: call reset() first")
        return self._episode

    def observation_space(self, agent: str) -> gymnasium.Space:
        """Return ``agent``'s observation space (the same object on every call)."""
        return self._observation_spaces[self._check_agent(agent)]

    def action_space(self, agent: str) -> gymnasium.Space:
        """Return ``agent``'s action space (the same object on every call)."""
        return self._action_spaces[self._check_agent(agent)]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Start an episode: both players get the same s1 ~ ν1.

        Args:
            seed: Seeds ``self.np_random`` (and so every later draw) when given.
            options: Game-specific options (see the subclass); unknown keys are ignored.
        """
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"options must be a dict or None, got {type(options).__name__}")
        if seed is not None:
            rng, used_seed = seeding.np_random(seed)
        else:
            rng, used_seed = self._np_random, self._np_random_seed
        saved = self._np_random
        self._np_random = rng
        try:
            s1, extra = self._initial_state(options or {})
        except Exception:
            self._np_random = saved
            raise
        self._np_random_seed = used_seed
        self._episode = Episode(s1=s1, states=(s1, copy.deepcopy(s1)), h=1, extra=extra)
        self.agents = list(AGENTS)
        return self._observations(), self._infos()

    def step(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Play one stage; returns ``(observations, rewards, terminations, truncations, infos)``.

        Raises:
            RuntimeError: The episode is over (or never started): call ``reset()``.
            ValueError / TypeError: An action is missing, unknown, or invalid; nothing changes.
        """
        return step_batch([self], [actions])[0]

    def render(self) -> str | None:
        """Return a text picture of both players' states when ``render_mode="ansi"``."""
        if self.render_mode is None:
            return None
        episode = self.episode
        return "\n".join(
            f"{agent} (h={episode.h}): {self._observation(state, episode)!r}"
            for agent, state in zip(AGENTS, episode.states, strict=True)
        )

    def close(self) -> None:
        """Release nothing: these envs hold no external resources."""

    # ------------------------------------------------------------------ branching
    def snapshot(self) -> Episode[StateT]:
        """Return a copy of the current episode, to :meth:`restore` later (a branch point)."""
        return copy.deepcopy(self.episode)

    def restore(
        self, snapshot: Episode[StateT]
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Return to a state saved by :meth:`snapshot`; the random stream is not rewound.

        Returns:
            ``(observations, infos)`` of the restored state, as ``reset`` returns them.
        """
        if not isinstance(snapshot, Episode):
            raise TypeError(
                f"restore() takes what snapshot() returned, got {type(snapshot).__name__}"
            )
        self._episode = copy.deepcopy(snapshot)
        self.agents = [] if snapshot.done else list(AGENTS)
        return self._observations(), self._infos()

    def __deepcopy__(self, memo: dict[int, Any]) -> PreferenceGameEnv[StateT, ActionT]:
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            shared = key in self._shared_attributes
            clone.__dict__[key] = value if shared else copy.deepcopy(value, memo)
        return clone

    # ------------------------------------------------------------------ two-phase step
    def plan_step(self, actions: Mapping[str, Any]) -> StepPlan[StateT, ActionT]:
        """Validate a joint action without changing anything (first half of :meth:`step`)."""
        if self._episode is None or self._episode.done:
            raise RuntimeError(
                "step() called on a finished or unstarted episode: call reset() first"
            )
        if not isinstance(actions, Mapping):
            raise TypeError(
                f"actions must be a dict {{agent: action}}, got {type(actions).__name__}"
            )
        missing = [a for a in self.agents if a not in actions]
        extra = [a for a in actions if a not in self.agents]
        if missing or extra:
            raise ValueError(
                f"actions must have exactly one entry per live agent {self.agents}; "
                f"missing {missing}, unexpected {extra}"
            )
        checked = tuple(self._check_action(agent, actions[agent]) for agent in AGENTS)
        ends = self._episode.h == self.horizon or self._ends_early(self._episode, checked)
        pays = self.reward_mode == "intermediate" or ends
        return StepPlan(actions=checked, pays_preference=pays, ends_episode=ends)  # type: ignore[arg-type]

    def apply_step(
        self, plan: StepPlan[StateT, ActionT], preference: float | None
    ) -> tuple[dict, dict, dict, dict, dict]:
        """Move both players and pay ``preference`` (second half of :meth:`step`)."""
        episode = self.episode
        if plan.pays_preference and preference is None:
            raise ValueError("this step pays a preference: pass P([s,a] ≻ [s',a'])")
        states = tuple(
            self._next_state(state, action, episode)
            for state, action in zip(episode.states, plan.actions, strict=True)
        )
        episode.states = states  # type: ignore[assignment]
        episode.h += 1
        episode.done = plan.ends_episode
        if plan.pays_preference:
            rewards = {"player_0": float(preference), "player_1": 1.0 - float(preference)}
        else:
            rewards = {"player_0": 0.0, "player_1": 0.0}
        observations, infos = self._observations(), self._infos()
        terminations = dict.fromkeys(AGENTS, episode.done)
        truncations = dict.fromkeys(AGENTS, False)
        if episode.done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def preference_pair(self, plan: StepPlan[StateT, ActionT]) -> tuple:
        """Return the ``(s, a, s', a')`` that ``plan`` is paid on (for batched oracles)."""
        s0, s1_ = self.episode.states
        return (s0, plan.actions[0], s1_, plan.actions[1])

    # ------------------------------------------------------------------ helpers

    def _observations(self) -> dict[str, Any]:
        episode = self.episode
        return {
            agent: self._observation(state, episode)
            for agent, state in zip(AGENTS, episode.states, strict=True)
        }

    def _infos(self) -> dict[str, dict[str, Any]]:
        episode = self.episode
        return {
            agent: {"h": episode.h, "s1": episode.s1, **self._player_info(state, episode)}
            for agent, state in zip(AGENTS, episode.states, strict=True)
        }

    def _check_agent(self, agent: str) -> str:
        if agent not in AGENTS:
            raise ValueError(f"unknown agent {agent!r}: the agents are {list(AGENTS)}")
        return agent


def _check_probabilities(values: Any, expected: int) -> np.ndarray:
    """Check that a preference model returned ``expected`` finite probabilities in [0, 1]."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.shape != (expected,):
        raise ValueError(
            f"the preference model returned {array.shape[0]} values for {expected} pairs"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"the preference model returned a non-finite probability {array.tolist()}; "
            "check the model (NaN/inf logits) — the env was left unchanged"
        )
    if np.any(array < 0.0) or np.any(array > 1.0):
        raise ValueError(f"preference probabilities must lie in [0, 1], got {array.tolist()}")
    return array


def step_batch(
    envs: Sequence[PreferenceGameEnv], actions: Sequence[Mapping[str, Any]]
) -> list[tuple[dict, dict, dict, dict, dict]]:
    """Step several envs that share one preference model with a single batched model call.

    All joint actions are validated first; if any is invalid, or the model fails, no env changes.
    The preference model of ``envs[0]`` scores every pair (paper Alg. 2 needs one batch per stage),
    so every env must be of the same class and share its preference model.
    """
    if len(envs) != len(actions):
        raise ValueError(f"got {len(envs)} envs but {len(actions)} joint actions")
    if not envs:
        return []
    first, model = envs[0], envs[0]._preference_model_attribute
    for i, env in enumerate(envs):
        if type(env) is not type(first) or (
            model is not None and getattr(env, model) is not getattr(first, model)
        ):
            raise ValueError(
                f"step_batch needs envs of one class sharing one preference model, but envs[{i}] "
                f"({type(env).__name__}) differs from envs[0] ({type(first).__name__}); "
                "branch them from one env with snapshot()/restore() or copy.deepcopy"
            )
    plans = [env.plan_step(joint) for env, joint in zip(envs, actions, strict=True)]
    paying = [i for i, plan in enumerate(plans) if plan.pays_preference]
    preferences: list[float | None] = [None] * len(envs)
    if paying:
        pairs = [envs[i].preference_pair(plans[i]) for i in paying]
        values = _check_probabilities(envs[0]._preferences(pairs), len(pairs))
        for i, value in zip(paying, values, strict=True):
            preferences[i] = float(value)
    return [
        env.apply_step(plan, preference)
        for env, plan, preference in zip(envs, plans, preferences, strict=True)
    ]
