"""Conformance checks a newcomer calls, like PettingZoo's ``parallel_api_test``.

* :func:`oracle_api_test` — a preference oracle keeps the contract of
  :class:`~ompo_envs.oracles.PreferenceOracle`.
* ``solvers.testing.solver_api_test`` — a solver class keeps the solver protocol.

Each check raises :class:`ConformanceError` (an ``AssertionError``, so test runners show it as a
failed test) naming what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ompo_envs.oracles.base import Conversation

__all__ = ["ConformanceError", "oracle_api_test"]

_CONTEXTS: tuple[Conversation, ...] = (
    ({"role": "user", "content": "Let's play rock-paper-scissors. Your move?"},),
    (
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
    ),
)
_ANSWERS: tuple[str, ...] = ("rock", "Paper, I think.", "Rome, of course.", "I pick scissors.", "")


class ConformanceError(AssertionError):
    """An object does not keep the contract its conformance test checks."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConformanceError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConformanceError(message)


def _raises(kinds: tuple[type[BaseException], ...], call: Any) -> bool:
    try:
        call()
    except kinds:
        return True
    return False


def oracle_api_test(
    oracle: Any,
    contexts: Sequence[Conversation] = _CONTEXTS,
    answers: Sequence[str] = _ANSWERS,
    *,
    atol: float = 1e-6,
) -> None:
    """Check that ``oracle`` keeps the preference-oracle contract; raise if it does not.

    Checked on every pair of ``answers`` under every context: ``compare`` returns a float64 array
    of shape (n,) in [0, 1]; P(a ≻ a) = ½ exactly; P(a ≻ b) + P(b ≻ a) = 1; one batch equals the
    pairs asked one at a time (``compare_one``) and a repeated call (``atol``); an empty batch
    gives an empty array; mismatched lengths raise ``ValueError``, a malformed context or a
    non-string answer ``TypeError``, an empty context ``ValueError`` — errors, not anything else.

    Args:
        oracle: A :class:`~ompo_envs.oracles.PreferenceOracle` (or anything with its API).
        contexts: Conversations to compare answers in (default: a one-turn and a multi-turn one).
        answers: Answers to compare pairwise (default: five, the empty answer among them).
        atol: Tolerance of the consistency checks (neural models in float32).

    Raises:
        ConformanceError: The first broken part of the contract.
    """
    for method in ("compare", "compare_one"):
        require(callable(getattr(oracle, method, None)), f"an oracle needs a {method}() method")
    pairs = [(c, a, b) for c in contexts for a in answers for b in answers]
    ctx, first, second = (list(column) for column in zip(*pairs, strict=True))
    p = oracle.compare(ctx, first, second)
    require(
        isinstance(p, np.ndarray) and p.dtype == np.float64 and p.shape == (len(pairs),),
        f"compare must return a float64 array of shape ({len(pairs)},), got "
        f"{type(p).__name__} {getattr(p, 'dtype', '')} {getattr(p, 'shape', '')}",
    )
    require(bool(np.all((p >= 0.0) & (p <= 1.0))), f"preferences must lie in [0, 1], got {p}")
    index = {(id(c), a, b): i for i, (c, a, b) in enumerate(pairs)}
    for c, a, b in pairs:
        value, swapped = p[index[id(c), a, b]], p[index[id(c), b, a]]
        if a == b:
            require(value == 0.5, f"P(a ≻ a) must be exactly 1/2, got {value} for a = {a!r}")
        require(
            abs(value + swapped - 1.0) <= atol,
            f"P(a ≻ b) + P(b ≻ a) must be 1, got {value} + {swapped} for {a!r}, {b!r}",
        )
    again = oracle.compare(ctx, first, second)
    require(bool(np.allclose(again, p, atol=atol, rtol=0)), "a repeated compare changed values")
    for i in range(0, len(pairs), max(1, len(pairs) // 7)):
        one = oracle.compare_one(ctx[i], first[i], second[i])
        require(
            isinstance(one, float) and abs(one - p[i]) <= atol,
            f"compare_one must return the float compare gives in a batch: {one} vs {p[i]}",
        )
    empty = oracle.compare([], [], [])
    require(
        isinstance(empty, np.ndarray) and empty.shape == (0,), "an empty batch gives shape (0,)"
    )
    c0, a0 = contexts[0], answers[0]
    bad_inputs: list[tuple[tuple[type[BaseException], ...], Any, str]] = [
        ((ValueError,), lambda: oracle.compare([c0, c0], [a0], [a0]), "mismatched lengths"),
        ((ValueError,), lambda: oracle.compare([[]], [a0], [a0]), "an empty context"),
        ((TypeError,), lambda: oracle.compare(["hello"], [a0], [a0]), "a string context"),
        ((TypeError,), lambda: oracle.compare([[{"content": "x"}]], [a0], [a0]), "no role"),
        ((TypeError,), lambda: oracle.compare([c0], [3], [a0]), "a non-string answer"),
    ]
    for kinds, call, what in bad_inputs:
        require(
            _raises(kinds, call),
            f"{what} must raise {' or '.join(k.__name__ for k in kinds)} with a clear message",
        )
