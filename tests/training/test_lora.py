"""ompo-train with ``[model] lora``: bad settings refused, kill/resume and 2 processes hold."""

from __future__ import annotations

import json

import pytest

from tests.training.conftest import (
    TINY,
    ForkingRunner,
    max_weight_difference,
    read_rows,
    run_cli,
    run_in_process,
)
from tests.training.test_distributed import LAUNCH, _free_port
from training.cli import main

pytest.importorskip("accelerate")  # the "train" extra
pytest.importorskip("peft")  # the "lora" extra

LORA = 'model.lora={r = 4, alpha = 8, target_modules = ["q_proj", "v_proj"]}'
ADAPTER = [LORA, "model.lora_save=adapter"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.lora={r = 0}"], "model.lora.r = 0 is not allowed: expected an integer >= 1"),
        (["model.lora={alpha = 0}"], "model.lora.alpha = 0 is not allowed: expected a number > 0"),
        (["model.lora={dropout = 1.0}"], "model.lora.dropout = 1.0 is not allowed"),
        (
            ["model.lora={target_modules = []}"],
            "model.lora.target_modules = () is not allowed: expected a non-empty list",
        ),
        (
            ['model.lora={target_modules = ["q_proj", "query"]}'],
            "model.lora.target_modules = ['q_proj', 'query']: ['query'] is not a linear layer "
            "of this model; its linear layers are ['down_proj', 'gate_proj', 'k_proj', "
            "'lm_head', 'o_proj', 'q_proj', 'up_proj', 'v_proj']",
        ),
        (["model.lora={rank = 4}"], "model.lora.rank is not a LoRA setting; the keys of"),
        (["model.lora=4"], "model.lora = 4 is not allowed: expected a table"),
        (["model.lora_save=adapter"], "model.lora_save = 'adapter' needs model.lora"),
        (["model.lora_save=both"], "model.lora_save = 'both' is not allowed"),
        (
            [*ADAPTER, "generation.backend=vllm"],
            "model.lora_save = 'adapter' is not allowed with generation.backend = 'vllm'",
        ),
    ],
)
def test_bad_lora_settings_are_refused_before_anything_is_written(
    overrides, message, tmp_path, capsys
):
    out = tmp_path / "run"
    assert main([str(TINY), "--out", str(out), *overrides]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.fixture(scope="module")
def adapter_run(tmp_path_factory):
    """One uninterrupted LoRA run of tiny.toml, each iteration saved as an adapter."""
    out = tmp_path_factory.mktemp("lora") / "run"
    assert run_in_process(out, *ADAPTER) == 0
    return out


def _adapter(folder):
    from safetensors.numpy import load_file

    return load_file(folder / "adapter_model.safetensors")


def _merged(folder):
    from ompo_envs.lm import LMPolicy

    return LMPolicy.from_pretrained(folder).model.state_dict()


def test_adapter_run_saves_adapters_on_the_previous_iterate(adapter_run):
    for t, base in ((0, "base_model"), (1, "iteration_0"), (2, "iteration_1")):
        folder = adapter_run / f"iteration_{t}"
        assert not (folder / "model.safetensors").exists()
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
        assert config["base_model_name_or_path"] == str((adapter_run / base).resolve())
        assert (config["r"], config["lora_alpha"]) == (4, 8)
        assert sorted(config["target_modules"]) == ["q_proj", "v_proj"]
        assert all(".lora_" in name for name in _adapter(folder))


def test_killed_lora_run_resumes_to_identical_adapters_and_merged_weights(adapter_run, tmp_path):
    out = tmp_path / "run"
    kills = [
        "warm_start#step5",
        "iteration_1/train#step1",
        "iteration_1/train#done",
        "iteration_1/save#done",
        "iteration_2/train#step3",
    ]
    codes = []
    with ForkingRunner(out, {"OMPO_TRAIN_FAULT": ",".join(kills)}) as runner:
        for attempt in range(len(kills) + 2):
            result = runner.run(*ADAPTER, *(["--resume"] if attempt else []))
            codes.append(result.returncode)
            if result.returncode == 0:
                break
            assert result.returncode == -9, result.stderr[-3000:]
    assert codes == [-9] * len(kills) + [0]
    for t in (0, 1, 2):
        a, b = _adapter(out / f"iteration_{t}"), _adapter(adapter_run / f"iteration_{t}")
        assert a.keys() == b.keys()
        assert all((a[k] == b[k]).all() for k in a), t  # bit for bit
        merged, reference = _merged(out / f"iteration_{t}"), _merged(adapter_run / f"iteration_{t}")
        assert all(merged[k].equal(reference[k]) for k in reference), t
    assert read_rows(out / "steps.jsonl") == read_rows(adapter_run / "steps.jsonl")


def test_two_processes_equal_one_with_lora(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    common = [
        LORA,
        "model.dtype=float64",
        "train.batch_size=1",
        "evaluate.exploitability_episodes=0",
        "run.iterations=1",
    ]
    assert run_in_process(one, *common, "train.gradient_accumulation_steps=2") == 0
    launcher = [*LAUNCH, "--main_process_port", str(_free_port())]
    result = run_cli(two, *common, "train.gradient_accumulation_steps=1", launcher=launcher)
    assert result.returncode == 0, result.stderr[-3000:]
    steps_one, steps_two = read_rows(one / "steps.jsonl"), read_rows(two / "steps.jsonl")
    assert [s["examples"] for s in steps_one] == [s["examples"] for s in steps_two]
    for t in (0, 1):  # merged saves: plain folders
        difference = max_weight_difference(one / f"iteration_{t}", two / f"iteration_{t}")
        assert difference <= 1e-5, (t, difference)


def test_gradient_checkpointing_trains_the_same_adapter(adapter_run, tmp_path):
    # the warm start only (the run is killed once iteration_0 is saved): with checkpointing,
    # the frozen embeddings' output is made to require grad, so every layer's adapter learns
    out = tmp_path / "run"
    fault = {"OMPO_TRAIN_FAULT": "warm_start#done"}
    result = run_cli(out, *ADAPTER, "model.gradient_checkpointing=true", env=fault)
    assert result.returncode == -9, result.stderr[-3000:]
    a, b = _adapter(out / "iteration_0"), _adapter(adapter_run / "iteration_0")
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)
    assert all(abs(a[k]).max() > 0 for k in a if ".lora_B." in k)
