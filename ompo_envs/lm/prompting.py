"""From a player's conversation to token ids: the chat template, the answer, the context limit.

A text env hands each player its own conversation in ``infos[agent]["messages"]`` (a list of
``{"role", "content"}`` dicts that ends with the turn to answer). :class:`ChatFormat` turns it into

* the **prompt**: the tokenizer's chat template applied with the generation prompt (the model's
  own format), or :data:`PLAIN_CHAT_TEMPLATE` when the tokenizer has none;
* the **answer**: ``tokenize(answer, add_special_tokens=False) + [end-of-answer]``, the tokens a
  complete answer consists of (TRL tokenizes completions the same way). The end-of-answer token
  is the first of the generation config's ``eos_token_id`` (the token generation stops at, e.g.
  ``<|im_end|>`` or ``<|eot_id|>``), else the tokenizer's EOS.

An answer is identified by its *text*: log π(a | s) is the probability of its tokenization
followed by the end-of-answer token, whoever produced the text (a sample, a stored answer of the
previous iteration, a dataset). Both halves are tokenized separately, so the prompt ids are a
prefix of every scored sequence, exactly as in generation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

__all__ = ["PLAIN_CHAT_TEMPLATE", "ChatFormat", "context_length", "messages_key"]

#: The template used when a tokenizer has none: "User: ...\n\nAssistant: ...", BOS first if any.
PLAIN_CHAT_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}System: "
    "{% elif message['role'] == 'user' %}User: "
    "{% else %}Assistant: {% endif %}"
    "{{ message['content'] }}\n\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant: {% endif %}"
)

#: Most prompts (and, separately, answers) whose token ids are cached per :class:`ChatFormat`.
PROMPT_CACHE_SIZE = 4096

#: A conversation as a hashable key: ``((role, content), ...)``.
MessagesKey = tuple[tuple[str, str], ...]


def messages_key(messages: Any, *, where: str = "messages") -> MessagesKey:
    """Return a conversation as a hashable ``((role, content), ...)`` tuple, checking its shape.

    Raises:
        TypeError: ``messages`` is not a list of ``{"role": str, "content": str}`` dicts.
        ValueError: ``messages`` is empty.
    """
    if isinstance(messages, str) or not isinstance(messages, Sequence):
        raise TypeError(
            f"{where} must be a list of {{'role': ..., 'content': ...}} dicts (a text env's "
            f"infos[agent]['messages']), got {type(messages).__name__}"
        )
    if len(messages) == 0:
        raise ValueError(f"{where} is empty: a prompt needs at least the turn to answer")
    key = []
    for i, message in enumerate(messages):
        if isinstance(message, Mapping):
            role, content = message.get("role"), message.get("content")
        elif isinstance(message, tuple) and len(message) == 2:
            role, content = message
        else:
            raise TypeError(f"{where}[{i}] must be a {{'role', 'content'}} dict, got {message!r}")
        if not isinstance(role, str) or not isinstance(content, str):
            raise TypeError(f"{where}[{i}] needs string 'role' and 'content', got {message!r}")
        key.append((role, content))
    return tuple(key)


class ChatFormat:
    """Token ids of prompts and answers for one tokenizer (see the module docstring).

    Args:
        tokenizer: A Hugging Face tokenizer.
        chat_template: A Jinja chat template overriding the tokenizer's; ``None`` uses the
            tokenizer's own, or :data:`PLAIN_CHAT_TEMPLATE` when it has none.
        end_of_answer_id: Token appended to every answer; ``None`` picks it from
            ``generation_eos`` or the tokenizer (see the module docstring).
        generation_eos: The model's ``generation_config.eos_token_id`` (an int or a list).
        context_length: Longest prompt + answer in tokens; ``None`` means no limit known.

    Raises:
        TypeError: ``tokenizer`` is missing or is not a tokenizer.
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        chat_template: str | None = None,
        end_of_answer_id: int | None = None,
        generation_eos: int | Sequence[int] | None = None,
        context_length: int | None = None,
    ) -> None:
        if tokenizer is None or not callable(getattr(tokenizer, "apply_chat_template", None)):
            raise TypeError(
                "a language-model policy needs the model's tokenizer (a transformers "
                f"PreTrainedTokenizer), got {type(tokenizer).__name__}; load it with "
                "AutoTokenizer.from_pretrained(path) or save it next to the model"
            )
        self.tokenizer = tokenizer
        own = getattr(tokenizer, "chat_template", None)
        self.chat_template: str = chat_template or own or PLAIN_CHAT_TEMPLATE
        self.uses_plain_template = self.chat_template == PLAIN_CHAT_TEMPLATE
        self.end_of_answer_id: int | None = (
            end_of_answer_id
            if end_of_answer_id is not None
            else _pick_eos(tokenizer, generation_eos)
        )
        self.context_length = context_length
        self._prompt_ids = lru_cache(maxsize=PROMPT_CACHE_SIZE)(self._encode_prompt)
        self._answer_ids = lru_cache(maxsize=PROMPT_CACHE_SIZE)(self._encode_answer)

    def prompt_text(self, messages: Any) -> str:
        """Return the prompt string: the chat template with the generation prompt."""
        key = messages_key(messages)
        return self.tokenizer.apply_chat_template(
            [{"role": role, "content": content} for role, content in key],
            chat_template=self.chat_template,
            add_generation_prompt=True,
            tokenize=False,
        )

    def prompt_ids(self, messages: Any) -> list[int]:
        """Return the prompt's token ids (cached per conversation)."""
        return list(self._prompt_ids(messages_key(messages)))

    def answer_ids(self, answer: str) -> list[int]:
        """Return the answer's token ids followed by the end-of-answer token."""
        if not isinstance(answer, str):
            raise TypeError(f"an answer must be a string, got {type(answer).__name__}")
        return list(self._answer_ids(answer))

    def check_length(self, num_prompt: int, num_answer: int, what: str) -> None:
        """Raise ``ValueError`` if ``num_prompt + num_answer`` tokens exceed the context."""
        if self.context_length is not None and num_prompt + num_answer > self.context_length:
            raise ValueError(
                f"{what}: the prompt has {num_prompt} tokens and the answer {num_answer}, "
                f"{num_prompt + num_answer} in all, more than the model's context of "
                f"{self.context_length} tokens; shorten the conversation (e.g. fewer turns), "
                "lower max_new_tokens, or use a model with a longer context"
            )

    def _encode_answer(self, answer: str) -> tuple[int, ...]:
        ids = tuple(self.tokenizer(answer, add_special_tokens=False)["input_ids"])
        return ids if self.end_of_answer_id is None else (*ids, self.end_of_answer_id)

    def _encode_prompt(self, key: MessagesKey) -> tuple[int, ...]:
        text = self.prompt_text(key)
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])


