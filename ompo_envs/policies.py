"""Policies: what plays one player's side of an env, from tables to language models.

One protocol for every opponent, wrapper and solver:

* :class:`Policy` — ``sample(observation, info, rng) -> action``, where ``observation`` and
  ``info`` are exactly what the env hands that player (its own observation and ``infos[agent]``).
* Batched sampling is a capability (:class:`BatchPolicy`): a policy may also have
  ``sample_batch(observations, infos, rng) -> list`` (an LLM samples many states in one
  ``generate`` call). :func:`sample_batch` uses it where present and loops ``sample`` otherwise;
  :func:`sample_each` makes one such call per distinct policy — what a rollout loop calls once
  per stage for all its live envs.
* :class:`TrainablePolicy` — a policy a sample-based solver updates: the row an observation uses
  (``key``), the actions whose Q̂ is estimated there (``candidate_actions``) and the
  exponential-weights step π^{t+1}_h(a|s) ∝ π^t_h(a|s) exp(β_h Q̂_h(s, a)) (``updated``, §3.2).
* :class:`MixturePolicy` — the trajectory-level mixture (the "average iterate" of App. E.2): one
  component drawn per episode with probability ∝ its weight, and followed throughout.

Implementations: :class:`ompo_envs.tabular.TabularPolicy` (tables, every tabular game),
:class:`CandidateSetPolicy` (a finite set of candidate actions per state, e.g. answers in a text
game), :class:`ompo_envs.lm.LMPolicy` (a language model), :class:`FunctionPolicy` (a function).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ompo_envs.core.validation import probability_array, real_array
from ompo_envs.tabular import TabularGame, TabularPolicy, policy_table
from ompo_envs.tabular.policies import kl_divergence, normalise_logits

#: Key of one row of a trainable policy (tabular: ``(init_index, h − 1, state)``).
RowKey = Hashable
#: A policy as a plain function ``(observation, info, rng) -> action``.
PolicyFunction = Callable[[Any, Mapping[str, Any], np.random.Generator], Any]


@runtime_checkable
class Policy(Protocol):
    """Anything that picks an action from one player's own observation and ``infos`` entry."""

    def sample(self, observation: Any, info: Mapping[str, Any], rng: np.random.Generator) -> Any:
        """Return an action drawn from π_h(·|s) with the caller's ``rng``."""
        ...


@runtime_checkable
class BatchPolicy(Policy, Protocol):
    """A :class:`Policy` that samples many states in one call (the batched capability)."""

    def sample_batch(
        self,
        observations: Sequence[Any],
        infos: Sequence[Mapping[str, Any]],
        rng: np.random.Generator,
    ) -> list[Any]:
        """Return one action per (observation, info), in order."""
        ...


@runtime_checkable
class TrainablePolicy(Policy, Protocol):
    """A :class:`Policy` that a sample-based solver can update."""

    def key(self, observation: Any, info: Mapping[str, Any]) -> RowKey:
        """Return the key of the row π_h(·|s) that ``observation`` (at stage ``info['h']``) uses."""
        ...

    def candidate_actions(
        self, observation: Any, info: Mapping[str, Any], rng: np.random.Generator
    ) -> Sequence[Any]:
        """Return the actions whose Q̂ is estimated at this state (tabular: all of them)."""
        ...

    def updated(
        self, q_hat: Mapping[RowKey, Mapping[Any, float]], stage_beta: Sequence[float]
    ) -> TrainablePolicy:
        """Return π^{t+1}: the exponential-weights step on the rows in ``q_hat``, others kept.

        ``stage_beta[h − 1]`` is β_h; the policy knows the stage of each of its rows.
        """
        ...


def sample_batch(
    policy: Policy,
    observations: Sequence[Any],
    infos: Sequence[Mapping[str, Any]],
    rng: np.random.Generator,
) -> list[Any]:
    """Sample one action per state: one ``policy.sample_batch`` call where it exists, else a loop.

    Raises:
        ValueError: ``observations`` and ``infos`` differ in length, or ``sample_batch`` returned
            a different number of actions.
    """
    if len(observations) != len(infos):
        raise ValueError(
            f"observations and infos must have the same length, got {len(observations)} and "
            f"{len(infos)}"
        )
    batch = getattr(policy, "sample_batch", None)
    if not callable(batch):
        return [policy.sample(o, i, rng) for o, i in zip(observations, infos, strict=True)]
    actions = list(batch(observations, infos, rng))
    if len(actions) != len(observations):
        raise ValueError(
            f"{type(policy).__name__}.sample_batch returned {len(actions)} actions for "
            f"{len(observations)} states"
        )
    return actions


