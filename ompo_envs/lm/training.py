"""The optimiser loop: one loop for the LM solvers, supervised warm starts and ``ompo-train``.

**Steps.** Training is a list of optimiser steps (:func:`plan_steps`): each epoch's order of the
rows is cut into *global batches* of ``batch_size × accumulation × processes`` rows, a global
batch into micro-batches of ``batch_size`` rows, and process r runs micro-batches r, r + N,
r + 2N, ... of it (one process: all of them). A short last batch runs only the micro-batches it
has — no passes of weight 0 (a process left with none of the rows of a step, possible only with
several processes, runs one pass of weight 0 so that it joins the gradient all-reduce).

**The weighted mean.** Each step's gradient is that of the **weighted mean** loss over the rows
of its global batch B,

    ∇ (1/W_B) Σ_{e∈B} w_e ℓ_e,    W_B = Σ_{e∈B} w_e,

so a row of weight w counts exactly like w identical rows of weight 1, and a short last batch is
not under-weighted. :func:`run_steps` computes each micro-batch's weighted sum Σ w_e ℓ_e and
hands it with W_B to the :class:`TrainingProcess`, which turns it into that micro-batch's share
of the mean: the base class (one process, plain PyTorch) back-propagates Σ w_e ℓ_e / W_B;
``ompo-train``'s accelerate process (``training/optimise.py``) scales for the process count and
lets DDP / FSDP / DeepSpeed average and sync on the step's last micro-batch.

A non-finite loss raises :class:`NonFiniteLossError` *before* its backward pass and step, so the
weights hold the last finite update. A step whose rows all weigh 0 runs no pass and changes no
weight (the learning-rate schedule still advances: it is a function of the step index).
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
    "Step",
    "StepResult",
    "TrainingProcess",
    "autocast",
    "check_weights",
    "make_optimizer",
    "make_scheduler",
    "optimize",
    "plan_steps",
    "run_steps",
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


@dataclass(frozen=True)
class Step:
    """One optimiser step, as one process sees it (:func:`plan_steps`)."""

    micro_batches: tuple[tuple[int, ...], ...]
    """This process's micro-batches: row indices, each run as one forward/backward pass."""
    rows: int
    """Rows of the whole global batch (every process)."""
    weight: float
    """W_B, the summed weight of the global batch's rows (every process)."""
    placeholder: bool = False
    """The process holds none of the step's rows: its one micro-batch is a pass of weight 0,
    run only to take part in the gradient all-reduce of several processes."""


@dataclass(frozen=True)
class StepResult:
    """What :func:`run_steps` reports after each optimiser step."""

    index: int
    """0-based index of the step in the plan."""
    loss_sum: float
    """Σ_{e∈B} w_e ℓ_e over the global batch (summed over the processes)."""
    weight: float
    """W_B (the step's loss is ``loss_sum / weight``)."""
    rows: int
    """Rows of the global batch."""
    grad_norm: float
    """Global gradient norm before clipping (NaN where the process cannot tell)."""
    learning_rate: float
    """The learning rate after the scheduler's step (that of the next step)."""
    updated: bool
    """Whether the weights were updated (False for a step whose rows all weigh 0)."""

    @property
    def loss(self) -> float:
        """The step's weighted mean loss (0 for a step of weight 0)."""
        return self.loss_sum / self.weight if self.weight > 0 else 0.0


class TrainingProcess:
    """How one process back-propagates, syncs and clips: one process of plain PyTorch.

    Subclass it for distributed training (``training/optimise.py`` wraps ``accelerate``). The
    contract: after the step's micro-batches, the gradient is ∇ (1/W_B) Σ_{e∈B} w_e ℓ_e over the
    whole global batch B, on every process.
    """

    processes: int = 1
    """How many processes share each global batch."""

    def backward(self, weighted_sum: Any, step_weight: float) -> None:
        """Back-propagate one micro-batch's Σ w_e ℓ_e as its share of the step's weighted mean."""
        (weighted_sum / step_weight).backward()

    def micro_batch(self, last: bool) -> Any:
        """Context of one micro-batch's pass; ``last``: the step's last (gradients sync there)."""
        import contextlib

        return contextlib.nullcontext()

    def clip_grad_norm(self, parameters: Sequence[Any], max_norm: float) -> float:
        """Clip the global gradient norm to ``max_norm``; return the norm before clipping."""
        import torch

        return float(torch.nn.utils.clip_grad_norm_(parameters, max_norm))

    def sum_over_processes(self, value: float) -> float:
        """Return the sum of ``value`` over the processes."""
        return value


