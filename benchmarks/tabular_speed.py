"""``ompo-bench tabular-speed``: the Fig. 1(a) job's two code paths, timed in one run.

Runs the job of :mod:`benchmarks.tabular` twice with the same settings: one process job per run
(``lockstep=False``, the default), then each game's runs in lockstep with their pairwise
contractions batched (``lockstep=True``, ``--lockstep``). Reports the wall and CPU
seconds of each (CPU: this process and its worker processes; on a shared machine the CPU ratio
is the one that other jobs disturb least), their ratios, the largest difference between any two
exploitabilities the paths recorded (overall and per solver), and whether their printed tables
are identical, and each path's CPU as a multiple of the job's contractions alone (one lone
contraction per update and solver evaluation, :func:`contraction_budget`: 1.0 would be a job
that does nothing but its contractions). Writes
``RandomGame-v0__tabular-speed__seeds{first}-{last}__{unix time}.json``
with the numeric environment it ran in (:func:`benchmarks.environment.numeric_environment`).

The two paths make the same operations, but a batched contraction is a matmul of another shape,
for which BLAS may add in another order (:func:`ompo_envs.tabular.contraction_rounding_bound`):
the recorded numbers are equal to rounding, which each solver's dynamics then carry forward —
damped where the iterates converge, amplified where a last iterate cycles (README, "Numbers on
any CPU").
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import tabular
from benchmarks.environment import numeric_environment


def _cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed_run(config: tabular.TabularBenchmarkConfig) -> tuple[dict[str, Any], float, float]:
    """Run ``config``; return its results, wall seconds and CPU seconds (workers included)."""
    cpu, wall = _cpu_seconds(), time.perf_counter()
    results = tabular.run(config, progress=False)
    return results, time.perf_counter() - wall, _cpu_seconds() - cpu


def largest_differences(before: dict[str, Any], after: dict[str, Any]) -> tuple[float, float]:
    """Largest absolute and relative difference between the two results' exploitabilities.

    Raises:
        ValueError: The results do not hold the same runs.
    """
    key = [
        (r["solver"], json.dumps(r["settings"], sort_keys=True), r["seed"]) for r in before["runs"]
    ]
    if key != [
        (r["solver"], json.dumps(r["settings"], sort_keys=True), r["seed"]) for r in after["runs"]
    ]:
        raise ValueError("the two code paths made different runs")
    absolute = relative = 0.0
    for old, new in zip(before["runs"], after["runs"], strict=True):
        for kind in ("last", "average"):
            a, b = np.array(old[kind]), np.array(new[kind])
            gap = np.abs(a - b)
            absolute = max(absolute, float(gap.max()))
            relative = max(relative, float((gap / np.maximum(np.abs(a), 1e-300)).max()))
    return absolute, relative


def largest_difference_by_solver(
    before: dict[str, Any], after: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """Per solver and iterate ("average", "last"): the largest absolute difference of any run."""
    out: dict[str, dict[str, float]] = {}
    for old, new in zip(before["runs"], after["runs"], strict=True):
        row = out.setdefault(old["solver"], {"average": 0.0, "last": 0.0})
        for kind in ("average", "last"):
            gap = np.abs(np.array(old[kind]) - np.array(new[kind])).max()
            row[kind] = max(row[kind], float(gap))
    return out


def contraction_seconds(seed: int, horizon: int, repeats: int = 30) -> float:
    """Median seconds of one lone pairwise contraction on ``random_game(seed)`` (one thread)."""
    from threadpoolctl import threadpool_limits

    from ompo_envs.tabular import occupancy_measures, random_game, reward_against_occupancy
    from ompo_envs.tabular.policies import uniform_policy

    game = random_game(seed, horizon=horizon)
    occupancy = occupancy_measures(game, uniform_policy(game))
    times = []
    with threadpool_limits(1):
        for _ in range(repeats):
            start = time.process_time()
            reward_against_occupancy(game, occupancy, check=False)
            times.append(time.process_time() - start)
    return float(np.median(times))


def contraction_budget(config: tabular.TabularBenchmarkConfig) -> float:
    """CPU seconds of the job's contractions alone, the baseline of the speed ratio.

    Σ over runs of updates × cost_per_update × one lone contraction of the run's game
    (:func:`contraction_seconds`, measured in this process).
    """
    from solvers import solver_traits

    total = 0.0
    for seed in config.seeds:
        one = contraction_seconds(seed, config.horizon)
        for spec in config.solvers:
            cost = solver_traits(tabular._solver_class(spec)).cost_per_update
            total += len(tabular.settings_grid(config, spec)) * config.updates * cost * one
    return total


def compare(config: tabular.TabularBenchmarkConfig) -> dict[str, Any]:
    """Time ``config`` without then with lockstep; return the timings and the comparison."""
    before, wall_before, cpu_before = timed_run(dataclasses.replace(config, lockstep=False))
    after, wall_after, cpu_after = timed_run(dataclasses.replace(config, lockstep=True))
    absolute, relative = largest_differences(before, after)
    budget = contraction_budget(config)
    return {
        "contraction_budget_cpu_seconds": budget,
        "ratio_to_one_contraction_per_update": {
            "one_job_per_run": cpu_before / budget,
            "lockstep": cpu_after / budget,
        },
        "config": {**dataclasses.asdict(config), "workers": after["config"]["workers"]},
        "one_job_per_run": {"wall_seconds": wall_before, "cpu_seconds": cpu_before},
        "lockstep": {"wall_seconds": wall_after, "cpu_seconds": cpu_after},
        "wall_ratio": wall_before / wall_after,
        "cpu_ratio": cpu_before / cpu_after,
        "largest_absolute_difference": absolute,
        "largest_relative_difference": relative,
        "largest_difference_by_solver": largest_difference_by_solver(before, after),
        "tables_identical": tabular.table_markdown(before) == tabular.table_markdown(after),
        "table": tabular.table_markdown(after),
        "environment": numeric_environment(),
    }


def _command(args: argparse.Namespace) -> int:
    try:
        config = tabular.TabularBenchmarkConfig(
            updates=args.updates,
            seeds=tuple(args.seeds),
            solvers=tuple(args.solvers),
            workers=args.workers,
        )
    except ValueError as error:
        raise SystemExit(f"ompo-bench tabular-speed: {error}") from None
    report = compare(config)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = f"seeds{min(config.seeds)}-{max(config.seeds)}"
    path = out / f"{tabular.ENV_ID}__tabular-speed__{seeds}__{int(time.time())}.json"
    path.write_text(json.dumps(report, indent=1, allow_nan=False))
    for name in ("one_job_per_run", "lockstep"):
        timing = report[name]
        ratio = report["ratio_to_one_contraction_per_update"][name]
        print(
            f"{name}: {timing['wall_seconds']:.1f} s wall, {timing['cpu_seconds']:.1f} s CPU, "
            f"{ratio:.2f}x the CPU of one lone contraction per update"
        )
    print(
        f"speed-up: {report['wall_ratio']:.2f}x wall, {report['cpu_ratio']:.2f}x CPU; largest "
        f"difference {report['largest_absolute_difference']:.1e} (relative "
        f"{report['largest_relative_difference']:.1e}); tables identical: "
        f"{report['tables_identical']}"
    )
    print(f"wrote {path}")
    return 0


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``ompo-bench tabular-speed`` and its arguments."""
    parser = subparsers.add_parser(
        "tabular-speed",
        help="time ompo-bench tabular's two code paths (one job per run vs lockstep) in one run",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("--updates", type=int, default=1000, help="updates per run (default 1000)")
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=list(range(10)), help="game seeds (default 0..9)"
    )
    parser.add_argument(
        "--solvers",
        nargs="+",
        default=list(tabular.DEFAULT_SOLVERS),
        metavar="NAME",
        help="solvers, as for ompo-bench tabular (default: its defaults)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (default 1: CPU time is cleanest)"
    )
    parser.add_argument("--out", default="results", help="output folder (default results/)")
    parser.set_defaults(handler=_command)
