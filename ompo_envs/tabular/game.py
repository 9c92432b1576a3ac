"""The exact model of a tabular alignment game (paper §2.2 and §2.4).

Two players share s1 ~ ν1 and then move independently in copies of one MDP with kernel
f(s'|s, a) for H stages; player_0's stage reward is r(s, a, s', a') ∈ [0, 1] and player_1's is
1 − r. Antisymmetry r(s, a, s', a') = 1 − r(s', a', s, a) makes the game constant-sum and
symmetric, so its value is ½ per paid stage and (π*, π*) is a Nash equilibrium (App. H).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

ANTISYMMETRY_TOLERANCE = 1e-9
_STOCHASTIC_TOLERANCE = 1e-9


def _frozen_float_array(name: str, value: object, ndim: int) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(value).__name__}")
    if value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {value.shape}")
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    array = np.array(value, dtype=np.float64, copy=True)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class TabularGame:
    """A two-player alignment game with per-player states, given by arrays.

    Attributes:
        initial_distribution: ν1, shape (S,), a probability distribution over states.
        transitions: f, shape (S, A, S); ``transitions[s, a]`` is the distribution of s'.
        reward: r, shape (S, A, S, A), values in [0, 1] with r(s,a,s',a') = 1 − r(s',a',s,a).
        horizon: H ≥ 1, the number of stages.
        reward_mode: ``"intermediate"`` pays r at every stage (paper default); ``"terminal"``
            pays it at stage H only (App. G ablation).

    Policies for this game are arrays of shape (n_init, H, S, A) where ``n_init`` indexes
    :attr:`initial_states` (``np.flatnonzero(initial_distribution)``) in order: policies may
    depend on the stage and on s1 (in a random MDP the current state does not reveal s1).
    """

    initial_distribution: np.ndarray
    transitions: np.ndarray
    reward: np.ndarray
    horizon: int
    reward_mode: Literal["intermediate", "terminal"] = "intermediate"

    def __post_init__(self) -> None:
        nu = _frozen_float_array("initial_distribution", self.initial_distribution, 1)
        f = _frozen_float_array("transitions", self.transitions, 3)
        r = _frozen_float_array("reward", self.reward, 4)
        num_states = nu.shape[0]
        if num_states < 1:
            raise ValueError("initial_distribution must have at least one state")
        if f.shape[0] != num_states or f.shape[2] != num_states or f.shape[1] < 1:
            raise ValueError(
                f"transitions must have shape (S, A, S) = ({num_states}, A, {num_states}) with "
                f"A >= 1, got {f.shape}"
            )
        num_actions = f.shape[1]
        if r.shape != (num_states, num_actions, num_states, num_actions):
            raise ValueError(
                f"reward must have shape (S, A, S, A) = "
                f"{(num_states, num_actions, num_states, num_actions)}, got {r.shape}"
            )
        if np.any(nu < 0) or abs(nu.sum() - 1.0) > _STOCHASTIC_TOLERANCE:
            raise ValueError("initial_distribution must be non-negative and sum to 1")
        if np.any(f < 0) or np.max(np.abs(f.sum(axis=2) - 1.0)) > _STOCHASTIC_TOLERANCE:
            raise ValueError("every transitions[s, a] must be non-negative and sum to 1")
        if np.any(r < 0) or np.any(r > 1):
            raise ValueError("reward values must lie in [0, 1] (they are probabilities)")
        gap = np.max(np.abs(r + r.transpose(2, 3, 0, 1) - 1.0))
        if gap > ANTISYMMETRY_TOLERANCE:
            raise ValueError(
                "reward must be antisymmetric, r(s,a,s',a') = 1 - r(s',a',s,a); the largest "
                f"violation is {gap:.3g} (tolerance {ANTISYMMETRY_TOLERANCE:g})"
            )
        if isinstance(self.horizon, bool) or not isinstance(self.horizon, int | np.integer):
            raise TypeError(f"horizon must be an integer, got {self.horizon!r}")
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        if self.reward_mode not in ("intermediate", "terminal"):
            raise ValueError(
                f"reward_mode must be 'intermediate' or 'terminal', got {self.reward_mode!r}"
            )
        object.__setattr__(self, "initial_distribution", nu)
        object.__setattr__(self, "transitions", f)
        object.__setattr__(self, "reward", r)
        object.__setattr__(self, "horizon", int(self.horizon))

    @property
    def num_states(self) -> int:
        """S, the number of states."""
        return self.transitions.shape[0]

    @property
    def num_actions(self) -> int:
        """A, the number of actions."""
        return self.transitions.shape[1]

    @cached_property
    def initial_states(self) -> np.ndarray:
        """The support of ν1, ``np.flatnonzero(initial_distribution)``: row order of policies."""
        return _read_only(np.flatnonzero(self.initial_distribution))

    @cached_property
    def transition_matrix_t(self) -> np.ndarray:
        """fᵀ as a C-contiguous (S, S·A) matrix: ``[s', s·A + a] = f(s' | s, a)``.

        The backward recursion's continuation f V_{h+1} is ``V_{h+1} @ transition_matrix_t``, a
        contiguous copy kept with the game (it is immutable) rather than a transposed view of
        ``transitions`` made at every call.
        """
        num_states, num_actions = self.num_states, self.num_actions
        matrix = self.transitions.reshape(num_states * num_actions, num_states)
        return _read_only(np.ascontiguousarray(matrix.T))

    @property
    def num_initial_states(self) -> int:
        """n_init, the size of ν1's support."""
        return int(self.initial_states.shape[0])

    @property
    def stage_weights(self) -> np.ndarray:
        """w_h, shape (H,): the reward paid at stage h is w_h · r (1s, or only w_H = 1)."""
        weights = np.ones(self.horizon)
        if self.reward_mode == "terminal":
            weights[:-1] = 0.0
        return weights

    @property
    def value(self) -> float:
        """The game's value ⟨ν1, V^{π*,π*}⟩ = ½ Σ_h w_h (H/2 with intermediate rewards)."""
        return 0.5 * float(self.stage_weights.sum())

    @property
    def policy_shape(self) -> tuple[int, int, int, int]:
        """(n_init, H, S, A), the shape of a tabular policy for this game."""
        return (self.num_initial_states, self.horizon, self.num_states, self.num_actions)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def check_tabular_game(game: object, name: str = "game") -> TabularGame:
    """Return ``game`` if it is a :class:`TabularGame`; else a ``TypeError`` saying what to pass.

    The functions of :mod:`ompo_envs.tabular` compute on the model, not on an env: given a
    tabular env (``ompo_envs.make("RandomGame-v0")``) the error says to pass its
    ``env.unwrapped.game``.
    """
    if isinstance(game, TabularGame):
        return game
    inner = getattr(getattr(game, "unwrapped", game), "game", None)
    hint = (
        "; this is an env: pass its model, env.unwrapped.game"
        if isinstance(inner, TabularGame)
        else ""
    )
    raise TypeError(f"{name} must be a TabularGame{hint} (got {type(game).__name__})")
