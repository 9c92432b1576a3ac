r"""A general preference model (GPM, preference embeddings) as a preference oracle.

Zhang et al. (2024), "Beyond Bradley-Terry Models: A General Preference Model for Language
Model Alignment" (arXiv:2410.02197), embed each state — conversation x answered by y — into
v(x, y) ∈ ℝ^{2k} and compare two answers with a skew-symmetric bilinear form::

    R(x) = blockdiag(λ₁(x) J, …, λ_k(x) J),     J = [[0, −1], [1, 0]],
    s(a ≻ b | x) = ⟨R(x) v(x, a), v(x, b)⟩ = Σᵢ λᵢ(x) (a₂ᵢ b₂ᵢ₊₁ − a₂ᵢ₊₁ b₂ᵢ),
    P(a ≻ b | x) = σ(s(a ≻ b | x) / τ).

R is skew-symmetric (Rᵀ = −R), so s(b ≻ a) = −s(a ≻ b) and s(a ≻ a) = 0: P(a ≻ b) + P(b ≻ a) = 1
and P(a ≻ a) = ½ for any embedding. Unlike a reward model it can express cycles: three
answers whose embeddings lie 120° apart in one rotation plane beat each other in a circle
(rock-paper-scissors), which no Bradley–Terry score can (tested).

* v(x, y) = W_v h / ‖W_v h‖ (``normalize=True``): h is the backbone's last hidden state at the
  last token of the conversation + answer rendered by the tokenizer's chat template
  (:mod:`ompo_envs.oracles.chat_encoding`), W_v the ``value_head`` (2k × hidden).
* λ(x) = softmax(W_p h_x) with a ``prompt_head`` W_p (k × hidden) read at the last token of the
  context alone (its own forward row), else λᵢ = 1.
* τ = ``temperature`` (0.1, the default of the GPM code's high-dimensional loss).

Facts followed from the public GPM code (github.com/general-preference/general-preference-model,
``gpm_example_usage.py`` and ``general_preference/models``): the heads are bias-free
``nn.Linear`` layers named ``value_head`` (out 2k) and ``prompt_head`` (out k) saved in the same
state dict as the backbone (under its ``base_model_prefix``, e.g. ``model.``); the embedding is
read at the last attended token and L2-normalised in the example pipeline; R's blocks are
[[0, −λᵢ], [λᵢ, 0]] with λ = softmax(prompt_head(h_prompt)); the score is ⟨R v_a, v_b⟩. Not
followed: the example pipeline overwrites each sequence's last token with the EOS id, and one
training variant scales the softmax (k · softmax(W_p h / √hidden)); this oracle does neither.
The example reads h_prompt inside the answer's sequence at the end of the *first* message; this
oracle reads it from a row of the whole context alone (the same state for a one-turn context
when the templated prompt is a token prefix of the templated conversation).
It was not checked against a downloaded public checkpoint (no hub access here).

Model format (a local folder): ``config.json`` of a transformers backbone loadable with
``AutoModel`` (e.g. ``LlamaConfig``), the tokenizer files with a chat template, and the
weights — ``model.safetensors`` or shards listed in ``model.safetensors.index.json`` — holding
the backbone (with or without its prefix) and ``value_head.weight`` [2k, hidden] and,
optionally, ``prompt_head.weight`` [k, hidden].
``ompo_envs.oracles.tiny_models.build_tiny_general_preference_model`` writes one.

Cost: one forward row per distinct (context, answer) in a call, plus one per distinct context
with a prompt head.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ompo_envs.oracles.base import (
    Conversation,
    OracleError,
    check_count,
    check_temperature,
    sigmoid,
    validate_conversation,
)
from ompo_envs.oracles.chat_encoding import ChatEncoder, check_encoding_settings, pad_right
from ompo_envs.oracles.pair_lm import _torch_dtype, check_load_arguments, load_pretrained
from ompo_envs.oracles.pointwise import PointwiseOracle

VALUE_HEAD = "value_head.weight"
PROMPT_HEAD = "prompt_head.weight"


def preference_scores(
    embeddings_a: np.ndarray, embeddings_b: np.ndarray, scales: np.ndarray | None = None
) -> np.ndarray:
    """Return s = ⟨R v_a, v_b⟩ = Σᵢ λᵢ (a₂ᵢ b₂ᵢ₊₁ − a₂ᵢ₊₁ b₂ᵢ) row by row (module doc).

    Args:
        embeddings_a: v_a, shape (n, 2k).
        embeddings_b: v_b, shape (n, 2k).
        scales: λ, shape (n, k); None means λᵢ = 1.

    Raises:
        ValueError: The shapes do not match or the embedding dimension is odd.
    """
    a = np.asarray(embeddings_a, dtype=np.float64)
    b = np.asarray(embeddings_b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape or a.shape[1] % 2:
        raise ValueError(f"embeddings must both have shape (n, 2k), got {a.shape} and {b.shape}")
    rotations = a[:, 0::2] * b[:, 1::2] - a[:, 1::2] * b[:, 0::2]
    if scales is None:
        return rotations.sum(axis=1)
    lam = np.asarray(scales, dtype=np.float64)
    if lam.shape != rotations.shape:
        raise ValueError(f"scales must have shape {rotations.shape}, got {lam.shape}")
    return (lam * rotations).sum(axis=1)


def skew_symmetric_operator(scales: Sequence[float]) -> np.ndarray:
    """Return R = blockdiag(λ₁ J, …, λ_k J), J = [[0, −1], [1, 0]], shape (2k, 2k)."""
    lam = np.asarray(scales, dtype=np.float64).reshape(-1)
    operator = np.zeros((2 * lam.size, 2 * lam.size))
    for i, value in enumerate(lam):
        operator[2 * i, 2 * i + 1] = -value
        operator[2 * i + 1, 2 * i] = value
    return operator


def read_heads(directory: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Return ``(value_head, prompt_head or None)`` from a GPM folder's safetensors weights.

    Raises:
        ValueError: No safetensors weights, or no ``value_head.weight`` in them.
    """
    from safetensors import safe_open

    folder = Path(directory)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        files = {name: folder / weight_map[name] for name in (VALUE_HEAD, PROMPT_HEAD)}
        files = {name: path for name, path in files.items() if name in weight_map}
    elif (folder / "model.safetensors").is_file():
        files = {name: folder / "model.safetensors" for name in (VALUE_HEAD, PROMPT_HEAD)}
    else:
        raise ValueError(
            f"{str(folder)!r} has no model.safetensors or model.safetensors.index.json: a "
            "general preference model folder keeps its weights in safetensors files"
        )
    heads: dict[str, np.ndarray] = {}
    for name, path in files.items():
        with safe_open(str(path), framework="pt") as handle:
            if name in handle.keys():
                heads[name] = handle.get_tensor(name).float().numpy()
    if VALUE_HEAD not in heads:
        raise ValueError(
            f"{str(folder)!r} holds no {VALUE_HEAD!r} tensor: a general preference model "
            "stores its embedding head (2k × hidden) under that name"
        )
    return heads[VALUE_HEAD], heads.get(PROMPT_HEAD)


