r"""One ompo-train iteration of SmolLM2-135M-Instruct on CPU; its win rate on held-out dialogues.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/smollm2_cpu_iteration.py \
        --model models/SmolLM2-135M-Instruct          # writes benchmarks/smollm2_cpu_iteration.json

**What it runs.** ``ompo-train configs/smollm2-cpu-mtbench101-ompo.toml`` (``--config`` for its
MPO twin) into ``WORK/run``, then the ``ompo-bench winrate`` command written in the config's
header — iteration 1 against the base model on the first 3 dialogues of every MT-Bench-101 task
(every judged turn, golden history; no training dialogue among them,
``tests/training/test_smollm2_cpu_configs.py``), greedy answers, the embedding oracle asked in
both orders, a dialogue-clustered bootstrap interval — and the same comparison with the roles
swapped (base as A; its answers come from the first call's cache, so it costs only the oracle).

**What it records** (``--out``): the wall time of each stage (``RUN/manifest.json``), the
whole command's wall time and the peak resident memory of each command's process
(``ru_maxrss`` of the child from ``os.wait4``: the largest resident set it reached), the load
average sampled every 5 s while each command ran (other jobs share the cores), the run's
counts (episodes, states, records, optimiser steps, loss), how far π^1 moved towards the
method's targets on its training records (:func:`regression_fit`), both win rates with their
intervals and the number of prompts whose two answers are identical, the thread variables the
children ran with and :func:`benchmarks.environment.numeric_environment`.

**What the number means.** The embedding oracle prefers the answer whose all-MiniLM-L6-v2
embedding is closer (cosine) to the last user message: a win rate under it measures topical
relevance to the question, not correctness or helpfulness, and says nothing about alignment.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.environment import numeric_environment

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_name("smollm2_cpu_iteration.json")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def measured(command: list[str], log: Path) -> dict[str, Any]:
    """Run ``command`` (output to ``log``); return its status, wall seconds, peak RSS and load.

    Raises:
        RuntimeError: The command failed (the message names the log).
    """
    loads: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            loads.append(os.getloadavg()[0])
            done.wait(5.0)

    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{shlex.join(command)} exited with {code}; see {log}")
    return {
        "command": shlex.join(command),
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "load_average_1min": {
            "min": min(loads),
            "mean": round(sum(loads) / len(loads), 2),
            "max": max(loads),
        },
    }


def header_winrate(config: Path) -> list[str]:
    """The ``ompo-bench`` arguments (``winrate ...``) written in the config's header."""
    for line in config.read_text(encoding="utf-8").splitlines():
        text = line.lstrip("# ")
        if text.startswith("ompo-bench winrate "):
            return shlex.split(text)[1:]
    raise ValueError(f"{config} has no 'ompo-bench winrate' line in its header")


def winrate_commands(config: Path, iteration: Path, model: str, work: Path) -> dict[str, list[str]]:
    """The header's ``ompo-bench winrate`` arguments for iteration vs model, and swapped.

    The swapped run reads the first one's answer cache, so it asks the models nothing again.
    """
    forward = replace_argument(header_winrate(config), "--model-a", str(iteration))
    forward = replace_argument(forward, "--model-b", model)
    forward = replace_argument(forward, "--out", str(work / "winrate"))
    swapped = replace_argument(forward, "--model-a", model)
    swapped = replace_argument(swapped, "--model-b", str(iteration))
    swapped = replace_argument(swapped, "--out", str(work / "winrate-swapped"))
    swapped += ["--cache", str(work / "winrate" / "cache.sqlite")]
    return {"iteration_1_vs_base": forward, "base_vs_iteration_1": swapped}


def replace_argument(arguments: list[str], flag: str, value: str) -> list[str]:
    """Return ``arguments`` with the value after ``flag`` replaced (the flag must be there)."""
    out = list(arguments)
    out[out.index(flag) + 1] = value
    return out


def pair_counts(pairs: Path) -> dict[str, int]:
    """Dialogues compared, and prompts whose two answers are identical (``pairs.jsonl``)."""
    rows = [json.loads(line) for line in pairs.read_text(encoding="utf-8").splitlines()]
    return {
        "dialogues": len({row["id"].partition("/")[0] for row in rows}),
        "identical_answers": sum(row["answer_a"] == row["answer_b"] for row in rows),
    }


