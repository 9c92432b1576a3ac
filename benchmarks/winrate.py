r"""``ompo-bench winrate``: win rate of models A against model B under an oracle (Fig. 1(c)).

ompo-bench winrate --model-a RUN/iteration_1 RUN/iteration_2 --model-b BASE \
    --oracle judge --judge https://api.openai.com/v1 --judge-model gpt-4o-mini --out results/winrate

Both models answer every prompt (MT-Bench-101's judged turns with the golden history, or a JSONL
prompt file); the oracle is asked in both orders; the win rate comes with a bootstrap interval.
Writes OUT/pairs.jsonl, OUT/winrate.json and OUT/winrate.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks import model_args


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``winrate`` and its arguments."""
    from ompo_envs.text.datasets import MT_BENCH_101_TASKS

    parser = subparsers.add_parser(
        "winrate",
        help="win rate of model A vs model B under a preference oracle (paper Fig. 1(c))",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--model-a",
        nargs="+",
        required=True,
        metavar="URL|DIR",
        help="one or more models (e.g. each iteration)",
    )
    parser.add_argument(
        "--name-a", nargs="*", default=None, help="server model names for --model-a"
    )
    parser.add_argument("--model-b", required=True, metavar="URL|DIR", help="the reference model")
    parser.add_argument("--name-b", default=None, help="server model name for --model-b")
    parser.add_argument(
        "--prompts",
        default="mtbench101",
        metavar="mtbench101|FILE.jsonl",
        help="prompt set (default mtbench101: every judged turn, golden history)",
    )
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=list(MT_BENCH_101_TASKS),
        choices=list(MT_BENCH_101_TASKS),
        metavar="TASK",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="first N dialogues per task (mtbench101) or N prompts (file)",
    )
    parser.add_argument(
        "--oracle",
        choices=["judge", "pairrm", "embedding"],
        default="judge",
        help="preference oracle (default: the LLM judge, --judge)",
    )
    parser.add_argument(
        "--oracle-path",
        default=None,
        metavar="DIR",
        help="local folder of the PairRM checkpoint (--oracle pairrm)",
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument("--out", required=True, help="output folder")
    model_args.add_generation_arguments(parser, max_new_tokens=1024)
    model_args.add_judge_arguments(parser, required=False)
    parser.set_defaults(handler=run)


def build_oracles(args: argparse.Namespace, tasks: set[str]) -> dict[str, Any]:
    """Return one oracle per task ('' for a prompt file): per-task judges share one client."""
    from ompo_envs.oracles import LLMJudge

    if args.oracle == "pairrm":
        from ompo_envs.oracles import PairRM

        oracle = PairRM.from_pretrained(args.oracle_path or "llm-blender/PairRM")
        return dict.fromkeys(tasks, oracle)
    if args.oracle == "embedding":
        from ompo_envs.oracles import EmbeddingOracle

        return dict.fromkeys(tasks, EmbeddingOracle())
    if not args.judge:
        raise SystemExit("--oracle judge needs --judge URL|DIR (and --judge-model for a server)")
    chat = model_args.judge_model(args)
    complete = getattr(chat, "client", None) or (lambda m: chat.generate([m])[0])
    return {
        task: LLMJudge(complete, task=task or "CC", concurrency=args.judge_concurrency)
        for task in tasks
    }


def run(args: argparse.Namespace) -> int:
    """Answer with every model, compare each A with B in both orders, write and plot."""
    import numpy as np

    from ompo_envs.evaluation.winrate import load_prompt_file, mtbench101_prompts, win_rate

    if args.name_a and len(args.name_a) != len(args.model_a):
        raise SystemExit("--name-a needs one name per --model-a")
    items = (
        mtbench101_prompts(args.tasks, args.limit)
        if args.prompts == "mtbench101"
        else load_prompt_file(args.prompts, args.limit)
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    conversations = [item.messages for item in items]
    reference = model_args.answering_model(args, args.model_b, args.name_b)
    answers_b = reference.generate(conversations)
    oracles = build_oracles(args, {item.task for item in items})
    rng = np.random.default_rng(args.seed)
    results, rows = [], []
    for k, model in enumerate(args.model_a):
        generator = model_args.answering_model(args, model, args.name_a[k] if args.name_a else None)
        answers_a = generator.generate(conversations)
        p_ab, p_ba = np.empty(len(items)), np.empty(len(items))
        for task, oracle in oracles.items():
            idx = [i for i, item in enumerate(items) if item.task == task]
            contexts = [conversations[i] for i in idx]
            a, b = [answers_a[i] for i in idx], [answers_b[i] for i in idx]
            p_ab[idx], p_ba[idx] = oracle.compare(contexts, a, b), oracle.compare(contexts, b, a)
        result = win_rate(
            p_ab, p_ba, rng, clusters=[i.cluster for i in items], n_bootstrap=args.bootstrap
        )
        results.append({"model_a": generator.name, "model_b": reference.name, **result})
        rows += [
            {
                "model_a": generator.name,
                "id": item.id,
                "task": item.task,
                "p_ab": float(x),
                "p_ba": float(y),
                "answer_a": a,
                "answer_b": b,
            }
            for item, x, y, a, b in zip(items, p_ab, p_ba, answers_a, answers_b, strict=True)
        ]
        low, high = result["win_rate_ci"]
        print(
            f"{generator.name} vs {reference.name}: win rate {result['win_rate']:.3f} "
            f"[{low:.3f}, {high:.3f}], hard {result['hard_win_rate']:.3f}, n={result['n']}"
        )
    with open(out / "pairs.jsonl", "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    summary = {"oracle": args.oracle, "prompts": args.prompts, "results": results}
    (out / "winrate.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    plot(results, out / "winrate.png")
    print(f"wrote {out}/winrate.json, pairs.jsonl, winrate.png")
    return 0


def plot(results: list[dict[str, Any]], path: Path) -> Path:
    """Win rate of each model A against B with its interval; ½ marked."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(max(4.0, 1.2 * len(results) + 2), 3.5))
    x = range(len(results))
    rates = [r["win_rate"] for r in results]
    errors = [
        [r["win_rate"] - r["win_rate_ci"][0] for r in results],
        [r["win_rate_ci"][1] - r["win_rate"] for r in results],
    ]
    axes.errorbar(x, rates, yerr=errors, fmt="o-", capsize=4)
    axes.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    axes.set_xticks(list(x), [r["model_a"] for r in results], rotation=20)
    axes.set_ylabel(f"win rate vs {results[0]['model_b']}")
    axes.set_ylim(0, 1)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
