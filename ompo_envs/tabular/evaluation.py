"""Exact evaluation of tabular alignment games (paper §2.3–2.4), vectorised over states/actions.

Notation (shapes): n = n_init initial states, H stages, S states, A actions. Occupancies and
policies are (n, H, S, A); the only loop is over the H stages, which is inherently sequential.

* occupancy d_h(s, a | s1) = Pr(S_h = s, A_h = a | S_1 = s1)                        (§2.4)
* reward against π':  r_h^{π'}(s, a | s1) = w_h Σ_{s',a'} d_h^{π'}(s', a' | s1) r(s, a, s', a')
  (the pairwise contraction: one (S·A)×(S·A) matmul with n·H right-hand columns)
* one backward recursion Q_h = r_h + f V_{h+1}, V_{H+1} = 0, with the state value V_h = ν(h, Q_h)
  passed in (:func:`backward_recursion`):

  - standard (Lemma 2):        ν = ⟨π_h, Q_h⟩                         :func:`standard_value`
  - optimal (best response):   ν = max_a Q_h                          :func:`optimal_value`
  - soft (Thm 10):             ν = (1/β_h) log Σ_a π_h e^{β_h Q_h}    :func:`soft_value`
  - KL-regularised:            ν = ⟨π_h, Q_h⟩ − α KL(π_h ‖ μ_h)       :func:`regularised_value`

* the pair value ⟨ν1, V^{π,π'}⟩ = E_{s1~ν1} Σ_h ⟨d_h^π, r_h^{π'}⟩ (bilinear Occ-Game form)
* exploitability(π) = max_π̄ ⟨ν1, V^{π̄,π}⟩ − ⟨ν1, V^{π,π}⟩ ≥ 0, zero exactly at a symmetric NE,
  computed from π's occupancy alone (:func:`exploitability_from_occupancy`).

Functions that take a policy accept a table (n, H, S, A) or a
:class:`~ompo_envs.tabular.TabularPolicy`; :func:`exploitability` and :func:`best_response` also
a trajectory-level mixture of them (:class:`ompo_envs.policies.MixturePolicy`, via
:func:`policy_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.core.rows import row_max, row_sum
from ompo_envs.core.validation import probability_array, real_array
from ompo_envs.tabular.game import TabularGame, check_tabular_game
from ompo_envs.tabular.policies import (
    check_occupancy,
    check_policy,
    kl_divergence,
    policy_from_occupancy,
)

#: A state value ν(h, Q_h) -> V_h: stage index h (0-based) and Q_h (n, S, A) to V_h (n, S).
StateValue = Callable[[int, np.ndarray], np.ndarray]


# ---------------------------------------------------------------------- occupancies and rewards
def occupancy_measures(game: TabularGame, policy: Any, *, check: bool = True) -> np.ndarray:
    """Return d_h(s, a | s1) for every initial state, shape (n, H, S, A).

    Each (s1, h) slice sums to 1. Forward recursion: d_1(s, a) = 1{s = s1} π_1(a|s) and
    d_{h+1}(s', a') = Σ_{s,a} d_h(s, a) f(s'|s, a) π_{h+1}(a'|s').

    ``check=False`` skips the policy's checks: only for a float64 table (n, H, S, A) whose rows
    the caller made distributions (:func:`backward_recursion`'s ``check``).
    """
    if check:
        policy = check_policy(game, policy)
    n, horizon, num_states, num_actions = policy.shape
    kernel = game.transitions.reshape(num_states * num_actions, num_states)
    state_dist = np.zeros((n, num_states))
    state_dist[np.arange(n), game.initial_states] = 1.0
    occupancy = np.empty_like(policy)
    for h in range(horizon):
        occupancy[:, h] = state_dist[:, :, None] * policy[:, h]
        if h + 1 < horizon:
            state_dist = occupancy[:, h].reshape(n, -1) @ kernel
    return occupancy


#: The :class:`~ompo_envs.tabular.batching.ContractionBatcher` serving this thread's
#: contractions, if any (set by :func:`ompo_envs.tabular.batching.run_in_lockstep`).
ACTIVE_BATCHER: ContextVar[Any] = ContextVar("ACTIVE_BATCHER", default=None)


def reward_against_occupancy(
    game: TabularGame, opponent_occupancy: np.ndarray, *, check: bool = True
) -> np.ndarray:
    """Return r_h^{π'}(s, a | s1) = w_h Σ_{s',a'} d'_h(s', a' | s1) r(s, a, s', a'), (n, H, S, A).

    One dense (S·A)×(S·A) matmul with n·H right-hand columns; inside
    :func:`~ompo_envs.tabular.batching.run_in_lockstep` it joins the rows of the other
    iterates of ``game`` in one matmul (the same dot products, equal to rounding:
    :func:`contraction_rounding_bound`).

    ``check=False`` skips the occupancy's checks (:func:`backward_recursion`'s ``check``).

    Raises:
        TypeError: ``game`` is not a TabularGame, or the occupancy holds non-real values.
        ValueError: The occupancy is not one of this game (:func:`check_occupancy`).
    """
    if check:
        opponent_occupancy = check_occupancy(game, opponent_occupancy, "opponent_occupancy")
    batcher = ACTIVE_BATCHER.get()
    if batcher is not None and batcher.game is game:
        return batcher.contract(opponent_occupancy)
    return contract_rows(game, [opponent_occupancy])[0]


def contract_rows(game: TabularGame, occupancies: Sequence[np.ndarray]) -> list[np.ndarray]:
    """:func:`reward_against_occupancy` of several checked occupancies (n, H, S, A), one matmul.

    Row i of the product is the dot products of occupancy i's rows with the preference matrix,
    whatever the other rows are: each result is the contraction of its own occupancy. It is
    not always the same *bits* as that occupancy contracted alone: BLAS chooses its kernel,
    and with it the order of the additions, by processor and by matrix shape (OpenBLAS's
    SkylakeX kernel has a separate path for small products), so a batched and a lone
    contraction agree to :func:`contraction_rounding_bound` (README, "Numbers on any CPU").
    """
    num_states, num_actions = game.num_states, game.num_actions
    pairwise = game.reward.reshape(num_states * num_actions, num_states * num_actions)
    rows = [d.reshape(-1, num_states * num_actions) for d in occupancies]
    flat = (rows[0] if len(rows) == 1 else np.concatenate(rows)) @ pairwise.T
    weights = game.stage_weights[None, :, None, None]
    results, start = [], 0
    for d, r in zip(occupancies, rows, strict=True):
        block = flat[start : start + len(r)]
        results.append(block.reshape(d.shape) * weights)
        start += len(r)
    return results


def contraction_rounding_bound(game: TabularGame) -> float:
    """Largest difference two orders of summation can make in an entry of a contraction.

    An entry of r_h^{π'} (:func:`reward_against_occupancy`) is w_h Σ_k d_k r_k over K = S·A
    terms with d ≥ 0, Σ_k d_k ≤ 1 and r ∈ [0, 1]. Summed in any order, with or without fused
    multiply-adds, it carries an error of at most γ_K Σ_k |d_k r_k| ≤ γ_K, where
    γ_K = K u / (1 − K u) and u = 2⁻⁵³ (the standard bound for a dot product); two orders
    differ by at most twice that, times the largest stage weight w_h. Between the lockstep
    path and a run alone the contraction is the one computation whose matrix shape differs;
    on another processor every matmul may round in its own order. What a solver's dynamics do
    with such a difference over many updates is a property of the solver (README, "Numbers on
    any CPU").
    """
    game = check_tabular_game(game)
    terms = game.num_states * game.num_actions
    unit = np.finfo(np.float64).eps / 2
    gamma = terms * unit / (1 - terms * unit)
    return float(2 * gamma * np.max(np.abs(game.stage_weights)))


def reward_against(game: TabularGame, opponent: Any) -> np.ndarray:
    """Return the stage reward of a player facing the fixed policy ``opponent``, (n, H, S, A)."""
    return reward_against_occupancy(game, occupancy_measures(game, opponent))


# ---------------------------------------------------------------------- the backward recursion
def backward_recursion(
    game: TabularGame, stage_reward: np.ndarray, state_value: StateValue, *, check: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Q_h = r_h + f V_{h+1}, V_h = ``state_value(h, Q_h)``, V_{H+1} = 0, for h = H..1.

    The one backward recursion: standard, optimal, soft and regularised Q values differ only in
    ``state_value`` (module docstring).

    Args:
        game: The game (for f).
        stage_reward: r_h(s, a | s1), shape (n, H, S, A).
        state_value: Maps the stage index h (0-based) and Q_h of shape (n, S, A) to V_h, (n, S).
        check: False skips the checks of the arrays passed in, for arrays the caller computed
            itself from this game (the solvers' update loop); a wrong array then gives wrong
            numbers instead of an error.

    Returns:
        ``(Q, V)`` with shapes (n, H, S, A) and (n, H + 1, S).

    Raises:
        TypeError: ``game`` is not a TabularGame, or ``stage_reward`` holds non-real values.
        ValueError: ``stage_reward`` does not have the shape (n_init, H, S, A) of this game's
            policies, or has NaN or inf entries.
        FloatingPointError: Q or V overflowed (rewards or a state value too large).
    """
    if check:
        game = check_tabular_game(game)
        stage_reward = real_array(stage_reward, "stage_reward", shape=game.policy_shape)
    n, horizon, num_states, num_actions = stage_reward.shape
    kernel_t = game.transition_matrix_t
    q = np.empty_like(stage_reward)
    v = np.zeros((n, horizon + 1, num_states))
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below
        for h in range(horizon - 1, -1, -1):
            continuation = (v[:, h + 1] @ kernel_t).reshape(n, num_states, num_actions)
            q[:, h] = stage_reward[:, h] + continuation
            v[:, h] = state_value(h, q[:, h])
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(v))):
        raise FloatingPointError(
            "the backward recursion produced NaN or inf (a reward, value or step size too "
            "large for float64)"
        )
    return q, v


def standard_value(policy: np.ndarray) -> StateValue:
    """V_h(s) = Σ_a π_h(a|s) Q_h(s, a): the value of following π (Lemma 2)."""
    return lambda h, q_h: np.einsum("nsa,nsa->ns", policy[:, h], q_h)


def optimal_value(h: int, q_h: np.ndarray) -> np.ndarray:
    """V*_h(s) = max_a Q*_h(s, a): the value of a best response."""
    return row_max(q_h)


def soft_value(log_policy: np.ndarray, stage_beta: np.ndarray) -> StateValue:
    """V_h(s) = (1/β_h) log Σ_a π_h(a|s) exp(β_h Q_h(s, a)) (Thm 10's soft Bellman value).

    With it, log π_h + β_h (Q_h − V_h) is already normalised: the exact mirror step of Thm 10.
    """

    def value(h: int, q_h: np.ndarray) -> np.ndarray:
        z = log_policy[:, h] + stage_beta[h] * q_h
        top = row_max(z)
        return (top + np.log(row_sum(np.exp(z - top[..., None])))) / stage_beta[h]

    return value


def regularised_value(
    log_policy: np.ndarray, alpha: float, log_reference: np.ndarray
) -> StateValue:
    """V_h(s) = ⟨π_h, Q_h⟩ − α KL(π_h(·|s) ‖ μ_h(·|s)): the learner pays α · KL to μ per state.

    The value of π in the game where the learner pays α · KL to the reference/magnet μ at every
    state it visits (MTPO, MMD, EGPO).
    """
    policy = np.exp(log_policy)
    penalty = alpha * kl_divergence(log_policy, log_reference)  # (n, H, S)
    return lambda h, q_h: np.einsum("nsa,nsa->ns", policy[:, h], q_h) - penalty[:, h]


def q_values(
    game: TabularGame, policy: Any, stage_reward: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate ``policy`` on a per-player reward by backward dynamic programming.

    Q_h(s, a) = r_h(s, a) + Σ_{s'} f(s'|s, a) V_{h+1}(s'),  V_h(s) = Σ_a π_h(a|s) Q_h(s, a),
    V_{H+1} = 0 (standard Bellman equations, Lemma 2).

    Args:
        game: The game (for f).
        policy: π, shape (n, H, S, A) (or a TabularPolicy).
        stage_reward: r_h(s, a | s1), shape (n, H, S, A), e.g. from :func:`reward_against`.

    Returns:
        ``(Q, V)`` with shapes (n, H, S, A) and (n, H + 1, S).
    """
    policy = check_policy(game, policy)
    return backward_recursion(game, stage_reward, standard_value(policy))


def initial_value(game: TabularGame, v1: np.ndarray) -> float:
    """⟨ν1, V_1⟩ from a (n, S) array of stage-1 values."""
    starts = game.initial_states
    return float(game.initial_distribution[starts] @ v1[np.arange(len(starts)), starts])


def optimal_q_values(
    game: TabularGame, stage_reward: np.ndarray, *, check: bool = True
) -> tuple[np.ndarray, float]:
    """Return the optimal Q*_h(s, a | s1) for a per-player reward and the value ⟨ν1, V*_1⟩.

    Against a fixed opponent the game is an MDP per s1 with reward r_h^{π'} (the trajectories
    are independent given s1), so Q*_h = r_h + f V*_{h+1}, V*_h = max_a Q*_h, V*_{H+1} = 0.
    ``check``: as :func:`backward_recursion`'s.
    """
    q, v = backward_recursion(game, stage_reward, optimal_value, check=check)
    return q, initial_value(game, v[:, 0])


# ---------------------------------------------------------------------- values of policy pairs
def occupancy_value(game: TabularGame, occupancy: np.ndarray, stage_reward: np.ndarray) -> float:
    """⟨ν1, Σ_h ⟨d_h, r_h⟩⟩: the value of the policy with occupancy d for the stage reward r."""
    per_start = np.einsum("nhsa,nhsa->n", occupancy, stage_reward)
    return float(game.initial_distribution[game.initial_states] @ per_start)


def pair_value(game: TabularGame, policy: Any, opponent: Any) -> float:
    """Return ⟨ν1, V^{π,π'}⟩ = E_{s1} Σ_h Σ d_h^π(s,a|s1) r(s,a,s',a') d_h^{π'}(s',a'|s1).

    Here π = ``policy`` is player_0 (paid r) and π' = ``opponent`` is player_1.
    """
    return occupancy_value(game, occupancy_measures(game, policy), reward_against(game, opponent))


@dataclass(frozen=True)
class BestResponse:
    """A best response to a fixed opponent.

    Attributes:
        value: max_π̄ ⟨ν1, V^{π̄,π'}⟩.
        policy: A deterministic maximiser π̄, shape (n, H, S, A).
        q: Its optimal Q_h(s, a | s1), shape (n, H, S, A).
    """

    value: float
    policy: np.ndarray
    q: np.ndarray


def best_response(game: TabularGame, opponent: Any) -> BestResponse:
    """Return player_0's best response to ``opponent`` (a deterministic greedy policy)."""
    q, value = optimal_q_values(game, reward_against(game, policy_table(game, opponent)))
    greedy = np.zeros_like(q)
    np.put_along_axis(greedy, q.argmax(axis=-1)[..., None], 1.0, axis=-1)
    return BestResponse(value=value, policy=greedy, q=q)


def exploitability_from_occupancy(
    game: TabularGame, occupancy: np.ndarray, *, check: bool = True
) -> float:
    """max_π̄ ⟨ν1, V^{π̄,π}⟩ − ⟨ν1, V^{π,π}⟩ (§4.1) of the policy π whose occupancy is ``occupancy``.

    The one exploitability computation (:func:`exploitability` and every exact solver's
    ``evaluate()`` call it). By antisymmetry ⟨ν1, V^{π,π}⟩ = ½ Σ_h w_h for every π; it is
    computed, not assumed. Cost: one pairwise contraction and one backward max pass.

    ``check=False`` skips the occupancy's checks (:func:`backward_recursion`'s ``check``).

    Raises:
        TypeError / ValueError: ``occupancy`` is not an occupancy of ``game``
            (:func:`~ompo_envs.tabular.policies.check_occupancy`).
    """
    if check:
        occupancy = check_occupancy(game, occupancy)
    stage_reward = reward_against_occupancy(game, occupancy, check=False)
    self_value = occupancy_value(game, occupancy, stage_reward)
    _, best_value = optimal_q_values(game, stage_reward, check=False)
    return best_value - self_value


def exploitability(game: TabularGame, policy: Any) -> float:
    """Return max_π̄ ⟨ν1, V^{π̄,π}⟩ − ⟨ν1, V^{π,π}⟩ (§4.1); ≥ 0, and 0 exactly at a symmetric NE.

    Args:
        game: The game.
        policy: A table (n_init, H, S, A), a :class:`~ompo_envs.tabular.TabularPolicy`, or a
            trajectory-level mixture of them (:class:`ompo_envs.policies.MixturePolicy`).

    Cost: one occupancy pass, one pairwise contraction, one backward max pass.
    """
    return exploitability_from_occupancy(game, occupancy_measures(game, policy_table(game, policy)))


# ---------------------------------------------------------------------- mixtures of policies
def mixture_policy(
    game: TabularGame, policies: Sequence[Any], weights: Sequence[float] | None = None
) -> np.ndarray:
    """The trajectory-level mixture: the policy whose occupancy is Σ_t w_t d^{π_t} (App. E.2).

    This is the "average iterate" of a solver: playing it is the same as drawing t ~ w once per
    episode and following π_t throughout.

    Args:
        game: The game.
        policies: Tables or TabularPolicies.
        weights: w_t ≥ 0 summing to 1 (default uniform).

    Raises:
        TypeError: Weights that are not real numbers, or a policy that is not a table.
        ValueError: No policy, or weights that are not one probability per policy.
    """
    if len(policies) == 0:
        raise ValueError("mixture_policy needs at least one policy")
    w = (
        np.full(len(policies), 1.0 / len(policies))
        if weights is None
        else probability_array(weights, "weights", shape=(len(policies),))
    )
    occupancy = sum(wt * occupancy_measures(game, p) for wt, p in zip(w, policies, strict=True))
    return policy_from_occupancy(occupancy)


def policy_table(game: TabularGame, policy: Any) -> np.ndarray:
    """Return the table of any tabular policy: a table, a TabularPolicy, or a mixture of them.

    A trajectory-level mixture (an object with ``components`` and ``weights``, such as
    :class:`ompo_envs.policies.MixturePolicy`) becomes the single table with its occupancy
    (:func:`mixture_policy`; this uses the model: for evaluation).

    Raises:
        TypeError: ``policy`` is none of these (e.g. a mixture with a non-tabular component).
        ValueError: A table of the wrong shape or with rows that are not distributions.
    """
    components = getattr(policy, "components", None)
    if components is not None and hasattr(policy, "weights"):
        tables = [policy_table(game, c) for c in components]
        return mixture_policy(game, tables, policy.weights)
    return check_policy(game, policy)


class OccupancyAverage:
    """The running weighted average of iterates' occupancies: the trajectory-level mixture.

    After :meth:`add` of d^{π_1}..d^{π_t} with weights w_1..w_t, :attr:`occupancy` is
    Σ_k w_k d^{π_k} / Σ_k w_k, the occupancy of the mixture that plays π_k with probability
    ∝ w_k for a whole episode (App. E.2), and :attr:`policy` is that mixture as one table.
    Uniform weights give the plain average iterate; CFR-style averages weight iterate t by t
    (linear) or t^γ (discounted).

    Args:
        occupancy: d^{π_1}, shape (n, H, S, A).
        weight: w_1 > 0.
    """

    def __init__(self, occupancy: np.ndarray, weight: float = 1.0) -> None:
        occupancy = _check_measure(occupancy, None)
        _check_weight(weight)
        self._sum = occupancy if weight == 1.0 else weight * occupancy
        self._total = float(weight)

    def add(self, occupancy: np.ndarray, weight: float = 1.0, *, check: bool = True) -> None:
        """Include one more iterate's occupancy with weight ``weight`` > 0.

        ``check=False`` skips the occupancy's checks (one that :func:`occupancy_measures`
        returned); the weight and the overflow of the sum are always checked.

        Raises:
            TypeError / ValueError: A bad occupancy (shape, NaN, negative) or weight.
            FloatingPointError: The weighted sum overflowed. In every case nothing changes.
        """
        if check:
            occupancy = _check_measure(occupancy, self._sum.shape)
        _check_weight(weight)
        with np.errstate(over="ignore"):
            total = self._total + float(weight)
            new_sum = self._sum + (occupancy if weight == 1.0 else weight * occupancy)
        if not (np.isfinite(total) and np.all(np.isfinite(new_sum))):
            raise FloatingPointError(
                "the weighted sum of occupancies overflowed; lower the weights"
            )
        self._sum, self._total = new_sum, total

    @property
    def total_weight(self) -> float:
        """Σ_k w_k."""
        return self._total

    @property
    def occupancy(self) -> np.ndarray:
        """Σ_k w_k d^{π_k} / Σ_k w_k."""
        return self._sum / self._total

    @property
    def policy(self) -> np.ndarray:
        """The mixture as one table (the policy with :attr:`occupancy`)."""
        return policy_from_occupancy(self.occupancy)


def _check_weight(weight: float) -> None:
    if real_array(weight, "an iterate's weight", shape=()) <= 0:
        raise ValueError(f"an iterate's weight must be finite and > 0, got {weight!r}")


def _check_measure(occupancy: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray:
    occupancy = real_array(occupancy, "occupancy", shape=shape)
    if occupancy.ndim != 4 or np.any(occupancy < 0):
        raise ValueError(
            f"occupancy must be a non-negative array of shape (n_init, H, S, A), got shape "
            f"{occupancy.shape} with minimum {occupancy.min(initial=0.0):.3g}"
        )
    return occupancy
