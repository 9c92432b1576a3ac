"""A symmetric Nash equilibrium of a tabular game by linear programming over occupancy measures.

The game splits into one bilinear game per initial state (Occ-Game, §2.4):

    max_{d ∈ F_{s1}} min_{d' ∈ F_{s1}} Σ_h w_h d_hᵀ R d'_h,      F_{s1} = {d ≥ 0 : E d = b},

with E d = b the Bellman-flow constraints Σ_a d_h(s, a) = Σ_{s',a'} f(s|s',a') d_{h−1}(s',a'),
Σ_a d_1(s, a) = 1{s = s1}. By LP duality the inner minimum equals max_y {bᵀy : Eᵀy ≤ Mᵀd} with
M = blockdiag(w_h R), so the equilibrium is the single LP

    max_{d, y} y_1(s1)   s.t.   E d = b,  d ≥ 0,  Eᵀ y − Mᵀ d ≤ 0,  y free.

Only states reachable at stage h from s1 get variables, which keeps sparse games small. The LP is
solved with HiGHS; π*_h(a|s) = d*_h(s, a) / Σ_a d*_h(s, a).

Its constraint matrix holds the dense pairwise payoff, Σ_h (S_h·A)² non-zeros (10⁷ for the
paper's largest game, S=100, A=10, H=10), which no LP solver handles quickly. Large games are
therefore solved by *column generation* on the same LP: both players are restricted to a set W
of stage-state-action triples (d_h(s, a) = 0 outside W), the restricted LP is solved, and the
exact best response to its solution is computed in the full game. If it gains nothing
(exploitability ≤ ``tolerance``) the restricted equilibrium is an equilibrium of the full game;
otherwise the best response's triples join W. W only grows, so the loop ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from ompo_envs.tabular.evaluation import best_response, occupancy_measures
from ompo_envs.tabular.game import TabularGame
from ompo_envs.tabular.policies import policy_from_occupancy, uniform_policy

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


def reachable_states(
    game: TabularGame, start: int, allowed: np.ndarray | None = None
) -> list[np.ndarray]:
    """Return, per stage h, the states reachable from ``start`` using ``allowed`` (H, S, A) actions.

    With ``allowed=None`` every action is allowed.
    """
    reach = [np.array([start])]
    for h in range(game.horizon - 1):
        moves = game.transitions[reach[-1]] > 0  # (|reach|, A, S')
        if allowed is not None:
            moves = moves & allowed[h, reach[-1]][..., None]
        reach.append(np.flatnonzero(moves.any(axis=(0, 1))))
    return reach


def _solve_one_start(
    game: TabularGame, start: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """Solve the Occ-Game of one initial state, both players restricted to ``allowed`` triples."""
    num_states, num_actions = game.num_states, game.num_actions
    weights = game.stage_weights
    pairwise = game.reward.reshape(num_states * num_actions, num_states * num_actions)
    reach = reachable_states(game, start, allowed)
    # Variable layout: d_h(s, a) for s in reach[h] and allowed (h, s, a), stage by stage.
    pair_index = [(r[:, None] * num_actions + np.arange(num_actions)).ravel() for r in reach]
    if allowed is not None:
        pair_index = [p[allowed[h].ravel()[p]] for h, p in enumerate(pair_index)]
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


#: Above this many occupancy variables per initial state, ``method="auto"`` uses columns.
DIRECT_LP_MAX_VARIABLES = 3000


def _column_generation(
    game: TabularGame, start: int, tolerance: float, max_iterations: int
) -> tuple[np.ndarray, float]:
    """Solve one initial state's Occ-Game by growing the allowed triples W (module docstring)."""
    horizon, num_states = game.horizon, game.num_states
    sub = TabularGame(
        initial_distribution=np.eye(num_states)[start],
        transitions=game.transitions,
        reward=game.reward,
        horizon=horizon,
        reward_mode=game.reward_mode,
    )
    # Start from the best response to the uniform policy: one action per stage and state.
    allowed = best_response(sub, uniform_policy(sub)).policy[0] > 0
    gap = np.inf
    for _ in range(max_iterations):
        occupancy, value = _solve_one_start(game, start, allowed)
        policy = policy_from_occupancy(occupancy[None], floor=1e-12)
        response = best_response(sub, policy)
        gap = response.value - value
        if gap <= tolerance:
            return occupancy, value
        visited = occupancy_measures(sub, response.policy)[0] > 0
        grown = allowed | (visited & (response.policy[0] > 0))
        # Every state the restricted players can now reach needs an allowed action.
        for h, states in enumerate(reachable_states(game, start, grown)):
            stuck = states[~grown[h, states].any(axis=-1)]
            grown[h, stuck] |= response.policy[0, h, stuck] > 0
        if np.array_equal(grown, allowed):
            break
        allowed = grown
    raise RuntimeError(
        f"column generation stalled for s1={start} at exploitability {gap:.3g} "
        f"(tolerance {tolerance:g}); try method='lp'"
    )


def nash_equilibrium(
    game: TabularGame,
    method: str = "auto",
    tolerance: float = 1e-9,
    max_iterations: int = 1000,
) -> NashEquilibrium:
    """Return a symmetric Nash equilibrium of ``game`` (exploitability ≤ 1e-7 in tests).

    Args:
        game: The game.
        method: ``"lp"`` (one LP per initial state over all occupancies),
            ``"column_generation"`` (a sequence of restricted LPs), or ``"auto"``: the direct LP
            when it has at most ``DIRECT_LP_MAX_VARIABLES`` occupancy variables per initial
            state, else column generation.
        tolerance: Exploitability at which column generation stops.
        max_iterations: Restricted LPs column generation may solve per initial state.
    """
    methods = ("auto", "lp", "column_generation")
    if method not in methods:
        raise ValueError(f"method must be one of {methods}, got {method!r}")
    if method == "auto":
        largest = max(
            sum(len(states) for states in reachable_states(game, int(s)))
            for s in game.initial_states
        )
        small = largest * game.num_actions <= DIRECT_LP_MAX_VARIABLES
        method = "lp" if small else "column_generation"
    if method == "lp":
        solved = [_solve_one_start(game, int(s)) for s in game.initial_states]
    else:
        solved = [
            _column_generation(game, int(s), tolerance, max_iterations) for s in game.initial_states
        ]
    occupancy = np.stack([d for d, _ in solved])
    values = np.array([v for _, v in solved])
    occupancy = np.clip(occupancy, 0.0, None)
    return NashEquilibrium(
        policy=policy_from_occupancy(occupancy, floor=1e-12), occupancy=occupancy, values=values
    )
