"""CFR+, predictive CFR+ and discounted CFR: regret matching at every (s1, h, s), exact version.

Each player's Markov state is its own information: at (s1, h, s) it knows nothing else that
matters, and its strategy space is the occupancy polytope, the sequence form of this game. Regret
minimisation therefore decomposes per state as in CFR (Zinkevich et al. 2007), with the
counterfactual value replaced by the action value of the current iterate. By the performance
difference lemma, for any comparator π̄ and any sequence of opponents,

    Σ_t (V^{π̄} − V^{π^t})(s1) = Σ_h E_{s~d_h^{π̄}} Σ_t ⟨π̄_h(·|s) − π^t_h(·|s), Q_h^t(s, ·)⟩,

so no-regret learners on the instantaneous regrets g_h^t(s, a) = Q_h^t(s, a) − V_h^t(s) at every
(s1, h, s) make the trajectory-level average of the iterates an approximate equilibrium. Q^t and
V^t are the standard Bellman values of π^t for the reward r_h^{π^t} (Lemma 2; self-play: the game
is symmetric, so one iterate plays both seats, the updates are simultaneous, not alternating, and
each update costs **one** pairwise contraction). No step size.

With R^0 = 0 and π^1 uniform (or ``initial_policy``), update t computes g^t for π^t and then

* **CFR+** (Tammelin 2014; Tammelin et al. 2015): regret matching+, R^t = [R^{t−1} + g^t]⁺,
  π^{t+1} ∝ R^t.
* **PCFR+** (Farina, Kroer & Sandholm 2021: predictive regret matching+, with the prediction
  m^{t+1} = g^t): R^t = [R^{t−1} + g^t]⁺, π^{t+1} ∝ [R^t + g^t]⁺.
* **DCFR(α, β, γ)** (Brown & Sandholm 2019): R^t = D_t(R^{t−1} + g^t), where D_t multiplies
  positive entries by t^α / (t^α + 1) and the others by t^β / (t^β + 1); π^{t+1} ∝ [R^t]⁺.
  Defaults α = 3/2, β = 0, γ = 2 (the setting the paper recommends).

π ∝ x means x / Σ_a x at each (s1, h, s), uniform where Σ_a x = 0. The average iterate is the
trajectory-level mixture of π^1, …, π^{T+1} (the current iterate included, as for every solver of
the suite) with weights w_t = t^γ (:meth:`~solvers.base.ExactSolver.iterate_weight`): its
occupancy is Σ_t w_t d^{π^t} / Σ_t w_t. γ = 1 (linear averaging) for CFR+ as in Tammelin et al.
(2015); γ = 2 (quadratic) for PCFR+, as in Farina et al. (2021)'s experiments, and for DCFR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ompo_envs.core.rows import row_sum
from ompo_envs.tabular import TabularGame, backward_recursion, reward_against_occupancy
from ompo_envs.tabular import standard_value as _standard_value
from solvers._common import build_config, check_positive
from solvers.base import ExactSolver


def regret_matching(positive_regret: np.ndarray) -> np.ndarray:
    """π(a|s) = x(a) / Σ_b x(b) over the last axis for x ≥ 0; uniform where Σ_b x(b) = 0."""
    total = row_sum(positive_regret)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, positive_regret / total, 1.0 / positive_regret.shape[-1])


def instantaneous_regret(
    game: TabularGame, policy: np.ndarray, occupancy: np.ndarray, *, check: bool = True
) -> np.ndarray:
    """g_h(s, a | s1) = Q_h(s, a) − V_h(s) of π in self-play (one pairwise contraction).

    Args:
        game: The game.
        policy: π, shape (n_init, H, S, A).
        occupancy: d^π (the opponent in self-play), shape (n_init, H, S, A).
        check: False skips the checks of the occupancy and of the rewards
            (:func:`~ompo_envs.tabular.backward_recursion`'s ``check``).
    """
    reward = reward_against_occupancy(game, occupancy, check=check)
    q, v = backward_recursion(game, reward, _standard_value(policy), check=check)
    return q - v[:, :-1, :, None]


@dataclass(frozen=True)
class CFRPlusConfig:
    """Settings of CFR+ (no step size)."""

    averaging_power: float = 1.0
    """γ ≥ 0: iterate t has weight t^γ in the average (1: linear averaging, as in CFR+)."""

    def __post_init__(self) -> None:
        check_positive("averaging_power", self.averaging_power, allow_zero=True)


@dataclass(frozen=True)
class PCFRPlusConfig:
    """Settings of predictive CFR+ (no step size)."""

    averaging_power: float = 2.0
    """γ ≥ 0: iterate t has weight t^γ in the average (2: quadratic averaging)."""

    def __post_init__(self) -> None:
        check_positive("averaging_power", self.averaging_power, allow_zero=True)


@dataclass(frozen=True)
class DCFRConfig:
    """Settings of discounted CFR (Brown & Sandholm 2019); the defaults are theirs."""

    alpha: float = 1.5
    """α ≥ 0: positive accumulated regrets are multiplied by t^α / (t^α + 1) at update t."""

    beta: float = 0.0
    """β (any real; not a step size): the other accumulated regrets are multiplied by
    t^β / (t^β + 1) at update t."""

    gamma: float = 2.0
    """γ ≥ 0: iterate t has weight t^γ in the average."""

    def __post_init__(self) -> None:
        check_positive("alpha", self.alpha, allow_zero=True)
        if isinstance(self.beta, bool) or not isinstance(
            self.beta, int | float | np.integer | np.floating
        ):
            raise TypeError(f"beta must be a real number, got {self.beta!r}")
        if not np.isfinite(self.beta):
            raise ValueError(f"beta must be finite, got {self.beta}")
        check_positive("gamma", self.gamma, allow_zero=True)


class RegretMatchingSolver(ExactSolver):
    """Regret matching at every (s1, h, s) with a t^γ-weighted average (module docstring).

    Subclasses set ``config_class`` and may override :meth:`_accumulate` (R^{t−1}, g^t → R^t)
    and :meth:`_matched` (the vector whose positive part π^{t+1} is proportional to).
    """

    config_class: ClassVar[type]
    beta_grid: ClassVar[tuple[float, ...]] = ()
    cost_per_update: ClassVar[float] = 1.0

    def __init__(
        self,
        game_or_env: Any,
        config: Any = None,
        *,
        initial_policy: Any = None,
        **fields: Any,
    ) -> None:
        """Start from R^0 = 0 and π^1 = ``initial_policy`` (uniform by default).

        Args:
            game_or_env: The exact game, or a tabular env (its ``unwrapped.game`` is used).
            config: An instance of ``config_class``; or give its fields as keywords, not both.
            initial_policy: π^1, a table (n_init, H, S, A) or a TabularPolicy.
            **fields: Fields of ``config_class``.
        """
        self.config = build_config(self.config_class, config, fields)
        super().__init__(game_or_env, initial_policy)
        self.cumulative_regret = np.zeros(self.game.policy_shape)

    @property
    def averaging_power(self) -> float:
        """γ: iterate t has weight t^γ in :attr:`average_policy`."""
        return float(self.config.averaging_power)

    def iterate_weight(self, t: int) -> float:
        """w_t = t^γ.

        Raises:
            FloatingPointError: t^γ overflows (the step that needs it leaves the solver unchanged).
        """
        try:
            return float(t) ** self.averaging_power
        except OverflowError:
            raise FloatingPointError(
                f"the average's weight t^γ of iterate {t} overflows (γ = {self.averaging_power}); "
                "the solver is unchanged. Lower the averaging power."
            ) from None

    def _update(self) -> tuple[np.ndarray, dict[str, float], dict[str, Any]]:
        regret = instantaneous_regret(self.game, self.policy, self.occupancy, check=False)
        cumulative = self._accumulate(self.cumulative_regret, regret)
        matched = self._matched(cumulative, regret)
        return regret_matching(np.maximum(matched, 0.0)), {}, {"cumulative_regret": cumulative}

    def _accumulate(self, cumulative: np.ndarray, regret: np.ndarray) -> np.ndarray:
        """R^t from R^{t−1} and g^t (default: regret matching+, [R^{t−1} + g^t]⁺)."""
        return np.maximum(cumulative + regret, 0.0)

    def _matched(self, cumulative: np.ndarray, regret: np.ndarray) -> np.ndarray:
        """The vector whose positive part π^{t+1} is proportional to (default: R^t)."""
        return cumulative


class CFRPlus(RegretMatchingSolver):
    """CFR+: regret matching+ on Q − V at every (s1, h, s), linear averaging.

    Example::

        solver = CFRPlus(game)
        for _ in range(100):
            solver.step()
        solver.evaluate()["exploitability_average"]
    """

    config: CFRPlusConfig
    config_class = CFRPlusConfig


class PCFRPlus(RegretMatchingSolver):
    """Predictive CFR+: regret matching+ with the last instantaneous regret as the prediction."""

    config: PCFRPlusConfig
    config_class = PCFRPlusConfig

    def _matched(self, cumulative: np.ndarray, regret: np.ndarray) -> np.ndarray:
        return cumulative + regret


def _discount(t: float, exponent: float) -> float:
    """t^e / (t^e + 1); 1 where t^e overflows (a huge but finite e)."""
    try:
        power = t**exponent
    except OverflowError:
        return 1.0
    return power / (power + 1.0)


class DCFR(RegretMatchingSolver):
    """Discounted CFR(α, β, γ): regret matching on discounted regrets, t^γ averaging."""

    config: DCFRConfig
    config_class = DCFRConfig

    @property
    def averaging_power(self) -> float:
        """γ of DCFR(α, β, γ)."""
        return float(self.config.gamma)

    def _accumulate(self, cumulative: np.ndarray, regret: np.ndarray) -> np.ndarray:
        t = float(self.iteration + 1)  # this is update t (``iteration`` counts finished ones)
        positive, negative = _discount(t, self.config.alpha), _discount(t, self.config.beta)
        total = cumulative + regret
        return np.where(total > 0, positive * total, negative * total)
