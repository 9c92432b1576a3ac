"""Tabular policies π_h(a | s, s1): tables (n_init, H, S, A) and the one type that plays them.

A table is the numerical form (every function of :mod:`ompo_envs.tabular` computes on tables);
:class:`TabularPolicy` is the one policy type around a table: it plays through the env API
(:class:`ompo_envs.policies.Policy`), is updated by the sample-based solvers
(:class:`ompo_envs.policies.TrainablePolicy`) and is accepted wherever a table is, since it converts
to its table (``np.asarray(policy)``). The array helpers below accept either form.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from ompo_envs.core.rows import row_max, row_sum
from ompo_envs.core.validation import PROBABILITY_TOLERANCE, probability_array, real_array
from ompo_envs.tabular.game import TabularGame, check_tabular_game


def check_policy(game: TabularGame, policy: Any, name: str = "policy") -> np.ndarray:
    """Return the table of ``policy`` as float64 after checking its shape and rows.

    Args:
        game: The game the policy is for (its ``policy_shape``).
        policy: A table of shape (n_init, H, S, A) or a :class:`TabularPolicy`.
        name: How error messages call it.

    Raises:
        TypeError: ``game`` is not a :class:`~ompo_envs.tabular.TabularGame` (an env: pass
            ``env.unwrapped.game``), ``policy`` is neither a numpy array nor a
            :class:`TabularPolicy`, or it holds something other than real numbers.
        ValueError: Wrong shape (expected ``game.policy_shape``), negative or non-finite
            entries, or a row π_h(·|s, s1) that does not sum to 1.
    """
    game = check_tabular_game(game)
    if isinstance(policy, TabularPolicy):
        policy = policy.table
    if not isinstance(policy, np.ndarray):
        raise TypeError(
            f"{name} must be a numpy array of shape (n_init, H, S, A) or a TabularPolicy, got "
            f"{type(policy).__name__}"
        )
    if policy.shape != game.policy_shape:
        raise ValueError(
            f"{name} must have shape (n_init, H, S, A) = {game.policy_shape}, got {policy.shape}"
        )
    return probability_array(policy, name)


def check_occupancy(game: TabularGame, occupancy: Any, name: str = "occupancy") -> np.ndarray:
    """Return ``occupancy`` as float64 after checking it is an occupancy measure of ``game``.

    An occupancy d_h(s, a | s1) has the policy shape (n_init, H, S, A) and every (s1, h) slice
    is a distribution over (s, a) (:func:`~ompo_envs.tabular.occupancy_measures` returns one).

    Raises:
        TypeError: Not an array of real numbers, or ``game`` is not a TabularGame.
        ValueError: Wrong shape, NaN/inf or negative entries, or a slice not summing to 1.
    """
    game = check_tabular_game(game)
    array = real_array(occupancy, name, shape=game.policy_shape)
    n, horizon, num_states, num_actions = game.policy_shape
    probability_array(array.reshape(n, horizon, num_states * num_actions), f"{name}[s1, h]")
    return array


def uniform_policy(game: TabularGame) -> np.ndarray:
    """π_h(a|s, s1) = 1/A everywhere."""
    game = check_tabular_game(game)
    return np.full(game.policy_shape, 1.0 / game.num_actions)


def random_policy(game: TabularGame, rng: np.random.Generator) -> np.ndarray:
    """A policy with each row drawn from the flat Dirichlet distribution (with ``rng``)."""
    game = check_tabular_game(game)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator, got {type(rng).__name__}")
    return rng.dirichlet(np.ones(game.num_actions), size=game.policy_shape[:-1])


def policy_from_occupancy(occupancy: Any, floor: float = 1e-300) -> np.ndarray:
    """π_h(a|s) = d_h(s, a) / Σ_a d_h(s, a); uniform where d_h(s) ≤ ``floor`` (unreached states).

    Args:
        occupancy: d, shape (n_init, H, S, A), non-negative (entries down to −1e-8 count as
            rounding and are read as 0).
        floor: State mass below which the state counts as unreached, >= 0.

    Raises:
        TypeError: ``occupancy`` is not an array of real numbers.
        ValueError: Not 4-dimensional, NaN/inf or negative entries, or a bad ``floor``.
    """
    occupancy = real_array(occupancy, "occupancy")
    if occupancy.ndim != 4:
        raise ValueError(f"occupancy must have shape (n_init, H, S, A), got {occupancy.shape}")
    if np.any(occupancy < -PROBABILITY_TOLERANCE):
        raise ValueError(
            f"occupancy must be non-negative (it is a measure), got {occupancy.min():.6g}"
        )
    floor = float(real_array(floor, "floor", shape=()))
    if floor < 0:
        raise ValueError(f"floor must be >= 0, got {floor}")
    occupancy = np.clip(occupancy, 0.0, None)
    state_mass = occupancy.sum(axis=-1, keepdims=True)
    num_actions = occupancy.shape[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        policy = np.where(state_mass > floor, occupancy / state_mass, 1.0 / num_actions)
    return policy


def normalise_logits(logits: np.ndarray) -> np.ndarray:
    """Return log-probabilities: ``logits`` shifted so that logsumexp over the last axis is 0."""
    shifted = logits - row_max(logits)[..., None]
    with np.errstate(divide="ignore"):
        return shifted - np.log(row_sum(np.exp(shifted)))[..., None]


def kl_divergence(log_p: np.ndarray, log_q: np.ndarray) -> np.ndarray:
    """KL(p ‖ q) over the last axis, from log-probabilities (0 · log 0 = 0)."""
    p = np.exp(log_p)
    with np.errstate(invalid="ignore"):
        terms = np.where(p > 0, p * (log_p - log_q), 0.0)
    return row_sum(terms)


class TabularPolicy:
    """A table π_h(a | s, s1) of shape (n_init, H, S, A), played through the env API.

    It reads ``infos[agent]['init_index']`` (the row of s1) and ``infos[agent]['h']`` (the 1-based
    stage) that :class:`~ompo_envs.envs.TabularGameEnv` provides, and the observation (the state
    index). The table is carried as log-probabilities so that repeated multiplicative updates
    never underflow to an exact zero. ``np.asarray(policy)`` is the (read-only) table, so a
    TabularPolicy goes wherever a table does.

    Args:
        table: π, shape (n_init, H, S, A), every row a distribution.

    Raises:
        TypeError: ``table`` is not a numpy array.
        ValueError: Not 4-dimensional, negative or non-finite entries, or a row not summing to 1.

    Example:
        >>> import numpy as np
        >>> pi = TabularPolicy(np.full((1, 1, 1, 3), 1 / 3))
        >>> pi.sample(np.int64(0), {"h": 1, "init_index": 0}, np.random.default_rng(0)) in (0, 1, 2)
        True
    """

    def __init__(self, table: np.ndarray) -> None:
        if isinstance(table, TabularPolicy):
            table = table.table
        if not isinstance(table, np.ndarray):
            raise TypeError(f"table must be a numpy array, got {type(table).__name__}")
        if table.ndim != 4:
            raise ValueError(f"table must have shape (n_init, H, S, A), got shape {table.shape}")
        table = probability_array(table, "table")
        with np.errstate(divide="ignore"):
            self._init_logits(np.log(table))

    @classmethod
    def from_logits(cls, logits: np.ndarray) -> TabularPolicy:
        """Build from log-probabilities (each row is renormalised; −inf means probability 0).

        Raises:
            ValueError: Not 4-dimensional, a NaN or +inf, or a row without a finite entry.
        """
        if np.asarray(logits).dtype.kind not in "iuf":
            raise TypeError(f"logits must hold real numbers, got dtype {np.asarray(logits).dtype}")
        logits = np.asarray(logits, dtype=np.float64)
        if logits.ndim != 4:
            raise ValueError(f"logits must have shape (n_init, H, S, A), got shape {logits.shape}")
        if np.any(np.isnan(logits)) or np.any(logits == np.inf):
            raise ValueError("logits must not contain NaN or +inf (−inf means probability 0)")
        policy = cls.__new__(cls)
        policy._init_logits(logits)
        return policy

    @classmethod
    def uniform(cls, game: TabularGame) -> TabularPolicy:
        """π_h(a|s, s1) = 1/A, shaped for ``game`` (only its sizes are read)."""
        return cls(uniform_policy(game))

    def _init_logits(self, logits: np.ndarray) -> None:
        top = logits.max(axis=-1, keepdims=True)
        if not np.all(np.isfinite(top)):
            raise ValueError("every row of the policy needs at least one finite log-probability")
        self._logits = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
        self._logits.setflags(write=False)
        table = np.exp(self._logits)
        self._table = table / table.sum(axis=-1, keepdims=True)
        self._table.setflags(write=False)
        self._cumulative = np.cumsum(self._table, axis=-1)

    # ------------------------------------------------------------------ the table
    @property
    def table(self) -> np.ndarray:
        """π as a read-only array of shape (n_init, H, S, A)."""
        return self._table

    @property
    def log_table(self) -> np.ndarray:
        """Log-probabilities log π, shape (n_init, H, S, A); −inf where π is exactly 0."""
        return self._logits

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(n_init, H, S, A)."""
        return self._table.shape  # type: ignore[return-value]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        table = self._table if dtype is None else self._table.astype(dtype)
        return table.copy() if copy else table

    def __repr__(self) -> str:
        return f"TabularPolicy(shape={self.shape})"

    # ------------------------------------------------------------------ Policy
    def key(self, observation: Any, info: Mapping[str, Any]) -> tuple[int, int, int]:
        """Return ``(init_index, h − 1, state)``, the index of the row this player uses.

        Raises:
            ValueError: ``info`` lacks ``init_index`` or ``h``, or the row is outside the table.
        """
        try:
            init_index, h = int(info["init_index"]), int(info["h"])
        except KeyError as error:
            raise ValueError(
                f"a TabularPolicy needs infos with 'init_index' and 'h' (TabularGameEnv provides "
                f"them); missing {error}"
            ) from None
        n_init, horizon, num_states, _ = self._table.shape
        state = int(observation)
        if not (0 <= init_index < n_init and 1 <= h <= horizon and 0 <= state < num_states):
            raise ValueError(
                f"(init_index, h, state) = {(init_index, h, state)} is outside this policy's "
                f"table of shape {self._table.shape}: is it the policy of another game?"
            )
        return init_index, h - 1, state

    def probabilities(self, observation: Any, info: Mapping[str, Any]) -> np.ndarray:
        """Return π_h(·|s, s1) for this observation, shape (A,)."""
        return self._table[self.key(observation, info)]

    def sample(self, observation: Any, info: Mapping[str, Any], rng: np.random.Generator) -> int:
        """Draw a ~ π_h(·|s, s1) by inverting the row's cumulative distribution with ``rng``."""
        return self.sample_batch([observation], [info], rng)[0]

    def sample_batch(
        self,
        observations: Sequence[Any],
        infos: Sequence[Mapping[str, Any]],
        rng: np.random.Generator,
    ) -> list[int]:
        """Draw one action per (observation, info), with one uniform draw each from ``rng``."""
        rows = [self.key(o, i) for o, i in zip(observations, infos, strict=True)]
        if not rows:
            return []
        cumulative = self._cumulative[tuple(np.array(rows).T)]  # (n, A)
        u = rng.random(len(rows)) * cumulative[:, -1]
        actions = (cumulative <= u[:, None]).sum(axis=-1)
        return np.minimum(actions, cumulative.shape[-1] - 1).tolist()

    # ------------------------------------------------------------------ TrainablePolicy
    def candidate_actions(
        self, observation: Any, info: Mapping[str, Any], rng: np.random.Generator
    ) -> list[int]:
        """Return every action 0..A−1: Q̂ is estimated for each one (forced first action)."""
        return list(range(self._table.shape[-1]))

    def updated(
        self, q_hat: Mapping[Hashable, Mapping[Any, float]], stage_beta: Sequence[float]
    ) -> TabularPolicy:
        """Return π^{t+1} with log π^{t+1}_h(·|s) = log π^t_h(·|s) + β_h Q̂_h(s, ·) − log Z.

        The exact (normalised) exponential-weights step of §3.2 at every row in ``q_hat``; rows
        without an estimate (states not visited this iteration) are unchanged.

        Args:
            q_hat: ``{(init_index, h − 1, state): {action: Q̂}}``; every action of a row needed.
            stage_beta: β_h for h = 1..H.

        Raises:
            TypeError: ``stage_beta`` or a Q̂ is not a real number.
            ValueError: ``stage_beta`` has the wrong length, a row lacks an action, or a Q̂ is
                not finite.
            FloatingPointError: The step overflows (β_h Q̂ too large); nothing is returned.
        """
        num_actions = self._table.shape[-1]
        stage_beta = real_array(stage_beta, "stage_beta")
        if stage_beta.shape != (self._table.shape[1],):
            raise ValueError(
                f"stage_beta must have one step size per stage, shape ({self._table.shape[1]},), "
                f"got {stage_beta.shape}"
            )
        logits = self._logits.copy()
        for row, values in q_hat.items():
            if len(values) != num_actions or any(a not in values for a in range(num_actions)):
                raise ValueError(
                    f"row {row} has Q̂ for {len(values)} actions; a TabularPolicy needs all "
                    f"{num_actions}"
                )
            q = real_array([values[a] for a in range(num_actions)], f"the Q̂ of row {row}")
            with np.errstate(over="ignore", invalid="ignore"):
                logits[row] = logits[row] + stage_beta[row[1]] * q
            if not np.all(np.isfinite(logits[row]) | (logits[row] == -np.inf)) or np.all(
                logits[row] == -np.inf
            ):
                raise FloatingPointError(
                    f"the exponential-weights step overflowed at row {row} (β_h Q̂ = "
                    f"{stage_beta[row[1]]:.3g} × {q.tolist()!r:.60}); lower the step size beta"
                )
        return TabularPolicy.from_logits(logits)

    def kl_divergence(self, other: TabularPolicy, keys: Sequence[Hashable]) -> np.ndarray:
        """KL(self_h(·|s) ‖ other_h(·|s)) at each row key, shape (len(keys),)."""
        if not keys:
            return np.zeros(0)
        index = tuple(np.array(keys).T)
        return kl_divergence(self._logits[index], other.log_table[index])
