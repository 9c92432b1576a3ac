"""Random tabular games, as in the paper's tabular experiment (§4.1, Fig. 1(a))."""

from __future__ import annotations

import numpy as np

from ompo_envs.tabular.game import TabularGame

MAX_STATES = 100
MAX_ACTIONS = 10


def antisymmetric_reward(rng: np.random.Generator, num_states: int, num_actions: int) -> np.ndarray:
    """Random preference r = (U + 1 − Uᵀ)/2, U ~ Uniform[0,1]^{(S·A)²}: antisymmetric, in [0, 1]."""
    size = num_states * num_actions
    u = rng.uniform(size=(size, size))
    r = 0.5 * (u + 1.0 - u.T)
    return r.reshape(num_states, num_actions, num_states, num_actions)


def sparse_transitions(
    rng: np.random.Generator, num_states: int, num_actions: int, max_successors: int = 3
) -> np.ndarray:
    """f(·|s, a) with 1..max_successors random successors and Dirichlet(1) probabilities."""
    f = np.zeros((num_states, num_actions, num_states))
    k = min(max_successors, num_states)
    counts = rng.integers(1, k + 1, size=(num_states, num_actions))
    for s in range(num_states):  # construction only: a one-off loop over S·A rows
        for a in range(num_actions):
            successors = rng.choice(num_states, size=counts[s, a], replace=False)
            f[s, a, successors] = rng.dirichlet(np.ones(counts[s, a]))
    return f


def random_game(
    seed: int,
    *,
    num_states: int | None = None,
    num_actions: int | None = None,
    horizon: int = 10,
    num_initial_states: int | None = None,
    reward_mode: str = "intermediate",
) -> TabularGame:
    """The paper's §4.1 generator: S ~ U{1..100}, A ~ U{2..10} unless given; same seed, same game.

    Transitions are sparse (1–3 successors per (s, a)), the reward is a random antisymmetric
    preference, and ν1 puts Dirichlet weights on 1–3 states (or ``num_initial_states``).
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    num_states = int(rng.integers(1, MAX_STATES + 1)) if num_states is None else num_states
    num_actions = int(rng.integers(2, MAX_ACTIONS + 1)) if num_actions is None else num_actions
    _check_sizes(num_states, num_actions, horizon)
    if num_initial_states is None:
        num_initial_states = int(rng.integers(1, min(3, num_states) + 1))
    if not 1 <= num_initial_states <= num_states:
        raise ValueError(
            f"num_initial_states must lie in [1, S={num_states}], got {num_initial_states}"
        )
    nu = np.zeros(num_states)
    starts = rng.choice(num_states, size=num_initial_states, replace=False)
    nu[starts] = rng.dirichlet(np.ones(num_initial_states))
    return TabularGame(
        initial_distribution=nu,
        transitions=sparse_transitions(rng, num_states, num_actions),
        reward=antisymmetric_reward(rng, num_states, num_actions),
        horizon=horizon,
        reward_mode=reward_mode,  # type: ignore[arg-type]
    )


def _check_sizes(num_states: object, num_actions: object, horizon: object) -> None:
    for name, value, low in (
        ("num_states", num_states, 1),
        ("num_actions", num_actions, 2),
        ("horizon", horizon, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
