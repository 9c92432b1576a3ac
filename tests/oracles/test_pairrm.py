"""Native PairRM oracle on a tiny random checkpoint in llm-blender/PairRM's published format."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ompo_envs.oracles.pairrm import (
    CONVERSATION_INSTRUCTION,
    PairRM,
    conversation_turns,
    pairrm_texts,
)
from ompo_envs.oracles.pairrm_checkpoint import build_tiny_pairrm_checkpoint

# The ranker config keys of the published llm-blender/PairRM config.json.
PUBLISHED_CONFIG_KEYS = {
    "ranker_type", "model_type", "model_name", "cache_dir", "load_checkpoint",
    "source_maxlength", "candidate_maxlength", "n_tasks", "num_pos", "num_neg",
    "sub_sampling_mode", "sub_sampling_ratio", "loss_type", "reduce_type", "inference_mode",
    "drop_out", "fp16",
}  # fmt: skip


def user(text):
    return [{"role": "user", "content": text}]


CONTEXTS = [
    user("Hello, how are you?"),
    user("Explain the Nash equilibrium in simple words."),
    [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Spain?"},
    ],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Write a short poem about the sea."},
    ],
]
ANSWERS_A = ["I am fine, thank you!", "It is a stable point.", "Madrid.", "Waves, wind, stars."]
ANSWERS_B = ["Go away.", "No idea, sorry.", "Lisbon, I think.", "The sea is big and blue."]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return build_tiny_pairrm_checkpoint(tmp_path_factory.mktemp("pairrm"), seed=0)


@pytest.fixture(scope="module")
def oracle(checkpoint):
    return PairRM(checkpoint, device="cpu", batch_size=4)


# ---------------------------------------------------------------- checkpoint format
def test_tiny_checkpoint_has_published_layout(checkpoint):
    from safetensors.torch import load_file

    names = {p.name for p in checkpoint.iterdir()}
    assert {
        "config.json", "ranker_config.json", "model.safetensors", "spm.model", "tokenizer.json",
        "tokenizer_config.json", "added_tokens.json", "special_tokens_map.json",
    } <= names  # fmt: skip
    config = json.loads((checkpoint / "config.json").read_text())
    assert set(config) == PUBLISHED_CONFIG_KEYS
    assert config["ranker_type"] == "pairranker" and config["model_type"] == "deberta"
    assert (config["source_maxlength"], config["candidate_maxlength"]) == (1224, 412)
    added = json.loads((checkpoint / "added_tokens.json").read_text())
    mask = added["[MASK]"]
    markers = ("<|source|>", "<|candidate1|>", "<|candidate2|>", "<|candidate|>")
    assert [added[t] for t in markers] == [mask + 1, mask + 2, mask + 3, mask + 4]
    state = load_file(checkpoint / "model.safetensors")
    head = sorted(k for k in state if not k.startswith("pretrained_model."))
    assert head == [f"head_layer.{i}.{p}" for i in (1, 4) for p in ("bias", "weight")]
    assert "pretrained_model.encoder.layer.1.attention.self.query_proj.weight" in state
    assert state["pretrained_model.embeddings.word_embeddings.weight"].shape[0] == mask + 5


def test_tiny_checkpoint_is_seeded(tmp_path, checkpoint):
    from safetensors.torch import load_file

    again = load_file(build_tiny_pairrm_checkpoint(tmp_path, seed=0) / "model.safetensors")
    first = load_file(checkpoint / "model.safetensors")
    assert all(np.array_equal(first[k].numpy(), again[k].numpy()) for k in first)
    other = load_file(build_tiny_pairrm_checkpoint(tmp_path / "s1", seed=1) / "model.safetensors")
    key = "head_layer.1.weight"
    assert not np.array_equal(first[key].numpy(), other[key].numpy())


# ---------------------------------------------------------------- formatting
def test_single_turn_texts_are_the_raw_prompt_and_answer():
    assert pairrm_texts(user("Hi?"), "Hello.") == ("Hi?", "Hello.")


def test_multi_turn_texts_follow_compare_conversations():
    source, candidate = pairrm_texts(CONTEXTS[2], "Madrid.")
    assert source == (
        "Finish the following coversation in each i-th turn by filling in <Response i> with your "
        "response.USER: What is the capital of France?\nAssistant: <Response 1>\n"
        "USER: And of Spain?\nAssistant: <Response 2>"
    )
    assert source.startswith(CONVERSATION_INSTRUCTION)
    assert candidate == "<Response 1>: Paris.\n<Response 2>: Madrid."


def test_system_message_is_merged_into_the_next_user_turn():
    assert conversation_turns(CONTEXTS[3]) == ([], "Be brief.\nWrite a short poem about the sea.")


# ---------------------------------------------------------------- probabilities
def test_logits_are_order_one_and_probabilities_valid(oracle):
    p = oracle.compare(CONTEXTS, ANSWERS_A, ANSWERS_B)
    assert p.shape == (4,) and p.dtype == np.float64
    assert np.all((p > 0) & (p < 1))
    log_odds = oracle.log_odds(CONTEXTS, ANSWERS_A, ANSWERS_B)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-log_odds)), atol=1e-12)
    assert np.abs(log_odds).max() > 0.3  # the random checkpoint is not trivially indifferent


words = st.sampled_from(
    ["hello", "the", "sea", "Paris", "fox", "[SEP]", "<|source|>", "42", "!", "é", "\n", "  "]
)
texts = st.lists(words, max_size=8).map(" ".join)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(prompt=texts, a=texts, b=texts, multi=st.booleans())
def test_antisymmetric_and_half_on_diagonal(oracle, prompt, a, b, multi):
    context = CONTEXTS[2][:2] + user(prompt) if multi else user(prompt)
    p_ab, p_ba, p_aa = oracle.compare([context] * 3, [a, b, a], [b, a, a])
    assert p_ab + p_ba == pytest.approx(1.0, abs=1e-6)
    assert p_aa == 0.5
    assert 0.0 <= p_ab <= 1.0
    # the model path (no a == b shortcut) is antisymmetric too
    assert oracle.log_odds([context], [a], [a])[0] == pytest.approx(0.0, abs=1e-5)


def test_batched_equals_one_by_one(checkpoint):
    oracle = PairRM(checkpoint, device="cpu", batch_size=3)
    contexts, firsts, seconds = CONTEXTS * 2, ANSWERS_A + ANSWERS_B, ANSWERS_B + ANSWERS_A
    batched = oracle.compare(contexts, firsts, seconds)
    single = [
        oracle.compare_one(c, a, b) for c, a, b in zip(contexts, firsts, seconds, strict=True)
    ]
    np.testing.assert_allclose(batched, single, atol=1e-5)  # float32 model, padding differs


def test_truncation_respects_source_and_candidate_budgets(checkpoint):
    oracle = PairRM(checkpoint, device="cpu", source_max_length=12, candidate_max_length=6)
    long = "the quick brown fox jumps over the lazy dog " * 10
    source = oracle._encode(long, "<|source|>", 12)
    assert len(source) == 12 and source[-1] == oracle._tokenizer.sep_token_id
    # a short source leaves room that the candidates share
    short = oracle._encode("Hi", "<|source|>", 12)
    assert len(short) < 12
    p = oracle.compare([user(long)], [long + "a"], [long + "b"])
    assert np.isfinite(p).all()
    # answers that differ only after the truncation point are indistinguishable
    assert p[0] == pytest.approx(0.5, abs=1e-6)


# ---------------------------------------------------------------- errors
def test_hub_name_offline_gives_a_clear_error(tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    real = huggingface_hub.snapshot_download
    calls = []

    def local_only(*args, **kwargs):
        calls.append(kwargs)
        assert kwargs.get("local_files_only") is True  # never reach the hub
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", local_only)
    with pytest.raises(ValueError) as info:
        PairRM("llm-blender/PairRM", cache_dir=tmp_path)
    message = str(info.value)
    assert "llm-blender/PairRM" in message and "HF_HUB_OFFLINE" in message
    assert "from_pretrained('/path/to/PairRM'" in message and "EmbeddingOracle" in message
    assert calls


def test_missing_folder_and_wrong_config(tmp_path, checkpoint):
    with pytest.raises(ValueError, match="not a folder"):
        PairRM(tmp_path / "nowhere")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"ranker_type": "summareranker"}))
    with pytest.raises(ValueError, match="pairranker"):
        PairRM(bad)
    with pytest.raises(ValueError, match=r"no config\.json"):
        PairRM(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "float64"}, "dtype"),
        ({"source_max_length": 2}, "source_max_length"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_settings(checkpoint, kwargs, match):
    with pytest.raises(ValueError, match=match):
        PairRM(checkpoint, device="cpu", **kwargs)


def test_bad_inputs(oracle):
    with pytest.raises(ValueError, match="same length"):
        oracle.compare([user("x")], ["a", "b"], ["c"])
    with pytest.raises(TypeError, match="string"):
        oracle.compare([user("x")], [1], ["c"])
    with pytest.raises(ValueError, match="end with the user turn"):
        oracle.compare([[*user("x"), {"role": "assistant", "content": "y"}]], ["a"], ["b"])
    with pytest.raises(ValueError, match="alternate"):
        oracle.compare([[*user("x"), *user("y")]], ["a"], ["b"])
    with pytest.raises(ValueError, match="empty"):
        oracle.log_odds([[]], ["a"], ["b"])


# ---------------------------------------------------------------- whole conversations
def conversation(users, replies, system=None):
    messages = [] if system is None else [{"role": "system", "content": system}]
    for u, r in zip(users, replies, strict=True):
        messages += [{"role": "user", "content": u}, {"role": "assistant", "content": r}]
    return messages


USERS = ["Write a recipe.", "Then?", "For how long?"]
CONV_A = conversation(USERS, ["Mix flour and water.", "Bake it.", "30 minutes."])
CONV_B = conversation(USERS, ["Buy bread.", "Eat it.", "Forever."])


def test_conversations_are_antisymmetric_and_half_when_identical(oracle):
    firsts = [CONV_A, CONV_A[:4], CONV_A, CONV_B]
    seconds = [CONV_B, CONV_B[:4], CONV_A, CONV_B]
    p = oracle.compare_conversations(firsts, seconds)
    q = oracle.compare_conversations(seconds, firsts)
    assert p.shape == (4,) and p.dtype == np.float64
    np.testing.assert_allclose(p + q, 1.0, atol=1e-6)
    assert p[2] == 0.5 and p[3] == 0.5
    assert abs(p[0] - 0.5) > 1e-3


def test_earlier_replies_change_the_conversation_preference(oracle):
    """The players' own histories are compared: only an earlier reply differs here."""
    last = ["Bake it.", "30 minutes."]
    a = conversation(USERS, ["Mix flour and water.", *last])
    b = conversation(USERS, ["I will not help you.", *last])
    p = oracle.compare_conversations([a], [b])[0]
    assert abs(p - 0.5) > 1e-4
    # ... whereas compare() puts the context's replies into both candidates.
    assert oracle.compare([a[:-1]], [a[-1]["content"]], [b[-1]["content"]])[0] == 0.5


