"""Exact evaluation of tabular alignment games (paper §2.3–2.4), vectorised over states/actions.

Notation (shapes): n = n_init initial states, H stages, S states, A actions. Occupancies and
policies are (n, H, S, A); the only loop is over the H stages, which is inherently sequential.

* occupancy d_h(s, a | s1) = Pr(S_h = s, A_h = a | S_1 = s1)                        (§2.4)
* reward against π':  r_h^{π'}(s, a | s1) = w_h Σ_{s',a'} d_h^{π'}(s', a' | s1) r(s, a, s', a')
  (the pairwise contraction: one (S·A)×(S·A) matmul with n·H right-hand columns)
* Q of a player against a fixed opponent: Q_h = r_h^{π'} + f V_{h+1}, V_h = ⟨π_h, Q_h⟩
  (Lemma 2 with the opponent's occupancy folded in, as in Lemma 1)
* the pair value ⟨ν1, V^{π,π'}⟩ = E_{s1~ν1} Σ_h ⟨d_h^π, r_h^{π'}⟩ (bilinear Occ-Game form)
* exploitability(π) = max_π̄ ⟨ν1, V^{π̄,π}⟩ − ⟨ν1, V^{π,π}⟩ ≥ 0, zero exactly at a symmetric NE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ompo_envs.tabular.game import TabularGame
from ompo_envs.tabular.policies import check_policy


def occupancy_measures(game: TabularGame, policy: np.ndarray) -> np.ndarray:
    """Return d_h(s, a | s1) for every initial state, shape (n, H, S, A).

    Each (s1, h) slice sums to 1. Forward recursion: d_1(s, a) = 1{s = s1} π_1(a|s) and
    d_{h+1}(s', a') = Σ_{s,a} d_h(s, a) f(s'|s, a) π_{h+1}(a'|s').
    """
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


def reward_against_occupancy(game: TabularGame, opponent_occupancy: np.ndarray) -> np.ndarray:
    """Return r_h^{π'}(s, a | s1) = w_h Σ_{s',a'} d'_h(s', a' | s1) r(s, a, s', a'), (n, H, S, A).

    One dense (S·A)×(S·A) matmul with n·H right-hand columns.
    """
    n, horizon, num_states, num_actions = opponent_occupancy.shape
    pairwise = game.reward.reshape(num_states * num_actions, num_states * num_actions)
    flat = opponent_occupancy.reshape(n * horizon, num_states * num_actions) @ pairwise.T
    weights = game.stage_weights[None, :, None, None]
    return flat.reshape(n, horizon, num_states, num_actions) * weights


def reward_against(game: TabularGame, opponent: np.ndarray) -> np.ndarray:
    """Return the stage reward of a player facing the fixed policy ``opponent``, (n, H, S, A)."""
    return reward_against_occupancy(game, occupancy_measures(game, opponent))


def q_values(
    game: TabularGame, policy: np.ndarray, stage_reward: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate ``policy`` on a per-player reward by backward dynamic programming.

    Q_h(s, a) = r_h(s, a) + Σ_{s'} f(s'|s, a) V_{h+1}(s'),  V_h(s) = Σ_a π_h(a|s) Q_h(s, a),
    V_{H+1} = 0 (standard Bellman equations, Lemma 2).

    Args:
        game: The game (for f).
        policy: π, shape (n, H, S, A).
        stage_reward: r_h(s, a | s1), shape (n, H, S, A), e.g. from :func:`reward_against`.

    Returns:
        ``(Q, V)`` with shapes (n, H, S, A) and (n, H + 1, S).
    """
    policy = check_policy(game, policy)
    if stage_reward.shape != policy.shape:
        raise ValueError(
            f"stage_reward must have shape {policy.shape} (like the policy), "
            f"got {stage_reward.shape}"
        )
    n, horizon, num_states, num_actions = policy.shape
    kernel_t = game.transitions.reshape(num_states * num_actions, num_states).T
    q = np.empty_like(policy)
    v = np.zeros((n, horizon + 1, num_states))
    for h in range(horizon - 1, -1, -1):
        continuation = (v[:, h + 1] @ kernel_t).reshape(n, num_states, num_actions)
        q[:, h] = stage_reward[:, h] + continuation
        v[:, h] = np.einsum("nsa,nsa->ns", policy[:, h], q[:, h])
    return q, v


def _initial_value(game: TabularGame, v1: np.ndarray) -> float:
    """⟨ν1, V_1⟩ from a (n, S) array of stage-1 values."""
    starts = game.initial_states
    return float(game.initial_distribution[starts] @ v1[np.arange(len(starts)), starts])


def pair_value(game: TabularGame, policy: np.ndarray, opponent: np.ndarray) -> float:
    """Return ⟨ν1, V^{π,π'}⟩ = E_{s1} Σ_h Σ d_h^π(s,a|s1) r(s,a,s',a') d_h^{π'}(s',a'|s1).

    Here π = ``policy`` is player_0 (paid r) and π' = ``opponent`` is player_1.
    """
    occupancy = occupancy_measures(game, policy)
    reward = reward_against(game, opponent)
    per_start = np.einsum("nhsa,nhsa->n", occupancy, reward)
    return float(game.initial_distribution[game.initial_states] @ per_start)


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


def optimal_q_values(game: TabularGame, stage_reward: np.ndarray) -> tuple[np.ndarray, float]:
    """Return the optimal Q*_h(s, a | s1) for a per-player reward and the value ⟨ν1, V*_1⟩.

    Against a fixed opponent the game is an MDP per s1 with reward r_h^{π'} (the trajectories
    are independent given s1), so Q*_h = r_h + f V*_{h+1}, V*_h = max_a Q*_h, V*_{H+1} = 0.
    """
    n, horizon, num_states, num_actions = stage_reward.shape
    kernel_t = game.transitions.reshape(num_states * num_actions, num_states).T
    q = np.empty_like(stage_reward)
    v_next = np.zeros((n, num_states))
    for h in range(horizon - 1, -1, -1):
        q[:, h] = stage_reward[:, h] + (v_next @ kernel_t).reshape(n, num_states, num_actions)
        v_next = q[:, h].max(axis=-1)
    return q, _initial_value(game, v_next)


def best_response(game: TabularGame, opponent: np.ndarray) -> BestResponse:
    """Return player_0's best response to ``opponent`` (a deterministic greedy policy)."""
    q, value = optimal_q_values(game, reward_against(game, opponent))
    greedy = np.zeros_like(q)
    np.put_along_axis(greedy, q.argmax(axis=-1)[..., None], 1.0, axis=-1)
    return BestResponse(value=value, policy=greedy, q=q)


def exploitability(game: TabularGame, policy: np.ndarray) -> float:
    """Return max_π̄ ⟨ν1, V^{π̄,π}⟩ − ⟨ν1, V^{π,π}⟩ (§4.1); ≥ 0, and 0 exactly at a symmetric NE.

    By antisymmetry ⟨ν1, V^{π,π}⟩ = ½ Σ_h w_h for every π; it is computed, not assumed.
    Cost: one occupancy pass, one pairwise contraction, one backward max pass.
    """
    occupancy = occupancy_measures(game, policy)
    stage_reward = reward_against_occupancy(game, occupancy)
    per_start = np.einsum("nhsa,nhsa->n", occupancy, stage_reward)
    self_value = float(game.initial_distribution[game.initial_states] @ per_start)
    _, best_value = optimal_q_values(game, stage_reward)
    return best_value - self_value
