"""Benchmark: exact exploitability and the LP Nash equilibrium on the paper's largest game.

Times ``exploitability`` and ``nash_equilibrium`` on a random game with S=100, A=10, H=10 (the
top of the paper's §4.1 ranges) and reports the exploitability time as a multiple of one dense
(S·A)×(S·A) matmul with the same number of right-hand columns (n_init·H), measured in the same
run — the pairwise contraction that exploitability cannot avoid. Writes JSON (and a bar plot) to
``--out``. One BLAS thread: for matrices this small it is several times faster here than many.

Usage: ``python -m benchmarks.tabular_exact [--out results] [--skip-nash] [--seed 0]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from benchmarks.environment import numeric_environment
from ompo_envs.tabular import exploitability, nash_equilibrium, random_game, random_policy


def _median_seconds(function, repeats: int) -> float:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run(seed: int, repeats: int, skip_nash: bool) -> dict:
    game = random_game(seed, num_states=100, num_actions=10, horizon=10)
    policy = random_policy(game, np.random.default_rng(seed))
    size = game.num_states * game.num_actions
    columns = game.num_initial_states * game.horizon
    rng = np.random.default_rng(seed + 1)
    pairwise = rng.uniform(size=(size, size))
    rhs = rng.uniform(size=(columns, size))
    matmul = _median_seconds(lambda: rhs @ pairwise.T, repeats)
    expl = _median_seconds(lambda: exploitability(game, policy), repeats)
    result = {
        "game": {"S": 100, "A": 10, "H": 10, "n_init": game.num_initial_states, "seed": seed},
        "matmul_seconds": matmul,
        "matmul_shape": [columns, size, size],
        "exploitability_seconds": expl,
        "exploitability_over_matmul": expl / matmul,
        "blas": [{k: i[k] for k in ("internal_api", "num_threads")} for i in threadpool_info()],
        "machine": platform.machine(),
        "environment": numeric_environment(),
    }
    if not skip_nash:
        start = time.perf_counter()
        ne = nash_equilibrium(game)
        result["nash_seconds"] = time.perf_counter() - start
        result["nash_over_matmul"] = result["nash_seconds"] / matmul
        result["nash_method"] = ne.method
        result["nash_exploitability"] = ne.exploitability
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--skip-nash", action="store_true", help="time exploitability only")
    args = parser.parse_args(argv)
    with threadpool_limits(1):
        result = run(args.seed, args.repeats, args.skip_nash)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tabular_exact.json").write_text(json.dumps(result, indent=2))
    _plot(result, args.out / "tabular_exact.png")
    print(
        f"one ({result['matmul_shape'][0]}x{result['matmul_shape'][1]}) @ "
        f"({result['matmul_shape'][1]}x{result['matmul_shape'][2]}) matmul: "
        f"{result['matmul_seconds'] * 1e3:.2f} ms"
    )
    print(f"exploitability: {result['exploitability_over_matmul']:.2f}x the matmul")
    if "nash_seconds" in result:
        print(
            f"nash_equilibrium ({result['nash_method']}): {result['nash_seconds']:.1f} s "
            f"({result['nash_over_matmul']:.0f}x the matmul), "
            f"its exploitability {result['nash_exploitability']:.2e}"
        )
    return result


def _plot(result: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    nash = [f"nash ({result['nash_method']})"] if "nash_seconds" in result else []
    labels = ["matmul", "exploitability", *nash]
    ratios = [1.0, result["exploitability_over_matmul"]] + (
        [result["nash_over_matmul"]] if "nash_seconds" in result else []
    )
    figure = Figure(figsize=(5, 3))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.bar(labels, ratios)
    axes.set_yscale("log")
    axes.set_ylabel("time / one pairwise matmul")
    axes.set_title("S=100, A=10, H=10")
    figure.tight_layout()
    figure.savefig(path)


if __name__ == "__main__":
    main()
