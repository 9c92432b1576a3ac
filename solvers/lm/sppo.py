r"""Iterative SPPO (Wu et al. 2024) on whole conversations: the paper's §4.2 baseline.

Per iteration, with the conversation win rates of :mod:`solvers.lm.conversation`::

    π^{t+1} = argmin_π Σ_y (log π(y|s1) − log π^t(y|s1) − η (P̂(y ≻ π^t) − ½))²

over the K sampled conversations of every prompt (the SPPO paper's loss over all K responses;
the released SPPO scripts keep only the best and worst of the K). η is the config's ``beta``;
½ is the centring constant of a win rate (:mod:`solvers.lm.losses`).
"""

from __future__ import annotations

from dataclasses import dataclass

from solvers.lm.base import LMSolverConfig
from solvers.lm.conversation import (
    ConversationRollouts,
    ConversationSolver,
    conversation_key,
    response_of,
)
from solvers.lm.losses import regression_target
from solvers.lm.records import Record, RegressionRecord

__all__ = ["LMSPPO", "LMSPPOConfig"]


@dataclass(frozen=True)
class LMSPPOConfig(LMSolverConfig):
    """Settings of iterative SPPO (``beta`` is SPPO's η)."""


class LMSPPO(ConversationSolver):
    """Iterative SPPO: squared log-ratio regression on conversation win rates."""

    config_class = LMSPPOConfig
    config: LMSPPOConfig

    def judge(self, rollouts: ConversationRollouts) -> list[Record]:
        """Win rate of every distinct conversation → one regression record each (its count)."""
        rates = self.win_rates(rollouts)
        counts: dict = {}
        for group in rollouts.groups:
            for trajectory in group:
                key = conversation_key(trajectory)
                counts[key] = counts.get(key, 0) + 1
        records = [
            RegressionRecord(
                response=response_of(self.example(key)),
                target=float(regression_target(rates[key], self.config.beta, 0.5)),
                weight=float(count),
                q_hat=rates[key],
            )
            for key, count in counts.items()
        ]
        total = sum(counts.values())
        self.stage_metrics["q_hat_mean"] = sum(rates[k] * c for k, c in counts.items()) / total
        return records