def _pick_eos(tokenizer: Any, generation_eos: int | Sequence[int] | None) -> int | None:
    if isinstance(generation_eos, int):
        return generation_eos
    if isinstance(generation_eos, Sequence) and len(generation_eos) > 0:
        return int(generation_eos[0])
    eos = getattr(tokenizer, "eos_token_id", None)
    return None if eos is None else int(eos)


def stop_token_ids(tokenizer: Any, generation_eos: int | Sequence[int] | None) -> list[int]:
    """Return every token id that ends an answer (the generation config's EOS ids + the EOS)."""
    ids: list[int] = []
    if isinstance(generation_eos, int):
        ids.append(generation_eos)
    elif isinstance(generation_eos, Sequence):
        ids.extend(int(i) for i in generation_eos)
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is not None and int(eos) not in ids:
        ids.append(int(eos))
    return ids


def context_length(model: Any, tokenizer: Any) -> int | None:
    """Return the longest prompt + answer in tokens (``None`` when it is not known).

    The smaller of the model's ``max_position_embeddings`` and the tokenizer's
    ``model_max_length``, ignoring the huge sentinel tokenizers use for "unknown".
    """
    limits = [
        getattr(getattr(model, "config", None), "max_position_embeddings", None),
        getattr(tokenizer, "model_max_length", None),
    ]
    usable = [int(x) for x in limits if isinstance(x, int) and 0 < x < 10**7]
    return min(usable) if usable else None
