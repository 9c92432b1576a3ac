"""Command-line arguments shared by the evaluation subcommands: which model answers, which judges.

A model is ``--model`` = an ``http(s)://`` URL of an OpenAI-compatible server (``.../v1``, with
``--model-name``), a local Hugging Face folder (an ``ompo-train`` ``RUN/iteration_N`` works) or a
``.gguf`` file (llama.cpp format, read with its own tokenizer and chat template). The
API key is read from the environment variable named by ``--api-key-env`` (default:
``OPENAI_API_KEY`` when it is set, else no key); it is never written anywhere.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ompo_envs.evaluation.generation import TextGenerator, load_generator


def key_env(name: str | None) -> str | None:
    """The variable to read the API key from: the one named, else OPENAI_API_KEY if set."""
    if name:
        return name
    return "OPENAI_API_KEY" if os.environ.get("OPENAI_API_KEY") else None


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--model``, ``--model-name`` and ``--out`` (commands that evaluate one model)."""
    parser.add_argument(
        "--model",
        required=True,
        metavar="URL|DIR|FILE.gguf",
        help="OpenAI-compatible server URL, local Hugging Face / run folder, or a .gguf file",
    )
    parser.add_argument("--model-name", default=None, help="model name sent to the server")
    parser.add_argument("--out", required=True, help="output folder")


def add_generation_arguments(parser: argparse.ArgumentParser, *, max_new_tokens: int) -> None:
    """Add the decoding and transport settings of the answering model(s)."""
    group = parser.add_argument_group("answering model")
    group.add_argument(
        "--api-key-env",
        default=None,
        metavar="VAR",
        help="environment variable with the model server's API key",
    )
    group.add_argument(
        "--max-new-tokens",
        type=int,
        default=max_new_tokens,
        help=f"most tokens per answer (default {max_new_tokens})",
    )
    group.add_argument(
        "--temperature", type=float, default=0.0, help="sampling temperature; 0 = greedy (default)"
    )
    group.add_argument(
        "--batch-size", type=int, default=8, help="prompts per generate call (local)"
    )
    group.add_argument("--concurrency", type=int, default=8, help="requests in flight (server)")
    group.add_argument("--timeout", type=float, default=300.0, help="seconds per request (server)")
    group.add_argument(
        "--max-attempts", type=int, default=5, help="requests per answer or judgement (server)"
    )
    group.add_argument(
        "--backoff", type=float, default=1.0, help="first retry wait in seconds, doubling (server)"
    )
    group.add_argument("--device", default="cpu", help="torch device of a local model")
    group.add_argument("--dtype", default="float32", help="float32 | bfloat16 | float16 | auto")
    parser.add_argument(
        "--cache",
        default=None,
        metavar="PATH",
        help="SQLite cache of answers and judgements (default OUT/cache.sqlite)",
    )


def add_judge_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """Add ``--judge`` (URL or folder), ``--judge-model`` and the judge's settings."""
    group = parser.add_argument_group("judge")
    group.add_argument(
        "--judge",
        required=required,
        metavar="URL|DIR",
        help="OpenAI-compatible server URL or local folder of the judge",
    )
    group.add_argument(
        "--judge-model",
        default=None,
        metavar="NAME",
        help="judge model name sent to the server (e.g. gpt-4o-mini)",
    )
    group.add_argument(
        "--judge-api-key-env",
        default=None,
        metavar="VAR",
        help="environment variable with the judge's API key",
    )
    group.add_argument(
        "--judge-temperature",
        type=float,
        default=0.8,
        help="judge sampling temperature (default 0.8, MT-Bench-101's config)",
    )
    group.add_argument(
        "--judge-max-tokens",
        type=int,
        default=4096,
        help="cap on a judgement's length (default 4096, MT-Bench-101's config)",
    )
    group.add_argument("--judge-concurrency", type=int, default=8, help="judge requests in flight")


def cache_path(args: argparse.Namespace) -> Path:
    """The cache file: ``--cache`` or ``OUT/cache.sqlite``."""
    return Path(args.cache) if args.cache else Path(args.out) / "cache.sqlite"


def _generator(
    args: argparse.Namespace, model: str, name: str | None, **own: object
) -> TextGenerator:
    return load_generator(
        model,
        model_name=name,
        cache_path=cache_path(args),
        timeout_s=args.timeout,
        max_attempts=args.max_attempts,
        backoff_s=args.backoff,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        **own,
    )


def answering_model(args: argparse.Namespace, model: str, name: str | None) -> TextGenerator:
    """Build the generator of one answering model from the parsed arguments."""
    return _generator(
        args,
        model,
        name,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        api_key_env=key_env(args.api_key_env),
        concurrency=args.concurrency,
    )


def judge_model(args: argparse.Namespace) -> TextGenerator:
    """Build the judge's generator from the parsed arguments."""
    return _generator(
        args,
        args.judge,
        args.judge_model,
        max_new_tokens=args.judge_max_tokens,
        temperature=args.judge_temperature,
        api_key_env=key_env(args.judge_api_key_env),
        concurrency=args.judge_concurrency,
    )