def plan_steps(
    orders: Sequence[Sequence[int]],
    weights: Sequence[float],
    *,
    batch_size: int,
    accumulation: int,
    processes: int = 1,
    rank: int = 0,
) -> list[Step]:
    """Cut each epoch's row order into optimiser steps (module docstring).

    Args:
        orders: One order of the row indices per epoch (a step never spans two epochs).
        weights: w_e per row.
        batch_size: Rows per micro-batch.
        accumulation: Micro-batches per step, per process.
        processes: N, the processes sharing a global batch.
        rank: This process's index, 0..N−1.
    """
    w = np.asarray(weights, dtype=np.float64)
    size = batch_size * accumulation * processes
    steps = []
    for order in orders:
        order = np.asarray(order, dtype=np.int64)
        for start in range(0, len(order), size):
            batch = order[start : start + size]
            chunks = [batch[i : i + batch_size] for i in range(0, len(batch), batch_size)]
            mine = tuple(tuple(int(i) for i in chunk) for chunk in chunks[rank::processes])
            placeholder = not mine
            steps.append(
                Step(
                    micro_batches=((int(batch[0]),),) if placeholder else mine,
                    rows=len(batch),
                    weight=float(w[batch].sum()),
                    placeholder=placeholder,
                )
            )
    return steps


