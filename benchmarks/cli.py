"""``ompo-bench``: the benchmark console script, one subcommand per benchmark.

ompo-bench tabular            # paper Fig. 1(a), 1,000 updates (~7 min on 2 idle CPU cores)
ompo-bench tabular --full     # the paper's 2,000 updates
ompo-bench lm-known-ne        # LM solvers on text games with a known NE (tiny local model)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import lm_known_ne, mtbench101, reasoning, winrate


def _tabular(args: argparse.Namespace) -> int:
    from benchmarks import tabular

    config = tabular.TabularBenchmarkConfig(
        updates=2000 if args.full else args.updates,
        seeds=tuple(args.seeds),
        horizon=args.horizon,
        solvers=tuple(args.solvers),
        workers=args.workers,
    )
    results = tabular.run(config, progress=not args.no_progress)
    json_path, png_path = tabular.write(results, Path(args.out), tabular.run_name(config))
    print(tabular.table_markdown(results))
    print(tabular.format_comparison(results))
    print(f"wrote {json_path} and {png_path} ({results['wall_seconds']:.0f} s)")
    return 0


def _add_tabular(subparsers: argparse._SubParsersAction) -> None:
    from benchmarks.tabular import DEFAULT_SOLVERS, SOLVER_GRIDS

    parser = subparsers.add_parser(
        "tabular",
        help="paper Fig. 1(a): exploitability vs updates of the exact solvers on 10 random games",
        description="Reproduce Fig. 1(a): exact OMPO, MPO and the baselines on the paper's 10 "
        "random games; writes a results JSON and a plot (average and last iterate).",
    )
    parser.add_argument("--full", action="store_true", help="run the paper's 2,000 updates")
    parser.add_argument("--updates", type=int, default=1000, help="updates per run (default 1000)")
    parser.add_argument("--out", default="results", help="output folder (default results/)")
    parser.add_argument(
        "--solvers",
        nargs="+",
        default=list(DEFAULT_SOLVERS),
        choices=list(SOLVER_GRIDS),
        metavar="NAME",
        help=f"solvers to run (default: {' '.join(DEFAULT_SOLVERS)}; SPO equals MPO with β/H)",
    )
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=list(range(10)), help="game seeds (default 0..9)"
    )
    parser.add_argument("--horizon", type=int, default=10, help="H of every game (default 10)")
    parser.add_argument(
        "--workers", type=int, default=0, help="worker processes (default: one per CPU core)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(handler=_tabular)


#: Subcommand registrars; other benchmarks add theirs here.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_tabular]
SUBCOMMANDS += [mtbench101.add_subcommand, winrate.add_subcommand, reasoning.add_subcommand]
SUBCOMMANDS.append(lm_known_ne.add_parser)  # ompo-bench lm-known-ne (issue 9)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen benchmark; return the exit status."""
    parser = argparse.ArgumentParser(prog="ompo-bench", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
