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

Every state-changing call (:meth:`~PreferenceGameEnv.reset`, :meth:`~PreferenceGameEnv.step`,
:meth:`~PreferenceGameEnv.restore`, :func:`step_batch`, :func:`reset_batch`) is a transaction: it
validates all of its input and computes the whole new state (new episodes, observations, infos)
first, and only then changes the envs, with assignments that cannot fail. If anything raises, the
random generators are put back as they were and no env has changed.
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

from ompo_envs.core.validation import real_array

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
class SnapshotOwner:
    """What a snapshot belongs to: the env class, its horizon, reward mode and spaces.

    A snapshot can be restored into any env with the same owner: the env it came from, its
    copies and branches, or a twin made with the same arguments.

    Attributes:
        env_class: The env's class, ``module.QualifiedName``.
        horizon: H of the env.
        reward_mode: The env's reward mode.
        observation_space: ``repr`` of one player's observation space.
        action_space: ``repr`` of one player's action space.
    """

    env_class: str
    horizon: int
    reward_mode: str
    observation_space: str
    action_space: str

    def describe(self) -> str:
        """Return a one-line description for error messages."""
        return (
            f"{self.env_class} (H={self.horizon}, {self.reward_mode} rewards, observations "
            f"{self.observation_space}, actions {self.action_space})"
        )


@dataclass(kw_only=True)
class Snapshot(Episode[StateT]):
    """A copy of an episode, saved by :meth:`PreferenceGameEnv.snapshot`, with its owner.

    Attributes:
        owner: What the snapshot belongs to; :meth:`PreferenceGameEnv.restore` refuses a snapshot
            whose owner differs from the env's.
    """

    owner: SnapshotOwner


