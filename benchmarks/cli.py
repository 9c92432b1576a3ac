"""``ompo-bench``: the benchmark console script, one subcommand per benchmark.

ompo-bench tabular            # paper Fig. 1(a), 1,000 updates (~3 min on 2 idle CPU cores)
ompo-bench tabular --full     # the paper's 2,000 updates
ompo-bench tabular-speed      # its two code paths timed in one run (issue 14)
ompo-bench tabular --solvers OMPO my_module:MySolver --grid MySolver:beta=1,2,4   # yours
ompo-bench lm-known-ne        # LM solvers on text games with a known NE (tiny local model)
ompo-bench tutorial-spread docs/tutorials/08_tiny_language_model.md   # checks × seeds, kernels
ompo-bench lm-throughput       # TransformersBackend / log_probs vs plain transformers, tokens/s
ompo-bench profile tabular     # where the CPU time of one game's tabular job goes (cProfile)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from benchmarks import (
    lm_known_ne,
    lm_throughput,
    mtbench101,
    profile_benchmarks,
    reasoning,
    tabular,
    tabular_speed,
    tutorial_spread,
    winrate,
)

#: Subcommand registrars; other benchmarks add theirs here.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [tabular.add_subcommand]
SUBCOMMANDS += [mtbench101.add_subcommand, winrate.add_subcommand, reasoning.add_subcommand]
SUBCOMMANDS.append(lm_known_ne.add_parser)  # ompo-bench lm-known-ne (issue 9)
SUBCOMMANDS.append(tabular_speed.add_subcommand)  # ompo-bench tabular-speed (issue 14)
SUBCOMMANDS.append(tutorial_spread.add_subcommand)  # ompo-bench tutorial-spread (issue 18)
SUBCOMMANDS.append(lm_throughput.add_subcommand)  # ompo-bench lm-throughput (issue 19)
SUBCOMMANDS.append(profile_benchmarks.add_subcommand)  # ompo-bench profile (issue 21)


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
