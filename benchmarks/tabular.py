"""Paper Fig. 1(a): exploitability vs number of updates of the exact solvers on 10 random games.

The games are the §4.1 generator's ``random_game(seed, horizon=H)`` for seeds 0–9: S ~ U{1..100},
A ~ U{2..10}, sparse stochastic transitions, a random antisymmetric preference paid at every stage,
1–3 initial states. The paper does not state H; we use H = 10 (the generator's default).

Every solver starts from the uniform policy and runs a small geometric β grid (×2 steps, placed
on each method's own scale: OMPO's β is divided by H − h + 1 per stage, SPPO/SPO/MTPO see the
trajectory win rate divided by H). The exploitability of the last and of the average iterate is
recorded at checkpoints; a solver's "best β" minimises the mean (over games) average-iterate
exploitability at the checkpoint in question. Results go to one JSON file and one PNG plot per
run, named ``RandomGame-v0__fig1a__seeds{first}-{last}__{unix time}``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ENV_ID = "RandomGame-v0"
THRESHOLDS = (1e-1, 1e-2, 1e-3)

#: name -> (module, class, β grid). EGPO makes two gradient evaluations per update.
SOLVER_GRIDS: dict[str, tuple[str, str, tuple[float, ...]]] = {
    "OMPO": ("solvers.ompo", "OMPO", (10.0, 20.0, 40.0)),
    "MPO": ("solvers.mpo", "MPO", (0.5, 1.0, 2.0)),
    "SPPO": ("solvers.sppo", "SPPO", (5.0, 10.0, 20.0)),
    "SPO": ("solvers.spo", "SPO", (5.0, 10.0, 20.0)),
    "MTPO": ("solvers.mtpo", "MTPO", (5.0, 10.0, 20.0)),
    "Nash-MD": ("solvers.nash_md", "NashMD", (0.5, 1.0, 2.0)),
    "EGPO": ("solvers.egpo", "EGPO", (0.5, 1.0, 2.0)),
    "ONPO": ("solvers.onpo", "ONPO", (0.5, 1.0, 2.0)),
    "MMD": ("solvers.mmd", "MMD", (0.5, 1.0, 2.0)),
    "FP": ("solvers.fictitious_play", "FictitiousPlay", ()),
}


#: The default set: every solver except SPO, which with exact Q values is MPO with β/Σ_h w_h
#: (solvers/spo.py) and would only repeat MPO's curve at 8 % of the run time; ``--solvers`` adds it.
DEFAULT_SOLVERS: tuple[str, ...] = tuple(name for name in SOLVER_GRIDS if name != "SPO")


@dataclass(frozen=True)
class TabularBenchmarkConfig:
    """Settings of the Fig. 1(a) reproduction."""

    updates: int = 1000
    """Policy updates per run (the paper plots 2,000: ``--full``)."""

    seeds: tuple[int, ...] = tuple(range(10))
    """Seeds of ``random_game``: one game each (the paper uses 10 games)."""

    horizon: int = 10
    """H of every game (not stated in the paper)."""

    solvers: tuple[str, ...] = DEFAULT_SOLVERS
    """Which solvers to run (keys of ``SOLVER_GRIDS``)."""

    betas: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Per-solver β grids overriding ``SOLVER_GRIDS`` (e.g. for a quick test)."""

    workers: int = 0
    """Worker processes (0: one per CPU core); each uses one BLAS thread."""

    def __post_init__(self) -> None:
        if isinstance(self.updates, bool) or not isinstance(self.updates, int) or self.updates < 1:
            raise ValueError(f"updates must be a positive integer, got {self.updates!r}")
        unknown = sorted(set(self.solvers) - set(SOLVER_GRIDS))
        if unknown:
            raise ValueError(f"unknown solvers {unknown}; choose from {sorted(SOLVER_GRIDS)}")
        if not self.seeds:
            raise ValueError("seeds must name at least one game")


def checkpoints(updates: int) -> list[int]:
    """Updates after which exploitability is measured: 1..10, every 10 to 100, then every 25."""
    points = set(range(1, min(updates, 10) + 1)) | set(range(10, min(updates, 100) + 1, 10))
    return sorted(points | set(range(100, updates + 1, 25)) | {updates})


def _solver_class(name: str) -> type:
    import importlib

    module, cls, _ = SOLVER_GRIDS[name]
    return getattr(importlib.import_module(module), cls)


def run_one(name: str, beta: float | None, seed: int, horizon: int, updates: int) -> dict[str, Any]:
    """Run one solver with one β on one game; return its exploitability curves."""
    from threadpoolctl import threadpool_limits

    from ompo_envs.tabular import random_game

    with threadpool_limits(1):
        game = random_game(seed, horizon=horizon)
        settings = {} if beta is None else {"beta": beta}
        solver = _solver_class(name)(game, **settings)
        marks = set(checkpoints(updates))
        last, average = [], []
        start = time.perf_counter()
        for t in range(1, updates + 1):
            solver.step()
            if t in marks:
                evaluation = solver.evaluate()
                last.append(evaluation["exploitability_last"])
                average.append(evaluation["exploitability_average"])
        seconds = time.perf_counter() - start
    return {
        "solver": name,
        "beta": beta,
        "seed": seed,
        "last": last,
        "average": average,
        "seconds": seconds,
    }


