"""``ompo-bench profile``: where the CPU time of ``ompo-bench tabular`` and ``lm-known-ne`` goes.

``ompo-bench profile tabular`` runs the Fig. 1(a) job of one game (by default the largest, seed 4:
S·A = 730, 3 initial states) as the benchmark does — every solver and β in lockstep, one batched
contraction per round — with each run's thread under its own :mod:`cProfile` profiler timed by
that thread's CPU clock. ``ompo-bench profile lm-known-ne`` runs one (game, solver) of the LM
benchmark for a few iterations under :mod:`cProfile` (process CPU clock) and reports the
solver's own stage split.

Time is attributed to the package's functions: a function of ``ompo_envs``, ``solvers`` or
``benchmarks`` keeps its own time, and the time of a NumPy, torch or Python-library function is
passed up to the package function that called it (split as the profiler recorded the calls).
Each package function then falls in one group (:data:`TABULAR_GROUPS`), and the summary gives the
groups' shares, the top functions and (tabular) each solver's CPU seconds outside the batched
contraction, which is reported as one line of its own (a round is computed by whichever thread
ends it). Results: ``profile_{tabular,lm-known-ne}__*.json`` and the summary on stdout.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from collections import defaultdict
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.environment import numeric_environment

#: Package folders whose functions keep their time (the rest is passed up to their callers).
PACKAGES = ("ompo_envs/", "solvers/", "benchmarks/", "training/")

#: Group of a package function by (file suffix, function-name prefix); first match wins.
TABULAR_GROUPS: tuple[tuple[str, str, str], ...] = (
    ("ompo_envs/tabular/evaluation.py", "contract_rows", "pairwise contraction (batched matmul)"),
    ("ompo_envs/tabular/batching.py", "", "lockstep hand-over and memo"),
    ("ompo_envs/tabular/evaluation.py", "backward_recursion", "backward recursion (Q, V)"),
    ("ompo_envs/tabular/evaluation.py", "standard_value", "backward recursion (Q, V)"),
    ("ompo_envs/tabular/evaluation.py", "soft_value", "backward recursion (Q, V)"),
    ("ompo_envs/tabular/evaluation.py", "regularised_value", "backward recursion (Q, V)"),
    ("ompo_envs/tabular/evaluation.py", "optimal_value", "backward recursion (Q, V)"),
    ("ompo_envs/tabular/evaluation.py", "occupancy_measures", "forward occupancy pass"),
    ("ompo_envs/tabular/evaluation.py", "OccupancyAverage", "average iterate"),
    ("ompo_envs/core/validation.py", "", "input checks"),
    ("ompo_envs/tabular/policies.py", "check_", "input checks"),
    ("ompo_envs/tabular/evaluation.py", "_check", "input checks"),
    ("ompo_envs/tabular/game.py", "check_", "input checks"),
    ("ompo_envs/core/rows.py", "", "per-state arithmetic (logits, KL, normalising)"),
    ("ompo_envs/tabular/policies.py", "", "per-state arithmetic (logits, KL, normalising)"),
    ("solvers/", "", "per-state arithmetic (logits, KL, normalising)"),
    ("ompo_envs/tabular/evaluation.py", "", "evaluation (exploitability at checkpoints)"),
    ("benchmarks/", "", "harness"),
)

#: The groups of ``ompo-bench profile lm-known-ne``.
LM_GROUPS: tuple[tuple[str, str, str], ...] = (
    ("ompo_envs/lm/backends.py", "", "generation (sampling answers)"),
    ("ompo_envs/lm/policy.py", "sample", "generation (sampling answers)"),
    ("ompo_envs/lm/logprobs.py", "", "log-probabilities (scoring, training forward)"),
    ("ompo_envs/lm/training.py", "", "optimiser (backward, clip, step)"),
    ("ompo_envs/lm/prompting.py", "", "prompts (chat template, tokenising)"),
    ("ompo_envs/core/", "", "env API (snapshot, restore, step)"),
    ("ompo_envs/text/", "", "env API (snapshot, restore, step)"),
    ("ompo_envs/oracles/", "", "oracle"),
    ("solvers/lm/rollouts.py", "", "rollouts and comparisons"),
    ("solvers/sampled/", "", "rollouts and comparisons"),
    ("solvers/lm/", "", "solver (records, losses, grouping)"),
    ("benchmarks/", "", "harness"),
)


#: Levels of library calls passed up to a package function (deeper time is dropped).
_LEVELS = 64


# ---------------------------------------------------------------------- attribution
def _is_package(function: tuple[str, int, str]) -> bool:
    return any(package in function[0] for package in PACKAGES)


def attributed_self_time(stats: pstats.Stats) -> dict[tuple[str, int, str], float]:
    """Seconds per package function: its own time plus that of the library calls under it.

    A non-package function's own time is split over its callers in proportion to the time the
    profiler recorded per caller, and passed up level by level (every function once per level,
    at most :data:`_LEVELS` levels) until a package function takes it; time with no package
    function above it (interpreter start-up, thread plumbing) is dropped.
    """
    raw: Mapping[Any, Any] = stats.stats  # type: ignore[attr-defined]
    result: dict[tuple[str, int, str], float] = defaultdict(float)
    pending: dict[Any, float] = {}
    for function, (_, _, own, _, _) in raw.items():
        if _is_package(function):
            result[function] += own
        elif own > 0:
            pending[function] = own
    for _ in range(_LEVELS):
        passed: dict[Any, float] = defaultdict(float)
        for function, seconds in pending.items():
            callers = raw.get(function, (0, 0, 0.0, 0.0, {}))[4]
            weights = {caller: entry[2] for caller, entry in callers.items()}  # own time per caller
            if sum(weights.values()) <= 0:
                weights = {caller: entry[3] for caller, entry in callers.items()}
            total = sum(weights.values())
            for caller, weight in weights.items():
                if total > 0 and weight > 0:
                    share = seconds * weight / total
                    if _is_package(caller):
                        result[caller] += share
                    else:
                        passed[caller] += share
        pending = {f: v for f, v in passed.items() if v > 1e-9}
        if not pending:
            break
    return dict(result)


def group_of(function: tuple[str, int, str], groups=TABULAR_GROUPS) -> str:
    """The group of a package function (``"other"`` if none matches)."""
    path, _, name = function
    for suffix, prefix, group in groups:
        in_place = path.endswith(suffix) or (suffix.endswith("/") and suffix in path)
        if in_place and name.startswith(prefix):
            return group
    return "other"


def _label(function: tuple[str, int, str]) -> str:
    path, line, name = function
    for package in PACKAGES:
        if package in path:
            path = package + path.split(package, 1)[1]
            break
    return f"{path}:{line}({name})"


def summarise_stats(stats: pstats.Stats, groups_of=TABULAR_GROUPS, top: int = 15) -> dict:
    """Group shares and the top package functions of attributed self time."""
    seconds = attributed_self_time(stats)
    total = sum(seconds.values())
    groups: dict[str, float] = defaultdict(float)
    for function, value in seconds.items():
        groups[group_of(function, groups_of)] += value
    ranked = sorted(seconds.items(), key=lambda item: -item[1])[:top]
    return {
        "attributed_seconds": total,
        "groups": {
            name: {"seconds": value, "share": value / total if total else 0.0}
            for name, value in sorted(groups.items(), key=lambda item: -item[1])
        },
        "top_functions": [
            {"function": _label(f), "seconds": v, "share": v / total if total else 0.0}
            for f, v in ranked
        ],
    }


# ---------------------------------------------------------------------- tabular
def _profiled_run(spec: str, settings: Mapping[str, Any], game: Any, seed: int, updates: int):
    from benchmarks.tabular import _run_solver

    profiler = cProfile.Profile(time.thread_time)
    start = time.thread_time()
    profiler.enable()
    try:
        result = _run_solver(spec, settings, game, seed, updates)
    finally:
        profiler.disable()
    return result, profiler, time.thread_time() - start


def profile_tabular(seed: int = 4, updates: int = 200, solvers: tuple[str, ...] = ()) -> dict:
    """Profile one game's lockstep job of ``ompo-bench tabular`` (module docstring)."""
    from threadpoolctl import threadpool_limits

    from benchmarks.tabular import DEFAULT_SOLVERS, TabularBenchmarkConfig, settings_grid
    from ompo_envs.tabular import random_game
    from ompo_envs.tabular.batching import run_in_lockstep

    names = tuple(solvers) or DEFAULT_SOLVERS
    config = TabularBenchmarkConfig(solvers=names, updates=updates, seeds=(seed,))
    runs = [(spec, settings) for spec in names for settings in settings_grid(config, spec)]
    with threadpool_limits(1):
        game = random_game(seed, horizon=config.horizon)
        wall, cpu = time.perf_counter(), time.process_time()
        tasks = [partial(_profiled_run, spec, s, game, seed, updates) for spec, s in runs]
        outcomes = run_in_lockstep(game, tasks)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = pstats.Stats(outcomes[0][1])
    for _, profiler, _ in outcomes[1:]:
        stats.add(profiler)
    per_solver: dict[str, float] = defaultdict(float)
    contraction = 0.0
    for (spec, _), (_, profiler, thread_cpu) in zip(runs, outcomes, strict=True):
        own = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        rounds = sum(v[3] for f, v in own.items() if f[2] == "contract_rows")
        contraction += rounds
        per_solver[spec] += thread_cpu - rounds
    summary = summarise_stats(stats)
    return {
        "benchmark": "tabular",
        "command": f"ompo-bench profile tabular --seed {seed} --updates {updates}",
        "game": {
            "seed": seed,
            "num_states": game.num_states,
            "num_actions": game.num_actions,
            "num_initial_states": game.num_initial_states,
        },
        "runs": len(runs),
        "updates": updates,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "contraction_cpu_seconds": contraction,
        "solver_cpu_seconds_outside_contraction": dict(per_solver),
        **summary,
        "environment": numeric_environment(),
    }


