"""Cost of one exact OMPO update relative to one pairwise contraction (S=100, A=10, H=10).

The pairwise contraction r_h^{π}(s, a | s1) = w_h Σ_{s',a'} d_h(s', a' | s1) r(s, a, s', a') is
one (S·A)×(S·A) matmul with n·H right-hand columns; an OMPO update needs exactly one (r^{t−1}
is kept from the previous update) plus a backward and a forward pass over the H stages. This
script times both in the same process, one BLAS thread, median of repeats, and writes
``results/{env_id}__ompo_update_cost__{seed}__{time}.json``. Target: ratio ≤ 3.

    python benchmarks/ompo_update_cost.py [--repeats 200] [--bellman standard|soft]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.environment import numeric_environment
from ompo_envs.tabular import random_game, reward_against_occupancy
from solvers.ompo import OMPO


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(seed: int = 0, repeats: int = 200, bellman: str = "standard") -> dict[str, float]:
    """Median seconds of one OMPO update and of one contraction on a S=100, A=10, H=10 game."""
    game = random_game(seed, num_states=100, num_actions=10, horizon=10)
    with threadpool_limits(1):
        solver = OMPO(game, beta=10.0, bellman=bellman)
        for _ in range(5):  # warm up, and leave the first (d^0 = d^1) update behind
            solver.step()
        occupancy = solver.occupancy
        contraction = _median_seconds(lambda: reward_against_occupancy(game, occupancy), repeats)
        update = _median_seconds(solver.step, repeats)
        contraction_again = _median_seconds(
            lambda: reward_against_occupancy(game, occupancy), repeats
        )
    contraction = min(contraction, contraction_again)
    return {
        "num_states": game.num_states,
        "num_actions": game.num_actions,
        "horizon": game.horizon,
        "num_initial_states": game.num_initial_states,
        "bellman": bellman,
        "contraction_seconds": contraction,
        "update_seconds": update,
        "ratio": update / contraction,
        "environment": numeric_environment(),
    }


def main() -> int:
    """Time, print and write the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--bellman", choices=["standard", "soft"], default="standard")
    parser.add_argument("--out", default="results")
    args = parser.parse_args()
    result = measure(args.seed, args.repeats, args.bellman)
    print(
        f"S={result['num_states']} A={result['num_actions']} H={result['horizon']} "
        f"n_init={result['num_initial_states']} ({result['bellman']} Bellman): "
        f"contraction {result['contraction_seconds'] * 1e3:.2f} ms, "
        f"OMPO update {result['update_seconds'] * 1e3:.2f} ms, ratio {result['ratio']:.2f}"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"RandomGame-v0__ompo_update_cost__{args.seed}__{int(time.time())}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
