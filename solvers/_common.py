"""Maths shared by the exact solvers: log-policies, mirror steps and Bellman recursions.

Everything works on tabular arrays of shape (n, H, S, A) (n initial states, H stages, S states,
A actions) and loops over the H stages only. Policies are carried as log-probabilities
("logits", normalised so that logsumexp over actions is 0) so that repeated multiplicative
updates π ∝ π exp(β Q) never underflow to an exact zero.

* standard Bellman (Lemma 2):   Q_h = r_h + f V_{h+1},  V_h = ⟨π_h, Q_h⟩
* soft Bellman (Thm 10):        Q_h = r_h + f V_{h+1},  V_h = (1/β_h) log Σ_a π_h(a|s) e^{β_h Q_h}
* KL-regularised evaluation:     Q_h = r_h + f V_{h+1},  V_h = ⟨π_h, Q_h⟩ − α KL(π_h ‖ μ_h)
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import numpy as np

from ompo_envs.tabular import TabularGame, check_policy, uniform_policy
from solvers.base import Solver

ConfigT = TypeVar("ConfigT")


def build_config(
    config_cls: type[ConfigT], config: ConfigT | None, fields: dict[str, Any]
) -> ConfigT:
    """Return ``config`` or ``config_cls(**fields)``: the two spellings of one configuration.

    ``Solver(game, Config(beta=0.1))`` and ``Solver(game, beta=0.1)`` mean the same thing; giving
    both is ambiguous and raises.

    Raises:
        TypeError: Both a config and keyword fields were given, the config has the wrong type, or
            a keyword is not a field of ``config_cls``.
    """
    if config is not None and fields:
        raise TypeError(
            f"pass either a {config_cls.__name__} or its fields as keywords, not both "
            f"(got config and {sorted(fields)})"
        )
    if config is None:
        names = {f.name for f in dataclasses.fields(config_cls)}  # type: ignore[arg-type]
        unknown = sorted(set(fields) - names)
        if unknown:
            raise TypeError(
                f"{config_cls.__name__} has no field(s) {unknown}; its fields are {sorted(names)}"
            )
        return config_cls(**fields)
    if not isinstance(config, config_cls):
        raise TypeError(f"config must be a {config_cls.__name__}, got {type(config).__name__}")
    return config


def check_positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    """Raise unless ``value`` is a finite real number > 0 (or ≥ 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")


def check_regularisation(beta: object, alpha: object) -> None:
    """Raise unless β > 0, α ≥ 0 and βα ≤ 1 (the weight of μ in a geometric mixture)."""
    check_positive("beta", beta)
    check_positive("alpha", alpha, allow_zero=True)
    if beta * alpha > 1:  # type: ignore[operator]
        raise ValueError(
            f"beta * alpha must be <= 1 (the weight of μ in the geometric mixture), got "
            f"{beta} * {alpha}; lower beta or alpha"
        )


def check_fraction(name: str, value: object) -> None:
    """Raise unless ``value`` lies in [0, 1]."""
    check_positive(name, value, allow_zero=True)
    if value > 1:  # type: ignore[operator]
        raise ValueError(f"{name} must lie in [0, 1], got {value}")


def normalise_logits(logits: np.ndarray) -> np.ndarray:
    """Return log-probabilities: ``logits`` shifted so that logsumexp over the last axis is 0."""
    top = logits.max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore"):
        return logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))


def logits_from_policy(policy: np.ndarray) -> np.ndarray:
    """Return log π, with −inf where π = 0."""
    with np.errstate(divide="ignore"):
        return normalise_logits(np.log(policy))


def policy_from_logits(logits: np.ndarray) -> np.ndarray:
    """π = exp(log π), renormalised against rounding."""
    policy = np.exp(normalise_logits(logits))
    return policy / policy.sum(axis=-1, keepdims=True)


