r"""GSM8K / MATH / MATH500 accuracy: greedy answers, the package's extractor, two checks.

Each problem is asked as one user turn, ``problem + INSTRUCTION`` (step-by-step reasoning and a
``\boxed{}`` final answer, the usual zero-shot chat format for these sets). A response is correct
when its final answer (:func:`ompo_envs.text.answers.extract_final_answer`: the last
``\boxed{}``, else ``#### N``, else "the answer is ...") equals the gold answer

1. by :func:`ompo_envs.text.answers.answers_match` — the same normal form, or the same number
   within a relative tolerance of 1e-6 (integers, decimals, fractions, percentages, units
   dropped); or, when that fails and the two are not both plain numbers,
2. symbolically, by math-verify (Hugging Face's checker: LaTeX → SymPy, ``\sqrt{4}`` = 2,
   ``\frac{\pi}{2}`` = ``\pi/2``, intervals, sets).

A response without a final answer is wrong and counted as ``no_answer``. Accuracy comes with a
95 % Wilson score interval; MATH and MATH500 also get a table per subject and per level.
"""

from __future__ import annotations

import json
import math
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ompo_envs.evaluation.generation import TextGenerator
from ompo_envs.text.answers import answers_match, extract_final_answer, normalize_answer
from ompo_envs.text.datasets import MathProblem, load_gsm8k, load_math, load_math500

__all__ = [
    "DATASETS",
    "INSTRUCTION",
    "Verdict",
    "accuracy_table",
    "check_answer",
    "evaluate_reasoning",
    "score_responses",
    "symbolic_equal",
    "wilson_interval",
]

#: Appended to each problem (the zero-shot instruction of Qwen2.5-Math / DeepSeek-style evals).
INSTRUCTION = "\nPlease reason step by step, and put your final answer within \\boxed{}."
#: Dataset name → loader.
DATASETS = {"gsm8k": load_gsm8k, "math": load_math, "math500": load_math500}
_INSTALL_HINT = 'pip install "ompo-envs[eval]" (math-verify==0.9.0)'
_SYMBOLIC_TIMEOUT_S = 5


@dataclass(frozen=True)
class Verdict:
    """How one response was judged.

    Attributes:
        extracted: The final answer found in the response, or None.
        correct: Whether it equals the gold answer.
        method: ``"match"`` (normal form or number), ``"symbolic"`` (math-verify), ``"none"``.
    """

    extracted: str | None
    correct: bool
    method: str


@cache
def _math_verify() -> Any:
    try:
        import math_verify
    except ImportError as error:
        raise ImportError(f"symbolic answer checking needs math-verify; {_INSTALL_HINT}") from error
    return math_verify


def symbolic_equal(predicted: str, gold: str) -> bool:
    r"""Whether math-verify finds ``\boxed{predicted}`` and ``\boxed{gold}`` equal.

    Parsing or comparison errors count as "not equal". In the main thread each step is bounded by
    a 5-second alarm (math-verify's own time-out, which needs the main thread).
    """
    mv = _math_verify()
    timeout = _SYMBOLIC_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    try:
        gold_parsed = mv.parse("\\boxed{" + gold + "}", parsing_timeout=timeout)
        predicted_parsed = mv.parse("\\boxed{" + predicted + "}", parsing_timeout=timeout)
        if not gold_parsed or not predicted_parsed:
            return False
        return bool(mv.verify(gold_parsed, predicted_parsed, timeout_seconds=timeout))
    except Exception:  # math-verify raises many kinds on odd LaTeX; all mean "not shown equal"
        return False


def _plain_number(answer: str) -> bool:
    try:
        float(normalize_answer(answer))
    except ValueError:
        return False
    return True


def check_answer(response: str, gold: str) -> Verdict:
    """Judge one response against the gold answer (see the module docstring)."""
    extracted = extract_final_answer(response)
    if extracted is None:
        return Verdict(None, False, "none")
    if answers_match(extracted, gold):
        return Verdict(extracted, True, "match")
    if _plain_number(extracted) and _plain_number(gold):
        return Verdict(extracted, False, "match")
    return Verdict(extracted, symbolic_equal(extracted, gold), "symbolic")


def wilson_interval(
    correct: int, total: int, *, z: float = 1.959963984540054
) -> tuple[float, float]:
    """Return the Wilson score interval of a binomial proportion (95 % by default)."""
    if total <= 0:
        return (0.0, 1.0)
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def _accuracy(correct: int, total: int) -> dict[str, Any]:
    low, high = wilson_interval(correct, total)
    return {
        "accuracy": correct / total if total else None,
        "ci95": [low, high],
        "correct": correct,
        "n": total,
    }


def score_responses(
    problems: Sequence[MathProblem], responses: Sequence[str]
) -> list[dict[str, Any]]:
    """Return one record per problem: ids, subject, level, extracted answer, correctness, method."""
    if len(problems) != len(responses):
        raise ValueError(f"got {len(responses)} responses for {len(problems)} problems")
    records = []
    for problem, response in zip(problems, responses, strict=True):
        if not isinstance(response, str):
            raise TypeError(f"responses must be strings, got {type(response).__name__}")
        verdict = check_answer(response, problem.answer)
        records.append(
            {
                "problem_id": problem.problem_id,
                "subject": problem.subject,
                "level": problem.level,
                "gold": problem.answer,
                "extracted": verdict.extracted,
                "correct": verdict.correct,
                "method": verdict.method,
            }
        )
    return records


def accuracy_table(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return overall accuracy and, when records have subjects/levels, one entry per each."""
    table: dict[str, Any] = {
        **_accuracy(sum(r["correct"] for r in records), len(records)),
        "no_answer": sum(r["extracted"] is None for r in records),
        "symbolic_matches": sum(r["correct"] and r["method"] == "symbolic" for r in records),
    }
    for field in ("subject", "level"):
        groups: dict[Any, list[bool]] = defaultdict(list)
        for r in records:
            if r[field]:
                groups[r[field]].append(bool(r["correct"]))
        if groups:
            table[f"by_{field}"] = {
                str(key): _accuracy(sum(v), len(v)) for key, v in sorted(groups.items())
            }
    return table


def evaluate_reasoning(
    generator: TextGenerator,
    datasets: Sequence[str],
    out_dir: str | Path,
    *,
    limit: int | None = None,
) -> dict[str, Any]:
    """Answer each dataset's problems, check them, write ``<dataset>.jsonl`` and ``summary.json``.

    Args:
        generator: The model (greedy decoding is the caller's setting).
        datasets: Names among :data:`DATASETS`.
        out_dir: Output folder.
        limit: First ``limit`` problems of each dataset (None: all).
    """
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown or not datasets:
        raise ValueError(f"datasets must be among {sorted(DATASETS)}, got {list(datasets)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be an integer >= 1, got {limit!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"model": generator.name, "instruction": INSTRUCTION, "limit": limit}
    for name in datasets:
        problems = list(DATASETS[name]())[:limit]
        prompts = [[{"role": "user", "content": p.problem + INSTRUCTION}] for p in problems]
        responses = generator.generate(prompts)
        records = score_responses(problems, responses)
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for record, response in zip(records, responses, strict=True):
                handle.write(
                    json.dumps({**record, "response": response}, ensure_ascii=False) + "\n"
                )
        summary[name] = accuracy_table(records)
    summary["usage"] = generator.usage_summary()
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return summary
