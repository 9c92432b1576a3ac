r"""MT-Bench-101 evaluation: answers from a model, ratings from a judge, official and paper scores.

Two protocols decide what the model sees before each user turn x_t of a dialogue:

* ``"official"`` — MT-Bench-101's inference mode (OpenCompass ``ChatInferencer``,
  ``infer_mode="last"``): the *golden* history, i.e. the dataset's reference replies to
  x_1..x_{t−1}; only the judged turns are answered.
* ``"paper"`` — the OMPO paper's setting (MTBench101-v0 ``context="generated"``): the model's own
  earlier answers are its history, so every turn is answered, in order.

Each judged turn — every turn except the first of FR, CR, AR, SA, SC and CM
(``skip_first_tasks``) — is rated with the shipped OpenCompass prompts
(:func:`ompo_envs.oracles.judge.judge_messages`): the dialogue the model saw, its answer, and for
MR and GR the reference dialogue (``need_ref_tasks``). The rating is read as the official code
reads it (:func:`parse_official_rating`: the first ``[n]``). A judgement with no ``[n]`` is kept in
``judgments.jsonl`` with ``rating: null`` and counted in the summary; OpenCompass drops it without
a word. Scores: :mod:`ompo_envs.evaluation.aggregation`.

Everything is resumable: answers and judgements go through caches keyed by the full request, and
``answers.jsonl`` / ``judgments.jsonl`` are written as results arrive.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from ompo_envs.evaluation.aggregation import aggregate
from ompo_envs.evaluation.generation import GenerationError, TextGenerator
from ompo_envs.oracles.judge import judge_messages, load_judge_prompts
from ompo_envs.text.datasets import MT_BENCH_101_TASKS, Dialogue, load_mt_bench_101

__all__ = [
    "PROTOCOLS",
    "EvaluationError",
    "MTBench101Settings",
    "TurnRecord",
    "context_for",
    "evaluate_mtbench101",
    "judge_request",
    "parse_official_rating",
    "reference_dialogue",
    "select_dialogues",
]

Protocol = Literal["official", "paper"]
PROTOCOLS: tuple[str, ...] = ("official", "paper")
#: Tasks whose judge prompt shows the reference dialogue (OpenCompass ``need_ref_tasks``).
NEED_REFERENCE_TASKS: frozenset[str] = frozenset({"MR", "GR"})
_OFFICIAL_RATING = re.compile(r"\[([0-9]+)\]")


class EvaluationError(RuntimeError):
    """An evaluation stopped; the message names the dialogue and turn, and what was kept."""


@dataclass(frozen=True)
class MTBench101Settings:
    """What to evaluate and how."""

    protocol: Protocol = "official"
    """``"official"`` (golden history) or ``"paper"`` (the model's own answers as history)."""
    tasks: tuple[str, ...] = MT_BENCH_101_TASKS
    """Task codes to evaluate."""
    limit: int | None = None
    """Dialogues per task (the first ones in dataset order); None for all."""
    chunk_size: int = 64
    """Requests per batch; results are written after each batch."""

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if isinstance(self.tasks, str) or not self.tasks:
            raise ValueError(f"tasks must be a non-empty tuple of task codes, got {self.tasks!r}")
        unknown = [t for t in self.tasks if t not in MT_BENCH_101_TASKS]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}; the tasks are {list(MT_BENCH_101_TASKS)}")
        for name, value in (("limit", self.limit), ("chunk_size", self.chunk_size)):
            if value is None and name == "limit":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


@dataclass(frozen=True)
class TurnRecord:
    """One answered turn: where it is, what the model saw and what it said."""

    dialogue: Dialogue
    turn: int
    context: list[dict[str, str]]
    answer: str

    @property
    def judged(self) -> bool:
        """Whether the official scorer rates this turn."""
        return self.dialogue.scored_turns[self.turn - 1]


def select_dialogues(tasks: Sequence[str], limit: int | None) -> list[Dialogue]:
    """Return the first ``limit`` dialogues (dataset order) of each task, tasks in table order."""
    chosen = []
    for task in MT_BENCH_101_TASKS:
        if task in tasks:
            dialogues = [d for d in load_mt_bench_101() if d.task == task]
            chosen.extend(dialogues if limit is None else dialogues[:limit])
    return chosen


