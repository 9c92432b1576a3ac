"""Sample-based MPO (Alg. 4 with the exact tabular step): Q̂ from Eq. 4 through the env API.

Per update t (sampling and unbiasedness: :mod:`solvers.sampled.estimation`):

    Q̂_h^t(s, a) = Ĝ_h(s, a; π^t) ≈ E_{S',A'~d_h^{π^t}} Q_h^{π^t,π^t}(s, a, S', A')      (Eq. 4)
    π_h^{t+1}(·|s) ∝ π_h^t(·|s) exp(β Q̂_h^t(s, ·))                             (Alg. 3/4)

with the same β at every stage, as the exact :class:`solvers.mpo.MPO`. One deliberate difference
from Eq. 4: the paper draws the opponent's continuation from player_0's own state S_h ("S' and S
have the same law"), which is exact only at h = 1; here player_1 starts each continuation from an
independent S'_h ~ d_h^{π^t}(·|s1), so E[Q̂] is exactly the Q of Alg. 3 at every stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.policies import RowKey
from solvers._common import check_positive
from solvers.sampled.base import SampledSolver, check_sampling_fields
from solvers.sampled.estimation import RootEpisodes


@dataclass(frozen=True)
class SampledMPOConfig:
    """Settings of sample-based MPO."""

    beta: float = 0.1
    """β > 0, the learning rate, the same at every stage (Alg. 3/4), as in exact MPO."""

    num_samples: int = 16
    """K ≥ 1, continuations per (visited row, action)."""

    num_episodes: int = 16
    """Root episodes per update; every distinct player_0 row they visit is updated once."""

    seed: int = 0
    """Seed of the solver's generator (env seeds and every policy sample)."""

    def __post_init__(self) -> None:
        check_positive("beta", self.beta)
        check_sampling_fields(self.num_samples, self.num_episodes, self.seed)


class SampledMPO(SampledSolver):
    """MPO whose Q is estimated from env rollouts only (Eq. 4 with fresh opponent states)."""

    config: SampledMPOConfig
    config_class = SampledMPOConfig
    beta_grid = (0.5, 1.0, 2.0)

    def _stage_beta(self) -> np.ndarray:
        return np.full(self.env.horizon, float(self.config.beta))

    def _q_hat(self, episodes: RootEpisodes) -> dict[RowKey, dict[Any, float]]:
        return self._mean_returns(episodes, self._current)
