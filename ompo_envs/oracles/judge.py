"""An LLM judge as a preference oracle: rate each answer 1–10, compare the two ratings.

Each answer y to a conversation x is rated alone with the MT-Bench-101 judge prompt (shipped as
package data, ``ompo_envs/data/mt_bench_101/judge_prompts.json``, Apache-2.0): the system prompt is
``judge_prefix + criteria + score_format`` and the user message shows the dialogue with y as the
last assistant turn. The reply's rating s(x, y) ∈ [1, 10] is parsed from ``[[7]]`` or
``Rating: 7``. The preference is

    P(a ≻ b | x) = σ((s(x, a) − s(x, b)) / τ),

so equal ratings give exactly ½ and P(a ≻ b) + P(b ≻ a) = 1. With τ = 1 a one-point gap gives
0.73 and a three-point gap 0.95. The judge is reached through a ``chat(messages) -> reply``
callable: :meth:`LLMJudge.from_endpoint` (an OpenAI-compatible ``/chat/completions`` server through
:class:`ompo_envs.openai_client.OpenAIChatClient`: retries with back-off, one error type, optional
disk cache) or :meth:`LLMJudge.from_pretrained` (a local Hugging Face causal LM).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ompo_envs.openai_client import EndpointError, OpenAIChatClient
from ompo_envs.oracles.base import (
    LRUCache,
    OracleError,
    PreferenceOracle,
    check_temperature,
    sigmoid,
)

ChatFunction = Callable[[list[dict[str, str]]], str]

# A number token is read whole (digits, decimals, exponent) so that "1e9" is 1e9, never 1.
_NUMBER = r"([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?!\w|\.\d)"
# Linear time: no two adjacent quantifiers can match the same characters (each optional part
# starts with a character the whitespace before it cannot match), so nothing backtracks.
_RATING_PATTERNS = (
    re.compile(r"\[\[\s*" + _NUMBER + r"\s*\]\]"),
    re.compile(r"rating\s*(?:[:=]\s*)?(?:\[{1,2}\s*)?" + _NUMBER, re.IGNORECASE),
)


@cache
def load_judge_prompts() -> dict[str, Any]:
    """Return the MT-Bench-101 judge prompts shipped with the package (read once)."""
    path = resources.files("ompo_envs") / "data" / "mt_bench_101" / "judge_prompts.json"
    return json.loads(path.read_text(encoding="utf-8"))


def parse_rating(reply: str) -> float:
    """Return the 1–10 rating in a judge reply: the first ``[[n]]``, else the first ``Rating: n``.

    Raises:
        OracleError: No rating is found, or it lies outside [1, 10]; the message quotes the reply.
    """
    for pattern in _RATING_PATTERNS:
        match = pattern.search(reply)
        if match:
            value = float(match.group(1))
            if not 1.0 <= value <= 10.0:
                raise OracleError(f"the judge gave the rating {value}, outside 1–10, in {reply!r}")
            return value
    shown = reply if len(reply) <= 500 else reply[:500] + "…"
    raise OracleError(
        f"could not parse a rating ('[[n]]' or 'Rating: n') from the judge reply {shown!r}"
    )


def format_dialogue(context: list[dict[str, str]]) -> str:
    """Render the context as MT-Bench-101's ``{history}``: Human/Assistant turns, open at the end.

    System messages are not shown to the judge. The context must end with the user turn that the
    rated answer replies to.
    """
    if context[-1]["role"] != "user":
        raise ValueError(
            "the context must end with the user turn being answered, got a final "
            f"{context[-1]['role']!r} message"
        )
    parts = []
    for message in context:
        if message["role"] == "user":
            parts.append(f"\n\n Human: {message['content']}")
        elif message["role"] == "assistant":
            parts.append(f"\n\nAssistant: {message['content']}")
    return "".join(parts) + "\n\nAssistant: "


def judge_messages(
    criteria: str,
    context: list[dict[str, str]],
    prediction: str,
    *,
    reference: list[dict[str, str]] | None = None,
) -> list[dict[str, str]]:
    """Return MT-Bench-101's judge request: the system prompt and the dialogue to rate.

    The system prompt is ``judge_prefix + criteria + score_format``.

    The user message is ``user_template`` with ``{history}`` = :func:`format_dialogue` of
    ``context`` and ``{prediction}`` the rated answer; with a ``reference`` (MT-Bench-101 shows one
    for MR and GR) it is ``user_template_ref`` and ``{ref_answer}`` is ``str()`` of the reference
    dialogue's list of ``{"role", "content"}`` dicts, as the official code renders it.

    Args:
        criteria: The task's criteria text (``load_judge_prompts()["task_prompts"][task]``).
        context: The conversation the answer replies to (ends with the user turn).
        prediction: The rated answer.
        reference: The dataset's dialogue up to and including the golden reply to the last turn.
    """
    prompts = load_judge_prompts()
    history = format_dialogue(context)
    if reference is None:
        user = prompts["user_template"].format(history=history, prediction=prediction)
    else:
        user = prompts["user_template_ref"].format(
            history=history, prediction=prediction, ref_answer=str(reference)
        )
    return [
        {"role": "system", "content": prompts["judge_prefix"] + criteria + prompts["score_format"]},
        {"role": "user", "content": user},
    ]


class LocalChatGenerator:
    """Generate a judge reply with a local Hugging Face causal LM (greedy by default).

    Args:
        model: A loaded causal LM.
        tokenizer: Its tokenizer; its chat template is used when it has one, else the messages
            are joined as ``role: content`` lines followed by ``assistant:``.
        max_new_tokens: Cap on the reply length.
        do_sample: Sample instead of greedy decoding.
    """

    def __init__(
        self, model: Any, tokenizer: Any, *, max_new_tokens: int = 512, do_sample: bool = False
    ) -> None:
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
            raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.do_sample = do_sample

    def __call__(self, messages: list[dict[str, str]]) -> str:
        """Return the model's reply to ``messages``."""
        import torch

        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            encoded = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)
        else:
            text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
            encoded = self.tokenizer(text, return_tensors="pt")
        device = next(self.model.parameters()).device
        encoded = {k: v.to(device) for k, v in encoded.items()}
        pad = self.tokenizer.pad_token_id
        with torch.inference_mode():
            output = self.model.generate(
                **encoded,
                max_new_tokens=self.max_new_tokens,
                do_sample=self.do_sample,
                pad_token_id=pad if pad is not None else self.tokenizer.eos_token_id,
            )
        new_tokens = output[0, encoded["input_ids"].shape[1] :]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True)


