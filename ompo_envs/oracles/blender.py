"""Adapter over the ``llm-blender`` package's PairRM: the reference for :class:`PairRM`.

:class:`LLMBlenderPairRM` loads a PairRM checkpoint with llm-blender's own ``Blender.loadranker``
and scores with its ``compare`` (single-turn contexts) and ``compare_conversations`` (multi-turn
contexts), both with ``mode="[A,B]+[B,A]"``, which return ``ℓ(x, a, b) − ℓ(x, b, a)``; the
oracle returns ``σ`` of that. Its :meth:`~LLMBlenderPairRM.compare_conversations` compares two
whole conversations with different replies the same way (one-turn pairs with ``compare``, like
the native oracle). It exists to check the native :class:`~ompo_envs.oracles.PairRM`
against the authors' code (the tests do so on a tiny random checkpoint; ``benchmarks/
gpu_pairrm.py`` on the real one) and for throughput comparisons.

Install: llm-blender 0.0.2 pins nothing and pulls training dependencies, so install it without
its dependencies, after the ``blender`` extra (which brings the few it imports)::

    pip install "ompo-envs[blender]" && pip install --no-deps llm-blender==0.0.2

Compatibility: llm-blender 0.0.2 predates transformers 5. When an adapter is constructed (and
not on import) two shims are applied, both confined to what llm-blender touches:

* ``transformers.utils.hub.TRANSFORMERS_CACHE`` (removed in transformers 5, imported by
  llm-blender at import time) is defined as ``huggingface_hub.constants.HF_HUB_CACHE`` if absent;
* the ranker's tokenizer *instance* gets a ``batch_encode_plus`` (removed in transformers 5;
  llm-blender's collator calls it) that forwards to ``tokenizer(...)``, which takes the same
  arguments.

Differences from the native oracle: llm-blender shares the candidates' truncation budget
``C + ⌊(S − |longest source in the batch|)/2⌋`` across a batch, the native oracle computes it per
item, so the two agree exactly when nothing is truncated or with ``batch_size=1``. llm-blender
also stores intermediate scores in float32.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ompo_envs.oracles.base import (
    Conversation,
    PreferenceOracle,
    check_device,
    sigmoid,
    validate_pairs,
)
from ompo_envs.oracles.pairrm import (
    DEFAULT_CHECKPOINT,
    check_conversation_pairs,
    conversation_turns,
    read_ranker_config,
    resolve_checkpoint,
)

_INSTALL_HINT = (
    'LLMBlenderPairRM needs the llm-blender package: pip install "ompo-envs[blender]" && '
    "pip install --no-deps llm-blender==0.0.2"
)
_BACKBONE_FILES = ["config.json", "*.model", "tokenizer*", "*.safetensors", "pytorch_model.bin"]


def _apply_transformers5_shims() -> None:
    """Define what llm-blender 0.0.2 imports from transformers < 5 (idempotent)."""
    import transformers.utils.hub as hub

    if not hasattr(hub, "TRANSFORMERS_CACHE"):
        from huggingface_hub import constants

        hub.TRANSFORMERS_CACHE = constants.HF_HUB_CACHE


def _patch_tokenizer(tokenizer: Any) -> None:
    """Give a transformers-5 tokenizer instance the ``batch_encode_plus`` llm-blender calls."""
    if not hasattr(tokenizer, "batch_encode_plus"):

        def batch_encode_plus(texts: list[str], **kwargs: Any) -> Any:
            return tokenizer(texts, **kwargs)

        tokenizer.batch_encode_plus = batch_encode_plus


class LLMBlenderPairRM(PreferenceOracle):
    """PairRM scored by llm-blender's own code (reference implementation).

    ``P(a ≻ b | x) = σ(ℓ(x, a, b) − ℓ(x, b, a))``, with the logit difference computed by
    llm-blender (``compare`` / ``compare_conversations`` in ``"[A,B]+[B,A]"`` mode). Contexts are
    mapped to llm-blender's input as in :func:`ompo_envs.oracles.pairrm.conversation_turns`: a
    single user turn is passed as ``inputs``, a longer conversation as ``USER``/``ASSISTANT``
    turns ending with the answer.

    Args:
        checkpoint: Folder or hub name of a PairRM checkpoint (default ``"llm-blender/PairRM"``).
        backbone: Folder or hub name of the DeBERTa backbone (llm-blender loads its tokenizer and
            builds the encoder from it); default the checkpoint's ``model_name``.
        device: ``"cuda"``, ``"cpu"`` …; default ``"cuda"`` if available, else ``"cpu"``.
        fp16: Run in float16 on CUDA (llm-blender's rule); default: the checkpoint's ``fp16``.
        batch_size: Pairs per llm-blender call.
        cache_size: LRU cache size of the base class; 0 disables it.
        cache_dir: Hugging Face cache folder for hub names.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike[str] = DEFAULT_CHECKPOINT,
        *,
        backbone: str | os.PathLike[str] | None = None,
        device: str | None = None,
        fp16: bool | None = None,
        batch_size: int = 8,
        cache_size: int = 0,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, cache_size=cache_size)
        if fp16 is not None and not isinstance(fp16, bool):
            raise TypeError(f"fp16 must be a bool or None, got {type(fp16).__name__}")
        if device is not None:
            check_device(device)
        try:
            import torch
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(_INSTALL_HINT) from error
        _apply_transformers5_shims()
        try:
            from llm_blender import Blender, BlenderConfig
        except ImportError as error:
            raise ImportError(f"{_INSTALL_HINT} ({error})") from error

        folder = resolve_checkpoint(checkpoint, what="PairRM checkpoint", cache_dir=cache_dir)
        config = read_ranker_config(folder)
        backbone_folder = resolve_checkpoint(
            config["model_name"] if backbone is None else backbone,
            what="PairRM backbone",
            allow_patterns=_BACKBONE_FILES,
            cache_dir=cache_dir,
        )
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        overrides: dict[str, Any] = {"model_name": str(backbone_folder)}
        if fp16 is not None:
            overrides["fp16"] = fp16
        if cache_dir is not None:
            overrides["cache_dir"] = os.fspath(cache_dir)
        with _quiet():
            blender = Blender(BlenderConfig(device=device, use_tqdm=False))
            blender.loadranker(str(folder), device=device, **overrides)
        _patch_tokenizer(blender.ranker_tokenizer)
        self._blender = blender
        self.checkpoint_dir: Path = folder
        self.backbone_dir: Path = backbone_folder
        self.device = device

    @classmethod
    def from_pretrained(cls, checkpoint: str | os.PathLike[str], **kwargs: Any) -> LLMBlenderPairRM:
        """Load from a checkpoint folder or hub name; same keywords as the constructor."""
        return cls(checkpoint, **kwargs)

    def log_odds(
        self,
        contexts: Sequence[Conversation],
        answers_a: Sequence[str],
        answers_b: Sequence[str],
    ) -> np.ndarray:
        """Return llm-blender's ``ℓ(x, a, b) − ℓ(x, b, a)`` per pair, shape (n,), float64."""
        convs, answers_a, answers_b = validate_pairs(contexts, answers_a, answers_b)
        users, replies_a, replies_b = [], [], []
        for conv, a, b in zip(convs, answers_a, answers_b, strict=True):
            history, final_user = conversation_turns(conv)
            users.append([*(user for user, _ in history), final_user])
            replies_a.append([*(reply for _, reply in history), a])
            replies_b.append([*(reply for _, reply in history), b])
        return self._exchange_log_odds(users, replies_a, replies_b)

    def compare_conversations(
        self,
        conversations_a: Sequence[Conversation],
        conversations_b: Sequence[Conversation],
    ) -> np.ndarray:
        """Return P(conversations_a[i] ≻ conversations_b[i]) per pair, by llm-blender's code.

        Multi-turn pairs go to llm-blender's ``compare_conversations`` (one-turn pairs to its
        ``compare``, as :meth:`ompo_envs.oracles.PairRM.compare_conversations` formats them);
        the result is ``σ`` of its ``"[A,B]+[B,A]"`` logit. Validation, ``½`` for identical
        conversations, batching and the cache are the base class's.

        Args:
            conversations_a: Conversations of ``{"role", "content"}`` messages, alternating
                user/assistant and ending with an assistant turn.
            conversations_b: As many conversations, each with the same user turns as its partner.

        Raises:
            TypeError / ValueError: See :func:`ompo_envs.oracles.pairrm.check_conversation_pairs`.
        """
        pairs = check_conversation_pairs(conversations_a, conversations_b)
        return self._compare_validated(
            [users for users, _, _ in pairs],
            [replies_a for _, replies_a, _ in pairs],
            [replies_b for _, _, replies_b in pairs],
            batch=self._exchange_preferences,
        )

    def _preference_batch(
        self, contexts: list[list[dict[str, str]]], answers_a: list[str], answers_b: list[str]
    ) -> np.ndarray:
        return sigmoid(self.log_odds(contexts, answers_a, answers_b))

    def _exchange_preferences(
        self,
        users: list[Sequence[str]],
        replies_a: list[Sequence[str]],
        replies_b: list[Sequence[str]],
    ) -> np.ndarray:
        return sigmoid(self._exchange_log_odds(users, replies_a, replies_b))

    def _exchange_log_odds(
        self,
        users: list[Sequence[str]],
        replies_a: list[Sequence[str]],
        replies_b: list[Sequence[str]],
    ) -> np.ndarray:
        """Return llm-blender's logit that ``(users, replies_a)`` beats ``(users, replies_b)``.

        One-turn pairs go to ``compare``, longer ones to ``compare_conversations``.
        """
        out = np.empty(len(users))
        single = [i for i, turns in enumerate(users) if len(turns) == 1]
        multi = [i for i, turns in enumerate(users) if len(turns) > 1]
        with _quiet():
            if single:
                out[single] = self._blender.compare(
                    [users[i][0] for i in single],
                    [replies_a[i][0] for i in single],
                    [replies_b[i][0] for i in single],
                    batch_size=self.batch_size,
                    return_logits=True,
                    mode="[A,B]+[B,A]",
                    disable_tqdm=True,
                )
            if multi:
                out[multi] = self._blender.compare_conversations(
                    [_blender_conversation(users[i], replies_a[i]) for i in multi],
                    [_blender_conversation(users[i], replies_b[i]) for i in multi],
                    batch_size=self.batch_size,
                    return_logits=True,
                    mode="[A,B]+[B,A]",
                )
        return out


def _blender_conversation(users: Sequence[str], replies: Sequence[str]) -> list[dict[str, str]]:
    """llm-blender's conversation format: alternating ``USER`` / ``ASSISTANT`` turns."""
    messages = []
    for user, reply in zip(users, replies, strict=True):
        messages.append({"role": "USER", "content": user})
        messages.append({"role": "ASSISTANT", "content": reply})
    return messages


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence llm-blender's prints, log lines and warnings (it reports every load)."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
