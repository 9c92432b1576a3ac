"""Answers from a model for evaluation: an OpenAI-compatible endpoint or a local HF folder.

One small interface, :class:`TextGenerator`: ``generate(conversations) -> list[str]`` (one answer
per conversation, in order) plus ``name`` and ``usage_summary()``. Two implementations:

* :class:`EndpointGenerator` — an ``http(s)://`` server through
  :class:`~ompo_envs.openai_client.OpenAIChatClient` (retries, concurrency, disk cache).
* :class:`TransformersGenerator` — a local folder with safetensors weights and a tokenizer (a
  Hugging Face checkpoint or an ``ompo-train`` iteration folder) or a ``.gguf`` file: the LM
  policies' prompt ids
  (:class:`ompo_envs.lm.prompting.ChatFormat`: the chat template, else the plain template) and
  their generation backend, greedy decoding by default; a prompt longer than the context keeps
  its last tokens (OpenCompass truncates on the left too). Answers are kept in a
  :class:`~ompo_envs.openai_client.DiskCache` keyed by the folder's fingerprint, the prompt and
  the decoding settings, so a rerun regenerates nothing.

:func:`load_generator` picks one from a ``--model`` string.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ompo_envs.openai_client import DiskCache, EndpointError, OpenAIChatClient, request_key
from ompo_envs.oracles.base import validate_conversation

__all__ = [
    "EndpointGenerator",
    "GenerationError",
    "TextGenerator",
    "TransformersGenerator",
    "folder_fingerprint",
    "load_generator",
]

Messages = Sequence[Mapping[str, str]]


class GenerationError(RuntimeError):
    """Some answers could not be generated.

    Attributes:
        index: Position of the first failed conversation.
        partial: Every answer, None where it failed.
    """

    def __init__(self, message: str, *, index: int, partial: list[str | None]) -> None:
        super().__init__(message)
        self.index = index
        self.partial = partial


@runtime_checkable
class TextGenerator(Protocol):
    """Answers conversations: ``generate(conversations) -> list[str]``, one answer each."""

    name: str

    def generate(self, conversations: Sequence[Messages]) -> list[str]:
        """Return one answer per conversation (each ends with the turn to answer)."""
        ...

    def usage_summary(self) -> dict[str, Any]:
        """Return what was spent (calls, tokens, cache hits)."""
        ...


class EndpointGenerator:
    """Answers from an OpenAI-compatible endpoint.

    Args:
        client: The endpoint's client (its settings give temperature, max_tokens, cache).
    """

    def __init__(self, client: OpenAIChatClient) -> None:
        if not isinstance(client, OpenAIChatClient):
            raise TypeError(f"client must be an OpenAIChatClient, got {type(client).__name__}")
        self.client = client
        self.name = client.model

    def generate(self, conversations: Sequence[Messages]) -> list[str]:
        """Return one answer per conversation (see :class:`TextGenerator`).

        Raises:
            GenerationError: Some requests failed after their retries (every answer received
                is cached first); the message names the endpoint and the cause.
        """
        try:
            return self.client.complete_all(conversations)
        except EndpointError as error:
            failed = len(error.failures)
            raise GenerationError(
                f"{failed} of {len(error.partial)} requests failed; the first: {error}",
                index=int(error.index or 0),
                partial=error.partial,
            ) from error

    def usage_summary(self) -> dict[str, Any]:
        """Return the client's counters."""
        return self.client.usage_summary()


def folder_fingerprint(folder: str | os.PathLike[str]) -> str:
    """Return a SHA-256 over a folder's resolved path and its files' names, sizes and mtimes.

    Cheap for multi-GB checkpoints (no file is read); any rewrite of a file changes it. A
    one-file checkpoint (a ``.gguf``) is fingerprinted the same way, as its only file.
    """
    root = Path(folder).resolve()
    digest = hashlib.sha256(str(root).encode())
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        stat = path.stat()
        name = path.name if path == root else path.relative_to(root)
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


