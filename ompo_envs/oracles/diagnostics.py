"""Diagnostics that show whether a preference oracle is intransitive, i.e. why general P matters.

* :func:`preference_matrix` — the (n, n) matrix P[i, j] = P(y_i ≻ y_j | x) of an oracle.
* :func:`cyclic_triple_rate` — the share of answer triples that form a preference cycle.
* :func:`bradley_terry_fit` — the best Bradley-Terry scores for a matrix and how far it is from BT.
* :func:`plot_preference_matrix` — a heat map of the matrix.

A Bradley-Terry (reward-model) oracle has cycle rate 0 and fits with zero residual; the App. H
voters (paper, "Minimal example for the benefit of general preference") have cycle rate 1 and a
best BT fit that predicts ½ everywhere, off by 1/6 on every pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ompo_envs.oracles.base import Conversation, PreferenceOracle, sigmoid

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: Tolerance on P + Pᵀ = 1 accepted by the diagnostics (model outputs are float32 at times).
MATRIX_TOLERANCE = 1e-6


def preference_matrix(
    oracle: PreferenceOracle, context: Conversation, answers: list[str] | tuple[str, ...]
) -> np.ndarray:
    """Return P with P[i, j] = P(answers[i] ≻ answers[j] | context), from one batched call.

    Only the n(n − 1)/2 pairs i < j are sent to the oracle; the rest follow from P[j, i] =
    1 − P[i, j] and P[i, i] = ½.

    Args:
        oracle: Any preference oracle.
        context: The conversation being answered.
        answers: n candidate answers (strings).

    Returns:
        A float64 array of shape (n, n).
    """
    if isinstance(answers, str) or not isinstance(answers, list | tuple):
        raise TypeError(f"answers must be a list of strings, got {type(answers).__name__}")
    n = len(answers)
    rows, cols = np.triu_indices(n, k=1)
    matrix = np.full((n, n), 0.5)
    if rows.size:
        values = oracle.compare(
            [context] * rows.size, [answers[i] for i in rows], [answers[j] for j in cols]
        )
        matrix[rows, cols] = values
        matrix[cols, rows] = 1.0 - values
    return matrix


def _check_matrix(matrix: Any) -> np.ndarray:
    array = np.asarray(matrix, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ValueError(f"matrix must be square (n, n), got shape {array.shape}")
    if not np.all(np.isfinite(array)) or np.any((array < 0) | (array > 1)):
        raise ValueError("matrix entries must be finite probabilities in [0, 1]")
    violation = float(np.max(np.abs(array + array.T - 1.0))) if array.size else 0.0
    if violation > MATRIX_TOLERANCE:
        raise ValueError(
            f"matrix must satisfy P + Pᵀ = 1 (largest violation {violation:.3g}); build it with "
            "preference_matrix()"
        )
    return array


def cyclic_triple_rate(matrix: Any) -> float:
    """Return the share of unordered triples {i, j, k} that form a cycle i ≻ j ≻ k ≻ i.

    A pair is decided when P[i, j] > ½ (ties decide nothing, so a triple with a tie is never a
    cycle). With W[i, j] = 1{P[i, j] > ½}, each cyclic triple gives exactly three closed walks
    of length 3, so the count is trace(W³) / 3, divided by C(n, 3).

    Args:
        matrix: An (n, n) preference matrix with n ≥ 3.

    Raises:
        ValueError: The matrix is malformed or has fewer than 3 answers (no triples).
    """
    array = _check_matrix(matrix)
    n = array.shape[0]
    if n < 3:
        raise ValueError(f"cyclic_triple_rate needs at least 3 answers, got {n}")
    wins = (array > 0.5).astype(np.int64)
    cycles = int(np.trace(wins @ wins @ wins)) // 3
    return cycles / (n * (n - 1) * (n - 2) / 6)


@dataclass(frozen=True)
class BradleyTerryFit:
    """The maximum-likelihood Bradley-Terry fit of a preference matrix, and its misfit."""

    scores: np.ndarray
    """Fitted scores s (mean 0); BT predicts P[i, j] ≈ σ(s_i − s_j)."""
    fitted: np.ndarray
    """The BT matrix σ(s_i − s_j)."""
    max_abs_residual: float
    """max over i ≠ j of |P[i, j] − σ(s_i − s_j)|; 0 iff the matrix is exactly BT."""
    mean_abs_residual: float
    """Mean over i ≠ j of |P[i, j] − σ(s_i − s_j)|."""
    log_loss: float
    """Mean cross-entropy −[P log σ + (1 − P) log(1 − σ)] over i ≠ j, in nats."""
    entropy: float
    """Mean binary entropy of P over i ≠ j: the smallest log-loss any model can reach."""

    @property
    def excess_log_loss(self) -> float:
        """log_loss − entropy = mean KL(P ‖ BT) in nats; 0 iff BT explains the matrix."""
        return self.log_loss - self.entropy


def bradley_terry_fit(matrix: Any, *, l2: float = 0.0, max_iter: int = 1000) -> BradleyTerryFit:
    """Fit s minimising the mean cross-entropy between P[i, j] and σ(s_i − s_j) over i ≠ j.

    The objective is convex in s; its gradient is ∂/∂s_i = 2 Σ_j (σ(s_i − s_j) − P[i, j]) / m
    (using P + Pᵀ = 1), m = n(n − 1). Scores are identified up to a constant and returned with
    mean 0. For a deterministic transitive matrix (entries 0/1) the optimum is at infinity;
    the optimiser stops at large finite scores (pass ``l2 > 0`` to bound them).

    Args:
        matrix: An (n, n) preference matrix, n ≥ 2.
        l2: Ridge penalty l2 · ‖s‖² added to the objective.
        max_iter: Iteration cap for L-BFGS.

    Returns:
        The fitted scores and residual statistics (see :class:`BradleyTerryFit`).
    """
    from scipy.optimize import minimize

    array = _check_matrix(matrix)
    n = array.shape[0]
    if n < 2:
        raise ValueError(f"bradley_terry_fit needs at least 2 answers, got {n}")
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    off = ~np.eye(n, dtype=bool)
    m = n * (n - 1)

    def objective(s: np.ndarray) -> tuple[float, np.ndarray]:
        d = s[:, None] - s[None, :]
        # −[P log σ(d) + (1 − P) log σ(−d)] with log σ(d) = −log(1 + e^{−d}).
        loss = array * np.logaddexp(0.0, -d) + (1.0 - array) * np.logaddexp(0.0, d)
        value = loss[off].sum() / m + l2 * float(s @ s)
        residual = np.where(off, sigmoid(d) - array, 0.0)
        grad = 2.0 * residual.sum(axis=1) / m + 2.0 * l2 * s
        return value, grad

    result = minimize(
        objective,
        np.zeros(n),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": 1e-12, "ftol": 1e-15},
    )
    scores = result.x - result.x.mean()
    fitted = sigmoid(scores[:, None] - scores[None, :])
    residual = np.abs(array - fitted)[off]
    p = array[off]
    q = np.clip(fitted[off], 1e-300, 1.0)
    q_rev = np.clip(1.0 - fitted[off], 1e-300, 1.0)
    log_loss = float(np.mean(-(p * np.log(q) + (1 - p) * np.log(q_rev))))
    entropy = float(np.mean(-(_xlogx(p) + _xlogx(1 - p))))
    return BradleyTerryFit(
        scores=scores,
        fitted=fitted,
        max_abs_residual=float(residual.max()),
        mean_abs_residual=float(residual.mean()),
        log_loss=log_loss,
        entropy=entropy,
    )


def _xlogx(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)


def plot_preference_matrix(
    matrix: Any,
    labels: list[str] | tuple[str, ...] | None = None,
    path: str | Path | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Draw P as a heat map (rows beat columns), annotated with values and the cycle rate.

    Uses the Agg canvas directly, so no GUI backend or pyplot state is touched.

    Args:
        matrix: An (n, n) preference matrix.
        labels: n answer labels; defaults to ``y1 … yn``.
        path: If given, the figure is saved there (format from the suffix, e.g. ``.png``).
        title: Optional figure title; by default it reports the cycle rate and BT misfit.

    Returns:
        The matplotlib Figure.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    array = _check_matrix(matrix)
    n = array.shape[0]
    if labels is None:
        labels = [f"y{i + 1}" for i in range(n)]
    if len(labels) != n:
        raise ValueError(f"labels must hold {n} names, got {len(labels)}")
    if title is None:
        parts = []
        if n >= 3:
            parts.append(f"cyclic triples {cyclic_triple_rate(array):.0%}")
        if n >= 2:
            parts.append(f"BT max residual {bradley_terry_fit(array).max_abs_residual:.3f}")
        title = "P(row ≻ column)" + (": " + ", ".join(parts) if parts else "")
    size = max(3.0, 0.6 * n + 2.0)
    figure = Figure(figsize=(size + 1.0, size))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(array, vmin=0.0, vmax=1.0, cmap="RdBu_r")
    figure.colorbar(image, ax=axes, label="P(row ≻ column)")
    axes.set_xticks(range(n), labels, rotation=45, ha="right")
    axes.set_yticks(range(n), labels)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                colour = "white" if abs(array[i, j] - 0.5) > 0.3 else "black"
                axes.text(j, i, f"{array[i, j]:.2f}", ha="center", va="center", color=colour)
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    if path is not None:
        figure.savefig(Path(path))
    return figure
