"""The one solver protocol, for exact, sample-based and language-model solvers.

Every solver is built and driven the same way::

    solver = Cls(game_or_env, config=None, **fields)   # Cls(game, beta=0.1) or Cls(game, Config())
    for _ in range(100):
        metrics = solver.step()          # one policy update π^t → π^{t+1}; a dict of floats
    solver.policy                        # π^t
    solver.average_policy                # the trajectory-level mixture of the iterates (App. E.2)
    solver.evaluate()                    # exploitability wherever a model exists

and declares, as class attributes, what a benchmark needs without knowing the solver:
``beta_grid`` (the step sizes ``ompo-bench`` tries by default; empty: no step size) and
``cost_per_update`` (Q or gradient evaluations per update: EGPO makes 2).

:class:`Solver` states the protocol; :class:`ExactSolver` is the base of the solvers that read the
exact model of a tabular game (:mod:`solvers.sampled` has the base of those that learn through the
env API only). Metric names mean one thing everywhere (:data:`METRICS`).
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from ompo_envs.core.rows import row_sum
from ompo_envs.tabular import (
    OccupancyAverage,
    TabularGame,
    check_policy,
    exploitability_from_occupancy,
    occupancy_measures,
    uniform_policy,
)
from ompo_envs.tabular.policies import normalise_logits
from solvers._common import build_config

#: Every metric name a built-in solver reports, with its one meaning.
METRICS: dict[str, str] = {
    "iteration": "t after the update: the number of updates made so far",
    "kl_step": "E_{s1~ν1} Σ_h E_{s~d_h^{π^t}} KL(π^{t+1}_h(·|s) ‖ π^t_h(·|s)), the trajectory KL "
    "of the update (exact solvers: exact; sample-based: estimated on the update's root episodes)",
    "exploitability_last": "exploitability (§4.1) of the current iterate π^t",
    "exploitability_average": "exploitability of the average iterate (the trajectory mixture)",
    "exploitability_average_before": "exploitability of the average iterate before this update "
    "(fictitious play gets it for free from its best response)",
    "branch_points": "rows (visited states) updated by this sample-based update",
    "env_steps": "env steps taken by this update",
    "preference_queries": "preference-oracle comparisons made by this update",
    "q_hat_mean": "mean Q̂ over the updated rows and their candidate actions",
}


@runtime_checkable
class Solver(Protocol):
    """The solver protocol (see the module docstring); every solver of this package follows it.

    A third-party solver needs much less to be benchmarked by ``ompo-bench tabular``: built as
    ``Cls(game, **fields)``, a ``step()`` and ``policy`` as a table (see
    :mod:`solvers.registry`); the harness computes the rest.
    """

    #: The step sizes β that ``ompo-bench`` tries by default (empty: the solver has none).
    beta_grid: ClassVar[tuple[float, ...]]
    #: Q or gradient evaluations per update (what one pairwise contraction costs is 1).
    cost_per_update: ClassVar[float]
    #: True: built from the exact model (a game); False: learns through the env API only.
    requires_model: ClassVar[bool]

    def step(self) -> dict[str, float]:
        """Make one policy update π^t → π^{t+1}; return its metrics."""
        ...

    @property
    def policy(self) -> Any:
        """The current iterate π^t."""
        ...

    @property
    def average_policy(self) -> Any:
        """The trajectory-level mixture of the iterates π^1..π^t."""
        ...

    def evaluate(self) -> dict[str, float]:
        """Exploitability of the last and the average iterate (``{}`` where no model exists)."""
        ...


def check_game(game_or_env: object) -> TabularGame:
    """Return the :class:`~ompo_envs.tabular.TabularGame` of a game or of a tabular env.

    Raises:
        TypeError: Neither a TabularGame nor an env whose ``unwrapped.game`` is one.
    """
    if isinstance(game_or_env, TabularGame):
        return game_or_env
    game = getattr(getattr(game_or_env, "unwrapped", game_or_env), "game", None)
    if isinstance(game, TabularGame):
        return game
    raise TypeError(
        "exact solvers need a TabularGame or a tabular env (e.g. "
        f"ompo_envs.make('RandomGame-v0')), got {type(game_or_env).__name__}"
    )


class ExactSolver(abc.ABC):
    """Base of the exact solvers: iteration counter, current iterate and its average.

    ``policy`` and ``average_policy`` are tables of shape (n_init, H, S, A) (``TabularPolicy(
    solver.policy)`` plays one through the env API). The average iterate weights iterate π^t by
    :meth:`iterate_weight` (1: the plain average); its occupancy is accumulated exactly from the
    game model.

    Subclasses implement :meth:`_update`, which must not change the solver: it returns π^{t+1},
    the metrics and the attributes to set, and :meth:`step` commits them only once π^{t+1} is
    known to be a finite policy — a failed update leaves the solver exactly as it was.
    """

    config: Any
    beta_grid: ClassVar[tuple[float, ...]] = ()
    cost_per_update: ClassVar[float] = 1.0
    requires_model: ClassVar[bool] = True

    def __init__(self, game_or_env: Any, initial_policy: Any = None) -> None:
        """Start from π^1 = ``initial_policy`` (uniform by default).

        Args:
            game_or_env: A :class:`~ompo_envs.tabular.TabularGame` or a tabular env.
            initial_policy: π^1, a table (n_init, H, S, A) or a TabularPolicy.
        """
        self.game = check_game(game_or_env)
        policy = (
            uniform_policy(self.game)
            if initial_policy is None
            else check_policy(self.game, initial_policy, "initial_policy")
        )
        self.iteration = 0
        self._policy = np.array(policy, dtype=np.float64)
        self._occupancy = occupancy_measures(self.game, self._policy)
        self._average = OccupancyAverage(self._occupancy, self.iterate_weight(1))

    def iterate_weight(self, t: int) -> float:
        """The weight of iterate π^t in :attr:`average_policy` (1: the plain average).

        Override for weighted averages (CFR+: t; DCFR: t^γ).
        """
        return 1.0

    @property
    def policy(self) -> np.ndarray:
        """The current (last) iterate π^t, shape (n_init, H, S, A)."""
        return self._policy

    @property
    def occupancy(self) -> np.ndarray:
        """d^{π^t}_h(s, a | s1) of the current iterate, shape (n_init, H, S, A)."""
        return self._occupancy

    @property
    def average_occupancy(self) -> np.ndarray:
        """The weighted mean occupancy of π^1..π^t, i.e. the occupancy of :attr:`average_policy`."""
        return self._average.occupancy

    @property
    def average_policy(self) -> np.ndarray:
        """The trajectory-level mixture of π^1..π^t (occupancy = weighted mean of occupancies)."""
        return self._average.policy

    def step(self) -> dict[str, float]:
        """Make one policy update π^t → π^{t+1}; return metrics (floats) of the update.

        All or nothing: :meth:`_update` computes everything without changing the solver, the
        result is checked, and only then committed.

        Raises:
            FloatingPointError: The update overflowed or produced a non-finite policy (e.g. a
                step size so large that exp overflows); the solver is left as it was.
        """
        t = self.iteration + 1
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                new_policy, metrics, state = self._update()
        except FloatingPointError as error:
            raise FloatingPointError(
                f"{type(self).__name__} update {t} overflowed ({error}); the solver is "
                "unchanged. Lower the step size (beta)."
            ) from error
        if not np.all(np.isfinite(new_policy)):
            raise FloatingPointError(
                f"{type(self).__name__} update {t} produced a non-finite policy; "
                "the solver is unchanged. Lower the step size (beta)."
            )
        occupancy = occupancy_measures(self.game, new_policy)
        # may refuse (the weight, an overflow): nothing changed
        self._average.add(occupancy, self.iterate_weight(t + 1), check=False)
        for name, value in state.items():
            setattr(self, name, value)
        self._policy = new_policy
        self._occupancy = occupancy
        self.iteration = t
        return {"iteration": float(t), **metrics}

    def evaluate(self) -> dict[str, float]:
        """Exploitability (§4.1) of the last and of the average iterate (exact; 2 contractions).

        The same function as :func:`ompo_envs.tabular.exploitability`
        (:func:`~ompo_envs.tabular.exploitability_from_occupancy`), on the occupancies held.
        """
        return {
            "exploitability_last": exploitability_from_occupancy(
                self.game, self._occupancy, check=False
            ),
            "exploitability_average": exploitability_from_occupancy(
                self.game, self.average_occupancy, check=False
            ),
        }

    @abc.abstractmethod
    def _update(self) -> tuple[np.ndarray, dict[str, float], dict[str, Any]]:
        """Return π^{t+1}, the metrics of this update and ``{attribute: value}`` to commit."""


class LogitSolver(ExactSolver):
    """An :class:`ExactSolver` that carries log π^t and makes multiplicative (mirror) updates.

    Subclasses set ``config_class`` and ``beta_grid``, and implement :meth:`_next_logits`. Every
    update reports ``kl_step`` = E_{s1~ν1} Σ_h E_{s~d_h^{π^t}} KL(π^{t+1}_h(·|s) ‖ π^t_h(·|s)),
    the trajectory KL of the step (zero at a fixed point; it does not vanish while an iterate
    cycles).
    """

    #: The frozen config dataclass of the solver.
    config_class: ClassVar[type]

    def __init__(
        self,
        game_or_env: Any,
        config: Any = None,
        *,
        initial_policy: Any = None,
        **fields: Any,
    ) -> None:
        """Start from π^1 = ``initial_policy`` (uniform; the regularised methods' reference μ).

        Args:
            game_or_env: The exact game, or a tabular env (its ``unwrapped.game`` is used).
            config: An instance of ``config_class``; or give its fields as keywords
                (``beta=...``), not both.
            initial_policy: π^1, a table (n_init, H, S, A) or a TabularPolicy.
            **fields: Fields of ``config_class``.
        """
        self.config = build_config(self.config_class, config, fields)
        super().__init__(game_or_env, initial_policy)
        with np.errstate(divide="ignore"):
            self._logits = normalise_logits(np.log(self._policy))
        self._setup()

    def _setup(self) -> None:
        """Set up per-solver state from ``self.config`` and π^1 (default: nothing)."""

    @property
    def log_policy(self) -> np.ndarray:
        """The log-policy log π^t, shape (n_init, H, S, A); −inf where π^t is exactly 0."""
        return self._logits

    def _update(self) -> tuple[np.ndarray, dict[str, float], dict[str, Any]]:
        new_logits, state = self._next_logits()
        if np.any(np.isnan(new_logits)) or np.any(new_logits == np.inf):
            return np.full_like(new_logits, np.nan), {}, {}
        new_logits = normalise_logits(new_logits)
        new_policy = np.exp(new_logits)
        new_policy /= row_sum(new_policy)[..., None]
        # Σ_h E_{s~d_h^{π^t}} KL(π^{t+1}_h ‖ π^t_h), per initial state, then averaged over ν1.
        with np.errstate(invalid="ignore"):
            terms = np.where(new_policy > 0, new_policy * (new_logits - self._logits), 0.0)
        per_start = np.einsum("nhsa,nhs->n", terms, row_sum(self.occupancy))
        nu = self.game.initial_distribution[self.game.initial_states]
        return new_policy, {"kl_step": float(nu @ per_start)}, {**state, "_logits": new_logits}

    @abc.abstractmethod
    def _next_logits(self) -> tuple[np.ndarray, dict[str, Any]]:
        """Return log π^{t+1} (up to a per-row constant) and ``{attribute: value}`` to commit.

        Must not change the solver: state for the next update (OMPO's r^{t−1}, MMD's magnet) is
        returned in the dict and set only when the update is committed.
        """
