"""Generation and judging for the LM solvers, through the env API only.

Everything here talks to the env by ``reset`` / ``step`` / ``snapshot``-``restore`` (episodes
run in the :class:`~solvers.sampled.estimation.BranchingSampler`, single comparisons in a pool
of env copies stepped together, one batched oracle call per step). Nothing reads a game model.

* **Root episodes** — ``num_prompts`` episodes of (π^t, π^t) from s1 ~ ν1, recorded at every
  stage; each player's recorded states and answers form a :class:`Trajectory`.
* **Step groups** (Alg. 2 / Alg. 4) — at every stage h of a root's player_0 trajectory, K answers
  of π^t to the same S_h (one batched generation call for all states). They are K i.i.d. draws
  of π^t(·|S_h), like the paper's main answer plus K − 1 more.
* **One-step comparisons** — P([s, a] ≻ [s, a']) for two answers to the *same* state: player_1 is
  put in player_0's state (a legal stage-h state of the same s1) and the env steps once.
  Pairs alike by the env's preference keys (:meth:`~ompo_envs.text.TextPreferenceGameEnv.
  preference_key`: identical pairs, or in a class-level game the same state index and answer
  classes) are stepped once per call and the rest looked up (the env's preference is a
  probability, a function of the pair).
* **Conversation comparisons** — two trajectories from the same s1, stage by stage: at stage τ
  the two players are put in the trajectories' stage-τ states and play their stage-τ answers;
  the env pays what it would have paid had they met (0 at unpaid stages, ½ at a stage where
  either trajectory has already ended, the paper's App. H convention).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.core import step_batch
from ompo_envs.text.base import TextPreferenceGameEnv
from solvers.sampled.estimation import MAX_BATCH, BranchingSampler, SavedPoint

__all__ = [
    "AGENTS",
    "ComparisonPool",
    "PlayerPoint",
    "RecordingPolicy",
    "StepGroup",
    "Trajectory",
    "joint_point",
    "record_trajectories",
    "sample_step_groups",
]

AGENTS = ("player_0", "player_1")


@dataclass(frozen=True)
class PlayerPoint:
    """One player's state at one stage of a recorded episode.

    Attributes:
        point: The episode snapshot at stage h (both players' states).
        seat: Which player (0 or 1) this is.
    """

    point: SavedPoint
    seat: int

    @property
    def agent(self) -> str:
        """``"player_0"`` or ``"player_1"``."""
        return AGENTS[self.seat]

    @property
    def state(self) -> Any:
        """The player's state s_h (a frozen :class:`~ompo_envs.text.TextState`)."""
        return self.point.episode.states[self.seat]

    @property
    def info(self) -> Mapping[str, Any]:
        """The player's ``infos`` entry at this point."""
        return self.point.infos[self.agent]

    @property
    def observation(self) -> Any:
        """The player's observation at this point."""
        return self.point.observations[self.agent]

    @property
    def stage(self) -> int:
        """h, 1-based."""
        return int(self.point.episode.h)


@dataclass(frozen=True)
class Trajectory:
    """One player's whole episode: its state and answer at every stage.

    Attributes:
        root: Index of the initial state s1 it started from (trajectories with the same root
            share s1).
        steps: ``(PlayerPoint, answer)`` for h = 1, 2, ...
    """

    root: int
    steps: tuple[tuple[PlayerPoint, str], ...]


@dataclass(frozen=True)
class StepGroup:
    """K answers of π^t sampled at one player state.

    Attributes:
        at: The state S_h.
        answers: The K answers.
        root: Index of the root episode the state comes from.
    """

    at: PlayerPoint
    answers: tuple[str, ...]
    root: int


class StageClock:
    """Accumulates wall time per stage name (generation, oracle, scoring, optimiser)."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to stage ``name``."""
        self.seconds[name] += seconds


class RecordingPolicy:
    """A policy wrapper that times every sampling call and remembers each answer by its info.

    The sampler hands a policy the very ``infos[agent]`` dict it stores in the recorded
    :class:`SavedPoint`, so the answer given at a recorded point is looked up by that dict's
    identity (:meth:`answer_at`). The dicts are kept alive while the wrapper lives.
    """

    def __init__(self, policy: Any, clock: StageClock) -> None:
        self.policy = policy
        self.clock = clock
        self._answers: dict[int, Any] = {}
        self._alive: list[Any] = []

    def sample(self, observation: Any, info: Mapping[str, Any], rng: np.random.Generator) -> Any:
        """Sample through the wrapped policy; remember and time it."""
        return self.sample_batch([observation], [info], rng)[0]

    def sample_batch(
        self,
        observations: Sequence[Any],
        infos: Sequence[Mapping[str, Any]],
        rng: np.random.Generator,
    ) -> list[Any]:
        """Sample one answer per observation (one call of the wrapped policy's batch method)."""
        start = time.perf_counter()
        batch = getattr(self.policy, "sample_batch", None)
        if callable(batch):
            answers = list(batch(observations, infos, rng))
        else:
            answers = [
                self.policy.sample(o, i, rng) for o, i in zip(observations, infos, strict=True)
            ]
        self.clock.add("generation", time.perf_counter() - start)
        for info, answer in zip(infos, answers, strict=True):
            self._answers[id(info)] = answer
            self._alive.append(info)
        return answers

    def answer_at(self, player: PlayerPoint) -> Any:
        """Return the answer this policy gave at a recorded point.

        Raises:
            KeyError: This policy never answered there.
        """
        key = id(player.point.infos[player.agent])
        if key not in self._answers:
            raise KeyError(f"no answer recorded for {player.agent} at stage {player.stage}")
        return self._answers[key]


def record_trajectories(
    sampler: BranchingSampler,
    starts: Sequence[SavedPoint | None],
    roots: Sequence[int],
    player_0: RecordingPolicy,
    player_1: RecordingPolicy,
    clock: StageClock,
) -> tuple[list[Trajectory], list[SavedPoint]]:
    """Play one episode per start (``None`` = reset), recording both players' trajectories.

    Returns:
        ``(trajectories, first_points)``: two trajectories per episode (player_0's, then
        player_1's) and each episode's stage-1 point (its s1, to start more episodes from).
    """
    start = time.perf_counter()
    generated_before = clock.seconds["generation"]
    n = len(starts)
    _, points = sampler.play(list(starts), [player_0] * n, [player_1] * n, record=True)
    elapsed = time.perf_counter() - start
    clock.add("oracle", elapsed - (clock.seconds["generation"] - generated_before))
    trajectories = []
    for root, recorded in zip(roots, points, strict=True):
        for seat, policy in enumerate((player_0, player_1)):
            steps = []
            for point in recorded:
                at = PlayerPoint(point, seat)
                steps.append((at, policy.answer_at(at)))
            trajectories.append(Trajectory(root=root, steps=tuple(steps)))
    return trajectories, [recorded[0] for recorded in points]


def sample_step_groups(
    policy: Any,
    states: Sequence[tuple[PlayerPoint, int]],
    k: int,
    rng: np.random.Generator,
    clock: StageClock,
) -> list[StepGroup]:
    """Return K answers of ``policy`` at each state, from one batched generation call.

    Args:
        policy: An :class:`~ompo_envs.lm.LMPolicy` (its ``generate``) or any policy with
            ``sample_batch``.
        states: ``(state, root index)`` pairs.
        k: Answers per state.
        rng: Seeds the generation.
        clock: Receives the generation time.
    """
    if not states:
        return []
    start = time.perf_counter()
    generate = getattr(policy, "generate", None)
    if callable(generate):
        conversations = [at.info["messages"] for at, _ in states]
        completions = generate(conversations, k, rng)
        answers = [[c.text for c in row] for row in completions]
    else:
        flat_obs = [at.observation for at, _ in states for _ in range(k)]
        flat_info = [at.info for at, _ in states for _ in range(k)]
        drawn = RecordingPolicy(policy, StageClock()).sample_batch(flat_obs, flat_info, rng)
        answers = [drawn[i * k : (i + 1) * k] for i in range(len(states))]
    clock.add("generation", time.perf_counter() - start)
    return [
        StepGroup(at=at, answers=tuple(row), root=root)
        for (at, root), row in zip(states, answers, strict=True)
    ]


def joint_point(first: PlayerPoint, second: PlayerPoint) -> SavedPoint:
    """Return the stage-h point with ``first``'s state as player_0 and ``second``'s as player_1.

    Both must be live states at the same stage of episodes with the same s1 (the players' states
    are independent given s1, so the pair is a legal state of the game).

    Raises:
        ValueError: Different stages or initial states, or a finished episode.
    """
    a, b = first.point.episode, second.point.episode
    if a.h != b.h or a.done or b.done:
        raise ValueError(
            f"can only pair live states of the same stage, got h={a.h} (done={a.done}) and "
            f"h={b.h} (done={b.done})"
        )
    if a.s1 is not b.s1 and not _equal(a.s1, b.s1):
        raise ValueError("can only pair states of episodes with the same initial state s1")
    episode = dataclasses.replace(a, states=(first.state, second.state))
    return SavedPoint(
        episode=episode,
        observations={"player_0": first.observation, "player_1": second.observation},
        infos={"player_0": dict(first.info), "player_1": dict(second.info)},
    )


def _equal(x: Any, y: Any) -> bool:
    result = x == y
    return bool(np.all(result)) if isinstance(result, np.ndarray) else bool(result)


class ComparisonPool:
    """Env copies that score (state, answer) pairs with one step each, batched.

    Args:
        env: The text env (a template; copies share its oracle).
        clock: Receives the time of every comparison step as ``"oracle"``.
    """

    def __init__(self, env: TextPreferenceGameEnv, clock: StageClock) -> None:
        self.template = env
        self.clock = clock
        self._envs: list[TextPreferenceGameEnv] = []
        self.num_queries = 0

    def key(self, at: PlayerPoint, answer: Any) -> Hashable:
        """(h, the env's :meth:`~ompo_envs.text.TextPreferenceGameEnv.preference_key`).

        Two (state, answer) pairs of one stage with the same key are paid alike against any
        other pair, so :meth:`compare` steps the env once per distinct pair of keys.
        """
        return (at.stage, self.template.preference_key(at.state, answer))

    def compare(self, pairs: Sequence[tuple[PlayerPoint, Any, PlayerPoint, Any]]) -> np.ndarray:
        """Return player_0's reward for each ``(state, answer, state', answer')``, shape (n,).

        Pairs whose two states are at different stages or episodes that have ended get ½.
        Pairs alike by the env's preference keys (:meth:`key`; by default: the same states and
        answers) are stepped once, a representative each; the others in batches of
        ``MAX_BATCH`` env copies, one batched oracle call each.
        """
        import copy

        start = time.perf_counter()
        out = np.full(len(pairs), 0.5)
        distinct: dict[Hashable, int] = {}
        keys: dict[tuple[int, Any], Hashable] = {}  # (id(point), answer) -> key, this call
        rows: list[tuple[int, int]] = []
        jobs: list[tuple[SavedPoint, dict[str, Any]]] = []
        for i, (first, answer, second, answer_2) in enumerate(pairs):
            if first.point.episode.done or second.point.episode.done:
                continue
            ends = []
            for at, said in ((first, answer), (second, answer_2)):
                memo = (id(at), said)
                if memo not in keys:
                    keys[memo] = self.key(at, said)
                ends.append(keys[memo])
            pair_key = tuple(ends)
            if pair_key not in distinct:
                distinct[pair_key] = len(jobs)
                jobs.append(
                    (joint_point(first, second), {"player_0": answer, "player_1": answer_2})
                )
            rows.append((i, distinct[pair_key]))
        if jobs:
            values = np.empty(len(jobs))
            for lo in range(0, len(jobs), MAX_BATCH):
                chunk = jobs[lo : lo + MAX_BATCH]
                while len(self._envs) < len(chunk):
                    self._envs.append(copy.deepcopy(self.template))
                envs = self._envs[: len(chunk)]
                for env, (point, _) in zip(envs, chunk, strict=True):
                    env.restore(point.episode)
                results = step_batch(envs, [joint for _, joint in chunk])
                values[lo : lo + len(chunk)] = [result[1]["player_0"] for result in results]
            self.num_queries += len(jobs)
            for i, job in rows:
                out[i] = values[job]
        self.clock.add("oracle", time.perf_counter() - start)
        return out
