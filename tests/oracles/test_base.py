from __future__ import annotations

import numpy as np
import pytest

from ompo_envs.oracles import OracleError, PreferenceOracle
from tests.numerics import assert_elementwise_close

torch = pytest.importorskip("torch")

CTX = [{"role": "user", "content": "Say something."}]


class LengthOracle(PreferenceOracle):
    """ℓ(first, second) = (len(first) − len(second)) / 10: a known closed form."""

    def _ordered_logits(self, contexts, first, second):
        return np.array([(len(f) - len(s)) / 10 for f, s in zip(first, second, strict=True)])


class OutOfMemoryOracle(LengthOracle):
    """Raises CUDA OOM whenever a batch holds more than ``limit`` pairs."""

    def __init__(self, limit, **kwargs):
        super().__init__(**kwargs)
        self.limit = limit
        self.seen_sizes = []

    def _preference_batch(self, contexts, answers_a, answers_b):
        self.seen_sizes.append(len(contexts))
        if len(contexts) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (fake)")
        return super()._preference_batch(contexts, answers_a, answers_b)


ANSWERS_A = [f"answer {'x' * i}" for i in range(11)]
ANSWERS_B = [f"reply {'y' * (10 - i)}" for i in range(11)]


def test_ordered_logits_combination_known_value():
    p = LengthOracle().compare_one(CTX, "aaaa", "a")
    # σ(ℓ(a,b) − ℓ(b,a)) = σ(0.3 + 0.3)
    assert p == pytest.approx(1 / (1 + np.exp(-0.6)))


def test_oom_backoff_halves_and_matches_unconstrained():
    reference = LengthOracle(batch_size=16).compare([CTX] * 11, ANSWERS_A, ANSWERS_B)
    oracle = OutOfMemoryOracle(limit=3, batch_size=16)
    result = oracle.compare([CTX] * 11, ANSWERS_A, ANSWERS_B)
    assert_elementwise_close(result, reference)  # batches of other sizes: a few ulps
    assert oracle.batch_size == 2  # 16 → 8 → 4 → 2, then it fits and is kept
    assert oracle.seen_sizes[:4] == [11, 8, 4, 2]
    assert max(oracle.seen_sizes[3:]) <= 2


def test_oom_at_batch_size_one_is_raised():
    oracle = OutOfMemoryOracle(limit=0, batch_size=4)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        oracle.compare_one(CTX, "a", "bb")
    assert oracle.batch_size == 1


def test_other_errors_are_not_retried():
    class Broken(PreferenceOracle):
        def _ordered_logits(self, contexts, first, second):
            raise RuntimeError("boom")

    oracle = Broken(batch_size=8)
    with pytest.raises(RuntimeError, match="boom"):
        oracle.compare_one(CTX, "a", "b")
    assert oracle.batch_size == 8


def test_non_finite_and_out_of_range_raise():
    class Nan(PreferenceOracle):
        def _ordered_logits(self, contexts, first, second):
            return np.full(len(first), np.nan)

    class TooBig(PreferenceOracle):
        def _preference_batch(self, contexts, a, b):
            return np.full(len(a), 1.5)

    with pytest.raises(OracleError, match="non-finite"):
        Nan().compare_one(CTX, "a", "b")
    with pytest.raises(OracleError, match=r"\[0, 1\]"):
        TooBig().compare_one(CTX, "a", "b")


def test_bad_settings():
    with pytest.raises(ValueError, match="batch_size"):
        LengthOracle(batch_size=0)
    with pytest.raises(ValueError, match="cache_size"):
        LengthOracle(cache_size=-1)