def sample_each(
    policies: Sequence[Policy],
    observations: Sequence[Any],
    infos: Sequence[Mapping[str, Any]],
    rng: np.random.Generator,
) -> list[Any]:
    """Sample ``policies[i]``'s action for state i: one :func:`sample_batch` per distinct policy.

    Policies are grouped by identity, in order of first appearance, so a rollout loop over many
    envs asks each policy (an LLM) once per stage.
    """
    groups: dict[int, list[int]] = {}
    for i, policy in enumerate(policies):
        groups.setdefault(id(policy), []).append(i)
    actions: list[Any] = [None] * len(policies)
    for members in groups.values():
        drawn = sample_batch(
            policies[members[0]],
            [observations[i] for i in members],
            [infos[i] for i in members],
            rng,
        )
        for i, action in zip(members, drawn, strict=True):
            actions[i] = action
    return actions


class FunctionPolicy:
    """A :class:`Policy` from a plain function ``(observation, info, rng) -> action``."""

    def __init__(self, function: PolicyFunction) -> None:
        if not callable(function):
            raise TypeError(f"function must be callable, got {type(function).__name__}")
        self.function = function

    def sample(self, observation: Any, info: Mapping[str, Any], rng: np.random.Generator) -> Any:
        """Return ``function(observation, info, rng)``."""
        return self.function(observation, info, rng)


class MixturePolicy:
    """The trajectory-level mixture of policies: draw one component per episode, keep it.

    Playing it has the occupancy Σ_t w_t d^{π_t} / Σ_t w_t (the average iterate of App. E.2) —
    which a per-state average of the tables would *not* have. Weights need not be uniform:
    CFR-style averages weight iterate t by t (linear) or t^γ (discounted).

    A sample-based solver cannot turn it into one table without the model, so it returns this
    object; with the model (evaluation only), :meth:`to_array` gives the equivalent single table
    and :func:`ompo_envs.tabular.exploitability` accepts it directly.

    Args:
        components: The policies π_1..π_T.
        weights: w_t ≥ 0, not all zero (default uniform); normalised to sum to 1.

    Raises:
        TypeError: Weights that are not real numbers (strings, booleans, ...).
        ValueError: No component, or weights of the wrong length, negative, non-finite or all 0.
    """

    def __init__(
        self, components: Sequence[Policy], weights: Sequence[float] | None = None
    ) -> None:
        if len(components) == 0:
            raise ValueError("a MixturePolicy needs at least one component policy")
        w = (
            np.full(len(components), 1.0 / len(components))
            if weights is None
            else real_array(weights, "weights", shape=(len(components),))
        )
        with np.errstate(over="ignore"):
            total = w.sum()
        if np.any(w < 0) or not 0 < total < np.inf:
            raise ValueError(
                f"weights must be non-negative, not all zero, with a finite sum; got "
                f"{w.tolist()!r:.120}"
            )
        self.components = tuple(components)
        self.weights = w / w.sum()
        self.weights.setflags(write=False)

    def __len__(self) -> int:
        return len(self.components)

    def draw(self, rng: np.random.Generator) -> Policy:
        """Draw the component to follow for one whole episode, t ~ w."""
        return self.components[int(rng.choice(len(self.components), p=self.weights))]

    def to_array(self, game: TabularGame) -> np.ndarray:
        """Return the single table with occupancy Σ_t w_t d^{π_t} (uses the model: reporting only).

        Raises:
            TypeError: A component is not a table or a :class:`~ompo_envs.tabular.TabularPolicy`.
        """
        return policy_table(game, self)


def as_policy(policy: Any, name: str = "a policy") -> Policy | MixturePolicy:
    """Return ``policy`` as a :class:`Policy` (or a :class:`MixturePolicy`, drawn per episode).

    A table of shape (n_init, H, S, A) becomes a :class:`~ompo_envs.tabular.TabularPolicy`, a
    function ``(observation, info, rng) -> action`` a :class:`FunctionPolicy`; an object with
    ``sample`` or ``draw`` is returned as it is. ``name`` is what error messages call it.

    Raises:
        TypeError: ``policy`` is none of these.
    """
    if isinstance(policy, np.ndarray):
        return TabularPolicy(policy)
    if callable(getattr(policy, "sample", None)) or callable(getattr(policy, "draw", None)):
        return policy
    if callable(policy):
        return FunctionPolicy(policy)
    raise TypeError(
        f"{name} must be a table (n_init, H, S, A), an object with sample(observation, info, "
        f"rng) or draw(rng), or a function (observation, info, rng) -> action; got "
        f"{type(policy).__name__}"
    )


