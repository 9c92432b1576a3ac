"""A Bradley–Terry reward model (``AutoModelForSequenceClassification``) as a preference oracle.

Reward models such as Skywork-Reward are sequence classifiers with one output: the reward
r(x, y) of the conversation x answered by y, read at the last token of the conversation rendered
by the model's own chat template (see :mod:`ompo_envs.oracles.chat_encoding`). Trained with the
Bradley–Terry likelihood, they define

    P(a ≻ b | x) = σ((r(x, a) − r(x, b)) / τ),

τ > 0 the temperature (τ = 1 is the model's own BT probability). Antisymmetry, P(a ≻ a) = ½ and
transitivity hold by construction: a reward model cannot express a preference cycle
(``cyclic_triple_rate`` is 0 on any answers).

Cost: one forward row per distinct (context, answer) in a call (:mod:`ompo_envs.oracles.pointwise`),
so n answers to one context compared in every pair cost n rows. Rows are right-padded and the
model pools its own last non-pad token (transformers' rule with ``config.pad_token_id``); a
model without a ``pad_token_id`` is run one row at a time. Models whose head is custom code
(``trust_remote_code``, e.g. ArmoRM's gating head) are not loaded; a model with several outputs
is read at the column ``score_index``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ompo_envs.oracles.base import (
    Conversation,
    check_count,
    check_temperature,
    sigmoid,
)
from ompo_envs.oracles.chat_encoding import ChatEncoder, check_encoding_settings, pad_right
from ompo_envs.oracles.pair_lm import _torch_dtype, check_load_arguments, load_pretrained
from ompo_envs.oracles.pointwise import PointwiseOracle


def _check_settings(
    temperature: Any,
    score_index: Any,
    max_length: Any,
    truncation: Any,
    batch_size: Any,
    cache_size: Any,
) -> None:
    check_temperature(temperature)
    check_count(score_index, "score_index", minimum=0)
    check_encoding_settings(max_length, truncation)
    check_count(batch_size, "batch_size", minimum=1)
    check_count(cache_size, "cache_size", minimum=0)


class RewardModelOracle(PointwiseOracle):
    """P(a ≻ b | x) = σ((r(x, a) − r(x, b)) / τ) from a sequence-classification reward model.

    See the module docstring for the rule and the cost.

    Args:
        model: A loaded ``transformers`` sequence-classification model (eval mode, on its
            device) whose ``logits`` have ``config.num_labels`` columns.
        tokenizer: Its tokenizer, with the chat template the model was trained with.
        temperature: τ > 0 dividing the reward gap.
        score_index: Which logit column is the reward (0; for a model with several labels,
            pick the one that is the reward).
        max_length: Longest tokenised conversation; None uses the tokenizer's limit.
        truncation: ``"error"`` (refuse longer ones) or ``"left"`` (drop their start).
        batch_size: Sequences per forward pass (halved on CUDA out-of-memory).
        cache_size: See :class:`~ompo_envs.oracles.base.PreferenceOracle`.

    Example:
        >>> oracle = RewardModelOracle.from_pretrained("/models/Skywork-Reward-V2-Llama-3.1-8B",
        ...     device="cuda", dtype="bfloat16")  # doctest: +SKIP
        >>> ctx = [{"role": "user", "content": "What is the capital of France?"}]
        >>> oracle.compare_one(ctx, "Paris.", "Lyon.")  # doctest: +SKIP
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        temperature: float = 1.0,
        score_index: int = 0,
        max_length: int | None = None,
        truncation: str = "error",
        batch_size: int = 8,
        cache_size: int = 0,
    ) -> None:
        _check_settings(temperature, score_index, max_length, truncation, batch_size, cache_size)
        super().__init__(batch_size=batch_size, cache_size=cache_size)
        config = getattr(model, "config", None)
        num_labels = getattr(config, "num_labels", None)
        if not isinstance(num_labels, int):
            raise TypeError(
                "model must be a transformers sequence-classification model (its config has "
                f"num_labels), got {type(model).__name__}"
            )
        if score_index >= num_labels:
            raise ValueError(
                f"score_index={score_index} but the model has num_labels={num_labels} outputs; "
                f"pick the reward's column in 0..{num_labels - 1}"
            )
        self.encoder = ChatEncoder(tokenizer, max_length=max_length, truncation=truncation)
        self.model = model
        self.tokenizer = tokenizer
        self.temperature = float(temperature)
        self.score_index = int(score_index)
        self.num_labels = num_labels
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        pad = getattr(text_config, "pad_token_id", None)
        self.pad_token_id: int | None = None if pad is None else int(pad)

    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        *,
        device: str = "cpu",
        dtype: Any = "float32",
        local_files_only: bool | None = None,
        **settings: Any,
    ) -> RewardModelOracle:
        """Load a reward model with ``AutoModelForSequenceClassification`` (every setting first).

        Args:
            model: A local directory written by ``save_pretrained`` or a hub name (see
                :func:`ompo_envs.oracles.pair_lm.load_pretrained`).
            device: Torch device, e.g. ``"cuda"``.
            dtype: Weight dtype: ``"float32"``, ``"bfloat16"`` (usual on GPU), ``"float16"``,
                ``"auto"``.
            local_files_only: Never reach the hub (defaults to the HF offline env vars).
            **settings: Keyword settings of :class:`RewardModelOracle`, checked before the load.
        """
        check_load_arguments(cls, settings, device, _check_settings)
        _torch_dtype(dtype)
        loaded, tokenizer = load_pretrained(
            model,
            auto_class="AutoModelForSequenceClassification",
            what="a sequence-classification reward model",
            device=device,
            dtype=dtype,
            local_files_only=local_files_only,
        )
        return cls(loaded, tokenizer, **settings)

    def rewards(self, contexts: Sequence[Conversation], answers: Sequence[str]) -> np.ndarray:
        """Return r(x, y) for each (context, answer): one forward row per distinct pair.

        Raises:
            TypeError / ValueError: A malformed context or answer, or lengths that differ.
            OracleError: The model returned NaN or inf.
        """
        return self._outputs_of(contexts, answers)

    def _answer_outputs(
        self, contexts: list[list[dict[str, str]]], answers: list[str]
    ) -> np.ndarray:
        sequences = [
            self.encoder.encode([*context, {"role": "assistant", "content": answer}])
            for context, answer in zip(contexts, answers, strict=True)
        ]
        return self._forward_rows(sequences, self._forward)

    def _forward(self, sequences: list[list[int]]) -> np.ndarray:
        import torch

        if self.pad_token_id is None and len(sequences) > 1:
            # transformers cannot find the last token of a padded row without a pad id.
            return np.concatenate([self._forward([ids]) for ids in sequences])
        input_ids, mask = pad_right(
            sequences, 0 if self.pad_token_id is None else self.pad_token_id
        )
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            logits = self.model(
                input_ids=input_ids.to(device), attention_mask=mask.to(device)
            ).logits
        return logits[:, self.score_index].float().cpu().numpy()

    def _pair_preferences(
        self, contexts: list[list[dict[str, str]]], outputs_a: np.ndarray, outputs_b: np.ndarray
    ) -> np.ndarray:
        return sigmoid((outputs_a - outputs_b) / self.temperature)
