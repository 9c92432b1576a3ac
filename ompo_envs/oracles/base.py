"""The preference-oracle protocol: P(a ≻ b | context) for batches of (context, a, b).

A *context* is a conversation, a list of ``{"role": ..., "content": ...}`` messages that ends with
the turn being answered; ``a`` and ``b`` are two candidate answers. Every oracle guarantees

* P(a ≻ b) + P(b ≻ a) = 1 (both orders are scored and combined, never one order alone);
* P(a ≻ a) = ½ exactly;
* values in [0, 1]; a NaN or inf from a model raises instead of being passed on.

Subclasses implement :meth:`PreferenceOracle._ordered_logits` (a logit that "the first answer
wins" for one presentation order; the base combines both orders as σ(ℓ(a, b) − ℓ(b, a)), the
PairRM rule) or override :meth:`PreferenceOracle._preference_batch` for another combination.
The base owns validation, batching, the optional cache and the CUDA out-of-memory back-off.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from ompo_envs.batching import run_batched

Message = Mapping[str, str]
Conversation = Sequence[Message]
ROLES = ("system", "user", "assistant")
#: Scores one batch of (context, a, b) items: P(a ≻ b) per item.
BatchScorer = Callable[[list[Any], list[Any], list[Any]], np.ndarray]


class AnswerStore(Protocol):
    """A persistent store of oracle answers (see :meth:`PreferenceOracle.attach_store`)."""

    def get(self, key: str) -> float | None:
        """Return the stored P for ``key``, or None."""

    def put_many(self, items: list[tuple[str, float]]) -> None:
        """Store ``(key, P)`` pairs durably before returning."""


ValueT = TypeVar("ValueT")


class LRUCache(Generic[ValueT]):
    """At most ``size`` entries, the least recently used dropped first; ``size = 0`` keeps none.

    The one cache of the oracles: pair results (:class:`PreferenceOracle`), embeddings
    (``EmbeddingOracle``) and judge ratings (``LLMJudge``).

    Raises:
        ValueError: ``size`` is not an integer >= 0.
    """

    def __init__(self, size: int, name: str = "cache_size") -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"{name} must be an integer >= 0 (0 disables it), got {size!r}")
        self.size = size
        self.hits = 0
        self._items: OrderedDict[Hashable, ValueT] = OrderedDict()

    def get(self, key: Hashable) -> ValueT | None:
        """Return the value of ``key`` (now the most recently used) or None; counts hits."""
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return self._items[key]

    def peek(self, key: Hashable) -> ValueT:
        """Return the value of ``key`` without using it (KeyError if absent)."""
        return self._items[key]

    def put(self, key: Hashable, value: ValueT) -> None:
        """Store ``value`` as the most recent entry; drop the least recent ones beyond ``size``."""
        if self.size == 0:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def touch(self, key: Hashable) -> None:
        """Mark ``key`` as the most recently used, if present."""
        if key in self._items:
            self._items.move_to_end(key)

    def items(self) -> list[tuple[Hashable, ValueT]]:
        """The entries as (key, value) pairs, least recently used first (uses none of them)."""
        return list(self._items.items())

    def clear(self) -> None:
        """Drop every entry (the hit count is kept)."""
        self._items.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class OracleError(RuntimeError):
    """A preference model produced something unusable (NaN, inf, a wrong shape)."""


def validate_conversation(context: Any, *, where: str = "context") -> list[dict[str, str]]:
    """Return ``context`` as a list of ``{"role", "content"}`` dicts, or raise a clear error."""
    if isinstance(context, str) or not isinstance(context, Sequence):
        raise TypeError(
            f"{where} must be a list of {{'role': ..., 'content': ...}} messages, "
            f"got {type(context).__name__}"
        )
    if len(context) == 0:
        raise ValueError(f"{where} is empty: it must hold at least the user turn being answered")
    messages = []
    for i, message in enumerate(context):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise TypeError(
                f"{where}[{i}] must be a dict with 'role' and 'content', got {message!r}"
            )
        if message["role"] not in ROLES:
            raise ValueError(
                f"{where}[{i}]['role'] must be one of {ROLES}, got {message['role']!r}"
            )
        if not isinstance(message["content"], str):
            raise TypeError(
                f"{where}[{i}]['content'] must be a string, got {type(message['content']).__name__}"
            )
        messages.append({"role": message["role"], "content": message["content"]})
    return messages


def validate_pairs(
    contexts: Sequence[Conversation], answers_a: Sequence[str], answers_b: Sequence[str]
) -> tuple[list[list[dict[str, str]]], list[str], list[str]]:
    """Check a batch of (context, a, b) as :meth:`PreferenceOracle.compare` takes it; return lists.

    Raises:
        TypeError: A batch is not a list, a context is malformed, or an answer is not a string.
        ValueError: The three lists differ in length, or a context is empty.
    """
    for name, seq in (("contexts", contexts), ("answers_a", answers_a), ("answers_b", answers_b)):
        if isinstance(seq, str) or not isinstance(seq, Sequence):
            raise TypeError(f"{name} must be a list, got {type(seq).__name__}")
    if not len(contexts) == len(answers_a) == len(answers_b):
        raise ValueError(
            f"contexts, answers_a and answers_b must have the same length, got "
            f"{len(contexts)}, {len(answers_a)} and {len(answers_b)}"
        )
    convs = [validate_conversation(c, where=f"contexts[{i}]") for i, c in enumerate(contexts)]
    for name, seq in (("answers_a", answers_a), ("answers_b", answers_b)):
        for i, answer in enumerate(seq):
            if not isinstance(answer, str):
                raise TypeError(f"{name}[{i}] must be a string, got {type(answer).__name__}")
    return convs, list(answers_a), list(answers_b)


def check_temperature(temperature: object) -> None:
    """Raise ``ValueError`` unless ``temperature`` is a finite real number > 0."""
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float | np.integer | np.floating)
        or not np.isfinite(temperature)
        or temperature <= 0
    ):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")


def check_count(value: object, name: str, *, minimum: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_device(device: object) -> None:
    """Raise ``ValueError`` unless ``device`` names a torch device (``"cpu"``, ``"cuda:0"``, ...).

    Only the name is checked (torch is imported if installed); whether the device exists is
    found out when the model is moved there.
    """
    if not isinstance(device, str):
        raise ValueError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    try:
        import torch
    except ImportError:  # the backend's own import reports the missing extra
        return
    try:
        torch.device(device)
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"device {device!r} is not a torch device name: {error}") from error


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function σ(x) = 1 / (1 + e^{−x})."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    positive = x >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-x[positive]))
    exp_x = np.exp(x[~positive])
    out[~positive] = exp_x / (1.0 + exp_x)
    return out


class PreferenceOracle:
    """Base class of every preference model: P(a ≻ b | context), batched and symmetric.

    Args:
        batch_size: Pairs per model call (each pair is scored in both orders). Halved and retried
            on CUDA out-of-memory, down to 1; the smaller size is kept for later calls.
        cache_size: Number of ``(context, a, b)`` results kept in an LRU cache; 0 disables it.
    """

    def __init__(self, *, batch_size: int = 16, cache_size: int = 0) -> None:
        check_count(batch_size, "batch_size", minimum=1)
        check_count(cache_size, "cache_size", minimum=0)
        self.batch_size = int(batch_size)
        self.cache_size = int(cache_size)
        self._cache: LRUCache[float] = LRUCache(self.cache_size)
        self._store: AnswerStore | None = None

    # ------------------------------------------------------------------ to implement
    def _ordered_logits(
        self, contexts: list[list[dict[str, str]]], first: list[str], second: list[str]
    ) -> np.ndarray:
        """Return, per item, a logit that ``first`` beats ``second`` in this presentation order."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement _ordered_logits or _preference_batch"
        )

    def _preference_batch(
        self, contexts: list[list[dict[str, str]]], answers_a: list[str], answers_b: list[str]
    ) -> np.ndarray:
        """Return P(a ≻ b) for one batch: σ(ℓ(a, b) − ℓ(b, a)), both orders in one model call."""
        n = len(contexts)
        logits = np.asarray(
            self._ordered_logits(contexts + contexts, answers_a + answers_b, answers_b + answers_a),
            dtype=np.float64,
        ).reshape(-1)
        if logits.shape != (2 * n,):
            raise OracleError(f"the model returned {logits.shape[0]} logits for {2 * n} inputs")
        if not np.all(np.isfinite(logits)):
            raise OracleError(f"the model returned non-finite logits {logits.tolist()}")
        return sigmoid(logits[:n] - logits[n:])

    # ------------------------------------------------------------------ public API
    def compare(
        self,
        contexts: Sequence[Conversation],
        answers_a: Sequence[str],
        answers_b: Sequence[str],
    ) -> np.ndarray:
        """Return P(answers_a[i] ≻ answers_b[i] | contexts[i]) for every i, shape (n,), float64.

        Raises:
            ValueError / TypeError: Mismatched lengths, an empty or malformed context, or an
                answer that is not a string.
            OracleError: The model produced a non-finite or out-of-range value.
        """
        return self._compare_validated(*validate_pairs(contexts, answers_a, answers_b))

    __call__ = compare

    def compare_one(self, context: Conversation, answer_a: str, answer_b: str) -> float:
        """Return P(answer_a ≻ answer_b | context) for a single pair."""
        return float(self.compare([context], [answer_a], [answer_b])[0])

    @property
    def cache_hits(self) -> int:
        """Results served from the cache so far."""
        return self._cache.hits

    def clear_cache(self) -> None:
        """Drop every cached result (an attached store is left as it is)."""
        self._cache.clear()

    def attach_store(self, store: AnswerStore | None) -> None:
        """Also keep every answer in a persistent ``store``; ``None`` detaches it.

        The store is read before the model is asked (after the LRU cache), and each model batch
        is written to it as soon as it is scored, so a process killed mid-call loses at most the
        batch in flight and a resumed run never asks the model the same pair twice. A store
        holds the answers of one oracle: attach a fresh one for another model.
        """
        if store is not None and not (
            callable(getattr(store, "get", None)) and callable(getattr(store, "put_many", None))
        ):
            raise TypeError(
                f"store must have get(key) and put_many(items) methods, got {type(store).__name__}"
            )
        self._store = store

    # ------------------------------------------------------------------ internals
    def _compare_validated(
        self,
        contexts: list[Any],
        answers_a: list[Any],
        answers_b: list[Any],
        *,
        batch: BatchScorer | None = None,
    ) -> np.ndarray:
        """Score validated items: ``a == b`` gives ½, then the cache, batching and OOM back-off.

        The part of :meth:`compare` after validation. A subclass that compares another kind of
        item (PairRM's whole conversations) passes its own JSON-serialisable items and a
        ``batch`` function that scores one batch of them; the default is
        :meth:`_preference_batch`.
        """
        result = np.full(len(contexts), np.nan)
        todo: list[int] = []
        for i, (context, a, b) in enumerate(zip(contexts, answers_a, answers_b, strict=True)):
            if a == b:
                result[i] = 0.5
                continue
            key = self._cache_key(context, a, b)
            cached = self._cache.get(key)
            if cached is None and self._store is not None:
                cached = self._store.get(key)
            if cached is None:
                todo.append(i)
            else:
                result[i] = cached
        if todo:
            keys = [self._cache_key(contexts[i], answers_a[i], answers_b[i]) for i in todo]
            store = self._store

            def keep(start: int, stop: int, values: np.ndarray) -> None:
                if store is not None:
                    store.put_many(list(zip(keys[start:stop], values.tolist(), strict=True)))

            values = self._run_batches(
                [contexts[i] for i in todo],
                [answers_a[i] for i in todo],
                [answers_b[i] for i in todo],
                batch=batch,
                on_batch=keep,
            )
            result[todo] = values
            for key, value in zip(keys, values, strict=True):
                self._cache.put(key, float(value))
        return result

    def _run_batches(
        self,
        contexts: list[Any],
        answers_a: list[Any],
        answers_b: list[Any],
        *,
        batch: BatchScorer | None = None,
        on_batch: Callable[[int, int, np.ndarray], Any] | None = None,
    ) -> np.ndarray:
        score = self._preference_batch if batch is None else batch

        def call(start: int, stop: int) -> np.ndarray:
            values = score(contexts[start:stop], answers_a[start:stop], answers_b[start:stop])
            return self._check(values, stop - start)

        def shrink(size: int) -> None:
            self.batch_size = size

        parts = run_batched(
            call, len(contexts), self.batch_size, on_shrink=shrink, on_batch=on_batch
        )
        return np.concatenate(parts) if parts else np.empty(0)

    @staticmethod
    def _check(values: Any, n: int) -> np.ndarray:
        array = np.asarray(values, dtype=np.float64).reshape(-1)
        if array.shape != (n,):
            raise OracleError(f"the model returned {array.shape[0]} preferences for {n} pairs")
        if not np.all(np.isfinite(array)):
            raise OracleError(f"the model returned non-finite preferences {array.tolist()}")
        if np.any((array < 0.0) | (array > 1.0)):
            raise OracleError(f"preferences must lie in [0, 1], got {array.tolist()}")
        return array

    @staticmethod
    def _cache_key(context: Any, a: Any, b: Any) -> str:
        return json.dumps([context, a, b], ensure_ascii=False)
