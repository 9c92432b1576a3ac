from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ompo_envs.oracles import AnnotatorMixtureOracle, BradleyTerryOracle, MatrixOracle
from ompo_envs.oracles.synthetic import KeywordClassifier, validate_preference_matrix
from tests.numerics import assert_elementwise_close

RPS = [[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]]
CTX = [{"role": "user", "content": "Rock, paper or scissors?"}]
WORDS = st.sampled_from(
    [
        "rock",
        "Paper!",
        "I choose scissors",
        "pass",
        "ROCK it is",
        "y1",
        "y2",
        "y3",
        "y1 and y2",
        "",
        "rocket",
    ]
)


def rps_oracle(**kwargs):
    return MatrixOracle.from_keywords(RPS, [["rock"], ["paper"], ["scissors"]], **kwargs)


def bt_oracle(**kwargs):
    return BradleyTerryOracle(lambda ctx, a: 0.3 * len(a) - a.count("s"), **kwargs)


ORACLES = {
    "matrix": rps_oracle,
    "bt": bt_oracle,
    "voters": AnnotatorMixtureOracle.paper_app_h_voters,
}


# ---------------------------------------------------------------- known answers
def test_rps_known_values():
    oracle = rps_oracle()
    assert oracle.compare_one(CTX, "Paper!", "I pick rock.") == 1.0
    assert oracle.compare_one(CTX, "rock", "scissors please") == 1.0
    assert oracle.compare_one(CTX, "rock", "Scissors") == 1.0
    assert oracle.compare_one(CTX, "scissors", "paper") == 1.0
    assert oracle.compare_one(CTX, "rock", "ROCK!") == 0.5  # same class, different text
    assert oracle.num_classes == 4
    assert oracle.classes == ("rock", "paper", "scissors", "unrecognised")
    assert oracle.unrecognised_class == 3


def test_unrecognised_rule():
    oracle = rps_oracle()
    assert oracle.classify("rocket science") == 3  # whole words only
    assert oracle.classify("paper beats rock") == 0  # first class with a match wins
    assert oracle.compare_one(CTX, "I pass", "rock") == 0.0
    assert oracle.compare_one(CTX, "I pass", "no idea") == 0.5
    neutral = rps_oracle(p_unrecognised_wins=0.5)
    assert neutral.compare_one(CTX, "I pass", "paper") == 0.5


def test_matrix_oracle_with_callable_classifier_and_context_ignored():
    m = np.array([[0.5, 0.8], [0.2, 0.5]])
    oracle = MatrixOracle(m, lambda a: int(len(a) > 3), classes=["short", "long"])
    other = [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]
    assert oracle.compare([CTX, other], ["ab", "abcd"], ["abcde", "a"]).tolist() == [0.8, 0.2]
    assert oracle.classify("hello") == 1


def test_bad_matrices():
    with pytest.raises(ValueError, match="M \\+ Mᵀ = 1"):
        MatrixOracle([[0.5, 0.7], [0.7, 0.5]], lambda a: 0)
    with pytest.raises(ValueError, match="M \\+ Mᵀ = 1"):
        validate_preference_matrix([[0.4, 0.5], [0.5, 0.6]])
    with pytest.raises(ValueError, match="square"):
        MatrixOracle([[0.5, 0.5]], lambda a: 0)
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        MatrixOracle([[0.5, 1.5], [-0.5, 0.5]], lambda a: 0)
    with pytest.raises(ValueError, match="one keyword list per matrix row"):
        MatrixOracle.from_keywords(RPS, [["rock"], ["paper"]])
    with pytest.raises(TypeError, match="keywords\\[1\\]"):
        KeywordClassifier([["rock"], "paper"])


def test_classifier_out_of_range():
    oracle = MatrixOracle(RPS, lambda a: 7)
    with pytest.raises(ValueError, match="outside range\\(3\\)"):
        oracle.compare_one(CTX, "a", "b")


