"""A symmetric Nash equilibrium by a primal–dual interior-point method on the occupancy LCP.

Fix one initial state s1. Write d for an occupancy measure over the reachable (h, s, a) and v for
one number per reachable (h, s). The symmetric equilibria are the solutions of the monotone linear
complementarity problem

    E d = b,    w := Eᵀv − K d ≥ 0,    d ≥ 0,    dᵀw = 0,                               (LCP)

where E d = b are the Bellman-flow constraints of §2.4 (Σ_a d_h(s, a) = Σ_{s',a'} f(s|s', a')
d_{h−1}(s', a'), Σ_a d_1(s, a) = 1{s = s1}), (Eᵀv)_h(s, a) = v_h(s) − Σ_{s'} f(s'|s, a) v_{h+1}(s'),
and K = blockdiag_h(w_h (R − ½)) is the pairwise payoff centred at ½. Antisymmetry of r makes K
skew-symmetric, so dᵀK d = 0 for every d. Why (LCP) is the equilibrium: against a fixed d the
best response is the LP max_{d' ≥ 0, E d' = b} d'ᵀK d, whose dual is min {bᵀv : Eᵀv ≥ K d}; for
every (d, v, w) that satisfies the equations and the signs, weak duality gives

    max_{d'} d'ᵀK d − dᵀK d ≤ bᵀv = dᵀEᵀv − dᵀK d = dᵀw,

so the complementarity gap dᵀw bounds the exploitability from s1, and it is zero exactly at a
symmetric equilibrium (Kuhn's and Dantzig's symmetric-game LP, with occupancy measures as the
strategies).

The method is Mehrotra's predictor–corrector (Mehrotra 1992; Wright, *Primal-Dual Interior-Point
Methods*, 1997, ch. 8 for monotone LCPs). It starts feasible — d⁰ is the uniform policy's
occupancy, v⁰ the best-response values plus one per stage, so w⁰ ≥ 1 — and follows the central path
d ∘ w = μ·1 to μ → 0. A Newton step solves

    (Θ − K) Δd + Eᵀ Δv = g,    E Δd = −r_p,    Θ = diag(w / d),

and the stage structure makes that cheap. Θ − K is block-diagonal in the stages (the payoff pairs
same-stage pairs only) and its symmetric part Θ is positive definite, so every stage block is
non-singular and is factorised once per iteration (dense LU of size n_h = A · #reachable states at
stage h). The Schur complement E (Θ − K)⁻¹ Eᵀ on v is block-tridiagonal in the stages (E couples
stage h with h − 1) with a positive-definite symmetric part, and is solved by block elimination
with blocks of size m_h = #reachable states. One iteration costs about
Σ_h (⅔ n_h³ + 2 n_h² (m_h + m_{h+1})) flops and no dense matrix larger than one stage's block is
ever formed: the linear program of :mod:`ompo_envs.tabular.nash` instead hands HiGHS the whole
payoff at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from ompo_envs.tabular.game import TabularGame
from ompo_envs.tabular.reachability import reachable_states

#: Fraction of the step to the boundary of d > 0, w > 0 that an iteration takes.
_STEP_TO_BOUNDARY = 0.99
#: Margin of the starting values over the best-response values: w⁰ ≥ this.
_START_MARGIN = 1.0


@dataclass(frozen=True)
class InteriorPointSolution:
    """The interior-point solution of (LCP) for one initial state.

    Attributes:
        occupancy: d, shape (H, S, A); zero off the reachable (h, s, a).
        value: ½ Σ_h w_h + bᵀv: an upper bound on the best-response value against d, so the
            game's value ½ Σ_h w_h plus at most ``gap``.
        gap: The complementarity gap dᵀw at the returned point, which bounds the
            exploitability of d from this initial state.
        iterations: Newton iterations made.
        converged: Whether ``gap`` reached the requested tolerance.
    """

    occupancy: np.ndarray
    value: float
    gap: float
    iterations: int
    converged: bool


class _StageBlocks:
    """The data of (LCP) for one initial state, restricted to the reachable pairs, per stage."""

    def __init__(self, game: TabularGame, start: int) -> None:
        num_states, num_actions = game.num_states, game.num_actions
        self.num_actions = num_actions
        self.horizon = game.horizon
        self.reach = reachable_states(game, start)
        actions = np.arange(num_actions)
        self.pairs = [(r[:, None] * num_actions + actions).ravel() for r in self.reach]
        self.num_reach = [len(r) for r in self.reach]
        pairwise = game.reward.reshape(num_states * num_actions, num_states * num_actions)
        weights = game.stage_weights
        self.payoff = [
            w * (pairwise[np.ix_(p, p)] - 0.5) for w, p in zip(weights, self.pairs, strict=True)
        ]
        kernel = game.transitions.reshape(num_states * num_actions, num_states)
        #: f restricted to (reachable pairs at h) × (reachable states at h + 1).
        self.kernel = [kernel[self.pairs[h]][:, self.reach[h + 1]] for h in range(self.horizon - 1)]

    def state_sum(self, h: int, x: np.ndarray) -> np.ndarray:
        """Jᵀx: sum over actions, (n_h, ...) → (m_h, ...)."""
        return x.reshape(self.num_reach[h], self.num_actions, *x.shape[1:]).sum(axis=1)

    def flow_residual(self, d: list[np.ndarray]) -> list[np.ndarray]:
        """E d − b per stage."""
        residual = []
        for h in range(self.horizon):
            inflow = self.kernel[h - 1].T @ d[h - 1] if h > 0 else _unit(self.num_reach[0])
            residual.append(self.state_sum(h, d[h]) - inflow)
        return residual

    def bellman_gap(self, v: list[np.ndarray], d: list[np.ndarray]) -> list[np.ndarray]:
        """Eᵀv − K d per stage: v_h(s) − Σ f v_{h+1} − (K d)_h(s, a)."""
        out = []
        for h in range(self.horizon):
            value = np.repeat(v[h], self.num_actions) - self.payoff[h] @ d[h]
            if h + 1 < self.horizon:
                value -= self.kernel[h] @ v[h + 1]
            out.append(value)
        return out


def _unit(size: int) -> np.ndarray:
    e = np.zeros(size)
    e[0] = 1.0  # reach[0] = [s1]
    return e


def _feasible_start(blocks: _StageBlocks) -> tuple[list, list, list]:
    """d⁰ = occupancy of the uniform policy, v⁰ = best-response values + margin, w⁰ = Eᵀv − K d."""
    horizon, num_actions = blocks.horizon, blocks.num_actions
    d, mass = [], _unit(blocks.num_reach[0])
    for h in range(horizon):
        d.append(np.repeat(mass / num_actions, num_actions))
        if h + 1 < horizon:
            mass = blocks.kernel[h].T @ d[h]
    v: list[np.ndarray] = [np.empty(0)] * horizon
    for h in range(horizon - 1, -1, -1):
        q = blocks.payoff[h] @ d[h]
        if h + 1 < horizon:
            q = q + blocks.kernel[h] @ v[h + 1]
        v[h] = q.reshape(blocks.num_reach[h], num_actions).max(axis=1) + _START_MARGIN
    return d, v, blocks.bellman_gap(v, d)


class _NewtonSystem:
    """Factorisation of the Newton matrix [[Θ − K, Eᵀ], [E, 0]] at one iterate."""

    def __init__(self, blocks: _StageBlocks, d: list, w: list) -> None:
        self.blocks = blocks
        horizon, reach = blocks.horizon, blocks.num_reach
        self.stage_lu, self.inv_j, self.inv_f = [], [], []
        for h in range(horizon):
            matrix = -blocks.payoff[h]
            matrix[np.diag_indices_from(matrix)] += w[h] / d[h]
            lu = sla.lu_factor(matrix, overwrite_a=True, check_finite=False)
            next_reach = reach[h + 1] if h + 1 < horizon else 0
            columns = np.zeros((len(d[h]), reach[h] + next_reach))
            columns[:, : reach[h]] = np.repeat(np.eye(reach[h]), blocks.num_actions, axis=0)
            if next_reach:
                columns[:, reach[h] :] = blocks.kernel[h]
            solved = sla.lu_solve(lu, columns, check_finite=False)
            self.stage_lu.append(lu)
            self.inv_j.append(solved[:, : reach[h]])  # (Θ − K)⁻¹ J
            self.inv_f.append(solved[:, reach[h] :])  # (Θ − K)⁻¹ F
        # Schur complement E (Θ − K)⁻¹ Eᵀ, block-tridiagonal; eliminate forward in h.
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.pivots: list = []
        for h in range(horizon):
            diagonal = blocks.state_sum(h, self.inv_j[h])
            if h > 0:
                diagonal = diagonal + blocks.kernel[h - 1].T @ self.inv_f[h - 1]
                lower = -blocks.kernel[h - 1].T @ self.inv_j[h - 1]  # block (h, h − 1)
                diagonal = diagonal - lower @ sla.lu_solve(
                    self.pivots[h - 1], self.upper[h - 1], check_finite=False
                )
                self.lower.append(lower)
            self.pivots.append(sla.lu_factor(diagonal, check_finite=False))
            if h + 1 < horizon:
                self.upper.append(-blocks.state_sum(h, self.inv_f[h]))  # block (h, h + 1)

    def _solve_schur(self, rhs: list[np.ndarray]) -> list[np.ndarray]:
        horizon = self.blocks.horizon
        forward = [rhs[0]]
        for h in range(1, horizon):
            back = sla.lu_solve(self.pivots[h - 1], forward[h - 1], check_finite=False)
            forward.append(rhs[h] - self.lower[h - 1] @ back)
        x: list[np.ndarray] = [np.empty(0)] * horizon
        x[-1] = sla.lu_solve(self.pivots[-1], forward[-1], check_finite=False)
        for h in range(horizon - 2, -1, -1):
            x[h] = sla.lu_solve(
                self.pivots[h], forward[h] - self.upper[h] @ x[h + 1], check_finite=False
            )
        return x

    def solve(self, g: list[np.ndarray], flow_residual: list[np.ndarray]) -> tuple[list, list]:
        """Return (Δd, Δv) with (Θ − K) Δd + Eᵀ Δv = g and E Δd = −flow_residual."""
        blocks, horizon = self.blocks, self.blocks.horizon
        inv_g = [sla.lu_solve(self.stage_lu[h], g[h], check_finite=False) for h in range(horizon)]
        rhs = []
        for h in range(horizon):
            term = blocks.state_sum(h, inv_g[h]) + flow_residual[h]
            if h > 0:
                term = term - blocks.kernel[h - 1].T @ inv_g[h - 1]
            rhs.append(term)
        dv = self._solve_schur(rhs)
        dd = []
        for h in range(horizon):
            step = inv_g[h] - self.inv_j[h] @ dv[h]
            if h + 1 < horizon:
                step = step + self.inv_f[h] @ dv[h + 1]
            dd.append(step)
        return dd, dv


def _direction(
    system: _NewtonSystem,
    d: list[np.ndarray],
    w: list[np.ndarray],
    residuals: tuple[list[np.ndarray], list[np.ndarray]],
    target: list[np.ndarray],
) -> tuple[list, list, list]:
    """The Newton direction (Δd, Δv, Δw) for d ∘ w → ``target`` + d ∘ w, residuals → 0.

    W Δd + D Δw = target and Δw = Eᵀ Δv − K Δd + (Eᵀv − K d − w) give
    (Θ − K) Δd + Eᵀ Δv = target / d − (Eᵀv − K d − w), with E Δd = −(E d − b).
    """
    dual_residual, flow_residual = residuals
    g = [t / x - r for t, x, r in zip(target, d, dual_residual, strict=True)]
    dd, dv = system.solve(g, flow_residual)
    dw = [(t - y * step) / x for t, y, step, x in zip(target, w, dd, d, strict=True)]
    return dd, dv, dw


def _step_to_boundary(x: list[np.ndarray], dx: list[np.ndarray]) -> float:
    """The largest α ≤ 1 with x + α dx ≥ 0 (x > 0)."""
    alpha = 1.0
    for value, step in zip(x, dx, strict=True):
        falling = step < 0
        if falling.any():
            alpha = min(alpha, float(np.min(-value[falling] / step[falling])))
    return alpha


def _dot(x: list[np.ndarray], y: list[np.ndarray]) -> float:
    return float(sum(float(a @ b) for a, b in zip(x, y, strict=True)))


def solve_start(
    game: TabularGame, start: int, *, gap_tolerance: float = 1e-10, max_iterations: int = 100
) -> InteriorPointSolution:
    """Solve (LCP) for the initial state ``start`` until the gap dᵀw is ≤ ``gap_tolerance``.

    Args:
        game: The game.
        start: The initial state s1 (an element of ``game.initial_states``).
        gap_tolerance: Stop when dᵀw (the exploitability bound from s1) is at most this.
        max_iterations: Give up (``converged=False``) after this many Newton iterations.
    """
    blocks = _StageBlocks(game, start)
    horizon = blocks.horizon
    d, v, w = _feasible_start(blocks)
    size = sum(len(x) for x in d)
    iterations = 0
    for iterations in range(max_iterations + 1):
        gap = _dot(d, w)
        if gap <= gap_tolerance or iterations == max_iterations:
            break
        bellman = blocks.bellman_gap(v, d)
        dual_residual = [bellman[h] - w[h] for h in range(horizon)]  # (Eᵀv − K d) − w
        flow_residual = blocks.flow_residual(d)
        try:
            system = _NewtonSystem(blocks, d, w)
        except (np.linalg.LinAlgError, ValueError):
            break  # numerically singular: return the last iterate, flagged unconverged

        mu = gap / size
        residuals = (dual_residual, flow_residual)
        affine = _direction(system, d, w, residuals, [-d[h] * w[h] for h in range(horizon)])
        alpha = min(_step_to_boundary(d, affine[0]), _step_to_boundary(w, affine[2]))
        mu_affine = (
            _dot(
                [d[h] + alpha * affine[0][h] for h in range(horizon)],
                [w[h] + alpha * affine[2][h] for h in range(horizon)],
            )
            / size
        )
        sigma = (mu_affine / mu) ** 3
        corrector = _direction(
            system,
            d,
            w,
            residuals,
            [sigma * mu - d[h] * w[h] - affine[0][h] * affine[2][h] for h in range(horizon)],
        )
        alpha = _STEP_TO_BOUNDARY * min(
            _step_to_boundary(d, corrector[0]), _step_to_boundary(w, corrector[2])
        )
        alpha = min(1.0, alpha)
        candidate = (
            [d[h] + alpha * corrector[0][h] for h in range(horizon)],
            [v[h] + alpha * corrector[1][h] for h in range(horizon)],
            [w[h] + alpha * corrector[2][h] for h in range(horizon)],
        )
        if not all(np.all(np.isfinite(x)) for part in candidate for x in part):
            break
        d, v, w = candidate
    gap = _dot(d, w)
    occupancy = np.zeros((horizon, game.num_states, game.num_actions))
    for h, pairs in enumerate(blocks.pairs):
        occupancy[h].reshape(-1)[pairs] = np.clip(d[h], 0.0, None)
    return InteriorPointSolution(
        occupancy=occupancy,
        value=game.value + float(v[0][0]),
        gap=gap,
        iterations=iterations,
        converged=gap <= gap_tolerance,
    )
