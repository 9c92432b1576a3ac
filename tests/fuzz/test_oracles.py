"""Oracles, their settings, the judge's rating parser and the HTTP client's settings, fuzzed.

* ``compare`` on generated batches (malformed contexts, non-string answers, mismatched lengths
  included): a valid result — shape (n,), values in [0, 1], P(a ≻ b) + P(b ≻ a) = 1,
  P(a ≻ a) = ½ — or TypeError / ValueError with the oracle's cache unchanged. Synthetic oracles
  and a tiny pair-preference LM (``ompo_envs/oracles/tiny_models.py``, built on the fly).
* Settings of the model oracles: every generated combination either raises TypeError /
  ValueError before the model would load, or reaches the loader with every setting valid.
* ``parse_rating`` of the LLM judge and ``ChatClientConfig`` of the one HTTP client.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ompo_envs.oracles.base import OracleError, PreferenceOracle
from ompo_envs.oracles.synthetic import (
    AnnotatorMixtureOracle,
    BradleyTerryOracle,
    KeywordClassifier,
    MatrixOracle,
)
from tests.fuzz.support import CheapOracle, fuzz, rejected

RPS = [[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]]
KEYWORDS = [["rock"], ["paper"], ["scissors"]]
ANSWERS = ("rock", "Paper!", "scissors", "", "a stone", "y1", "I choose y2.", "é中😀")
ROLES = ("user", "assistant", "system", "robot", None)


def _synthetic_oracles() -> dict[str, PreferenceOracle]:
    return {
        "matrix": MatrixOracle.from_keywords(RPS, KEYWORDS, cache_size=8),
        "bradley-terry": BradleyTerryOracle.from_class_scores(
            [0.0, 1.0, 2.0, -1.0], KeywordClassifier(KEYWORDS), cache_size=8
        ),
        "voters": AnnotatorMixtureOracle.paper_app_h_voters(cache_size=8),
        "length": CheapOracle(cache_size=8),
    }


SYNTHETIC = _synthetic_oracles()

messages = st.fixed_dictionaries(
    {"role": st.sampled_from(ROLES), "content": st.sampled_from(ANSWERS) | st.none()}
) | st.sampled_from(("hi", None, {"role": "user"}, {"content": "hi"}))
contexts = st.lists(messages, max_size=3) | st.sampled_from(("a string", None, 3))
answers = st.sampled_from(ANSWERS) | st.text(max_size=12) | st.sampled_from((None, 3, b"x"))


def _batch(n: int) -> st.SearchStrategy:
    good_context = st.just([{"role": "user", "content": "Rock, paper or scissors?"}])
    return st.tuples(
        st.lists(good_context | contexts, min_size=n, max_size=n + 1),
        st.lists(st.sampled_from(ANSWERS) | answers, min_size=n, max_size=n),
        st.lists(st.sampled_from(ANSWERS) | answers, min_size=n, max_size=n),
    )


def _check_compare(oracle: PreferenceOracle, batch: tuple[list, list, list]) -> None:
    contexts_, answers_a, answers_b = batch
    cache_before = oracle._cache.items()
    try:
        forward = oracle.compare(contexts_, answers_a, answers_b)
    except Exception as error:
        assert rejected(error) and not isinstance(error, OracleError), repr(error)
        assert oracle._cache.items() == cache_before
        return
    backward = oracle.compare(contexts_, answers_b, answers_a)
    assert forward.shape == (len(answers_a),) and forward.dtype == np.float64
    assert np.all((forward >= 0) & (forward <= 1))
    np.testing.assert_allclose(forward + backward, 1.0, atol=1e-12)
    same = [a == b for a, b in zip(answers_a, answers_b, strict=True)]
    assert np.all(forward[same] == 0.5)


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
@given(n=st.integers(0, 3), data=st.data())
@fuzz(max_examples=250)
def test_synthetic_oracles_compare_or_refuse(name, n, data):
    _check_compare(SYNTHETIC[name], data.draw(_batch(n)))


@pytest.fixture(scope="module")
def tiny_pair_lm(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from ompo_envs.oracles import PairPreferenceLM
    from ompo_envs.oracles.tiny_models import build_tiny_causal_lm

    folder = build_tiny_causal_lm(tmp_path_factory.mktemp("fuzz_tiny_lm"), num_layers=1)
    return PairPreferenceLM.from_pretrained(folder, cache_size=16)


@given(n=st.integers(0, 2), data=st.data())
@fuzz(max_examples=40)
def test_tiny_pair_preference_lm_compares_or_refuses(tiny_pair_lm, n, data):
    _check_compare(tiny_pair_lm, data.draw(_batch(n)))


# ---------------------------------------------------------------------- settings
class _Loaded(Exception):
    """Raised instead of loading a model: the settings were all accepted."""


def _reach_loader(*args: Any, **kwargs: Any) -> Any:
    raise _Loaded


SETTING_VALUES = (0, 1, 2, 64, -1, 0.5, 1.0, float("nan"), float("inf"), True, None, "1", [1])
DEVICES = ("cpu", "cuda", "cuda:1", "no-such-device", "", 0, None)


def _count_ok(value: Any, minimum: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= minimum


def _temperature_ok(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )


@given(
    settings=st.fixed_dictionaries(
        {},
        optional={
            "temperature": st.sampled_from(SETTING_VALUES),
            "query": st.sampled_from(("last_user", "context", "other", None)),
            "encode_batch_size": st.sampled_from(SETTING_VALUES),
            "embedding_cache_size": st.sampled_from(SETTING_VALUES),
            "batch_size": st.sampled_from(SETTING_VALUES),
            "cache_size": st.sampled_from(SETTING_VALUES),
            "device": st.sampled_from(DEVICES),
            "model": st.sampled_from((None, 5, b"/models")),
        },
    )
)
@fuzz(max_examples=300)
def test_embedding_oracle_settings_are_checked_before_loading(settings):
    pytest.importorskip("torch")
    from ompo_envs.oracles import embedding

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(embedding, "bundled_model_path", _reach_loader)
        try:
            embedding.EmbeddingOracle(**settings)
        except _Loaded:
            full = {"temperature": 0.1, "encode_batch_size": 32, "embedding_cache_size": 4096}
            full |= {"batch_size": 64, "cache_size": 0, "query": "last_user", "device": "cpu"}
            full |= settings
            assert _temperature_ok(full["temperature"])
            assert full["query"] in ("last_user", "context")
            assert _count_ok(full["encode_batch_size"], 1) and _count_ok(full["batch_size"], 1)
            assert _count_ok(full["embedding_cache_size"], 0) and _count_ok(full["cache_size"], 0)
            assert full["device"] in ("cpu", "cuda", "cuda:1")
        except Exception as error:
            assert rejected(error), repr(error)


@given(
    settings=st.fixed_dictionaries(
        {},
        optional={
            "temperature": st.sampled_from(SETTING_VALUES),
            "use_chat_template": st.sampled_from((True, False, 1, "yes", None)),
            "max_length": st.sampled_from(SETTING_VALUES),
            "batch_size": st.sampled_from(SETTING_VALUES),
            "cache_size": st.sampled_from(SETTING_VALUES),
            "device": st.sampled_from(DEVICES),
            "temprature": st.just(1.0),
        },
    )
)
@fuzz(max_examples=300)
def test_pair_preference_lm_settings_are_checked_before_loading(settings):
    pytest.importorskip("torch")
    from ompo_envs.oracles import pair_lm

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pair_lm, "load_causal_lm", _reach_loader)
        try:
            pair_lm.PairPreferenceLM.from_pretrained("/nonexistent", **settings)
        except _Loaded:
            full = {"temperature": 1.0, "use_chat_template": True, "max_length": None}
            full |= {"batch_size": 8, "cache_size": 0, "device": "cpu"} | settings
            assert "temprature" not in full
            assert _temperature_ok(full["temperature"])
            assert isinstance(full["use_chat_template"], bool)
            assert full["max_length"] is None or _count_ok(full["max_length"], 1)
            assert _count_ok(full["batch_size"], 1) and _count_ok(full["cache_size"], 0)
        except Exception as error:
            assert rejected(error), repr(error)


# ---------------------------------------------------------------------- judge and client
REPLY_PIECES = ("[[", "]]", "Rating", "rating:", "=", " ", "\n", "7", "10", "1e9", "0", "-3")
REPLY_PIECES += (".5", "2.5", "x", "[", "]", "Rating: [[", "ten", "١")
replies = st.binary(max_size=10).map(
    lambda b: "".join(REPLY_PIECES[i % len(REPLY_PIECES)] for i in b)
)


@given(reply=replies | st.text(max_size=40))
@fuzz(max_examples=600)
def test_judge_ratings_are_read_whole_or_refused(reply):
    from ompo_envs.oracles.judge import parse_rating

    try:
        rating = parse_rating(reply)
    except OracleError:
        return
    assert 1.0 <= rating <= 10.0
    assert any(token in reply for token in ("[[", "ating"))


CLIENT_VALUES = (0, 1, 3, -1, 0.0, 0.5, 2.5, 60.0, float("nan"), float("inf"), True, None, "1")


@given(
    settings=st.fixed_dictionaries(
        {},
        optional={
            name: st.sampled_from(CLIENT_VALUES)
            for name in (
                "temperature",
                "max_tokens",
                "timeout_s",
                "max_attempts",
                "backoff_s",
                "max_backoff_s",
                "concurrency",
                "seed",
            )
        }
        | {
            "base_url": st.sampled_from(("http://127.0.0.1:1/v1", "ftp://x", "", None)),
            "model": st.sampled_from(("m", "", " ", None)),
            "api_key_env": st.sampled_from((None, "OPENAI_API_KEY", "", 3)),
            "extra_body": st.sampled_from(({}, {"top_p": 0.9}, {"model": "x"}, [("a", 1)])),
        },
    )
)
@fuzz(max_examples=500)
def test_client_settings_are_checked_at_construction(settings):
    from ompo_envs.openai_client import ChatClientConfig

    full = {"base_url": "http://127.0.0.1:1/v1", "model": "m"} | settings
    try:
        config = ChatClientConfig(**full)
    except Exception as error:
        assert rejected(error), repr(error)
        return
    for name, value in full.items():
        assert getattr(config, name) == value or (value != value)  # NaN never gets here
    assert 0 <= config.temperature <= 2 and config.timeout_s > 0
    assert min(config.max_tokens, config.max_attempts, config.concurrency) >= 1