def _check_settings(
    temperature: Any,
    normalize: Any,
    max_length: Any,
    truncation: Any,
    batch_size: Any,
    cache_size: Any,
) -> None:
    check_temperature(temperature)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be a bool, got {normalize!r}")
    check_encoding_settings(max_length, truncation)
    check_count(batch_size, "batch_size", minimum=1)
    check_count(cache_size, "cache_size", minimum=0)


class GeneralPreferenceOracle(PointwiseOracle):
    """P(a ≻ b | x) = σ(⟨R(x) v(x, a), v(x, b)⟩ / τ) from a preference-embedding model (GPM).

    See the module docstring for the maths, the format and what was followed from the GPM code.

    Args:
        backbone: A transformers base model (``AutoModel``: returns ``last_hidden_state``), in
            eval mode on its device.
        tokenizer: Its tokenizer, with a chat template.
        value_head: W_v, shape (2k, hidden) (numpy array or tensor).
        prompt_head: W_p, shape (k, hidden), or None for λᵢ = 1.
        temperature: τ > 0.
        normalize: Divide each embedding by its L2 norm.
        max_length: Longest tokenised conversation; None uses the tokenizer's limit.
        truncation: ``"error"`` (refuse longer ones) or ``"left"`` (drop their start).
        batch_size: Sequences per forward pass (halved on CUDA out-of-memory).
        cache_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.
    """

    def __init__(
        self,
        backbone: Any,
        tokenizer: Any,
        value_head: Any,
        prompt_head: Any = None,
        *,
        temperature: float = 0.1,
        normalize: bool = True,
        max_length: int | None = None,
        truncation: str = "error",
        batch_size: int = 8,
        cache_size: int = 0,
    ) -> None:
        import torch

        _check_settings(temperature, normalize, max_length, truncation, batch_size, cache_size)
        super().__init__(batch_size=batch_size, cache_size=cache_size)
        config = getattr(backbone, "config", None)
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        hidden = getattr(text_config, "hidden_size", None)
        if not isinstance(hidden, int):
            raise TypeError(
                "backbone must be a transformers model whose config has hidden_size, got "
                f"{type(backbone).__name__}"
            )
        value = np.asarray(value_head, dtype=np.float32)
        if value.ndim != 2 or value.shape[0] < 2 or value.shape[0] % 2 or value.shape[1] != hidden:
            raise ValueError(
                f"value_head must have shape (2k, {hidden}) with 2k even and >= 2, got "
                f"{value.shape}"
            )
        k = value.shape[0] // 2
        prompt = None
        if prompt_head is not None:
            prompt = np.asarray(prompt_head, dtype=np.float32)
            if prompt.shape != (k, hidden):
                raise ValueError(
                    f"prompt_head must have shape ({k}, {hidden}) (one scale per rotation "
                    f"block of the {2 * k}-dimensional embedding), got {prompt.shape}"
                )
        if not (np.all(np.isfinite(value)) and (prompt is None or np.all(np.isfinite(prompt)))):
            raise ValueError("value_head and prompt_head must hold finite numbers")
        self.encoder = ChatEncoder(tokenizer, max_length=max_length, truncation=truncation)
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.embedding_dim = 2 * k
        self.temperature = float(temperature)
        self.normalize = normalize
        device = next(backbone.parameters()).device
        self._value_head = torch.from_numpy(value).to(device)
        self._prompt_head = None if prompt is None else torch.from_numpy(prompt).to(device)
        pad = getattr(tokenizer, "pad_token_id", None)
        self._pad_id = 0 if pad is None else int(pad)

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        *,
        device: str = "cpu",
        dtype: Any = "float32",
        local_files_only: bool | None = None,
        **settings: Any,
    ) -> GeneralPreferenceOracle:
        """Load a GPM folder (module docstring, "Model format"); every setting is checked first.

        Args:
            model: The local folder (download a hub model first, e.g. with
                ``huggingface-cli download NAME --local-dir DIR``).
            device: Torch device, e.g. ``"cuda"``.
            dtype: Backbone weight dtype (the heads run in float32).
            local_files_only: Never reach the hub (defaults to the HF offline env vars).
            **settings: Keyword settings of :class:`GeneralPreferenceOracle`.
        """
        check_load_arguments(cls, settings, device, _check_settings)
        _torch_dtype(dtype)
        if not isinstance(model, str | Path) or not Path(model).expanduser().is_dir():
            raise ValueError(
                f"model={model!r} is not a local directory; GeneralPreferenceOracle reads a local "
                "folder (download a hub model first: huggingface-cli download NAME --local-dir DIR)"
            )
        folder = Path(model).expanduser()
        value_head, prompt_head = read_heads(folder)
        backbone, tokenizer = load_pretrained(
            folder,
            auto_class="AutoModel",
            what="a preference-embedding backbone",
            device=device,
            dtype=dtype,
            local_files_only=local_files_only,
        )
        return cls(backbone, tokenizer, value_head, prompt_head, **settings)

    # ------------------------------------------------------------------ public maths
    def embed(self, contexts: Sequence[Conversation], answers: Sequence[str]) -> np.ndarray:
        """Return v(x, y) for each (context, answer), shape (n, 2k); one row per distinct pair."""
        return self._outputs_of(contexts, answers).reshape(-1, self.embedding_dim)

    def scales(self, contexts: Sequence[Conversation]) -> np.ndarray:
        """Return λ(x) for each context, shape (n, k) (all ones without a prompt head)."""
        if isinstance(contexts, str) or not isinstance(contexts, Sequence):
            raise TypeError(f"contexts must be a list, got {type(contexts).__name__}")
        convs = [validate_conversation(c, where=f"contexts[{i}]") for i, c in enumerate(contexts)]
        return self._scales(convs)

    # ------------------------------------------------------------------ internals
    def _answer_outputs(
        self, contexts: list[list[dict[str, str]]], answers: list[str]
    ) -> np.ndarray:
        sequences = [
            self.encoder.encode([*context, {"role": "assistant", "content": answer}])
            for context, answer in zip(contexts, answers, strict=True)
        ]
        vectors = self._forward_rows(sequences, lambda rows: self._head_at_last(rows, "value"))
        if self.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            if np.any(norms == 0):
                raise OracleError("the embedding head returned a zero vector: it has no direction")
            vectors = vectors / norms
        return vectors

    def _scales(self, contexts: list[list[dict[str, str]]]) -> np.ndarray:
        k = self.embedding_dim // 2
        if self._prompt_head is None or not contexts:
            return np.ones((len(contexts), k))
        keys = [json.dumps(c, ensure_ascii=False) for c in contexts]
        distinct = dict(zip(keys, contexts, strict=True))
        sequences = [self.encoder.encode(c) for c in distinct.values()]
        logits = self._forward_rows(sequences, lambda rows: self._head_at_last(rows, "prompt"))
        logits = logits - logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=1, keepdims=True)
        row = {key: i for i, key in enumerate(distinct)}
        return weights[[row[key] for key in keys]]

    def _head_at_last(self, sequences: list[list[int]], head: str) -> np.ndarray:
        """Apply a head to the backbone's last hidden state at each row's last real token."""
        import torch

        weight = self._value_head if head == "value" else self._prompt_head
        input_ids, mask = pad_right(sequences, self._pad_id)
        device = weight.device
        with torch.inference_mode():
            hidden = self.backbone(
                input_ids=input_ids.to(device), attention_mask=mask.to(device)
            ).last_hidden_state
            last = (mask.sum(dim=1) - 1).to(device)
            pooled = hidden[torch.arange(len(sequences), device=device), last].float()
            return (pooled @ weight.T).cpu().numpy()

    def _pair_preferences(
        self, contexts: list[list[dict[str, str]]], outputs_a: np.ndarray, outputs_b: np.ndarray
    ) -> np.ndarray:
        scores = preference_scores(outputs_a, outputs_b, self._scales(contexts))
        return sigmoid(scores / self.temperature)
