"""The optimiser loop shared by the LM solvers and supervised warm starts.

:func:`optimize` is one pass of training over weighted rows: shuffle per epoch, micro-batches of
``batch_size`` rows, an optimiser step every ``gradient_accumulation_steps`` micro-batches. Each
step's gradient is that of the **weighted mean** loss over the rows of its accumulation group
(each micro-batch's summed loss is divided by the group's total weight), so a row of weight w
counts exactly like w identical rows of weight 1, and a last, partial group is not under-weighted.

The loop takes the model, optimiser and scheduler as arguments, so ``accelerate`` can wrap them::

    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    optimize(rows, loss_fn, optimizer, scheduler, config, parameters=model.parameters(),
             backward=accelerator.backward, clip_grad_norm=accelerator.clip_grad_norm_)

A non-finite loss raises :class:`NonFiniteLossError` *before* its backward pass and step, so the
weights hold the last finite update.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "NonFiniteLossError",
    "OptimizerConfig",
    "autocast",
    "make_optimizer",
    "make_scheduler",
    "optimize",
    "supervised_fine_tune",
]

Schedule = Literal["constant", "linear", "cosine"]
_SCHEDULES = ("constant", "linear", "cosine")
_OPTIMIZERS = ("adamw", "sgd")
_DTYPES = ("float32", "bfloat16", "float16")


class NonFiniteLossError(FloatingPointError):
    """A training loss was NaN or infinite (the step was not taken)."""


@dataclass(frozen=True)
class OptimizerConfig:
    """Optimiser settings of one training stage (defaults: the paper's App. G recipe shape)."""

    learning_rate: float = 5e-7
    """Peak learning rate (the paper fine-tunes 7B models with 5e-7)."""

    epochs: int = 1
    """Passes over the iteration's data."""

    batch_size: int = 8
    """Rows per micro-batch (one forward/backward)."""

    gradient_accumulation_steps: int = 1
    """Micro-batches per optimiser step (effective batch = ``batch_size`` × this)."""

    lr_schedule: Schedule = "cosine"
    """``"constant"``, ``"linear"`` (to 0) or ``"cosine"`` (to 0), after the warm-up."""

    warmup_ratio: float = 0.1
    """Fraction of the stage's optimiser steps with a linear warm-up from 0."""

    max_grad_norm: float | None = 1.0
    """Clip the global gradient norm to this (``None``: no clipping)."""

    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW) or L2 (SGD)."""

    optimizer: Literal["adamw", "sgd"] = "adamw"
    """``"adamw"`` (betas below) or ``"sgd"`` (momentum 0)."""

    adam_betas: tuple[float, float] = (0.9, 0.999)
    """AdamW's (β1, β2)."""

    adam_epsilon: float = 1e-8
    """AdamW's ε."""

    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Autocast dtype of forward passes (mixed precision); weights keep their own dtype."""

    seed: int = 0
    """Seed of the row shuffling (epoch e uses ``seed + e``)."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "gradient_accumulation_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not _positive(self.learning_rate):
            raise ValueError(
                f"learning_rate must be a finite number > 0, got {self.learning_rate!r}"
            )
        if self.lr_schedule not in _SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {_SCHEDULES}, got {self.lr_schedule!r}")
        if not isinstance(self.warmup_ratio, int | float) or not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must lie in [0, 1), got {self.warmup_ratio!r}")
        if self.max_grad_norm is not None and not _positive(self.max_grad_norm):
            raise ValueError(f"max_grad_norm must be > 0 or None, got {self.max_grad_norm!r}")
        if not isinstance(self.weight_decay, int | float) or self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES}, got {self.dtype!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    def num_steps(self, num_rows: int) -> int:
        """Optimiser steps a stage over ``num_rows`` rows takes."""
        micro = math.ceil(num_rows / self.batch_size)
        return self.epochs * math.ceil(micro / self.gradient_accumulation_steps)


def make_optimizer(parameters: Iterable[Any], config: OptimizerConfig) -> Any:
    """Return a fresh torch optimiser over the trainable ``parameters``."""
    import torch

    trainable = [p for p in parameters if p.requires_grad]
    if not trainable:
        raise ValueError("the model has no trainable parameters (requires_grad is off everywhere)")
    if config.optimizer == "sgd":
        return torch.optim.SGD(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    return torch.optim.AdamW(
        trainable,
        lr=config.learning_rate,
        betas=config.adam_betas,
        eps=config.adam_epsilon,
        weight_decay=config.weight_decay,
    )


def make_scheduler(optimizer: Any, config: OptimizerConfig, num_steps: int) -> Any:
    """Return a LambdaLR: linear warm-up over ``warmup_ratio`` of the steps, then the schedule."""
    import torch

    warmup = math.ceil(config.warmup_ratio * num_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if config.lr_schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, num_steps - warmup)
        if config.lr_schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def autocast(device: Any, dtype: str) -> Any:
    """Return the autocast context for ``dtype`` on ``device`` (a no-op for float32)."""
    import contextlib

    import torch

    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=getattr(torch, dtype))


def optimize(
    rows: Sequence[Any],
    loss_fn: Callable[[Sequence[Any]], Any],
    optimizer: Any,
    scheduler: Any,
    config: OptimizerConfig,
    *,
    parameters: Iterable[Any],
    weights: Sequence[float] | None = None,
    device: Any = "cpu",
    backward: Callable[[Any], None] | None = None,
    clip_grad_norm: Callable[[Any, float], Any] | None = None,
) -> dict[str, float]:
    """Train on ``rows`` for ``config.epochs`` epochs; return the stage's metrics.

    Args:
        rows: The training rows (any objects ``loss_fn`` understands).
        loss_fn: Maps a micro-batch of rows to a tensor of per-row losses, shape (len(rows),).
        optimizer: A torch optimiser over ``parameters``.
        scheduler: Stepped after every optimiser step.
        config: Epochs, batch size, accumulation, clipping, autocast dtype, shuffle seed.
        parameters: The trained parameters (for clipping and the gradient norm).
        weights: Per-row weights (default 1): the loss is the weighted mean.
        device: Device of the forward passes (for autocast).
        backward: Replaces ``loss.backward()`` (e.g. ``accelerator.backward``).
        clip_grad_norm: Replaces ``torch.nn.utils.clip_grad_norm_``.

    Returns:
        ``loss`` (weighted mean over the epochs), ``grad_norm`` (mean pre-clip norm),
        ``optimizer_steps`` and ``learning_rate`` (after the last step).

    Raises:
        NonFiniteLossError: A micro-batch loss is NaN/inf (no backward, no step for it).
        ValueError: ``weights`` has the wrong length or a negative/non-finite entry.
    """
    import torch

    parameters = [p for p in parameters if p.requires_grad]
    w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(rows),) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be {len(rows)} finite non-negative numbers")
    clip = clip_grad_norm or torch.nn.utils.clip_grad_norm_
    total_loss, total_weight, norms, steps = 0.0, 0.0, [], 0
    optimizer.zero_grad(set_to_none=True)
    for epoch in range(config.epochs):
        order = np.random.default_rng(config.seed + epoch).permutation(len(rows))
        micro = [order[i : i + config.batch_size] for i in range(0, len(rows), config.batch_size)]
        groups = [
            micro[i : i + config.gradient_accumulation_steps]
            for i in range(0, len(micro), config.gradient_accumulation_steps)
        ]
        for group in groups:
            group_weight = float(sum(w[index].sum() for index in group))
            if group_weight <= 0:
                continue
            for index in group:
                with autocast(device, config.dtype):
                    losses = loss_fn([rows[i] for i in index])
                batch_w = torch.as_tensor(w[index], dtype=torch.float32, device=losses.device)
                loss = (losses.float() * batch_w).sum()
                if not torch.isfinite(loss):
                    raise NonFiniteLossError(
                        f"the training loss is {loss.item()} at epoch {epoch}, optimiser step "
                        f"{steps}: the model's log-probabilities or the targets are not finite "
                        "(check the learning rate and the dtype); this step was not taken"
                    )
                total_loss += float(loss.detach())
                total_weight += float(batch_w.sum())
                (backward or _backward)(loss / group_weight)
            norm = clip(parameters, config.max_grad_norm or float("inf"))
            norms.append(float(norm))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
    return {
        "loss": total_loss / total_weight if total_weight else 0.0,
        "grad_norm": float(np.mean(norms)) if norms else 0.0,
        "optimizer_steps": float(steps),
        "learning_rate": float(scheduler.get_last_lr()[0]),
    }


