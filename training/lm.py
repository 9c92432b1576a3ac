"""The policy of a run: loading it with the run's settings, and CUDA out-of-memory back-off.

Generation, scoring and the loss are the LM solver's (:mod:`solvers.lm`, through
:class:`~ompo_envs.lm.LMPolicy`). What a run adds is :func:`load_policy` (the config's dtype,
device and sampling settings) and :func:`retry_smaller`: a chunk of generation or scoring that
runs out of CUDA memory is redone from its start with the policy's batch sizes halved (the
chunk draws from its own generator, so the redo is a fresh, complete chunk) — the back-off
rule of :func:`ompo_envs.batching.run_batched`, at the granularity of a saved chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ompo_envs.batching import empty_cuda_cache, is_out_of_memory

__all__ = ["load_policy", "retry_smaller"]

T = TypeVar("T")


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


def retry_smaller(policy: Any, call: Callable[[], T]) -> T:
    """Return ``call()``; on CUDA out-of-memory halve the policy's batch sizes and call again.

    The generation backend's ``batch_size`` and the policy's ``scoring_batch_size`` are halved
    together (and stay halved for the rest of the stage); out-of-memory with both at 1, or any
    other error, is raised.
    """
    backend = getattr(policy, "backend", None)
    while True:
        try:
            return call()
        except Exception as error:
            generation = getattr(backend, "batch_size", 1)
            if not is_out_of_memory(error) or max(generation, policy.scoring_batch_size) == 1:
                raise
            empty_cuda_cache()
            if generation > 1:
                backend.batch_size = generation // 2
            policy.scoring_batch_size = max(1, policy.scoring_batch_size // 2)