def regression_fit(iteration: Path) -> dict[str, float]:
    """How far π^1 moved towards the OMPO/MPO targets on its own training records.

    For each record, log π^1(a|s) − log π^0(a|s) (π^0's stored by the score stage) against the
    target β (Q̂ − ½): the weighted loss before training (the log-ratio is 0, so the mean
    target²) and after, and the correlation of log-ratio and target.
    """
    import numpy as np
    import torch

    from ompo_envs.lm import LMPolicy

    rows = [
        json.loads(line)
        for line in (iteration / "data" / "scored_records.jsonl").read_text().splitlines()
    ]
    policy = LMPolicy.from_pretrained(iteration)
    contexts = [
        [{"role": role, "content": content} for role, content in r["response"][0]["messages"]]
        for r in rows
    ]
    answers = [r["response"][0]["answer"] for r in rows]
    with torch.no_grad():
        after = policy.log_probs(contexts, answers).double().numpy()
    ratio = after - np.array([r["ref_logprob"] for r in rows])
    target = np.array([r["target"] for r in rows])
    weight = np.array([r["weight"] for r in rows])
    return {
        "records": len(rows),
        "loss_before": float(np.average(target**2, weights=weight)),
        "loss_after": float(np.average((ratio - target) ** 2, weights=weight)),
        "log_ratio_std": float(ratio.std()),
        "target_std": float(target.std()),
        "correlation": float(np.corrcoef(ratio, target)[0, 1]),
    }


def main(argv: list[str] | None = None) -> int:
    """Train one iteration, measure it, compare it with the base model both ways, write JSON."""
    from training.config import load_config
    from training.configs import shipped_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="smollm2-cpu-mtbench101-ompo", help="shipped config")
    parser.add_argument(
        "--model",
        default="models/SmolLM2-135M-Instruct",
        help="the converted model folder (or the .gguf file) used as model.path and as base",
    )
    parser.add_argument("--work", default="runs/smollm2-cpu-iteration", help="scratch folder")
    parser.add_argument("--out", default=str(OUT), help="JSON to write")
    args = parser.parse_args(argv)

    config_path = shipped_config(args.config)
    if config_path is None:
        raise SystemExit(f"no shipped config named {args.config!r}")
    config = load_config(config_path)
    work = Path(args.work).resolve()
    run = work / "run"
    if run.exists():
        raise SystemExit(f"{run} exists: remove it (a measurement starts afresh) or give --work")
    work.mkdir(parents=True, exist_ok=True)
    model = str(Path(args.model).resolve())
    command = [sys.executable, "-m", "training.cli", str(config_path), "--out", str(run)]
    train = measured([*command, f"model.path={json.dumps(model)}"], work / "ompo-train.log")
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    stages = {
        name.partition("/")[2]: round(entry["seconds"], 1)
        for name, entry in manifest["completed"].items()
        if name.startswith("iteration_1/")
    }
    iteration = json.loads((run / "iterations.jsonl").read_text(encoding="utf-8").splitlines()[0])

    commands = winrate_commands(config_path, run / "iteration_1", model, work)
    comparisons = {}
    for name, arguments in commands.items():
        timing = measured(
            [sys.executable, "-m", "benchmarks.cli", *arguments], work / f"{name}.log"
        )
        folder = Path(arguments[arguments.index("--out") + 1])
        result = json.loads((folder / "winrate.json").read_text(encoding="utf-8"))["results"][0]
        comparisons[name] = {
            **timing,
            "win_rate": result["win_rate"],
            "win_rate_ci": result["win_rate_ci"],
            "hard_win_rate": result["hard_win_rate"],
            "hard_win_rate_ci": result["hard_win_rate_ci"],
            "wins_ties_losses": [result["wins"], result["ties"], result["losses"]],
            "order_gap": result["order_gap"],
            "prompts": result["n"],
            **pair_counts(folder / "pairs.jsonl"),
        }

    summary = {
        "config": args.config,
        "settings": {
            "dialogue_ids": config.env.options["dialogue_ids"],
            "episodes_per_iteration": config.env.episodes_per_iteration,
            "num_answers": config.solver.num_answers,
            "max_new_tokens": config.generation.max_new_tokens,
            "learning_rate": config.train.learning_rate,
            "beta": config.solver.beta,
            "oracle": config.oracle.kind,
        },
        "threads": {name: os.environ.get(name) for name in THREAD_VARIABLES},
        "train": {
            **train,
            "stages_s": stages,
            "episodes": iteration.get("episodes"),
            "records": iteration.get("records"),
            "states": iteration.get("states"),
            "steps": iteration.get("train_steps"),
            "train_loss": iteration.get("train_loss"),
            # loaded here, after the commands: a child forked from a process holding the
            # model would count the parent's pages in its peak resident set
            "fit_on_training_records": regression_fit(run / "iteration_1"),
        },
        "winrate": comparisons,
        "oracle_measures": (
            "cosine similarity of all-MiniLM-L6-v2 embeddings of each answer and the last user "
            "message (P(a > b) = sigmoid((r_a - r_b) / 0.1)): topical relevance, not correctness, "
            "helpfulness or alignment"
        ),
        "environment": numeric_environment(),
    }
    Path(args.out).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: summary[k] for k in ("train", "winrate")}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
