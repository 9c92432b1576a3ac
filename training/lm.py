"""The language-model calls of a run, through issue 9's :class:`~ompo_envs.lm.LMPolicy`.

The policy owns the chat template, the prompt and answer token ids (answer + end-of-answer
token), generation (its backend) and masked sequence log-probabilities; this module adds what a
run needs around it: one seed per call (derived from the call's position, so a resumed chunk
draws the same answers), the shared CUDA out-of-memory back-off
(:func:`ompo_envs.batching.run_batched`) around generation and scoring, and log-probabilities
computed through a *prepared* model (DDP / FSDP / DeepSpeed wrap the policy's module, and the
forward pass must go through the wrapper for gradients to be synchronised).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.batching import run_batched

__all__ = ["Batcher", "answer_logprobs", "load_policy", "sample_answers", "score_answers"]


@dataclass
class Batcher:
    """A batch size that shrinks on CUDA out-of-memory and stays shrunk (one per call site)."""

    size: int

    def run(self, call: Any, num_items: int) -> list[Any]:
        """:func:`~ompo_envs.batching.run_batched` with this batch size, remembering shrinks."""

        def shrink(size: int) -> None:
            self.size = size

        return run_batched(call, num_items, self.size, on_shrink=shrink)


def load_policy(
    path: str, *, dtype: str, device: str, generation: Any, scoring_batch_size: int
) -> Any:
    """Load an :class:`~ompo_envs.lm.LMPolicy` with the run's sampling settings.

    Args:
        path: Local folder or hub name.
        dtype: ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``"float64"``.
        device: Torch device.
        generation: The ``[generation]`` section (temperature, top_p, max_new_tokens).
        scoring_batch_size: Rows per forward pass when scoring.
    """
    import torch

    from ompo_envs.lm import LMPolicy, SamplingParams

    return LMPolicy.from_pretrained(
        path,
        device=device,
        dtype=torch.float64 if dtype == "float64" else dtype,
        sampling=SamplingParams(
            temperature=generation.temperature,
            top_p=generation.top_p,
            max_new_tokens=generation.max_new_tokens,
        ),
        generation_batch_size=generation.batch_size,
        scoring_batch_size=scoring_batch_size,
    )


def sample_answers(
    policy: Any,
    conversations: Sequence[Any],
    num_samples: int,
    rng: np.random.Generator,
    batcher: Batcher,
) -> tuple[list[list[str]], int]:
    """``num_samples`` answers per conversation, and the number of tokens generated."""
    tokens = 0

    def call(start: int, stop: int) -> list[list[str]]:
        nonlocal tokens
        completions = policy.generate(conversations[start:stop], num_samples, rng)
        tokens += sum(c.num_tokens for group in completions for c in group)
        return [[c.text for c in group] for group in completions]

    parts = batcher.run(call, len(conversations))
    return [group for part in parts for group in part], tokens


def answer_logprobs(
    model: Any, policy: Any, conversations: Sequence[Any], answers: Sequence[str]
) -> Any:
    """The log-probability log π(answer | conversation) per pair, through ``model``.

    ``model`` is the policy's module, possibly wrapped by accelerate
    (:meth:`~ompo_envs.lm.LMPolicy.log_probs` with ``model=``). Returns a float32 tensor, with
    grad when grad mode is on.
    """
    return policy.log_probs(conversations, answers, model=model)


def score_answers(
    policy: Any, conversations: Sequence[Any], answers: Sequence[str], batcher: Batcher
) -> tuple[np.ndarray, int]:
    """Log π(answer | conversation) without gradients, float64, and the answer tokens scored."""
    tokens = sum(len(policy.format.answer_ids(a)) for a in answers)

    def call(start: int, stop: int) -> np.ndarray:
        return policy.score(conversations[start:stop], answers[start:stop])

    parts = batcher.run(call, len(conversations))
    return (np.concatenate(parts) if parts else np.empty(0)), tokens
