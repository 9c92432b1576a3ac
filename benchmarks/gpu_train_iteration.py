r"""One iteration of the MT-Bench-101 run on a 1.5B model: seconds and peak GPU memory per stage.

Prepared for a GPU machine (no hub access needed)::

    pip install -e ".[train,embedding]"
    python benchmarks/gpu_train_iteration.py                       # writes gpu_train_iteration.json
    python benchmarks/gpu_train_iteration.py --model /path/to/Qwen2-1.5B-Instruct --oracle pairrm \
        --oracle-path /path/to/PairRM --max-new-tokens 2048      # the real thing, when available

It runs ``ompo-train`` in this process with ``configs/mtbench101-ompo.toml``'s settings (K = 5,
one-step estimator, bf16, gradient checkpointing) for **one** iteration on ``--episodes``
dialogues, with the method ``--method`` (default OMPO, :mod:`solvers.lm`). Without
``--model`` it builds a randomly initialised Llama with Qwen2-1.5B's shapes (hidden 1,536, MLP
8,960, 28 layers, 12 heads, 2 KV heads) and a byte-level BPE tokenizer trained on MT-Bench-101's
own text — random weights never emit EOS, so every answer has ``max_new_tokens`` tokens: the
slowest case. ``--shape tiny`` runs the same script on a CPU in seconds (used by the tests).

Output (``--json``, default ``benchmarks/gpu_train_iteration.json``)::

    {"device": "NVIDIA H100 80GB HBM3", "torch": "2.13.0", "model": {"path": ..., "shape": ...,
     "parameters": 1543714304, "dtype": "bfloat16"},
     "settings": {"episodes": 16, "num_answers": 5, "max_new_tokens": 512, ...},
     "stages": {"generate": {"seconds": 41.2, "peak_gpu_gib": 9.8}, "judge": {...},
                "score": {...}, "train": {...}, "save": {...}},
     "totals": {"seconds": 97.1, "oracle_pairs": ..., "train_steps": ...}}

``peak_gpu_gib`` is ``torch.cuda.max_memory_allocated`` over the stage (reset at its start);
``null`` on a CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

from benchmarks.environment import numeric_environment
from training.config import METHODS

SHAPES = {
    "qwen2-1.5b": dict(
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
    ),
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    ),
}
STAGES = ("generate", "judge", "score", "train", "save")


def build_random_model(folder: Path, shape: str, vocab_size: int) -> Path:
    """A random Llama of ``shape`` with a BPE tokenizer trained on MT-Bench-101's text."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from ompo_envs.oracles.tiny_models import build_tiny_causal_lm
    from ompo_envs.text.datasets import load_mt_bench_101

    corpus = [t for d in load_mt_bench_101() for turn in d.turns for t in (turn.user, turn.bot)]
    build_tiny_causal_lm(folder, vocab_size=vocab_size, corpus=corpus)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=8192,
        initializer_range=0.02,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        **SHAPES[shape],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", help="a local model folder (default: a random 1.5B Llama)")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="qwen2-1.5b")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--method", default="ompo", choices=METHODS)
    parser.add_argument("--oracle", choices=("embedding", "pairrm"), default="embedding")
    parser.add_argument("--oracle-path", default="")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on GPU, float32 on CPU")
    parser.add_argument("--out", help="run folder (default: a temporary folder)")
    parser.add_argument("--json", default=str(Path(__file__).with_name("gpu_train_iteration.json")))
    args = parser.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    from training.config import load_config
    from training.configs import shipped_config
    from training.runner import Trainer

    hf_logging.disable_progress_bar()
    cuda = torch.cuda.is_available()
    scratch = Path(tempfile.mkdtemp(prefix="ompo-gpu-bench-"))
    model = args.model or str(build_random_model(scratch / "model", args.shape, args.vocab_size))
    dtype = args.dtype or ("bfloat16" if cuda else "float32")
    device = "cuda" if cuda else "cpu"
    oracle = [
        f"oracle.kind={args.oracle}",
        f"oracle.device={device}",
        f"oracle.path={json.dumps(args.oracle_path)}",
    ]
    overrides = [
        f"model.path={json.dumps(model)}",
        f"model.dtype={dtype}",
        f"solver.method={json.dumps(args.method)}",
        "run.iterations=1",
        f"env.episodes_per_iteration={args.episodes}",
        f"generation.max_new_tokens={args.max_new_tokens}",
        "logging.progress=false",
        *oracle,
    ]
    config = load_config(shipped_config("mtbench101-ompo"), overrides)
    out = Path(args.out) if args.out else scratch / "run"
    iterations = Trainer(config, out).run()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["completed"]
    stages = {}
    for stage in STAGES:
        info = manifest[f"iteration_1/{stage}"]
        peak = info.get("peak_gpu_bytes")
        stages[stage] = {
            "seconds": round(info["seconds"], 3),
            "peak_gpu_gib": None if peak is None else round(peak / 2**30, 3),
        }
    rows = [json.loads(x) for x in (out / "iteration_1/data/rollouts.jsonl").open()]
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        meta = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model))
    result = {
        "device": torch.cuda.get_device_name() if cuda else platform.processor() or "cpu",
        "torch": torch.__version__,
        "model": {
            "path": args.model or f"random {args.shape}",
            "shape": args.shape if not args.model else None,
            "parameters": sum(p.numel() for p in meta.parameters()),
            "dtype": dtype,
        },
        "settings": {
            "method": args.method,
            "episodes": args.episodes,
            "states": len(rows),
            "num_answers": config.solver.num_answers,
            "max_new_tokens": args.max_new_tokens,
            "oracle": args.oracle,
            "gradient_checkpointing": config.model.gradient_checkpointing,
            "micro_batch": config.train.batch_size,
        },
        "stages": stages,
        "environment": numeric_environment(),
        "totals": {
            "seconds": round(sum(s["seconds"] for s in stages.values()), 3),
            "oracle_pairs": iterations[0]["preference_queries"],
            "train_steps": iterations[0]["train_steps"],
        },
    }
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
