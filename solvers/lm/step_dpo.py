r"""Step-DPO (Lai et al. 2024) driven by the preference oracle: best vs worst answer per turn.

The paper's baseline (§4.2–4.3: "for Step-DPO, MPO and OMPO we do the same strategy starting at
s_h"): at every state s_h of the sampled trajectories, the K answers of π^t are ranked by Q̂
(the same estimators as MPO, :mod:`solvers.lm.step_level`, pooled per state); the best and the
worst answer of each group form a pair, trained with the DPO sigmoid loss on the single answer
given the same s_h (:func:`~solvers.lm.losses.dpo_loss`, reference π^t). Groups whose answers
all tie give no pair. The original Step-DPO locates the first wrong reasoning step with GPT-4;
here the oracle's preference stands in for that label, as in the paper's Tab. 3 ("Step-DPO,
Llama-3 RM").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ompo_envs.lm.prompting import messages_key
from solvers._common import check_fraction
from solvers.lm.records import PairRecord, Record, Segment
from solvers.lm.step_level import StepLevelConfig, StepLevelSolver, StepRollouts

__all__ = ["LMStepDPO", "LMStepDPOConfig", "best_and_worst"]


@dataclass(frozen=True)
class LMStepDPOConfig(StepLevelConfig):
    """Settings of Step-DPO."""

    label_smoothing: float = 0.0
    """ε in [0, ½): the conservative DPO loss of TRL (0 = plain sigmoid loss)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fraction("label_smoothing", self.label_smoothing)
        if self.label_smoothing >= 0.5:
            raise ValueError(f"label_smoothing must be < 0.5, got {self.label_smoothing}")


def best_and_worst(answers: tuple[str, ...], values: dict[str, float]) -> tuple[str, str] | None:
    """Return (best, worst) of ``answers`` by ``values`` (first in order on ties), or ``None``.

    ``None`` when every answer has the same value (no preference to learn).
    """
    best = max(answers, key=lambda a: values[a])
    worst = min(answers, key=lambda a: values[a])
    return None if values[best] == values[worst] else (best, worst)


class LMStepDPO(StepLevelSolver):
    """Step-DPO with an oracle: DPO on the best vs the worst answer from the same s_h."""

    config_class = LMStepDPOConfig
    config: LMStepDPOConfig

    def judge(self, rollouts: StepRollouts) -> list[Record]:
        """Rank each group's answers by the pooled Q̂(π^t); best vs worst → pair records."""
        samples = self.pooled(rollouts.groups)
        if self.config.estimator == "one_step":
            self.one_step_win_rates(samples)
        else:
            self.continuation_values(samples, rollouts.roots, self._policy)
        pairs: Counter = Counter()
        margins: dict[tuple[Segment, Segment], float] = {}
        for group in rollouts.groups:
            values = samples[group.at.state].current
            chosen = best_and_worst(group.answers, values)
            if chosen is None:
                continue
            messages = messages_key(group.at.info["messages"])
            key = (Segment(messages, chosen[0]), Segment(messages, chosen[1]))
            pairs[key] += 1
            margins[key] = values[chosen[0]] - values[chosen[1]]
        self.stage_metrics["pairs"] = float(sum(pairs.values()))
        return [
            PairRecord(
                chosen=(won,), rejected=(lost,), weight=float(n), margin=margins[(won, lost)]
            )
            for (won, lost), n in pairs.items()
        ]

    def _label_smoothing(self) -> float:
        return self.config.label_smoothing