# ---------------------------------------------------------------------- lm-known-ne
def profile_lm_known_ne(
    game: str = "TextRepeatedRockPaperScissors-v0", solver: str = "DPO", iterations: int = 5
) -> dict:
    """Profile ``iterations`` iterations of one lm-known-ne run (defaults of the benchmark)."""
    import tempfile

    import torch
    from threadpoolctl import threadpool_limits

    import ompo_envs
    from benchmarks import lm_known_ne

    torch.set_num_threads(1)
    config = lm_known_ne.LMKnownNEConfig(solvers=(solver,))
    stages: dict[str, float] = defaultdict(float)
    profiler = cProfile.Profile(time.process_time)
    with threadpool_limits(1):
        env = ompo_envs.make(game)
        with tempfile.TemporaryDirectory() as directory:
            policy = lm_known_ne.tiny_policy(env, directory, seed=0, num_layers=config.num_layers)
        lm_known_ne.warm_start(
            policy, env, bias=config.bias, epochs=config.warm_start_epochs, seed=0
        )
        cls, settings = lm_known_ne.solver_config(solver, config, 0, env.horizon)
        instance = cls(env, settings, policy=policy)
        cpu = time.process_time()
        for _ in range(iterations):
            profiler.enable()
            metrics = instance.step()
            profiler.disable()
            for stage in lm_known_ne.STAGES:
                stages[stage] += metrics[f"time_{stage}"]
        cpu = time.process_time() - cpu
    total = sum(stages.values())
    return {
        "benchmark": "lm-known-ne",
        "command": (
            f"ompo-bench profile lm-known-ne --game {game} --solver {solver} "
            f"--iterations {iterations}"
        ),
        "game": game,
        "solver": solver,
        "iterations": iterations,
        "cpu_seconds": cpu,
        "stage_seconds": dict(stages),
        "stage_shares": {k: v / total for k, v in stages.items()} if total else {},
        **summarise_stats(pstats.Stats(profiler), LM_GROUPS),
        "environment": numeric_environment(),
    }


