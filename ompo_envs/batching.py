"""Batched model calls that survive CUDA out-of-memory: halve the batch and retry.

One helper for every batched model call in the package — preference oracles, LM generation and
log-prob scoring — so the back-off behaves the same everywhere::

    outputs = run_batched(lambda start, stop: model_call(items[start:stop]), len(items), 16)

On ``torch.cuda.OutOfMemoryError`` the batch size is halved (down to 1), the CUDA cache emptied
and the same items retried; any other error, or out-of-memory at batch size 1, is raised. The
caller learns the smaller size through ``on_shrink`` and keeps it for later calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["empty_cuda_cache", "is_out_of_memory", "run_batched"]

T = TypeVar("T")


def is_out_of_memory(error: BaseException) -> bool:
    """Return True if ``error`` is a CUDA out-of-memory error (False when torch is absent)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is optional
        return False
    return isinstance(error, torch.cuda.OutOfMemoryError)


def empty_cuda_cache() -> None:
    """Release cached CUDA memory, if torch and a GPU are present."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_batched(
    call: Callable[[int, int], T],
    num_items: int,
    batch_size: int,
    *,
    on_shrink: Callable[[int], Any] | None = None,
    on_batch: Callable[[int, int, T], Any] | None = None,
) -> list[T]:
    """Call ``call(start, stop)`` over ``[0, num_items)`` in batches; halve on CUDA OOM.

    Args:
        call: Processes items ``start..stop-1`` and returns their result (one object per batch).
        num_items: Number of items.
        batch_size: Items per call to start with (an integer >= 1).
        on_shrink: Called with the new batch size each time it is halved.
        on_batch: Called with ``(start, stop, result)`` after each successful batch (e.g. to
            persist results as they arrive).

    Returns:
        The results of the successful calls, in item order (one entry per batch).

    Raises:
        ValueError: ``batch_size`` is not an integer >= 1.
        Exception: Whatever ``call`` raised, unless it was CUDA out-of-memory at a batch size > 1.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    results: list[T] = []
    start = 0
    while start < num_items:
        stop = min(start + batch_size, num_items)
        try:
            result = call(start, stop)
        except Exception as error:
            if not is_out_of_memory(error) or batch_size == 1:
                raise
            batch_size = max(1, batch_size // 2)
            empty_cuda_cache()
            if on_shrink is not None:
                on_shrink(batch_size)
            continue
        if on_batch is not None:
            on_batch(start, stop, result)
        results.append(result)
        start = stop
    return results
