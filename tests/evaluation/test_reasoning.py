from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.cli import main
from ompo_envs.evaluation.reasoning import (
    INSTRUCTION,
    accuracy_table,
    check_answer,
    score_responses,
    wilson_interval,
)
from ompo_envs.text.datasets import load_gsm8k, load_math, load_math500
from tests.evaluation.openai_server import FakeOpenAIServer


@pytest.mark.parametrize("load", [load_gsm8k, load_math, load_math500])
def test_reference_solutions_score_100_percent(load):
    problems = list(load())
    records = score_responses(problems, [p.solution for p in problems])
    assert accuracy_table(records)["accuracy"] == 1.0


@pytest.mark.parametrize(("load", "n"), [(load_gsm8k, 1319), (load_math, 60), (load_math500, 60)])
def test_shuffled_answers_score_near_zero(load, n):
    problems = list(load())[:n]
    order = np.random.default_rng(0).permutation(n)  # a random cycle: no problem keeps its own
    responses = [""] * n
    for k in range(n):
        responses[order[k]] = problems[order[(k + 1) % n]].solution
    records = score_responses(problems, responses)
    assert accuracy_table(records)["accuracy"] <= 0.05


def test_check_answer_number_and_symbolic():
    assert check_answer("so the total is \\boxed{1,600} dollars", "1600").method == "match"
    assert check_answer("The answer is 0.5", "\\frac{1}{2}").correct
    symbolic = check_answer("\\boxed{\\sqrt{4}}", "2")
    assert symbolic.correct and symbolic.method == "symbolic"
    assert check_answer("\\boxed{\\frac{\\pi}{2}}", "\\pi/2").correct
    assert not check_answer("\\boxed{x^2+1}", "x^2-1").correct
    assert not check_answer("\\boxed{3}", "4").correct  # numbers: decided without math-verify
    none = check_answer("I am not sure.", "4")
    assert none.extracted is None and not none.correct and none.method == "none"


def test_wilson_interval_known_values():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-5)
    assert wilson_interval(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-5)
    assert wilson_interval(10, 10) == pytest.approx((0.72247, 1.0), abs=1e-5)


def test_tables_per_subject_and_level():
    problems = list(load_math500())[:30]
    responses = [p.solution if i % 3 else "no idea" for i, p in enumerate(problems)]
    table = accuracy_table(score_responses(problems, responses))
    assert table["correct"] == 20 and table["no_answer"] == 10
    assert sum(v["n"] for v in table["by_subject"].values()) == 30
    assert set(table["by_level"]) <= {"1", "2", "3", "4", "5"}
    with pytest.raises(ValueError, match="responses"):
        score_responses(problems, responses[:-1])


def test_reasoning_command_with_an_endpoint(tmp_path):
    solutions = {p.problem + INSTRUCTION: p.solution for p in [*load_gsm8k(), *load_math500()]}
    with FakeOpenAIServer(lambda body: solutions[body["messages"][-1]["content"]]) as server:
        argv = ["reasoning", "--model", server.url, "--model-name", "policy", "--limit", "20",
                "--datasets", "gsm8k", "math500", "--out", str(tmp_path)]  # fmt: skip
        assert main(argv) == 0
        assert server.count() == 40 and server.requests[0]["temperature"] == 0.0
        assert main(argv) == 0 and server.count() == 40  # answers come from the cache
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["gsm8k"]["accuracy"] == 1.0 and summary["math500"]["accuracy"] == 1.0
    assert "by_subject" in summary["math500"] and "by_subject" not in summary["gsm8k"]
    rows = [json.loads(x) for x in (tmp_path / "gsm8k.jsonl").read_text().splitlines()]
    assert len(rows) == 20 and rows[0]["correct"] and rows[0]["gold"] == rows[0]["extracted"]


def test_the_default_datasets_are_the_held_out_sets_and_math_warns(tmp_path, capsys):
    """GSM8K test and MATH500 by default; the full MATH test set holds MATH-v1's training split."""
    problems = [*load_gsm8k(), *load_math()]  # MATH500's problems are MATH test problems
    solutions = {p.problem + INSTRUCTION: p.solution for p in problems}
    with FakeOpenAIServer(lambda body: solutions[body["messages"][-1]["content"]]) as server:
        argv = ["reasoning", "--model", server.url, "--model-name", "policy", "--limit", "2"]
        assert main([*argv, "--out", str(tmp_path / "default")]) == 0
        assert "MATH-v1's training split" not in capsys.readouterr().err
        summary = json.loads((tmp_path / "default" / "summary.json").read_text())
        assert [k for k in summary if k in ("gsm8k", "math", "math500")] == ["gsm8k", "math500"]
        assert main([*argv, "--datasets", "math", "--out", str(tmp_path / "math")]) == 0
    assert "4,500 of whose problems are MATH-v1's training split" in capsys.readouterr().err
    assert json.loads((tmp_path / "math" / "summary.json").read_text())["math"]["n"] == 2
