r"""Iterative DPO (Xiong et al. 2024; Dong et al. 2024) on whole conversations: the §4.2 baseline.

Per iteration and prompt, the best and the worst of the K sampled conversations by win rate
(:mod:`solvers.lm.conversation`) form a pair y_w ≻ y_l, trained with the sigmoid loss

    L = −(1 − ε) log σ(β Δ) − ε log σ(−β Δ),  Δ = log π(y_w)/π^t(y_w) − log π(y_l)/π^t(y_l)

(:func:`~solvers.lm.losses.dpo_loss`). The reference is the current iterate π^t, whose
log-probabilities are stored with the data, so every iteration is one DPO round from the model
that generated its data. A prompt whose conversations all tie gives no pair.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from solvers._common import check_fraction
from solvers.lm.base import LMSolverConfig
from solvers.lm.conversation import (
    ConversationRollouts,
    ConversationSolver,
    conversation_key,
    response_of,
)
from solvers.lm.records import PairRecord, Record

__all__ = ["LMDPO", "LMDPOConfig"]


@dataclass(frozen=True)
class LMDPOConfig(LMSolverConfig):
    """Settings of iterative DPO (``beta`` is DPO's β, the inverse KL strength)."""

    label_smoothing: float = 0.0
    """ε in [0, ½): the conservative DPO loss of TRL (0 = plain sigmoid loss)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fraction("label_smoothing", self.label_smoothing)
        if self.label_smoothing >= 0.5:
            raise ValueError(f"label_smoothing must be < 0.5, got {self.label_smoothing}")


class LMDPO(ConversationSolver):
    """Iterative DPO: best vs worst of K conversations per prompt, sigmoid loss."""

    config_class = LMDPOConfig
    config: LMDPOConfig

    def judge(self, rollouts: ConversationRollouts) -> list[Record]:
        """Best vs worst conversation of every prompt → pair records (identical pairs merged)."""
        rates = self.win_rates(rollouts)
        pairs: Counter = Counter()
        for group in rollouts.groups:
            keys = [conversation_key(t) for t in group]
            best = max(keys, key=lambda k: rates[k])
            worst = min(keys, key=lambda k: rates[k])
            if rates[best] > rates[worst]:
                pairs[(best, worst)] += 1
        self.stage_metrics["pairs"] = float(sum(pairs.values()))
        return [
            PairRecord(
                chosen=response_of(self.example(best)),
                rejected=response_of(self.example(worst)),
                weight=float(count),
                margin=rates[best] - rates[worst],
            )
            for (best, worst), count in pairs.items()
        ]

    def _label_smoothing(self) -> float:
        return self.config.label_smoothing
