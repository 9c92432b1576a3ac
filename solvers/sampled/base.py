"""The common part of the sample-based solvers: iterates, the mixture, one ``step()``.

Same method names as the exact solvers (:mod:`solvers.base`)::

    solver = SampledOMPO(env, SampledOMPOConfig(beta=1.0, num_samples=32))
    for _ in range(50):
        metrics = solver.step()        # one policy update from samples; a dict of floats
    solver.policy                      # π^t as a table, shape (n_init, H, S, A)
    solver.average_policy              # MixturePolicy of π^1..π^t (one iterate per episode)
    solver.average_policy.to_array(env.unwrapped.game)   # as one table — evaluation only

``average_policy`` is the trajectory-level mixture (App. E.2). Without the model it cannot be
written as one table (that needs every iterate's state occupancy), so it is returned as a
:class:`~solvers.sampled.policies.MixturePolicy` that plays one iterate per episode — the same
behaviour — with :meth:`~solvers.sampled.policies.MixturePolicy.to_array` for reporting.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np

from ompo_envs.core import PreferenceGameEnv
from solvers.sampled.estimation import (
    BranchingSampler,
    BranchPoint,
    ContinuationRequest,
    SavedPoint,
)
from solvers.sampled.policies import MixturePolicy, RowKey, SamplingPolicy, TabularPolicy


class SampledSolver(abc.ABC):
    """Base class: sample branch points, estimate Q̂ at them, exponential-weights step.

    Subclasses name their frozen config class in ``config_class`` (with ``num_samples``,
    ``num_episodes``, ``seed``) and implement :meth:`_q_hat` (the estimator) and
    :meth:`_stage_beta` (β_h).
    """

    config: Any
    config_class: ClassVar[type]

    def __init__(
        self,
        env: PreferenceGameEnv,
        config: Any = None,
        *,
        initial_policy: TabularPolicy | None = None,
    ) -> None:
        """Start from π^1 = ``initial_policy`` (uniform by default).

        Args:
            env: A tabular ompo-envs env (its ``infos`` carry ``h`` and ``init_index``).
            config: The settings, an instance of ``config_class`` (default: its defaults).
            initial_policy: π^1.
        """
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"config must be a {self.config_class.__name__}, got {type(config).__name__}"
            )
        self.config = config
        self.sampler = BranchingSampler(env, np.random.default_rng(self.config.seed))
        self.env = self.sampler.env
        if initial_policy is None:
            game = getattr(self.env, "game", None)
            if game is None:
                raise ValueError(
                    "this env has no tabular model to size a uniform policy: pass initial_policy"
                )
            initial_policy = TabularPolicy.uniform(game)  # reads the sizes (n_init, H, S, A) only
        if not isinstance(initial_policy, TabularPolicy):
            raise TypeError(
                f"initial_policy must be a TabularPolicy, got {type(initial_policy).__name__}"
            )
        if initial_policy.table.shape[1] != self.env.horizon:
            raise ValueError(
                f"initial_policy has {initial_policy.table.shape[1]} stages but the env's "
                f"horizon is {self.env.horizon}"
            )
        self.iteration = 0
        self._current = initial_policy
        self._previous: TabularPolicy | None = None  # π^{t−1}; None at t = 1
        self._iterates: list[TabularPolicy] = [initial_policy]

    @property
    def policy(self) -> np.ndarray:
        """The current iterate π^t as a table, shape (n_init, H, S, A) (like the exact solvers)."""
        return self._current.table

    @property
    def sampling_policy(self) -> TabularPolicy:
        """The current iterate π^t as the sampler the env-API loop plays."""
        return self._current

    @property
    def average_policy(self) -> MixturePolicy:
        """The trajectory-level mixture of π^1..π^t, uniform weights (one iterate per episode)."""
        return MixturePolicy(self._iterates)

    def step(self) -> dict[str, float]:
        """Make one update π^t → π^{t+1} from samples; return metrics (floats).

        Metrics: ``iteration``, ``branch_points`` (rows updated), ``env_steps`` and
        ``preference_queries`` (this update), ``q_hat_mean`` (mean Q̂ over updated rows/actions)
        and ``kl_step`` (mean KL(π^{t+1} ‖ π^t) over the updated rows).
        """
        config = self.config
        steps_before = self.sampler.num_env_steps
        queries_before = self.sampler.num_preference_queries
        branches, roots = self.sampler.branch_points(self._current, config.num_episodes)
        q_hat = self._q_hat(branches, roots)
        new = self._current.updated(q_hat, self._stage_beta())
        rows = list(q_hat)
        kl = 0.0
        if rows:
            index = tuple(np.array(rows).T)
            p_new, log_new, log_old = (
                new.table[index],
                new.log_table[index],
                self._current.log_table[index],
            )
            with np.errstate(invalid="ignore"):
                kl = float(np.where(p_new > 0, p_new * (log_new - log_old), 0.0).sum(-1).mean())
        values = [v for row in q_hat.values() for v in row.values()]
        self._previous, self._current = self._current, new
        self._iterates.append(new)
        self.iteration += 1
        return {
            "iteration": float(self.iteration),
            "branch_points": float(len(rows)),
            "env_steps": float(self.sampler.num_env_steps - steps_before),
            "preference_queries": float(self.sampler.num_preference_queries - queries_before),
            "q_hat_mean": float(np.mean(values)) if values else 0.0,
            "kl_step": kl,
        }

    # ------------------------------------------------------------------ helpers for subclasses
    def _mean_returns(
        self,
        branches: list[BranchPoint],
        roots: list[SavedPoint],
        opponent: SamplingPolicy,
    ) -> dict[RowKey, dict[Any, float]]:
        """Ĝ(s, a) = (1/K) Σ_k G^k for every branch row and candidate action, against ``opponent``.

        Fresh opponent states (one rollout per continuation index k) are drawn only for roots
        that have a branch point at a stage h > 1.
        """
        num = self.config.num_samples
        needing = sorted({b.root for b in branches if b.point.stage > 1})
        opponent_points: dict[int, list[list[SavedPoint]]] = {}
        if needing:
            starts = [roots[r] for r in needing for _ in range(num)]
            _, points = self.sampler.play(
                starts, [opponent] * len(starts), [opponent] * len(starts), record=True
            )
            for i, r in enumerate(needing):
                opponent_points[r] = points[i * num : (i + 1) * num]
        requests = []
        for branch in branches:
            obs, info = branch.point.observations["player_0"], branch.point.infos["player_0"]
            actions = tuple(self._current.candidate_actions(obs, info, self.sampler.rng))
            requests.append(
                ContinuationRequest(branch, actions, opponent, opponent_points.get(branch.root))
            )
        returns = self.sampler.continuation_returns(requests, self._current, num)
        return {
            request.branch.key: dict(zip(request.actions, g.mean(axis=1).tolist(), strict=True))
            for request, g in zip(requests, returns, strict=True)
        }

    @abc.abstractmethod
    def _q_hat(
        self, branches: list[BranchPoint], roots: list[SavedPoint]
    ) -> dict[RowKey, dict[Any, float]]:
        """Return Q̂^t at every branch row: ``{row: {action: Q̂}}``."""

    @abc.abstractmethod
    def _stage_beta(self) -> np.ndarray:
        """Return β_h for h = 1..H."""


def check_sampling_fields(num_samples: object, num_episodes: object, seed: object) -> None:
    """Validate the sampling fields every sample-based config shares."""
    for name, value in (("num_samples", num_samples), ("num_episodes", num_episodes)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
