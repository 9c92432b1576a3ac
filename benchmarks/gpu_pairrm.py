"""GPU benchmark + self-check: real PairRM, native loader vs llm-blender, in one run.

Prepared for a machine with a GPU and a local copy of the real checkpoint (no download here):

    huggingface-cli download llm-blender/PairRM --local-dir /models/PairRM
    huggingface-cli download microsoft/deberta-v3-large --local-dir /models/deberta-v3-large
    python benchmarks/gpu_pairrm.py /models/PairRM --backbone /models/deberta-v3-large

Steps (each prints a line; the script exits non-zero if a check fails):

1. Load :class:`~ompo_envs.oracles.PairRM` (native) and
   :class:`~ompo_envs.oracles.LLMBlenderPairRM` (llm-blender) on the same device and dtype rule
   (float16 on CUDA, as the checkpoint's ``fp16`` says; ``--fp32`` forces float32 for both).
2. Agreement: ``log_odds`` of both on 16 fixed (context, a, b) triples, single- and multi-turn,
   short enough that no truncation happens (where llm-blender's batch-shared budget would
   differ); reports max |Δ logit| and requires it below ``--tolerance`` (default 1e-2 in
   float16, 1e-4 in float32) and the same preferred answer wherever |logit| > 0.1. A sanity
   check that PairRM prefers an on-topic answer to an off-topic one on the obvious pairs.
3. Throughput: pairs/s of each at batch sizes ``--batch-sizes`` on ``--pairs`` distinct pairs
   (median of ``--repeats`` timed calls after a warm-up; ``torch.cuda.synchronize`` around each),
   with ratios llm-blender / native at equal batch size.

Writes ``results/{run_name}.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.environment import numeric_environment


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


AGREEMENT_CASES = [
    (user("What is the capital of France?"), "The capital of France is Paris.", "I like turtles."),
    (user("Write a haiku about autumn."), "Red leaves drift and fall / ...", "No."),
    (user("2 + 2 = ?"), "4", "5"),
    (user("How do I sort a list in Python?"), "Use sorted(xs) or xs.sort().", "Buy a new PC."),
    (user("Translate 'thank you' to Spanish."), "Gracias.", "Merci."),
    (user("Give me a synonym of 'happy'."), "Joyful.", "Sad."),
    (user("Is the Earth flat?"), "No, it is an oblate spheroid.", "Yes, obviously."),
    (user("Summarise: The cat sat on the mat."), "A cat sat on a mat.", "Dogs bark loudly."),
    (
        [
            {"role": "user", "content": "Hi! Can you help me plan a trip?"},
            {"role": "assistant", "content": "Of course. Where would you like to go?"},
            {"role": "user", "content": "Japan, in spring."},
        ],
        "Spring is cherry-blossom season; book Kyoto early and consider a rail pass.",
        "I cannot help with that.",
    ),
    (
        [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "What is photosynthesis?"},
        ],
        "Plants turning light, water and CO2 into sugar and oxygen.",
        "A kind of camera.",
    ),
    (
        [
            {"role": "user", "content": "Name a prime number."},
            {"role": "assistant", "content": "7."},
            {"role": "user", "content": "Another one?"},
            {"role": "assistant", "content": "11."},
            {"role": "user", "content": "And a larger one?"},
        ],
        "101.",
        "100.",
    ),
    (user("Tell me a joke."), "Why did the scarecrow win? He was outstanding in his field.", "."),
    (user("What is 10 factorial?"), "3628800", "10"),
    (user("Explain recursion briefly."), "A function calling itself on smaller inputs.", "Hmm."),
    (user("Recommend a book."), "'Dune' by Frank Herbert.", "Books are bad."),
    (user("What colour is the sky?"), "Blue on a clear day.", "Green."),
]
#: Indices of AGREEMENT_CASES whose first answer is obviously better (a sanity check of loading).
OBVIOUS = (0, 2, 3, 6, 8, 15)


def throughput_workload(n: int) -> tuple[list, list, list]:
    contexts, firsts, seconds = [], [], []
    for i in range(n):
        context, a, b = AGREEMENT_CASES[i % len(AGREEMENT_CASES)]
        contexts.append(context)
        firsts.append(f"{a} ({i})")
        seconds.append(f"{b} [{i}]")
    return contexts, firsts, seconds


def timed(oracle: Any, data: tuple[list, list, list], repeats: int) -> float:
    import torch

    def sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    contexts, firsts, seconds = data
    oracle.compare(contexts[:4], firsts[:4], seconds[:4])
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        oracle.compare(contexts, firsts, seconds)
        sync()
        times.append(time.perf_counter() - start)
    return len(contexts) / statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path, help="local folder of llm-blender/PairRM")
    parser.add_argument("--backbone", type=Path, default=None, help="local deberta-v3-large")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--fp32", action="store_true", help="float32 for both (default fp16)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tolerance", type=float, default=None)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()

    import torch
    import transformers  # noqa: F401  (imported before timing the loads)

    from ompo_envs.oracles.blender import LLMBlenderPairRM
    from ompo_envs.oracles.pairrm import PairRM

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("FAIL: --device cuda but torch sees no GPU", file=sys.stderr)
        return 2
    half = args.device.startswith("cuda") and not args.fp32
    tolerance = args.tolerance if args.tolerance is not None else (1e-2 if half else 1e-4)
    common = {"backbone": args.backbone, "device": args.device}
    start = time.perf_counter()
    native = PairRM(args.checkpoint, dtype="float16" if half else "float32", **common)
    load_native = time.perf_counter() - start
    start = time.perf_counter()
    reference = LLMBlenderPairRM(args.checkpoint, fp16=half, **common)
    load_reference = time.perf_counter() - start
    print(f"loaded: native {load_native:.1f}s, llm-blender {load_reference:.1f}s; fp16={half}")

    contexts = [c for c, _, _ in AGREEMENT_CASES]
    firsts = [a for _, a, _ in AGREEMENT_CASES]
    seconds = [b for _, _, b in AGREEMENT_CASES]
    ours = native.log_odds(contexts, firsts, seconds)
    theirs = reference.log_odds(contexts, firsts, seconds)
    max_diff = float(np.abs(ours - theirs).max())
    confident = np.abs(theirs) > 0.1
    same_sign = bool(np.all(np.sign(ours[confident]) == np.sign(theirs[confident])))
    obvious_ok = bool(np.all(theirs[list(OBVIOUS)] > 0) and np.all(ours[list(OBVIOUS)] > 0))
    print(
        f"agreement: max |Δ logit| = {max_diff:.2e} (tolerance {tolerance:.0e}); "
        f"same sign: {same_sign}"
    )
    print(f"sanity: obvious pairs preferred by both: {obvious_ok}")
    for i, (x, y) in enumerate(zip(ours, theirs, strict=True)):
        print(f"  case {i:2d}: native {x:+8.4f}  llm-blender {y:+8.4f}")

    data = throughput_workload(args.pairs)
    rows = []
    for batch_size in args.batch_sizes:
        native.batch_size = reference.batch_size = batch_size
        row = {
            "batch_size": batch_size,
            "native_pairs_per_s": timed(native, data, args.repeats),
            "llm_blender_pairs_per_s": timed(reference, data, args.repeats),
        }
        row["native_over_llm_blender"] = row["native_pairs_per_s"] / row["llm_blender_pairs_per_s"]
        rows.append(row)
        print(
            f"batch {batch_size:3d}: native {row['native_pairs_per_s']:8.1f} pairs/s, "
            f"llm-blender {row['llm_blender_pairs_per_s']:8.1f} pairs/s, "
            f"ratio native/llm-blender {row['native_over_llm_blender']:.2f}"
        )

    passed = max_diff <= tolerance and same_sign and obvious_ok
    run_name = f"PairRM__gpu_pairrm__{args.device}__{int(time.time())}"
    report = {
        "run_name": run_name,
        "passed": passed,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else args.device,
        "fp16": half,
        "agreement": {
            "max_abs_logit_diff": max_diff,
            "tolerance": tolerance,
            "same_sign": same_sign,
            "obvious_pairs_ok": obvious_ok,
            "native": ours.tolist(),
            "llm_blender": theirs.tolist(),
        },
        "load_seconds": {"native": load_native, "llm_blender": load_reference},
        "throughput": rows,
        "settings": {k: str(v) for k, v in vars(args).items()},
        "machine": {"platform": platform.platform(), "torch": torch.__version__},
        "environment": numeric_environment(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{run_name}.json").write_text(json.dumps(report, indent=2))
    print(f"{'PASS' if passed else 'FAIL'}; wrote {args.out / run_name}.json")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