def geometric_mixture(log_p: np.ndarray, log_q: np.ndarray, weight: float) -> np.ndarray:
    """Unnormalised log of p^{1 − weight} q^{weight}, weight ∈ [0, 1] (0 · log 0 taken as 0)."""
    if weight == 0.0:
        return log_p.copy()
    if weight == 1.0:
        return log_q.copy()
    return (1.0 - weight) * log_p + weight * log_q


def stage_step_sizes(beta: float, horizon: int) -> np.ndarray:
    """β_h = β / (H − h + 1) for h = 1..H (Thm 10; the weight of stage h in the divergence)."""
    return beta / (horizon - np.arange(horizon))


def trajectory_scale(game: TabularGame) -> float:
    """1 / Σ_h w_h: turns the total payoff of a trajectory pair into a preference in [0, 1]."""
    return 1.0 / float(game.stage_weights.sum())


def kl_divergence(log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """KL(p ‖ q) over the last axis, from log-probabilities (0 · log 0 = 0)."""
    p = np.exp(log_p)
    with np.errstate(invalid="ignore"):
        terms = np.where(p > 0, p * (log_p - log_q), 0.0)
    return terms.sum(axis=-1)


def backward_recursion(
    game: TabularGame,
    stage_reward: np.ndarray,
    state_value: Callable[[int, np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Q_h = r_h + f V_{h+1}, V_h = ``state_value(h, Q_h)``, V_{H+1} = 0, for h = H..1.

    Args:
        game: The game (for f).
        stage_reward: r_h(s, a | s1), shape (n, H, S, A).
        state_value: Maps the stage index h (0-based) and Q_h of shape (n, S, A) to V_h, (n, S).

    Returns:
        ``(Q, V)`` with shapes (n, H, S, A) and (n, H + 1, S).
    """
    n, horizon, num_states, num_actions = stage_reward.shape
    if (num_states, num_actions, horizon) != (game.num_states, game.num_actions, game.horizon):
        raise ValueError(
            f"stage_reward must have shape (n, H, S, A) with (H, S, A) = "
            f"{(game.horizon, game.num_states, game.num_actions)}, got {stage_reward.shape}"
        )
    kernel_t = game.transitions.reshape(num_states * num_actions, num_states).T
    q = np.empty_like(stage_reward)
    v = np.zeros((n, horizon + 1, num_states))
    for h in range(horizon - 1, -1, -1):
        continuation = (v[:, h + 1] @ kernel_t).reshape(n, num_states, num_actions)
        q[:, h] = stage_reward[:, h] + continuation
        v[:, h] = state_value(h, q[:, h])
    return q, v


def standard_q_values(
    game: TabularGame, log_policy: np.ndarray, stage_reward: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Standard Bellman evaluation of π (Lemma 2): V_h = ⟨π_h, Q_h⟩."""
    policy = np.exp(log_policy)
    return evaluate_policy(game, policy, stage_reward)


def evaluate_policy(
    game: TabularGame, policy: np.ndarray, stage_reward: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`standard_q_values` from π itself rather than log π."""
    return backward_recursion(
        game, stage_reward, lambda h, q_h: np.einsum("nsa,nsa->ns", policy[:, h], q_h)
    )


def soft_q_values(
    game: TabularGame, log_policy: np.ndarray, stage_reward: np.ndarray, stage_beta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Soft Bellman recursion of Thm 10: V_h(s) = (1/β_h) log Σ_a π_h(a|s) exp(β_h Q_h(s, a)).

    Args:
        game: The game (for f).
        log_policy: log π^t, shape (n, H, S, A).
        stage_reward: r̃_h, shape (n, H, S, A).
        stage_beta: β_h > 0, shape (H,).

    Returns:
        ``(Q, V)``; the mirror step is then log π^{t+1}_h = log π^t_h + β_h (Q_h − V_h), which
        is already normalised.
    """

    def soft_value(h: int, q_h: np.ndarray) -> np.ndarray:
        z = log_policy[:, h] + stage_beta[h] * q_h
        top = z.max(axis=-1)
        return (top + np.log(np.exp(z - top[..., None]).sum(axis=-1))) / stage_beta[h]

    return backward_recursion(game, stage_reward, soft_value)


def regularised_q_values(
    game: TabularGame,
    log_policy: np.ndarray,
    stage_reward: np.ndarray,
    alpha: float,
    log_reference: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """KL-regularised evaluation: V_h = ⟨π_h, Q_h⟩ − α KL(π_h(·|s) ‖ μ_h(·|s)).

    Q_h(s, a) = r_h(s, a) + E_{s'~f(·|s,a)} V_{h+1}(s'): the value of π in the game where the
    learner pays α · KL to the reference/magnet μ at every state it visits (MTPO, MMD, EGPO).
    """
    policy = np.exp(log_policy)
    penalty = alpha * kl_divergence(log_policy, log_reference)  # (n, H, S)
    return backward_recursion(
        game,
        stage_reward,
        lambda h, q_h: np.einsum("nsa,nsa->ns", policy[:, h], q_h) - penalty[:, h],
    )


def check_game(game: object) -> TabularGame:
    """Raise a TypeError unless ``game`` is a :class:`~ompo_envs.tabular.TabularGame`."""
    if not isinstance(game, TabularGame):
        raise TypeError(
            "exact solvers need a TabularGame (for a registered env: env.unwrapped.game), got "
            f"{type(game).__name__}"
        )
    return game


class LogitSolver(Solver):
    """A :class:`Solver` that carries log π^t and makes multiplicative (mirror) updates.

    Subclasses implement :meth:`_next_logits`. Every update reports ``kl_step`` =
    E_{s1~ν1} Σ_h E_{s~d_h^{π^t}} KL(π^{t+1}_h(·|s) ‖ π^t_h(·|s)), the trajectory KL of the step
    (zero at a fixed point; it does not vanish while an iterate cycles).
    """

    #: The frozen config dataclass of the solver.
    config_class: ClassVar[type]

    def __init__(
        self,
        game: TabularGame,
        config: Any = None,
        *,
        initial_policy: np.ndarray | None = None,
        **fields: Any,
    ) -> None:
        """Start from π^1 = ``initial_policy`` (uniform; the regularised methods' reference μ).

        Args:
            game: The exact game.
            config: An instance of ``config_class``; or give its fields as keywords
                (``beta=...``), not both.
            initial_policy: π^1, shape (n_init, H, S, A).
            **fields: Fields of ``config_class``.
        """
        self.config = build_config(self.config_class, config, fields)
        game = check_game(game)
        policy = (
            uniform_policy(game)
            if initial_policy is None
            else check_policy(game, np.asarray(initial_policy), "initial_policy")
        )
        self._logits = logits_from_policy(policy)
        super().__init__(game, policy)
        self._setup()

    def _setup(self) -> None:
        """Set up per-solver state from ``self.config`` and π^1 (default: nothing)."""

    @property
    def log_policy(self) -> np.ndarray:
        """The log-policy log π^t, shape (n_init, H, S, A); −inf where π^t is exactly 0."""
        return self._logits

    def _update(self) -> tuple[np.ndarray, dict[str, float]]:
        new_logits, metrics = self._next_logits()
        new_logits = normalise_logits(new_logits)
        new_policy = np.exp(new_logits)
        new_policy /= new_policy.sum(axis=-1, keepdims=True)
        # Σ_h E_{s~d_h^{π^t}} KL(π^{t+1}_h ‖ π^t_h), per initial state, then averaged over ν1.
        with np.errstate(invalid="ignore"):
            terms = np.where(new_policy > 0, new_policy * (new_logits - self._logits), 0.0)
        per_start = np.einsum("nhsa,nhs->n", terms, self.occupancy.sum(axis=-1))
        nu = self.game.initial_distribution[self.game.initial_states]
        self._logits = new_logits
        return new_policy, {"kl_step": float(nu @ per_start), **metrics}

    @abc.abstractmethod
    def _next_logits(self) -> tuple[np.ndarray, dict[str, float]]:
        """Return log π^{t+1} (up to a per-row constant) and extra metrics."""
