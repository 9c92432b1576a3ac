"""``ompo-bench lm-known-ne``: LM solvers trained through the text API in games with a known NE.

A tiny Llama (built locally, tokenizer trained on the game's own prompts and words; nothing is
downloaded) gets a short supervised warm start biased to one answer (action 0 with probability
``bias`` at every state, the others evenly), so it starts far from the uniform equilibrium. Then
each solver (OMPO, MPO, SPPO, DPO; Step-DPO on request) trains it for ``iterations`` iterations
with the same samples per iteration, and after every iteration its last iterate is scored by
exact exploitability of its induced class policy (:mod:`ompo_envs.text.induced`, estimated from
``eval_episodes`` self-play episodes, with a bootstrap standard error).

Games: ``TextRockPaperScissors-v0`` (H = 1) and ``TextRepeatedRockPaperScissors-v0`` (H = 3, a
lifted tabular game). Results: ``{name}.json`` with

    {"games": {game_id: {solver: {"exploitability": [start, after it. 1, ...],
                                  "stderr": [...], "wall_seconds": s, ...}}}, ...}

(mean over seeds; ``stderr`` combines the spread over seeds and the evaluation's own error) and a
plot ``{name}.png``. Every iteration's wall time is split into generation, oracle, log-prob
scoring, optimiser and the rest (``time_split``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.environment import numeric_environment

DEFAULT_GAMES = ("TextRockPaperScissors-v0", "TextRepeatedRockPaperScissors-v0")
#: name -> (module, class) of the LM solvers.
SOLVERS: dict[str, tuple[str, str]] = {
    "OMPO": ("solvers.lm.ompo", "LMOMPO"),
    "MPO": ("solvers.lm.mpo", "LMMPO"),
    "SPPO": ("solvers.lm.sppo", "LMSPPO"),
    "DPO": ("solvers.lm.dpo", "LMDPO"),
    "Step-DPO": ("solvers.lm.step_dpo", "LMStepDPO"),
}
DEFAULT_SOLVERS = ("OMPO", "MPO", "SPPO", "DPO")
STAGES = ("generation", "oracle", "scoring", "optimizer", "rest")


@dataclass(frozen=True)
class LMKnownNEConfig:
    """Settings of the benchmark (the defaults are the measured run in the README)."""

    games: tuple[str, ...] = DEFAULT_GAMES
    """Known-NE text games (class-matrix or lifted games)."""

    solvers: tuple[str, ...] = DEFAULT_SOLVERS
    """Solvers to run (keys of ``SOLVERS``)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds of the model, the warm start and the solver (one run per seed), one-stage games."""

    multi_step_seeds: tuple[int, ...] = (0,)
    """Seeds of games with H > 1 (each run costs ~3× a one-stage run)."""

    iterations: int = 30
    """Iterations per run."""

    beta: float = 1.75
    """β of OMPO, MPO, SPPO (η) and Step-DPO... the regression step size."""

    dpo_beta: float = 2.0
    """DPO's β (its inverse KL strength; a different scale from the regression β)."""

    answers_per_iteration: int = 1024
    """Answers sampled per iteration: num_prompts = this / (H · K) root episodes (equal samples
    for every solver, and per answer-stage across games)."""

    num_samples: int = 8
    """K: answers per state (step-level) or conversations per prompt (SPPO, DPO)."""

    learning_rate: float = 0.01
    """Peak learning rate of the train stage (cosine decay with 10 % warm-up, every iteration)."""

    optimizer: str = "adamw"
    """``"adamw"`` or ``"sgd"``."""

    epochs: int = 20
    """Epochs of the train stage over the iteration's (deduplicated) records."""

    batch_size: int = 256
    """Records per optimiser step."""

    eval_episodes: int = 512
    """Self-play episodes of each exploitability estimate."""

    bias: float = 0.8
    """Warm start: probability of action 0 at every state."""

    warm_start_epochs: int = 60
    """Optimiser steps of the warm start."""

    num_layers: int = 1
    """Transformer layers of the tiny model (hidden size 32, 4 heads)."""

    workers: int = 2
    """Worker processes (one run each at a time; one torch thread per worker); 0 runs everything
    in this process."""

    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-solver config overrides, e.g. ``{"OMPO": {"estimator": "trajectory"}}``."""

    def __post_init__(self) -> None:
        unknown = [s for s in self.solvers if s not in SOLVERS]
        if unknown:
            raise ValueError(f"unknown solvers {unknown}; choose from {sorted(SOLVERS)}")
        for name in ("iterations", "answers_per_iteration", "eval_episodes", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.workers, int) or self.workers < 0:
            raise ValueError(f"workers must be an integer >= 0, got {self.workers!r}")
        if not 0 < self.bias < 1:
            raise ValueError(f"bias must lie in (0, 1), got {self.bias}")


# ---------------------------------------------------------------------- the start policy
def game_words(env: Any) -> tuple[str, ...]:
    """The canonical answer word of every named action of a known-NE text game."""
    names = tuple(getattr(env, "classes", ()))
    if not names or names[-1] != "unrecognised":
        raise TypeError(f"{type(env).__name__} is not a known-NE text game with answer classes")
    return names[:-1]


def game_prompts(env: Any) -> list[str]:
    """Every user turn the game can show (the tiny tokenizer is trained on them)."""
    from ompo_envs.text.lifted import LiftedTabularEnv

    if isinstance(env, LiftedTabularEnv):
        return [
            env.prompt(h, s) for h in range(1, env.horizon + 1) for s in range(env.game.num_states)
        ]
    return [env.prompt]


def tiny_policy(env: Any, directory: str | Path, *, seed: int, num_layers: int = 2) -> Any:
    """Build a tiny Llama whose tokenizer knows the game's text; return it as an LMPolicy."""
    from ompo_envs.lm import LMPolicy, SamplingParams
    from ompo_envs.oracles.tiny_models import build_tiny_causal_lm

    words = game_words(env)
    corpus = [*game_prompts(env), " ".join(words), *words]
    path = build_tiny_causal_lm(
        directory,
        corpus=corpus,
        seed=seed,
        num_layers=num_layers,
        vocab_size=320,
        initializer_range=0.02,
    )
    longest = max(len(w) for w in words)
    return LMPolicy.from_pretrained(
        path,
        sampling=SamplingParams(max_new_tokens=max(4, longest // 2)),
        generation_batch_size=4096,
        scoring_batch_size=256,
    )


def reachable_conversations(env: Any, *, episodes: int, seed: int) -> list[Any]:
    """Distinct player conversations met when both players answer uniformly random words."""
    from ompo_envs.text.batch import TextEnvBatch

    words = game_words(env)
    rng = np.random.default_rng(seed)
    batch = TextEnvBatch.from_env(env, episodes)
    _, infos = batch.reset(seed=seed)
    seen: dict[Any, Any] = {}
    while any(batch.active):
        joint = []
        for i, live in enumerate(batch.active):
            if not live:
                joint.append(None)
                continue
            for agent in ("player_0", "player_1"):
                messages = infos[i][agent]["messages"]
                seen.setdefault(tuple((m["role"], m["content"]) for m in messages), messages)
            joint.append(
                {a: words[int(rng.integers(len(words)))] for a in ("player_0", "player_1")}
            )
        for i, result in enumerate(batch.step(joint)):
            if result is not None:
                infos[i] = result[4]
    return list(seen.values())


def warm_start(policy: Any, env: Any, *, bias: float, epochs: int, seed: int) -> dict[str, float]:
    """Supervised start: at every reachable state, word 0 with ``bias``, the others evenly."""
    from ompo_envs.lm.training import OptimizerConfig, supervised_fine_tune

    words = game_words(env)
    probabilities = [bias] + [(1 - bias) / (len(words) - 1)] * (len(words) - 1)
    conversations = reachable_conversations(env, episodes=64, seed=seed)
    rows = [(c, w, p) for c in conversations for w, p in zip(words, probabilities, strict=True)]
    config = OptimizerConfig(
        learning_rate=0.03,
        epochs=epochs,
        batch_size=256,
        lr_schedule="constant",
        warmup_ratio=0.0,
        seed=seed,
    )
    return supervised_fine_tune(
        policy, [r[0] for r in rows], [r[1] for r in rows], config, weights=[r[2] for r in rows]
    )


# ---------------------------------------------------------------------- one run
def solver_config(name: str, config: LMKnownNEConfig, seed: int, horizon: int = 1) -> Any:
    """The solver's config in this benchmark (same samples per iteration for every solver)."""
    import importlib

    from ompo_envs.lm.training import OptimizerConfig

    module, cls = SOLVERS[name]
    solver_cls = getattr(importlib.import_module(module), cls)
    optimizer = OptimizerConfig(
        learning_rate=config.learning_rate,
        optimizer=config.optimizer,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr_schedule="cosine",
        warmup_ratio=0.1,
        seed=seed,
    )
    settings = {
        "beta": config.dpo_beta if name == "DPO" else config.beta,
        "num_prompts": max(1, round(config.answers_per_iteration / (horizon * config.num_samples))),
        "num_samples": config.num_samples,
        "optimizer": optimizer,
        "eval_episodes": config.eval_episodes,
        "seed": seed,
        **config.extra.get(name, {}),
    }
    return solver_cls, solver_cls.config_class(**settings)


def run_one(game: str, name: str, seed: int, config: LMKnownNEConfig) -> dict[str, Any]:
    """Warm-start a tiny model and train it with one solver; return its curve and timings."""
    import torch
    import transformers
    from threadpoolctl import threadpool_limits

    import ompo_envs

    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    with threadpool_limits(1):
        start, cpu_start = time.perf_counter(), time.process_time()
        env = ompo_envs.make(game)
        with tempfile.TemporaryDirectory() as directory:
            policy = tiny_policy(env, directory, seed=seed, num_layers=config.num_layers)
        warm_start(policy, env, bias=config.bias, epochs=config.warm_start_epochs, seed=seed)
        solver_cls, solver_config_ = solver_config(name, config, seed, env.horizon)
        solver = solver_cls(env, solver_config_, policy=policy)
        evaluation = solver.evaluate()
        curve, errors = (
            [evaluation["exploitability_last"]],
            [evaluation["exploitability_last_stderr"]],
        )
        unrecognised = [evaluation["unrecognised_rate_last"]]
        times = {stage: [] for stage in (*STAGES, "total")}
        train_start = time.perf_counter()
        for _ in range(config.iterations):
            metrics = solver.step()
            for stage in (*STAGES, "total"):
                times[stage].append(metrics[f"time_{stage}"])
            evaluation = solver.evaluate()
            curve.append(evaluation["exploitability_last"])
            errors.append(evaluation["exploitability_last_stderr"])
            unrecognised.append(evaluation["unrecognised_rate_last"])
        train_seconds = time.perf_counter() - train_start
    return {
        "game": game,
        "solver": name,
        "seed": seed,
        "exploitability": curve,
        "stderr": errors,
        "unrecognised_rate": unrecognised,
        "iteration_seconds": times,
        "train_seconds": train_seconds,
        "wall_seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
    }


# ---------------------------------------------------------------------- the whole benchmark
def seeds_of(game: str, config: LMKnownNEConfig) -> tuple[int, ...]:
    """The seeds ``game`` runs with: ``seeds`` for one-stage games, else ``multi_step_seeds``."""
    import ompo_envs

    return config.seeds if ompo_envs.make(game).horizon == 1 else config.multi_step_seeds


def run(config: LMKnownNEConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run every (game, solver, seed); return the results dictionary."""
    from tqdm import tqdm

    jobs = [
        (game, name, seed)
        for game in config.games
        for name in config.solvers
        for seed in seeds_of(game, config)
    ]
    # Multi-stage games first, so that the workers finish together.
    jobs.sort(key=lambda job: job[0] == "TextRockPaperScissors-v0")
    start = time.perf_counter()
    runs = []
    if config.workers == 0:
        runs = [run_one(g, s, seed, config) for g, s, seed in tqdm(jobs, disable=not progress)]
    else:
        with ProcessPoolExecutor(max_workers=config.workers) as pool:
            futures = [pool.submit(run_one, g, s, seed, config) for g, s, seed in jobs]
            for future in tqdm(as_completed(futures), total=len(futures), disable=not progress):
                runs.append(future.result())
    runs.sort(key=lambda r: (r["game"], config.solvers.index(r["solver"]), r["seed"]))
    return {
        "config": asdict(config),
        "games": summarise(runs, config),
        "runs": runs,
        "wall_seconds": time.perf_counter() - start,
        "cpu_seconds": sum(r["cpu_seconds"] for r in runs),
        "load_average_1min": os.getloadavg()[0],
        "environment": numeric_environment(),
    }


def summarise(runs: Sequence[dict[str, Any]], config: LMKnownNEConfig) -> dict[str, Any]:
    """Per game and solver: mean curve over seeds, its stderr, timings, the acceptance checks.

    ``stderr`` = sqrt(var over seeds / n + mean(eval stderr²) / n); ``time_split`` is each
    stage's share of the iterations' total time; ``first_at_or_below_0.05`` is, per seed, the
    first iteration whose estimate is ≤ 0.05 (``None`` if none).
    """
    out: dict[str, Any] = {}
    for game in config.games:
        out[game] = {}
        for name in config.solvers:
            mine = [r for r in runs if r["game"] == game and r["solver"] == name]
            if not mine:
                continue
            curves = np.array([r["exploitability"] for r in mine])
            errors = np.array([r["stderr"] for r in mine])
            n = len(mine)
            spread = curves.var(axis=0, ddof=1) if n > 1 else np.zeros(curves.shape[1])
            stderr = np.sqrt(spread / n + (errors**2).mean(axis=0) / n)
            totals = {
                stage: float(sum(sum(r["iteration_seconds"][stage]) for r in mine))
                for stage in (*STAGES, "total")
            }
            out[game][name] = {
                "exploitability": curves.mean(axis=0).tolist(),
                "stderr": stderr.tolist(),
                "wall_seconds": float(np.mean([r["wall_seconds"] for r in mine])),
                "seconds_per_iteration": totals["total"] / (n * config.iterations),
                "time_split": {s: totals[s] / totals["total"] for s in STAGES},
                "last_per_seed": [float(c[-1]) for c in curves],
                "start_per_seed": [float(c[0]) for c in curves],
                "first_at_or_below_0.05": [
                    next((t for t, v in enumerate(c) if v <= 0.05), None) for c in curves
                ],
            }
    return out


def idle_makespan(results: dict[str, Any]) -> float:
    """Seconds the run would take on idle cores: its runs' CPU seconds on ``workers`` workers.

    The runs are handed out in the order :func:`run` submits them, each to the worker that
    frees first (what the process pool does), so the estimate does not depend on other load on
    the machine; ``workers = 0`` is one process.
    """
    config = results["config"]
    cpu = {(r["game"], r["solver"], r["seed"]): r["cpu_seconds"] for r in results["runs"]}
    seeds = {game: sorted({seed for g, _, seed in cpu if g == game}) for game in config["games"]}
    jobs = [
        (game, name, seed)
        for game in config["games"]
        for name in config["solvers"]
        for seed in seeds[game]
        if (game, name, seed) in cpu
    ]
    jobs.sort(key=lambda job: job[0] == "TextRockPaperScissors-v0")
    free_at = [0.0] * max(1, config["workers"])
    for job in jobs:
        free_at[free_at.index(min(free_at))] += cpu[job]
    return max(free_at)


def table_markdown(results: dict[str, Any]) -> str:
    """One row per (game, solver): start, last iterate ± stderr, min, time split."""
    lines = [
        "| game | solver | start | last iterate (± s.e.) | min over iterations | "
        "first ≤ 0.05 (per seed) | s / iteration | rest share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for game, solvers in results["games"].items():
        for name, row in solvers.items():
            curve, err = row["exploitability"], row["stderr"]
            lines.append(
                f"| {game} | {name} | {curve[0]:.3f} | {curve[-1]:.3f} ± {err[-1]:.3f} | "
                f"{min(curve):.3f} | {row['first_at_or_below_0.05']} | "
                f"{row['seconds_per_iteration']:.2f} | {row['time_split']['rest']:.1%} |"
            )
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    """Exploitability of the last iterate vs iteration, one panel per game, mean ± stderr."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    games = list(results["games"])
    fig, axes = plt.subplots(1, len(games), figsize=(6.2 * len(games), 4.4), squeeze=False)
    colours = plt.get_cmap("tab10")
    for ax, game in zip(axes[0], games, strict=True):
        for i, (name, row) in enumerate(results["games"][game].items()):
            mean, err = np.array(row["exploitability"]), np.array(row["stderr"])
            x = np.arange(len(mean))
            ax.plot(x, mean, color=colours(i), lw=2.2 if name == "OMPO" else 1.3, label=name)
            ax.fill_between(x, mean - err, mean + err, color=colours(i), alpha=0.15)
        ax.axhline(0.05, color="grey", ls=":", lw=1)
        ax.set_title(game)
        ax.set_xlabel("iteration (0 = warm start)")
        ax.set_ylabel("exploitability of the last iterate")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("tiny LM trained through the text API (mean ± s.e. over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_name(config: LMKnownNEConfig, stamp: int | None = None) -> str:
    """CleanRL-style run name."""
    seeds = f"seeds{min(config.seeds)}-{max(config.seeds)}"
    stamp = int(time.time()) if stamp is None else stamp
    return f"lm-known-ne__{'-'.join(config.solvers)}__{seeds}__{stamp}"


def write(results: dict[str, Any], out: Path, name: str) -> tuple[Path, Path]:
    """Write ``{name}.json`` and ``{name}.png`` under ``out``; return both paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / f"{name}.json", out / f"{name}.png"
    json_path.write_text(json.dumps(results, indent=1, allow_nan=False))
    plot(results, png_path)
    return json_path, png_path


def add_parser(subparsers: Any) -> None:
    """Register ``ompo-bench lm-known-ne`` (its arguments live here, ``cli.py`` only dispatches)."""
    parser = subparsers.add_parser(
        "lm-known-ne",
        help="LM solvers on text games with a known NE (tiny local model, CPU)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--games", nargs="+", default=list(DEFAULT_GAMES), metavar="ID")
    parser.add_argument(
        "--solvers", nargs="+", default=list(DEFAULT_SOLVERS), choices=list(SOLVERS), metavar="NAME"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=list(LMKnownNEConfig.seeds))
    parser.add_argument(
        "--multi-step-seeds", nargs="+", type=int, default=list(LMKnownNEConfig.multi_step_seeds)
    )
    parser.add_argument("--iterations", type=int, default=LMKnownNEConfig.iterations)
    parser.add_argument("--workers", type=int, default=LMKnownNEConfig.workers)
    parser.add_argument("--eval-episodes", type=int, default=LMKnownNEConfig.eval_episodes)
    parser.add_argument(
        "--answers-per-iteration", type=int, default=LMKnownNEConfig.answers_per_iteration
    )
    parser.add_argument("--out", default="results", help="output folder (default results/)")
    parser.add_argument(
        "--name", default=None, help="file name without suffix (default: a CleanRL-style run name)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(handler=_handle)


def _handle(args: Any) -> int:
    config = LMKnownNEConfig(
        games=tuple(args.games),
        solvers=tuple(args.solvers),
        seeds=tuple(args.seeds),
        multi_step_seeds=tuple(args.multi_step_seeds),
        iterations=args.iterations,
        workers=args.workers,
        eval_episodes=args.eval_episodes,
        answers_per_iteration=args.answers_per_iteration,
    )
    results = run(config, progress=not args.no_progress)
    json_path, png_path = write(results, Path(args.out), args.name or run_name(config))
    print(table_markdown(results))
    print(
        f"wrote {json_path} and {png_path} ({results['wall_seconds']:.0f} s wall, "
        f"{results['cpu_seconds']:.0f} s CPU in the workers, "
        f"load {results['load_average_1min']:.1f}; "
        f"{idle_makespan(results):.0f} s on {max(1, config.workers)} idle cores)"
    )
    return 0
