"""MTPO (Shani et al. 2024, multi-turn preference optimisation), exact version.

MTPO solves the KL-regularised multi-turn preference game with mirror-descent policy
optimisation in self-play: the learner is paid the preference of its trajectory against the
current policy and pays α · KL(π_h(·|s) ‖ μ_h(·|s)) at every state it visits, and each update is
a mirror step with a KL to the current iterate and the reference μ::

    Q_α^t        = action value of π^t for P(· ≻ π^t) with the KL-to-μ penalty in V
                   (V_h = ⟨π_h^t, Q_h⟩ − α KL(π_h^t ‖ μ_h), Lemma 2 with the penalty)
    π_h^{t+1}(a|s) ∝ π_h^t(a|s)^{1 − βα} μ_h(a|s)^{βα} exp(β Q_{α,h}^t(s, a))

**Lift.** MTPO uses only a terminal preference (Tab. 1); it gets the trajectory win rate
normalised to [0, 1], P(τ ≻ π^t) = (1/Σ_h w_h) Σ_h r_h^{π^t}(s_h, a_h | s1), whose action value is
(1/Σ_h w_h) Q^{π^t} up to terms that do not depend on the action (as for :mod:`solvers.spo`).
Regularisation: α = 0.0025 (the value in the paper's Tab. 1) and μ = the initial policy π^1
(uniform unless ``initial_policy`` is given); βα ≤ 1 is required.

**Fixed point.** The last iterate converges (Tab. 1: O(α⁻² ε⁻¹) updates) to the NE of the
*regularised* game, π_h(·|s) ∝ μ_h(·|s) exp(Q_{α,h}(s, ·)/α), not to the NE of Eq. (Game); its
exploitability in the unregularised game therefore plateaus at a level that vanishes as α → 0.
With α = 0 the update is MPO/SPO's Hedge step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.tabular import backward_recursion, regularised_value, reward_against_occupancy
from solvers._common import check_regularisation, geometric_mixture, trajectory_scale
from solvers.base import LogitSolver


@dataclass(frozen=True)
class MTPOConfig:
    """Settings of exact MTPO."""

    beta: float = 1.0
    """β > 0, the mirror-descent step size on the [0, 1]-valued trajectory win rate."""

    alpha: float = 0.0025
    """α ≥ 0, the weight of the per-state KL to the reference μ (Tab. 1 uses 0.0025); βα ≤ 1."""

    def __post_init__(self) -> None:
        check_regularisation(self.beta, self.alpha)


class MTPO(LogitSolver):
    """Exact MTPO: regularised mirror descent in self-play on the terminal win rate."""

    config: MTPOConfig
    config_class = MTPOConfig
    beta_grid = (5.0, 10.0, 20.0)

    def _setup(self) -> None:
        self.log_reference = self.log_policy.copy()

    def _next_logits(self) -> tuple[np.ndarray, dict[str, Any]]:
        beta, alpha = self.config.beta, self.config.alpha
        win_rate = trajectory_scale(self.game) * reward_against_occupancy(
            self.game, self.occupancy, check=False
        )
        value = regularised_value(self.log_policy, alpha, self.log_reference)
        q, _ = backward_recursion(self.game, win_rate, value, check=False)
        base = geometric_mixture(self.log_policy, self.log_reference, beta * alpha)
        return base + beta * q, {}
