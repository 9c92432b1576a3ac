r"""Step-level LM solvers (OMPO, MPO, Step-DPO): K answers at every state of a trajectory.

Generation (Alg. 2 / Alg. 4, lines 3–10): ``num_prompts`` root episodes of (π^t, π^t); at every
stage h of each root's player_0 trajectory, K answers of π^t to S_h (:class:`StepGroup`). Groups
at the same state (the same conversation, e.g. every s1 of a one-prompt game) are *pooled*: the
state's sample is all their answers.

Q̂ at a state s with pooled answers a_1..a_n (``estimator``):

* ``"one_step"`` (the paper's MT-Bench estimator, §4.2): the win rate of a_k against the other
  answers at s, Ŵ_t(a_k) = (1/(n−1)) Σ_{j≠k} P([s, a_k] ≻ [s, a_j]), unbiased for
  P([s, a] ≻ [s, A']), A' ~ π^t(·|s). Over the n answers it averages to ½ *exactly*
  (antisymmetry), the centring constant.
* ``"trajectory"`` (Eq. 2 / Eq. 4): for each distinct answer a, M continuations from (s, a) to H
  with player_0 following π^t and player_1 ~ q from an independent stage-h state
  S'_h ~ d_h^q(·|s1) (:mod:`solvers.sampled.estimation`); Ĝ_q(a) is the mean return Σ_{τ≥h} r_τ,
  unbiased for E_{S',A'~d_h^q} Q_h^{π^t,q}(s, a, S', A').
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ompo_envs.lm.prompting import messages_key
from solvers.lm.base import LMSolver, LMSolverConfig, _check_count
from solvers.lm.losses import centring_constant, regression_target
from solvers.lm.records import RegressionRecord, Segment
from solvers.lm.rollouts import (
    PlayerPoint,
    StepGroup,
    record_trajectories,
    sample_step_groups,
)
from solvers.sampled.estimation import BranchPoint, ContinuationRequest, SavedPoint

__all__ = ["StateSample", "StepLevelConfig", "StepLevelSolver", "StepRollouts"]


@dataclass(frozen=True)
class StepLevelConfig(LMSolverConfig):
    """Settings of the step-level LM solvers."""

    estimator: Literal["one_step", "trajectory"] = "one_step"
    """Q̂ from the one-step win rate (the paper's MT-Bench runs) or full continuations (Eq. 2/4)."""

    num_continuations: int = 4
    """M ≥ 1: continuations per distinct (state, answer) of the ``"trajectory"`` estimator."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.estimator not in ("one_step", "trajectory"):
            raise ValueError(
                f"estimator must be 'one_step' or 'trajectory', got {self.estimator!r}"
            )
        _check_count("num_continuations", self.num_continuations, 1)


@dataclass(frozen=True)
class StepRollouts:
    """What :meth:`StepLevelSolver.generate` returns.

    Attributes:
        groups: K answers at every stage of every root's player_0 trajectory.
        roots: Each root episode's stage-1 point (its s1), by root index.
    """

    groups: list[StepGroup]
    roots: dict[int, SavedPoint]

    @classmethod
    def concatenate(cls, parts: Sequence[StepRollouts]) -> StepRollouts:
        """Join the rollouts of disjoint root subsets (``generate(roots=...)``), in order."""
        return cls(
            groups=[g for part in parts for g in part.groups],
            roots={r: p for part in parts for r, p in part.roots.items()},
        )


@dataclass
class StateSample:
    """The pooled answers at one state and their estimates.

    Attributes:
        at: The state (one of the pooled groups' points).
        root: The root episode ``at`` belongs to.
        counts: How often each distinct answer was sampled there.
        current: Q̂ against π^t per distinct answer.
        previous: Q̂ against π^{t−1} per distinct answer (OMPO), or ``None``.
        stderr: Standard error of ``current`` per answer (trajectory estimator: the spread of
            the M returns; empty for the one-step estimator).
    """

    at: PlayerPoint
    root: int
    counts: Counter
    current: dict[str, float]
    previous: dict[str, float] | None = None
    stderr: dict[str, float] = field(default_factory=dict)


class StepLevelSolver(LMSolver):
    """Shared generation and Q̂ estimation of OMPO, MPO and Step-DPO (module docstring)."""

    config_class = StepLevelConfig
    config: StepLevelConfig

    def generate(
        self, roots: Sequence[int] | None = None, *, rng: np.random.Generator | None = None
    ) -> StepRollouts:
        """Root episodes of (π^t, π^t), then K answers at every player_0 state (one call).

        ``roots`` / ``rng``: a subset of the root episodes, drawn from ``rng``
        (:meth:`LMSolver.generate`).
        """
        indices = self._root_indices(roots)
        with self.random_source(rng):
            current = self._recording(self._policy)
            trajectories, points = record_trajectories(
                self.sampler, [None] * len(indices), indices, current, current, self.clock
            )
            states = [
                (at, trajectory.root)
                for trajectory in trajectories[0::2]  # player_0's trajectory of every root
                for at, _ in trajectory.steps
            ]
            groups = sample_step_groups(
                self._policy, states, self.config.num_samples, self.rng, self.clock
            )
        return StepRollouts(groups=groups, roots=dict(zip(indices, points, strict=True)))

    # ------------------------------------------------------------------ estimation
    def pooled(self, groups: list[StepGroup]) -> dict[Hashable, StateSample]:
        """Pool the groups' answers by state."""
        samples: dict[Hashable, StateSample] = {}
        for group in groups:
            key = group.at.state
            if key not in samples:
                samples[key] = StateSample(
                    at=group.at, root=group.root, counts=Counter(), current={}
                )
            samples[key].counts.update(group.answers)
        return samples

    def one_step_win_rates(
        self, samples: dict[Hashable, StateSample], opponents: dict[Hashable, Counter] | None = None
    ) -> None:
        """Fill ``current`` (and ``previous`` where ``opponents`` has answers): one-step win rates.

        ``current``: Ŵ_t(a) = (Σ_b n_b P(a ≻ b) − ½) / (n − 1), against the other answers at the
        state; ``previous``: Σ_b m_b P(a ≻ b) / m against ``opponents[state]`` (counts m_b).
        All comparisons of all states go to the env in one batch.
        """
        pairs: list[tuple[PlayerPoint, str, PlayerPoint, str]] = []
        owners: list[tuple[Hashable, str, str, str]] = []
        for key, sample in samples.items():
            distinct = sorted(sample.counts)
            for i, a in enumerate(distinct):
                for b in distinct[i + 1 :]:
                    pairs.append((sample.at, a, sample.at, b))
                    owners.append((key, a, b, "current"))
            previous = (opponents or {}).get(key)
            if previous:
                for a in distinct:
                    for b in previous:
                        if a != b:
                            pairs.append((sample.at, a, sample.at, b))
                            owners.append((key, a, b, "previous"))
        values = self.comparisons.compare(pairs)
        table: dict[tuple[Hashable, str, str, str], float] = {}
        for (key, a, b, term), value in zip(owners, values, strict=True):
            table[(key, a, b, term)] = float(value)
            if term == "current":
                table[(key, b, a, term)] = 1.0 - float(value)
        for key, sample in samples.items():
            n = sum(sample.counts.values())
            sample.current = {
                a: (
                    sum(
                        m * table.get((key, a, b, "current"), 0.5) for b, m in sample.counts.items()
                    )
                    - 0.5
                )
                / (n - 1)
                for a in sample.counts
            }
            previous = (opponents or {}).get(key)
            if previous:
                total = sum(previous.values())
                sample.previous = {
                    a: sum(m * table.get((key, a, b, "previous"), 0.5) for b, m in previous.items())
                    / total
                    for a in sample.counts
                }

    def continuation_values(
        self,
        samples: dict[Hashable, StateSample],
        roots: dict[int, SavedPoint],
        opponent: Any,
        *,
        previous: bool = False,
    ) -> None:
        """Fill ``current`` (or ``previous``) with Ĝ_q(a), q = ``opponent`` (Eq. 2 / Eq. 4).

        M continuations per distinct (state, answer); player_0 follows π^t after its forced
        answer, player_1 follows ``opponent`` from an independent stage-h state of the same s1
        (fresh rollouts of ``opponent``, shared by the states of one root).
        """
        m = self.config.num_continuations
        player = self._recording(self._policy)
        rival = self._recording(opponent)
        fresh: dict[int, Any] = {}
        requests = []
        keys = []
        for key, sample in samples.items():
            root, at = sample.root, sample.at
            if at.stage > 1 and root not in fresh:
                fresh[root] = self._timed_play(
                    lambda root=root: self.sampler.opponent_points(roots[root], rival, m)
                )
            branch = BranchPoint(key=key, point=at.point, root=root)
            actions = tuple(sorted(sample.counts))
            requests.append(ContinuationRequest(branch, actions, rival, fresh.get(root)))
            keys.append(key)
        returns = self._timed_play(lambda: self.sampler.continuation_returns(requests, player, m))
        for key, request, g in zip(keys, requests, returns, strict=True):
            values = dict(zip(request.actions, g.mean(axis=1).tolist(), strict=True))
            if previous:
                samples[key].previous = values
            else:
                samples[key].current = values
                spread = g.std(axis=1, ddof=1) / np.sqrt(m) if m > 1 else np.full(len(g), np.nan)
                samples[key].stderr = dict(zip(request.actions, spread.tolist(), strict=True))

    def _timed_play(self, run: Any) -> Any:
        """Run a sampler call; its time minus generation time counts as oracle time."""
        import time

        start = time.perf_counter()
        generated = self.clock.seconds["generation"]
        out = run()
        elapsed = time.perf_counter() - start
        self.clock.add("oracle", elapsed - (self.clock.seconds["generation"] - generated))
        return out

    def regression_records(
        self, samples: dict[Hashable, StateSample], optimistic: bool
    ) -> list[RegressionRecord]:
        """One record per distinct (state, answer): target β (Q̂ − c_h), weight = its count.

        Q̂ = 2 Q̂_t − Q̂_{t−1} where ``optimistic`` and a previous term exists, else Q̂_t;
        c_h from :func:`~solvers.lm.losses.centring_constant`.
        """
        records = []
        beta = self.config.beta
        for sample in samples.values():
            centre = centring_constant(
                self.config.estimator, sample.at.stage, self.env.horizon, self.env.reward_mode
            )
            messages = messages_key(sample.at.info["messages"])
            for answer, count in sample.counts.items():
                q = sample.current[answer]
                if optimistic and sample.previous is not None:
                    q = 2.0 * q - sample.previous[answer]
                records.append(
                    RegressionRecord(
                        response=(Segment(messages, answer),),
                        target=float(regression_target(q, beta, centre)),
                        weight=float(count),
                        q_hat=float(q),
                    )
                )
        _check_finite(records)
        return records


def _check_finite(records: list[RegressionRecord]) -> None:
    for record in records:
        if not math.isfinite(record.target):
            raise ValueError(
                f"a regression target is {record.target} (Q̂ = {record.q_hat}); the preference "
                "oracle returned a non-finite value"
            )