@pytest.mark.parametrize("system", [None, "Be brief."])
@pytest.mark.parametrize("turns", [1, 2, 3])
def test_shared_history_equals_compare(oracle, turns, system):
    history = conversation(USERS[: turns - 1], ["Mix flour and water.", "Bake it."][: turns - 1])
    if system is not None:
        history = [{"role": "system", "content": system}, *history]
    context = [*history, {"role": "user", "content": USERS[turns - 1]}]
    a = [*context, {"role": "assistant", "content": "Soon."}]
    b = [*context, {"role": "assistant", "content": "Never, sorry."}]
    expected = oracle.compare([context], ["Soon."], ["Never, sorry."])
    np.testing.assert_allclose(oracle.compare_conversations([a], [b]), expected, atol=1e-6)


def test_conversations_use_the_batching_and_cache_of_compare(checkpoint, oracle):
    cached = PairRM(checkpoint, device="cpu", batch_size=2, cache_size=16)
    firsts = [CONV_A, CONV_A[:2], CONV_A[:4], CONV_B]
    seconds = [CONV_B, CONV_B[:2], CONV_B[:4], CONV_A]
    first = cached.compare_conversations(firsts, seconds)  # two batches of two pairs
    assert cached.cache_hits == 0
    np.testing.assert_allclose(first, oracle.compare_conversations(firsts, seconds), atol=1e-6)
    again = cached.compare_conversations(firsts, seconds)
    assert cached.cache_hits == 4
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize(
    ("conversations_a", "conversations_b", "error", "match"),
    [
        ([CONV_A], [CONV_B, CONV_B], ValueError, "same length"),
        (CONV_A, CONV_B, TypeError, "list of"),
        ([CONV_A], [CONV_B[:4]], ValueError, "3 user turns but conversations_b.0. has 2"),
        (
            [CONV_A],
            [conversation(["Write a recipe.", "And?", "For how long?"], ["x", "y", "z"])],
            ValueError,
            "user turn 2 differs",
        ),
        (
            [conversation(USERS, ["a", "b", "c"], system="Be brief.")],
            [conversation(USERS, ["a", "b", "d"])],
            ValueError,
            "user turn 1 differs",
        ),
        ([CONV_A[:-1]], [CONV_B[:-1]], ValueError, "must end with an assistant turn"),
        ([CONV_A[1:]], [CONV_B[1:]], ValueError, "alternate"),
        ([[*CONV_A[:2], *CONV_A[:2]]], [CONV_B[:4]], ValueError, "user turn 2 differs"),
        ([[{"role": "USER", "content": "hi"}]], [CONV_B[:2]], ValueError, "role"),
        ([[]], [CONV_B[:2]], ValueError, "empty"),
    ],
)
def test_bad_conversations(oracle, conversations_a, conversations_b, error, match):
    with pytest.raises(error, match=match):
        oracle.compare_conversations(conversations_a, conversations_b)