def run_steps(
    steps: Sequence[Step],
    rows: Sequence[Any],
    loss_fn: Callable[[Sequence[Any]], Any],
    optimizer: Any,
    scheduler: Any,
    *,
    weights: Sequence[float],
    parameters: Iterable[Any],
    max_grad_norm: float | None,
    dtype: str = "float32",
    device: Any = "cpu",
    process: TrainingProcess | None = None,
    start: int = 0,
    on_step: Callable[[StepResult], None] | None = None,
) -> None:
    """Take the optimiser steps ``steps[start:]`` (the one training loop of the package).

    Args:
        steps: The plan (:func:`plan_steps`).
        rows: The training rows (any objects ``loss_fn`` understands).
        loss_fn: Maps a micro-batch of rows to a tensor of per-row losses ℓ_e, shape (len,).
        optimizer: A torch optimiser over ``parameters``.
        scheduler: Stepped after every step.
        weights: w_e per row.
        parameters: The trained parameters (clipping and the gradient norm).
        max_grad_norm: Clip the global gradient norm to this (``None``: no clipping).
        dtype: Autocast dtype of the forward passes (``"float32"``: none).
        device: Device of the forward passes (for autocast).
        process: How to back-propagate, sync and clip (default: one plain process).
        start: Steps already taken (a resumed run skips them).
        on_step: Called after each step with its :class:`StepResult` (e.g. to checkpoint).

    Raises:
        NonFiniteLossError: A micro-batch loss is NaN/inf (no backward, no step for it).
    """
    import torch

    process = TrainingProcess() if process is None else process
    parameters = [p for p in parameters if p.requires_grad]
    w = np.asarray(weights, dtype=np.float64)
    optimizer.zero_grad(set_to_none=True)
    for index in range(start, len(steps)):
        step = steps[index]
        loss_sum, grad_norm, updated = 0.0, float("nan"), step.weight > 0
        batches = step.micro_batches if updated else ()
        for position, batch in enumerate(batches):
            with process.micro_batch(last=position == len(batches) - 1):
                with autocast(device, dtype):
                    losses = loss_fn([rows[i] for i in batch])
                if losses.dtype in (torch.float16, torch.bfloat16):
                    losses = losses.float()
                row_w = np.zeros(len(batch)) if step.placeholder else w[list(batch)]
                batch_w = torch.as_tensor(row_w, dtype=losses.dtype, device=losses.device)
                weighted = (losses * batch_w).sum()
                if not torch.isfinite(weighted):
                    raise NonFiniteLossError(
                        f"the training loss is {weighted.item()} at optimiser step {index + 1}: "
                        "the model's log-probabilities or the targets are not finite (lower the "
                        "learning rate or use a wider dtype); this step was not taken"
                    )
                process.backward(weighted, step.weight)
                loss_sum += float(weighted.detach())
        if updated:
            grad_norm = process.clip_grad_norm(parameters, max_grad_norm or float("inf"))
        optimizer.step()  # with no gradient (a step of weight 0) it changes no parameter
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        if on_step is not None:
            on_step(
                StepResult(
                    index=index,
                    loss_sum=process.sum_over_processes(loss_sum),
                    weight=step.weight,
                    rows=step.rows,
                    grad_norm=grad_norm,
                    learning_rate=float(scheduler.get_last_lr()[0]),
                    updated=updated,
                )
            )


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
    process: TrainingProcess | None = None,
) -> dict[str, float]:
    """Train on ``rows`` for ``config.epochs`` epochs in one process; return the stage's metrics.

    The rows are shuffled per epoch (epoch e: ``np.random.default_rng(config.seed + e)``) and
    cut by :func:`plan_steps`; :func:`run_steps` takes the steps.

    Args:
        rows: The training rows (any objects ``loss_fn`` understands).
        loss_fn: Maps a micro-batch of rows to a tensor of per-row losses, shape (len(rows),).
        optimizer: A torch optimiser over ``parameters``.
        scheduler: Stepped after every optimiser step.
        config: Epochs, batch size, accumulation, clipping, autocast dtype, shuffle seed.
        parameters: The trained parameters (for clipping and the gradient norm).
        weights: Per-row weights (default 1): the loss is the weighted mean.
        device: Device of the forward passes (for autocast).
        process: How to back-propagate and clip (default: one plain process).

    Returns:
        ``loss`` (weighted mean over the epochs), ``grad_norm`` (mean pre-clip norm),
        ``optimizer_steps`` and ``learning_rate`` (after the last step).

    Raises:
        NonFiniteLossError: A micro-batch loss is NaN/inf (no backward, no step for it).
        ValueError: ``weights`` has the wrong length or a negative/non-finite entry.
    """
    w = check_weights(weights, len(rows))
    orders = [
        np.random.default_rng(config.seed + epoch).permutation(len(rows))
        for epoch in range(config.epochs)
    ]
    steps = plan_steps(
        orders,
        w,
        batch_size=config.batch_size,
        accumulation=config.gradient_accumulation_steps,
    )
    results: list[StepResult] = []
    run_steps(
        steps,
        rows,
        loss_fn,
        optimizer,
        scheduler,
        weights=w,
        parameters=parameters,
        max_grad_norm=config.max_grad_norm,
        dtype=config.dtype,
        device=device,
        process=process,
        on_step=results.append,
    )
    taken = [r for r in results if r.updated]
    total_weight = sum(r.weight for r in taken)
    return {
        "loss": sum(r.loss_sum for r in taken) / total_weight if total_weight else 0.0,
        "grad_norm": float(np.mean([r.grad_norm for r in taken])) if taken else 0.0,
        "optimizer_steps": float(len(taken)),
        "learning_rate": float(scheduler.get_last_lr()[0]),
    }


def check_weights(weights: Sequence[float] | None, num_rows: int) -> np.ndarray:
    """Return the row weights as float64 (default 1 each), checked.

    Raises:
        ValueError: Not ``num_rows`` finite, non-negative numbers.
    """
    w = np.ones(num_rows) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (num_rows,) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be {num_rows} finite non-negative numbers")
    return w


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


def _positive(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )
