"""Sample-based OMPO (Alg. 2 with the exact tabular step): Q̂ from Eq. 2 through the env API.

Per update t (see :mod:`solvers.sampled.estimation` for the sampling and why it is unbiased):

    Q̂_h^t(s, a) = 2 Ĝ_h(s, a; π^t) − Ĝ_h(s, a; π^{t−1})                        (Eq. 2)
    Q̂_h^1(s, a) = Ĝ_h(s, a; π^1)                                            (t = 1)
    π_h^{t+1}(·|s) ∝ π_h^t(·|s) exp(β_h Q̂_h^t(s, ·)),   β_h = β / (H − h + 1)   (§3.2)

where Ĝ_h(s, a; q) is the mean over K continuations of player_0's return Σ_{τ≥h} r_τ after
playing a in s at stage h and π^t afterwards, against player_1 ~ q from an independent stage-h
state S'_h ~ d_h^q(·|s1). E[Q̂] = Q_{h,r̃}^{π^t}(s, a) with r̃ = 2 r^t − r^{t−1}, the standard
(Thm 7 / App. F.3) Q that the exact :class:`solvers.ompo.OMPO` uses with ``bellman="standard"``:
as K → ∞ (and with every reachable row visited) the iterates coincide with the exact solver's.
The update is the exactly normalised exponential-weights step at every visited row — the
tabular solution of Alg. 2's regression (for an LLM, log Z_h(s) ≈ β (H − h + 1) / 2 instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.policies import RowKey
from solvers._common import check_positive, stage_step_sizes
from solvers.sampled.base import SampledSolver, check_sampling_fields
from solvers.sampled.estimation import RootEpisodes


@dataclass(frozen=True)
class SampledOMPOConfig:
    """Settings of sample-based OMPO."""

    beta: float = 1.0
    """β > 0, the learning rate; stage h uses β_h = β / (H − h + 1), as in exact OMPO."""

    num_samples: int = 16
    """K ≥ 1, continuations per (visited row, action) for each of the two terms of Eq. 2."""

    num_episodes: int = 16
    """Root episodes per update; every distinct player_0 row they visit is updated once."""

    seed: int = 0
    """Seed of the solver's generator (env seeds and every policy sample)."""

    def __post_init__(self) -> None:
        check_positive("beta", self.beta)
        check_sampling_fields(self.num_samples, self.num_episodes, self.seed)


class SampledOMPO(SampledSolver):
    """OMPO whose Q is estimated by Eq. 2 from env rollouts only (the model is never read).

    Example::

        env = ompo_envs.make("RandomGame-v0", game_seed=1, num_states=4, num_actions=2, horizon=2)
        solver = SampledOMPO(env, SampledOMPOConfig(beta=1.0, num_samples=32))
        for _ in range(20):
            solver.step()
        solver.evaluate()["exploitability_last"]     # evaluation (only) uses the model
    """

    config: SampledOMPOConfig
    config_class = SampledOMPOConfig
    beta_grid = (10.0, 20.0, 40.0)
    #: Two Q̂ estimates per update: against π^t and against π^{t−1} (Eq. 2).
    cost_per_update = 2.0

    def _stage_beta(self) -> np.ndarray:
        return stage_step_sizes(self.config.beta, self.env.horizon)

    def _q_hat(self, episodes: RootEpisodes) -> dict[RowKey, dict[Any, float]]:
        current = self._mean_returns(episodes, self._current)
        if self._previous is None:
            return current
        previous = self._mean_returns(episodes, self._previous)
        return {
            row: {a: 2.0 * g - previous[row][a] for a, g in values.items()}
            for row, values in current.items()
        }
