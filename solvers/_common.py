"""Helpers shared by the solvers: configuration checks, log-policies and step sizes.

Policies are carried as log-probabilities ("logits", normalised so that logsumexp over actions
is 0) so that repeated multiplicative updates π ∝ π exp(β Q) never underflow to an exact zero.
The Bellman recursions the exact solvers use (standard, soft, KL-regularised) are the one
:func:`ompo_envs.tabular.backward_recursion` with the matching state value.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import numpy as np

from ompo_envs.core.rows import row_sum
from ompo_envs.tabular import TabularGame
from ompo_envs.tabular.policies import normalise_logits

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


def policy_from_logits(logits: np.ndarray) -> np.ndarray:
    """π = exp(log π), renormalised against rounding.

    Raises:
        FloatingPointError: ``logits`` has NaN or +inf (an update overflowed).
    """
    if np.any(np.isnan(logits)) or np.any(logits == np.inf):
        raise FloatingPointError("log-probabilities with NaN or +inf (a step overflowed)")
    policy = np.exp(normalise_logits(logits))
    return policy / row_sum(policy)[..., None]


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


__all__ = [
    "build_config",
    "check_fraction",
    "check_positive",
    "check_regularisation",
    "geometric_mixture",
    "normalise_logits",
    "policy_from_logits",
    "stage_step_sizes",
    "trajectory_scale",
]
