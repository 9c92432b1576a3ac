"""Batched sequence log-probabilities log π(a | s) = Σ_i log π(a_i | s, a_<i), masked to the answer.

Every sequence is ``prompt_ids + answer_ids``; only the answer's tokens are summed. Sequences are
**right**-padded and given explicit position ids 0..L−1, so under causal attention a sequence's
logits never see its padding or the other rows: the result is the same whatever the batch
composition and padding (up to float32 round-off, ≤ 1e-5; tested). The log-softmax is taken in
float32 on the answer positions only, so bf16 weights lose no precision in the sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["model_device", "sequence_logprobs"]


def sequence_logprobs(
    model: Any,
    prompts: Sequence[Sequence[int]],
    answers: Sequence[Sequence[int]],
    *,
    pad_id: int,
    batch_size: int = 16,
) -> Any:
    """Return log π(answer | prompt) for each pair, a float32 tensor of shape (n,).

    Gradients flow when called under grad mode (training); wrap in ``torch.no_grad()`` to score.
    Rows are grouped by length into micro-batches of ``batch_size`` (fewer pad tokens); the output
    keeps the input order.

    Args:
        model: A causal LM returning ``.logits`` of shape (B, L, V).
        prompts: Token ids of each prompt (non-empty).
        answers: Token ids of each answer (non-empty: at least the end-of-answer token).
        pad_id: Id written into padding positions (never attended to by real tokens).
        batch_size: Rows per forward pass.

    Raises:
        ValueError: Lengths differ, a prompt or answer is empty, or ``batch_size`` < 1.
    """
    import torch

    if len(prompts) != len(answers):
        raise ValueError(f"got {len(prompts)} prompts but {len(answers)} answers")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    for i, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        if len(prompt) == 0 or len(answer) == 0:
            raise ValueError(
                f"row {i} has an empty prompt or answer; every answer has at least its "
                "end-of-answer token"
            )
    device = model_device(model)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]) + len(answers[i]))
    pieces: list[Any] = []
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        pieces.append(
            _batch_logprobs(
                model, [prompts[i] for i in rows], [answers[i] for i in rows], pad_id, device
            )
        )
    if not pieces:
        return torch.zeros(0, dtype=torch.float32, device=device)
    flat = torch.cat(pieces)
    inverse = torch.empty(len(order), dtype=torch.long, device=device)
    inverse[torch.tensor(order, device=device)] = torch.arange(len(order), device=device)
    return flat[inverse]


def _batch_logprobs(
    model: Any, prompts: list[Sequence[int]], answers: list[Sequence[int]], pad_id: int, device: Any
) -> Any:
    import torch

    lengths = [len(p) + len(a) for p, a in zip(prompts, answers, strict=True)]
    width = max(lengths)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    # target[b, j] is the token predicted at position j (i.e. input j + 1); -1 marks "not scored".
    target = torch.full((len(prompts), width), -1, dtype=torch.long)
    for row, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        sequence = torch.tensor([*prompt, *answer], dtype=torch.long)
        input_ids[row, : len(sequence)] = sequence
        attention[row, : len(sequence)] = 1
        target[row, len(prompt) - 1 : len(sequence) - 1] = torch.tensor(answer, dtype=torch.long)
    input_ids, attention, target = input_ids.to(device), attention.to(device), target.to(device)
    positions = torch.arange(width, device=device).unsqueeze(0).expand(len(prompts), -1)
    logits = model(input_ids=input_ids, attention_mask=attention, position_ids=positions).logits
    scored = target >= 0
    rows = scored.nonzero()[:, 0]
    token_logits = logits[scored].float()
    token_logprobs = token_logits.log_softmax(-1).gather(-1, target[scored].unsqueeze(-1))[:, 0]
    out = torch.zeros(len(prompts), dtype=torch.float32, device=device)
    return out.index_add(0, rows, token_logprobs)


def model_device(model: Any) -> Any:
    """Return the device of the model's first parameter (CPU for a model without any)."""
    import torch

    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")