def context_for(
    dialogue: Dialogue, turn: int, answers: Sequence[str] | None = None
) -> list[dict[str, str]]:
    """Return the conversation before the answer to user turn ``turn`` (1-based).

    Earlier assistant turns are the dataset's golden replies, or ``answers`` (the model's own,
    one per earlier turn) for the paper protocol.
    """
    if not 1 <= turn <= len(dialogue.turns):
        raise ValueError(f"dialogue {dialogue.id} has turns 1..{len(dialogue.turns)}, not {turn}")
    messages: list[dict[str, str]] = []
    for t in range(turn - 1):
        reply = dialogue.turns[t].bot if answers is None else answers[t]
        messages += [
            {"role": "user", "content": dialogue.turns[t].user},
            {"role": "assistant", "content": reply},
        ]
    messages.append({"role": "user", "content": dialogue.turns[turn - 1].user})
    return messages


def reference_dialogue(dialogue: Dialogue, turn: int) -> list[dict[str, str]]:
    """Return the golden dialogue up to and including the reply to ``turn`` (MR/GR reference)."""
    messages = context_for(dialogue, turn)
    messages.append({"role": "assistant", "content": dialogue.turns[turn - 1].bot})
    return messages


def judge_request(record: TurnRecord) -> list[dict[str, str]]:
    """Return the judge's messages for one answered turn (official prompts, reference for MR/GR)."""
    task = record.dialogue.task
    reference = (
        reference_dialogue(record.dialogue, record.turn) if task in NEED_REFERENCE_TASKS else None
    )
    criteria = load_judge_prompts()["task_prompts"][task]
    return judge_messages(criteria, record.context, record.answer, reference=reference)


def parse_official_rating(reply: str) -> int | None:
    """Return the rating as OpenCompass reads it: the integer in the first ``[n]``; None if none."""
    match = _OFFICIAL_RATING.search(reply)
    return int(match.group(1)) if match else None


