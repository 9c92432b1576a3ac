"""EGPO (Zhou et al. 2025, extragradient preference optimisation), lifted to H steps.

EGPO is extragradient mirror descent on the (optionally KL-regularised) preference game, a
bandit method in Tab. 1: a half step from π^t with the gradient at π^t, then the real step
*from π^t* with the gradient at the half-step point::

    π^{t+½}(y) ∝ π^t(y)^{1 − βα} μ(y)^{βα} exp(β P_α(y ≻ π^t)),
    π^{t+1}(y) ∝ π^t(y)^{1 − βα} μ(y)^{βα} exp(β P_α(y ≻ π^{t+½})).

**Lift.** The natural actor-critic lift of App. D at every (s1, h, s): the payoff
P_α(y ≻ π) at the point π is replaced by Q_{α,h}^{π}(s, ·), the action value of π for the
per-step reward r_h^{π} (Lemma 1) with the per-state penalty α KL(π_h ‖ μ_h) in its value
(for α = 0 the standard Q^{π,π}). Regularisation: α = 0 by default (Tab. 1: EGPO does not need
it; the last iterate then converges to the NE of Eq. (Game)), μ = the initial policy π^1.
With α > 0 the fixed point is the regularised NE π_h ∝ μ_h exp(Q_{α,h}/α).

Cost: **two** pairwise contractions per update (the gradient at π^t and at π^{t+½}), declared as
``EGPO.cost_per_update = 2``; benchmarks count updates, and report this cost beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.tabular import (
    backward_recursion,
    occupancy_measures,
    regularised_value,
    reward_against_occupancy,
)
from solvers._common import (
    check_positive,
    geometric_mixture,
    normalise_logits,
    policy_from_logits,
)
from solvers.base import LogitSolver


@dataclass(frozen=True)
class EGPOConfig:
    """Settings of exact EGPO."""

    beta: float = 0.1
    """β > 0, the step size of both the half step and the full step."""

    alpha: float = 0.0
    """α ≥ 0, the per-state KL-to-reference weight (0: the unregularised game); βα ≤ 1."""

    def __post_init__(self) -> None:
        check_positive("beta", self.beta)
        check_positive("alpha", self.alpha, allow_zero=True)
        if self.beta * self.alpha > 1:
            raise ValueError(
                f"beta * alpha must be <= 1, got {self.beta} * {self.alpha}; lower beta or alpha"
            )


class EGPO(LogitSolver):
    """Exact EGPO lifted per state: extragradient mirror descent on Q."""

    config: EGPOConfig
    config_class = EGPOConfig
    beta_grid = (0.5, 1.0, 2.0)
    cost_per_update = 2.0

    def _setup(self) -> None:
        self.log_reference = self.log_policy.copy()

    def _gradient(self, log_point: np.ndarray, occupancy: np.ndarray) -> np.ndarray:
        reward = reward_against_occupancy(self.game, occupancy, check=False)
        value = regularised_value(log_point, self.config.alpha, self.log_reference)
        q, _ = backward_recursion(self.game, reward, value, check=False)
        return q

    def _next_logits(self) -> tuple[np.ndarray, dict[str, Any]]:
        beta, alpha = self.config.beta, self.config.alpha
        base = geometric_mixture(self.log_policy, self.log_reference, beta * alpha)
        log_half = normalise_logits(base + beta * self._gradient(self.log_policy, self.occupancy))
        half_occupancy = occupancy_measures(self.game, policy_from_logits(log_half), check=False)
        return base + beta * self._gradient(log_half, half_occupancy), {}
