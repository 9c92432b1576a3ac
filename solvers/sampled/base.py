"""The common part of the sample-based solvers: iterates, the mixture, one ``step()``.

The solver protocol of :mod:`solvers.base`, learning through the env API only::

    solver = SampledOMPO(env, beta=1.0, num_samples=32)       # or SampledOMPO(env, config)
    for _ in range(50):
        metrics = solver.step()        # one policy update from samples; a dict of floats
    solver.policy                      # π^t: the trainable policy (a TabularPolicy on tabular envs)
    solver.average_policy              # MixturePolicy of π^1..π^t (one iterate per episode)
    solver.evaluate()                  # exact exploitability where the env has a model

The solver never reads a model: it sizes itself from its initial policy (any
:class:`~ompo_envs.policies.TrainablePolicy`: a :class:`~ompo_envs.tabular.TabularPolicy`, a
:class:`~ompo_envs.policies.CandidateSetPolicy` of answers in a text env, ...). Only two
conveniences look at a model: the default π^1 on a tabular env (the uniform table, sized by its
game) and :meth:`SampledSolver.evaluate`.

``average_policy`` is the trajectory-level mixture (App. E.2). Without the model it cannot be
written as one table (that needs every iterate's state occupancy), so it is a
:class:`~ompo_envs.policies.MixturePolicy` that plays one iterate per episode — the same
behaviour; :func:`ompo_envs.tabular.exploitability` evaluates it with the model.
"""

from __future__ import annotations

import abc
import copy
from typing import Any, ClassVar

import numpy as np

from ompo_envs.core import PreferenceGameEnv
from ompo_envs.policies import MixturePolicy, Policy, RowKey, TrainablePolicy
from ompo_envs.tabular import TabularGame, TabularPolicy, exploitability
from solvers._common import build_config
from solvers.sampled.estimation import (
    BranchingSampler,
    ContinuationRequest,
    RootEpisodes,
)


def default_policy(env: PreferenceGameEnv) -> TabularPolicy:
    """The default π^1: the uniform table of a tabular env (sized by its game, read only here).

    Raises:
        ValueError: ``env`` has no tabular model; pass an ``initial_policy`` for it (for a text
            env, e.g. a :class:`~ompo_envs.policies.CandidateSetPolicy` of candidate answers).
    """
    game = getattr(env, "game", None)
    if not isinstance(game, TabularGame):
        raise ValueError(
            f"{type(env).__name__} has no tabular model to size a uniform policy: pass "
            "initial_policy (a TrainablePolicy for this env, e.g. "
            "ompo_envs.policies.CandidateSetPolicy(candidate_answers) on a text env)"
        )
    return TabularPolicy.uniform(game)


