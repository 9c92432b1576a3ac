"""A tiny random Llama built on the fly answers MT-Bench-101 and GSM8K/MATH on CPU."""

from __future__ import annotations

import json

import pytest

from benchmarks.cli import main
from tests.evaluation.openai_server import FakeOpenAIServer

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from ompo_envs.oracles.tiny_models import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "iteration_0")


def test_mtbench101_limit_5_with_a_local_model(tiny_model, tmp_path):
    with FakeOpenAIServer(lambda body: "Fine. Rating: [[6]]") as judge:
        argv = ["mtbench101", "--model", str(tiny_model), "--limit", "5", "--judge", judge.url,
                "--judge-model", "judge", "--max-new-tokens", "8", "--batch-size", "16",
                "--out", str(tmp_path)]  # fmt: skip
        assert main(argv) == 0
        judged = judge.count()
        assert main(argv) == 0 and judge.count() == judged  # the rerun re-pays nothing
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["model"] == "iteration_0" and summary["dialogues"] == 65
    assert summary["judged_turns"] == judged and summary["official"]["overall"] == 6.0
    assert len(summary["official"]["tasks"]) == 13
    answers = (tmp_path / "answers.jsonl").read_text().splitlines()
    assert len(answers) == judged  # official protocol: only judged turns are answered
    assert summary["usage"]["model"]["cache_hits"] == len(answers)  # the rerun generated nothing


def test_reasoning_limit_20_with_a_local_model(tiny_model, tmp_path):
    argv = ["reasoning", "--model", str(tiny_model), "--limit", "20", "--max-new-tokens", "8",
            "--batch-size", "20", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    for name in ("gsm8k", "math500"):  # the default datasets
        assert summary[name]["n"] == 20 and summary[name]["accuracy"] == 0.0  # a random model
        low, high = summary[name]["ci95"]
        assert low == 0.0 and 0.1 < high < 0.2
    assert "by_level" in summary["math500"] and "math" not in summary


def test_local_judge_counts_unparseable_judgements(tiny_model, tmp_path):
    argv = ["mtbench101", "--model", str(tiny_model), "--judge", str(tiny_model), "--tasks", "CM",
            "--limit", "1", "--max-new-tokens", "4", "--judge-max-tokens", "4",
            "--judge-temperature", "0", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["unrated_judgments"] == summary["judged_turns"] == 3
    assert summary["official"]["overall"] is None
    rows = [json.loads(x) for x in (tmp_path / "judgments.jsonl").read_text().splitlines()]
    assert all(r["rating"] is None and isinstance(r["judgment"], str) for r in rows)
