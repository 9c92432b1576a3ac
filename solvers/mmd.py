"""MMD (Sokota et al. 2023, magnetic mirror descent), lifted to H steps.

MMD takes a mirror step that is pulled towards a magnet μ (Tab. 1: a bandit / normal-form
method), solving in closed form::

    π^{t+1} = argmax_π β⟨g^t, π⟩ − βα KL(π ‖ μ) − KL(π ‖ π^t)
            ∝ (π^t μ^{βα} exp(β g^t))^{1/(1 + βα)}.

**Lift.** As in Sokota et al.'s behavioural-form MMD, at every (s1, h, s) the gradient is
g^t = Q_{α,h}^{π^t}(s, ·), the action value of π^t for the per-step reward r_h^{π^t} (Lemma 1)
with the per-state penalty α KL(π_h ‖ μ_h) in its value. The magnet moves towards the iterates,
log μ^{t+1} = (1 − γ) log μ^t + γ log π^{t+1} (normalised), γ = ``magnet_step``:

* γ = 0: fixed magnet μ = π^1. The last iterate converges to the regularised NE (a QRE for a
  uniform magnet), π_h ∝ μ_h exp(Q_{α,h}/α), not to the NE of Eq. (Game).
* γ > 0 (default): the magnet tracks the iterates, the regularisation fades, and the last
  iterate approaches the NE of Eq. (Game) (Tab. 1: asymptotic, no α needed).

Regularisation: α = 0.05, γ = 0.05, μ^1 = π^1 (uniform unless ``initial_policy`` is given).
Cost: one contraction per update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.tabular import backward_recursion, regularised_value, reward_against_occupancy
from solvers._common import check_fraction, check_positive, geometric_mixture, normalise_logits
from solvers.base import LogitSolver


@dataclass(frozen=True)
class MMDConfig:
    """Settings of exact MMD."""

    beta: float = 0.1
    """β > 0, the mirror-descent step size (η in Sokota et al.)."""

    alpha: float = 0.05
    """α ≥ 0, the strength of the magnet (the per-state KL-to-μ weight)."""

    magnet_step: float = 0.05
    """γ ∈ [0, 1], how far the magnet moves towards each new iterate (0: a fixed magnet)."""

    def __post_init__(self) -> None:
        check_positive("beta", self.beta)
        check_positive("alpha", self.alpha, allow_zero=True)
        check_fraction("magnet_step", self.magnet_step)


class MMD(LogitSolver):
    """Exact magnetic mirror descent lifted per state, with an optionally moving magnet."""

    config: MMDConfig
    config_class = MMDConfig
    beta_grid = (0.5, 1.0, 2.0)

    def _setup(self) -> None:
        self.log_magnet = self.log_policy.copy()

    def _next_logits(self) -> tuple[np.ndarray, dict[str, Any]]:
        beta, alpha = self.config.beta, self.config.alpha
        reward = reward_against_occupancy(self.game, self.occupancy, check=False)
        value = regularised_value(self.log_policy, alpha, self.log_magnet)
        q, _ = backward_recursion(self.game, reward, value, check=False)
        # (log π^t + βα log μ + β Q) / (1 + βα), written so that α = 0 never forms 0 · (−inf).
        weight = beta * alpha / (1.0 + beta * alpha)
        new_logits = normalise_logits(
            geometric_mixture(self.log_policy, self.log_magnet, weight)
            + beta * q / (1.0 + beta * alpha)
        )
        magnet = normalise_logits(
            geometric_mixture(self.log_magnet, new_logits, self.config.magnet_step)
        )
        return new_logits, {"log_magnet": magnet}
