"""Cheap, deterministic oracles for the text-env tests (no model, no download)."""

from __future__ import annotations

import numpy as np
import pytest

from ompo_envs.oracles.base import PreferenceOracle


class LengthOracle(PreferenceOracle):
    """P(a ≻ b) = σ((len(a) − len(b)) / 50): longer answers win; records every call."""

    def __init__(self) -> None:
        super().__init__(batch_size=4096)
        self.calls: list[tuple[list, list[str], list[str]]] = []

    def compare(self, contexts, answers_a, answers_b):  # type: ignore[override]
        self.calls.append((list(contexts), list(answers_a), list(answers_b)))
        return super().compare(contexts, answers_a, answers_b)

    def _ordered_logits(self, contexts, first, second):
        return np.array([(len(a) - len(b)) / 50.0 for a, b in zip(first, second, strict=True)])


class ConversationOracle(LengthOracle):
    """Like LengthOracle, but compares whole conversations (as PairRM does)."""

    def __init__(self) -> None:
        super().__init__()
        self.conversation_calls: list[tuple[list, list]] = []

    def compare_conversations(self, conversations_a, conversations_b):
        self.conversation_calls.append((list(conversations_a), list(conversations_b)))
        lengths_a = [sum(len(m["content"]) for m in c) for c in conversations_a]
        lengths_b = [sum(len(m["content"]) for m in c) for c in conversations_b]
        return 1.0 / (1.0 + np.exp(-(np.array(lengths_a) - np.array(lengths_b)) / 50.0))


@pytest.fixture
def oracle() -> LengthOracle:
    return LengthOracle()