class SampledSolver(abc.ABC):
    """Base class: sample branch points, estimate Q̂ at them, exponential-weights step.

    Subclasses name their frozen config class in ``config_class`` (with ``num_samples``,
    ``num_episodes``, ``seed``) and implement :meth:`_q_hat` (the estimator) and
    :meth:`_stage_beta` (β_h).
    """

    config: Any
    config_class: ClassVar[type]
    beta_grid: ClassVar[tuple[float, ...]] = ()
    cost_per_update: ClassVar[float] = 1.0
    requires_model: ClassVar[bool] = False

    def __init__(
        self,
        env: PreferenceGameEnv,
        config: Any = None,
        *,
        initial_policy: TrainablePolicy | None = None,
        **fields: Any,
    ) -> None:
        """Start from π^1 = ``initial_policy``.

        Args:
            env: An ompo-envs env (tabular or text); used as a template, never stepped itself.
            config: The settings, an instance of ``config_class``; or give its fields as
                keywords (``beta=...``), not both.
            initial_policy: π^1, any :class:`~ompo_envs.policies.TrainablePolicy` (default: the
                uniform table of a tabular env, :func:`default_policy`).
            **fields: Fields of ``config_class``.

        Raises:
            TypeError: ``env`` is not an ompo-envs env, or ``initial_policy`` is not trainable.
            ValueError: No ``initial_policy`` for an env without a tabular model, or a
                TabularPolicy whose horizon is not the env's.
        """
        self.config = build_config(self.config_class, config, fields)
        self.sampler = BranchingSampler(env, np.random.default_rng(self.config.seed))
        self.env = self.sampler.env
        if initial_policy is None:
            initial_policy = default_policy(self.env)
        if not isinstance(initial_policy, TrainablePolicy):
            raise TypeError(
                "initial_policy must be a TrainablePolicy (sample, key, candidate_actions, "
                f"updated), e.g. a TabularPolicy or a CandidateSetPolicy; got "
                f"{type(initial_policy).__name__}"
            )
        if (
            isinstance(initial_policy, TabularPolicy)
            and initial_policy.shape[1] != self.env.horizon
        ):
            raise ValueError(
                f"initial_policy has {initial_policy.shape[1]} stages but the env's horizon is "
                f"{self.env.horizon}"
            )
        self.iteration = 0
        self._current: TrainablePolicy = initial_policy
        self._previous: TrainablePolicy | None = None  # π^{t−1}; None at t = 1
        self._iterates: list[TrainablePolicy] = [initial_policy]
        self._weights: list[float] = [self.iterate_weight(1)]

    def iterate_weight(self, t: int) -> float:
        """The weight of iterate π^t in :attr:`average_policy` (1: the plain average)."""
        return 1.0

    @property
    def policy(self) -> TrainablePolicy:
        """The current iterate π^t (a TabularPolicy on tabular envs: its table is ``.table``)."""
        return self._current

    @property
    def average_policy(self) -> MixturePolicy:
        """The trajectory-level mixture of π^1..π^t (one iterate per episode, ∝ its weight)."""
        return MixturePolicy(self._iterates, self._weights)

    def step(self) -> dict[str, float]:
        """Make one update π^t → π^{t+1} from samples; return metrics (floats).

        Metrics (:data:`solvers.base.METRICS`): ``iteration``, ``branch_points`` (rows updated),
        ``env_steps`` and ``preference_queries`` (this update), ``q_hat_mean`` (mean Q̂ over the
        updated rows and actions) and ``kl_step``, the trajectory KL Σ_h KL(π^{t+1}_h ‖ π^t_h)
        along player_0's states in the update's root episodes, averaged over them (an unbiased
        estimate of the exact solvers' ``kl_step``; only with a policy that has
        ``kl_divergence``).

        All or nothing: π^{t+1} is committed only once it is computed, and a failed update
        also rolls the sampler back (random streams, env copies, counters), so the solver is
        exactly as it was: its next update is the one it would have made.

        Raises:
            FloatingPointError: The step overflowed (β too large); the solver is unchanged.
            TypeError / ValueError / RuntimeError: From the env, the oracle or the policy (an
                invalid action, a failing preference model); the solver is unchanged.
        """
        saved = self.sampler.save_state()
        try:
            new, metrics = self._update()
        except FloatingPointError as error:
            self.sampler.restore_state(saved)
            raise FloatingPointError(
                f"{type(self).__name__} update {self.iteration + 1} overflowed ({error}); the "
                "solver is unchanged. Lower the step size (beta)."
            ) from error
        except BaseException:
            self.sampler.restore_state(saved)
            raise
        self._previous, self._current = self._current, new
        self._iterates.append(new)
        self._weights.append(self.iterate_weight(len(self._iterates)))
        self.iteration += 1
        return metrics

    def _update(self) -> tuple[TrainablePolicy, dict[str, float]]:
        """Compute π^{t+1} and the metrics of the update, changing only the sampler."""
        config = self.config
        steps_before = self.sampler.num_env_steps
        queries_before = self.sampler.num_preference_queries
        episodes = self.sampler.branch_points(self._current, config.num_episodes)
        q_hat = self._q_hat(episodes)
        new = self._current.updated(q_hat, self._stage_beta())
        metrics = {
            "iteration": float(self.iteration + 1),
            "branch_points": float(len(q_hat)),
            "env_steps": float(self.sampler.num_env_steps - steps_before),
            "preference_queries": float(self.sampler.num_preference_queries - queries_before),
            "q_hat_mean": _mean([v for row in q_hat.values() for v in row.values()]),
        }
        kl = getattr(new, "kl_divergence", None)
        if callable(kl):
            metrics["kl_step"] = _mean(
                [float(np.sum(kl(self._current, k))) for k in episodes.visited]
            )
        return new, metrics

    def evaluate(self) -> dict[str, float]:
        """Exact exploitability of the last and the average iterate, where a model exists.

        On a tabular env (``env.game``) with a tabular policy:
        :func:`ompo_envs.tabular.exploitability`. On a one-stage text game with a class matrix
        (``TextRockPaperScissors-v0``, ``TextVoters-v0``) with a
        :class:`~ompo_envs.policies.CandidateSetPolicy`: the exact class-level exploitability
        ``env.exploitability`` of the policy's distribution over answer classes. Otherwise
        ``{}``.
        """
        game = getattr(self.env, "game", None)
        if isinstance(game, TabularGame) and isinstance(self._current, TabularPolicy):
            return {
                "exploitability_last": exploitability(game, self._current),
                "exploitability_average": exploitability(game, self.average_policy),
            }
        distribution = getattr(self._current, "distribution", None)
        if callable(distribution) and _is_class_matrix_game(self.env):
            observations, infos = copy.deepcopy(self.env).reset(seed=0)
            prompt = observations["player_0"], infos["player_0"]
            classes = [class_distribution(self.env, p, *prompt) for p in self._iterates]
            average = np.average(classes, axis=0, weights=self._weights)
            return {
                "exploitability_last": float(self.env.exploitability(classes[-1])),
                "exploitability_average": float(self.env.exploitability(average / average.sum())),
            }
        return {}

    # ------------------------------------------------------------------ helpers for subclasses
    def _mean_returns(
        self, episodes: RootEpisodes, opponent: Policy
    ) -> dict[RowKey, dict[Any, float]]:
        """Ĝ(s, a) = (1/K) Σ_k G^k for every branch row and candidate action, against ``opponent``.

        Fresh opponent states (one rollout per continuation index k) are drawn only for roots
        that have a branch point at a stage h > 1.
        """
        num = self.config.num_samples
        branches = episodes.branches
        needing = sorted({b.root for b in branches if b.point.stage > 1})
        rollouts = self.sampler.opponent_points_many(
            [episodes.roots[r] for r in needing], opponent, num
        )
        opponent_points = dict(zip(needing, rollouts, strict=True))
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
    def _q_hat(self, episodes: RootEpisodes) -> dict[RowKey, dict[Any, float]]:
        """Return Q̂^t at every branch row of ``episodes``: ``{row: {action: Q̂}}``."""

    @abc.abstractmethod
    def _stage_beta(self) -> np.ndarray:
        """Return β_h for h = 1..H."""


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def _is_class_matrix_game(env: Any) -> bool:
    return env.horizon == 1 and all(
        callable(getattr(env, name, None)) for name in ("classify", "exploitability")
    )


def class_distribution(env: Any, policy: Any, observation: Any, info: Any) -> np.ndarray:
    """The distribution over ``env.classes`` of ``policy``'s answer at one state.

    For a policy with ``distribution(observation, info) -> {answer: probability}`` (a
    :class:`~ompo_envs.policies.CandidateSetPolicy`) in a text game whose answers fall in classes
    (``env.classify``).
    """
    out = np.zeros(len(env.classes))
    for answer, p in policy.distribution(observation, info).items():
        out[env.classify(answer)] += p
    return out


def check_sampling_fields(num_samples: object, num_episodes: object, seed: object) -> None:
    """Validate the sampling fields every sample-based config shares."""
    for name, value in (("num_samples", num_samples), ("num_episodes", num_episodes)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


__all__ = [
    "SampledSolver",
    "check_sampling_fields",
    "class_distribution",
    "default_policy",
]
