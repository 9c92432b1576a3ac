"""``ompo-bench reasoning``: GSM8K / MATH / MATH500 accuracy with greedy decoding (paper Tab. 3).

ompo-bench reasoning --model RUN/iteration_3 --out results/reasoning/it3   # GSM8K test, MATH500

The default datasets are the held-out evaluation sets: GSM8K's test split and MATH500.
``--datasets math`` adds the full 5,000-problem MATH test set, for comparison with figures
reported on it; 4,500 of its problems are ``MATH-v1``'s training split (the shipped math
configs train on them), so the command warns that a model trained there is partly scored on
its own training problems.

Writes OUT/<dataset>.jsonl (response, extracted answer, verdict per problem) and OUT/summary.json
(accuracy with a 95 % Wilson interval; per subject and per level for MATH and MATH500).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import model_args

#: The held-out sets: no shipped config trains on a problem of either.
DEFAULT_DATASETS = ("gsm8k", "math500")
#: Printed when ``math`` is asked for.
MATH_TRAINING_OVERLAP = (
    "note: --datasets math is the full 5,000-problem MATH test set, 4,500 of whose problems are "
    "MATH-v1's training split (the shipped math-*.toml configs train on them): a model trained "
    "there is partly scored on its own training problems; math500 is the held-out part"
)


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``reasoning`` and its arguments."""
    parser = subparsers.add_parser(
        "reasoning",
        help="GSM8K / MATH / MATH500 accuracy (paper Tab. 3)",
        description=__doc__.splitlines()[0],
    )
    model_args.add_model_arguments(parser)
    parser.add_argument(
        "--datasets",
        nargs="+",
        default=list(DEFAULT_DATASETS),
        choices=["gsm8k", "math", "math500"],
        help="gsm8k: GSM8K test (1,319); math500: MATH500 (500); math: all 5,000 MATH test "
        "problems, 4,500 of them MATH-v1's training split (default: gsm8k math500)",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N problems per dataset")
    model_args.add_generation_arguments(parser, max_new_tokens=1024)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Answer, check, write, and print one line per dataset."""
    from ompo_envs.evaluation.generation import GenerationError
    from ompo_envs.evaluation.reasoning import evaluate_reasoning

    if "math" in args.datasets:
        print(MATH_TRAINING_OVERLAP, file=sys.stderr)
    if args.temperature != 0:
        print("note: --temperature is not 0; Tab. 3 uses greedy decoding", file=sys.stderr)
    generator = model_args.answering_model(args, args.model, args.model_name)
    try:
        summary = evaluate_reasoning(generator, args.datasets, Path(args.out), limit=args.limit)
    except GenerationError as error:
        print(
            f"ompo-bench reasoning: {error}. Answers received are cached; rerun to resume",
            file=sys.stderr,
        )
        return 1
    print("| dataset | accuracy | 95% CI | n | no final answer |")
    print("|---|---|---|---|---|")
    for name in args.datasets:
        row = summary[name]
        low, high = row["ci95"]
        print(
            f"| {name} | {row['accuracy']:.3f} | [{low:.3f}, {high:.3f}] | {row['n']} | "
            f"{row['no_answer']} |"
        )
    print(f"wrote {args.out}/summary.json and one JSONL per dataset")
    return 0
