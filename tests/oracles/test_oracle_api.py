"""Every preference oracle of the package passes the public ``oracle_api_test``.

The list of oracles is read from ``ompo_envs.oracles`` itself: a new oracle class without an
entry in ``FACTORIES`` fails :func:`test_every_oracle_class_is_checked`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ompo_envs.oracles as oracles
from ompo_envs.oracles import PreferenceOracle
from ompo_envs.testing import ConformanceError, oracle_api_test


def _length_score(context: Any, answer: str) -> float:
    return float(len(answer))


def _needs(*modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")


def _pairrm(tmp: Path) -> PreferenceOracle:
    _needs("torch", "transformers", "sentencepiece")
    from ompo_envs.oracles.pairrm_checkpoint import build_tiny_pairrm_checkpoint

    return oracles.PairRM(build_tiny_pairrm_checkpoint(tmp / "pairrm", seed=0), device="cpu")


def _blender(tmp: Path) -> PreferenceOracle:
    _needs("torch", "transformers", "sentencepiece", "llm_blender")
    from ompo_envs.oracles.pairrm_checkpoint import build_tiny_pairrm_checkpoint

    checkpoint = build_tiny_pairrm_checkpoint(tmp / "blender", seed=0)
    return oracles.LLMBlenderPairRM(checkpoint, device="cpu")


def _pair_lm(tmp: Path) -> PreferenceOracle:
    _needs("torch", "transformers")
    from ompo_envs.oracles.tiny_models import build_tiny_causal_lm

    return oracles.PairPreferenceLM.from_pretrained(build_tiny_causal_lm(tmp / "lm"))


def _reward_model(tmp: Path) -> PreferenceOracle:
    _needs("torch", "transformers")
    from ompo_envs.oracles.tiny_models import build_tiny_reward_model

    return oracles.RewardModelOracle.from_pretrained(build_tiny_reward_model(tmp / "rm"))


def _general_preference(tmp: Path) -> PreferenceOracle:
    _needs("torch", "transformers")
    from ompo_envs.oracles.tiny_models import build_tiny_general_preference_model

    folder = build_tiny_general_preference_model(tmp / "gpm", prompt_head=True)
    return oracles.GeneralPreferenceOracle.from_pretrained(folder)


def _judge(tmp: Path) -> PreferenceOracle:
    def chat(messages: list[dict[str, str]]) -> str:  # a deterministic fake judge
        return f"Rating: [[{1 + len(messages[-1]['content']) % 10}]]"

    return oracles.LLMJudge(chat)


def _embedding(tmp: Path) -> PreferenceOracle:
    _needs("torch", "sentence_transformers")
    return oracles.EmbeddingOracle()


#: One small instance per oracle class (tiny models built on the fly, never downloaded).
FACTORIES: dict[str, Callable[[Path], PreferenceOracle]] = {
    "PairRM": _pairrm,
    "LLMBlenderPairRM": _blender,
    "PairPreferenceLM": _pair_lm,
    "RewardModelOracle": _reward_model,
    "GeneralPreferenceOracle": _general_preference,
    "LLMJudge": _judge,
    "EmbeddingOracle": _embedding,
    "MatrixOracle": lambda tmp: oracles.MatrixOracle.from_keywords(
        ((0.5, 0.0, 1.0), (1.0, 0.5, 0.0), (0.0, 1.0, 0.5)),
        (("rock",), ("paper",), ("scissors",)),
    ),
    "BradleyTerryOracle": lambda tmp: oracles.BradleyTerryOracle(_length_score),
    "AnnotatorMixtureOracle": lambda tmp: oracles.AnnotatorMixtureOracle.paper_app_h_voters(),
}


def _oracle_classes() -> list[str]:
    return [
        name
        for name in oracles.__all__
        if isinstance(getattr(oracles, name), type)
        and issubclass(getattr(oracles, name), PreferenceOracle)
        and getattr(oracles, name) is not PreferenceOracle
    ]


def test_every_oracle_class_is_checked() -> None:
    assert sorted(_oracle_classes()) == sorted(FACTORIES)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_oracle_follows_the_protocol(name: str, tmp_path: Path) -> None:
    oracle_api_test(FACTORIES[name](tmp_path), atol=1e-5)


def test_oracle_api_test_catches_a_broken_oracle() -> None:
    class OneOrder(PreferenceOracle):  # scores one presentation order only: not antisymmetric
        def _preference_batch(self, contexts, answers_a, answers_b):
            return [0.9] * len(contexts)

    with pytest.raises(ConformanceError, match=r"P\(a ≻ b\) \+ P\(b ≻ a\) must be 1"):
        oracle_api_test(OneOrder())
