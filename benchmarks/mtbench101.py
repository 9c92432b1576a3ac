r"""``ompo-bench mtbench101``: MT-Bench-101 scores judged by an LLM (paper Tab. 2, Fig. 1(b)).

ompo-bench mtbench101 --model RUN/iteration_3 --judge https://api.openai.com/v1 \
    --judge-model gpt-4o-mini --out results/mtbench101/it3 --compare results/mtbench101/it0

Writes OUT/answers.jsonl, OUT/judgments.jsonl, OUT/summary.json (``official`` and ``paper``
aggregations), OUT/table.md and OUT/radar.png (this model and every ``--compare`` folder).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks import model_args


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``mtbench101`` and its arguments."""
    from ompo_envs.evaluation.mtbench101 import PROTOCOLS
    from ompo_envs.text.datasets import MT_BENCH_101_TASKS

    parser = subparsers.add_parser(
        "mtbench101",
        help="MT-Bench-101 scores judged by an LLM (paper Tab. 2, Fig. 1(b))",
        description=__doc__.splitlines()[0],
    )
    model_args.add_model_arguments(parser)
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=list(MT_BENCH_101_TASKS),
        choices=list(MT_BENCH_101_TASKS),
        metavar="TASK",
        help="task codes (default: all 13)",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N dialogues per task")
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="official",
        help="official: golden history; paper: the model's own answers",
    )
    parser.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="DIR",
        help="earlier output folders drawn on the same radar chart",
    )
    model_args.add_generation_arguments(parser, max_new_tokens=1024)
    model_args.add_judge_arguments(parser, required=True)
    parser.set_defaults(handler=run)


def radar_chart(summaries: dict[str, dict[str, Any]], path: Path, *, key: str = "official") -> Path:
    """Draw one polygon per model over the 13 task scores (1–10) and save it."""
    import matplotlib.pyplot as plt
    import numpy as np

    from ompo_envs.text.datasets import MT_BENCH_101_TASKS

    angles = np.linspace(0, 2 * np.pi, len(MT_BENCH_101_TASKS), endpoint=False)
    figure = plt.figure(figsize=(6.5, 6.5))
    axes = figure.add_subplot(projection="polar")
    for label, summary in summaries.items():
        tasks = summary[key]["tasks"]
        values = np.array([tasks[t]["score"] if t in tasks else np.nan for t in MT_BENCH_101_TASKS])
        closed = np.append(values, values[0])
        axes.plot(np.append(angles, angles[0]), closed, marker="o", label=label)
    axes.set_xticks(angles, MT_BENCH_101_TASKS)
    axes.set_ylim(0, 10)
    axes.set_title(f"MT-Bench-101 ({key} aggregation)")
    axes.legend(loc="upper right", bbox_to_anchor=(1.3, 1.1), fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the files, print the table; exit status 1 if a request failed."""
    from ompo_envs.evaluation.aggregation import markdown_table
    from ompo_envs.evaluation.mtbench101 import (
        EvaluationError,
        MTBench101Settings,
        evaluate_mtbench101,
    )

    settings = MTBench101Settings(protocol=args.protocol, tasks=tuple(args.tasks), limit=args.limit)
    out = Path(args.out)
    compared = {}
    for folder in args.compare:
        summary_file = Path(folder) / "summary.json"
        if not summary_file.is_file():
            raise SystemExit(f"--compare {folder}: no summary.json there (run mtbench101 first)")
        earlier = json.loads(summary_file.read_text(encoding="utf-8"))
        compared[f"{earlier['model']} ({Path(folder).name})"] = earlier
    generator = model_args.answering_model(args, args.model, args.model_name)
    judge = model_args.judge_model(args)
    try:
        summary = evaluate_mtbench101(generator, judge, out, settings)
    except EvaluationError as error:
        print(f"ompo-bench mtbench101: {error}", file=sys.stderr)
        return 1
    everyone = {f"{summary['model']} ({out.name})": summary, **compared}
    table = "\n\n".join(
        f"### {key}\n\n" + markdown_table({k: v[key] for k, v in everyone.items()})
        for key in ("official", "paper")
    )
    (out / "table.md").write_text(table + "\n", encoding="utf-8")
    radar_chart(everyone, out / "radar.png")
    print(table)
    if summary["unrated_judgments"]:
        print(
            f"warning: {summary['unrated_judgments']} judgement(s) had no [n] rating; they are "
            "in judgments.jsonl with rating null and left out of the scores",
            file=sys.stderr,
        )
    usage = summary["usage"]["judge"]
    print(
        f"judge: {usage.get('calls', 0)} calls, {usage.get('cache_hits', 0)} from the cache, "
        f"{usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} "
        "completion tokens"
    )
    print(f"wrote {out}/answers.jsonl, judgments.jsonl, summary.json, table.md, radar.png")
    return 0
