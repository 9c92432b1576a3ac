"""Sample-based SPPO (Wu et al. 2024, the paper's baseline): MWU on an estimated win rate.

SPPO plays multiplicative weights on the probability that a response beats the current policy,
π^{t+1}(a|s) ∝ π^t(a|s) exp(β P(a ≻ π^t(·|s))) (App. B.2). In the multi-step game the "response"
from a state s at stage h is the rest of the conversation, as in the paper's iterative-SPPO
baseline (§4.2: win rates of complete conversations sampled from the same start), so here

    P̂_h(a ≻ π^t | s) = (1/W_h) Ĝ_h(s, a; π^t),   W_h = number of paid stages τ ≥ h        (win rate)
    π_h^{t+1}(·|s) ∝ π_h^t(·|s) exp(β P̂_h(· ≻ π^t | s))

with Ĝ_h(s, a; π^t) the mean over K continuations of player_0's return from stage h after playing
a (against player_1 ~ π^t from an independent S'_h, see :mod:`solvers.sampled.estimation`), and
W_h = H − h + 1 with intermediate rewards (1 with terminal rewards), so P̂ ∈ [0, 1] is an average
per-stage preference. With H = 1 this is exactly the update above — and then coincides with MPO's
(App. B.2); for H > 1 it is MPO's Q averaged per stage, i.e. MPO with β_h = β / W_h. Like MPO it
has no optimism: its last iterate need not converge, only the average (Freund & Schapire).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.core import PreferenceGameEnv
from solvers._common import check_positive
from solvers.sampled.base import SampledSolver, check_sampling_fields
from solvers.sampled.estimation import BranchPoint, SavedPoint
from solvers.sampled.policies import RowKey, TabularPolicy


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

    def __init__(
        self,
        env: PreferenceGameEnv,
        config: SampledSPPOConfig | None = None,
        *,
        initial_policy: TabularPolicy | None = None,
    ) -> None:
        """Start from π^1 = ``initial_policy`` (uniform by default).

        Args:
            env: A tabular ompo-envs env (its ``infos`` carry ``h`` and ``init_index``).
            config: The settings (default :class:`SampledSPPOConfig()`).
            initial_policy: π^1.
        """
        config = SampledSPPOConfig() if config is None else config
        if not isinstance(config, SampledSPPOConfig):
            raise TypeError(f"config must be a SampledSPPOConfig, got {type(config).__name__}")
        self.config = config
        super().__init__(env, initial_policy)
        horizon = self.env.horizon
        if self.env.reward_mode == "terminal":
            self._paid_stages = np.ones(horizon)
        else:
            self._paid_stages = horizon - np.arange(horizon, dtype=np.float64)

    def _stage_beta(self) -> np.ndarray:
        return np.full(self.env.horizon, float(self.config.beta))

    def _q_hat(
        self, branches: list[BranchPoint], roots: list[SavedPoint]
    ) -> dict[RowKey, dict[Any, float]]:
        returns = self._mean_returns(branches, roots, self._current)
        stage_of = {b.key: b.point.stage for b in branches}
        return {
            row: {a: g / self._paid_stages[stage_of[row] - 1] for a, g in values.items()}
            for row, values in returns.items()
        }
