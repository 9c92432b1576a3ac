"""A conversation through a tokenizer's own chat template, as the token ids a scoring model reads.

The oracles that score each answer alone (:class:`~ompo_envs.oracles.RewardModelOracle`,
:class:`~ompo_envs.oracles.GeneralPreferenceOracle`) read the state "conversation so far +
answer" as the model was trained to read it: the messages, with the answer as the last
assistant turn, rendered by ``tokenizer.apply_chat_template(..., add_generation_prompt=False)``
and tokenised without adding special tokens again (the template writes them).

A sequence longer than ``max_length`` is refused (``truncation="error"``) or cut from the left
(``truncation="left"``: the start of the conversation, template header included, is dropped;
the answer and the latest turns, which the score is read from, are kept).
"""

from __future__ import annotations

from typing import Any

from ompo_envs.oracles.base import check_count

TRUNCATIONS = ("error", "left")


def check_encoding_settings(max_length: object, truncation: object) -> None:
    """Raise ``ValueError`` unless the ``max_length`` and ``truncation`` settings are valid.

    ``max_length`` is None or an integer >= 1; ``truncation`` one of :data:`TRUNCATIONS`.
    """
    if max_length is not None:
        check_count(max_length, "max_length", minimum=1)
    if not isinstance(truncation, str) or truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {TRUNCATIONS}, got {truncation!r}")


class ChatEncoder:
    """Token ids of conversations through a tokenizer's chat template (see the module doc).

    Args:
        tokenizer: A Hugging Face tokenizer with a ``chat_template``.
        max_length: Longest sequence, in tokens; None uses the tokenizer's ``model_max_length``
            when that is a real limit (below 10⁷), else no limit.
        truncation: ``"error"`` (a longer sequence raises ValueError) or ``"left"``.

    Raises:
        ValueError: The tokenizer has no chat template, or a setting is invalid.
    """

    def __init__(
        self, tokenizer: Any, *, max_length: int | None = None, truncation: str = "error"
    ) -> None:
        check_encoding_settings(max_length, truncation)
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                "the tokenizer has no chat_template: the model's own template says how it reads "
                "a conversation. Set tokenizer.chat_template (a Jinja string) or save it with the "
                "model (tokenizer_config.json / chat_template.jinja)"
            )
        if max_length is None:
            limit = getattr(tokenizer, "model_max_length", None)
            max_length = int(limit) if isinstance(limit, int) and limit < 10**7 else None
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.truncation = truncation

    def text(self, messages: list[dict[str, str]]) -> str:
        """Return the conversation rendered by the chat template (no generation prompt)."""
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=False
        )

    def encode(self, messages: list[dict[str, str]]) -> list[int]:
        """Return the token ids of ``messages`` (truncated or refused beyond ``max_length``).

        Raises:
            ValueError: The sequence is longer than ``max_length`` with ``truncation="error"``,
                or the template renders it to no tokens.
        """
        ids = list(self.tokenizer.encode(self.text(messages), add_special_tokens=False))
        if not ids:
            raise ValueError("the chat template rendered the conversation to no tokens")
        if self.max_length is not None and len(ids) > self.max_length:
            if self.truncation == "error":
                raise ValueError(
                    f"a conversation has {len(ids)} tokens, more than max_length="
                    f"{self.max_length}; shorten it, raise max_length, or pass "
                    "truncation='left' to drop its start"
                )
            ids = ids[-self.max_length :]
        return ids


def pad_right(sequences: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """Return ``(input_ids, attention_mask)`` as long tensors, each row padded on the right.

    Right padding keeps every real token at its unpadded position, so a causal model's
    outputs at real tokens do not depend on the padding, and an encoder's first token stays
    first.
    """
    import torch

    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[row, : len(ids)] = 1
    return input_ids, mask
