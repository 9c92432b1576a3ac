"""Two processes (gloo, through accelerate launch) give the weights of one process with twice the
gradient accumulation.

float64 weights: the check is about the data split, the loss scaling and DDP's gradient average;
in float32 the different summation order alone, amplified by this sharp tiny model over ~40
steps, moves the weights by ~4e-5.
"""

from __future__ import annotations

import socket
import sys

import pytest

from tests.training.conftest import max_weight_difference, read_rows, run_cli, run_in_process

pytest.importorskip("accelerate")  # the "train" extra

LAUNCH = [
    sys.executable,
    "-m",
    "accelerate.commands.launch",
    "--multi_gpu",
    "--num_processes",
    "2",
    "--num_machines",
    "1",
    "--mixed_precision",
    "no",
    "--dynamo_backend",
    "no",
    "--num_cpu_threads_per_process",
    "1",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_equal_one_with_twice_the_accumulation(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    # (no exploitability evaluation: it reads the weights, it does not change them)
    common = ["model.dtype=float64", "train.batch_size=1", "evaluate.exploitability_episodes=0"]
    assert run_in_process(one, *common, "train.gradient_accumulation_steps=2") == 0
    launcher = [*LAUNCH, "--main_process_port", str(_free_port())]
    result = run_cli(two, *common, "train.gradient_accumulation_steps=1", launcher=launcher)
    assert result.returncode == 0, result.stderr[-3000:]

    # The rollouts were shared between the two processes: both played episodes, whose rewards
    # come from the oracle (the main process then judged them).
    logs = sorted((two / "oracle_answers").iterdir())
    assert [p.name for p in logs] == ["answers-0.jsonl", "answers-1.jsonl"]
    assert all(p.stat().st_size > 0 for p in logs)
    for t in (1, 2):
        for name in ("rollouts", "records", "scored_records"):
            path = f"iteration_{t}/data/{name}.jsonl"
            assert read_rows(two / path) == read_rows(one / path), path
    steps_one, steps_two = read_rows(one / "steps.jsonl"), read_rows(two / "steps.jsonl")
    assert [s["examples"] for s in steps_one] == [s["examples"] for s in steps_two]
    assert len(steps_one) >= 4
    for t in (0, 1, 2):
        difference = max_weight_difference(one / f"iteration_{t}", two / f"iteration_{t}")
        assert difference <= 1e-5, (t, difference)
