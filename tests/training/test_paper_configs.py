"""Every shipped paper config (MT-Bench-101 and math runs) loads, validates and builds its env and
solver without downloading anything; what this install cannot run is refused before a run folder
exists."""

from __future__ import annotations

import numpy as np
import pytest

from training.config import load_config
from training.configs import list_configs, shipped_config
from training.methods import SOLVERS, build_solver

pytest.importorskip("accelerate")  # the "train" extra

PAPER = [n for n in list_configs() if n.startswith(("mtbench101-", "math-"))]
#: Only what would download: the 7B policy and the oracle become a tiny local Llama and a
#: length-preferring Bradley-Terry oracle; method, K, β, estimator, env options stay the paper's.
OFFLINE = [
    'oracle.kind="factory"',
    'oracle.factory="tests.training.oracles:length_oracle"',
    'oracle.path=""',
    'oracle.device="cpu"',
    "oracle.options={}",
    'model.dtype="float32"',
    "generation.max_new_tokens=2",
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from ompo_envs.oracles.tiny_models import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "model", seed=0)


def test_every_paper_config_is_shipped():
    assert len(PAPER) == 9


@pytest.mark.parametrize("name", PAPER)
def test_paper_config_builds_its_env_and_solver_offline(name, tiny_model, tmp_path):
    from training.runner import Trainer

    paper = load_config(shipped_config(name))
    config = load_config(shipped_config(name), [*OFFLINE, f'model.path="{tiny_model}"'])
    trainer = Trainer(config, tmp_path / "run")
    trainer._build_env()
    solver = build_solver(config, trainer.env, trainer._load_policy(str(tiny_model)))
    assert type(solver).__name__ == SOLVERS[paper.solver.method]
    assert solver.config.num_samples == paper.solver.num_answers == 5
    assert solver.config.beta == paper.solver.beta
    # one root episode through the paper's env options (generated context, reasoning steps)
    rollouts = solver.generate([0], rng=np.random.default_rng(0))
    assert list(rollouts.roots) == [0] and rollouts.groups
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        # the paper's oracles are not in this offline install (on the CPU: the paper's
        # oracle.device = "cuda" is refused first where there is no GPU, tests/training/test_errors)
        ("mtbench101-ompo", ['oracle.device="cpu"'], "oracle.kind = 'pairrm' could not be built"),
        (
            "math-ompo-terminal",
            ['oracle.device="cpu"'],
            "oracle.kind = 'pair-lm' could not be built",
        ),
        # vLLM generation needs vllm and a GPU
        (
            "mtbench101-mpo",
            ['generation.backend="vllm"', *OFFLINE],
            "generation.backend = 'vllm' needs",
        ),
    ],
)
def test_what_this_install_cannot_run_is_refused_at_start(
    name, overrides, message, tmp_path, capsys, monkeypatch
):
    import importlib.util

    from training.cli import main

    if "vllm" in message and importlib.util.find_spec("vllm") and _cuda():
        pytest.skip("this install can run vLLM")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "run"
    assert main([name, "--out", str(out), *overrides]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
