"""What a solver's dynamics do with a rounding difference: perturb every contraction, compare.

Another processor's BLAS, or a matmul of another shape, computes each pairwise contraction with
other rounding (:func:`ompo_envs.tabular.contraction_rounding_bound`). This runs one exact
solver twice on one game of the tabular benchmark — once as is, once with every contraction
multiplied by 1 + ε·U(−1, 1) (a fixed random stream) — and reports how far the recorded
exploitabilities (average and last iterate, at the benchmark's checkpoints) moved, and that
distance divided by ε: about 1 or less where the dynamics damp a perturbation, many orders of
magnitude more where a cycling last iterate amplifies it (README, "Numbers on any CPU").

python -m benchmarks.rounding_sensitivity --solver MPO --beta 20 --seed 4 --epsilon 1e-13
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks import tabular
from benchmarks.environment import numeric_environment
from ompo_envs.tabular import evaluation, random_game


@contextlib.contextmanager
def perturbed_contractions(epsilon: float, seed: int = 0) -> Iterator[None]:
    """Inside: every pairwise contraction is multiplied by 1 + ``epsilon``·U(−1, 1), entrywise.

    The draws come from ``np.random.default_rng(seed)``, in contraction order; outside, the
    contractions are exact again.
    """
    rng = np.random.default_rng(seed)
    exact = evaluation.contract_rows

    def perturbed(game, occupancies):
        return [r * (1 + epsilon * rng.uniform(-1, 1, r.shape)) for r in exact(game, occupancies)]

    evaluation.contract_rows = perturbed
    try:
        yield
    finally:
        evaluation.contract_rows = exact


def run(
    solver: str, settings: dict[str, Any], seed: int, updates: int, epsilon: float
) -> dict[str, list[float]]:
    """The benchmark's curves of one run, every contraction scaled by 1 ± ``epsilon``."""
    with perturbed_contractions(epsilon), threadpool_limits(1):
        game = random_game(seed, horizon=tabular.TabularBenchmarkConfig().horizon)
        curves = tabular._run_solver(solver, settings, game, seed, updates)
    return {"average": curves["average"], "last": curves["last"]}


def sensitivity(
    solver: str, settings: dict[str, Any], seed: int, updates: int, epsilon: float
) -> dict[str, Any]:
    """Run unperturbed and perturbed; the largest move of each curve and its ratio to ε."""
    reference = run(solver, settings, seed, updates, 0.0)
    moved = run(solver, settings, seed, updates, epsilon)
    out: dict[str, Any] = {
        "solver": solver,
        "settings": settings,
        "seed": seed,
        "updates": updates,
        "epsilon": epsilon,
    }
    for kind in ("average", "last"):
        gap = float(np.max(np.abs(np.array(moved[kind]) - np.array(reference[kind]))))
        out[f"{kind}_moved"] = gap
        out[f"{kind}_amplification"] = gap / epsilon if epsilon else 0.0
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solver", default="OMPO", help="a registered exact solver")
    parser.add_argument("--beta", type=float, default=None, help="its β (omit for CFR-type)")
    parser.add_argument("--seed", type=int, default=4, help="game seed of the benchmark (0-9)")
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--epsilon", type=float, default=1e-13, help="relative perturbation")
    parser.add_argument("--out", default="results", help="output folder (default results/)")
    args = parser.parse_args(argv)
    settings = {} if args.beta is None else {"beta": args.beta}
    report = sensitivity(args.solver, settings, args.seed, args.updates, args.epsilon)
    report["environment"] = numeric_environment()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"rounding-sensitivity__{args.solver}__seed{args.seed}__{int(time.time())}.json"
    path.write_text(json.dumps(report, indent=1))
    print(
        f"{args.solver} {settings} on game {args.seed}, {args.updates} updates, ε = "
        f"{args.epsilon:g}: average iterate moved {report['average_moved']:.2e} "
        f"(×{report['average_amplification']:.2g} ε), last iterate "
        f"{report['last_moved']:.2e} (×{report['last_amplification']:.2g} ε)"
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
