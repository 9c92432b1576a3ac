"""TRL's GRPOTrainer trains a tiny LM in TextRockPaperScissors-v0 through
``ompo_envs.wrappers.trl``: the rewards TRL logs are the env's, and the weights move."""

from __future__ import annotations

import numpy as np
import pytest

import ompo_envs
from ompo_envs.oracles.synthetic import BradleyTerryOracle
from ompo_envs.wrappers.trl import (
    TextGameEnvironment,
    game_reward,
    text_game_dataset,
    text_game_factory,
)


def always_rock(observation, info, rng):
    return "rock"


def ok(observation, info, rng):
    return "ok"


def _env_reward(answer: str) -> float:
    """player_0's reward for ``answer`` against "rock", straight from the env."""
    env = ompo_envs.make("TextRockPaperScissors-v0")
    env.reset(seed=0)
    _, rewards, *_ = env.step({"player_0": answer, "player_1": "rock"})
    return float(rewards["player_0"])


def test_environment_plays_player_0_against_the_fixed_opponent():
    environment = text_game_factory("TextRockPaperScissors-v0", always_rock)()
    assert (
        environment.reset()
        == ompo_envs.make("TextRockPaperScissors-v0").reset(seed=0)[1]["player_0"]["messages"][-1][
            "content"
        ]
    )
    assert game_reward(["paper"], [environment]) == [1.0]
    environment.reset()
    assert game_reward([[{"role": "assistant", "content": "scissors"}]], [environment]) == [0.0]
    environment.reset()
    assert game_reward(["rock"], [environment]) == [0.5]
    assert [h["answer_class"] for h in environment.history] == ["paper", "scissors", "rock"]


def test_a_multi_turn_game_plays_its_first_turn():
    """MTBench101-v0 with a length oracle: the prompt is the dialogue's first user turn and
    the reward P(a ≻ a') = σ((|a| − |a'|) / 10) against the opponent's "ok"."""
    oracle = BradleyTerryOracle(lambda context, answer: len(answer) / 10.0)
    factory = text_game_factory(
        "MTBench101-v0", lambda o, i, r: "ok", env_kwargs={"oracle": oracle}
    )
    environment = factory()
    env = ompo_envs.make("MTBench101-v0", oracle=oracle)
    first_turn = env.reset(seed=0)[1]["player_0"]["messages"][-1]["content"]
    assert environment.reset() == first_turn
    answer = "a much longer answer than ok"
    expected = 1 / (1 + np.exp(-(len(answer) - 2) / 10))
    assert game_reward([answer], [environment]) == [pytest.approx(expected, abs=1e-12)]


def test_a_dataset_holds_states_at_every_turn_and_reset_replays_them():
    """MTBench101-v0: rows at turns h ≥ 1 whose earlier answers came from the prefix policy;
    reset(**row) rebuilds exactly that conversation and the answer is judged there."""
    pytest.importorskip("datasets")
    oracle = BradleyTerryOracle(lambda context, answer: len(answer) / 10.0)
    options = {"env_kwargs": {"oracle": oracle}}
    earlier = "an earlier answer"
    rows = text_game_dataset(
        "MTBench101-v0", ok, 8, prefix_policy=lambda o, i, r: earlier, seed=1, **options
    )
    assert len(rows) == 8 and max(len(p) for p in rows["prefix"]) >= 2
    environment = text_game_factory("MTBench101-v0", ok, **options)()
    for row in rows:
        prompt = row["prompt"]
        assert prompt[-1]["role"] == "user"
        assert [m["content"] for m in prompt if m["role"] == "assistant"] == row["prefix"]
        assert set(row["prefix"]) <= {earlier}
        assert environment.reset(**row) is None
        answer = "x" * (3 + len(row["prefix"]))
        expected = 1 / (1 + np.exp(-(len(answer) - 2) / 10))
        assert game_reward([answer], [environment]) == [pytest.approx(expected, abs=1e-12)]
        assert environment.history[-1]["prompt"] == prompt[-1]["content"]
    deepest = max(rows, key=lambda row: len(row["prefix"]))
    wrong = {**deepest, "prefix": ["another answer"] * len(deepest["prefix"])}
    with pytest.raises(ValueError, match="text_game_dataset"):
        environment.reset(**wrong)


def test_bad_uses_are_refused_with_what_to_do():
    with pytest.raises(ValueError, match="environment_factory"):
        game_reward(["rock"], None)
    environment = TextGameEnvironment(ompo_envs.make("TextRockPaperScissors-v0"), always_rock)
    with pytest.raises(RuntimeError, match="reset"):
        game_reward(["rock"], [environment])
    with pytest.raises(Exception, match="NoSuchGame"):
        text_game_factory("NoSuchGame-v0", always_rock)


@pytest.mark.parametrize("from_dataset", [False, True], ids=["no-dataset", "text_game_dataset"])
def test_grpo_steps_log_the_env_rewards_and_change_the_weights(
    tiny_tool_lm_dir, tmp_path, from_dataset
):
    pytest.importorskip("trl")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    model = AutoModelForCausalLM.from_pretrained(tiny_tool_lm_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_tool_lm_dir)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    make_environment = text_game_factory("TextRockPaperScissors-v0", always_rock)
    pool = []

    def factory():
        pool.append(make_environment())
        return pool[-1]

    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        use_cpu=True,
        bf16=False,
        report_to="none",
        max_steps=3,
        num_generations=4,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=1,
        max_completion_length=4,
        learning_rate=0.05,
        logging_steps=1,
        save_strategy="no",
        seed=0,
    )
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=[game_reward],
        environment_factory=factory,
        train_dataset=(
            text_game_dataset("TextRockPaperScissors-v0", always_rock, 3) if from_dataset else None
        ),
        args=args,
    )
    trainer.train()
    logged = [h for h in trainer.state.log_history if "rewards/game_reward/mean" in h]
    assert len(logged) == 3
    # TRL keeps one instance per rollout of a batch (the first made when it probes the
    # factory) and reuses them, in order, every step
    assert len(pool) == 4 and all(len(e.history) == 3 for e in pool)
    for step, entry in enumerate(logged):
        played = [e.history[step] for e in pool]
        # every reward is the env's own for that answer against the opponent's "rock"
        assert [p["reward"] for p in played] == [_env_reward(p["answer"]) for p in played]
        assert all(p["prompt"].startswith("Let's play rock-paper-scissors") for p in played)
        rewards = np.array([p["reward"] for p in played])
        assert entry["rewards/game_reward/mean"] == pytest.approx(rewards.mean(), abs=1e-6)
        assert entry["rewards/game_reward/std"] == pytest.approx(rewards.std(ddof=1), abs=1e-6)
    assert any(h["rewards/game_reward/std"] > 0 for h in logged)  # some step had an advantage
    moved = max(float((p.detach() - before[n]).abs().max()) for n, p in model.named_parameters())
    assert moved > 1e-4
    assert all(torch.isfinite(p).all() for p in model.parameters())
