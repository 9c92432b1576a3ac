"""Benchmark: the exact equilibrium of the paper's largest game against the pairwise contraction.

Solves a random game with S=100, A=10, H=10 (the top of the §4.1 ranges) with
``nash_equilibrium`` (which picks the interior-point method at this size) and reports its time as
a multiple of one dense (S·A)×(S·A) pairwise contraction with n_init·H right-hand columns — the
operation every solver and every exploitability evaluation repeats — measured in the same run; the
issue's budget is 20,000 contractions. On a ladder of smaller games (``--ladder``, S = 5, 10 and
20 with A = 10, H = 10, and S = 3 with A = 3, H = 3) it also times the LP and the interior-point
method side by side, with the LP's size (:func:`~ompo_envs.tabular.nash.lp_payoff_entries`),
which places ``LP_MAX_PAYOFF_ENTRIES``. One BLAS thread throughout.
Writes ``nash_equilibrium.json`` and a bar plot to ``--out``.

Usage: ``python -m benchmarks.nash_equilibrium [--out results] [--seed 0] [--no-ladder]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.environment import numeric_environment
from ompo_envs.tabular import nash_equilibrium, random_game
from ompo_envs.tabular.nash import lp_payoff_entries

BUDGET_CONTRACTIONS = 20_000
#: (S, A, H) of the LP-versus-interior-point ladder.
LADDER = ((3, 3, 3), (5, 10, 10), (10, 10, 10), (20, 10, 10))


def contraction_seconds(game, repeats: int) -> float:
    """Median time of one dense pairwise contraction of ``game`` (n_init·H columns)."""
    size = game.num_states * game.num_actions
    pairwise = game.reward.reshape(size, size)
    rhs = np.random.default_rng(0).uniform(size=(game.num_initial_states * game.horizon, size))
    rhs @ pairwise.T  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        rhs @ pairwise.T
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _timed_equilibrium(game, method: str) -> dict:
    start = time.perf_counter()
    ne = nash_equilibrium(game, method)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    return {"method": ne.method, "seconds": seconds, "exploitability": ne.exploitability}


def run(seed: int, repeats: int, ladder: bool) -> dict:
    game = random_game(seed, num_states=100, num_actions=10, horizon=10)
    contraction = contraction_seconds(game, repeats)
    large = _timed_equilibrium(game, "auto")
    large["over_contraction"] = large["seconds"] / contraction
    large["over_budget"] = large["seconds"] / (BUDGET_CONTRACTIONS * contraction)
    result = {
        "game": {"S": 100, "A": 10, "H": 10, "n_init": game.num_initial_states, "seed": seed},
        "contraction_seconds": contraction,
        "budget_contractions": BUDGET_CONTRACTIONS,
        "large": large,
        "ladder": [],
        "blas_threads": 1,
        "machine": platform.machine(),
    }
    for states, actions, horizon in LADDER if ladder else ():
        small = random_game(seed, num_states=states, num_actions=actions, horizon=horizon)
        lp = _timed_equilibrium(small, "lp")
        ipm = _timed_equilibrium(small, "interior-point")
        result["ladder"].append(
            {
                "game": {"S": states, "A": actions, "H": horizon},
                "lp_payoff_entries": lp_payoff_entries(small),
                "lp": lp,
                "interior_point": ipm,
                "lp_over_interior_point": lp["seconds"] / ipm["seconds"],
            }
        )
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=50, help="contraction timings (median)")
    parser.add_argument("--no-ladder", action="store_true", help="skip the LP comparison")
    args = parser.parse_args(argv)
    with threadpool_limits(1):
        result = run(args.seed, args.repeats, not args.no_ladder)
    args.out.mkdir(parents=True, exist_ok=True)
    result["environment"] = numeric_environment()
    (args.out / "nash_equilibrium.json").write_text(json.dumps(result, indent=2))
    _plot(result, args.out / "nash_equilibrium.png")
    large = result["large"]
    print(f"one pairwise contraction: {result['contraction_seconds'] * 1e3:.2f} ms")
    print(
        f"S=100 equilibrium ({large['method']}): {large['seconds']:.1f} s = "
        f"{large['over_contraction']:.0f} contractions = {large['over_budget']:.2f} x the budget "
        f"of {BUDGET_CONTRACTIONS:,}; exploitability {large['exploitability']:.1e}"
    )
    for row in result["ladder"]:
        lp, ipm, size = row["lp"], row["interior_point"], row["game"]
        print(
            f"S={size['S']}, A={size['A']}, H={size['H']} ({row['lp_payoff_entries']:,} LP payoff "
            f"entries): LP {lp['seconds']:.2f} s ({lp['exploitability']:.1e}), interior point "
            f"{ipm['seconds']:.2f} s ({ipm['exploitability']:.1e}); LP / IPM = "
            f"{row['lp_over_interior_point']:.2f}"
        )
    return result


def _plot(result: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = ["budget (20,000)", f"S=100 NE ({result['large']['method']})"]
    ratios = [float(BUDGET_CONTRACTIONS), result["large"]["over_contraction"]]
    figure = Figure(figsize=(5, 3))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.bar(labels, ratios, color=["0.7", "C0"])
    axes.set_yscale("log")
    axes.set_ylabel("time / one pairwise contraction")
    axes.set_title("S=100, A=10, H=10, one BLAS thread")
    figure.tight_layout()
    figure.savefig(path)


if __name__ == "__main__":
    main()
