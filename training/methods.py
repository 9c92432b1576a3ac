"""From an iteration's stored data to training examples and a loss, per method.

The paper's methods (OMPO, MPO, SPPO, DPO, Step-DPO) come from issue 9's ``solvers/lm``: once it
lands, :func:`method_plan` returns their example builder and loss. Until then the one method
available is the interim **best-of-K supervised step** (rejection-sampling fine-tuning): at every
state, the answer with the highest win rate ŵ among the K sampled ones — when ŵ > ½, i.e. it
beats the others on average — is imitated with the summed negative log-likelihood

    ℓ(s, a*) = −log π(a* | s),     a* = argmax_k ŵ_k.

It is a real update that exercises every part of the machinery (data, oracle, optimiser,
distribution, checkpoints), not one of the paper's algorithms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.lm import answer_logprobs
from training.optimise import Example, LossFunction

__all__ = ["MethodPlan", "method_plan"]

#: The paper's methods, provided by issue 9's ``solvers.lm``.
PAPER_METHODS = ("ompo", "mpo", "sppo", "dpo", "step-dpo")


@dataclass(frozen=True)
class MethodPlan:
    """How one method turns stored rows into examples, and its per-example loss."""

    examples: Callable[[Sequence[dict], Sequence[dict], Sequence[dict]], list[Example]]
    loss: LossFunction


def check_method(method: str) -> None:
    """Raise ``NotImplementedError`` if ``method`` cannot run in this install (checked at start)."""
    if method in PAPER_METHODS:
        raise NotImplementedError(
            f"solver.method = {method!r} is one of the paper's LM methods, which come from "
            "solvers.lm (issue 9) and are not in this install yet; use solver.method = "
            '"best-of-k-sft" meanwhile'
        )


def method_plan(method: str, policy: Any, *, beta: float) -> MethodPlan:
    """Return the plan of ``method``.

    Raises:
        NotImplementedError: A paper method while ``solvers.lm`` is not installed.
    """
    check_method(method)

    def examples(
        rows: Sequence[dict], labels: Sequence[dict], logprobs: Sequence[dict]
    ) -> list[Example]:
        out = []
        for row, label, scored in zip(rows, labels, logprobs, strict=True):
            win = np.asarray(label["win_rate"])
            best = int(np.argmax(win))
            if win[best] > 0.5:
                out.append(
                    Example(
                        conversation=row["messages"],
                        answer=row["answers"][best],
                        ref_logprob=float(scored["logprobs"][best]),
                    )
                )
        return out

    return MethodPlan(examples=examples, loss=supervised_loss(policy))


def supervised_loss(policy: Any) -> LossFunction:
    """ℓ(s, a) = −log π(a | s) through the (possibly wrapped) ``model``: the warm start's loss."""

    def loss(model: Any, batch: Sequence[Example]) -> Any:
        return -answer_logprobs(
            model, policy, [e.conversation for e in batch], [e.answer for e in batch]
        )

    return loss
