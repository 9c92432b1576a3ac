"""OMPO: optimistic multi-step preference optimisation, exact version (Alg. 1 over policies).

Alg. 1 is optimistic online mirror descent with one projection (Joulani et al.) on the bilinear
Occ-Game over occupancy measures. With the divergence of App. F.2 (the conditional relative
entropy summed over stages h' ≤ h) the occupancy update is implemented over policies
(Thm 10, §3.2)::

    r_h^t(s, a | s1) = w_h Σ_{s',a'} d_h^{π^t}(s', a' | s1) r(s, a, s', a')     (one contraction)
    r̃^t           = 2 r^t − r^{t−1},       r^0 = r^1  (i.e. d^0 = d^1)
    Q_h^t           = r̃_h^t + f V_{h+1}^t
    π_h^{t+1}(a|s)  ∝ π_h^t(a|s) exp(β_h Q_h^t(s, a)),       β_h = β / (H − h + 1)

with the value V selected by :attr:`OMPOConfig.bellman`:

* ``"soft"`` — the exact recursion of Thm 10, V_h^t(s) = (1/β_h) log Σ_a π_h^t(a|s) e^{β_h Q_h^t};
  π^{t+1} then has exactly the occupancy d^{t+1} of Alg. 1.
* ``"standard"`` — the approximation of §3.2 / App. F.3, V_h^t = ⟨π_h^t, Q_h^t⟩, i.e. Q^t is the
  ordinary action value of π^t for the reward r̃^t (what Alg. 2 estimates by Monte Carlo);
  Thm 7 bounds the per-stage gap by β_h Q_max².

Guarantee (Thm 4): the average iterate (trajectory-level mixture) is an ε-NE after
O(H log(1/d_min) / (β ε)) updates for β ≤ 1/√2; the last iterate converges asymptotically
(Thm 6). Thm 5: the min player's iterates coincide with these, so one player suffices.

Cost per update: one pairwise contraction (r^{t−1} is kept from the previous update), one
backward pass and one forward occupancy pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ompo_envs.tabular import (
    backward_recursion,
    reward_against_occupancy,
    soft_value,
    standard_value,
)
from solvers._common import check_positive, stage_step_sizes
from solvers.base import LogitSolver


@dataclass(frozen=True)
class OMPOConfig:
    """Settings of exact OMPO."""

    beta: float = 1.0
    """β > 0, the learning rate; stage h uses β_h = β / (H − h + 1) (Thm 10). Thm 4 needs
    β ≤ 1/√2; larger values often still converge on random games (see the benchmark)."""

    bellman: Literal["standard", "soft"] = "standard"
    """``"soft"``: the exact soft-Bellman recursion of Thm 10; ``"standard"``: the standard
    Bellman approximation of §3.2 / App. F.3 (what the practical Alg. 2 uses)."""

    def __post_init__(self) -> None:
        check_positive("beta", self.beta)
        if self.bellman not in ("standard", "soft"):
            raise ValueError(f"bellman must be 'standard' or 'soft', got {self.bellman!r}")


class OMPO(LogitSolver):
    """Exact OMPO (Alg. 1 implemented over policies, App. F.2 / Thm 10).

    Example::

        solver = OMPO(game, beta=1.0)             # or OMPO(game, OMPOConfig(beta=1.0))
        for _ in range(100):
            solver.step()
        solver.evaluate()["exploitability_average"]
    """

    config: OMPOConfig
    config_class = OMPOConfig
    beta_grid = (10.0, 20.0, 40.0)

    def _setup(self) -> None:
        self._stage_beta = stage_step_sizes(self.config.beta, self.game.horizon)
        self._previous_reward: np.ndarray | None = None  # r^{t−1}; None means d^0 = d^1

    def optimistic_reward(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (r^t, r̃^t = 2 r^t − r^{t−1}) for the current iterate, each (n, H, S, A)."""
        reward = reward_against_occupancy(self.game, self.occupancy, check=False)
        previous = reward if self._previous_reward is None else self._previous_reward
        return reward, 2.0 * reward - previous

    def q_values(self, optimistic_reward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Q^t and V^t for the reward r̃^t under π^t, with the configured Bellman recursion."""
        if self.config.bellman == "soft":
            value = soft_value(self.log_policy, self._stage_beta)
        else:
            value = standard_value(self.policy)
        return backward_recursion(self.game, optimistic_reward, value, check=False)

    def _next_logits(self) -> tuple[np.ndarray, dict[str, Any]]:
        reward, optimistic = self.optimistic_reward()
        q, _ = self.q_values(optimistic)
        step = self._stage_beta[None, :, None, None]
        return self.log_policy + step * q, {"_previous_reward": reward}
