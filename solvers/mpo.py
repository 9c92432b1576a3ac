"""MPO: multi-step preference optimisation by natural actor-critic, exact version (Alg. 3, App. D).

Update (Alg. 3, line 3), with the same constant β at every stage::

    r_h^t(s, a | s1) = w_h Σ_{s',a'} d_h^{π^t}(s', a' | s1) r(s, a, s', a')    (one contraction)
    Q̄_h^t          = standard action value of π^t for r^t  (Lemma 2: E_{S',A'~d^t} Q^{π^t,π^t})
    π_h^{t+1}(a|s)  ∝ π_h^t(a|s) exp(β Q̄_h^t(s, a))

i.e. multiplicative weights (Hedge) at every state on the local losses of the value-difference
Lemma 1. Guarantee (Thm 8): the average iterate (trajectory-level mixture, App. E.2) is an ε-NE
after 16 H⁴ log(1/π_min) / ε² updates with β = √(log(1/π_min) / (T H²)). The last iterate
need not converge: with H = 1 this is MWU, whose iterate cycles around the NE of RPS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.tabular import backward_recursion, reward_against_occupancy, standard_value
from solvers._common import check_positive
from solvers.base import LogitSolver


@dataclass(frozen=True)
class MPOConfig:
    """Settings of exact MPO."""

    beta: float = 0.1
    """β > 0, the learning rate, the same at every stage (Alg. 3)."""

    def __post_init__(self) -> None:
        check_positive("beta", self.beta)


class MPO(LogitSolver):
    """Exact MPO (Alg. 3): Hedge at every state on Q̄^t = Q^{π^t,π^t} averaged over d^{π^t}."""

    config: MPOConfig
    config_class = MPOConfig
    beta_grid = (0.5, 1.0, 2.0)

    def _next_logits(self) -> tuple[np.ndarray, dict[str, Any]]:
        reward = reward_against_occupancy(self.game, self.occupancy, check=False)
        q, _ = backward_recursion(
            self.game, reward, standard_value(np.exp(self.log_policy)), check=False
        )
        return self.log_policy + self.config.beta * q, {}
