r"""The LM solvers' losses over summed log-probabilities, and the regression targets.

Notation: for a response y to a state s (one answer, or a whole conversation's answers, whose
log-probability is the sum of its answers'), ℓ_θ = log π_θ(y | s), ℓ_t = log π^t(y | s) (the
iterate that generated the data, scored once per iteration and stored).

**Squared log-ratio regression** (OMPO Alg. 2, MPO Alg. 4, SPPO; the approach of Wu et al.)::

    L(θ) = E (ℓ_θ − ℓ_t − target)²,     target = β (Q̂ − c)

It is the least-squares form of the exponential-weights step π^{t+1} ∝ π^t exp(β Q̂): writing
log π^{t+1}(a|s) − log π^t(a|s) = β Q̂(s, a) − log Z(s), the intractable log Z(s) is replaced by a
constant β c. **Deriving c.** At first order in β (Thm 7), log Z(s) = log E_{a~π^t} e^{β Q(s,a)}
≈ β E_{a~π^t} Q(s, a), so c is the value of Q̂ when every answer ties (a tie leaves π^t
unchanged, the paper's argument), i.e. its mean under π^t:

* **one-step win rate** (the paper's MT-Bench estimator), Q̂(s, a) = P([s, a] ≻ [s, a']),
  a' ~ π^t(·|s): E_{a,a'~π^t} P(a ≻ a') = ½ *exactly* by antisymmetry, so **c = ½** at every
  stage. OMPO's Q̂ = 2 P(a ≻ π^t) − P(a ≻ π^{t−1}) ties at 2·½ − ½ = ½ too.
* **full trajectory** (Eq. 2 / Eq. 4), Q̂_h = Σ_{τ=h}^H r_τ: every paid stage ties at ½, so
  **c = w_h / 2** with w_h the number of paid stages from h on — (H − h + 1)/2 with intermediate
  rewards (the paper's β (H − h + 1)/2), ½ with terminal ones. By symmetry it is the exact
  E_{s~d_h^{π^t}} E_{a~π^t} Q_h at h = 1 and on average over states at h > 1.
* **SPPO** regresses on the win rate P̂(y ≻ π^t) ∈ [0, 1] of a whole conversation with η:
  target = η (P̂ − ½), the same c = ½.

**DPO** (sigmoid loss, Rafailov et al.; TRL's ``loss_type="sigmoid"`` with label smoothing ε)::

    L(θ) = −(1 − ε) log σ(β Δ) − ε log σ(−β Δ),   Δ = (ℓ_θ(y_w) − ℓ_t(y_w)) − (ℓ_θ(y_l) − ℓ_t(y_l))

for a chosen y_w and rejected y_l: iterative DPO on whole conversations, Step-DPO on the answers
of one turn from the same s_h.

Every function returns per-row losses (shape (n,)); the optimiser loop takes the weighted mean.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = [
    "centring_constant",
    "dpo_loss",
    "regression_loss",
    "regression_target",
]

Estimator = Literal["one_step", "trajectory"]


def centring_constant(
    estimator: Estimator, stage: int, horizon: int, reward_mode: str = "intermediate"
) -> float:
    """Return c with log Z_h(s) ≈ β c for Q̂ from ``estimator`` at 1-based ``stage`` (module doc).

    Raises:
        ValueError: Unknown estimator or reward mode, or a stage outside 1..horizon.
    """
    if estimator not in ("one_step", "trajectory"):
        raise ValueError(f"estimator must be 'one_step' or 'trajectory', got {estimator!r}")
    if reward_mode not in ("intermediate", "terminal"):
        raise ValueError(f"reward_mode must be 'intermediate' or 'terminal', got {reward_mode!r}")
    if not 1 <= stage <= horizon:
        raise ValueError(f"stage must lie in 1..{horizon}, got {stage}")
    if estimator == "one_step" or reward_mode == "terminal":
        return 0.5
    return (horizon - stage + 1) / 2.0


def regression_target(q_hat: Any, beta: float, centre: Any) -> Any:
    """Return β (Q̂ − c), the log-ratio the regression fits (numpy or torch, elementwise)."""
    return beta * (q_hat - centre)


def regression_loss(logp: Any, ref_logp: Any, target: Any) -> Any:
    """Return (ℓ_θ − ℓ_t − target)² per row (torch tensors of shape (n,)).

    Raises:
        ValueError: The three inputs differ in shape.
    """
    _same_shape(logp=logp, ref_logp=ref_logp, target=target)
    return (logp - ref_logp - target) ** 2


def dpo_loss(
    logp_chosen: Any,
    logp_rejected: Any,
    ref_chosen: Any,
    ref_rejected: Any,
    beta: float,
    label_smoothing: float = 0.0,
) -> Any:
    """Return −(1 − ε) log σ(βΔ) − ε log σ(−βΔ) per row (module docstring; torch tensors).

    Raises:
        ValueError: Shapes differ, ``beta`` ≤ 0, or ``label_smoothing`` outside [0, ½).
    """
    import torch.nn.functional as F

    _same_shape(
        logp_chosen=logp_chosen,
        logp_rejected=logp_rejected,
        ref_chosen=ref_chosen,
        ref_rejected=ref_rejected,
    )
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta!r}")
    if not 0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must lie in [0, 0.5), got {label_smoothing!r}")
    margin = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return -(1 - label_smoothing) * F.logsigmoid(beta * margin) - label_smoothing * F.logsigmoid(
        -beta * margin
    )


def _same_shape(**tensors: Any) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"inputs must have the same shape, got {shapes}")
