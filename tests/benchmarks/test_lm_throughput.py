"""``ompo-bench lm-throughput`` end to end on a tiny random Llama, so that it cannot rot.

The figures themselves come from the real model (README, "A real model on CPU"); here the
report's format, the token counts and the two sides' agreement are checked.
"""

from __future__ import annotations

import json
import statistics

import pytest

pytest.importorskip("transformers")

from benchmarks.cli import main
from benchmarks.lm_throughput import generated_tokens, mt_bench_prompts


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from ompo_envs.oracles.tiny_models import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "model")


def test_generated_tokens_end_after_the_first_end_of_answer_token():
    assert generated_tokens([5, 7, 2, 9, 2], stops=[2, 3]) == [5, 7, 2]
    assert generated_tokens([5, 3, 2], stops=[2, 3]) == [5, 3]
    assert generated_tokens([5, 7, 9], stops=[2]) == [5, 7, 9]  # cut at max_new_tokens


def test_prompts_are_mt_bench_101_turns_of_every_task():
    prompts = mt_bench_prompts(15)
    assert len(prompts) == 15 and all(p[-1]["role"] == "user" for p in prompts)
    assert [len(p) for p in prompts[:13]] == [1] * 13  # first turns, one dialogue per task
    assert [len(p) for p in prompts[13:]] == [3, 3]  # then second turns after the golden reply


def test_lm_throughput_writes_its_report(tiny_model, tmp_path, capsys):
    argv = ["lm-throughput", "--model", str(tiny_model), "--prompts", "3", "--num-samples", "1",
            "2", "--max-new-tokens", "3", "--repeats", "2", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    (path,) = tmp_path.glob("model__lm-throughput__*.json")
    assert path.with_suffix(".png").stat().st_size > 0
    report = json.loads(path.read_text())
    assert report["environment"]["torch_threads"] == 1 and report["target_ratio"] == 0.9
    assert report["settings"]["num_samples"] == [1, 2] and report["model"]["parameters"] > 0
    results = report["results"]
    assert [(r["comparison"], r["num_samples"], r["rows"]) for r in results] == [
        ("generate", 1, 3), ("generate", 2, 6), ("log_probs", 2, 6),
    ]  # fmt: skip
    for result in results:
        for side in ("package", "plain"):
            timing = result[side]
            assert len(timing["tokens"]) == len(timing["wall_seconds"]) == 2
            assert all(s > 0 for s in timing["wall_seconds"] + timing["cpu_seconds"])
            assert timing["median_tokens_per_s_cpu"] == statistics.median(
                timing["tokens_per_s_cpu"]
            )
        for clock in ("wall", "cpu"):
            assert result[f"ratio_{clock}"] == statistics.median(result[f"ratios_{clock}"]) > 0
        if result["comparison"] == "generate":
            counts = result["package"]["tokens"] + result["plain"]["tokens"]
            assert all(0 < t <= result["rows"] * 3 for t in counts)  # max_new_tokens per row
    # K = 1: the backend makes the very generate call the plain side makes, so it samples the
    # same answers (the same prompt ids, settings, seed and random stream).
    assert results[0]["same_answers"] == 1.0
    assert results[0]["package"]["tokens"] == results[0]["plain"]["tokens"]
    scoring = results[2]
    assert scoring["scored_tokens"] > scoring["answer_tokens"] >= scoring["rows"]
    assert scoring["package"]["tokens"] == [scoring["scored_tokens"]] * 2
    assert scoring["max_relative_difference"] <= 1e-5  # float32, other batches and padding
    out = capsys.readouterr().out
    assert "| generate K=1 | 3 |" in out and "| log_probs | 6 |" in out
    met = report["meets_target"]
    assert f"met in wall time {met['wall']}, in CPU time {met['cpu']}" in out
