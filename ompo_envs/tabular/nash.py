"""A symmetric Nash equilibrium of a tabular game: a linear program or an interior-point method.

:func:`nash_equilibrium` picks the method by size (``method="auto"``) and records which one it used
and the exploitability of its answer, measured exactly. The interior-point method is in
:mod:`ompo_envs.tabular.interior_point`; the linear program below is the reference it is tested
against.

The game splits into one bilinear game per initial state (Occ-Game, §2.4):

    max_{d ∈ F_{s1}} min_{d' ∈ F_{s1}} Σ_h w_h d_hᵀ R d'_h,      F_{s1} = {d ≥ 0 : E d = b},

with E d = b the Bellman-flow constraints Σ_a d_h(s, a) = Σ_{s',a'} f(s|s',a') d_{h−1}(s',a'),
Σ_a d_1(s, a) = 1{s = s1}. By LP duality the inner minimum equals max_y {bᵀy : Eᵀy ≤ Mᵀd} with
M = blockdiag(w_h R), so the equilibrium is the single LP

    max_{d, y} y_1(s1)   s.t.   E d = b,  d ≥ 0,  Eᵀ y − Mᵀ d ≤ 0,  y free.

Only states reachable at stage h from s1 get variables, which keeps sparse games small. The LP is
solved with HiGHS; π*_h(a|s) = d*_h(s, a) / Σ_a d*_h(s, a).

Cost: the constraint matrix holds the dense pairwise payoff, Σ_h (S_h·A)² non-zeros, and HiGHS
factorises it whole, so the LP grows roughly as S³ (the README gives the measured ladder).
Restricting both players to a growing support (column generation) was tried and was slower at
every size measured: random games have equilibria with large supports. The interior-point method
works on the same problem one stage block at a time and is the default beyond
:data:`LP_MAX_PAYOFF_ENTRIES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from ompo_envs.tabular.evaluation import exploitability
from ompo_envs.tabular.game import TabularGame, check_tabular_game
from ompo_envs.tabular.interior_point import solve_start
from ompo_envs.tabular.policies import policy_from_occupancy
from ompo_envs.tabular.reachability import reachable_states

__all__ = [
    "LP_MAX_PAYOFF_ENTRIES",
    "NashEquilibrium",
    "lp_payoff_entries",
    "nash_equilibrium",
    "reachable_states",
]

NashMethod = Literal["auto", "lp", "interior-point"]

#: ``method="auto"`` uses the LP while Σ_{s1, h} (A · #reachable states)², the payoff entries
#: the LP hands HiGHS, is at most this, and the interior-point method above it: near this size
#: the two take about as long (``benchmarks/nash_equilibrium.py`` times both on a size ladder).
LP_MAX_PAYOFF_ENTRIES = 25_000

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
        values: The solver's game value per initial state, shape (n_init,) (½ Σ_h w_h each, up
            to the solver's tolerance): the LP's optimum, or the interior-point method's upper
            bound on the best-response value.
        method: Which method produced it: ``"lp"`` or ``"interior-point"``.
        exploitability: ``exploitability(game, policy)``, measured after solving.
    """

    policy: np.ndarray
    occupancy: np.ndarray
    values: np.ndarray
    method: str
    exploitability: float


def lp_payoff_entries(game: TabularGame) -> int:
    """Σ_{s1, h} (A · #reachable states at h)²: the dense payoff entries of the equilibrium LP."""
    return sum(
        (len(states) * game.num_actions) ** 2
        for start in game.initial_states
        for states in reachable_states(game, int(start))
    )


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


def nash_equilibrium(
    game: TabularGame, method: NashMethod = "auto", *, tolerance: float = 1e-10
) -> NashEquilibrium:
    """Return a symmetric Nash equilibrium of ``game``, by the LP or the interior-point method.

    Args:
        game: The game.
        method: ``"lp"`` (HiGHS on the occupancy LP), ``"interior-point"``
            (:mod:`ompo_envs.tabular.interior_point`) or ``"auto"``: the LP while
            :func:`lp_payoff_entries` ≤ :data:`LP_MAX_PAYOFF_ENTRIES`, else the interior-point
            method.
        tolerance: The interior-point method stops once the complementarity gap, which bounds
            the exploitability from each initial state, is at most this (the LP uses HiGHS's
            own tolerances).

    Raises:
        TypeError: ``game`` is not a TabularGame (an env: pass ``env.unwrapped.game``).
        ValueError: Unknown ``method`` or a ``tolerance`` that is not positive.
        RuntimeError: The solver failed (the LP's status, or the interior-point method stopped
            above ``tolerance``, e.g. for numerical reasons; ``method="lp"`` is the fallback).
    """
    game = check_tabular_game(game)
    if method not in ("auto", "lp", "interior-point"):
        raise ValueError(f"method must be 'auto', 'lp' or 'interior-point', got {method!r}")
    if not (isinstance(tolerance, int | float) and np.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"tolerance must be a positive number, got {tolerance!r}")
    if method == "auto":
        small = lp_payoff_entries(game) <= LP_MAX_PAYOFF_ENTRIES
        method = "lp" if small else "interior-point"
    starts = [int(s) for s in game.initial_states]
    if method == "lp":
        solved = [_solve_one_start(game, s) for s in starts]
    else:
        solved = []
        for start in starts:
            solution = solve_start(game, start, gap_tolerance=tolerance)
            if not solution.converged:
                raise RuntimeError(
                    f"the interior-point method stopped at gap {solution.gap:.3g} > {tolerance:g} "
                    f"for s1={start} after {solution.iterations} iterations; "
                    "use method='lp' for this game"
                )
            solved.append((solution.occupancy, solution.value))
    occupancy = np.clip(np.stack([d for d, _ in solved]), 0.0, None)
    policy = policy_from_occupancy(occupancy, floor=1e-12)
    return NashEquilibrium(
        policy=policy,
        occupancy=occupancy,
        values=np.array([v for _, v in solved]),
        method=method,
        exploitability=exploitability(game, policy),
    )