def _jobs(config: TabularBenchmarkConfig) -> list[tuple[str, float | None, int]]:
    from ompo_envs.tabular import random_game

    sizes = {s: random_game(s, horizon=config.horizon) for s in config.seeds}
    jobs = []
    for name in config.solvers:
        grid = config.betas.get(name, SOLVER_GRIDS[name][2]) or (None,)
        jobs += [(name, beta, seed) for beta in grid for seed in config.seeds]
    # Longest first (cost ~ (S·A)², EGPO twice) so that the workers finish together.
    cost = {s: (g.num_states * g.num_actions) ** 2 for s, g in sizes.items()}
    return sorted(jobs, key=lambda j: -cost[j[2]] * (2 if j[0] == "EGPO" else 1))


def run(config: TabularBenchmarkConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run every (solver, β, game) of ``config``, in parallel; return the results dictionary."""
    from tqdm import tqdm

    from ompo_envs.tabular import random_game

    jobs = _jobs(config)
    workers = config.workers or os.cpu_count() or 1
    runs = []
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(run_one, name, beta, seed, config.horizon, config.updates)
            for name, beta, seed in jobs
        ]
        for future in tqdm(
            as_completed(futures), total=len(futures), disable=not progress, desc="runs"
        ):
            runs.append(future.result())
    games = []
    for seed in config.seeds:
        game = random_game(seed, horizon=config.horizon)
        games.append(
            {
                "seed": seed,
                "num_states": game.num_states,
                "num_actions": game.num_actions,
                "num_initial_states": game.num_initial_states,
                "horizon": game.horizon,
            }
        )
    runs.sort(key=lambda r: (config.solvers.index(r["solver"]), r["beta"] or 0.0, r["seed"]))
    results = {
        "env_id": ENV_ID,
        "config": {**asdict(config), "workers": workers},
        "games": games,
        "checkpoints": checkpoints(config.updates),
        "runs": runs,
        "wall_seconds": time.perf_counter() - start,
    }
    results["summary"] = summarise(results)
    return results


def curves(results: dict[str, Any], name: str, beta: float | None, kind: str) -> np.ndarray:
    """The (games, checkpoints) array of ``kind`` ("last" or "average") exploitability."""
    rows = [r[kind] for r in results["runs"] if r["solver"] == name and r["beta"] == beta]
    return np.array(rows)


def best_beta(results: dict[str, Any], name: str, at_update: int) -> float | None:
    """The grid β minimising the mean average-iterate exploitability after ``at_update``."""
    index = results["checkpoints"].index(at_update)
    grid = {r["beta"] for r in results["runs"] if r["solver"] == name}
    betas = sorted(grid, key=lambda b: b or 0.0)
    means = [curves(results, name, b, "average")[:, index].mean() for b in betas]
    return betas[int(np.argmin(means))]


def updates_to_reach(curve: np.ndarray, points: Sequence[int], threshold: float) -> int | None:
    """The first checkpoint from which the curve stays ≤ ``threshold`` (None: never)."""
    above = np.flatnonzero(curve > threshold)
    if above.size == 0:
        return points[0]
    if above[-1] == len(points) - 1:
        return None
    return points[above[-1] + 1]


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """Best β per solver, the updates-to-threshold table, and the OMPO-vs-MPO comparison."""
    points = results["checkpoints"]
    final = points[-1]
    summary: dict[str, Any] = {"solvers": {}}
    for name in results["config"]["solvers"]:
        beta = best_beta(results, name, final)
        average = curves(results, name, beta, "average")
        last = curves(results, name, beta, "last")
        entry: dict[str, Any] = {
            "best_beta": beta,
            "final_average": [float(average[:, -1].mean()), float(average[:, -1].std())],
            "final_last": [float(last[:, -1].mean()), float(last[:, -1].std())],
            "updates_to_reach": {},
        }
        for threshold in THRESHOLDS:
            reached = [updates_to_reach(c, points, threshold) for c in average]
            hits = [u for u in reached if u is not None]
            entry["updates_to_reach"][f"{threshold:g}"] = {
                "reached": len(hits),
                "games": len(reached),
                "mean": float(np.mean(hits)) if hits else None,
                "std": float(np.std(hits)) if hits else None,
            }
        summary["solvers"][name] = entry
    names = results["config"]["solvers"]
    if "OMPO" in names and "MPO" in names and 100 in points and 1000 in points:
        ompo_beta, mpo_beta = best_beta(results, "OMPO", 100), best_beta(results, "MPO", 1000)
        ompo = curves(results, "OMPO", ompo_beta, "average")[:, points.index(100)]
        mpo = curves(results, "MPO", mpo_beta, "average")[:, points.index(1000)]
        summary["ompo_at_100_vs_mpo_at_1000"] = {
            "ompo_beta": ompo_beta,
            "mpo_beta": mpo_beta,
            "ompo_average_at_100": [float(ompo.mean()), float(ompo.std())],
            "mpo_average_at_1000": [float(mpo.mean()), float(mpo.std())],
            "holds": bool(ompo.mean() <= mpo.mean()),
        }
    return summary


def table_markdown(results: dict[str, Any]) -> str:
    """Markdown table: best β, updates to reach 1e-1/1e-2/1e-3 (average iterate), final values."""
    summary = results["summary"]["solvers"]
    final = results["checkpoints"][-1]
    header = (
        "| solver | best β | updates to 1e-1 | updates to 1e-2 | updates to 1e-3 "
        f"| avg. iterate @{final} | last iterate @{final} |\n|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for name, entry in summary.items():
        cells = []
        for threshold in THRESHOLDS:
            cell = entry["updates_to_reach"][f"{threshold:g}"]
            if cell["reached"] == 0:
                cells.append(f"> {final} (0/{cell['games']})")
                continue
            text = f"{cell['mean']:.0f} ± {cell['std']:.0f}"
            if cell["reached"] < cell["games"]:
                text += f" ({cell['reached']}/{cell['games']} games)"
            cells.append(text)
        beta = "–" if entry["best_beta"] is None else f"{entry['best_beta']:g}"
        avg, last = entry["final_average"], entry["final_last"]
        rows.append(
            f"| {name} | {beta} | {' | '.join(cells)} | {avg[0]:.2e} ± {avg[1]:.1e} "
            f"| {last[0]:.2e} ± {last[1]:.1e} |"
        )
    return header + "\n".join(rows) + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
    """Exploitability vs updates, mean ± std over games, log y; average and last iterate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = np.array(results["checkpoints"])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    colours = plt.get_cmap("tab10")
    for i, name in enumerate(results["config"]["solvers"]):
        beta = results["summary"]["solvers"][name]["best_beta"]
        label = name if beta is None else f"{name} (β={beta:g})"
        for ax, kind in zip(axes, ("average", "last"), strict=True):
            data = curves(results, name, beta, kind)
            mean, std = data.mean(axis=0), data.std(axis=0)
            lw = 2.2 if name in ("OMPO", "MPO") else 1.2
            ax.plot(points, mean, color=colours(i), lw=lw, label=label)
            ax.fill_between(
                points,
                np.maximum(mean - std, mean * 1e-2),
                mean + std,
                color=colours(i),
                alpha=0.12,
            )
    for ax, title in zip(axes, ("average iterate", "last iterate"), strict=True):
        ax.set_yscale("log")
        ax.set_xlabel("number of updates")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("exploitability (mean ± std over games)")
    axes[1].legend(fontsize=8, loc="upper right", ncol=2)
    n = len(results["games"])
    fig.suptitle(
        f"{n} random games (S∈[1,100], A∈[2,10], H={results['config']['horizon']}): "
        "each solver at its best grid β"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_name(config: TabularBenchmarkConfig, stamp: int | None = None) -> str:
    """CleanRL-style ``{env_id}__{algo}__{seed}__{time}`` name of a benchmark run."""
    seeds = f"seeds{min(config.seeds)}-{max(config.seeds)}"
    return f"{ENV_ID}__fig1a__{seeds}__{int(time.time()) if stamp is None else stamp}"


def write(results: dict[str, Any], out: Path, name: str) -> tuple[Path, Path]:
    """Write ``{name}.json`` and ``{name}.png`` under ``out``; return both paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / f"{name}.json", out / f"{name}.png"
    json_path.write_text(json.dumps(results, indent=1, allow_nan=False))
    plot(results, png_path)
    return json_path, png_path


def format_comparison(results: dict[str, Any]) -> str:
    """One line: OMPO's average iterate at 100 updates vs MPO's at 1,000 (best β each)."""
    cmp = results["summary"].get("ompo_at_100_vs_mpo_at_1000")
    if cmp is None:
        return "OMPO@100 vs MPO@1000: not measured (needs both solvers and >= 1000 updates)"
    o, m = cmp["ompo_average_at_100"], cmp["mpo_average_at_1000"]
    verdict = "holds" if cmp["holds"] else "does NOT hold"
    return (
        f"OMPO avg@100 (β={cmp['ompo_beta']:g}) = {o[0]:.3e} ± {o[1]:.1e}  vs  "
        f"MPO avg@1000 (β={cmp['mpo_beta']:g}) = {m[0]:.3e} ± {m[1]:.1e}: claim {verdict}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``ompo-bench tabular``: see :func:`benchmarks.cli.main`."""
    from benchmarks.cli import main as cli_main

    return cli_main(["tabular", *(argv or [])])
