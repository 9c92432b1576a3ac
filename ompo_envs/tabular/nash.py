"""A symmetric Nash equilibrium of a tabular game by linear programming over occupancy measures.

The game splits into one bilinear game per initial state (Occ-Game, §2.4):

    max_{d ∈ F_{s1}} min_{d' ∈ F_{s1}} Σ_h w_h d_hᵀ R d'_h,      F_{s1} = {d ≥ 0 : E d = b},

with E d = b the Bellman-flow constraints Σ_a d_h(s, a) = Σ_{s',a'} f(s|s',a') d_{h−1}(s',a'),
Σ_a d_1(s, a) = 1{s = s1}. By LP duality the inner minimum equals max_y {bᵀy : Eᵀy ≤ Mᵀd} with
M = blockdiag(w_h R), so the equilibrium is the single LP

    max_{d, y} y_1(s1)   s.t.   E d = b,  d ≥ 0,  Eᵀ y − Mᵀ d ≤ 0,  y free.

Only states reachable at stage h from s1 get variables, which keeps sparse games small. The LP is
solved with HiGHS; π*_h(a|s) = d*_h(s, a) / Σ_a d*_h(s, a).

Cost: the constraint matrix holds the dense pairwise payoff, Σ_h (S_h·A)² non-zeros, so the
LP grows fast: on one core about 2 s for S=10, A=10, H=10, 15 s for S=20, 66 s for S=30 and
about 11 minutes for S=50 (roughly S³; ``benchmarks/tabular_exact.py`` times the paper's largest
game, S=100). Restricting both players to a growing support (column generation) was tried and
was slower at every size measured: random games have equilibria with large supports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from ompo_envs.tabular.game import TabularGame
from ompo_envs.tabular.policies import policy_from_occupancy

_LP_OPTIONS = {
    "primal_feasibility_tolerance": 1e-10,
    "dual_feasibility_tolerance": 1e-10,
    "presolve": True,
}


@dataclass(frozen=True)
class NashEquilibrium:
    """A symmetric Nash equilibrium (π*, π*).

    Attributes:
        policy: π*, shape (n_init, H, S, A).
        occupancy: d*, shape (n_init, H, S, A).
        values: The LP's game value per initial state, shape (n_init,) (½ Σ_h w_h each).
    """

    policy: np.ndarray
    occupancy: np.ndarray
    values: np.ndarray


def reachable_states(game: TabularGame, start: int) -> list[np.ndarray]:
    """Return, per stage h, the states reachable from ``start`` under some policy."""
    support = game.transitions.max(axis=1) > 0  # (S, S'): some action moves s to s'
    reach = [np.array([start])]
    for _ in range(game.horizon - 1):
        reach.append(np.flatnonzero(support[reach[-1]].any(axis=0)))
    return reach


def _solve_one_start(game: TabularGame, start: int) -> tuple[np.ndarray, float]:
    """Solve the Occ-Game of one initial state; return d* (H, S, A) and the value."""
    num_states, num_actions = game.num_states, game.num_actions
    weights = game.stage_weights
    pairwise = game.reward.reshape(num_states * num_actions, num_states * num_actions)
    reach = reachable_states(game, start)
    # Variable layout: d_h(s, a) for s in reach[h], stage by stage.
    pair_index = [(r[:, None] * num_actions + np.arange(num_actions)).ravel() for r in reach]
    d_offsets = np.cumsum([0] + [len(p) for p in pair_index])
    y_offsets = np.cumsum([0] + [len(r) for r in reach])
    num_d, num_y = int(d_offsets[-1]), int(y_offsets[-1])

    # E: one row per (h, s in reach[h]); +1 on d_h(s, ·), −f(s|s', a') on d_{h−1}(s', a').
    rows, cols, vals = [], [], []
    for h, states in enumerate(reach):
        local = np.searchsorted(states, pair_index[h] // num_actions)
        rows.append(y_offsets[h] + local)
        cols.append(d_offsets[h] + np.arange(len(pair_index[h])))
        vals.append(np.ones(len(pair_index[h])))
        if h > 0:
            prev = pair_index[h - 1]
            block = game.transitions.reshape(-1, num_states)[prev][:, states].T  # (|s|, |prev|)
            r_idx, c_idx = np.nonzero(block)
            rows.append(y_offsets[h] + r_idx)
            cols.append(d_offsets[h - 1] + c_idx)
            vals.append(-block[r_idx, c_idx])
    flow = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(num_y, num_d)
    )
    b = np.zeros(num_y)
    b[0] = 1.0
    payoff = sp.block_diag(
        [weights[h] * pairwise[np.ix_(p, p)] for h, p in enumerate(pair_index)], format="csr"
    )
    a_ub = sp.hstack([-payoff.T, flow.T], format="csr")
    a_eq = sp.hstack([flow, sp.csr_matrix((num_y, num_y))], format="csr")
    c = np.zeros(num_d + num_y)
    c[num_d] = -1.0  # maximise y_1(s1)
    bounds = [(0, None)] * num_d + [(None, None)] * num_y
    result = linprog(
        c,
        A_ub=a_ub,
        b_ub=np.zeros(num_d),
        A_eq=a_eq,
        b_eq=b,
        bounds=bounds,
        method="highs-ipm",
        options=_LP_OPTIONS,
    )
    if result.status != 0:
        raise RuntimeError(f"the equilibrium LP for s1={start} failed: {result.message}")
    occupancy = np.zeros((game.horizon, num_states * num_actions))
    for h, p in enumerate(pair_index):
        occupancy[h, p] = result.x[d_offsets[h] : d_offsets[h + 1]]
    return occupancy.reshape(game.horizon, num_states, num_actions), -float(result.fun)


def nash_equilibrium(game: TabularGame) -> NashEquilibrium:
    """Return a symmetric Nash equilibrium of ``game`` (exploitability ≤ 1e-7 in tests)."""
    solved = [_solve_one_start(game, int(s)) for s in game.initial_states]
    occupancy = np.clip(np.stack([d for d, _ in solved]), 0.0, None)
    values = np.array([v for _, v in solved])
    return NashEquilibrium(
        policy=policy_from_occupancy(occupancy, floor=1e-12), occupancy=occupancy, values=values
    )
