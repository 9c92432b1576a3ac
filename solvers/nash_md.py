"""Nash-MD (Munos et al. 2024, Nash learning from human feedback), lifted to H steps.

Nash-MD is a bandit method (Tab. 1): each update is a mirror step from the geometric mixture of
the current policy and the reference μ, against that same mixture::

    π_α^t(y) ∝ π^t(y)^{1 − βα} μ(y)^{βα},
    π^{t+1}(y) ∝ π_α^t(y) exp(β P(y ≻ π_α^t)).

**Lift.** The natural actor-critic lift used by MPO (App. D): at every (s1, h, s) the bandit
payoff P(y ≻ π_α^t) is replaced by the action value of the base point against the mixture,
Q_h^{π_α^t, π_α^t}(s, ·) = the standard action value of π_α^t for the per-step reward
r_h^{π_α^t}(s, a | s1) = w_h Σ d_h^{π_α^t}(s', a' | s1) r(s, a, s', a') (Lemma 1), and the KL
is the per-state KL::

    π_{α,h}^t(·|s)   ∝ π_h^t(·|s)^{1 − βα} μ_h(·|s)^{βα}
    π_h^{t+1}(a|s)   ∝ π_{α,h}^t(a|s) exp(β Q_h^{π_α^t}(s, a)).

Regularisation: α = 0.008 (the paper's Tab. 1) per stage, μ = the initial policy π^1 (uniform
unless ``initial_policy`` is given), βα ≤ 1. The last iterate converges to (a neighbourhood of
size O(β/α) of) the NE of the *regularised* game, not to the NE of Eq. (Game); with α = 0 the
update is MPO's Hedge step and the LP NE is a fixed point. Cost: one contraction and one extra
occupancy pass (for π_α^t) per update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.tabular import (
    backward_recursion,
    occupancy_measures,
    reward_against_occupancy,
    standard_value,
)
from solvers._common import (
    check_regularisation,
    geometric_mixture,
    normalise_logits,
    policy_from_logits,
)
from solvers.base import LogitSolver


@dataclass(frozen=True)
class NashMDConfig:
    """Settings of exact Nash-MD."""

    beta: float = 0.1
    """β > 0, the mirror-descent step size (η in Munos et al.)."""

    alpha: float = 0.008
    """α ≥ 0, the KL-to-reference weight (Tab. 1 uses 0.008); the mixture weight is βα ≤ 1."""

    def __post_init__(self) -> None:
        check_regularisation(self.beta, self.alpha)


class NashMD(LogitSolver):
    """Exact Nash-MD lifted per state: mirror step from, and against, the geometric mixture."""

    config: NashMDConfig
    config_class = NashMDConfig
    beta_grid = (0.5, 1.0, 2.0)

    def _setup(self) -> None:
        self.log_reference = self.log_policy.copy()

    def _next_logits(self) -> tuple[np.ndarray, dict[str, Any]]:
        mix = self.config.beta * self.config.alpha
        log_mixture = normalise_logits(geometric_mixture(self.log_policy, self.log_reference, mix))
        if mix == 0.0:
            mixture_occupancy = self.occupancy
        else:
            mixture_occupancy = occupancy_measures(
                self.game, policy_from_logits(log_mixture), check=False
            )
        reward = reward_against_occupancy(self.game, mixture_occupancy, check=False)
        q, _ = backward_recursion(
            self.game, reward, standard_value(np.exp(log_mixture)), check=False
        )
        return log_mixture + self.config.beta * q, {}