class TransformersGenerator:
    """Answers from a local Hugging Face causal LM (greedy by default), batched, disk-cached.

    The folder is loaded as an LM policy (:meth:`ompo_envs.lm.LMPolicy.from_pretrained`, so a
    saved policy's chat template applies) and answers come from its
    :class:`~ompo_envs.lm.backends.TransformersBackend` — the prompts, decoding and stopping the
    LM solvers train with — with ``truncate_prompts`` on: a prompt longer than the context keeps
    its last tokens.

    Args:
        folder: A directory holding ``config.json``, the weights and the tokenizer, or a
            ``.gguf`` file (its own tokenizer and chat template; see
            :mod:`ompo_envs.lm.convert_gguf`).
        max_new_tokens: Most tokens per answer.
        batch_size: Prompts per ``generate`` call (answers are cached after each call).
        temperature: 0 decodes greedily; > 0 samples with torch's generator seeded by ``seed``
            (the same call gives the same answers).
        seed: Seed of the sampling generator.
        device: Torch device.
        dtype: ``"float32"``, ``"bfloat16"``, ``"float16"`` or ``"auto"``.
        cache_path: SQLite file of the answer cache (None: no cache).
        name: The name written in results (default: the folder's name).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        max_new_tokens: int = 1024,
        batch_size: int = 8,
        temperature: float = 0.0,
        seed: int = 0,
        device: str = "cpu",
        dtype: str = "float32",
        cache_path: str | os.PathLike[str] | None = None,
        name: str | None = None,
    ) -> None:
        from ompo_envs.lm.backends import SamplingParams, TransformersBackend
        from ompo_envs.lm.policy import LMPolicy

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.params = SamplingParams(
            num_samples=1, temperature=temperature, max_new_tokens=max_new_tokens
        )
        from ompo_envs.lm.convert_gguf import gguf_source

        path = Path(folder).expanduser()
        if not path.is_dir() and gguf_source(path) is None:
            raise ValueError(
                f"--model {str(folder)!r} is neither an http(s):// URL, a local folder nor a "
                ".gguf file; pass a Hugging Face checkpoint folder (an ompo-train "
                "RUN/iteration_N folder works) or a GGUF file"
            )
        policy = LMPolicy.from_pretrained(path, device=device, dtype=dtype, local_files_only=True)
        self.context_length = policy.format.context_length
        if self.context_length is not None and max_new_tokens >= self.context_length:
            raise ValueError(
                f"max_new_tokens={max_new_tokens} leaves no room for the prompt in the "
                f"{self.context_length}-token context of {path}; lower it"
            )
        self.chat_format = policy.format
        self.backend = TransformersBackend(
            policy.model, policy.format, batch_size=batch_size, truncate_prompts=True
        )
        self.folder = path
        self.name = name or path.resolve().name
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.temperature = float(temperature)
        self.seed = seed
        self.fingerprint = folder_fingerprint(path)
        self.cache = DiskCache(cache_path) if cache_path is not None else None
        self._usage = {"calls": 0, "cache_hits": 0, "completion_tokens": 0}

    def _key(self, messages: list[dict[str, str]]) -> str:
        return request_key(
            {
                "model": self.fingerprint,
                "messages": messages,
                "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature,
                "seed": self.seed,
            }
        )

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of the prompt, exactly as the LM policies build them (``ChatFormat``)."""
        return self.chat_format.prompt_ids(messages)

    def generate(self, conversations: Sequence[Messages]) -> list[str]:
        """Return one answer per conversation (see :class:`TextGenerator`)."""
        checked = [
            validate_conversation(c, where=f"conversations[{i}]")
            for i, c in enumerate(conversations)
        ]
        answers: list[str | None] = [None] * len(checked)
        keys = [self._key(m) for m in checked]
        todo = []
        for i, key in enumerate(keys):
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is None:
                todo.append(i)
            else:
                answers[i] = str(hit)
                self._usage["cache_hits"] += 1
        self._usage["calls"] += len(checked)
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start : start + self.batch_size]
            completions = self.backend.generate([checked[i] for i in batch], self.params, self.seed)
            for i, (completion,) in zip(batch, completions, strict=True):
                answers[i] = completion.text
                self._usage["completion_tokens"] += completion.num_tokens
                if self.cache is not None:
                    self.cache.put(keys[i], completion.text)
        return [a for a in answers if a is not None]

    @property
    def truncated_prompts(self) -> int:
        """Prompts cut on the left to fit the context so far."""
        return self.backend.truncated_prompts

    def usage_summary(self) -> dict[str, Any]:
        """Return calls, cache hits, tokens and how many prompts were cut to fit the context."""
        return {
            **self._usage,
            "prompt_tokens": self.backend.prompt_tokens,
            "truncated_prompts": self.backend.truncated_prompts,
            "model": self.name,
        }


def load_generator(
    model: str,
    *,
    model_name: str | None = None,
    cache_path: str | os.PathLike[str] | None = None,
    max_new_tokens: int = 1024,
    temperature: float = 0.0,
    api_key_env: str | None = None,
    concurrency: int = 8,
    timeout_s: float = 300.0,
    max_attempts: int = 5,
    backoff_s: float = 1.0,
    batch_size: int = 8,
    device: str = "cpu",
    dtype: str = "float32",
) -> TextGenerator:
    """Return the generator for a ``--model`` string: an ``http(s)://`` URL or a local model.

    Args:
        model: URL of an OpenAI-compatible server (``.../v1``), a checkpoint folder or a
            ``.gguf`` file.
        model_name: The model name sent to a server (required for a URL; for a folder, the
            name written in results).
        cache_path: SQLite answer cache shared by both kinds.
        max_new_tokens: Most tokens per answer.
        temperature: 0 for greedy decoding.
        api_key_env: Environment variable with the server's API key (None: no key).
        concurrency: Requests in flight (server only).
        timeout_s: Per-request time-out (server only).
        max_attempts: Requests per answer before giving up (server only).
        backoff_s: First wait before a retry, doubling each time (server only).
        batch_size: Prompts per ``generate`` call (folder only).
        device: Torch device (folder only).
        dtype: Weight dtype (folder only).
    """
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a URL or a folder, got {model!r}")
    cache = None if cache_path is None else str(cache_path)
    if model.startswith(("http://", "https://")):
        if not model_name:
            raise ValueError(f"a server model ({model}) needs a name: pass --model-name NAME")
        client = OpenAIChatClient(
            model,
            model_name,
            api_key_env=api_key_env,
            temperature=temperature,
            max_tokens=max_new_tokens,
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            backoff_s=backoff_s,
            concurrency=concurrency,
            cache_path=cache,
        )
        return EndpointGenerator(client)
    return TransformersGenerator(
        model,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        temperature=temperature,
        device=device,
        dtype=dtype,
        cache_path=cache,
        name=model_name,
    )
