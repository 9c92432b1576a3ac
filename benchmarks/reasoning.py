"""``ompo-bench reasoning``: GSM8K / MATH / MATH500 accuracy with greedy decoding (paper Tab. 3).

ompo-bench reasoning --model RUN/iteration_3 --datasets gsm8k math --out results/reasoning/it3

Writes OUT/<dataset>.jsonl (response, extracted answer, verdict per problem) and OUT/summary.json
(accuracy with a 95 % Wilson interval; per subject and per level for MATH and MATH500).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import model_args


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
        default=["gsm8k", "math"],
        choices=["gsm8k", "math", "math500"],
        help="default: gsm8k math",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N problems per dataset")
    model_args.add_generation_arguments(parser, max_new_tokens=1024)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Answer, check, write, and print one line per dataset."""
    from ompo_envs.evaluation.generation import GenerationError
    from ompo_envs.evaluation.reasoning import evaluate_reasoning

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
