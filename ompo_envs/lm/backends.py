"""Generation backends: a batch of chat prompts in, K sampled answers per prompt out.

One small interface, :class:`GenerationBackend`::

    completions = backend.generate(conversations, SamplingParams(num_samples=5, ...), seed=0)
    completions[i][k].text          # the k-th answer to conversations[i]

* :class:`TransformersBackend` (default) — ``model.generate`` on left-padded batches; the same
  prompt token ids as log-prob scoring (:class:`~ompo_envs.lm.prompting.ChatFormat`).
* :class:`VLLMBackend` — vLLM (GPU only, ``pip install "ompo-envs[vllm]"``), loaded from a
  checkpoint directory such as the one :meth:`~ompo_envs.lm.policy.LMPolicy.save` writes after
  each iteration; the prompts are the same token ids.

Answers follow the OpenAI convention: a stop string ends the answer and is not part of it;
special tokens are dropped; ``finish_reason`` is ``"stop"`` (end-of-answer token or stop string)
or ``"length"`` (``max_new_tokens`` reached).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from ompo_envs.lm.logprobs import model_device
from ompo_envs.lm.prompting import ChatFormat, stop_token_ids

__all__ = [
    "Completion",
    "GenerationBackend",
    "SamplingParams",
    "TransformersBackend",
    "VLLMBackend",
]

_SEED_BOUND = 2**63 - 1


@dataclass(frozen=True)
class SamplingParams:
    """How answers are sampled."""

    num_samples: int = 1
    """K ≥ 1, answers drawn per prompt."""

    temperature: float = 1.0
    """Softmax temperature ≥ 0; 0 means greedy decoding (K identical answers)."""

    top_p: float = 1.0
    """Nucleus sampling mass in (0, 1]; 1 disables it."""

    max_new_tokens: int = 256
    """Most tokens per answer (the end-of-answer token included)."""

    stop: tuple[str, ...] = ()
    """Stop strings: the answer ends before the first one (which is not kept)."""

    def __post_init__(self) -> None:
        _check_int("num_samples", self.num_samples)
        _check_int("max_new_tokens", self.max_new_tokens)
        if (
            not _is_real(self.temperature)
            or not math.isfinite(self.temperature)
            or self.temperature < 0
        ):
            raise ValueError(f"temperature must be a finite number >= 0, got {self.temperature!r}")
        if not _is_real(self.top_p) or not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p!r}")
        if isinstance(self.stop, str) or not all(isinstance(s, str) and s for s in self.stop):
            raise TypeError(f"stop must be a tuple of non-empty strings, got {self.stop!r}")


@dataclass(frozen=True)
class Completion:
    """One sampled answer.

    Attributes:
        text: The answer (stop string and special tokens removed).
        finish_reason: ``"stop"`` (end-of-answer token or stop string) or ``"length"``.
        num_tokens: Tokens generated for it (up to and including the one that ended it).
    """

    text: str
    finish_reason: Literal["stop", "length"]
    num_tokens: int


@runtime_checkable
class GenerationBackend(Protocol):
    """Samples K answers for each of a batch of conversations."""

    def generate(
        self, conversations: Sequence[Any], params: SamplingParams, seed: int
    ) -> list[list[Completion]]:
        """Return ``params.num_samples`` completions per conversation, in input order.

        Args:
            conversations: Each a list of ``{"role", "content"}`` messages ending with the
                turn to answer.
            params: Sampling settings.
            seed: The same seed, prompts and settings give the same answers.
        """
        ...


class TransformersBackend:
    """``transformers`` ``generate`` on CPU or GPU, batched over prompts × samples.

    Every conversation asks for K rows (its K samples). Rows are packed into batches of at most
    ``batch_size``; within a batch where some prompt has several rows, each *distinct* prompt is
    run through the model once (left padded, all but its last token) and its key/value cache is
    repeated for its rows (``share_prefill``), so K samples of one prompt — or many branches of
    one state — cost one prefill, as in vLLM's prefix caching; a batch of distinct prompts is
    prefilled by ``generate`` itself. Each call seeds torch's generator with ``seed`` inside
    ``torch.random.fork_rng`` (the global generator is left as it was): the same call gives the
    same answers; a different ``batch_size`` may not (the random stream is consumed per batch).

    Args:
        model: A loaded causal LM (``generate`` is called in eval mode, without gradients).
        chat_format: Builds the prompt ids (the same as log-prob scoring uses).
        batch_size: Most rows (prompt × sample) per ``generate`` call.
        share_prefill: Prefill each distinct prompt once per batch where some prompt has
            several rows (needs a model whose cache supports ``batch_select_indices``; off:
            every row is prefilled).
        truncate_prompts: A prompt that leaves fewer than ``max_new_tokens`` tokens of the
            context keeps its last tokens (evaluation does this, as OpenCompass does) instead of
            raising; ``truncated_prompts`` counts them.

    Attributes:
        prompt_tokens: Prompt tokens of every row generated so far (after truncation).
        completion_tokens: Tokens generated so far (the end-of-answer tokens included).
        truncated_prompts: Prompts cut on the left so far.

    Raises:
        ValueError: A prompt plus ``max_new_tokens`` exceeds the model's context (without
            ``truncate_prompts``, or when ``max_new_tokens`` alone fills it).
    """

    def __init__(
        self,
        model: Any,
        chat_format: ChatFormat,
        *,
        batch_size: int = 64,
        share_prefill: bool = True,
        truncate_prompts: bool = False,
    ) -> None:
        _check_int("batch_size", batch_size)
        self.model = model
        self.format = chat_format
        self.batch_size = batch_size
        self.share_prefill = bool(share_prefill)
        self.truncate_prompts = bool(truncate_prompts)
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.truncated_prompts = 0

    def _fit(self, ids: tuple[int, ...], max_new_tokens: int, what: str) -> tuple[int, ...]:
        """The prompt ids that are generated from: all of them, or the last ones that fit."""
        limit = self.format.context_length
        if self.truncate_prompts and limit is not None and max_new_tokens < limit:
            room = limit - max_new_tokens
            return ids if len(ids) <= room else ids[-room:]
        self.format.check_length(len(ids), max_new_tokens, what)
        return ids

    def generate(
        self, conversations: Sequence[Any], params: SamplingParams, seed: int
    ) -> list[list[Completion]]:
        """Sample answers (see :class:`GenerationBackend`)."""
        import torch

        if not isinstance(params, SamplingParams):
            raise TypeError(f"params must be SamplingParams, got {type(params).__name__}")
        full = [tuple(self.format.prompt_ids(c)) for c in conversations]
        prompts = [
            self._fit(ids, params.max_new_tokens, f"conversation {i}") for i, ids in enumerate(full)
        ]
        self.truncated_prompts += sum(len(a) != len(b) for a, b in zip(full, prompts, strict=True))
        self.prompt_tokens += params.num_samples * sum(len(ids) for ids in prompts)
        # One row per (conversation, sample), in order; batches of at most batch_size rows.
        rows = [i for i in range(len(prompts)) for _ in range(params.num_samples)]
        device = model_device(self.model)
        devices = [device] if device.type == "cuda" else []
        completions: list[Completion] = []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(int(seed) % _SEED_BOUND)
            for lo in range(0, len(rows), self.batch_size):
                batch = [prompts[i] for i in rows[lo : lo + self.batch_size]]
                completions.extend(self._generate_batch(batch, params, device))
        self.completion_tokens += sum(c.num_tokens for c in completions)
        k = params.num_samples
        return [completions[i * k : (i + 1) * k] for i in range(len(prompts))]

    def _generate_batch(
        self, rows: list[tuple[int, ...]], params: SamplingParams, device: Any
    ) -> list[Completion]:
        import torch

        tokenizer = self.format.tokenizer
        generation_eos = getattr(
            getattr(self.model, "generation_config", None), "eos_token_id", None
        )
        stops = stop_token_ids(tokenizer, generation_eos)
        pad = tokenizer.pad_token_id
        pad = pad if pad is not None else (stops[0] if stops else 0)
        distinct = list(dict.fromkeys(rows))
        which = {ids: j for j, ids in enumerate(distinct)}
        width = max(len(p) for p in distinct)
        input_ids = torch.full((len(distinct), width), pad, dtype=torch.long)
        attention = torch.zeros((len(distinct), width), dtype=torch.long)
        for j, ids in enumerate(distinct):
            input_ids[j, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[j, width - len(ids) :] = 1
        index = torch.tensor([which[ids] for ids in rows], dtype=torch.long)
        input_ids, attention, index = input_ids.to(device), attention.to(device), index.to(device)
        greedy = params.temperature == 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "do_sample": not greedy,
            "pad_token_id": pad,
            "eos_token_id": stops or None,
        }
        if not greedy:
            kwargs.update(temperature=float(params.temperature), top_p=float(params.top_p), top_k=0)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=tokenizer)
        was_training = self.model.training
        self.model.eval()
        try:
            # Sharing pays only where a prompt has several rows; with one row per prompt (K = 1)
            # a separate prefill would add a one-token forward pass to generate's own.
            if self.share_prefill and width > 1 and len(distinct) < len(rows):
                kwargs["past_key_values"] = self._prefill(input_ids, attention, index)
            sequences = self.model.generate(
                input_ids=input_ids[index], attention_mask=attention[index], **kwargs
            )
        finally:
            self.model.train(was_training)
        return [_completion(row, stops, params, tokenizer) for row in sequences[:, width:].tolist()]

    def _prefill(self, input_ids: Any, attention: Any, index: Any) -> Any:
        """Run every distinct prompt but its last token once; return the cache, one row per row.

        Position ids follow the attention mask, as ``generate`` computes them for left padding.
        """
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        out = self.model(
            input_ids=input_ids[:, :-1],
            attention_mask=attention[:, :-1],
            position_ids=positions[:, :-1],
            use_cache=True,
        )
        cache = out.past_key_values
        cache.batch_select_indices(index)
        return cache


def _completion(
    tokens: list[int], stops: list[int], params: SamplingParams, tokenizer: Any
) -> Completion:
    ended = next((i for i, t in enumerate(tokens) if t in stops), None)
    kept = tokens if ended is None else tokens[:ended]
    text = tokenizer.decode(kept, skip_special_tokens=True)
    reason: Literal["stop", "length"] = "stop" if ended is not None else "length"
    cut = _cut_at_stop(text, params.stop)
    if cut is not None:
        text, reason = cut, "stop"
    return Completion(text=text, finish_reason=reason, num_tokens=len(kept) + (ended is not None))


def _cut_at_stop(text: str, stop: Sequence[str]) -> str | None:
    positions = [p for p in (text.find(s) for s in stop) if p >= 0]
    return text[: min(positions)] if positions else None


class VLLMBackend:
    """vLLM generation from a checkpoint directory (GPU only; never installed by CI).

    The prompts are the token ids of :class:`~ompo_envs.lm.prompting.ChatFormat` (the same as
    scoring and the transformers backend); each prompt gets its own request seed derived from
    ``seed`` and its position, so answers do not depend on how vLLM schedules the batch.

    Args:
        checkpoint: A directory with the model and tokenizer (e.g. an iteration's checkpoint).
        chat_format: Builds the prompt ids; ``None`` loads the checkpoint's tokenizer.
        **engine_args: Passed to ``vllm.LLM`` (e.g. ``dtype="bfloat16"``,
            ``gpu_memory_utilization=0.5``, ``tensor_parallel_size=2``).

    Raises:
        ImportError: vLLM is not installed (the message gives the install command).
    """

    def __init__(
        self, checkpoint: str, chat_format: ChatFormat | None = None, **engine_args: Any
    ) -> None:
        try:
            import vllm
        except ImportError as error:
            raise ImportError(
                'the vLLM backend needs vllm and a GPU: pip install "ompo-envs[vllm]" (or use '
                "the default TransformersBackend)"
            ) from error
        if chat_format is None:
            from transformers import AutoTokenizer

            chat_format = ChatFormat(AutoTokenizer.from_pretrained(checkpoint))
        self.format = chat_format
        self._vllm = vllm
        self.llm = vllm.LLM(model=str(checkpoint), **engine_args)

    def generate(
        self, conversations: Sequence[Any], params: SamplingParams, seed: int
    ) -> list[list[Completion]]:
        """Sample answers (see :class:`GenerationBackend`)."""
        prompts = [self.format.prompt_ids(c) for c in conversations]
        requests, settings = [], []
        for i, ids in enumerate(prompts):
            self.format.check_length(len(ids), params.max_new_tokens, f"conversation {i}")
            requests.append({"prompt_token_ids": ids})
            settings.append(
                self._vllm.SamplingParams(
                    n=params.num_samples,
                    temperature=float(params.temperature),
                    top_p=float(params.top_p),
                    max_tokens=params.max_new_tokens,
                    stop=list(params.stop) or None,
                    seed=(int(seed) + 1_000_003 * i) % _SEED_BOUND,
                    skip_special_tokens=True,
                )
            )
        outputs = self.llm.generate(requests, settings, use_tqdm=False)
        return [
            [
                Completion(
                    text=choice.text,
                    finish_reason="length" if choice.finish_reason == "length" else "stop",
                    num_tokens=len(choice.token_ids),
                )
                for choice in output.outputs
            ]
            for output in outputs
        ]


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
