"""Benchmark: preference-oracle throughput (pairs/s) at batch 1, 8 and 64 on CPU.

Backends, each on a tiny model built on the fly (no download):

* ``pairrm_native`` — :class:`~ompo_envs.oracles.PairRM` on a tiny random checkpoint in
  llm-blender/PairRM's format (``pairrm_checkpoint.build_tiny_pairrm_checkpoint``);
* ``pairrm_llm_blender`` — :class:`~ompo_envs.oracles.LLMBlenderPairRM` on the same checkpoint
  (skipped if llm-blender is not installed);
* ``pair_lm`` — :class:`~ompo_envs.oracles.PairPreferenceLM` on ``build_tiny_causal_lm``;
* ``reward_model`` — :class:`~ompo_envs.oracles.RewardModelOracle` on ``build_tiny_reward_model``
  and ``general_preference`` — :class:`~ompo_envs.oracles.GeneralPreferenceOracle` on
  ``build_tiny_general_preference_model`` (with a prompt head): for these two the batch size
  counts sequences per forward pass, and each distinct answer is one sequence per call (here
  every answer is distinct: 2 sequences per pair, plus one per context for the GPM's prompt
  head);
* ``embedding`` — :class:`~ompo_envs.oracles.EmbeddingOracle` (bundled all-MiniLM-L6-v2, its
  embedding cache off so every pair is encoded);
* ``matrix`` — :class:`~ompo_envs.oracles.MatrixOracle` (Rock-Paper-Scissors by keywords).

Backends whose optional dependencies are missing are skipped with a note. Every pair is
distinct and the oracle cache is off. Each cell is the median over ``--repeats`` timed calls of
``compare`` on ``--pairs`` pairs (after one warm-up call). Ratios are against ``pairrm_native``
at batch 1 measured in the same run, so they compare across machines better than absolute
numbers.
Writes ``results/{run_name}.json`` and a bar plot ``results/{run_name}.png``.

    python benchmarks/oracle_throughput.py [--pairs 64] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.environment import numeric_environment

BATCH_SIZES = (1, 8, 64)
BASELINE = ("pairrm_native", 1)


def workload(n: int) -> tuple[list[list[dict[str, str]]], list[str], list[str]]:
    """``n`` distinct (context, a, b) triples, a mix of single- and multi-turn contexts."""
    topics = ["the sea", "Nash equilibria", "bread", "France", "rock paper scissors", "the stars"]
    contexts, firsts, seconds = [], [], []
    for i in range(n):
        topic = topics[i % len(topics)]
        context = [{"role": "user", "content": f"Tell me about {topic}, please ({i})."}]
        if i % 3 == 2:
            context = [
                {"role": "user", "content": f"Hi, question {i}."},
                {"role": "assistant", "content": "Sure, go ahead."},
                *context,
            ]
        contexts.append(context)
        firsts.append(f"Here is a short answer about {topic}: it is interesting. I pick rock {i}.")
        seconds.append(f"I do not know much about {topic}, sorry; paper wins {i}.")
    return contexts, firsts, seconds


def build_backends(workdir: Path) -> tuple[dict[str, Callable[[int], Any]], dict[str, str]]:
    """Return {name: factory(batch_size) -> oracle} and {name: why skipped}."""
    from ompo_envs.oracles.pairrm_checkpoint import build_tiny_pairrm_checkpoint

    factories: dict[str, Callable[[int], Any]] = {}
    skipped: dict[str, str] = {}
    pairrm_dir = build_tiny_pairrm_checkpoint(workdir / "pairrm", seed=0)

    from ompo_envs.oracles.pairrm import PairRM

    factories["pairrm_native"] = lambda b: PairRM(pairrm_dir, device="cpu", batch_size=b)
    if importlib.util.find_spec("llm_blender") is None:
        skipped["pairrm_llm_blender"] = "llm-blender not installed"
    else:
        from ompo_envs.oracles.blender import LLMBlenderPairRM

        factories["pairrm_llm_blender"] = lambda b: LLMBlenderPairRM(
            pairrm_dir, device="cpu", batch_size=b
        )
    try:
        from ompo_envs.oracles.pair_lm import PairPreferenceLM
        from ompo_envs.oracles.tiny_models import build_tiny_causal_lm

        lm_dir = build_tiny_causal_lm(workdir / "pair_lm", seed=0)
        factories["pair_lm"] = lambda b: PairPreferenceLM.from_pretrained(
            lm_dir, device="cpu", batch_size=b, local_files_only=True
        )
    except ImportError as error:  # an optional dependency of the backend is missing
        skipped["pair_lm"] = f"{type(error).__name__}: {error}"
    try:
        from ompo_envs.oracles.general_preference import GeneralPreferenceOracle
        from ompo_envs.oracles.reward_model import RewardModelOracle
        from ompo_envs.oracles.tiny_models import (
            build_tiny_general_preference_model,
            build_tiny_reward_model,
        )

        rm_dir = build_tiny_reward_model(workdir / "reward_model", seed=0)
        gpm_dir = build_tiny_general_preference_model(workdir / "gpm", prompt_head=True, seed=0)
        factories["reward_model"] = lambda b: RewardModelOracle.from_pretrained(
            rm_dir, device="cpu", batch_size=b, local_files_only=True
        )
        factories["general_preference"] = lambda b: GeneralPreferenceOracle.from_pretrained(
            gpm_dir, device="cpu", batch_size=b, local_files_only=True
        )
    except ImportError as error:
        skipped["reward_model"] = skipped["general_preference"] = f"{type(error).__name__}: {error}"
    try:
        from ompo_envs.oracles.embedding import EmbeddingOracle

        EmbeddingOracle(embedding_cache_size=0)  # fail early if sentence-transformers is missing
        factories["embedding"] = lambda b: EmbeddingOracle(embedding_cache_size=0, batch_size=b)
    except ImportError as error:
        skipped["embedding"] = f"{type(error).__name__}: {error}"
    from ompo_envs.oracles.synthetic import MatrixOracle

    rps = [[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]]
    factories["matrix"] = lambda b: MatrixOracle.from_keywords(
        rps, [["rock"], ["paper"], ["scissors"]], batch_size=b
    )
    return factories, skipped


def time_backend(oracle: Any, data: tuple[list, list, list], repeats: int) -> dict[str, float]:
    contexts, firsts, seconds = data
    oracle.compare(contexts[:2], firsts[:2], seconds[:2])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        oracle.compare(contexts, firsts, seconds)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"seconds_median": median, "pairs_per_s": len(contexts) / median}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=64, help="pairs per timed compare call")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per cell")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    data = workload(args.pairs)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        factories, skipped = build_backends(Path(tmp))
        for name, factory in factories.items():
            for batch_size in BATCH_SIZES:
                row = {"backend": name, "batch_size": batch_size}
                row.update(time_backend(factory(batch_size), data, args.repeats))
                rows.append(row)
                print(f"  {name:>20} batch {batch_size:>3}: {row['pairs_per_s']:10.1f} pairs/s")
    base = next(r for r in rows if (r["backend"], r["batch_size"]) == BASELINE)["pairs_per_s"]
    for row in rows:
        row["ratio_vs_pairrm_native_b1"] = row["pairs_per_s"] / base

    run_name = f"oracles__oracle_throughput__cpu__{int(time.time())}"
    report = {
        "run_name": run_name,
        "baseline": {"backend": BASELINE[0], "batch_size": BASELINE[1], "pairs_per_s": base},
        "settings": vars(args) | {"out": str(args.out)},
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "torch": torch.__version__,
        "environment": numeric_environment(),
        "rows": rows,
        "skipped": skipped,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{run_name}.json").write_text(json.dumps(report, indent=2))
    _print_table(rows, skipped)
    _plot(rows, args.out / f"{run_name}.png")
    print(f"wrote {args.out / run_name}.json and .png")


def _print_table(rows: list[dict[str, Any]], skipped: dict[str, str]) -> None:
    print(f"\n{'backend':>20} " + " ".join(f"{'b=' + str(b):>20}" for b in BATCH_SIZES))
    print(f"{'':>20} " + " ".join(f"{'pairs/s (ratio)':>20}" for _ in BATCH_SIZES))
    for name in dict.fromkeys(r["backend"] for r in rows):
        cells = []
        for b in BATCH_SIZES:
            row = next(r for r in rows if r["backend"] == name and r["batch_size"] == b)
            cells.append(f"{row['pairs_per_s']:>10.1f} ({row['ratio_vs_pairrm_native_b1']:6.2f}x)")
        print(f"{name:>20} " + " ".join(f"{c:>20}" for c in cells))
    for name, why in skipped.items():
        print(f"{name:>20}  skipped: {why}")
    print(f"ratios are relative to {BASELINE[0]} at batch {BASELINE[1]} in this run")


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["backend"] for r in rows))
    width = 0.8 / len(BATCH_SIZES)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for k, b in enumerate(BATCH_SIZES):
        values = [
            next(r for r in rows if r["backend"] == n and r["batch_size"] == b)["pairs_per_s"]
            for n in names
        ]
        ax.bar([i + k * width for i in range(len(names))], values, width, label=f"batch {b}")
    ax.set_xticks([i + width for i in range(len(names))], names, rotation=15)
    ax.set_yscale("log")
    ax.set_ylabel("pairs / s (CPU, tiny models)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
