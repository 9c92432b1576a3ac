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
