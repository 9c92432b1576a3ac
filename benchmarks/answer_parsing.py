"""Benchmark: cost per character of final-answer parsing, from 100 to 16,384 characters.

Parses texts of each length with :mod:`ompo_envs.text.answers` — ``extract_final_answer``, then
``normalize_answer`` and ``answers_match`` of what was extracted — for the inputs that made the
earlier regular expressions backtrack (:data:`WORST_INPUTS`) and for a natural chain of thought
(GSM8K solutions joined to the length). Linear-time parsing has a flat cost per character; the
report gives each family's cost per character at every length as a ratio to its cost at the
shortest length, in this one run (so the machine's speed cancels out). Writes
``{out}/{run_name}.json`` and a log-log plot ``{out}/{run_name}.png``.

    python benchmarks/answer_parsing.py [--lengths 100 1024 16384] [--out results]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.environment import numeric_environment
from ompo_envs.text.answers import answers_match, extract_final_answer, normalize_answer

LENGTHS = (100, 256, 1024, 4096, 16384)


def _repeat(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


#: Inputs of a given length that cost super-linear time with backtracking regular expressions
#: (issue 13, finding 1): each builds a legal answer of about ``length`` characters.
WORST_INPUTS: dict[str, Callable[[int], str]] = {
    # The case: a GSM8K line of "1 1 1 ... x" (the trailing-unit pattern backtracked).
    "gsm8k_ones_then_word": lambda n: "#### " + _repeat("1 ", n - 6) + "x",
    "gsm8k_line_with_blank": lambda n: "#### a" + " " * (n - 7) + "b",
    "phrase_with_blank": lambda n: "The answer is a" + " " * (n - 16) + "b",
    "unclosed_boxes": lambda n: _repeat("\\boxed{", n),
    "unclosed_boxes_mixed": lambda n: "\\boxed" + _repeat("\\fbox{", n - 6),
    "unclosed_calculator_marks": lambda n: _repeat("<<", n),
    "text_command_with_blank": lambda n: "#### \\text{a" + " " * (n - 13) + "b",
    "assignment_with_blank": lambda n: "#### x =" + " " * (n - 9) + "=",
    "digits_then_word": lambda n: "#### " + "1" * (n - 6) + "x",
    "digits_and_letters": lambda n: "#### " + _repeat("1a", n - 5),
    "number_then_command_letters": lambda n: "#### 5\\" + "a" * (n - 7),
    "number_then_spaced_unit": lambda n: "#### 5 square" + " " * (n - 14) + "x",
    "huge_exponent": lambda n: "#### 1e999999999" + " " * (n - 16),
}


def natural_input(length: int) -> str:
    """GSM8K reference solutions joined until ``length`` characters, ending in ``#### N``."""
    from ompo_envs.text.datasets import load_gsm8k

    body = "\n".join(p.solution.rsplit("####", 1)[0] for p in load_gsm8k()[:200])
    return _repeat(body, max(length - 8, 1)) + "\n#### 42"


def parse(text: str) -> bool:
    """The parsing a trainer does per answer: extract, normalise, compare with a reference."""
    answer = extract_final_answer(text)
    if answer is None:
        return False
    normalize_answer(answer)
    return answers_match(answer, "42")


def seconds_per_call(text: str, min_seconds: float) -> float:
    """Best of three timings of ``parse(text)``, each over enough calls to last ``min_seconds``."""
    calls, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            parse(text)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
        calls *= 2
    timings = [elapsed / calls]
    for _ in range(2):
        start = time.perf_counter()
        for _ in range(calls):
            parse(text)
        timings.append((time.perf_counter() - start) / calls)
    return min(timings)


def measure(lengths: tuple[int, ...], min_seconds: float) -> list[dict[str, Any]]:
    families: dict[str, Callable[[int], str]] = {**WORST_INPUTS, "natural_gsm8k": natural_input}
    rows = []
    for name, build in families.items():
        per_char = {}
        for length in lengths:
            text = build(length)
            per_char[length] = seconds_per_call(text, min_seconds) / len(text)
        base = per_char[lengths[0]]
        rows.append(
            {
                "family": name,
                "ns_per_char": {str(n): 1e9 * c for n, c in per_char.items()},
                "ratio_to_shortest": {str(n): c / base for n, c in per_char.items()},
                "max_ratio": max(c / base for c in per_char.values()),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--min-seconds", type=float, default=0.05, help="per timing (default 0.05)")
    parser.add_argument("--out", default="results", help="output folder (default results/)")
    args = parser.parse_args()
    lengths = tuple(sorted(args.lengths))
    rows = measure(lengths, args.min_seconds)
    run_name = f"answer_parsing__{lengths[0]}-{lengths[-1]}__{int(time.time())}"
    report = {
        "run_name": run_name,
        "command": "python benchmarks/answer_parsing.py " + " ".join(f"{n}" for n in lengths),
        "lengths": list(lengths),
        "max_ratio_over_families": max(row["max_ratio"] for row in rows),
        "machine": platform.platform(),
        "environment": numeric_environment(),
        "results": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{run_name}.json").write_text(json.dumps(report, indent=2))
    header = " ".join(f"{n:>8}" for n in lengths)
    print(f"cost per character as a ratio to {lengths[0]} characters (ns/char at {lengths[-1]})")
    print(f"{'family':30} {header}")
    for row in rows:
        ratios = " ".join(f"{row['ratio_to_shortest'][str(n)]:8.2f}" for n in lengths)
        print(f"{row['family']:30} {ratios}   ({row['ns_per_char'][str(lengths[-1])]:.0f} ns)")
    print(f"largest ratio: {report['max_ratio_over_families']:.2f}")
    _plot(rows, lengths, out / f"{run_name}.png")
    print(f"wrote {out / run_name}.json and .png")


def _plot(rows: list[dict[str, Any]], lengths: tuple[int, ...], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for row in rows:
        ax.plot(lengths, [row["ns_per_char"][str(n)] for n in lengths], marker="o", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("characters")
    ax.set_ylabel("ns per character")
    ax.set_title("answer parsing: cost per character (one line per input family)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
