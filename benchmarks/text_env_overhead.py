"""Benchmark: text-env step overhead (all but the oracle) vs a step with the embedding oracle.

Runs ``MTBench101-v0`` (``context="generated"``) through :class:`~ompo_envs.text.batch.TextEnvBatch`
at batch sizes 1 and 64 with the CPU :class:`~ompo_envs.oracles.EmbeddingOracle` (embedding cache
off, answers all distinct, so every step really encodes). A thin wrapper times the time spent
inside the oracle; the env overhead is the rest of the step (validation, state updates, rendering,
infos). Reports, per batch size, seconds per batch step, the oracle's share and the overhead's
share, and writes ``results/{run_name}.json`` and a bar plot ``results/{run_name}.png``.

    python benchmarks/text_env_overhead.py [--steps 40] [--seed 0] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import ompo_envs
from benchmarks.environment import numeric_environment
from ompo_envs.oracles.base import PreferenceOracle
from ompo_envs.text.batch import TextEnvBatch

ENV_ID = "MTBench101-v0"


class TimedOracle(PreferenceOracle):
    """Forwards ``compare`` to another oracle and adds up the seconds spent inside it."""

    def __init__(self, inner: PreferenceOracle) -> None:
        super().__init__()
        self.inner = inner
        self.seconds = 0.0
        self.pairs = 0

    def compare(self, contexts: Sequence, answers_a: Sequence[str], answers_b: Sequence[str]):
        """Return the inner oracle's preferences, timing the call."""
        start = time.perf_counter()
        out = self.inner.compare(contexts, answers_a, answers_b)
        self.seconds += time.perf_counter() - start
        self.pairs += len(answers_a)
        return out


def answer(rng: np.random.Generator, reference: str) -> str:
    """A realistic, never-repeated answer: the dataset's reply plus a random tag."""
    return f"{reference} (variant {rng.integers(1 << 62)})"


def measure(batch_size: int, steps: int, seed: int, oracle: TimedOracle) -> dict[str, Any]:
    env = ompo_envs.make(ENV_ID, oracle=oracle)
    batch = TextEnvBatch.from_env(env, batch_size)
    rng = np.random.default_rng(seed)
    _, infos = batch.reset(seed=seed)
    # warm-up step (model first call, caches)
    batch.step([_joint(rng, i) for i in infos])
    _, infos = batch.reset(seed=seed + 1000)
    oracle.seconds, oracle.pairs = 0.0, 0
    total = 0.0
    for _ in range(steps):
        if not any(batch.active):
            _, infos = batch.reset(seed=int(rng.integers(1 << 30)))
        actions = [
            _joint(rng, info) if active else None
            for info, active in zip(infos, batch.active, strict=True)
        ]
        start = time.perf_counter()
        results = batch.step(actions)
        total += time.perf_counter() - start
        infos = [r[4] if r is not None else info for r, info in zip(results, infos, strict=True)]
    overhead = total - oracle.seconds
    return {
        "batch_size": batch_size,
        "batch_steps": steps,
        "pairs_scored": oracle.pairs,
        "seconds_per_batch_step": total / steps,
        "oracle_seconds_per_batch_step": oracle.seconds / steps,
        "overhead_seconds_per_batch_step": overhead / steps,
        "overhead_seconds_per_env_step": overhead / max(oracle.pairs, 1),
        "overhead_share_of_step": overhead / total,
    }


def _joint(rng: np.random.Generator, info: dict[str, dict[str, Any]]) -> dict[str, str]:
    reference = info["player_0"].get("reference", "") or "I am not sure."
    return {"player_0": answer(rng, reference), "player_1": answer(rng, reference[::-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="timed batch steps per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64])
    args = parser.parse_args()

    import torch

    from ompo_envs.oracles import EmbeddingOracle

    torch.set_num_threads(args.threads)
    oracle = TimedOracle(EmbeddingOracle(embedding_cache_size=0))
    rows = [measure(b, args.steps, args.seed, oracle) for b in args.batch_sizes]
    run_name = f"{ENV_ID}__text_env_overhead__{args.seed}__{int(time.time())}"
    report = {
        "run_name": run_name,
        "env_id": ENV_ID,
        "oracle": "EmbeddingOracle(all-MiniLM-L6-v2, CPU, embedding cache off)",
        "torch_threads": args.threads,
        "machine": platform.platform(),
        "processor": platform.processor(),
        "environment": numeric_environment(),
        "results": rows,
    }
    out = Path("results")
    out.mkdir(exist_ok=True)
    (out / f"{run_name}.json").write_text(json.dumps(report, indent=2))
    print(f"{ENV_ID}, EmbeddingOracle on CPU ({args.threads} threads)")
    for row in rows:
        print(
            f"batch {row['batch_size']:>3}: {1e3 * row['seconds_per_batch_step']:8.2f} ms/step, "
            f"oracle {1e3 * row['oracle_seconds_per_batch_step']:8.2f} ms, "
            f"env overhead {1e3 * row['overhead_seconds_per_batch_step']:7.3f} ms "
            f"({1e6 * row['overhead_seconds_per_env_step']:.0f} µs per env step) = "
            f"{100 * row['overhead_share_of_step']:.1f}% of the step"
        )
    _plot(rows, out / f"{run_name}.png")
    print(f"wrote {out / run_name}.json and .png")


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"batch {r['batch_size']}" for r in rows]
    oracle = [1e3 * r["oracle_seconds_per_batch_step"] for r in rows]
    overhead = [1e3 * r["overhead_seconds_per_batch_step"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(labels, oracle, label="EmbeddingOracle")
    ax.bar(labels, overhead, bottom=oracle, label="env overhead")
    for i, r in enumerate(rows):
        ax.text(
            i, oracle[i] + overhead[i], f"{100 * r['overhead_share_of_step']:.1f}%", ha="center"
        )
    ax.set_ylabel("ms per batch step")
    ax.set_title(f"{ENV_ID}: step time")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
