"""LM solvers with LoRA: one adapter per iteration on top of π^t, merged into π^{t+1}."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

import ompo_envs  # noqa: E402
from ompo_envs.lm import LMPolicy  # noqa: E402
from ompo_envs.lm.lora import LoraSettings  # noqa: E402
from ompo_envs.lm.training import OptimizerConfig  # noqa: E402
from solvers.lm import LMOMPO  # noqa: E402

SMALL = {
    "num_prompts": 4,
    "num_samples": 4,
    "eval_episodes": 32,
    "optimizer": OptimizerConfig(learning_rate=0.05, epochs=3, batch_size=32),
}
LORA = LoraSettings(r=4, alpha=8.0, target_modules=("q_proj", "v_proj"))


def _adapted_name(name: str) -> str:
    """The base weight a snapshot's ``...q_proj.lora_A.weight`` belongs to."""
    return name.removeprefix("base_model.model.").split(".lora_")[0] + ".weight"


def test_an_iteration_changes_only_the_targeted_weights_by_the_merged_adapter(rps_policy):
    env = ompo_envs.make("TextRockPaperScissors-v0")
    solver = LMOMPO(env, policy=rps_policy, beta=1.0, seed=0, lora=LORA, **SMALL)
    before = {k: v.detach().clone() for k, v in rps_policy.model.state_dict().items()}
    metrics = solver.step()
    assert metrics["records"] > 0 and metrics["optimizer_steps"] >= 1
    after = rps_policy.model.state_dict()
    assert after.keys() == before.keys()  # merged: a plain model again, no adapter layers
    state = solver._adapter.state
    targets = {_adapted_name(name) for name in state}
    assert targets and all(k.split(".")[-2] in ("q_proj", "v_proj") for k in targets)
    for key, value in after.items():
        if key not in targets:
            assert torch.equal(value, before[key]), key  # frozen base weights
            continue
        prefix = "base_model.model." + key.removesuffix(".weight")
        lora_a, lora_b = state[prefix + ".lora_A.weight"], state[prefix + ".lora_B.weight"]
        delta = (lora_b @ lora_a) * (LORA.alpha / LORA.r)
        assert delta.abs().max() > 0, key  # the adapter was trained
        torch.testing.assert_close(value, before[key] + delta, atol=1e-7, rtol=0)
    assert all(p.requires_grad for p in rps_policy.model.parameters())


def test_merged_and_adapter_saves_load_to_the_same_policy(rps_start, tmp_path):
    import copy

    env = ompo_envs.make("TextRockPaperScissors-v0")
    policies = {}
    for mode in ("merged", "adapter"):
        policy = copy.deepcopy(rps_start)
        folder = tmp_path / mode
        solver = LMOMPO(
            env,
            policy=policy,
            beta=1.0,
            seed=0,
            lora=LORA,
            lora_save=mode,
            checkpoint_dir=str(folder),
            **SMALL,
        )
        for _ in range(2):
            solver.step()
        policies[mode] = policy
    assert (tmp_path / "merged" / "iteration_2" / "model.safetensors").is_file()
    assert (tmp_path / "adapter" / "iteration_2" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "adapter" / "iteration_2" / "model.safetensors").exists()
    # the two runs trained the same policy, and both folders load to it
    expected = policies["merged"].model.state_dict()
    for key, value in policies["adapter"].model.state_dict().items():
        assert torch.equal(value, expected[key]), key
    conversation = [{"role": "user", "content": "rock, paper or scissors?"}]
    reference = policies["merged"].score([conversation] * 3, ["rock", "paper", "scissors"])
    for mode in ("merged", "adapter"):
        loaded = LMPolicy.from_pretrained(tmp_path / mode / "iteration_2")
        scores = loaded.score([conversation] * 3, ["rock", "paper", "scissors"])
        assert scores.tolist() == pytest.approx(reference.tolist(), abs=1e-6), mode
