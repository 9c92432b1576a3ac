"""Policies as samplers: what the sample-based solvers and the env-API loop talk to.

The estimator loop in :mod:`solvers.sampled.estimation` never looks inside a policy; it only
calls :meth:`SamplingPolicy.sample` with what the env hands a player (its own observation and its
``infos`` entry). A trainable policy additionally names the table row (or prompt) an observation
belongs to (:meth:`TrainablePolicy.key`), lists the actions whose Q̂ the solver should estimate
there (:meth:`TrainablePolicy.candidate_actions`) and makes the exponential-weights step

    π^{t+1}_h(a|s) ∝ π^t_h(a|s) exp(β_h Q̂_h^t(s, a))                       (§3.2, Alg. 2/4)

on the rows it was given (:meth:`TrainablePolicy.updated`). :class:`TabularPolicy` is the exact
form of that step for tabular games; an LLM policy would implement the same three methods with the
regression of Alg. 2 (log Z_h(s) replaced by β (H − h + 1) / 2).

:class:`MixturePolicy` is the trajectory-level mixture of iterates (the "average iterate" of
App. E.2): draw one iterate per episode and follow it throughout.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ompo_envs.tabular import TabularGame, check_policy, mixture_policy

#: Key of one table row: (init_index, h − 1, state). Generic policies may use any hashable.
RowKey = Hashable


@runtime_checkable
class SamplingPolicy(Protocol):
    """Anything that picks an action from one player's own observation and ``infos`` entry."""

    def sample(self, observation: Any, info: Mapping[str, Any], rng: np.random.Generator) -> Any:
        """Return an action drawn from π_h(·|s, s1) with the caller's ``rng``."""
        ...


@runtime_checkable
class TrainablePolicy(SamplingPolicy, Protocol):
    """A :class:`SamplingPolicy` that a sample-based solver can update."""

    def key(self, observation: Any, info: Mapping[str, Any]) -> RowKey:
        """Return the key of the row π_h(·|s, s1) that ``observation`` at ``info['h']`` uses."""
        ...

    def candidate_actions(
        self, observation: Any, info: Mapping[str, Any], rng: np.random.Generator
    ) -> Sequence[Any]:
        """Return the actions whose Q̂ is estimated at this state (tabular: all of them)."""
        ...

    def updated(
        self, q_hat: Mapping[RowKey, Mapping[Any, float]], stage_beta: Sequence[float]
    ) -> TrainablePolicy:
        """Return π^{t+1}: the exponential-weights step on the rows in ``q_hat``, others kept."""
        ...


