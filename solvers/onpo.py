"""ONPO (Zhang et al. 2025, optimistic Nash policy optimisation), lifted to H steps.

ONPO is optimistic online mirror descent with two sequences (a bandit method in Tab. 1): a
secondary sequence π̂ takes the observed gradients, and the played policy takes one extra step
along the prediction M^{t+1} = the last gradient::

    π̂^{t+1}(y) ∝ π̂^t(y) exp(β P(y ≻ π^t)),
    π^{t+1}(y)  ∝ π̂^{t+1}(y) exp(β P(y ≻ π^t)),           π̂^1 = π^1.

**Lift.** The natural actor-critic lift of App. D: at every (s1, h, s) the payoff P(y ≻ π^t) is
replaced by g^t = Q_h^{π^t}(s, ·), the standard action value of π^t for the per-step reward
r_h^{π^t} (Lemma 1), with the same β at every stage. In the bandit case this equals OMPO's
one-projection update (π^{t+1} ∝ π^t exp(β(2g^t − g^{t−1}))); lifted to H steps they differ:
ONPO's optimism uses the previous *action value* Q^{π^{t−1}}[r^{π^{t−1}}], OMPO uses the action
value under π^t of the optimistic *reward* 2r^{π^t} − r^{π^{t−1}}, and scales β_h = β/(H−h+1).

No regularisation (α = 0). Guarantee (Tab. 1): the average iterate has duality gap O(1/T)
(O(ε⁻¹) updates); no last-iterate guarantee is claimed. Cost: one contraction per update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.tabular import backward_recursion, reward_against_occupancy, standard_value
from solvers._common import check_positive, normalise_logits
from solvers.base import LogitSolver


@dataclass(frozen=True)
class ONPOConfig:
    """Settings of exact ONPO."""

    beta: float = 0.1
    """β > 0, the step size of both the secondary and the played sequence."""

    def __post_init__(self) -> None:
        check_positive("beta", self.beta)


class ONPO(LogitSolver):
    """Exact ONPO lifted per state: two-sequence optimistic mirror descent on Q."""

    config: ONPOConfig
    config_class = ONPOConfig
    beta_grid = (0.5, 1.0, 2.0)

    def _setup(self) -> None:
        self.log_secondary = self.log_policy.copy()

    def _next_logits(self) -> tuple[np.ndarray, dict[str, Any]]:
        reward = reward_against_occupancy(self.game, self.occupancy, check=False)
        q, _ = backward_recursion(
            self.game, reward, standard_value(np.exp(self.log_policy)), check=False
        )
        secondary = normalise_logits(self.log_secondary + self.config.beta * q)
        return secondary + self.config.beta * q, {"log_secondary": secondary}
