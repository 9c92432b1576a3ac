"""Fictitious play over occupancy measures (Brown 1951; Robinson 1951), exact version.

Each player best-responds to the empirical (trajectory-level) mixture of the past iterates;
in a symmetric constant-sum game one player suffices::

    π̄^t      = the policy with occupancy (1/t) Σ_{k≤t} d^{π^k}                 (App. E.2)
    π^{t+1}  = a deterministic best response to π̄^t: argmax_a Q*_h(s, a) for the reward
               r_h^{π̄^t}(s, a | s1) = w_h Σ d_h^{π̄^t}(s', a' | s1) r(s, a, s', a').

The average iterate (:attr:`Solver.average_policy`) converges to the NE (Robinson's theorem,
applied to the bilinear Occ-Game), slowly and without a rate better than the worst case; the
last iterate is a pure best response and does not converge. Ties are broken towards the lowest
action index. No step size and no regularisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.tabular import optimal_q_values, reward_against_occupancy
from solvers._common import build_config
from solvers.base import ExactSolver


@dataclass(frozen=True)
class FictitiousPlayConfig:
    """Settings of fictitious play (none: it has no step size)."""


class FictitiousPlay(ExactSolver):
    """Exact fictitious play: best response to the trajectory-level average of past iterates."""

    config: FictitiousPlayConfig
    config_class = FictitiousPlayConfig

    def __init__(
        self,
        game_or_env: Any,
        config: FictitiousPlayConfig | None = None,
        *,
        initial_policy: Any = None,
        **fields: Any,
    ) -> None:
        """Start from π^1 = ``initial_policy`` (uniform by default).

        Args:
            game_or_env: The exact game, or a tabular env.
            config: The (empty) settings.
            initial_policy: π^1, a table (n_init, H, S, A) or a TabularPolicy.
            **fields: Fields of :class:`FictitiousPlayConfig` (there are none).
        """
        self.config = build_config(FictitiousPlayConfig, config, fields)
        super().__init__(game_or_env, initial_policy)

    def _update(self) -> tuple[np.ndarray, dict[str, float], dict[str, Any]]:
        reward = reward_against_occupancy(self.game, self.average_occupancy, check=False)
        q, best_value = optimal_q_values(self.game, reward, check=False)
        greedy = np.zeros_like(q)
        np.put_along_axis(greedy, q.argmax(axis=-1)[..., None], 1.0, axis=-1)
        # max_π̄ ⟨ν1, V^{π̄, π̄^t}⟩ − ½Σw_h: the exploitability of the average, for free.
        return greedy, {"exploitability_average_before": best_value - self.game.value}, {}