def episode_policy(policy: Any, rng: np.random.Generator) -> Policy:
    """The policy to follow for one episode: a mixture's drawn component, else ``policy``."""
    draw = getattr(policy, "draw", None)
    return as_policy(draw(rng)) if callable(draw) else policy


class CandidateSetPolicy:
    """π_h(a | s) over a finite set of candidate actions per state (answers, moves, tokens).

    Rows are created on first use: the candidates of a state come from ``candidates`` and its
    first distribution from ``initial``. This makes any env with a finite menu of actions per
    state — a text game with candidate answers — trainable by the sample-based solvers, which
    update it with the exact exponential-weights step at every row they visit (the tabular
    solution of Alg. 2's regression). Probabilities are carried as log-weights, like
    :class:`~ompo_envs.tabular.TabularPolicy`.

    Args:
        candidates: The actions of every state (a sequence of hashable actions), or a function
            ``(observation, info) -> sequence`` giving each state's own.
        initial: π^1 over a state's candidates: ``None`` (uniform), one probability per candidate
            (the same at every state), or a function ``(observation, info) -> probabilities``.
        key: The row of a state, ``(observation, info) -> hashable``; default
            ``(info["h"], observation)`` (a text env's observation is the player's conversation).

    Raises:
        TypeError: ``candidates``, ``initial`` or ``key`` has the wrong type.
        ValueError: No candidate, repeated candidates, or ``initial`` not a distribution over
            them.

    Example:
        >>> import numpy as np
        >>> pi = CandidateSetPolicy(["rock", "paper", "scissors"], [0.5, 0.25, 0.25])
        >>> pi.distribution("User: play!", {"h": 1})
        {'rock': 0.5, 'paper': 0.25, 'scissors': 0.25}
        >>> pi.sample("User: play!", {"h": 1}, np.random.default_rng(0)) in ("rock", "paper")
        True
    """

    def __init__(
        self,
        candidates: Sequence[Hashable] | Callable[[Any, Mapping[str, Any]], Sequence[Hashable]],
        initial: Sequence[float]
        | Callable[[Any, Mapping[str, Any]], Sequence[float]]
        | None = None,
        *,
        key: Callable[[Any, Mapping[str, Any]], Hashable] | None = None,
    ) -> None:
        if not callable(candidates):
            candidates = _check_candidates(candidates)
        if initial is not None and not callable(initial):
            if callable(candidates):
                raise TypeError(
                    "with per-state candidates, initial must be None or a function (observation, "
                    "info) -> probabilities"
                )
            _log_probabilities(initial, len(candidates))
        if key is not None and not callable(key):
            raise TypeError(f"key must be a function (observation, info) -> hashable, got {key!r}")
        self._candidates = candidates
        self._initial = initial
        self._key = key
        #: row key -> (stage index h − 1, actions, log-probabilities)
        self._rows: dict[RowKey, tuple[int, tuple[Hashable, ...], np.ndarray]] = {}

    def _row(self, observation: Any, info: Mapping[str, Any]) -> tuple[int, tuple, np.ndarray]:
        key = self.key(observation, info)
        row = self._rows.get(key)
        if row is None:
            actions = (
                _check_candidates(self._candidates(observation, info))
                if callable(self._candidates)
                else self._candidates
            )
            initial = self._initial(observation, info) if callable(self._initial) else self._initial
            row = (_stage(info) - 1, actions, _log_probabilities(initial, len(actions)))
            self._rows[key] = row
        return row

    def key(self, observation: Any, info: Mapping[str, Any]) -> RowKey:
        """Return the row key of this state (default ``(info["h"], observation)``)."""
        if self._key is not None:
            return self._key(observation, info)
        return (_stage(info), observation)

    def distribution(self, observation: Any, info: Mapping[str, Any]) -> dict[Hashable, float]:
        """Return π_h(·|s) as ``{candidate: probability}``."""
        _, actions, log_p = self._row(observation, info)
        return dict(zip(actions, np.exp(log_p).tolist(), strict=True))

    def sample(self, observation: Any, info: Mapping[str, Any], rng: np.random.Generator) -> Any:
        """Draw a candidate a ~ π_h(·|s) with ``rng``."""
        _, actions, log_p = self._row(observation, info)
        cumulative = np.cumsum(np.exp(log_p))
        index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        return actions[min(index, len(actions) - 1)]

    def candidate_actions(
        self, observation: Any, info: Mapping[str, Any], rng: np.random.Generator
    ) -> list[Hashable]:
        """Return every candidate of this state: Q̂ is estimated for each one."""
        return list(self._row(observation, info)[1])

    def updated(
        self, q_hat: Mapping[RowKey, Mapping[Any, float]], stage_beta: Sequence[float]
    ) -> CandidateSetPolicy:
        """Return π^{t+1}: the exponential-weights step at every row of ``q_hat``.

        log π^{t+1}_h(·|s) = log π^t_h(·|s) + β_h Q̂_h(s, ·) − log Z at the rows of ``q_hat``
        (rows this policy has met); the other rows are unchanged.

        Raises:
            KeyError: A row of ``q_hat`` was never met by this policy (never sampled or asked for
                its candidates).
            TypeError: A Q̂ or step size is not a real number.
            ValueError: A row's Q̂ misses a candidate or is not finite, or ``stage_beta`` is
                too short for a row's stage.
            FloatingPointError: The step overflows (β_h Q̂ too large); nothing is returned.
        """
        stage_beta = real_array(stage_beta, "stage_beta")
        if stage_beta.ndim != 1:
            raise ValueError(f"stage_beta must be one step size per stage, got {stage_beta.shape}")
        rows = dict(self._rows)
        for key, values in q_hat.items():
            if key not in self._rows:
                raise KeyError(f"row {key!r} was never visited by this policy; cannot update it")
            stage, actions, log_p = self._rows[key]
            if stage >= stage_beta.shape[0]:
                raise ValueError(
                    f"stage_beta has {stage_beta.shape[0]} entries but row {key!r} is at stage "
                    f"{stage + 1}"
                )
            missing = [a for a in actions if a not in values]
            if missing:
                raise ValueError(f"row {key!r} has no Q̂ for the candidates {missing}")
            q = real_array([values[a] for a in actions], f"the Q̂ of row {key!r}")
            with np.errstate(over="ignore", invalid="ignore"):
                logits = log_p + stage_beta[stage] * q
            if not np.all(np.isfinite(logits) | (logits == -np.inf)) or np.all(logits == -np.inf):
                raise FloatingPointError(
                    f"the exponential-weights step overflowed at row {key!r} (β_h Q̂ = "
                    f"{stage_beta[stage]:.3g} × {q.tolist()!r:.60}); lower the step size beta"
                )
            rows[key] = (stage, actions, normalise_logits(logits))
        new = CandidateSetPolicy.__new__(CandidateSetPolicy)
        new._candidates, new._initial, new._key = self._candidates, self._initial, self._key
        new._rows = rows
        return new

    def kl_divergence(self, other: CandidateSetPolicy, keys: Sequence[RowKey]) -> np.ndarray:
        """KL(self_h(·|s) ‖ other_h(·|s)) at each row key (rows both have met)."""
        return np.array(
            [float(kl_divergence(self._rows[k][2], other._rows[k][2])) for k in keys],
            dtype=np.float64,
        )


