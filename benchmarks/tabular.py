"""Paper Fig. 1(a): exploitability vs number of updates of any solvers on 10 random games.

The games are the §4.1 generator's ``random_game(seed, horizon=H)`` for seeds 0–9: S ~ U{1..100},
A ~ U{2..10}, sparse stochastic transitions, a random antisymmetric preference paid at every stage,
1–3 initial states. The paper does not state H; we use H = 10 (the generator's default).

Solvers are named as in the registry (:mod:`solvers.registry`: ``OMPO``, ``MPO``, …, a
plug-in's entry point) or given as ``module:Class`` / ``file.py:Class``. Each runs over a grid of
settings: ``--grid NAME:field=v1,v2,…`` (several fields give their product), by default the
``beta`` values the class declares in ``beta_grid`` (none declared: its defaults, once). Every
solver starts from its default π^1 (uniform for the built-ins). The exploitability of the last
and of the average iterate is recorded at checkpoints — from the solver's own ``evaluate()``
where it has one, otherwise by the harness from ``policy`` (the average iterate is then the
uniform trajectory mixture of the iterates, App. E.2). A solver's best setting minimises the
mean (over games) average-iterate exploitability after the last update. Results go to one JSON
file and one PNG plot per run, named ``RandomGame-v0__fig1a__seeds{first}-{last}__{unix time}``.

Each run is one job of the worker pool. ``--lockstep`` runs the runs of one game together in one
worker process, one thread each, their pairwise contractions batched into one matmul per round
(:mod:`ompo_envs.tabular.batching`): every run records the numbers it records alone, to the
rounding of a matmul of another shape. Since issue 21 made the rest of an update cheaper, the
thread hand-overs cost more than the batching saves on 2 cores (``ompo-bench tabular-speed``
times both paths and compares their numbers; README, "Tabular benchmark"), so one job per run
is the default.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.environment import numeric_environment

ENV_ID = "RandomGame-v0"
THRESHOLDS = (1e-1, 1e-2, 1e-3)

#: The default solvers: every built-in exact iterative solver except SPO, which with exact Q
#: values is MPO with β/Σ_h w_h (solvers/spo.py) and would only repeat MPO's curve;
#: ``--solvers`` adds it.
DEFAULT_SOLVERS: tuple[str, ...] = (
    "OMPO",
    "MPO",
    "SPPO",
    "MTPO",
    "Nash-MD",
    "EGPO",
    "ONPO",
    "MMD",
    "FP",
    "CFR+",
    "PCFR+",
    "DCFR",
)

#: Checked by default: the paper's claim (OMPO after 100 updates vs MPO after 1,000), and
#: predictive CFR+ against OMPO at equal updates (one Q evaluation per update each; issue 14).
DEFAULT_COMPARISONS: tuple[tuple[str, int, str, int], ...] = (
    ("OMPO", 100, "MPO", 1000),
    ("PCFR+", 100, "OMPO", 100),
    ("PCFR+", 1000, "OMPO", 1000),
)

Settings = dict[str, Any]


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
    """Registered names, ``module:Class`` or ``file.py:Class`` of the solvers to run."""

    grids: dict[str, dict[str, tuple[Any, ...]]] = field(default_factory=dict)
    """Per solver (by its display name), the values of each constructor field to try; their
    product is run. Default: ``{"beta": cls.beta_grid}`` (or the solver's defaults once)."""

    comparisons: tuple[tuple[str, int, str, int], ...] = DEFAULT_COMPARISONS
    """(A, t_A, B, t_B): is A's average iterate after t_A updates at most B's after t_B (each at
    its best setting at that point)? Reported when both solvers ran to both checkpoints."""

    highlight: tuple[str, ...] = ("OMPO", "MPO", "PCFR+")
    """Solvers drawn with thicker lines."""

    workers: int = 0
    """Worker processes (0: one per CPU core; 1: in this process); each uses one BLAS thread."""

    lockstep: bool = False
    """True: run the settings and solvers of a game together, one thread each, with their
    pairwise contractions batched into one matmul per round (:mod:`ompo_envs.tabular.batching`;
    the same numbers to rounding; not for plug-ins that share state between instances).
    False (the default): one job per run."""

    def __post_init__(self) -> None:
        if isinstance(self.updates, bool) or not isinstance(self.updates, int) or self.updates < 1:
            raise ValueError(f"updates must be a positive integer, got {self.updates!r}")
        if not self.seeds:
            raise ValueError("seeds must name at least one game")
        if not self.solvers:
            raise ValueError("solvers must name at least one solver")
        for spec in self.solvers:
            _solver_class(spec)  # unknown names fail here, with the registered ones listed
        names = [display_name(s) for s in self.solvers]
        if len(set(names)) != len(names):
            raise ValueError(f"two solvers have the same name: {names}")
        unknown = sorted(set(self.grids) - set(names))
        if unknown:
            raise ValueError(f"--grid names solvers that are not run: {unknown}; run {names}")


def display_name(spec: str) -> str:
    """The name a solver has in results: its registered name, or the class name of a path."""
    return spec.rpartition(":")[2] if ":" in spec else spec


def _solver_class(spec: str) -> type:
    from solvers import get_solver

    try:
        return get_solver(spec)
    except KeyError as error:
        raise ValueError(error.args[0]) from None


def settings_grid(config: TabularBenchmarkConfig, spec: str) -> list[Settings]:
    """The settings a solver runs with: the product of its grid, or its declared β grid."""
    from solvers import solver_traits

    grid = config.grids.get(display_name(spec))
    if grid is None:
        betas = solver_traits(_solver_class(spec)).beta_grid
        grid = {"beta": betas} if betas else {}
    fields = sorted(grid)
    return [
        dict(zip(fields, values, strict=True))
        for values in itertools.product(*(grid[f] for f in fields))
    ]


def checkpoints(updates: int) -> list[int]:
    """Updates after which exploitability is measured: 1..10, every 10 to 100, then every 25."""
    points = set(range(1, min(updates, 10) + 1)) | set(range(10, min(updates, 100) + 1, 10))
    return sorted(points | set(range(100, updates + 1, 25)) | {updates})


class _HarnessAverage:
    """Exploitability for a solver without ``evaluate()``, from its ``policy`` after each step."""

    def __init__(self, game: Any, solver: Any) -> None:
        from ompo_envs.tabular import OccupancyAverage, occupancy_measures, policy_table

        self._tables = lambda policy: occupancy_measures(game, policy_table(game, policy))
        self.game = game
        self.solver = solver
        self._occupancy = self._tables(solver.policy)
        self.average = OccupancyAverage(self._occupancy)

    def after_step(self) -> None:
        self._occupancy = self._tables(self.solver.policy)
        self.average.add(self._occupancy)

    def evaluate(self) -> dict[str, float]:
        from ompo_envs.tabular import exploitability_from_occupancy

        return {
            "exploitability_last": exploitability_from_occupancy(self.game, self._occupancy),
            "exploitability_average": exploitability_from_occupancy(
                self.game, self.average.occupancy
            ),
        }


def run_one(
    spec: str, settings: Mapping[str, Any], seed: int, horizon: int, updates: int
) -> dict[str, Any]:
    """Run one solver with one setting on one game; return its exploitability curves."""
    from threadpoolctl import threadpool_limits

    from ompo_envs.tabular import random_game

    with threadpool_limits(1):
        return _run_solver(spec, settings, random_game(seed, horizon=horizon), seed, updates)


def run_game(
    runs: Sequence[tuple[str, Mapping[str, Any]]], seed: int, horizon: int, updates: int
) -> list[dict[str, Any]]:
    """Run several (solver, setting) pairs on one game in lockstep; return their curves.

    One thread per run; their pairwise contractions are batched into one matmul per round
    (:func:`ompo_envs.tabular.batching.run_in_lockstep`), which gives each run the numbers it
    gets alone, to the rounding of a matmul of another shape
    (:func:`ompo_envs.tabular.contraction_rounding_bound`). A run's ``seconds`` is then its
    thread's wall time, waits included.
    """
    from functools import partial

    from threadpoolctl import threadpool_limits

    from ompo_envs.tabular import random_game
    from ompo_envs.tabular.batching import run_in_lockstep

    with threadpool_limits(1):
        game = random_game(seed, horizon=horizon)
        tasks = [
            partial(_run_solver, spec, settings, game, seed, updates) for spec, settings in runs
        ]
        return run_in_lockstep(game, tasks)


def _run_solver(
    spec: str, settings: Mapping[str, Any], game: Any, seed: int, updates: int
) -> dict[str, Any]:
    from ompo_envs.envs import TabularGameEnv
    from solvers import solver_traits

    cls = _solver_class(spec)
    problem = game if solver_traits(cls).requires_model else TabularGameEnv(game)
    solver = cls(problem, **settings)
    harness = None if callable(getattr(solver, "evaluate", None)) else _HarnessAverage(game, solver)
    evaluate = solver.evaluate if harness is None else harness.evaluate
    marks = set(checkpoints(updates))
    last, average = [], []
    start = time.perf_counter()
    for t in range(1, updates + 1):
        solver.step()
        if harness is not None:
            harness.after_step()
        if t in marks:
            evaluation = evaluate()
            last.append(float(evaluation["exploitability_last"]))
            average.append(float(evaluation["exploitability_average"]))
    seconds = time.perf_counter() - start
    return {
        "solver": display_name(spec),
        "beta": settings.get("beta"),
        "settings": dict(settings),
        "seed": seed,
        "last": last,
        "average": average,
        "seconds": seconds,
    }


Job = tuple[int, list[tuple[str, Settings]]]


def _jobs(config: TabularBenchmarkConfig, games: Mapping[int, Any], workers: int) -> list[Job]:
    """(seed, [(solver, setting), ...]) jobs, longest first, so that the workers end together.

    Lockstep: each game's runs form one job (split in ⌈workers / games⌉ parts when there are
    more workers than games); otherwise one job per run.
    """
    from solvers import solver_traits

    cost = {spec: solver_traits(_solver_class(spec)).cost_per_update for spec in config.solvers}
    runs = {
        seed: [
            (spec, settings) for spec in config.solvers for settings in settings_grid(config, spec)
        ]
        for seed in config.seeds
    }
    if config.lockstep:
        parts = -(-workers // len(config.seeds))
        jobs = [(seed, group[i::parts]) for seed, group in runs.items() for i in range(parts)]
    else:
        jobs = [(seed, [run]) for seed, group in runs.items() for run in group]
    # Cost ~ (S·A)² × contractions per update.
    size = {s: (g.num_states * g.num_actions) ** 2 for s, g in games.items()}
    return sorted(
        (job for job in jobs if job[1]), key=lambda j: -size[j[0]] * sum(cost[r[0]] for r in j[1])
    )


def _run_job(seed: int, runs: list[tuple[str, Settings]], horizon: int, updates: int) -> list:
    if len(runs) == 1:
        return [run_one(*runs[0], seed, horizon, updates)]
    return run_game(runs, seed, horizon, updates)


def run(config: TabularBenchmarkConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run every (solver, setting, game) of ``config``, in parallel; return the results."""
    from tqdm import tqdm

    from ompo_envs.tabular import random_game
    from solvers import solver_traits

    workers = config.workers or os.cpu_count() or 1
    start = time.perf_counter()
    by_seed = {seed: random_game(seed, horizon=config.horizon) for seed in config.seeds}
    jobs = _jobs(config, by_seed, workers)
    arguments = [(seed, group, config.horizon, config.updates) for seed, group in jobs]
    runs = []
    total = sum(len(group) for _, group in jobs)
    if workers == 1:
        with tqdm(total=total, disable=not progress, desc="runs") as bar:
            for a in arguments:
                runs += _run_job(*a)
                bar.update(len(a[1]))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_run_job, *a) for a in arguments]  # forks before tqdm's thread
            with tqdm(total=total, disable=not progress, desc="runs") as bar:
                for future in as_completed(futures):
                    done = future.result()
                    runs += done
                    bar.update(len(done))
    games = [
        {
            "seed": seed,
            "num_states": game.num_states,
            "num_actions": game.num_actions,
            "num_initial_states": game.num_initial_states,
            "horizon": game.horizon,
        }
        for seed, game in by_seed.items()
    ]
    names = [display_name(s) for s in config.solvers]
    order = {
        (display_name(spec), json.dumps(s, sort_keys=True)): i
        for spec in config.solvers
        for i, s in enumerate(settings_grid(config, spec))
    }
    runs.sort(
        key=lambda r: (
            names.index(r["solver"]),
            order[r["solver"], json.dumps(r["settings"], sort_keys=True)],
            r["seed"],
        )
    )
    results = {
        "env_id": ENV_ID,
        "config": {
            **asdict(config),
            "solvers": names,
            "specs": list(config.solvers),
            "workers": workers,
        },
        "cost_per_update": {
            display_name(s): solver_traits(_solver_class(s)).cost_per_update for s in config.solvers
        },
        "games": games,
        "checkpoints": checkpoints(config.updates),
        "runs": runs,
        "wall_seconds": time.perf_counter() - start,
        "environment": numeric_environment(),
    }
    results["summary"] = summarise(results)
    return results


def _settings_key(settings: Mapping[str, Any]) -> str:
    return json.dumps(dict(settings), sort_keys=True)


def curves(
    results: dict[str, Any], name: str, settings: Mapping[str, Any], kind: str
) -> np.ndarray:
    """The (games, checkpoints) array of ``kind`` ("last" or "average") exploitability."""
    key = _settings_key(settings)
    rows = [
        r[kind]
        for r in results["runs"]
        if r["solver"] == name and _settings_key(r["settings"]) == key
    ]
    return np.array(rows)


def best_settings(results: dict[str, Any], name: str, at_update: int) -> Settings:
    """The grid setting minimising the mean average-iterate exploitability after ``at_update``."""
    index = results["checkpoints"].index(at_update)
    grid: list[Settings] = []
    for run in results["runs"]:
        if run["solver"] == name and run["settings"] not in grid:
            grid.append(run["settings"])
    means = [curves(results, name, s, "average")[:, index].mean() for s in grid]
    return grid[int(np.argmin(means))]


def updates_to_reach(curve: np.ndarray, points: Sequence[int], threshold: float) -> int | None:
    """The first checkpoint from which the curve stays ≤ ``threshold`` (None: never)."""
    above = np.flatnonzero(curve > threshold)
    if above.size == 0:
        return points[0]
    if above[-1] == len(points) - 1:
        return None
    return points[above[-1] + 1]


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """Best setting per solver, the updates-to-threshold table and the configured comparisons."""
    points = results["checkpoints"]
    final = points[-1]
    summary: dict[str, Any] = {"solvers": {}}
    for name in results["config"]["solvers"]:
        settings = best_settings(results, name, final)
        average = curves(results, name, settings, "average")
        last = curves(results, name, settings, "last")
        entry: dict[str, Any] = {
            "best_settings": settings,
            "best_beta": settings.get("beta"),
            "cost_per_update": results["cost_per_update"][name],
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
    for a, t_a, b, t_b in results["config"]["comparisons"]:
        if not (a in names and b in names and t_a in points and t_b in points):
            continue
        a_settings, b_settings = best_settings(results, a, t_a), best_settings(results, b, t_b)
        a_curve = curves(results, a, a_settings, "average")[:, points.index(t_a)]
        b_curve = curves(results, b, b_settings, "average")[:, points.index(t_b)]
        summary.setdefault("comparisons", []).append(
            {
                "a": a,
                "a_updates": t_a,
                "a_settings": a_settings,
                "a_average": [float(a_curve.mean()), float(a_curve.std())],
                "b": b,
                "b_updates": t_b,
                "b_settings": b_settings,
                "b_average": [float(b_curve.mean()), float(b_curve.std())],
                "holds": bool(a_curve.mean() <= b_curve.mean()),
            }
        )
    return summary


def _format_settings(settings: Mapping[str, Any]) -> str:
    if not settings:
        return "–"
    if set(settings) == {"beta"}:
        return f"{settings['beta']:g}"
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, float | int) else f"{k}={v}" for k, v in settings.items()
    )


def table_markdown(results: dict[str, Any]) -> str:
    """Markdown table: best setting, updates to reach 1e-1/1e-2/1e-3 (average iterate), finals."""
    summary = results["summary"]["solvers"]
    final = results["checkpoints"][-1]
    only_beta = all(set(e["best_settings"]) <= {"beta"} for e in summary.values())
    setting = "best β" if only_beta else "best setting"
    header = (
        f"| solver | {setting} | updates to 1e-1 | updates to 1e-2 | updates to 1e-3 "
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
        avg, last = entry["final_average"], entry["final_last"]
        rows.append(
            f"| {name} | {_format_settings(entry['best_settings'])} | {' | '.join(cells)} "
            f"| {avg[0]:.2e} ± {avg[1]:.1e} | {last[0]:.2e} ± {last[1]:.1e} |"
        )
    return header + "\n".join(rows) + "\n"


def _label(name: str, entry: Mapping[str, Any]) -> str:
    settings = entry["best_settings"]
    label = name if not settings else f"{name} ({_format_settings(settings)})"
    if set(settings) == {"beta"}:
        label = f"{name} (β={settings['beta']:g})"
    if entry["cost_per_update"] != 1.0:
        label += f", {entry['cost_per_update']:g} evals/update"
    return label


def figure(results: dict[str, Any]) -> Any:
    """Exploitability vs updates, mean ± std over games, log y; average and last iterate."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = np.array(results["checkpoints"])
    fig = Figure(figsize=(13, 4.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    colours = colormaps["tab10"]
    highlight = set(results["config"]["highlight"])
    for i, (name, entry) in enumerate(results["summary"]["solvers"].items()):
        for ax, kind in zip(axes, ("average", "last"), strict=True):
            data = curves(results, name, entry["best_settings"], kind)
            mean, std = data.mean(axis=0), data.std(axis=0)
            lw = 2.2 if name in highlight else 1.2
            style = "-" if i < 10 else "--"  # ten colours; the next ten solvers are dashed
            ax.plot(points, mean, style, color=colours(i % 10), lw=lw, label=_label(name, entry))
            ax.fill_between(
                points,
                np.maximum(mean - std, mean * 1e-2),
                mean + std,
                color=colours(i % 10),
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
        "each solver at its best grid setting"
    )
    fig.tight_layout()
    return fig


def run_name(config: TabularBenchmarkConfig, stamp: int | None = None) -> str:
    """CleanRL-style ``{env_id}__{algo}__{seed}__{time}`` name of a benchmark run."""
    seeds = f"seeds{min(config.seeds)}-{max(config.seeds)}"
    return f"{ENV_ID}__fig1a__{seeds}__{int(time.time()) if stamp is None else stamp}"


def write(results: dict[str, Any], out: Path, name: str) -> tuple[Path, Path]:
    """Write ``{name}.json`` and ``{name}.png`` under ``out``; return both paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / f"{name}.json", out / f"{name}.png"
    json_path.write_text(json.dumps(results, indent=1, allow_nan=False))
    figure(results).savefig(png_path, dpi=110)
    return json_path, png_path


def format_comparisons(results: dict[str, Any]) -> str:
    """One line per configured comparison (by default OMPO@100 vs MPO@1000, the paper's claim)."""
    lines = []
    for c in results["summary"].get("comparisons", []):
        verdict = "holds" if c["holds"] else "does NOT hold"
        lines.append(
            f"{c['a']} avg@{c['a_updates']} ({_format_settings(c['a_settings'])}) = "
            f"{c['a_average'][0]:.3e} ± {c['a_average'][1]:.1e}  vs  {c['b']} avg@{c['b_updates']} "
            f"({_format_settings(c['b_settings'])}) = {c['b_average'][0]:.3e} ± "
            f"{c['b_average'][1]:.1e}: claim {verdict}"
        )
    return "\n".join(lines) or "comparisons: not measured (they need both solvers and checkpoints)"


# ---------------------------------------------------------------------- the ompo-bench subcommand
def parse_grid(text: str) -> tuple[str, str, tuple[Any, ...]]:
    """Parse ``NAME:field=v1,v2,…`` into (NAME, field, values); numbers become int or float.

    Raises:
        argparse.ArgumentTypeError: Not of that form.
    """
    name, colon, assignment = text.rpartition(":")
    field_name, equals, values = assignment.partition("=")
    if not (colon and name and equals and field_name and values):
        raise argparse.ArgumentTypeError(f"expected NAME:field=v1,v2,..., got {text!r}")
    return name, field_name, tuple(_parse_value(v) for v in values.split(","))


def _parse_value(text: str) -> Any:
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _command(args: argparse.Namespace) -> int:
    grids: dict[str, dict[str, tuple[Any, ...]]] = {}
    for name, field_name, values in args.grid or []:
        grids.setdefault(name, {})[field_name] = values
    try:
        config = TabularBenchmarkConfig(
            updates=2000 if args.full else args.updates,
            seeds=tuple(args.seeds),
            horizon=args.horizon,
            solvers=tuple(args.solvers),
            grids=grids,
            workers=args.workers,
            lockstep=args.lockstep and not args.no_lockstep,
        )
    except ValueError as error:
        raise SystemExit(f"ompo-bench tabular: {error}") from None
    results = run(config, progress=not args.no_progress)
    json_path, png_path = write(results, Path(args.out), run_name(config))
    print(table_markdown(results))
    print(format_comparisons(results))
    print(f"wrote {json_path} and {png_path} ({results['wall_seconds']:.0f} s)")
    return 0


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``ompo-bench tabular`` and its arguments."""
    parser = subparsers.add_parser(
        "tabular",
        help="paper Fig. 1(a): exploitability vs updates of any solvers on 10 random games",
        description="Reproduce Fig. 1(a) — OMPO, MPO and the baselines (or your own solver) on "
        "the paper's 10 random games; writes a results JSON and a plot (average and last iterate).",
    )
    parser.add_argument("--full", action="store_true", help="run the paper's 2,000 updates")
    parser.add_argument("--updates", type=int, default=1000, help="updates per run (default 1000)")
    parser.add_argument("--out", default="results", help="output folder (default results/)")
    parser.add_argument(
        "--solvers",
        nargs="+",
        default=list(DEFAULT_SOLVERS),
        metavar="NAME",
        help=f"registered solvers or module:Class / file.py:Class (default: "
        f"{' '.join(DEFAULT_SOLVERS)}; SPO equals MPO with β/H)",
    )
    parser.add_argument(
        "--grid",
        nargs="+",
        action="extend",
        type=parse_grid,
        metavar="NAME:FIELD=V1,V2",
        help="values of a constructor field to try for one solver, e.g. MySolver:beta=1,2,4 "
        "(default: the beta_grid the solver declares)",
    )
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=list(range(10)), help="game seeds (default 0..9)"
    )
    parser.add_argument("--horizon", type=int, default=10, help="H of every game (default 10)")
    parser.add_argument(
        "--workers", type=int, default=0, help="worker processes (default: one per CPU core)"
    )
    parser.add_argument(
        "--lockstep",
        action="store_true",
        help="run a game's runs in lockstep, their contractions batched into one matmul per round "
        "(the same numbers to rounding; slower than one job per run on 2 cores since issue 21)",
    )
    parser.add_argument(
        "--no-lockstep",
        action="store_true",
        help="one job per run (the default; kept for older command lines)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(handler=_command)
