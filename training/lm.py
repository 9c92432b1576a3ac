"""The language-model calls a run needs: load, chat prompt, sample answers, answer log-probs.

Interim: issue 9's ``ompo_envs.lm`` (``LMPolicy`` and its generation backends) replaces this
module once it lands; the functions keep the shapes the stages use (plain lists in, plain lists
out) so the swap touches only this file. Loading reuses
:func:`ompo_envs.oracles.pair_lm.load_causal_lm`; batches go through the shared CUDA
out-of-memory back-off (:func:`ompo_envs.batching.run_batched`).

Log-probabilities are of the answer tokens only: the prompt (the chat template applied to the
player's messages, with the generation prompt) and the answer (its tokens plus EOS) are tokenised
separately and concatenated, so the mask boundary is exact, and

    log π(a | s) = Σ_{i ∈ answer} log softmax(logits_{i−1})[token_i].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ompo_envs.batching import run_batched

__all__ = ["Batcher", "answer_logprobs", "build_prompt", "load_policy", "sample_answers"]

_PLAIN_PREFIX = {"system": "System: ", "user": "User: ", "assistant": "Assistant: "}


@dataclass
class Batcher:
    """A batch size that shrinks on CUDA out-of-memory and stays shrunk (one per call site)."""

    size: int

    def run(self, call: Any, num_items: int) -> list[Any]:
        """:func:`~ompo_envs.batching.run_batched` with this batch size, remembering shrinks."""

        def shrink(size: int) -> None:
            self.size = size

        return run_batched(call, num_items, self.size, on_shrink=shrink)


def load_policy(path: str, *, dtype: str = "float32", device: str = "cpu") -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a local folder or hub name (see ``load_causal_lm``)."""
    import torch

    from ompo_envs.oracles.pair_lm import load_causal_lm

    torch_dtype = torch.float64 if dtype == "float64" else dtype
    model, tokenizer = load_causal_lm(path, device=device, dtype=torch_dtype)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token_id is None:
        raise ValueError(f"the tokenizer of {path!r} has no EOS token; an answer cannot end")
    return model, tokenizer


def build_prompt(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    r"""The model's chat template applied to ``messages`` with the generation prompt.

    A tokenizer without a chat template gets ``"User: ...\n\nAssistant: "``.
    """
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )
    body = "\n\n".join(_PLAIN_PREFIX[m["role"]] + m["content"] for m in messages)
    return f"{body}\n\nAssistant: "


def sample_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    counts: Sequence[int],
    *,
    seed: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    batcher: Batcher,
) -> tuple[list[list[str]], int]:
    """Sample ``counts[i]`` answers to ``prompts[i]``; return them and the new-token count.

    The torch generator is seeded with ``seed`` first, so the same prompts, counts and seed give
    the same answers (on the same device and batch size).
    """
    import torch

    flat = [p for p, n in zip(prompts, counts, strict=True) for _ in range(n)]
    torch.manual_seed(seed)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    new_tokens = 0

    def call(start: int, stop: int) -> list[str]:
        nonlocal new_tokens
        batch = tokenizer(
            flat[start:stop], return_tensors="pt", padding=True, add_special_tokens=False
        ).to(device)
        with torch.no_grad():
            out = model.generate(
                **batch,
                do_sample=True,
                temperature=temperature,
                top_p=top_p,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        generated = out[:, batch["input_ids"].shape[1] :]
        keep = generated != tokenizer.pad_token_id
        new_tokens += int(keep.sum())
        return tokenizer.batch_decode(generated, skip_special_tokens=True)

    try:
        texts = [t for part in batcher.run(call, len(flat)) for t in part]
    finally:
        tokenizer.padding_side = side
    answers, start = [], 0
    for n in counts:
        answers.append(texts[start : start + n])
        start += n
    return answers, new_tokens


def encode_pairs(
    tokenizer: Any, prompts: Sequence[str], answers: Sequence[str]
) -> tuple[list[list[int]], list[int]]:
    """Token ids of prompt + answer + EOS per pair, and where each answer starts."""
    ids, starts = [], []
    for prompt, answer in zip(prompts, answers, strict=True):
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids.append(p + a)
        starts.append(len(p))
    return ids, starts


def answer_logprobs(
    model: Any, tokenizer: Any, prompts: Sequence[str], answers: Sequence[str]
) -> tuple[Any, int]:
    """Summed log π(answer | prompt) per pair as a torch tensor (with grad if enabled); tokens.

    Right-padded batch; only the answer tokens (and EOS) count, so the value does not depend on
    the other sequences in the batch.
    """
    import torch

    ids, starts = encode_pairs(tokenizer, prompts, answers)
    device = next(model.parameters()).device
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), tokenizer.pad_token_id, dtype=torch.long)
    attention = torch.zeros((len(ids), width), dtype=torch.long)
    answer_mask = torch.zeros((len(ids), width - 1), dtype=torch.float32)
    for i, (row, start) in enumerate(zip(ids, starts, strict=True)):
        input_ids[i, : len(row)] = torch.tensor(row)
        attention[i, : len(row)] = 1
        answer_mask[i, start - 1 : len(row) - 1] = 1.0
    input_ids, attention, answer_mask = (
        input_ids.to(device),
        attention.to(device),
        answer_mask.to(device),
    )
    logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1].float()
    logp = torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, 1:, None])[..., 0]
    total = (logp * answer_mask).sum(-1)
    if not torch.all(torch.isfinite(total)):
        raise FloatingPointError(
            "the model produced non-finite log-probabilities; lower the learning rate or use "
            "float32 / bfloat16 instead of float16"
        )
    return total, int(answer_mask.sum())


def score_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    answers: Sequence[str],
    batcher: Batcher,
) -> tuple[np.ndarray, int]:
    """:func:`answer_logprobs` without grad, in OOM-safe batches; float64 array and tokens."""
    import torch

    tokens = 0

    def call(start: int, stop: int) -> np.ndarray:
        nonlocal tokens
        with torch.no_grad():
            values, n = answer_logprobs(model, tokenizer, prompts[start:stop], answers[start:stop])
        tokens += n
        return values.double().cpu().numpy()

    parts = batcher.run(call, len(prompts))
    return (np.concatenate(parts) if parts else np.empty(0)), tokens
