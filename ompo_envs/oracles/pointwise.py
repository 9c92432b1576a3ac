"""Oracles that read each answer alone: one model row per distinct (context, answer) per call.

A reward model maps a state (conversation + answer) to a scalar r(x, y); a preference-embedding
model maps it to a vector v(x, y). Either way P(a ≻ b | x) is a function of the two answers'
outputs, so in one :meth:`~ompo_envs.oracles.PreferenceOracle.compare` call every distinct
(context, answer) is run through the model once — in padded batches of ``batch_size`` rows,
halved on CUDA out-of-memory — and the pairs are formed afterwards: n answers compared in all
n(n − 1) orders cost n rows, not 2 n(n − 1).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ompo_envs.batching import run_batched
from ompo_envs.oracles.base import OracleError, PreferenceOracle, validate_conversation


class PointwiseOracle(PreferenceOracle):
    """Base of the oracles whose P(a ≻ b | x) is a function of per-answer model outputs.

    Subclasses implement :meth:`_answer_outputs` (one output row per (context, answer), e.g. a
    reward or an embedding) and :meth:`_pair_preferences` (P from the rows of a and b). The
    base validates, caches, deduplicates and batches; ``batch_size`` counts model rows
    (sequences per forward pass), not pairs. An attached answer store
    (:meth:`~ompo_envs.oracles.PreferenceOracle.attach_store`) receives a call's answers once
    all its rows are scored.
    """

    # ------------------------------------------------------------------ to implement

    def _answer_outputs(
        self, contexts: list[list[dict[str, str]]], answers: list[str]
    ) -> np.ndarray:
        """Return one float row per (context, answer), shape (m,) or (m, d)."""
        raise NotImplementedError

    def _pair_preferences(
        self, contexts: list[list[dict[str, str]]], outputs_a: np.ndarray, outputs_b: np.ndarray
    ) -> np.ndarray:
        """Return P(a ≻ b | x) per pair from the two answers' output rows."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared machinery
    def _preference_batch(
        self, contexts: list[list[dict[str, str]]], answers_a: list[str], answers_b: list[str]
    ) -> np.ndarray:
        n = len(contexts)
        outputs = self._outputs_per_item(contexts + contexts, answers_a + answers_b)
        return self._pair_preferences(contexts, outputs[:n], outputs[n:])

    def _outputs_per_item(
        self, contexts: list[list[dict[str, str]]], answers: list[str]
    ) -> np.ndarray:
        """Return the output row of every (context, answer), running each distinct one once."""
        if not contexts:
            return np.empty(0)
        keys = [_item_key(c, y) for c, y in zip(contexts, answers, strict=True)]
        first: dict[str, int] = {}
        for position, key in enumerate(keys):
            first.setdefault(key, position)
        outputs = np.asarray(
            self._answer_outputs(
                [contexts[i] for i in first.values()], [answers[i] for i in first.values()]
            ),
            dtype=np.float64,
        )
        if outputs.shape[0] != len(first):
            raise OracleError(f"the model returned {outputs.shape[0]} rows for {len(first)} inputs")
        row = {key: i for i, key in enumerate(first)}
        return outputs[[row[key] for key in keys]]

    def _outputs_of(self, contexts: Any, answers: Any) -> np.ndarray:
        """Validate ``(contexts, answers)`` as a batch of states and return their output rows."""
        for name, seq in (("contexts", contexts), ("answers", answers)):
            if isinstance(seq, str) or not isinstance(seq, Sequence):
                raise TypeError(f"{name} must be a list, got {type(seq).__name__}")
        if len(contexts) != len(answers):
            raise ValueError(
                f"contexts and answers must have the same length, got {len(contexts)} and "
                f"{len(answers)}"
            )
        convs = [validate_conversation(c, where=f"contexts[{i}]") for i, c in enumerate(contexts)]
        for i, answer in enumerate(answers):
            if not isinstance(answer, str):
                raise TypeError(f"answers[{i}] must be a string, got {type(answer).__name__}")
        return self._outputs_per_item(convs, list(answers))

    def _run_batches(
        self,
        contexts: list[Any],
        answers_a: list[Any],
        answers_b: list[Any],
        *,
        batch: Callable[[list[Any], list[Any], list[Any]], np.ndarray] | None = None,
        on_batch: Callable[[int, int, np.ndarray], Any] | None = None,
    ) -> np.ndarray:
        """Score every pair of the call at once: the rows are batched, not the pairs."""
        if batch is not None:
            return super()._run_batches(
                contexts, answers_a, answers_b, batch=batch, on_batch=on_batch
            )
        values = self._check(self._preference_batch(contexts, answers_a, answers_b), len(contexts))
        if on_batch is not None:
            on_batch(0, len(contexts), values)
        return values

    def _forward_rows(
        self, sequences: list[list[int]], forward: Callable[[list[list[int]]], Any]
    ) -> np.ndarray:
        """Run ``forward`` over token sequences in batches of ``batch_size`` rows, longest first.

        Sorting by length keeps the padding small; on CUDA out-of-memory the batch is halved
        and retried (the smaller size is kept). Returns float64 rows in the input order.

        Raises:
            OracleError: The model returned a non-finite value (the message names the row).
        """
        order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
        ordered = [sequences[i] for i in order]

        def call(start: int, stop: int) -> np.ndarray:
            return np.asarray(forward(ordered[start:stop]), dtype=np.float64)

        def shrink(size: int) -> None:
            self.batch_size = size

        parts = run_batched(call, len(ordered), self.batch_size, on_shrink=shrink)
        stacked = np.concatenate(parts)
        outputs = np.empty_like(stacked)
        outputs[order] = stacked
        bad = ~np.isfinite(outputs.reshape(len(sequences), -1)).all(axis=1)
        if bad.any():
            raise OracleError(
                f"{type(self).__name__}: the model returned NaN or inf for {int(bad.sum())} of "
                f"{len(sequences)} inputs (the first is input {int(np.argmax(bad))}). In "
                "float16 this is often an overflow: load the model in bfloat16 or float32"
            )
        return outputs


def _item_key(context: list[dict[str, str]], answer: str) -> str:
    return json.dumps([context, answer], ensure_ascii=False)
