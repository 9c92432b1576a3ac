"""A generation or scoring chunk that runs out of CUDA memory is redone with smaller batches."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


class _Backend:
    batch_size = 8


class _Policy:
    scoring_batch_size = 4

    def __init__(self):
        self.backend = _Backend()


def test_out_of_memory_halves_the_batch_sizes_and_redoes_the_chunk():
    from training.lm import retry_smaller

    policy, calls = _Policy(), []

    def chunk():
        calls.append((policy.backend.batch_size, policy.scoring_batch_size))
        if len(calls) < 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return "done"

    assert retry_smaller(policy, chunk) == "done"
    assert calls == [(8, 4), (4, 2), (2, 1)]


def test_other_errors_and_out_of_memory_at_batch_size_one_are_raised():
    from training.lm import retry_smaller

    policy = _Policy()
    with pytest.raises(ValueError, match="not memory"):
        retry_smaller(policy, lambda: (_ for _ in ()).throw(ValueError("not memory")))
    assert (policy.backend.batch_size, policy.scoring_batch_size) == (8, 4)
    policy.backend.batch_size = policy.scoring_batch_size = 1
    with pytest.raises(torch.cuda.OutOfMemoryError):
        retry_smaller(policy, lambda: (_ for _ in ()).throw(torch.cuda.OutOfMemoryError("x")))
