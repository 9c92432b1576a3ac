from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from ompo_envs.oracles import PairPreferenceLM  # noqa: E402
from ompo_envs.oracles.pair_lm import format_context, load_causal_lm  # noqa: E402
from ompo_envs.oracles.tiny_models import build_tiny_causal_lm  # noqa: E402

CTX = [{"role": "user", "content": "What is the capital of France?"}]
ANSWERS = ["Paris.", "Lyon, I think.", "rock", "The capital of France is Paris.", ""]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny_lm"))


@pytest.fixture(scope="module")
def oracle(model_dir):
    return PairPreferenceLM.from_pretrained(model_dir)


def test_prompt_format(oracle):
    assert format_context(CTX) == "\n\n\n<turn> user\n What is the capital of France?\n\n\n"
    expected = (
        "<|user|>\n[CONTEXT] \n\n\n<turn> user\n What is the capital of France?\n\n\n "
        "[RESPONSE A] Paris. [RESPONSE B] rock \n</s>\n"
    )
    assert oracle.prompt(CTX, "Paris.", "rock") == expected


def test_known_value_from_manual_forward(oracle):
    def gap(a, b):
        ids = oracle.tokenizer.encode(oracle.prompt(CTX, a, b), add_special_tokens=False)
        with torch.no_grad():
            logits = oracle.model(torch.tensor([ids])).logits[0, -1]
        return float(logits[oracle.token_id_a] - logits[oracle.token_id_b])

    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    expected = 0.5 * (sig(gap("Paris.", "rock")) + 1 - sig(gap("rock", "Paris.")))
    got = oracle.compare_one(CTX, "Paris.", "rock")
    assert got == pytest.approx(expected, abs=1e-6)
    assert abs(got - 0.5) > 1e-4  # the random model does discriminate


def test_pure_position_bias_cancels(oracle):
    class AlwaysA(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask, position_ids, logits_to_keep):
            logits = torch.zeros(input_ids.shape[0], 1, 400)
            logits[:, :, oracle.token_id_a] = 5.0
            return SimpleNamespace(logits=logits)

    biased = PairPreferenceLM(AlwaysA(), oracle.tokenizer)
    assert biased.compare_one(CTX, "Paris.", "rock") == pytest.approx(0.5, abs=1e-12)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(a=st.sampled_from(ANSWERS), b=st.sampled_from(ANSWERS))
def test_antisymmetry_and_diagonal(oracle, a, b):
    p_ab = oracle.compare_one(CTX, a, b)
    assert p_ab + oracle.compare_one(CTX, b, a) == pytest.approx(1.0, abs=1e-12)
    assert oracle.compare_one(CTX, a, a) == 0.5
    assert 0.0 <= p_ab <= 1.0


def test_batched_equals_one_by_one(oracle):
    a = ANSWERS
    b = [*ANSWERS[::-1][:4], "Paris."]
    ctxs = [
        CTX,
        [*CTX, {"role": "assistant", "content": "Hm."}, {"role": "user", "content": "So?"}],
    ] * 3
    ctxs = ctxs[:5]
    batched = oracle.compare(ctxs, a, b)
    single = [oracle.compare_one(c, x, y) for c, x, y in zip(ctxs, a, b, strict=True)]
    np.testing.assert_allclose(batched, single, atol=1e-6)


def test_cache(model_dir):
    lm, tok = load_causal_lm(model_dir)
    cached = PairPreferenceLM(lm, tok, cache_size=4)
    first = cached.compare_one(CTX, "Paris.", "rock")
    second = cached.compare_one(CTX, "Paris.", "rock")
    assert cached.cache_hits == 1
    assert first == second


def test_oom_backoff(oracle):
    class SmallGpu(PairPreferenceLM):
        def _ordered_logits(self, contexts, first, second):
            if len(first) > 4:  # both orders of more than 2 pairs
                raise torch.cuda.OutOfMemoryError("fake OOM")
            return super()._ordered_logits(contexts, first, second)

    small = SmallGpu(oracle.model, oracle.tokenizer, batch_size=8)
    a, b = ANSWERS, ANSWERS[1:] + ANSWERS[:1]
    np.testing.assert_allclose(
        small.compare([CTX] * 5, a, b), oracle.compare([CTX] * 5, a, b), atol=1e-6
    )
    assert small.batch_size == 2


def test_bad_input(oracle):
    with pytest.raises(ValueError, match="same length"):
        oracle.compare([CTX, CTX], ["a"], ["b"])
    with pytest.raises(TypeError, match="answers_a\\[0\\] must be a string"):
        oracle.compare([CTX], [b"a"], ["b"])
    with pytest.raises(ValueError, match="empty"):
        oracle.compare([[]], ["a"], ["b"])
    short = PairPreferenceLM(oracle.model, oracle.tokenizer, max_length=10)
    with pytest.raises(ValueError, match="max_length=10"):
        short.compare_one(CTX, "a", "b")
    with pytest.raises(ValueError, match="temperature"):
        PairPreferenceLM(oracle.model, oracle.tokenizer, temperature=-1)


def test_hub_name_offline_gives_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="not a local directory") as info:
        PairPreferenceLM.from_pretrained("ompo-envs-test/no-such-pair-model")
    message = str(info.value)
    assert "ompo-envs-test/no-such-pair-model" in message
    assert "offline" in message and "--local-dir" in message


def test_broken_local_directory(tmp_path):
    with pytest.raises(ValueError, match="from the directory"):
        load_causal_lm(tmp_path)
