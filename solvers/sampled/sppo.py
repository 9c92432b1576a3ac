"""Sample-based SPPO (Wu et al. 2024, the paper's baseline): MWU on an estimated win rate.

SPPO plays multiplicative weights on the probability that a response beats the current policy,
π^{t+1}(a|s) ∝ π^t(a|s) exp(β P(a ≻ π^t(·|s))) (App. B.2). Lifted to H steps as the exact
:class:`solvers.sppo.SPPO` does (the paper's §4.2 baseline compares complete conversations), the
response is the trajectory and its win rate is the total payoff normalised to [0, 1] by
W = Σ_h w_h (H with intermediate rewards, 1 with terminal ones). From a visited row:

    P̂_h(s, a) = (1/W) Ĝ_h(s, a; π^t)                              (win rate from stage h on)
    π_h^{t+1}(·|s) ∝ π_h^t(·|s) exp(β P̂_h(s, ·))                  (same β at every stage)

with Ĝ_h(s, a; π^t) the mean over K continuations of player_0's return Σ_{τ≥h} r_τ after playing
a (against player_1 ~ π^t from an independent S'_h, see :mod:`solvers.sampled.estimation`).
E[P̂_h] is the *standard*-Bellman action value of the normalised reward; exact SPPO tilts the
trajectory distribution with the soft-Bellman value, which a plain return cannot estimate without
bias — the two agree for H = 1 (where this is also MPO's update, App. B.2) and as β → 0 (Thm 7).
Like MPO it has no optimism: the last iterate cycles, only the average converges.
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
class SampledSPPOConfig:
    """Settings of sample-based SPPO."""

    beta: float = 1.0
    """β > 0, the learning rate (η of SPPO) applied to the win rate in [0, 1]."""

    num_samples: int = 16
    """K ≥ 1, continuations per (visited row, action) that estimate the win rate."""

    num_episodes: int = 16
    """Root episodes per update; every distinct player_0 row they visit is updated once."""

    seed: int = 0
    """Seed of the solver's generator (env seeds and every policy sample)."""

    def __post_init__(self) -> None:
        check_positive("beta", self.beta)
        check_sampling_fields(self.num_samples, self.num_episodes, self.seed)


class SampledSPPO(SampledSolver):
    """SPPO with the win rate P(a ≻ π^t | s) estimated from K env continuations."""

    config: SampledSPPOConfig
    config_class = SampledSPPOConfig
    beta_grid = (5.0, 10.0, 20.0)

    @property
    def _paid_stages(self) -> float:
        """Σ_h w_h: the number of stages that pay a preference (1 with terminal rewards)."""
        return 1.0 if self.env.reward_mode == "terminal" else float(self.env.horizon)

    def _stage_beta(self) -> np.ndarray:
        return np.full(self.env.horizon, float(self.config.beta))

    def _q_hat(self, episodes: RootEpisodes) -> dict[RowKey, dict[Any, float]]:
        returns = self._mean_returns(episodes, self._current)
        return {
            row: {a: g / self._paid_stages for a, g in values.items()}
            for row, values in returns.items()
        }
