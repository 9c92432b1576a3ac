from __future__ import annotations

import dataclasses
import re

import pytest

from training.config import (
    ConfigError,
    TrainingConfig,
    apply_overrides,
    dump_toml,
    from_dict,
    load_config,
)
from training.configs import CONFIG_DIR, list_configs, shipped_config
from training.methods import solver_config

PAPER_METHODS = {"ompo", "mpo", "sppo", "dpo", "step-dpo"}


@pytest.mark.parametrize("name", list_configs())
def test_every_shipped_config_loads_and_round_trips(name, tmp_path):
    config = load_config(CONFIG_DIR / f"{name}.toml")
    assert config.run.name == name
    written = tmp_path / "again.toml"
    written.write_text(dump_toml(config))
    assert load_config(written) == config
    # and it is a valid config of its solvers.lm method
    lm_config = solver_config(config)
    assert lm_config.num_samples == config.solver.num_answers
    assert lm_config.num_prompts == config.env.episodes_per_iteration


def test_solver_settings_are_checked_against_the_method():
    config = load_config(CONFIG_DIR / "tiny-cpu-rps.toml")
    for section, message in [
        ({"method": "sppo", "estimator": "trajectory"}, "sppo compares whole conversations"),
        ({"options": {"momentum": 1}}, "solver.options.momentum is not allowed"),
        ({"options": {"optimism_source": "no"}}, "optimism_source must be 'stored' or 'policy'"),
        ({"method": "dpo", "options": {"label_smoothing": 0.7}}, "label_smoothing must be < 0.5"),
    ]:
        changed = dataclasses.replace(config.solver, **section)
        with pytest.raises(ConfigError, match=re.escape(message)):
            solver_config(dataclasses.replace(config, solver=changed))


def test_the_paper_runs_are_shipped():
    mt_bench = {
        load_config(shipped_config(n)).solver.method
        for n in list_configs()
        if "mtbench101-" in n and "tiny" not in n
    }
    assert mt_bench == PAPER_METHODS
    for name in [n for n in list_configs() if n.startswith("mtbench101-")]:
        config = load_config(shipped_config(name))
        assert config.model.path == "mistralai/Mistral-7B-Instruct-v0.2"
        assert config.oracle.kind == "pairrm"
        assert config.solver.num_answers == 5
        assert config.run.iterations == 3
    math_runs = [load_config(shipped_config(n)) for n in list_configs() if n.startswith("math-")]
    assert {c.env.options.get("reward_mode") for c in math_runs} == {"terminal", "intermediate"}
    assert all(c.model.path == "Qwen/Qwen2-7B-Instruct" for c in math_runs)
    assert all(c.oracle.kind == "pair-lm" for c in math_runs)


def test_overrides_are_toml_values_or_strings():
    raw = apply_overrides(
        {"train": {"epochs": 1}},
        [
            "train.epochs=3",
            "train.learning_rate=1e-5",
            "env.id=MTBench101-v0",
            'env.options={tasks = ["CM"]}',
            "logging.progress=false",
        ],
    )
    assert raw["train"] == {"epochs": 3, "learning_rate": 1e-5}
    assert raw["env"] == {"id": "MTBench101-v0", "options": {"tasks": ["CM"]}}
    assert raw["logging"] == {"progress": False}


def test_defaults_documented_and_frozen():
    config = from_dict({"model": {"path": "tiny"}, "env": {"id": "TextRockPaperScissors-v0"}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.epochs = 2  # type: ignore[misc]
    source = (CONFIG_DIR.parent / "config.py").read_text()
    for section in dataclasses.fields(TrainingConfig):
        for field in dataclasses.fields(getattr(config, section.name)):
            # every field is followed by its docstring
            index = source.index(f"    {field.name}: ")
            assert '"""' in source[index : source.index("\n", index) + 200], field.name


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"env": {"id": "TextRockPaperScissors-v0"}}, "model.path is required"),
        ({"model": {"path": "tiny"}}, "env.id is required"),
        ({"model": {"path": "tiny", "tiny_hidden_size": 30}, "env": {"id": "x"}}, "multiple of 4"),
        (
            {"model": {"path": "x"}, "env": {"id": "x", "options": {"oracle": 1}}},
            "configure [oracle]",
        ),
        (
            {"model": {"path": "x"}, "env": {"id": "x"}, "oracle": {"kind": "pairrm"}},
            "oracle.path is required",
        ),
        (
            {"model": {"path": "x"}, "env": {"id": "x"}, "warm_start": {"steps": 3}},
            "needs warm_start.answers",
        ),
        ({"model": "tiny"}, "[model] must be a table"),
        (
            {"warm_start": {"answers": [1]}},
            "warm_start.answers[0] = 1 is not allowed: expected a string",
        ),
    ],
)
def test_inconsistent_settings(raw, message):
    with pytest.raises(ConfigError, match=None) as error:
        from_dict(raw)
    assert message in str(error.value)


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(bad)


@pytest.mark.parametrize("name", ["ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"])
def test_shipped_accelerate_configs_parse(name):
    pytest.importorskip("accelerate")
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONFIG_DIR / "accelerate" / f"{name}.yaml"))
    expected = {"ddp": "MULTI_GPU", "fsdp": "FSDP"}.get(name, "DEEPSPEED")
    assert config.distributed_type.value == expected
    if name.startswith("deepspeed"):
        assert config.deepspeed_config["zero_stage"] == int(name[-1])


def test_a_shipped_config_runs_by_name_from_anywhere(tmp_path, monkeypatch, capsys):
    """A fresh install has no configs/ folder in the working directory: names resolve to the
    package's copies, and the RPS run prints its exploitability per iteration."""
    pytest.importorskip("accelerate")
    pytest.importorskip("tensorboard")
    from training.cli import main

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "rps"
    args = ["configs/tiny-cpu-rps.toml", "--out", str(out), "run.iterations=1"]
    logging = ["logging.progress=true", "logging.tensorboard=true"]
    assert main([*args, *logging, "env.episodes_per_iteration=8"]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    # a bar per stage with its rate; the judge's counts the oracle pairs as they are stored
    for bar in ("warm start", "iter 1 generate", "iter 1 judge", "iter 1 score", "iter 1 train"):
        assert bar in captured.err, bar
    assert "pair/s" in captured.err and "episode/s" in captured.err
    assert "tokens_per_s=" in captured.err  # the generate bar's answer tokens per second
    assert "iteration 1: exploitability" in printed
    assert "| iter |" in printed
    assert (out / "iteration_1" / "config.json").exists()
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))
