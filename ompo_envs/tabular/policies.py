"""Tabular policies π_h(a | s, s1): arrays of shape (n_init, H, S, A), rows summing to one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ompo_envs.tabular.game import TabularGame

_ROW_TOLERANCE = 1e-8


def check_policy(game: TabularGame, policy: np.ndarray, name: str = "policy") -> np.ndarray:
    """Return ``policy`` as float64 after checking its shape and that each row is a distribution.

    Raises:
        TypeError: ``policy`` is not a numpy array.
        ValueError: Wrong shape (expected ``game.policy_shape``), negative or non-finite
            entries, or a row π_h(·|s, s1) that does not sum to 1.
    """
    if not isinstance(policy, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(policy).__name__}")
    if policy.shape != game.policy_shape:
        raise ValueError(
            f"{name} must have shape (n_init, H, S, A) = {game.policy_shape}, got {policy.shape}"
        )
    policy = np.asarray(policy, dtype=np.float64)
    if not np.all(np.isfinite(policy)) or np.any(policy < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    if np.max(np.abs(policy.sum(axis=-1) - 1.0)) > _ROW_TOLERANCE:
        raise ValueError(f"every {name}[i, h, s] must sum to 1 over actions")
    return policy


def uniform_policy(game: TabularGame) -> np.ndarray:
    """π_h(a|s, s1) = 1/A everywhere."""
    return np.full(game.policy_shape, 1.0 / game.num_actions)


def random_policy(game: TabularGame, rng: np.random.Generator) -> np.ndarray:
    """A policy with each row drawn from the flat Dirichlet distribution."""
    return rng.dirichlet(np.ones(game.num_actions), size=game.policy_shape[:-1])


def policy_from_occupancy(occupancy: np.ndarray, floor: float = 1e-300) -> np.ndarray:
    """π_h(a|s) = d_h(s, a) / Σ_a d_h(s, a); uniform where d_h(s) ≤ ``floor`` (unreached states).

    Args:
        occupancy: d, shape (n_init, H, S, A), non-negative.
        floor: State mass below which the state counts as unreached.
    """
    occupancy = np.clip(np.asarray(occupancy, dtype=np.float64), 0.0, None)
    state_mass = occupancy.sum(axis=-1, keepdims=True)
    num_actions = occupancy.shape[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        policy = np.where(state_mass > floor, occupancy / state_mass, 1.0 / num_actions)
    return policy


def mixture_policy(
    game: TabularGame, policies: Sequence[np.ndarray], weights: Sequence[float] | None = None
) -> np.ndarray:
    """The trajectory-level mixture: the policy whose occupancy is Σ_t w_t d^{π_t} (App. E.2).

    This is the "average iterate" of a solver: playing it is the same as drawing t ~ w once per
    episode and following π_t throughout.
    """
    from ompo_envs.tabular.evaluation import occupancy_measures

    if len(policies) == 0:
        raise ValueError("mixture_policy needs at least one policy")
    w = np.full(len(policies), 1.0 / len(policies)) if weights is None else np.asarray(weights)
    if w.shape != (len(policies),) or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-9:
        raise ValueError("weights must be non-negative, one per policy, and sum to 1")
    occupancy = sum(wt * occupancy_measures(game, p) for wt, p in zip(w, policies, strict=True))
    return policy_from_occupancy(occupancy)
