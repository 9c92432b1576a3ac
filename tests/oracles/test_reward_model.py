"""RewardModelOracle on tiny Llama sequence classifiers built here: P from their own logits."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402

from ompo_envs.oracles import OracleError, RewardModelOracle  # noqa: E402
from ompo_envs.oracles import reward_model as reward_model_module  # noqa: E402
from ompo_envs.oracles.tiny_models import build_tiny_reward_model  # noqa: E402

CTX = [{"role": "user", "content": "What is the capital of France?"}]
CTX2 = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Rock, paper or scissors?"},
    {"role": "assistant", "content": "Rock."},
    {"role": "user", "content": "Again?"},
]
ANSWERS = ["Paris.", "Lyon, I think.", "rock", "The capital of France is Paris.", ""]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_reward_model(tmp_path_factory.mktemp("tiny_rm"))


@pytest.fixture(scope="module")
def oracle(model_dir):
    return RewardModelOracle.from_pretrained(model_dir, temperature=0.5, batch_size=3)


def direct_reward(model, tokenizer, context, answer, column=0):
    """r(x, y) from our own unpadded forward of the model on the chat-templated conversation."""
    messages = [*context, {"role": "assistant", "content": answer}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    ids = tokenizer.encode(text, add_special_tokens=False)
    with torch.no_grad():
        return float(model(torch.tensor([ids])).logits[0, column])


def count_rows(model):
    """Record the batch size of every forward call of ``model``; returns (log, handle)."""
    rows: list[int] = []

    def hook(module, args, kwargs):
        rows.append(int(kwargs["input_ids"].shape[0]))

    return rows, model.register_forward_pre_hook(hook, with_kwargs=True)


def test_conversation_goes_through_the_chat_template(oracle):
    ids = oracle.encoder.encode([*CTX, {"role": "assistant", "content": "Paris."}])
    text = oracle.tokenizer.decode(ids)
    assert text == "<|user|>\nWhat is the capital of France?</s>\n<|assistant|>\nParis.</s>\n"


def test_probabilities_from_the_models_own_logits(oracle, model_dir):
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    contexts, firsts, seconds = [], [], []
    for context in (CTX, CTX2):
        for a, b in itertools.permutations(ANSWERS, 2):
            contexts.append(context)
            firsts.append(a)
            seconds.append(b)
    got = oracle.compare(contexts, firsts, seconds)
    r = {(id(c), y): direct_reward(model, tokenizer, c, y) for c in (CTX, CTX2) for y in ANSWERS}
    expected = [
        1 / (1 + np.exp(-(r[id(c), a] - r[id(c), b]) / 0.5))
        for c, a, b in zip(contexts, firsts, seconds, strict=True)
    ]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.ptp(list(r.values())) > 0.1  # the random model does discriminate
    rewards = oracle.rewards([CTX] * len(ANSWERS), ANSWERS)
    np.testing.assert_allclose(rewards, [r[id(CTX), y] for y in ANSWERS], atol=1e-5)


def test_antisymmetry_and_diagonal(oracle):
    pairs = list(itertools.product(ANSWERS, repeat=2))
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    p_ab = oracle.compare([CTX2] * len(pairs), a, b)
    p_ba = oracle.compare([CTX2] * len(pairs), b, a)
    np.testing.assert_allclose(p_ab + p_ba, 1.0, atol=1e-12)
    assert all(p == 0.5 for p, x, y in zip(p_ab, a, b, strict=True) if x == y)


def test_each_answer_is_scored_once_per_call(oracle):
    rows, handle = count_rows(oracle.model)
    try:
        pairs = [(c, a, b) for c in (CTX, CTX2) for a, b in itertools.permutations(ANSWERS, 2)]
        oracle.compare(*(list(column) for column in zip(*pairs, strict=True)))
    finally:
        handle.remove()
    assert len(pairs) == 40
    assert sum(rows) == 2 * len(ANSWERS)  # 10 distinct states, not 80 rows
    assert max(rows) == 3  # in forward passes of batch_size rows


def test_out_of_memory_halves_the_batch(model_dir, oracle):
    small = RewardModelOracle.from_pretrained(model_dir, temperature=0.5, batch_size=8)

    def fail_big(module, args, kwargs):
        if kwargs["input_ids"].shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("injected: more than 2 rows")

    handle = small.model.register_forward_pre_hook(fail_big, with_kwargs=True)
    try:
        a, b = ANSWERS, ANSWERS[1:] + ANSWERS[:1]
        got = small.compare([CTX] * 5, a, b)
    finally:
        handle.remove()
    np.testing.assert_allclose(got, oracle.compare([CTX] * 5, a, b), atol=1e-6)
    assert small.batch_size == 2


def test_nan_from_the_model_is_an_error(model_dir):
    broken = RewardModelOracle.from_pretrained(model_dir)

    def nan_out(module, args, kwargs, output):
        output.logits[1:] = float("nan")
        return output

    handle = broken.model.register_forward_hook(nan_out, with_kwargs=True)
    try:
        with pytest.raises(OracleError, match="NaN or inf for 2 of 3 inputs"):
            broken.compare([CTX, CTX], ["Paris.", "rock"], ["Lyon, I think.", "Paris."])
    finally:
        handle.remove()


def test_score_index_picks_the_reward_column(tmp_path):
    folder = build_tiny_reward_model(tmp_path / "three", num_labels=3)
    oracle = RewardModelOracle.from_pretrained(folder, score_index=2)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    expected = [direct_reward(model, tokenizer, CTX, y, column=2) for y in ANSWERS[:3]]
    np.testing.assert_allclose(oracle.rewards([CTX] * 3, ANSWERS[:3]), expected, atol=1e-5)
    with pytest.raises(ValueError, match="num_labels=3"):
        RewardModelOracle(model, tokenizer, score_index=3)


def test_model_without_pad_token_runs_one_row_at_a_time(model_dir, oracle):
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    model.config.pad_token_id = None
    unpadded = RewardModelOracle(model, oracle.tokenizer, temperature=0.5, batch_size=4)
    rows, handle = count_rows(model)
    try:
        got = unpadded.rewards([CTX] * 4, ANSWERS[:4])
    finally:
        handle.remove()
    assert rows == [1, 1, 1, 1]
    np.testing.assert_allclose(got, oracle.rewards([CTX] * 4, ANSWERS[:4]), atol=1e-5)


def test_max_length_refuses_or_truncates_from_the_left(oracle):
    messages = [*CTX, {"role": "assistant", "content": "Paris."}]
    ids = oracle.encoder.encode(messages)
    strict = RewardModelOracle(oracle.model, oracle.tokenizer, max_length=len(ids) - 1)
    with pytest.raises(ValueError, match=f"max_length={len(ids) - 1}"):
        strict.compare_one(CTX, "Paris.", "rock")
    left = RewardModelOracle(
        oracle.model, oracle.tokenizer, max_length=5, truncation="left", batch_size=1
    )
    with torch.no_grad():
        expected = float(oracle.model(torch.tensor([ids[-5:]])).logits[0, 0])
    assert left.rewards([CTX], ["Paris."])[0] == pytest.approx(expected, abs=1e-5)


def test_bfloat16_load(model_dir):
    oracle = RewardModelOracle.from_pretrained(model_dir, dtype="bfloat16", batch_size=1)
    assert next(oracle.model.parameters()).dtype == torch.bfloat16
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    expected = [direct_reward(oracle.model, tokenizer, CTX, y) for y in ANSWERS[:3]]
    np.testing.assert_allclose(oracle.rewards([CTX] * 3, ANSWERS[:3]), expected, atol=1e-6)


def test_bad_input_and_settings(oracle, model_dir, monkeypatch):
    with pytest.raises(ValueError, match="same length"):
        oracle.compare([CTX, CTX], ["a"], ["b"])
    with pytest.raises(TypeError, match=r"answers\[1\] must be a string"):
        oracle.rewards([CTX, CTX], ["a", 3])
    with pytest.raises(ValueError, match="same length"):
        oracle.rewards([CTX], ["a", "b"])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.chat_template = None
    with pytest.raises(ValueError, match="no chat_template"):
        RewardModelOracle(oracle.model, tokenizer)
    with pytest.raises(TypeError, match="sequence-classification"):
        RewardModelOracle(object(), oracle.tokenizer)

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the settings were checked")

    monkeypatch.setattr(reward_model_module, "load_pretrained", no_load)
    bad = [
        ({"temperature": 0}, ValueError),
        ({"score_index": -1}, ValueError),
        ({"score_index": 1.0}, ValueError),
        ({"truncation": "right"}, ValueError),
        ({"max_length": 0}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"device": "no-such-device"}, ValueError),
        ({"dtype": "float8"}, ValueError),
        ({"temprature": 1.0}, TypeError),
    ]
    for settings, error in bad:
        with pytest.raises(error):
            RewardModelOracle.from_pretrained(model_dir, **settings)


def test_missing_folder_gives_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="sequence-classification reward model"):
        RewardModelOracle.from_pretrained(tmp_path)


def test_store_and_cache_spare_the_model(model_dir, oracle):
    class DictStore:
        def __init__(self):
            self.items = {}

        def get(self, key):
            return self.items.get(key)

        def put_many(self, items):
            self.items.update(items)

    store = DictStore()
    first = RewardModelOracle.from_pretrained(model_dir, temperature=0.5, cache_size=8)
    first.attach_store(store)
    a, b = ANSWERS[:3], ANSWERS[1:4]
    p = first.compare([CTX] * 3, a, b)
    assert len(store.items) == 3
    rows, handle = count_rows(first.model)
    try:
        np.testing.assert_array_equal(first.compare([CTX] * 3, a, b), p)
        assert first.cache_hits == 3
        resumed = RewardModelOracle(first.model, first.tokenizer, temperature=0.5)
        resumed.attach_store(store)
        np.testing.assert_array_equal(resumed.compare([CTX] * 3, a, b), p)
    finally:
        handle.remove()
    assert rows == []  # neither the cache nor the store asked the model again
    np.testing.assert_allclose(p, oracle.compare([CTX] * 3, a, b), atol=1e-6)
