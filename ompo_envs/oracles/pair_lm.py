r"""A pair-preference causal LM (RLHFlow pair-preference-model style): one prompt, two answers.

The conversation and both responses go into one prompt (format of RLHFlow's
pair-preference-model-LLaMA3-8B)::

    [CONTEXT] {context} [RESPONSE A] {response_A} [RESPONSE B] {response_B} \n

where ``{context}`` renders each message as ``"\n\n<turn> {role}\n {content}"`` after a leading
``"\n"`` and before a trailing ``"\n\n\n"``. The prompt is wrapped as one user message in the
tokenizer's chat template (when it has one; a leading BOS string is dropped and no generation
prompt is added, as in the reference usage). With ℓ_A, ℓ_B the next-token logits of the tokens
"A" and "B" and τ the temperature, one presentation order gives
p_A(a, b) = σ((ℓ_A − ℓ_B) / τ), and both orders are averaged:

    P(a ≻ b | x) = ½ [p_A(a, b) + 1 − p_A(b, a)],

so P(a ≻ b) + P(b ≻ a) = 1 exactly and a pure position bias cancels.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ompo_envs.oracles.base import (
    OracleError,
    PreferenceOracle,
    check_count,
    check_device,
    check_temperature,
    sigmoid,
)

_INSTALL_HINT = 'install it with: pip install "ompo-envs[torch]"'
PROMPT_TEMPLATE = "[CONTEXT] {context} [RESPONSE A] {response_a} [RESPONSE B] {response_b} \n"
_DTYPES = ("float32", "float16", "bfloat16", "auto")


def _hub_offline() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _torch_dtype(dtype: Any) -> Any:
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be a torch.dtype or one of {_DTYPES}, got {dtype!r}")
    return "auto" if dtype == "auto" else getattr(torch, dtype)


def check_load_arguments(
    cls: type, settings: dict[str, Any], device: str, check_settings: Callable[..., None]
) -> None:
    """Refuse unknown or bad settings of ``cls`` and a bad device, before any weight loads.

    ``settings`` are keyword settings of ``cls`` (its keyword-only parameters); they are checked,
    with the defaults of the ones not given, by ``check_settings``.
    """
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(cls).parameters.items()
        if parameter.kind is parameter.KEYWORD_ONLY
    }
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise TypeError(f"unknown {cls.__name__} settings {unknown}; known: {sorted(defaults)}")
    check_settings(**{**defaults, **settings})
    check_device(device)


def load_causal_lm(
    model: str | Path,
    *,
    device: str = "cpu",
    dtype: Any = "float32",
    local_files_only: bool | None = None,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` of a Hugging Face causal LM from a local directory or hub name.

    :func:`load_pretrained` with ``AutoModelForCausalLM``; see there for the arguments and errors.
    """
    return load_pretrained(
        model,
        auto_class="AutoModelForCausalLM",
        what="a causal LM",
        device=device,
        dtype=dtype,
        local_files_only=local_files_only,
    )


def load_pretrained(
    model: str | Path,
    *,
    auto_class: str,
    what: str,
    device: str = "cpu",
    dtype: Any = "float32",
    local_files_only: bool | None = None,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` with a transformers auto class from a directory or hub name.

    Args:
        model: A local directory written by ``save_pretrained``, or a hub name (``"org/name"``)
            that is already in the local Hugging Face cache or can be downloaded.
        auto_class: Name of the transformers auto class, e.g. ``"AutoModelForCausalLM"`` or
            ``"AutoModelForSequenceClassification"``.
        what: What the model is, for error messages (``"a causal LM"``).
        device: Torch device to move the model to.
        dtype: ``"float32"``, ``"float16"``, ``"bfloat16"``, ``"auto"`` or a torch.dtype.
        local_files_only: Never reach the hub. None means: True when ``HF_HUB_OFFLINE`` or
            ``TRANSFORMERS_OFFLINE`` is set, else False.

    Raises:
        ImportError: transformers / torch are not installed.
        ValueError: The model could not be found locally (offline) or loaded; the message says
            how to point at a local directory instead.
    """
    try:
        import transformers
        from transformers import AutoTokenizer
    except ImportError as error:
        raise ImportError(
            f"LM-based oracles need torch and transformers; {_INSTALL_HINT}"
        ) from error
    torch_dtype = _torch_dtype(dtype)
    offline = _hub_offline() if local_files_only is None else bool(local_files_only)
    path = Path(model).expanduser()
    source = str(path) if path.is_dir() else str(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline)
        loaded = getattr(transformers, auto_class).from_pretrained(
            source, dtype=torch_dtype, local_files_only=offline
        )
    except (OSError, ValueError) as error:
        if path.is_dir():
            raise ValueError(
                f"could not load {what} and tokenizer from the directory {source!r}: {error}. "
                "It must hold config.json, the weights and the tokenizer files written by "
                "save_pretrained"
            ) from error
        where = "offline (HF_HUB_OFFLINE / local_files_only)" if offline else "from the hub"
        raise ValueError(
            f"could not load {source!r} {where}: it is not a local directory and no usable copy "
            f"was found in the Hugging Face cache ({type(error).__name__}: {error}). Download it "
            f"on a machine with hub access, e.g. `huggingface-cli download {source} --local-dir "
            "DIR`, and pass the local directory DIR instead of the hub name"
        ) from error
    loaded.to(device)
    loaded.eval()
    return loaded, tokenizer


def format_context(context: list[dict[str, str]]) -> str:
    """Render a conversation in the RLHFlow pair-preference context format (see module doc)."""
    turns = "".join(f"\n\n<turn> {m['role']}\n {m['content']}" for m in context)
    return f"\n{turns}\n\n\n"


