r"""OMPO for language models (the paper's Alg. 2, practical version).

Per iteration t, at every state s of the sampled trajectories (:mod:`solvers.lm.step_level`)::

    Q̂^t(s, a) = 2 Q̂(s, a; π^t) − Q̂(s, a; π^{t−1})           (Eq. 2; t = 1: Q̂(s, a; π^1))
    π^{t+1} = argmin_π Σ_{(s,a)} (log π(a|s) − log π^t(a|s) − β (Q̂^t(s, a) − c_h))²

with c_h the centring constant of the estimator (:mod:`solvers.lm.losses`: ½ for the one-step win
rate, (H − h + 1)/2 for the full-trajectory return — the paper's β (H − h + 1)/2) and one β for
every stage, as in Alg. 2 (a stationary policy: one model answers every stage).

The optimistic term Q̂(s, a; π^{t−1}) (``optimism_source``):

* ``"stored"`` (the paper, §4.2): the win rate of a against the answers π^{t−1} gave at the same
  state in iteration t − 1, kept from that iteration (no second model; by the conversation the
  policy saw, so :meth:`LMOMPO.state_dict` carries them as JSON). A state that was not
  sampled at t − 1 uses the t = 1 form Q̂(s, a; π^t) there; ``optimism_coverage`` reports the
  fraction of states that had stored answers. One-step estimator only.
* ``"policy"``: a frozen copy of π^{t−1} answers at the current states now (one-step), or plays
  the opponent of the continuations from fresh stage-h states (trajectory estimator, Eq. 2
  exactly). Costs one more model in memory and its generation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Literal

from ompo_envs.lm.prompting import MessagesKey, messages_key
from solvers.lm.records import Record
from solvers.lm.rollouts import sample_step_groups
from solvers.lm.step_level import StepLevelConfig, StepLevelSolver, StepRollouts

__all__ = ["LMOMPO", "LMOMPOConfig"]


@dataclass(frozen=True)
class LMOMPOConfig(StepLevelConfig):
    """Settings of LM OMPO (Alg. 2)."""

    optimism_source: Literal["stored", "policy"] = "stored"
    """Where π^{t−1}'s answers come from: kept from the last iteration, or a copy of π^{t−1}."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.optimism_source not in ("stored", "policy"):
            raise ValueError(
                f"optimism_source must be 'stored' or 'policy', got {self.optimism_source!r}"
            )
        if self.estimator == "trajectory" and self.optimism_source == "stored":
            raise ValueError(
                "the trajectory estimator needs π^{t−1} to play continuations: use "
                "optimism_source='policy' (stored answers only serve the one-step estimator)"
            )


class LMOMPO(StepLevelSolver):
    """OMPO, Alg. 2: squared log-ratio regression on the optimistic Q̂ (module docstring)."""

    config_class = LMOMPOConfig
    config: LMOMPOConfig

    def __init__(self, env: Any, config: LMOMPOConfig | None = None, *, policy: Any, **fields: Any):
        super().__init__(env, config, policy=policy, **fields)
        self._stored: dict[MessagesKey, Counter] = {}
        self._pending: dict[MessagesKey, Counter] = {}
        self._previous_policy: Any = None
        self._pending_policy: Any = None

    def judge(self, rollouts: StepRollouts) -> list[Record]:
        """Q̂^t = 2 Q̂(π^t) − Q̂(π^{t−1}) at every pooled state → regression records."""
        samples = self.pooled(rollouts.groups)
        by_policy = self.config.optimism_source == "policy"
        previous = self._previous_policy
        if self.config.estimator == "one_step":
            opponents: dict[Hashable, Counter] = {
                key: self._stored[seen]
                for key, sample in samples.items()
                if (seen := _conversation(sample)) in self._stored
            }
            if by_policy and previous is not None:
                states = [(s.at, s.root) for s in samples.values()]
                groups = sample_step_groups(
                    previous, states, self.config.num_samples, self.rng, self.clock
                )
                opponents = {g.at.state: Counter(g.answers) for g in groups}
            self.one_step_win_rates(samples, opponents)
        else:
            self.continuation_values(samples, rollouts.roots, self._policy)
            if previous is not None:
                self.continuation_values(samples, rollouts.roots, previous, previous=True)
        covered = sum(s.previous is not None for s in samples.values())
        self.stage_metrics["optimism_coverage"] = covered / max(1, len(samples))
        self._pending = {}
        for sample in samples.values():
            self._pending.setdefault(_conversation(sample), Counter()).update(sample.counts)
        self._pending_policy = self._policy.copy() if by_policy else None
        records = self.regression_records(samples, optimistic=True)
        self.stage_metrics["q_hat_mean"] = _weighted_mean(records)
        return records

    def _commit(self) -> None:
        self._stored, self._previous_policy = self._pending, self._pending_policy

    def state_dict(self) -> dict[str, Any]:
        """:meth:`LMSolver.state_dict` plus π^{t−1}'s stored answers, committed and pending.

        ``pending`` holds the answers the last judge stage saw (π^t's, made current by
        ``finish_iteration``). With ``optimism_source="policy"`` the copy of π^{t−1} is a model,
        not state: pass it to :meth:`load_state_dict`.
        """
        return {
            **super().state_dict(),
            "stored": _answers_json(self._stored),
            "pending": _answers_json(self._pending),
        }

    def load_state_dict(self, state: dict[str, Any], *, previous_policy: Any = None) -> None:
        """Continue from :meth:`state_dict`'s output (``previous_policy``: π^{t−1}, for "policy").

        Raises:
            ValueError: ``state`` is not such a dict.
        """
        try:
            stored, pending = _answers_from(state["stored"]), _answers_from(state["pending"])
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"not a state of LMOMPO (from state_dict()): {error!r}") from error
        super().load_state_dict(state)
        self._stored, self._pending = stored, pending
        self._previous_policy = previous_policy


def _conversation(sample: Any) -> MessagesKey:
    return messages_key(sample.at.info["messages"])


def _answers_json(answers: dict[MessagesKey, Counter]) -> list[dict[str, Any]]:
    return [
        {"messages": [list(m) for m in messages], "answers": dict(counts)}
        for messages, counts in answers.items()
    ]


def _answers_from(rows: list[dict[str, Any]]) -> dict[MessagesKey, Counter]:
    out: dict[MessagesKey, Counter] = {}
    for row in rows:
        messages = tuple((str(role), str(content)) for role, content in row["messages"])
        out[messages] = Counter({str(a): int(n) for a, n in row["answers"].items()})
    return out


def _weighted_mean(records: list[Any]) -> float:
    total = sum(r.weight for r in records)
    return sum(r.weight * r.q_hat for r in records) / total if total else 0.0
