from __future__ import annotations

import numpy as np
import pytest

import ompo_envs
from ompo_envs.lm import LMPolicy, SamplingParams
from ompo_envs.lm.backends import TransformersBackend
from ompo_envs.lm.prompting import context_length

from .conftest import CONVERSATION, RPS_PROMPT


def _answers(policy, seed, k=8):
    return [c.text for c in policy.generate([CONVERSATION], k, np.random.default_rng(seed))[0]]


def test_sampling_is_deterministic_given_the_seed(policy):
    assert _answers(policy, 0) == _answers(policy, 0)
    assert _answers(policy, 0) != _answers(policy, 1)


def test_plays_a_text_env_through_the_env_api(policy):
    env = ompo_envs.make("TextRockPaperScissors-v0")
    observations, infos = env.reset(seed=0)
    rng = np.random.default_rng(0)
    agents = list(env.agents)
    answers = policy.sample_batch(
        [observations[a] for a in agents], [infos[a] for a in agents], rng
    )
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    env.step(dict(zip(agents, answers, strict=True)))
    assert policy.key(observations["player_0"], infos["player_0"]) == (
        ("user", CONVERSATION[0]["content"]),
    )
    assert isinstance(policy.sample(observations["player_0"], infos["player_0"], rng), str)


def test_a_non_text_env_is_a_clear_error(policy):
    env = ompo_envs.make("RockPaperScissors-v0")
    observations, infos = env.reset(seed=0)
    with pytest.raises(TypeError, match=r"infos\[agent\]\['messages'\]"):
        policy.sample(observations["player_0"], infos["player_0"], np.random.default_rng(0))


def test_k_samples_stop_strings_and_length_limit(policy):
    params = SamplingParams(num_samples=5, max_new_tokens=4)
    out = policy.backend.generate([CONVERSATION, CONVERSATION], params, seed=3)
    assert [len(x) for x in out] == [5, 5]
    assert all(c.num_tokens <= 4 for row in out for c in row)
    assert all(c.finish_reason in ("stop", "length") for row in out for c in row)
    free = policy.backend.generate(
        [CONVERSATION], SamplingParams(num_samples=20, max_new_tokens=8), 5
    )
    text = next(c.text for c in free[0] if len(c.text) > 2)
    stop = text[1:3]
    cut = policy.backend.generate(
        [CONVERSATION], SamplingParams(num_samples=20, max_new_tokens=8, stop=(stop,)), 5
    )
    for completion in cut[0]:
        assert stop not in completion.text


def test_greedy_decoding_gives_identical_answers(policy):
    out = policy.backend.generate([CONVERSATION], SamplingParams(num_samples=3, temperature=0), 0)
    assert len({c.text for c in out[0]}) == 1


def test_sampling_params_are_validated():
    with pytest.raises(ValueError, match="temperature"):
        SamplingParams(temperature=-1)
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=0)
    with pytest.raises(ValueError, match="num_samples"):
        SamplingParams(num_samples=0)
    with pytest.raises(TypeError, match="stop"):
        SamplingParams(stop="###")  # type: ignore[arg-type]


def test_save_load_round_trip(policy, tmp_path):
    policy.sampling = SamplingParams(max_new_tokens=5, temperature=0.7, stop=("\n",))
    before = policy.score([CONVERSATION] * 2, ["rock", "paper"])
    directory = policy.save(tmp_path / "iteration_1")
    assert (directory / "model.safetensors").is_file()
    loaded = LMPolicy.from_pretrained(directory)
    assert loaded.sampling == policy.sampling
    np.testing.assert_array_equal(loaded.score([CONVERSATION] * 2, ["rock", "paper"]), before)
    assert _answers(loaded, 4) == _answers(policy, 4)


def test_copy_is_frozen_and_independent(policy):
    frozen = policy.copy()
    before = frozen.score([CONVERSATION], ["rock"])
    for p in policy.model.parameters():
        p.data.add_(0.01)
    assert frozen.score([CONVERSATION], ["rock"]) == pytest.approx(before)
    assert policy.score([CONVERSATION], ["rock"]) != pytest.approx(before)
    assert not any(p.requires_grad for p in frozen.model.parameters())


def test_shared_prefill_gives_the_same_answers(policy):
    from ompo_envs.lm import TransformersBackend

    other = [{"role": "user", "content": "What is the capital of France?"}]
    conversations = [CONVERSATION, other, CONVERSATION]
    for params in (
        SamplingParams(num_samples=3, max_new_tokens=5, temperature=0),
        SamplingParams(num_samples=3, max_new_tokens=5),
    ):
        shared = TransformersBackend(policy.model, policy.format, batch_size=4)
        plain = TransformersBackend(policy.model, policy.format, batch_size=4, share_prefill=False)
        a = shared.generate(conversations, params, seed=11)
        b = plain.generate(conversations, params, seed=11)
        assert [[c.text for c in row] for row in a] == [[c.text for c in row] for row in b]


def test_a_prompt_is_prefilled_apart_only_where_its_rows_share_it(policy):
    """K = 1 on distinct prompts: generate's own prefill, no extra one-token forward pass."""
    from unittest import mock

    other = [{"role": "user", "content": "What is the capital of France?"}]
    backend = TransformersBackend(policy.model, policy.format, batch_size=8)
    with mock.patch.object(backend, "_prefill", wraps=backend._prefill) as prefill:
        backend.generate([CONVERSATION, other], SamplingParams(max_new_tokens=2), seed=0)
        assert prefill.call_count == 0
        backend.generate([CONVERSATION, other, CONVERSATION], SamplingParams(max_new_tokens=2), 0)
        assert prefill.call_count == 1  # one prompt asked twice
        backend.generate([CONVERSATION, other], SamplingParams(num_samples=2, max_new_tokens=2), 0)
        assert prefill.call_count == 2


def test_truncate_prompts_keeps_the_last_tokens_that_fit(policy):
    """Evaluation's backend cuts an over-long prompt on the left instead of refusing it."""
    long = [{"role": "user", "content": "x7q " * 2000 + RPS_PROMPT}]
    params = SamplingParams(num_samples=2, temperature=0.0, max_new_tokens=6)
    full = policy.format.prompt_ids(long)
    room = policy.format.context_length - params.max_new_tokens
    assert len(full) > room
    strict = TransformersBackend(policy.model, policy.format)
    with pytest.raises(ValueError, match="context"):
        strict.generate([long], params, seed=0)
    backend = TransformersBackend(policy.model, policy.format, truncate_prompts=True)
    (answers,) = backend.generate([long], params, seed=0)
    assert len(answers) == 2 and backend.truncated_prompts == 1
    assert backend.prompt_tokens == 2 * room  # K rows, each from the last `room` prompt tokens
    backend.generate([CONVERSATION], params, seed=0)
    assert backend.truncated_prompts == 1


def test_context_length_is_the_smaller_known_limit(policy):
    model, tokenizer = policy.model, policy.tokenizer
    assert context_length(model, tokenizer) == model.config.max_position_embeddings == 1024
    saved = tokenizer.model_max_length
    try:
        tokenizer.model_max_length = 512
        assert context_length(model, tokenizer) == 512
        tokenizer.model_max_length = int(1e30)  # transformers' "unknown"
        assert context_length(model, tokenizer) == 1024
        assert context_length(object(), tokenizer) is None
    finally:
        tokenizer.model_max_length = saved
