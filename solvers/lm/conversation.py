r"""Conversation-level LM solvers (iterative SPPO and DPO): K complete conversations per prompt.

As the paper's baselines (§4.2): from each sampled s1, K complete conversations of π^t (self-play
episodes; each gives two, player_0's and player_1's). Conversations from the same s1 are pooled,
and every pair is compared through the env, stage by stage (:mod:`solvers.lm.rollouts`): the
payoff of y against y' is the game's total reward Σ_τ r_τ(y, y') normalised by the number W of
paid stages (H with intermediate rewards, 1 with terminal ones), a preference in [0, 1]. The win
rate of y is

    P̂(y ≻ π^t) = (1/(n − 1)) Σ_{y' ≠ y} payoff(y, y') / W,

over the n − 1 other conversations of its pool (unbiased; the SPPO code also counts y against
itself, which shrinks every win rate towards ½ by (n − 1)/n). A conversation's log-probability is
the sum of its answers' log-probabilities given their own states (user turns are the env's, not
the policy's). Conversations alike at every stage by the env's preference keys (in a
class-level game: the same state indices and answer classes) are compared once and looked up
after, so a class-matrix game costs a table lookup per pair of conversations, not an env step per
stage. Conversations of one pool must have the same length (episodes that end early, as
in the reasoning games, are not supported here; use the step-level solvers there).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from ompo_envs.lm.prompting import messages_key
from solvers.lm.base import LMSolver
from solvers.lm.records import Response, Segment
from solvers.lm.rollouts import Trajectory, record_trajectories
from solvers.sampled.estimation import SavedPoint

__all__ = ["ConversationRollouts", "ConversationSolver"]


@dataclass(frozen=True)
class ConversationRollouts:
    """What :meth:`ConversationSolver.generate` returns.

    Attributes:
        groups: K complete conversations per prompt (all from that prompt's s1).
        roots: Each prompt's stage-1 point, by root index.
    """

    groups: list[list[Trajectory]]
    roots: dict[int, SavedPoint]

    @classmethod
    def concatenate(cls, parts: Sequence[ConversationRollouts]) -> ConversationRollouts:
        """Join the rollouts of disjoint root subsets (``generate(roots=...)``), in order."""
        return cls(
            groups=[g for part in parts for g in part.groups],
            roots={r: p for part in parts for r, p in part.roots.items()},
        )


def conversation_key(trajectory: Trajectory) -> Hashable:
    """The identity of a conversation: its (state, answer) at every stage."""
    return tuple((at.state, answer) for at, answer in trajectory.steps)


def response_of(trajectory: Trajectory) -> Response:
    """The conversation as a response: one segment (state, answer) per stage."""
    return tuple(
        Segment(messages_key(at.info["messages"]), answer) for at, answer in trajectory.steps
    )


class ConversationSolver(LMSolver):
    """Shared generation and win rates of SPPO and DPO (module docstring)."""

    def generate(
        self, roots: Sequence[int] | None = None, *, rng: np.random.Generator | None = None
    ) -> ConversationRollouts:
        """K conversations of π^t from each of ``num_prompts`` initial states.

        ``roots`` / ``rng``: a subset of the prompts, drawn from ``rng``
        (:meth:`LMSolver.generate`).
        """
        indices = self._root_indices(roots)
        n, k = len(indices), self.config.num_samples
        with self.random_source(rng):
            current = self._recording(self._policy)
            trajectories, points = record_trajectories(
                self.sampler, [None] * n, indices, current, current, self.clock
            )
            extra = (k + 1) // 2 - 1
            if extra:
                more, _ = record_trajectories(
                    self.sampler,
                    [points[i] for i in range(n) for _ in range(extra)],
                    [indices[i] for i in range(n) for _ in range(extra)],
                    current,
                    current,
                    self.clock,
                )
                trajectories += more
        position = {root: i for i, root in enumerate(indices)}
        groups: list[list[Trajectory]] = [[] for _ in range(n)]
        for trajectory in trajectories:
            group = groups[position[trajectory.root]]
            if len(group) < k:
                group.append(trajectory)
        return ConversationRollouts(groups=groups, roots=dict(zip(indices, points, strict=True)))

    def win_rates(self, rollouts: ConversationRollouts) -> dict[Hashable, float]:
        """P̂(y ≻ π^t) of every distinct conversation, pooled over prompts with the same s1."""
        # Conversations are numbered once: their keys (tuples of whole states) are slow to hash,
        # and the loops below touch every pair of a pool.
        number: dict[Hashable, int] = {}
        examples: dict[Hashable, Trajectory] = {}
        pools: dict[Hashable, Counter] = {}
        for group in rollouts.groups:
            for trajectory in group:
                key = conversation_key(trajectory)
                if key not in number:
                    number[key] = len(number)
                    examples[key] = trajectory
                pools.setdefault(trajectory.steps[0][0].state, Counter())[number[key]] += 1
        keys = list(number)
        steps = [examples[key].steps for key in keys]
        # Conversations alike stage by stage (the env's preference keys, ComparisonPool.key)
        # are paid alike: each ordered pair of signatures is compared once, through a
        # representative pair of conversations, and the other pairs look the payoff up.
        signature_number: dict[Hashable, int] = {}
        signature = [
            signature_number.setdefault(
                tuple(self.comparisons.key(at, answer) for at, answer in trajectory),
                len(signature_number),
            )
            for trajectory in steps
        ]
        representatives: dict[tuple[int, int], tuple[int, int]] = {}
        owners: list[tuple[int, int]] = []
        for pool in pools.values():
            distinct = list(pool)
            lengths = {len(steps[i]) for i in distinct}
            if len(lengths) > 1:
                raise ValueError(
                    "conversations from one s1 have different lengths (the env ended some episodes "
                    "early); SPPO/DPO compare whole conversations of one length — use a step-level "
                    "solver (OMPO, MPO, Step-DPO) in this env"
                )
            for i, a in enumerate(distinct):
                for b in distinct[i + 1 :]:
                    representatives.setdefault((signature[a], signature[b]), (a, b))
                    owners.append((a, b))
        pairs, compared = [], []
        for signatures, (a, b) in representatives.items():
            for (at_a, answer_a), (at_b, answer_b) in zip(steps[a], steps[b], strict=True):
                pairs.append((at_a, answer_a, at_b, answer_b))
                compared.append(signatures)
        values = self.comparisons.compare(pairs)
        by_signature: Counter = Counter()
        for signatures, value in zip(compared, values, strict=True):
            by_signature[signatures] += float(value)
        payoff = {(a, b): by_signature[signature[a], signature[b]] for a, b in owners}
        paid = 1.0 if self.env.reward_mode == "terminal" else float(self.env.horizon)
        rates: dict[Hashable, float] = {}
        for pool in pools.values():
            n = sum(pool.values())
            for a in pool:
                total = -0.5
                for b, count in pool.items():
                    if a == b:
                        total += 0.5 * count
                    elif (a, b) in payoff:
                        total += count * payoff[(a, b)] / paid
                    else:
                        total += count * (1.0 - payoff[(b, a)] / paid)
                rates[keys[a]] = total / (n - 1)
        self._examples = examples
        return rates

    def example(self, key: Hashable) -> Trajectory:
        """A trajectory with this conversation key (from the last :meth:`win_rates` call)."""
        return self._examples[key]
