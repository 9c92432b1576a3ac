"""Native PairRM == llm-blender's PairRM (the reference) on a tiny random checkpoint."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")
if importlib.util.find_spec("llm_blender") is None:  # importing it needs the adapter's shims
    pytest.skip(
        'llm-blender is not installed (pip install "ompo-envs[blender]" && '
        "pip install --no-deps llm-blender==0.0.2)",
        allow_module_level=True,
    )

from ompo_envs.oracles.blender import LLMBlenderPairRM
from ompo_envs.oracles.pairrm import PairRM
from ompo_envs.oracles.pairrm_checkpoint import build_tiny_pairrm_checkpoint

TOLERANCE = 1e-5  # max |Δ logit| between the two implementations


def user(text):
    return [{"role": "user", "content": text}]


CONTEXTS = [
    user("Hello, how are you?"),
    user("Explain the Nash equilibrium in simple words."),
    user("Say hi [SEP] now, with\nnew lines\tand  spaces."),
    user("Ünïcödé? 数学 🙂"),
    [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Spain?"},
    ],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Write a recipe."},
        {"role": "assistant", "content": "Mix flour and water."},
        {"role": "user", "content": "Then?"},
        {"role": "assistant", "content": "Bake it."},
        {"role": "user", "content": "For how long?"},
    ],
]
ANSWERS_A = ["I am fine, thank you!", "A stable point.", "hi", "", "Madrid.", "30 minutes."]
ANSWERS_B = ["Go away.", "No idea, sorry.", "Hello there!", "ok", "Lisbon, I think.", "Forever."]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return build_tiny_pairrm_checkpoint(tmp_path_factory.mktemp("pairrm"), seed=3)


@pytest.fixture(scope="module")
def reference(checkpoint):
    return LLMBlenderPairRM(checkpoint, device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def native(checkpoint):
    return PairRM(checkpoint, device="cpu", batch_size=4)


def test_native_agrees_with_llm_blender(native, reference):
    expected = reference.log_odds(CONTEXTS, ANSWERS_A, ANSWERS_B)
    got = native.log_odds(CONTEXTS, ANSWERS_A, ANSWERS_B)
    assert np.abs(expected).max() > 0.3  # a meaningful comparison, not two near-zero vectors
    assert np.abs(got - expected).max() <= TOLERANCE
    np.testing.assert_allclose(
        native.compare(CONTEXTS, ANSWERS_A, ANSWERS_B),
        reference.compare(CONTEXTS, ANSWERS_A, ANSWERS_B),
        atol=TOLERANCE,
    )


def test_agreement_when_truncation_bites(tmp_path):
    """Short length limits: llm-blender's batch-shared budget equals the native one at batch 1."""
    folder = build_tiny_pairrm_checkpoint(
        tmp_path, seed=1, source_maxlength=24, candidate_maxlength=10
    )
    reference = LLMBlenderPairRM(folder, device="cpu", batch_size=1)
    native = PairRM(folder, device="cpu", batch_size=4)
    long = "the quick brown fox jumps over the lazy dog near the river bank " * 3
    contexts = [user(long), user("Hi"), CONTEXTS[0]]
    firsts = [long, "Hello, " + long, "Fine. " + long]
    seconds = ["short", long + " yes", "Bad. " + long]
    diff = native.log_odds(contexts, firsts, seconds) - reference.log_odds(
        contexts, firsts, seconds
    )
    assert np.abs(diff).max() <= TOLERANCE


def test_reference_is_a_valid_oracle(reference):
    p = reference.compare(CONTEXTS[:2], ANSWERS_A[:2], ANSWERS_B[:2])
    q = reference.compare(CONTEXTS[:2], ANSWERS_B[:2], ANSWERS_A[:2])
    np.testing.assert_allclose(p + q, 1.0, atol=1e-6)
    assert reference.compare_one(CONTEXTS[0], "same", "same") == 0.5


def test_reference_offline_hub_name_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="EmbeddingOracle"):
        LLMBlenderPairRM("llm-blender/PairRM", cache_dir=tmp_path)


def conversation(users, replies):
    messages = []
    for u, r in zip(users, replies, strict=True):
        messages += [{"role": "user", "content": u}, {"role": "assistant", "content": r}]
    return messages


def logit(p):
    return np.log(p) - np.log1p(-p)


def test_conversations_agree_with_llm_blender(native, reference):
    """Two- and three-turn conversations whose replies all differ (each player's own history)."""
    two = ["What is the capital of France?", "And of Spain?"]
    three = ["Write a recipe.", "Then?", "For how long? [SEP] Answer briefly."]
    firsts = [
        conversation(two, ["Paris.", "Madrid."]),
        conversation(two, ["Lyon, I believe.", "Madrid."]),  # only the earlier reply differs
        conversation(three, ["Mix flour and water.", "Bake it.", "30 minutes."]),
        conversation(three, ["Ünïcödé 数学 🙂", "", "Forever\nand ever."]),
        conversation(two[:1], ["Paris."]),
    ]
    seconds = [
        conversation(two, ["Rome.", "Lisbon, I think."]),
        conversation(two, ["Paris.", "Madrid."]),
        conversation(three, ["Buy bread.", "Eat it.", "Forever."]),
        conversation(three, ["ok", "Then stop.", "No."]),
        conversation(two[:1], ["Marseille?"]),
    ]
    expected = logit(reference.compare_conversations(firsts, seconds))
    got = logit(native.compare_conversations(firsts, seconds))
    assert np.abs(expected).max() > 0.3  # a meaningful comparison, not two near-zero vectors
    assert np.abs(got - expected).max() <= TOLERANCE
    assert reference.compare_conversations(firsts[:1], firsts[:1])[0] == 0.5
