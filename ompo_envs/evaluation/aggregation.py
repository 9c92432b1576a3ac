r"""MT-Bench-101 scores from per-turn ratings: the official aggregation and the paper's.

With r_{d,t} the judge's rating of turn t of dialogue d (judged turns only; a turn whose judgement
has no rating is left out and counted), D_k the dialogues of task k that have a rating, and K the
tasks that have one:

* **official** (OpenCompass ``MTBench101Summarizer``): s_d = min_t r_{d,t}; the task score is
  S_k = mean_{d ∈ D_k} s_d; the overall score is the unweighted mean over tasks, mean_{k ∈ K} S_k.
* **paper** (OMPO, Tab. 2): s_d = mean_t r_{d,t}; then the same task and overall means. The mean
  over all dialogues, mean_d s_d, is reported too (``overall_dialogue_mean``).

Both report the three MT-Bench-101 ability groups (unweighted mean of their tasks' scores):
Perceptivity = CM, SI, AR, TS, CC; Adaptability = CR, FR, SC, SA, MR, GR; Interactivity = IC, PI.
OpenCompass rounds the overall score to two decimals; here nothing is rounded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ompo_envs.text.datasets import MT_BENCH_101_TASKS

__all__ = ["ABILITY_GROUPS", "aggregate", "markdown_table"]

#: MT-Bench-101's three abilities and their tasks (Bai et al., 2024, Fig. 1).
ABILITY_GROUPS: dict[str, tuple[str, ...]] = {
    "Perceptivity": ("CM", "SI", "AR", "TS", "CC"),
    "Adaptability": ("CR", "FR", "SC", "SA", "MR", "GR"),
    "Interactivity": ("IC", "PI"),
}

Reduce = Literal["min", "mean"]


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values)


def aggregate(records: Iterable[Mapping[str, Any]], *, reduce: Reduce) -> dict[str, Any]:
    """Aggregate per-turn ratings into dialogue, task, group and overall scores.

    Args:
        records: One per judged turn, with ``dialogue_id``, ``task`` and ``rating`` (a number, or
            None when the judgement had no rating).
        reduce: ``"min"`` (official) or ``"mean"`` (paper) over a dialogue's rated turns.

    Returns:
        ``{"overall", "overall_dialogue_mean", "tasks": {task: {"score", "dialogues"}},
        "groups": {group: score}, "dialogues", "rated_turns", "unrated_turns",
        "unrated_dialogues"}``; ``overall`` is None when nothing was rated, a group is left out
        when none of its tasks was rated.

    Raises:
        ValueError: ``reduce`` is unknown, a task code is unknown, a rating is not a finite
            number, or a dialogue appears under two tasks.
    """
    if reduce not in ("min", "mean"):
        raise ValueError(f"reduce must be 'min' (official) or 'mean' (paper), got {reduce!r}")
    per_dialogue: dict[Any, list[float]] = defaultdict(list)
    task_of: dict[Any, str] = {}
    unrated = 0
    for record in records:
        task, dialogue = record["task"], record["dialogue_id"]
        if task not in MT_BENCH_101_TASKS:
            raise ValueError(f"unknown task {task!r}; the tasks are {list(MT_BENCH_101_TASKS)}")
        if task_of.setdefault(dialogue, task) != task:
            raise ValueError(
                f"dialogue {dialogue!r} appears under tasks {task_of[dialogue]} and {task}"
            )
        rating = record["rating"]
        if rating is None:
            unrated += 1
            per_dialogue.setdefault(dialogue, [])
            continue
        if isinstance(rating, bool) or not isinstance(rating, int | float) or rating != rating:
            raise ValueError(
                f"rating of dialogue {dialogue!r} must be a number or None, got {rating!r}"
            )
        per_dialogue[dialogue].append(float(rating))
    scores = {d: (min(r) if reduce == "min" else _mean(r)) for d, r in per_dialogue.items() if r}
    by_task: dict[str, list[float]] = defaultdict(list)
    for dialogue, score in scores.items():
        by_task[task_of[dialogue]].append(score)
    tasks = {
        task: {"score": _mean(by_task[task]), "dialogues": len(by_task[task])}
        for task in MT_BENCH_101_TASKS
        if by_task.get(task)
    }
    groups = {
        group: _mean(tasks[t]["score"] for t in members if t in tasks)
        for group, members in ABILITY_GROUPS.items()
        if any(t in tasks for t in members)
    }
    return {
        "overall": _mean(t["score"] for t in tasks.values()) if tasks else None,
        "overall_dialogue_mean": _mean(scores.values()) if scores else None,
        "tasks": tasks,
        "groups": groups,
        "dialogues": len(scores),
        "rated_turns": sum(len(r) for r in per_dialogue.values()),
        "unrated_turns": unrated,
        "unrated_dialogues": sum(1 for r in per_dialogue.values() if not r),
    }


def markdown_table(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    """Return a Markdown table: one row per model, columns overall, the 3 groups and 13 tasks.

    Args:
        summaries: Model label → one aggregation (the output of :func:`aggregate`).
    """
    groups = list(ABILITY_GROUPS)
    header = ["model", "overall", *groups, *MT_BENCH_101_TASKS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def cell(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    for label, summary in summaries.items():
        row = [label, cell(summary["overall"])]
        row += [cell(summary["groups"].get(g)) for g in groups]
        row += [
            cell(summary["tasks"][t]["score"]) if t in summary["tasks"] else "—"
            for t in MT_BENCH_101_TASKS
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
