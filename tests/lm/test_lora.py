"""LoRA adapters on a tiny Llama: settings, the merge, saving merged or as an adapter."""

from __future__ import annotations

import re

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from ompo_envs.lm import LMPolicy  # noqa: E402
from ompo_envs.lm.lora import (  # noqa: E402
    LoraSettings,
    adapter_snapshot,
    attach_adapter,
    linear_module_names,
    merge_adapter,
    save_adapter,
)

from .conftest import CONVERSATION  # noqa: E402

SETTINGS = LoraSettings(r=4, alpha=8.0, target_modules=("q_proj", "v_proj", "down_proj"))
ANSWERS = ["rock", "paper", "scissors"]


def _randomise_b(adapted, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in adapted.named_parameters():
            if ".lora_B." in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"r": 0}, "r = 0 is not allowed: expected an integer >= 1"),
        ({"r": 2.5}, "r = 2.5 is not allowed"),
        ({"alpha": 0}, "alpha = 0 is not allowed: expected a number > 0"),
        ({"dropout": 1.0}, "dropout = 1.0 is not allowed: expected 0 <= dropout < 1"),
        ({"dropout": -0.1}, "dropout = -0.1 is not allowed"),
        ({"target_modules": ()}, "target_modules = () is not allowed: expected a non-empty list"),
        ({"target_modules": "q_proj"}, "target_modules = 'q_proj' is not allowed"),
        ({"target_modules": ("q_proj", 3)}, "target_modules = ('q_proj', 3) is not allowed"),
    ],
)
def test_bad_settings_are_refused(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        LoraSettings(**fields)


def test_unknown_target_modules_name_the_available_layers(policy):
    names = linear_module_names(policy.model)
    assert names == [
        "down_proj",
        "gate_proj",
        "k_proj",
        "lm_head",
        "o_proj",
        "q_proj",
        "up_proj",
        "v_proj",
    ]
    with pytest.raises(ValueError, match=r"\['query'\] is not a linear layer of this model"):
        attach_adapter(policy.model, LoraSettings(target_modules=("q_proj", "query")), seed=0)
    with pytest.raises(ValueError, match="its linear layers are \\['down_proj', 'gate_proj'"):
        attach_adapter(policy.model, LoraSettings(target_modules=("query",)), seed=0)
    assert all(p.requires_grad for p in policy.model.parameters())  # nothing attached


def test_a_fresh_adapter_is_the_base_policy_and_trains_only_a_and_b(policy):
    reference = policy.score([CONVERSATION] * 3, ANSWERS)
    adapted = attach_adapter(policy.model, SETTINGS, seed=5)
    # B = 0: the adapted model is π^t itself, bit for bit (the reference of the losses)
    assert policy.score([CONVERSATION] * 3, ANSWERS).tolist() == reference.tolist()
    trainable = [n for n, p in adapted.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    # the initialisation comes from the seed alone
    again = attach_adapter(
        LMPolicy.from_pretrained(policy.model.name_or_path).model, SETTINGS, seed=5
    )
    first = adapter_snapshot(adapted).state
    for name, tensor in adapter_snapshot(again).state.items():
        assert torch.equal(tensor, first[name]), name
    # with the adapter trained, disabling it gives π^t back
    _randomise_b(adapted)
    assert policy.score([CONVERSATION] * 3, ANSWERS).tolist() != reference.tolist()
    with adapted.disable_adapter():
        assert policy.score([CONVERSATION] * 3, ANSWERS).tolist() == reference.tolist()


def test_the_merge_is_w_plus_scaled_b_a(policy):
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    adapted = attach_adapter(policy.model, SETTINGS, seed=1)
    _randomise_b(adapted)
    state = adapter_snapshot(adapted).state
    merged = merge_adapter(adapted)
    assert merged is policy.model
    merged_state = merged.state_dict()
    assert merged_state.keys() == before.keys()
    adapted_keys = 0
    for key, weight in merged_state.items():
        prefix = "base_model.model." + key.removesuffix(".weight")
        if prefix + ".lora_A.weight" not in state:
            assert torch.equal(weight, before[key]), key
            continue
        adapted_keys += 1
        a, b = state[prefix + ".lora_A.weight"], state[prefix + ".lora_B.weight"]
        manual = before[key] + (b @ a) * (SETTINGS.alpha / SETTINGS.r)
        torch.testing.assert_close(weight, manual, atol=1e-7, rtol=0)
    assert adapted_keys == 3 * policy.model.config.num_hidden_layers


def test_saved_merged_and_adapter_folders_give_the_adapted_logits(policy, tiny_lm_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[1, 5, 9, 14, 3, 7]])
    adapted = attach_adapter(policy.model, SETTINGS, seed=2)
    _randomise_b(adapted, seed=3)
    expected = _logits(adapted, ids)
    snapshot = adapter_snapshot(adapted)
    save_adapter(snapshot, tmp_path / "adapter", base=str(tiny_lm_dir))
    policy.tokenizer.save_pretrained(tmp_path / "adapter")
    merge_adapter(adapted)
    policy.save(tmp_path / "merged")
    # the merged folder is a plain Hugging Face model
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    torch.testing.assert_close(_logits(plain, ids), expected, atol=1e-5, rtol=1e-5)
    # the adapter folder loads onto its base and merges to the same model
    reloaded = LMPolicy.from_pretrained(tmp_path / "adapter")
    for key, value in reloaded.model.state_dict().items():
        assert torch.equal(value, plain.state_dict()[key]), key
    torch.testing.assert_close(_logits(reloaded.model, ids), expected, atol=1e-5, rtol=1e-5)
    # peft itself reads the adapter folder
    from peft import PeftModel

    base = AutoModelForCausalLM.from_pretrained(tiny_lm_dir)
    with_peft = PeftModel.from_pretrained(base, tmp_path / "adapter")
    torch.testing.assert_close(_logits(with_peft, ids), expected, atol=1e-5, rtol=1e-5)
