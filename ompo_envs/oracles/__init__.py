"""Preference oracles: P(a ≻ b | context) from neural, judge, embedding and synthetic models.

Backends import their heavy dependencies (torch, transformers, llm-blender) only when used, so
``import ompo_envs.oracles`` stays cheap; each class below is loaded on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from ompo_envs.oracles.base import (
    Conversation,
    Message,
    OracleError,
    PreferenceOracle,
    validate_conversation,
    validate_pairs,
)

#: Public name -> module (under ompo_envs.oracles) that defines it.
_LAZY = {
    "PairRM": "pairrm",
    "LLMBlenderPairRM": "blender",
    "PairPreferenceLM": "pair_lm",
    "LLMJudge": "judge",
    "EmbeddingOracle": "embedding",
    "RewardModelOracle": "reward_model",
    "GeneralPreferenceOracle": "general_preference",
    "MatrixOracle": "synthetic",
    "BradleyTerryOracle": "synthetic",
    "AnnotatorMixtureOracle": "synthetic",
    "preference_matrix": "diagnostics",
    "cyclic_triple_rate": "diagnostics",
    "bradley_terry_fit": "diagnostics",
    "plot_preference_matrix": "diagnostics",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f"ompo_envs.oracles.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'ompo_envs.oracles' has no attribute {name!r}")


__all__ = [
    "Conversation",
    "Message",
    "OracleError",
    "PreferenceOracle",
    "validate_conversation",
    "validate_pairs",
    *_LAZY,
]