def _prompt_hash(messages: list[dict[str, str]]) -> str:
    text = json.dumps(messages, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _write(handle: TextIO, row: dict[str, Any]) -> None:
    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    handle.flush()


def _answer_row(record: TurnRecord, model: str) -> dict[str, Any]:
    return {
        "dialogue_id": record.dialogue.id,
        "task": record.dialogue.task,
        "turn": record.turn,
        "model": model,
        "answer": record.answer,
        "messages": record.context,
    }


def _rewrite(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write the rows in dataset order once everything arrived (they were appended as received)."""
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _run_chunks(
    items: Sequence[Any],
    requests: Sequence[list[dict[str, str]]],
    generator: TextGenerator,
    chunk_size: int,
    keep: Callable[[Any, str], None],
    what: str,
) -> None:
    """Generate ``requests`` in chunks, calling ``keep(item, reply)`` for every reply received.

    Raises:
        EvaluationError: Some requests failed; every reply received was kept first.
    """
    for start in range(0, len(items), chunk_size):
        chunk = items[start : start + chunk_size]
        try:
            replies: Sequence[str | None] = generator.generate(requests[start : start + chunk_size])
            error = None
        except GenerationError as failure:
            replies, error = failure.partial, failure
        for item, reply in zip(chunk, replies, strict=True):
            if reply is not None:
                keep(item, reply)
        if error is not None:
            first = chunk[error.index]
            dialogue, turn = (
                (first.dialogue, first.turn) if isinstance(first, TurnRecord) else first[:2]
            )
            raise EvaluationError(
                f"{what} failed at dialogue {dialogue.id} ({dialogue.task}), turn {turn}: {error}. "
                "Everything received so far is kept; rerun the same command to resume (nothing "
                "already received is requested again)"
            ) from error


def _answer_turns(
    dialogues: list[Dialogue],
    generator: TextGenerator,
    settings: MTBench101Settings,
    answers_file: TextIO,
) -> list[TurnRecord]:
    records: dict[tuple[int, int], TurnRecord] = {}

    def keep(item: tuple[Dialogue, int, list[dict[str, str]]], reply: str) -> None:
        dialogue, turn, context = item
        record = TurnRecord(dialogue, turn, context, reply)
        records[(dialogue.id, turn)] = record
        _write(answers_file, _answer_row(record, generator.name))

    if settings.protocol == "official":
        items = [
            (d, t, context_for(d, t))
            for d in dialogues
            for t in range(1, len(d.turns) + 1)
            if d.scored_turns[t - 1]
        ]
        _run_chunks(items, [i[2] for i in items], generator, settings.chunk_size, keep, "answering")
    else:
        for turn in range(1, max(len(d.turns) for d in dialogues) + 1):
            live = [d for d in dialogues if len(d.turns) >= turn]
            items = []
            for d in live:
                own = [records[(d.id, t)].answer for t in range(1, turn)]
                items.append((d, turn, context_for(d, turn, own)))
            _run_chunks(
                items, [i[2] for i in items], generator, settings.chunk_size, keep, "answering"
            )
    order = {d.id: i for i, d in enumerate(dialogues)}
    ordered = sorted(records.values(), key=lambda r: (order[r.dialogue.id], r.turn))
    return ordered


def evaluate_mtbench101(
    generator: TextGenerator,
    judge: TextGenerator,
    out_dir: str | Path,
    settings: MTBench101Settings | None = None,
) -> dict[str, Any]:
    """Answer, judge and score MT-Bench-101; write the results files; return the summary.

    Writes ``answers.jsonl`` (one line per answered turn), ``judgments.jsonl`` (one line per
    judged turn: ``dialogue_id``, ``task``, ``turn``, ``rating``, ``judgment`` — the judge's raw
    reply —, ``judge_model``, ``prompt_hash``) and ``summary.json`` (``official`` and ``paper``
    aggregations, counts, usage).

    Raises:
        EvaluationError: A request failed after its retries; the message names the dialogue and
            turn; everything received is in the files and caches.
    """
    settings = settings or MTBench101Settings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dialogues = select_dialogues(settings.tasks, settings.limit)
    with open(out / "answers.jsonl", "w", encoding="utf-8") as handle:
        turns = _answer_turns(dialogues, generator, settings, handle)
    _rewrite(out / "answers.jsonl", [_answer_row(r, generator.name) for r in turns])
    answered = [r for r in turns if r.judged]
    judgments: dict[tuple[int, int], dict[str, Any]] = {}
    requests = [judge_request(r) for r in answered]
    hashes = {
        (r.dialogue.id, r.turn): _prompt_hash(m) for r, m in zip(answered, requests, strict=True)
    }

    with open(out / "judgments.jsonl", "w", encoding="utf-8") as handle:

        def keep(record: TurnRecord, reply: str) -> None:
            key = (record.dialogue.id, record.turn)
            row = {
                "dialogue_id": record.dialogue.id,
                "task": record.dialogue.task,
                "turn": record.turn,
                "rating": parse_official_rating(reply),
                "judgment": reply,
                "judge_model": judge.name,
                "prompt_hash": hashes[key],
                "protocol": settings.protocol,
            }
            judgments[key] = row
            _write(handle, row)

        _run_chunks(answered, requests, judge, settings.chunk_size, keep, "judging")
    rows = [judgments[(r.dialogue.id, r.turn)] for r in answered]
    _rewrite(out / "judgments.jsonl", rows)
    unrated = [
        {"dialogue_id": r["dialogue_id"], "turn": r["turn"]} for r in rows if r["rating"] is None
    ]
    out_of_range = sum(1 for r in rows if r["rating"] is not None and not 1 <= r["rating"] <= 10)
    summary = {
        "model": generator.name,
        "judge_model": judge.name,
        "protocol": settings.protocol,
        "tasks": list(settings.tasks),
        "limit": settings.limit,
        "dialogues": len(dialogues),
        "judged_turns": len(rows),
        "unrated_judgments": len(unrated),
        "unrated": unrated[:50],
        "ratings_outside_1_10": out_of_range,
        "official": aggregate(rows, reduce="min"),
        "paper": aggregate(rows, reduce="mean"),
        "usage": {"model": generator.usage_summary(), "judge": judge.usage_summary()},
    }
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return summary
