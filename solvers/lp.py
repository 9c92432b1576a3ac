"""The LP Nash equilibrium as a reference "solver" (not an iterative method).

:func:`ompo_envs.tabular.nash_equilibrium` solves the Occ-Game of §2.4 as one linear program per
initial state (HiGHS), max_{d∈F} min_{d'∈F} Σ_h w_h d_hᵀ R d'_h, and returns π*(a|s) =
d*(s, a) / Σ_a d*(s, a). This class puts it behind the solver interface so that benchmarks can
list it beside the iterative methods: the LP is solved once, in the constructor, and
:meth:`step` leaves π* unchanged (so ``policy`` and ``average_policy`` are both π*).

The LP grows with the number of reachable (h, s, a) triples (README gives the measured ladder of
``benchmarks/nash_equilibrium.py``), so it is meant for small games and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.tabular import nash_equilibrium
from solvers._common import build_config
from solvers.base import ExactSolver, check_game


@dataclass(frozen=True)
class LPConfig:
    """Settings of the LP reference (none: HiGHS with the tolerances of ``tabular.nash``)."""


class LPEquilibrium(ExactSolver):
    """The symmetric Nash equilibrium from the occupancy LP, as a constant "iterate"."""

    config: LPConfig
    config_class = LPConfig

    def __init__(self, game_or_env: Any, config: LPConfig | None = None, **fields: Any) -> None:
        """Solve the LP for the game (slow for large games, see the module docstring).

        Args:
            game_or_env: The exact game, or a tabular env.
            config: The (empty) settings.
            **fields: Fields of :class:`LPConfig` (there are none).
        """
        self.config = build_config(LPConfig, config, fields)
        self.equilibrium = nash_equilibrium(check_game(game_or_env))
        super().__init__(game_or_env, self.equilibrium.policy)

    def _update(self) -> tuple[np.ndarray, dict[str, float], dict[str, Any]]:
        return self.policy, {}, {}