def test_app_h_voters_known_values():
    oracle = AnnotatorMixtureOracle.paper_app_h_voters()
    p = oracle.compare([CTX] * 3, ["y1", "y2", "y3"], ["y2", "y3", "y1"])
    np.testing.assert_allclose(p, [2 / 3, 2 / 3, 2 / 3], atol=1e-12)
    np.testing.assert_allclose(
        oracle.class_matrix, [[0.5, 2 / 3, 1 / 3], [1 / 3, 0.5, 2 / 3], [2 / 3, 1 / 3, 0.5]]
    )
    assert oracle.compare_one(CTX, "nothing", "y3") == 0.0
    assert oracle.classes == ("y1", "y2", "y3")
    # each single annotator is transitive
    for e in range(3):
        single = AnnotatorMixtureOracle([oracle.annotators[e]])
        wins = [
            single.compare_one(CTX, a, b) for a, b in [("y1", "y2"), ("y2", "y3"), ("y3", "y1")]
        ]
        assert sorted(wins) == [0.0, 1.0, 1.0]


def test_mixture_weights_and_ties():
    oracle = AnnotatorMixtureOracle.from_rankings(
        [[0, 1], [1, 0]], lambda a: 0 if "a" in a else 1, weights=[3, 1]
    )
    assert oracle.compare_one(CTX, "a", "b") == pytest.approx(0.75)
    assert oracle.compare_one(CTX, "a", "aa") == 0.5  # same class → tie for every annotator
    with pytest.raises(ValueError, match="permutation"):
        AnnotatorMixtureOracle.from_rankings([[0, 0]], lambda a: 0)
    with pytest.raises(ValueError, match="weights"):
        AnnotatorMixtureOracle([lambda c, a: 0.0], weights=[-1])


def test_bt_known_values_and_class_scores():
    oracle = BradleyTerryOracle.from_class_scores(
        [1.0, 0.0, -1.0], KeywordClassifier([["good"], ["ok"]])
    )
    assert oracle.compare_one(CTX, "good", "ok") == pytest.approx(1 / (1 + np.exp(-1)))
    assert oracle.compare_one(CTX, "good", "meh") == pytest.approx(1 / (1 + np.exp(-2)))
    ctx_score = BradleyTerryOracle(lambda ctx, a: float(a in ctx[-1]["content"]))
    assert ctx_score.compare_one(CTX, "paper", "lizard") == pytest.approx(1 / (1 + np.exp(-1)))


def test_bt_non_finite_score_raises():
    from ompo_envs.oracles import OracleError

    oracle = BradleyTerryOracle(lambda ctx, a: float("nan"))
    with pytest.raises(OracleError, match="non-finite"):
        oracle.compare_one(CTX, "a", "b")


# ---------------------------------------------------------------- protocol properties
@pytest.mark.parametrize("name", sorted(ORACLES))
@settings(max_examples=60, deadline=None)
@given(a=WORDS, b=WORDS)
def test_antisymmetry_and_diagonal(name, a, b):
    oracle = ORACLES[name]()
    p_ab = oracle.compare_one(CTX, a, b)
    p_ba = oracle.compare_one(CTX, b, a)
    assert 0.0 <= p_ab <= 1.0
    assert p_ab + p_ba == pytest.approx(1.0, abs=1e-12)
    assert oracle.compare_one(CTX, a, a) == 0.5


@pytest.mark.parametrize("name", sorted(ORACLES))
@settings(max_examples=25, deadline=None)
@given(pairs=st.lists(st.tuples(WORDS, WORDS), min_size=1, max_size=9))
def test_batched_equals_one_by_one(name, pairs):
    oracle = ORACLES[name](batch_size=2)
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    batched = oracle.compare([CTX] * len(pairs), a, b)
    single = [oracle.compare_one(CTX, x, y) for x, y in pairs]
    assert_elementwise_close(batched, single)  # another batch length: a few ulps


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_cache_hits(name):
    oracle = ORACLES[name](cache_size=8)
    first = oracle.compare([CTX, CTX], ["rock", "y1"], ["paper", "y2"])
    assert oracle.cache_hits == 0
    second = oracle.compare([CTX, CTX], ["rock", "y1"], ["paper", "y2"])
    assert oracle.cache_hits == 2
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_bad_input(name):
    oracle = ORACLES[name]()
    with pytest.raises(ValueError, match="same length"):
        oracle.compare([CTX], ["a", "b"], ["c"])
    with pytest.raises(TypeError, match="answers_b\\[0\\] must be a string"):
        oracle.compare([CTX], ["a"], [3])
    with pytest.raises(ValueError, match="empty"):
        oracle.compare([[]], ["a"], ["b"])