def supervised_fine_tune(
    policy: Any,
    conversations: Sequence[Any],
    answers: Sequence[str],
    config: OptimizerConfig,
    weights: Sequence[float] | None = None,
) -> dict[str, float]:
    """Fit ``policy`` to (conversation, answer) pairs by maximum likelihood (SFT; warm starts).

    The loss of a pair is −log π(answer | conversation) (summed over the answer's tokens), in a
    weighted mean: duplicate pairs add up their weights (default 1 each). With weights p(a|s) the
    fit is π(·|s) = p(·|s) on the answers given.
    """
    from ompo_envs.lm.prompting import messages_key

    if weights is None:
        weights = [1.0] * len(answers)
    pairs: dict[tuple[Any, str], float] = {}
    for conversation, answer, weight in zip(conversations, answers, weights, strict=True):
        key = (messages_key(conversation), answer)
        pairs[key] = pairs.get(key, 0.0) + float(weight)
    rows = list(pairs)
    model = policy.model
    optimizer = make_optimizer(model.parameters(), config)
    scheduler = make_scheduler(optimizer, config, config.num_steps(len(rows)))

    def loss_fn(batch: Sequence[tuple[Any, str]]) -> Any:
        return -policy.log_probs([c for c, _ in batch], [a for _, a in batch])

    return optimize(
        rows,
        loss_fn,
        optimizer,
        scheduler,
        config,
        parameters=model.parameters(),
        weights=[pairs[r] for r in rows],
        device=policy.device,
    )


def _backward(loss: Any) -> None:
    loss.backward()


def _positive(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
