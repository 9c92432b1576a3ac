"""Oracle settings are checked when the oracle is built, before any model loads (issue 13, #9).

Each loader is replaced by one that fails the test if it is reached, so a setting that is only
checked after (or during) the load shows up as that failure instead of a clear error.
"""

from __future__ import annotations

import numpy as np
import pytest

from ompo_envs.oracles.synthetic import (
    AnnotatorMixtureOracle,
    BradleyTerryOracle,
    KeywordClassifier,
    MatrixOracle,
)

RPS = [[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]]


def _no_load(*args, **kwargs):
    raise AssertionError("the model was loaded before the settings were checked")


def test_synthetic_oracles_take_real_numbers_only():
    classify = KeywordClassifier([["rock"], ["paper"], ["scissors"]])
    for matrix in ([[str(x) for x in row] for row in RPS], np.array(RPS) + 0j):
        with pytest.raises(TypeError, match="real numbers"):
            MatrixOracle(matrix, classify)
    with pytest.raises(TypeError, match="real numbers"):
        MatrixOracle.from_keywords(RPS, [["rock"], ["paper"], ["scissors"]], p_unrecognised_wins="")
    with pytest.raises(TypeError, match="real numbers"):
        BradleyTerryOracle.from_class_scores(["1", "2", "3", "0"], classify)
    with pytest.raises(TypeError, match="real numbers"):
        AnnotatorMixtureOracle([lambda c, a: 0.0] * 2, weights=["1", "1"])
    huge = AnnotatorMixtureOracle([lambda c, a: 0.0] * 2, weights=[1e308, 1e308])
    assert huge.weights.tolist() == [0.5, 0.5]  # the sum overflowed to inf: weights were 0
    for ranking in ([0.0, 1.0, 2.0], [0, 1.7, 2], ["0", "1", "2"], [True, False, 2]):
        with pytest.raises(TypeError, match="class indices"):
            AnnotatorMixtureOracle.from_rankings([ranking], classify)


def test_embedding_oracle_checks_settings_before_loading(monkeypatch):
    pytest.importorskip("torch")
    from ompo_envs.oracles import embedding

    monkeypatch.setattr(embedding, "bundled_model_path", _no_load)
    bad = [
        ({"encode_batch_size": 0.5}, ValueError),  # accepted before: failed at the first encode
        ({"encode_batch_size": 0}, ValueError),
        ({"embedding_cache_size": 1.5}, ValueError),
        ({"embedding_cache_size": "3"}, ValueError),  # a raw '<' TypeError before
        ({"query": ["last_user"]}, ValueError),
        ({"device": "no-such-device"}, ValueError),
        ({"device": 0}, ValueError),
        ({"model": 5}, TypeError),
        ({"temperature": float("nan")}, ValueError),
        ({"batch_size": 2.0}, ValueError),
    ]
    for settings, error in bad:
        with pytest.raises(error):
            embedding.EmbeddingOracle(**settings)


def test_pair_preference_lm_checks_settings_before_loading(monkeypatch):
    pytest.importorskip("torch")
    from ompo_envs.oracles import pair_lm

    monkeypatch.setattr(pair_lm, "load_causal_lm", _no_load)
    bad = [
        ({"temperature": 0}, ValueError),
        ({"use_chat_template": "yes"}, TypeError),
        ({"max_length": -1}, ValueError),
        ({"max_length": 2.5}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"cache_size": -1}, ValueError),
        ({"device": "no-such-device"}, ValueError),
        ({"temprature": 1.0}, TypeError),  # a misspelt setting
    ]
    for settings, error in bad:
        with pytest.raises(error):
            pair_lm.PairPreferenceLM.from_pretrained("/nonexistent", **settings)


def test_pairrm_checks_its_device_before_loading(monkeypatch):
    pytest.importorskip("torch")
    from ompo_envs.oracles import pairrm

    monkeypatch.setattr(pairrm, "resolve_checkpoint", _no_load)
    with pytest.raises(ValueError, match="device"):
        pairrm.PairRM("/nonexistent", device="no-such-device")