# ---------------------------------------------------------------------- command line
def summary_markdown(result: Mapping[str, Any]) -> str:
    """The groups and the top functions as Markdown tables."""
    lines = [f"`{result['command']}`: {result['cpu_seconds']:.1f} s CPU", ""]
    if "stage_shares" in result:
        lines += ["| stage | share |", "|---|---|"]
        lines += [f"| {k} | {v:.1%} |" for k, v in result["stage_shares"].items()]
        lines.append("")
    if "solver_cpu_seconds_outside_contraction" in result:
        lines += ["| solver | CPU s outside the contraction |", "|---|---|"]
        per = result["solver_cpu_seconds_outside_contraction"]
        lines += [f"| {k} | {v:.2f} |" for k, v in per.items()]
        lines += [
            f"| (batched contraction, all solvers) | {result['contraction_cpu_seconds']:.2f} |"
        ]
        lines.append("")
    lines += ["| group | CPU s | share |", "|---|---|---|"]
    for name, row in result["groups"].items():
        lines.append(f"| {name} | {row['seconds']:.2f} | {row['share']:.1%} |")
    lines += ["", "| function | CPU s | share |", "|---|---|---|"]
    for row in result["top_functions"]:
        lines.append(f"| `{row['function']}` | {row['seconds']:.2f} | {row['share']:.1%} |")
    return "\n".join(lines)


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``ompo-bench profile {tabular,lm-known-ne}``."""
    parser = subparsers.add_parser(
        "profile",
        help="profile ompo-bench tabular or lm-known-ne",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("benchmark", choices=("tabular", "lm-known-ne"))
    parser.add_argument("--seed", type=int, default=4, help="tabular: the game (default 4)")
    parser.add_argument("--updates", type=int, default=200, help="tabular: updates (default 200)")
    parser.add_argument("--solvers", nargs="+", default=[], help="tabular: solvers (default all)")
    parser.add_argument("--game", default="TextRepeatedRockPaperScissors-v0", help="lm-known-ne")
    parser.add_argument("--solver", default="DPO", help="lm-known-ne: the solver (default DPO)")
    parser.add_argument("--iterations", type=int, default=5, help="lm-known-ne (default 5)")
    parser.add_argument("--out", default="results", help="output folder (default results/)")
    parser.set_defaults(handler=_command)


def _command(args: argparse.Namespace) -> int:
    if args.benchmark == "tabular":
        result = profile_tabular(args.seed, args.updates, tuple(args.solvers))
    else:
        result = profile_lm_known_ne(args.game, args.solver, args.iterations)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"profile_{args.benchmark}__{int(time.time())}.json"
    path.write_text(json.dumps(result, indent=1))
    print(summary_markdown(result))
    print(f"wrote {path}")
    return 0
