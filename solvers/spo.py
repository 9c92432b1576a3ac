"""SPO (Swamy et al. 2024, self-play preference optimisation), exact version.

SPO reduces the preference game to single-agent RL: each iterate is rewarded by the win rate of
its *whole trajectory* against trajectories of the current policy (a terminal reward, Tab. 1:
multi-step but no intermediate signal), and a no-regret policy-optimisation step (soft policy
iteration / natural policy gradient) is taken on that reward; the average iterate converges.

**Lift / exact update.** The terminal reward is the trajectory win rate normalised to [0, 1],
P(τ ≻ π^t) = (1 / Σ_h w_h) Σ_h r_h^{π^t}(s_h, a_h | s1). Its action value under π^t at (h, s, a)
is (1/Σ_h w_h) Q_h^{π^t}(s, a) plus the expected reward already collected before stage h, which
does not depend on a and so cancels in the softmax. The no-regret step is Hedge at every state:

    π_h^{t+1}(a|s) ∝ π_h^t(a|s) exp(β Q_h^{π^t}(s, a) / Σ_h w_h),

with Q^{π^t} the standard action value for r^{π^t} (Lemma 2). With exact values SPO is therefore
MPO (Alg. 3) with β / Σ_h w_h; the two differ only when estimated from samples (one terminal
comparison per trajectory pair versus per-step comparisons, see ``solvers.sampled``). No
regularisation (α = 0). Guarantee (Swamy et al., Tab. 1): average iterate, O(ε⁻²) updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.tabular import backward_recursion, reward_against_occupancy, standard_value
from solvers._common import check_positive, trajectory_scale
from solvers.base import LogitSolver


@dataclass(frozen=True)
class SPOConfig:
    """Settings of exact SPO."""

    beta: float = 1.0
    """β > 0, the policy-optimisation step size on the [0, 1]-valued trajectory win rate."""

    def __post_init__(self) -> None:
        check_positive("beta", self.beta)


class SPO(LogitSolver):
    """Exact SPO: Hedge at every state on the terminal trajectory win rate's action value."""

    config: SPOConfig
    config_class = SPOConfig
    beta_grid = (5.0, 10.0, 20.0)

    def _next_logits(self) -> tuple[np.ndarray, dict[str, Any]]:
        win_rate = trajectory_scale(self.game) * reward_against_occupancy(
            self.game, self.occupancy, check=False
        )
        q, _ = backward_recursion(
            self.game, win_rate, standard_value(np.exp(self.log_policy)), check=False
        )
        return self.log_policy + self.config.beta * q, {}