@dataclass(frozen=True)
class StepPlan(Generic[StateT, ActionT]):
    """A validated joint action, before anything in the env has changed (see :func:`step_batch`).

    Attributes:
        actions: The two actions in canonical form.
        pays_preference: Whether this step pays P([s,a] ≻ [s',a']).
        ends_episode: Whether this step ends the episode.
        episode: The episode the plan was made for; :meth:`PreferenceGameEnv.apply_step`
            refuses a plan made for another episode (or before a ``reset``/``restore``).
    """

    actions: tuple[ActionT, ActionT]
    pays_preference: bool
    ends_episode: bool
    episode: Episode[StateT] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class _Outcome(Generic[StateT]):
    """A computed but not yet applied new state of one env (the second phase of a transaction)."""

    episode: Episode[StateT]
    observations: dict[str, Any]
    infos: dict[str, dict[str, Any]]
    rewards: dict[str, float] | None = None
    generator: np.random.Generator | None = None
    seed: int | None = None


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

    def _check_snapshot(self, episode: Episode[StateT]) -> None:
        """Raise ``ValueError`` if ``episode`` (from a snapshot) is not a legal state of this game.

        Called by :meth:`restore` after the generic checks (owner, stage, ``done``) and before
        the episode's observations and infos are computed (those must also succeed, and the
        observations must lie in the observation space); any other exception it raises is
        reported as a ``ValueError`` too. Default: nothing more to check.
        """

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
            seed: Seeds ``self.np_random`` (and so every later draw) when given: an integer >= 0.
            options: Game-specific options (see the subclass); unknown keys are ignored.

        Raises:
            TypeError / ValueError: A bad seed or option; the env (and its random stream) is
                left as it was.
        """
        return reset_batch([self], seed=[_check_seed(seed)], options=[options])[0]

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
    def snapshot(self) -> Snapshot[StateT]:
        """Return a copy of the current episode, to :meth:`restore` later (a branch point).

        The snapshot records its :class:`SnapshotOwner`; it can be restored into this env, its
        copies, or any env of the same class, horizon, reward mode and spaces.
        """
        episode = copy.deepcopy(self.episode)
        return Snapshot(
            s1=episode.s1,
            states=episode.states,
            h=episode.h,
            done=episode.done,
            extra=episode.extra,
            owner=self.snapshot_owner(),
        )

    def snapshot_owner(self) -> SnapshotOwner:
        """Return what this env's snapshots belong to (see :class:`SnapshotOwner`)."""
        cls = type(self)
        return SnapshotOwner(
            env_class=f"{cls.__module__}.{cls.__qualname__}",
            horizon=self.horizon,
            reward_mode=self.reward_mode,
            observation_space=repr(self._observation_spaces[AGENTS[0]]),
            action_space=repr(self._action_spaces[AGENTS[0]]),
        )

    def restore(
        self, snapshot: Snapshot[StateT]
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Return to a state saved by :meth:`snapshot`; the random stream is not rewound.

        The snapshot is checked completely before the env changes: its owner must be this env's
        (same class, horizon, reward mode and spaces), its stage must lie in 1..H+1 (H+1 only
        for a finished episode), and its states must give observations in the observation
        space. The env keeps its own copy, so the snapshot can be restored again.

        Returns:
            ``(observations, infos)`` of the restored state, as ``reset`` returns them.

        Raises:
            TypeError: ``snapshot`` is not what :meth:`snapshot` returned.
            ValueError: The snapshot belongs to another env, or was edited into a state this
                game cannot be in; the env is left as it was.
        """
        if not isinstance(snapshot, Snapshot):
            raise TypeError(
                "restore() takes what snapshot() returned (a Snapshot), got "
                f"{type(snapshot).__name__}"
            )
        owner = self.snapshot_owner()
        if snapshot.owner != owner:
            raise ValueError(
                f"this snapshot belongs to {snapshot.owner.describe()}, not to this env, "
                f"{owner.describe()}; restore a snapshot into the env it came from or a copy of it"
            )
        episode = copy.deepcopy(
            Episode(
                s1=snapshot.s1,
                states=snapshot.states,
                h=snapshot.h,
                done=snapshot.done,
                extra=snapshot.extra,
            )
        )
        self._check_episode(episode)
        try:
            self._check_snapshot(episode)
            observations, infos = self._observations(episode), self._infos(episode)
        except ValueError:
            raise
        except Exception as error:
            raise ValueError(
                f"this snapshot does not hold a state of {type(self).__name__}: computing its "
                f"observations failed with {type(error).__name__}: {error}"
            ) from error
        for agent, observation in observations.items():
            if not self._observation_spaces[agent].contains(observation):
                raise ValueError(
                    f"this snapshot does not hold a state of {type(self).__name__}: {agent}'s "
                    f"observation {observation!r:.80} is not in {self._observation_spaces[agent]}"
                )
        self._commit(_Outcome(episode=episode, observations=observations, infos=infos))
        return observations, infos

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
        return StepPlan(
            actions=checked,  # type: ignore[arg-type]
            pays_preference=pays,
            ends_episode=ends,
            episode=self._episode,
        )

    def apply_step(
        self, plan: StepPlan[StateT, ActionT], preference: float | None
    ) -> tuple[dict, dict, dict, dict, dict]:
        """Move both players and pay ``preference`` (second half of :meth:`step`).

        Raises:
            RuntimeError: ``plan`` was not made by :meth:`plan_step` for the current episode.
            ValueError: The step pays a preference and ``preference`` is not a probability.
        """
        if not isinstance(plan, StepPlan) or plan.episode is None:
            raise TypeError(f"plan must come from plan_step(), got {type(plan).__name__}")
        if plan.episode is not self._episode or plan.episode.done:
            raise RuntimeError(
                "this plan was made for another episode (the env was stepped, reset or restored "
                "since): call plan_step() again"
            )
        if plan.pays_preference:
            if preference is None:
                raise ValueError("this step pays a preference: pass P([s,a] ≻ [s',a'])")
            preference = float(_check_probabilities([preference], 1)[0])
        generators = _save_generators([self])
        try:
            outcome = self._transition(plan, preference)
        except BaseException:
            _restore_generators(generators)
            raise
        return self._commit(outcome)

    def preference_pair(self, plan: StepPlan[StateT, ActionT]) -> tuple:
        """Return the ``(s, a, s', a')`` that ``plan`` is paid on (for batched oracles)."""
        s0, s1_ = self.episode.states
        return (s0, plan.actions[0], s1_, plan.actions[1])

    # ------------------------------------------------------------------ transactions
    def _transition(
        self, plan: StepPlan[StateT, ActionT], preference: float | None
    ) -> _Outcome[StateT]:
        """Compute the state after ``plan`` without changing the env (draws do advance the RNG)."""
        episode = self.episode
        states = tuple(
            self._next_state(state, action, episode)
            for state, action in zip(episode.states, plan.actions, strict=True)
        )
        after = Episode(
            s1=episode.s1,
            states=states,  # type: ignore[arg-type]
            h=episode.h + 1,
            done=plan.ends_episode,
            extra=episode.extra,
        )
        if plan.pays_preference:
            rewards = {"player_0": float(preference), "player_1": 1.0 - float(preference)}  # type: ignore[arg-type]
        else:
            rewards = {"player_0": 0.0, "player_1": 0.0}
        return _Outcome(
            episode=after,
            observations=self._observations(after),
            infos=self._infos(after),
            rewards=rewards,
        )

    def _initial_outcome(self, seed: int | None, options: Mapping[str, Any]) -> _Outcome[StateT]:
        """Compute a fresh episode without changing the env (draws advance the RNG they use)."""
        if seed is None:
            generator, used_seed = self._np_random, self._np_random_seed
        else:
            generator, used_seed = seeding.np_random(seed)
        current = self._np_random
        self._np_random = generator  # _initial_state draws from self.np_random
        try:
            s1, extra = self._initial_state(options)
            episode = Episode(s1=s1, states=(s1, copy.deepcopy(s1)), h=1, extra=extra)
            return _Outcome(
                episode=episode,
                observations=self._observations(episode),
                infos=self._infos(episode),
                generator=generator,
                seed=used_seed,
            )
        finally:
            self._np_random = current

    def _commit(self, outcome: _Outcome[StateT]) -> Any:
        """Apply a computed outcome (assignments only: nothing here can fail)."""
        self._episode = outcome.episode
        self.agents = [] if outcome.episode.done else list(AGENTS)
        if outcome.generator is not None:
            self._np_random, self._np_random_seed = outcome.generator, outcome.seed
        if outcome.rewards is None:
            return outcome.observations, outcome.infos
        done = outcome.episode.done
        terminations = dict.fromkeys(AGENTS, done)
        truncations = dict.fromkeys(AGENTS, False)
        return outcome.observations, outcome.rewards, terminations, truncations, outcome.infos

    def _check_episode(self, episode: Episode[StateT]) -> None:
        """Check the generic fields of a restored episode (states, stage, done, extra)."""
        if not isinstance(episode.states, tuple) or len(episode.states) != 2:
            raise ValueError(f"a snapshot holds two states, got {episode.states!r:.80}")
        h = episode.h
        if isinstance(h, bool) or not isinstance(h, int | np.integer):
            raise ValueError(f"a snapshot's stage h must be an integer, got {h!r}")
        if not isinstance(episode.done, bool | np.bool_):
            raise ValueError(f"a snapshot's done must be a bool, got {episode.done!r}")
        if not 1 <= h <= self.horizon + 1:
            raise ValueError(
                f"a snapshot's stage h={h} is outside 1..{self.horizon + 1} for this env "
                f"(H={self.horizon})"
            )
        if h == self.horizon + 1 and not episode.done:
            raise ValueError(f"a snapshot at h={h} = H + 1 must be a finished episode")
        if h == 1 and episode.done:
            raise ValueError("a snapshot at h=1 cannot be finished: an episode ends after a step")
        if not isinstance(episode.extra, dict):
            raise ValueError(f"a snapshot's extra must be a dict, got {type(episode.extra)}")
        episode.h, episode.done = int(h), bool(episode.done)

    # ------------------------------------------------------------------ helpers

    def _observations(self, episode: Episode[StateT]) -> dict[str, Any]:
        return {
            agent: self._observation(state, episode)
            for agent, state in zip(AGENTS, episode.states, strict=True)
        }

    def _infos(self, episode: Episode[StateT]) -> dict[str, dict[str, Any]]:
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
    try:
        array = real_array(values, "preferences").reshape(-1)
    except TypeError as error:
        raise ValueError(f"the preference model returned {values!r:.80}: {error}") from error
    except ValueError as error:  # NaN or inf
        raise ValueError(
            f"the preference model returned a non-finite probability {values!r:.120}; "
            "check the model (NaN/inf logits) — the env was left unchanged"
        ) from error
    if array.shape != (expected,):
        raise ValueError(
            f"the preference model returned {array.shape[0]} values for {expected} pairs"
        )
    if np.any(array < 0.0) or np.any(array > 1.0):
        raise ValueError(f"preference probabilities must lie in [0, 1], got {array.tolist()}")
    return array


def _check_envs(envs: Any, what: str) -> list[PreferenceGameEnv]:
    """Return ``envs`` as a list of distinct preference-game envs, or raise a clear error."""
    if isinstance(envs, str | Mapping) or not isinstance(envs, Sequence):
        raise TypeError(f"{what} takes a list of envs, got {type(envs).__name__}")
    envs = list(envs)
    seen: dict[int, int] = {}
    for i, env in enumerate(envs):
        if not isinstance(env, PreferenceGameEnv):
            raise TypeError(f"envs[{i}] is a {type(env).__name__}, not a preference-game env")
        if id(env) in seen:
            raise ValueError(
                f"envs[{seen[id(env)]}] and envs[{i}] are the same env object; {what} changes "
                "each env once per call: pass distinct envs (branch copies with "
                "snapshot()/restore() or copy.deepcopy)"
            )
        seen[id(env)] = i
    return envs


def _check_per_env(values: Any, count: int, name: str) -> list[Any]:
    if isinstance(values, str | Mapping) or not isinstance(values, Sequence):
        raise TypeError(
            f"{name} must be a list with one entry per env, got {type(values).__name__}"
        )
    values = list(values)
    if len(values) != count:
        raise ValueError(f"got {count} envs but {len(values)} {name}")
    return values


def _check_seed(seed: Any, name: str = "seed") -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"{name} must be an integer >= 0 or None, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be >= 0, got {seed}")
    return int(seed)


def _save_generators(envs: Sequence[PreferenceGameEnv]) -> list[tuple[np.random.Generator, Any]]:
    generators = {id(env._np_random): env._np_random for env in envs}
    return [(g, copy.deepcopy(g.bit_generator.state)) for g in generators.values()]


def _restore_generators(saved: list[tuple[np.random.Generator, Any]]) -> None:
    for generator, state in saved:
        generator.bit_generator.state = state


def step_batch(
    envs: Sequence[PreferenceGameEnv], actions: Sequence[Mapping[str, Any]]
) -> list[tuple[dict, dict, dict, dict, dict]]:
    """Step several envs that share one preference model with a single batched model call.

    All joint actions are validated first; if any is invalid, or the model fails, no env changes.
    The preference model of ``envs[0]`` scores every pair (paper Alg. 2 needs one batch per stage),
    so every env must be of the same class and share its preference model, and each env may
    appear once.

    Raises:
        TypeError / ValueError / RuntimeError: Bad envs or actions, an env listed twice, a
            finished episode, or a preference model that failed; no env has changed.
    """
    envs = _check_envs(envs, "step_batch")
    actions = _check_per_env(actions, len(envs), "joint actions")
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
    generators = _save_generators(envs)
    try:
        outcomes = [
            env._transition(plan, preference)
            for env, plan, preference in zip(envs, plans, preferences, strict=True)
        ]
    except BaseException:
        _restore_generators(generators)
        raise
    return [env._commit(outcome) for env, outcome in zip(envs, outcomes, strict=True)]


def reset_batch(
    envs: Sequence[PreferenceGameEnv],
    seed: int | Sequence[int | None] | None = None,
    options: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None = None,
) -> list[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
    """Reset several envs at once: all of them, or (if any seed or option is bad) none.

    Args:
        envs: Distinct envs (of any classes).
        seed: ``None``, one seed per env, or one base seed ``b``: env i then gets ``b + i``.
        options: One options dict for all envs, or a list with one (or ``None``) per env.

    Returns:
        One ``(observations, infos)`` per env, as ``reset`` returns them.

    Raises:
        TypeError / ValueError: A bad seed or option for any env; no env (and no random stream)
            has changed.
    """
    envs = _check_envs(envs, "reset_batch")
    if seed is None or isinstance(seed, int | np.integer):
        base = _check_seed(seed)
        seeds = [None if base is None else base + i for i in range(len(envs))]
    else:
        seeds = [
            _check_seed(value, f"seed[{i}]")
            for i, value in enumerate(_check_per_env(seed, len(envs), "seeds"))
        ]
    if options is None or isinstance(options, Mapping):
        per_env = [options] * len(envs)
    else:
        per_env = _check_per_env(options, len(envs), "options")
    for i, value in enumerate(per_env):
        if value is not None and not isinstance(value, Mapping):
            where = "options" if len(envs) == 1 else f"options[{i}]"
            raise TypeError(f"{where} must be a dict or None, got {type(value).__name__}")
    generators = _save_generators(envs)
    try:
        outcomes = [
            env._initial_outcome(s, opts or {})
            for env, s, opts in zip(envs, seeds, per_env, strict=True)
        ]
    except BaseException:
        _restore_generators(generators)
        raise
    return [env._commit(outcome) for env, outcome in zip(envs, outcomes, strict=True)]