def _check_settings(
    temperature: Any, use_chat_template: Any, max_length: Any, batch_size: Any, cache_size: Any
) -> None:
    check_temperature(temperature)
    if not isinstance(use_chat_template, bool):
        raise TypeError(f"use_chat_template must be a bool, got {use_chat_template!r}")
    if max_length is not None:
        check_count(max_length, "max_length", minimum=1)
    check_count(batch_size, "batch_size", minimum=1)
    check_count(cache_size, "cache_size", minimum=0)


class PairPreferenceLM(PreferenceOracle):
    """P(a ≻ b | x) from the "A"/"B" next-token logits of a pair-preference causal LM.

    See the module docstring for the prompt and the rule. Both orders of every pair are scored in
    one padded forward pass (left padding with explicit position ids; only the last position's
    logits are computed).

    Args:
        model: A loaded ``transformers`` causal LM (in eval mode, on its device).
        tokenizer: Its tokenizer; "A" and "B" must each encode to a single token.
        temperature: τ > 0 dividing the logit gap ℓ_A − ℓ_B (1 in the reference usage).
        use_chat_template: Wrap the prompt as a user message in the tokenizer's chat template
            (if it has one).
        max_length: Longest tokenised prompt accepted; longer ones raise ValueError. None uses
            the tokenizer's ``model_max_length`` when that is a real limit.
        batch_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
        cache_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        temperature: float = 1.0,
        use_chat_template: bool = True,
        max_length: int | None = None,
        batch_size: int = 8,
        cache_size: int = 0,
    ) -> None:
        _check_settings(temperature, use_chat_template, max_length, batch_size, cache_size)
        super().__init__(batch_size=batch_size, cache_size=cache_size)
        self.model = model
        self.tokenizer = tokenizer
        self.temperature = float(temperature)
        self.use_chat_template = use_chat_template
        if max_length is None:
            limit = getattr(tokenizer, "model_max_length", None)
            max_length = int(limit) if isinstance(limit, int) and limit < 10**7 else None
        self.max_length = max_length
        ids = []
        for letter in ("A", "B"):
            encoded = tokenizer.encode(letter, add_special_tokens=False)
            if len(encoded) != 1:
                raise ValueError(
                    f"the tokenizer encodes {letter!r} as {len(encoded)} tokens {encoded}; a "
                    "pair-preference LM needs 'A' and 'B' to be single tokens"
                )
            ids.append(encoded[0])
        self.token_id_a, self.token_id_b = ids
        pad = tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else (tokenizer.eos_token_id or 0))

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        *,
        device: str = "cpu",
        dtype: Any = "float32",
        local_files_only: bool | None = None,
        **settings: Any,
    ) -> PairPreferenceLM:
        """Load a pair-preference LM (e.g. ``RLHFlow/pair-preference-model-LLaMA3-8B``).

        Args:
            model: Local directory or hub name; see :func:`load_causal_lm`.
            device: Torch device, e.g. ``"cuda"``.
            dtype: Weight dtype, e.g. ``"bfloat16"`` on GPU.
            local_files_only: Never reach the hub (defaults to the HF offline env vars).
            **settings: Keyword settings of :class:`PairPreferenceLM`, checked before the load.
        """
        check_load_arguments(cls, settings, device, _check_settings)
        lm, tokenizer = load_causal_lm(
            model, device=device, dtype=dtype, local_files_only=local_files_only
        )
        return cls(lm, tokenizer, **settings)

    def prompt(self, context: list[dict[str, str]], response_a: str, response_b: str) -> str:
        """Return the full text fed to the model for one presentation order."""
        text = PROMPT_TEMPLATE.format(
            context=format_context(context), response_a=response_a, response_b=response_b
        )
        if self.use_chat_template and getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=False
            )
            bos = self.tokenizer.bos_token
            if bos and text.startswith(bos):
                text = text[len(bos) :]
        return text

    def _ordered_logits(
        self, contexts: list[list[dict[str, str]]], first: list[str], second: list[str]
    ) -> np.ndarray:
        """Return (ℓ_A − ℓ_B) / τ per item: the logit that the first-presented answer wins."""
        import torch

        sequences = []
        for context, a, b in zip(contexts, first, second, strict=True):
            ids = self.tokenizer.encode(self.prompt(context, a, b), add_special_tokens=False)
            if self.max_length is not None and len(ids) > self.max_length:
                raise ValueError(
                    f"a pair-preference prompt has {len(ids)} tokens, more than max_length="
                    f"{self.max_length}; shorten the context or answers, or raise max_length"
                )
            sequences.append(ids)
        width = max(len(s) for s in sequences)
        device = next(self.model.parameters()).device
        input_ids = torch.full((len(sequences), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, ids in enumerate(sequences):  # left padding: the last column is the next token
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            mask[row, width - len(ids) :] = 1
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = self.model(
                input_ids=input_ids.to(device),
                attention_mask=mask.to(device),
                position_ids=positions.to(device),
                logits_to_keep=1,
            ).logits[:, -1, :]
        gap = (logits[:, self.token_id_a] - logits[:, self.token_id_b]).float().cpu().numpy()
        return gap.astype(np.float64) / self.temperature

    def _preference_batch(
        self, contexts: list[list[dict[str, str]]], answers_a: list[str], answers_b: list[str]
    ) -> np.ndarray:
        n = len(contexts)
        gap = np.asarray(
            self._ordered_logits(contexts + contexts, answers_a + answers_b, answers_b + answers_a)
        )
        if gap.shape != (2 * n,) or not np.all(np.isfinite(gap)):
            raise OracleError(f"the pair-preference LM returned unusable logits {gap.tolist()}")
        p_first_wins = sigmoid(gap)
        return 0.5 * (p_first_wins[:n] + 1.0 - p_first_wins[n:])
