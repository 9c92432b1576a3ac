"""The train stage: optimiser steps over an iteration's examples, checkpointed every few steps.

**Batches.** The global batch of an optimiser step holds ``B = batch_size × accumulation ×
processes`` rows (a method's records, or the warm start's pairs), in an order drawn from
``(seed, iteration, epoch)`` only. It is cut into micro-batches of ``batch_size``; process r
takes micro-batches r, r + N, r + 2N, ... Each micro-batch contributes
``Σ_e w_e ℓ_e · N · accumulation / W_B`` with ``W_B = Σ_{e∈B} w_e`` (``accelerator.backward``
divides by the accumulation), so after DDP averages the gradients over the N processes every
step applies ∇ (1/W_B) Σ_{e∈B} w_e ℓ_e — the weighted mean of :func:`ompo_envs.lm.training.
optimize` (a row of weight w counts as w identical rows), and the same step for 1 process with
accumulation 2g as for 2 processes with accumulation g (up to float summation order). The
micro-batches run inside ``accelerator.accumulate``, so DDP syncs, and DeepSpeed steps, once per
optimiser step. A non-finite loss raises :class:`~ompo_envs.lm.training.NonFiniteLossError`
before its backward pass (the last checkpoint stays the resume point).

**Checkpoints.** Every ``checkpoint_every`` steps and at the end, ``accelerator.save_state``
writes weights (safetensors), optimiser, learning-rate schedule and the python / numpy / torch
RNG states of every process to ``train_state/step-NNNNNN``; then ``train_state/latest`` is
rewritten atomically to point at it and older checkpoints are deleted. A resumed stage loads the
latest checkpoint and skips the steps it had done, so it ends with the same weights.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.faults import fault_point
from training.seeding import derived_rng
from training.storage import atomic_write_text, read_jsonl, write_jsonl

__all__ = ["TrainResult", "make_schedule", "train_rows"]

#: ``(model, micro_batch) -> ℓ_e``: the loss of each row (a 1-D tensor), through ``model``.
LossFunction = Callable[[Any, Sequence[Any]], Any]


@dataclass(frozen=True)
class TrainResult:
    """What a finished train stage reports."""

    steps: int
    examples: int
    loss_mean: float
    step_metrics: list[dict[str, float]]


def make_schedule(kind: str, peak: float, warmup: int, total: int) -> Callable[[int], float]:
    """Return step -> learning-rate multiplier: linear warm-up, then constant/linear/cosine."""

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "constant" or total <= warmup:
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if kind == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _global_batches(
    num_examples: int, batch: int, epochs: int, seed: int, iteration: int
) -> list[list[int]]:
    order: list[list[int]] = []
    for epoch in range(epochs):
        perm = derived_rng(seed, "data-order", iteration, epoch).permutation(num_examples)
        order.extend(perm[i : i + batch].tolist() for i in range(0, num_examples, batch))
    return order


def train_rows(
    accelerator: Any,
    model: Any,
    examples: Sequence[Any],
    loss_terms: LossFunction,
    *,
    weights: Sequence[float],
    settings: Any,
    seed: int,
    iteration: int,
    state_dir: Path,
    checkpoint_every: int,
    stage: str,
    on_step: Callable[[dict[str, float]], None] | None = None,
    progress: Any = None,
) -> tuple[Any, TrainResult]:
    """Run (or resume) the optimiser over ``examples``; return the prepared model and a report.

    Args:
        accelerator: The run's ``accelerate.Accelerator``.
        model: The policy (not yet prepared).
        examples: This iteration's rows, identical on every process.
        loss_terms: ``(model, micro_batch) -> tensor of ℓ_e``.
        weights: w_e per row (a record's ``weight``: how many samples it stands for).
        settings: The ``[train]`` section.
        seed: The run seed.
        iteration: The iteration (for the data order).
        state_dir: Where checkpoints go (``iteration_t/train_state``).
        checkpoint_every: Steps between checkpoints.
        stage: The stage name, for fault points.
        on_step: Called with each new step's metrics on the main process.
        progress: A tqdm bar to advance per step (or None).
    """
    import torch

    from ompo_envs.lm.training import NonFiniteLossError

    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(examples),) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be {len(examples)} finite non-negative numbers")
    n_proc = accelerator.num_processes
    rank = accelerator.process_index
    micro = settings.batch_size
    accumulation = settings.gradient_accumulation_steps
    global_batch = micro * accumulation * n_proc
    batches = _global_batches(len(examples), global_batch, settings.epochs, seed, iteration)
    total = len(batches)

    params = [p for p in model.parameters() if p.requires_grad]
    if settings.optimizer == "adamw":
        optimizer = torch.optim.AdamW(
            params, lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
    else:
        optimizer = torch.optim.SGD(params, lr=settings.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, make_schedule(settings.lr_schedule, 1.0, settings.warmup_steps, total)
    )
    # The schedule steps once per optimiser step whatever the process count, so it is not
    # prepared (accelerate would step it once per process); it is checkpointed beside the state.
    accelerator.gradient_accumulation_steps = accumulation
    model, optimizer = accelerator.prepare(model, optimizer)

    done, history = _load_latest(accelerator, state_dir, schedule)
    if progress is not None:
        progress.reset(total=total)
        progress.update(done)
    model.train()
    for step in range(done, total):
        indices = batches[step]
        chunks = [indices[i : i + micro] for i in range(0, len(indices), micro)]
        # Every process runs exactly `accumulation` micro-batches per step (weight-0 padding on a
        # short last batch), so accelerate syncs gradients (DDP) or steps DeepSpeed on the last.
        mine = chunks[rank::n_proc]
        mine = mine + [[]] * (accumulation - len(mine))
        # accelerator.backward divides by `accumulation` (DeepSpeed's engine does the same).
        batch_weight = float(w[indices].sum())
        scale = n_proc * accumulation / batch_weight if batch_weight > 0 else 0.0
        loss_sum = torch.zeros((), dtype=torch.float64)
        grad_norm = float("nan")
        for chunk in mine:
            batch = [examples[i] for i in chunk] or [examples[indices[0]]]
            row_w = w[chunk] if chunk else np.zeros(1)
            with accelerator.accumulate(model):
                terms = loss_terms(model, batch)
                weighted = (terms * torch.as_tensor(row_w, dtype=terms.dtype)).sum()
                if not torch.isfinite(weighted):
                    raise NonFiniteLossError(
                        f"the training loss is {weighted.item()} at optimiser step {step + 1}: "
                        "the model's log-probabilities or the targets are not finite (lower "
                        "train.learning_rate or use a wider model.dtype); the step was not taken"
                    )
                accelerator.backward(weighted * scale)
                loss_sum += float(weighted.detach())
                if accelerator.sync_gradients and settings.max_grad_norm > 0:
                    norm = accelerator.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
                    grad_norm = float("nan") if norm is None else float(norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        schedule.step()
        total_loss = accelerator.reduce(loss_sum.reshape(1).to(accelerator.device), "sum")
        metrics = {
            "iteration": float(iteration),
            "step": float(step + 1),
            "loss": float(total_loss.item()) / batch_weight if batch_weight > 0 else 0.0,
            "learning_rate": float(schedule.get_last_lr()[0]),
            "grad_norm": grad_norm,
            "examples": float(len(indices)),
        }
        history.append(metrics)
        if on_step is not None and accelerator.is_main_process:
            on_step(metrics)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{metrics['loss']:.4f}")
        if (step + 1) % checkpoint_every == 0 or step + 1 == total:
            _save_checkpoint(accelerator, state_dir, step + 1, history, schedule)
            fault_point(f"{stage}#step{step + 1}")
    if total == 0:
        _save_checkpoint(accelerator, state_dir, 0, history, schedule)
    model.eval()
    losses = [m["loss"] for m in history]
    return model, TrainResult(
        steps=total,
        examples=len(examples),
        loss_mean=float(np.mean(losses)) if losses else float("nan"),
        step_metrics=history,
    )


def _load_latest(
    accelerator: Any, state_dir: Path, schedule: Any
) -> tuple[int, list[dict[str, float]]]:
    pointer = state_dir / "latest"
    if not pointer.exists():
        return 0, []
    name = pointer.read_text(encoding="utf-8").strip()
    folder = state_dir / name
    accelerator.load_state(str(folder))
    state = json.loads((folder / "schedule.json").read_text(encoding="utf-8"))
    schedule.load_state_dict({**state, "lr_lambdas": [None] * len(state["base_lrs"])})
    return int(name.split("-")[1]), read_jsonl(folder / "steps.jsonl")


def _save_checkpoint(
    accelerator: Any, state_dir: Path, step: int, history: list[dict[str, float]], schedule: Any
) -> None:
    name = f"step-{step:06d}"
    target = state_dir / name
    accelerator.wait_for_everyone()
    accelerator.save_state(str(target), safe_serialization=True)
    if accelerator.is_main_process:
        write_jsonl(target / "steps.jsonl", history)
        state = {k: v for k, v in schedule.state_dict().items() if k != "lr_lambdas"}
        atomic_write_text(target / "schedule.json", json.dumps(state))
        atomic_write_text(state_dir / "latest", name + "\n")
        for old in state_dir.glob("step-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