class LLMJudge(PreferenceOracle):
    """P(a ≻ b | x) = σ((s(x, a) − s(x, b)) / τ) from 1–10 ratings by an LLM judge.

    See the module docstring for the prompt and the rule. Each distinct (context, answer) is rated
    once and its rating kept (``rating_cache_size``), so the n(n − 1)/2 pairs of n answers cost n
    judge calls.

    Args:
        chat: ``chat(messages) -> reply``: an
            :class:`~ompo_envs.openai_client.OpenAIChatClient`, a :class:`LocalChatGenerator`
            or any callable (e.g. a fake in tests).
        task: MT-Bench-101 task code whose criteria the judge applies (``"CC"``, content
            confusion, asks for an accurate answer to the current question; see
            ``load_judge_prompts()["task_prompts"]`` for all 13). No reference solution is
            shown, also for MR/GR.
        criteria: Custom criteria text replacing the task's (kept between the shared prefix and
            the score format).
        temperature: τ > 0 dividing the rating gap.
        concurrency: Judge calls in flight at once (threads); keep 1 for a local model.
        rating_cache_size: Ratings kept per (context, answer); 0 disables it.
        batch_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
        cache_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
    """

    def __init__(
        self,
        chat: ChatFunction,
        *,
        task: str = "CC",
        criteria: str | None = None,
        temperature: float = 1.0,
        concurrency: int = 1,
        rating_cache_size: int = 4096,
        batch_size: int = 16,
        cache_size: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, cache_size=cache_size)
        if not callable(chat):
            raise TypeError(f"chat must be a callable messages -> reply text, got {chat!r}")
        prompts = load_judge_prompts()
        if criteria is None:
            if task not in prompts["task_prompts"]:
                raise ValueError(
                    f"task must be an MT-Bench-101 task code {sorted(prompts['task_prompts'])}, "
                    f"got {task!r}; or pass criteria=<your own criteria text>"
                )
            criteria = prompts["task_prompts"][task]
        elif not isinstance(criteria, str) or not criteria.strip():
            raise ValueError("criteria must be a non-empty string")
        check_temperature(temperature)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        self.chat = chat
        self.task = task
        self.criteria = criteria
        self.system_prompt = prompts["judge_prefix"] + criteria + prompts["score_format"]
        self.temperature = float(temperature)
        self.concurrency = concurrency
        self.rating_cache_size = rating_cache_size
        self._ratings: LRUCache[float] = LRUCache(rating_cache_size, "rating_cache_size")

    @classmethod
    def from_endpoint(
        cls,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        sampling_temperature: float = 0.0,
        max_tokens: int = 1024,
        timeout_s: float = 60.0,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        cache_path: str | Path | None = None,
        concurrency: int = 1,
        **settings: Any,
    ) -> LLMJudge:
        """Judge through an OpenAI-compatible chat-completions endpoint.

        The endpoint is reached with :class:`ompo_envs.openai_client.OpenAIChatClient`
        (retries with back-off, one error type, optional disk cache); every setting is checked
        here, before any request.

        Args:
            base_url: Endpoint root, e.g. ``"https://api.openai.com/v1"``.
            model: Judge model name.
            api_key_env: Environment variable with the API key; None for none.
            sampling_temperature: The judge's own sampling temperature.
            max_tokens: Cap on the judge's reply.
            timeout_s: Per-request time-out.
            max_attempts: Requests per rating before giving up.
            backoff_s: First back-off wait (doubles per retry, with jitter).
            max_backoff_s: Longest wait between attempts.
            cache_path: SQLite file of a persistent reply cache (None: no disk cache).
            concurrency: Judge requests in flight at once.
            **settings: Further keyword settings of :class:`LLMJudge`.
        """
        client = OpenAIChatClient(
            base_url,
            model,
            api_key_env=api_key_env,
            temperature=sampling_temperature,
            max_tokens=max_tokens,
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            concurrency=concurrency,
            cache_path=None if cache_path is None else str(cache_path),
        )
        return cls(client, concurrency=concurrency, **settings)

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        *,
        device: str = "cpu",
        dtype: Any = "float32",
        local_files_only: bool | None = None,
        max_new_tokens: int = 512,
        **settings: Any,
    ) -> LLMJudge:
        """Judge with a local Hugging Face causal LM (directory or cached hub name).

        Args:
            model: See :func:`ompo_envs.oracles.pair_lm.load_causal_lm`.
            device: Torch device.
            dtype: Weight dtype.
            local_files_only: Never reach the hub (defaults to the HF offline env vars).
            max_new_tokens: Cap on the judge's reply.
            **settings: Keyword settings of :class:`LLMJudge`.
        """
        from ompo_envs.oracles.pair_lm import load_causal_lm

        lm, tokenizer = load_causal_lm(
            model, device=device, dtype=dtype, local_files_only=local_files_only
        )
        return cls(LocalChatGenerator(lm, tokenizer, max_new_tokens=max_new_tokens), **settings)

    def judge_messages(self, context: list[dict[str, str]], answer: str) -> list[dict[str, str]]:
        """Return the system + user messages that ask the judge to rate ``answer``."""
        return judge_messages(self.criteria, context, answer)

    def rate(self, contexts: list[list[dict[str, str]]], answers: list[str]) -> np.ndarray:
        """Return the judge's 1–10 rating of each answer, calling the judge once per new pair.

        Every rating is asked for, and every one received is kept, before an error is raised.

        Raises:
            OracleError: The judge could not be reached (the message names the endpoint and
                cause) or a reply has no valid rating (the message quotes it).
        """
        keys = [
            json.dumps([c, a], ensure_ascii=False) for c, a in zip(contexts, answers, strict=True)
        ]
        todo: dict[str, list[dict[str, str]]] = {}
        for key, context, answer in zip(keys, contexts, answers, strict=True):
            if key not in self._ratings and key not in todo:
                todo[key] = self.judge_messages(context, answer)
        fresh: dict[str, float] = {}
        failed: dict[str, Exception] = {}

        def ask(key: str) -> None:
            try:
                reply = self.chat(todo[key])
                if not isinstance(reply, str):
                    raise OracleError(f"the judge returned {type(reply).__name__}, not text")
                fresh[key] = parse_rating(reply)
            except (OracleError, EndpointError) as error:
                failed[key] = error

        if self.concurrency == 1 or len(todo) <= 1:
            for key in todo:
                ask(key)
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo))) as pool:
                list(pool.map(ask, todo))
        out = None
        if not failed:
            out = np.array([fresh[k] if k in fresh else self._ratings.peek(k) for k in keys])
        self._remember(keys, fresh)
        if failed:
            error = failed[next(k for k in todo if k in failed)]
            if isinstance(error, OracleError):
                raise error
            raise OracleError(
                f"the LLM judge failed ({len(failed)} of {len(todo)}): {error}"
            ) from error
        return out

    def _remember(self, keys: list[str], fresh: dict[str, float]) -> None:
        for key in keys:
            if key in fresh:
                self._ratings.put(key, fresh[key])
            else:
                self._ratings.touch(key)

    def _preference_batch(
        self, contexts: list[list[dict[str, str]]], answers_a: list[str], answers_b: list[str]
    ) -> np.ndarray:
        ratings = self.rate(contexts + contexts, answers_a + answers_b)
        n = len(contexts)
        return sigmoid((ratings[:n] - ratings[n:]) / self.temperature)
