"""The train stage: the library's training loop under accelerate, checkpointed every few steps.

The loop is :func:`ompo_envs.lm.training.run_steps` (one loop for the LM solvers and
``ompo-train``); this module adds what an application run needs around it.

**Batches.** The global batch of an optimiser step holds ``B = batch_size × accumulation ×
processes`` rows (a method's records, or the warm start's pairs), in an order drawn from
``(seed, iteration, epoch)`` only, cut by :func:`ompo_envs.lm.training.plan_steps`: process r
takes micro-batches r, r + N, r + 2N, ... of ``batch_size`` rows. A short last batch runs only
the micro-batches it has (a process with none of its rows runs one pass of weight 0, to join
DDP's all-reduce). Each micro-batch back-propagates ``Σ_e w_e ℓ_e · N · accumulation / W_B``
with ``W_B = Σ_{e∈B} w_e`` (``accelerator.backward`` divides by the accumulation), so after DDP
averages the gradients over the N processes every step applies ∇ (1/W_B) Σ_{e∈B} w_e ℓ_e — the
library's weighted mean (a row of weight w counts as w identical rows), and the same step for 1
process with accumulation 2g as for 2 processes with accumulation g (up to float summation
order). Every micro-batch but a process's last of the step runs under ``accelerator.no_sync``
with ``accelerator.sync_gradients`` off, so DDP syncs, and DeepSpeed steps, once per optimiser
step. A non-finite loss raises :class:`~ompo_envs.lm.training.NonFiniteLossError` before its
backward pass (the last checkpoint stays the resume point).

**Checkpoints.** Every ``checkpoint_every`` steps and at the end, ``accelerator.save_state``
writes weights (safetensors), optimiser, learning-rate schedule and the python / numpy / torch
RNG states of every process to ``train_state/step-NNNNNN``; then ``train_state/latest`` is
rewritten atomically to point at it and older checkpoints are deleted. A resumed stage loads the
latest checkpoint and skips the steps it had done, so it ends with the same weights.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ompo_envs.lm.training import (
    OptimizerConfig,
    StepResult,
    TrainingProcess,
    check_weights,
    make_optimizer,
    plan_steps,
    run_steps,
)
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


def _epoch_orders(num_examples: int, epochs: int, seed: int, iteration: int) -> list[Any]:
    """Each epoch's order of the rows, drawn from ``(seed, iteration, epoch)`` only."""
    return [
        derived_rng(seed, "data-order", iteration, epoch).permutation(num_examples)
        for epoch in range(epochs)
    ]


class AccelerateProcess(TrainingProcess):
    """One of ``accelerator.num_processes`` processes of the library's loop (module docstring)."""

    def __init__(self, accelerator: Any, model: Any, accumulation: int) -> None:
        self.accelerator = accelerator
        self.model = model
        self.accumulation = accumulation
        self.processes = accelerator.num_processes

    def backward(self, weighted_sum: Any, step_weight: float) -> None:
        """``accelerator.backward`` of Σ w ℓ · N · accumulation / W_B.

        accelerate divides by the accumulation; DDP averages over the N processes.
        """
        self.accelerator.backward(weighted_sum * (self.processes * self.accumulation / step_weight))

    @contextlib.contextmanager
    def micro_batch(self, last: bool) -> Iterator[None]:
        """Sync gradients (DDP) and step (DeepSpeed) only on the step's last micro-batch."""
        self.accelerator.sync_gradients = last
        with contextlib.nullcontext() if last else self.accelerator.no_sync(self.model):
            yield

    def clip_grad_norm(self, parameters: Sequence[Any], max_norm: float) -> float:
        """``accelerator.clip_grad_norm_`` over the model's own parameters (FSDP needs its list).

        Frozen parameters (LoRA's base) have no gradient and do not count. NaN where the backend
        does not report the norm (DeepSpeed clips inside its engine).
        """
        norm = self.accelerator.clip_grad_norm_(self.model.parameters(), max_norm)
        return float("nan") if norm is None else float(norm)

    def sum_over_processes(self, value: float) -> float:
        """The sum over the processes, in float64."""
        import torch

        total = torch.tensor([value], dtype=torch.float64, device=self.accelerator.device)
        return float(self.accelerator.reduce(total, "sum").item())


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

    w = check_weights(weights, len(examples))
    accumulation = settings.gradient_accumulation_steps
    steps = plan_steps(
        _epoch_orders(len(examples), settings.epochs, seed, iteration),
        w,
        batch_size=settings.batch_size,
        accumulation=accumulation,
        processes=accelerator.num_processes,
        rank=accelerator.process_index,
    )
    total = len(steps)
    optimizer = make_optimizer(model.parameters(), _optimizer_config(settings))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, make_schedule(settings.lr_schedule, 1.0, settings.warmup_steps, total)
    )
    # The schedule steps once per optimiser step whatever the process count, so it is not
    # prepared (accelerate would step it once per process); it is checkpointed beside the state.
    # accelerator.backward divides by the accumulation (DeepSpeed's engine by its own, the same).
    accelerator.gradient_accumulation_steps = accumulation
    model, optimizer = accelerator.prepare(model, optimizer)

    done, history = _load_latest(accelerator, state_dir, schedule)
    if progress is not None:
        progress.reset(total=total)
        progress.update(done)

    def after_step(result: StepResult) -> None:
        metrics = {
            "iteration": float(iteration),
            "step": float(result.index + 1),
            "loss": result.loss,
            "learning_rate": result.learning_rate,
            "grad_norm": result.grad_norm,
            "examples": float(result.rows),
        }
        history.append(metrics)
        if on_step is not None and accelerator.is_main_process:
            on_step(metrics)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{metrics['loss']:.4f}")
        step = result.index + 1
        if step % checkpoint_every == 0 or step == total:
            _save_checkpoint(accelerator, state_dir, step, history, schedule)
            fault_point(f"{stage}#step{step}")

    model.train()
    run_steps(
        steps,
        examples,
        lambda batch: loss_terms(model, batch),
        optimizer,
        schedule,
        weights=w,
        parameters=model.parameters(),
        max_grad_norm=settings.max_grad_norm or None,
        process=AccelerateProcess(accelerator, model, accumulation),
        start=done,
        on_step=after_step,
    )
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


def _optimizer_config(settings: Any) -> OptimizerConfig:
    """The library's optimiser settings of a ``[train]`` section (its SGD has no decay)."""
    adamw = settings.optimizer == "adamw"
    return OptimizerConfig(
        learning_rate=settings.learning_rate,
        optimizer=settings.optimizer,
        weight_decay=settings.weight_decay if adamw else 0.0,
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
