"""SPPO (Wu et al. 2024, self-play preference optimisation), lifted to H steps at sequence level.

SPPO is a bandit method (Tab. 1: no intermediate signal, not multi-step): for a prompt x and a
whole response y it plays multiplicative weights on the win rate against the current policy,

    π^{t+1}(y | x) ∝ π^t(y | x) exp(β P(y ≻ π^t | x)).

**Lift.** As in the paper's own SPPO baseline (§4.2: complete conversations are compared), the
response y is the whole trajectory τ = (s_1, a_1, …, s_H, a_H) and its preference against π^t is
the trajectory-level win rate, normalised to [0, 1]:

    P(τ ≻ π^t) = (1 / Σ_h w_h) Σ_h r_h^{π^t}(s_h, a_h | s1),
    r_h^{π^t}(s, a | s1) = w_h Σ_{s',a'} d_h^{π^t}(s', a' | s1) r(s, a, s', a').

The tilt of the trajectory distribution, π^{t+1}(τ) ∝ π^t(τ) exp(β P(τ ≻ π^t)), is realised by a
Markov policy through the soft Bellman recursion with the *same* β at every stage (exact when
the transitions are deterministic, as for token-level MDPs, Example 1; with stochastic f it is
the mirror step for the trajectory KL, Σ_h E_{d_h} KL(π_h ‖ π_h^t)):

    Q_h = P_h + f V_{h+1},  V_h(s) = (1/β) log Σ_a π_h^t(a|s) e^{β Q_h(s,a)},
    π_h^{t+1}(a|s) = π_h^t(a|s) exp(β (Q_h(s, a) − V_h(s))).

No regularisation (α = 0, no reference policy). Guarantee (Tab. 1): the average iterate reaches
an ε-NE after O(ε⁻²) updates; the last iterate cycles (with H = 1 it is MWU).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.tabular import backward_recursion, reward_against_occupancy, soft_value
from solvers._common import check_positive, trajectory_scale
from solvers.base import LogitSolver


@dataclass(frozen=True)
class SPPOConfig:
    """Settings of exact sequence-level SPPO."""

    beta: float = 1.0
    """β > 0, the learning rate (η in Wu et al.) on the [0, 1]-valued trajectory win rate."""

    def __post_init__(self) -> None:
        check_positive("beta", self.beta)


class SPPO(LogitSolver):
    """Exact SPPO lifted to whole trajectories (multiplicative weights over responses)."""

    config: SPPOConfig
    config_class = SPPOConfig
    beta_grid = (5.0, 10.0, 20.0)

    def _next_logits(self) -> tuple[np.ndarray, dict[str, Any]]:
        win_rate = trajectory_scale(self.game) * reward_against_occupancy(
            self.game, self.occupancy, check=False
        )
        stage_beta = np.full(self.game.horizon, self.config.beta)
        q, v = backward_recursion(
            self.game, win_rate, soft_value(self.log_policy, stage_beta), check=False
        )
        return self.log_policy + self.config.beta * (q - v[:, :-1, :, None]), {}