def _stage(info: Mapping[str, Any]) -> int:
    try:
        return int(info["h"])
    except (KeyError, TypeError):
        raise ValueError(
            "this policy needs the 1-based stage in info['h'] (every ompo_envs env provides it)"
        ) from None


def _check_candidates(candidates: Any) -> tuple[Hashable, ...]:
    if isinstance(candidates, str) or not isinstance(candidates, Sequence):
        raise TypeError(
            f"candidates must be a sequence of actions or a function (observation, info) -> "
            f"sequence, got {type(candidates).__name__}"
        )
    actions = tuple(candidates)
    if not actions:
        raise ValueError("a state needs at least one candidate action")
    if len(set(actions)) != len(actions):
        raise ValueError(f"candidate actions must be distinct, got {list(actions)}")
    return actions


def _log_probabilities(probabilities: Sequence[float] | None, size: int) -> np.ndarray:
    if probabilities is None:
        return np.full(size, -np.log(size))
    p = probability_array(probabilities, "initial", shape=(size,))
    with np.errstate(divide="ignore"):
        return normalise_logits(np.log(p))


__all__ = [
    "BatchPolicy",
    "CandidateSetPolicy",
    "FunctionPolicy",
    "MixturePolicy",
    "Policy",
    "PolicyFunction",
    "RowKey",
    "TrainablePolicy",
    "as_policy",
    "episode_policy",
    "sample_batch",
    "sample_each",
]
