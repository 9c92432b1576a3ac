"""``ompo-train CONFIG [--out DIR] [--resume] [section.key=value ...]``: run a config.

Exit status: 0 when the run finished, 2 for a bad config or command line (nothing was started),
1 when a stage failed (the run folder is resumable: fix the cause and add ``--resume``).
Multi-process: ``accelerate launch --num_processes N -m training.cli CONFIG ...`` (or the
``ompo-train`` script path); see the README's Training section.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ompo-train",
        description=(
            "Train a language model in an ompo-envs text game: iterations of resumable stages "
            "(generate, judge, score, train, save, evaluate) in a run folder."
        ),
        epilog="Example: ompo-train configs/tiny-cpu-rps.toml run.iterations=2 --out runs/rps",
    )
    parser.add_argument(
        "config",
        help="a TOML config (see configs/), or with --resume the run folder to continue",
    )
    parser.add_argument("overrides", nargs="*", help="section.key=value (TOML values)")
    parser.add_argument("--out", help="run folder (default: run.out, else runs/<run.name>)")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out where it stopped"
    )
    return parser


def resolve_config_path(argument: str) -> Path:
    """A config path as given, or a shipped config (``configs/NAME.toml``) by name."""
    path = Path(argument)
    if path.is_dir() and (path / "config.toml").exists():
        return path / "config.toml"
    if path.exists():
        return path
    from training.configs import shipped_config

    shipped = shipped_config(path.name)
    return shipped if shipped is not None else path


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ompo-train``; return the exit status."""
    args = _parser().parse_intermixed_args(argv)
    from training.config import ConfigError, load_config
    from training.runner import RunError

    config_path = resolve_config_path(args.config)
    try:
        config = load_config(config_path, args.overrides)
    except ConfigError as error:
        print(f"ompo-train: config error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out or config.run.out or Path("runs") / config.run.name)
    if args.resume and args.out is None and config_path.name == "config.toml":
        out = config_path.parent
    try:
        from training.runner import Trainer

        Trainer(config, out, resume=args.resume).run()
    except ConfigError as error:
        print(f"ompo-train: config error: {error}", file=sys.stderr)
        return 2
    except RunError as error:
        print(f"ompo-train: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