class TabularPolicy:
    """A table π_h(a | s, s1) of shape (n_init, H, S, A) played through the env API.

    It reads ``infos[agent]['init_index']`` (the row of s1) and ``infos[agent]['h']`` (the 1-based
    stage) that :class:`~ompo_envs.envs.TabularGameEnv` provides, and the observation (the state
    index). The table is carried as log-probabilities so repeated multiplicative updates never
    underflow to an exact zero.

    Args:
        table: π, shape (n_init, H, S, A), every row a distribution.

    Example:
        >>> import numpy as np
        >>> pi = TabularPolicy(np.full((1, 1, 1, 3), 1 / 3))
        >>> pi.sample(np.int64(0), {"h": 1, "init_index": 0}, np.random.default_rng(0)) in (0, 1, 2)
        True
    """

    def __init__(self, table: np.ndarray) -> None:
        if not isinstance(table, np.ndarray):
            raise TypeError(f"table must be a numpy array, got {type(table).__name__}")
        if table.ndim != 4:
            raise ValueError(f"table must have shape (n_init, H, S, A), got shape {table.shape}")
        table = np.asarray(table, dtype=np.float64)
        if not np.all(np.isfinite(table)) or np.any(table < 0):
            raise ValueError("table must be finite and non-negative")
        if np.max(np.abs(table.sum(axis=-1) - 1.0)) > 1e-8:
            raise ValueError("every table[i, h, s] must sum to 1 over actions")
        with np.errstate(divide="ignore"):
            self._init_logits(np.log(table))

    @classmethod
    def from_logits(cls, logits: np.ndarray) -> TabularPolicy:
        """Build from log-probabilities (each row is renormalised; −inf means probability 0)."""
        policy = cls.__new__(cls)
        policy._init_logits(np.asarray(logits, dtype=np.float64))
        return policy

    @classmethod
    def uniform(cls, game: TabularGame) -> TabularPolicy:
        """π_h(a|s, s1) = 1/A, shaped for ``game`` (only its sizes are read)."""
        return cls(np.full(game.policy_shape, 1.0 / game.num_actions))

    def _init_logits(self, logits: np.ndarray) -> None:
        top = logits.max(axis=-1, keepdims=True)
        if not np.all(np.isfinite(top)):
            raise ValueError("every row of the policy needs at least one finite log-probability")
        shifted = np.exp(logits - top)
        self._logits = logits - top - np.log(shifted.sum(axis=-1, keepdims=True))
        table = np.exp(self._logits)
        self._table = table / table.sum(axis=-1, keepdims=True)
        self._table.setflags(write=False)
        self._cumulative = np.cumsum(self._table, axis=-1)

    @property
    def table(self) -> np.ndarray:
        """π as a read-only array of shape (n_init, H, S, A)."""
        return self._table

    @property
    def log_table(self) -> np.ndarray:
        """Log-probabilities log π, shape (n_init, H, S, A); −inf where π is exactly 0."""
        return self._logits

    def key(self, observation: Any, info: Mapping[str, Any]) -> tuple[int, int, int]:
        """Return ``(init_index, h − 1, state)``, the index of the row this player uses."""
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
        cumulative = self._cumulative[self.key(observation, info)]
        index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        return min(index, cumulative.shape[0] - 1)

    def candidate_actions(
        self, observation: Any, info: Mapping[str, Any], rng: np.random.Generator
    ) -> list[int]:
        """Return every action 0..A−1: Q̂ is estimated for each one (forced first action)."""
        return list(range(self._table.shape[-1]))

    def updated(
        self, q_hat: Mapping[RowKey, Mapping[Any, float]], stage_beta: Sequence[float]
    ) -> TabularPolicy:
        """Return π^{t+1} with log π^{t+1}_h(·|s) = log π^t_h(·|s) + β_h Q̂_h(s, ·) − log Z.

        This is the exact (normalised) exponential-weights step of §3.2 at every row in
        ``q_hat``; rows without an estimate (states not visited this iteration) are unchanged.

        Args:
            q_hat: ``{(init_index, h − 1, state): {action: Q̂}}``; every action of a row needed.
            stage_beta: β_h for h = 1..H.
        """
        num_actions = self._table.shape[-1]
        stage_beta = np.asarray(stage_beta, dtype=np.float64)
        if stage_beta.shape != (self._table.shape[1],):
            raise ValueError(
                f"stage_beta must have one step size per stage, shape ({self._table.shape[1]},), "
                f"got {stage_beta.shape}"
            )
        logits = self._logits.copy()
        for row, values in q_hat.items():
            if len(values) != num_actions:
                raise ValueError(
                    f"row {row} has Q̂ for {len(values)} actions; a TabularPolicy needs all "
                    f"{num_actions}"
                )
            q = np.array([values[a] for a in range(num_actions)], dtype=np.float64)
            logits[row] = logits[row] + stage_beta[row[1]] * q
        return TabularPolicy.from_logits(logits)


class MixturePolicy:
    """The trajectory-level mixture of policies: draw one component per episode, keep it.

    Playing it has the occupancy Σ_t w_t d^{π_t} (the average iterate of App. E.2) — which a
    per-state average of the tables would *not* have. A sample-based solver cannot turn it into
    one table without the model, so it returns this object; with the model (evaluation only),
    :meth:`to_array` gives the equivalent single table.

    Args:
        components: The policies π_1..π_T (for :meth:`to_array`: :class:`TabularPolicy`).
        weights: w_t ≥ 0 summing to 1 (default uniform).
    """

    def __init__(
        self, components: Sequence[SamplingPolicy], weights: Sequence[float] | None = None
    ) -> None:
        if len(components) == 0:
            raise ValueError("a MixturePolicy needs at least one component policy")
        w = (
            np.full(len(components), 1.0 / len(components))
            if weights is None
            else np.asarray(weights, dtype=np.float64)
        )
        if w.shape != (len(components),) or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-9:
            raise ValueError("weights must be non-negative, one per component, and sum to 1")
        self.components = tuple(components)
        self.weights = w

    def __len__(self) -> int:
        return len(self.components)

    def draw(self, rng: np.random.Generator) -> SamplingPolicy:
        """Draw the component to follow for one whole episode, t ~ w."""
        return self.components[int(rng.choice(len(self.components), p=self.weights))]

    def to_array(self, game: TabularGame) -> np.ndarray:
        """Return the single table with occupancy Σ_t w_t d^{π_t} (uses the model: reporting only).

        Raises:
            TypeError: A component is not a :class:`TabularPolicy`.
        """
        tables = []
        for component in self.components:
            if not isinstance(component, TabularPolicy):
                raise TypeError(
                    "to_array needs TabularPolicy components, got "
                    f"{type(component).__name__}; draw() per episode instead"
                )
            tables.append(check_policy(game, np.asarray(component.table), "component"))
        return mixture_policy(game, tables, self.weights)
