"""What a user sees of a run: progress bars, JSONL metrics, the summary table.

Only the main process of a distributed run shows bars and writes metrics. Files (in the run
folder): ``iterations.jsonl`` (one line per finished iteration) and ``steps.jsonl`` (one line
per optimiser step); both are rewritten atomically from the run's durable state, so a resumed
run never duplicates a line. The same metrics go to TensorBoard, Weights & Biases or trackio
with ``[logging] trackers`` (:mod:`training.trackers`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["format_summary", "progress_bar"]

#: Summary table columns: (iteration-metrics key, header, format).
SUMMARY_COLUMNS = (
    ("iteration", "iter", "{:.0f}"),
    ("episodes", "episodes", "{:.0f}"),
    ("states", "rollout rows", "{:.0f}"),
    ("preference_queries", "oracle pairs", "{:.0f}"),
    ("records", "records", "{:.0f}"),
    ("q_hat_mean", "mean Q̂", "{:.3f}"),
    ("optimism_coverage", "optimism cov.", "{:.2f}"),
    ("pairs", "pairs", "{:.0f}"),
    ("train_steps", "steps", "{:.0f}"),
    ("train_loss", "loss", "{:.4f}"),
    ("exploitability", "exploitability", "{:.3f}"),
    ("seconds_generate", "gen s", "{:.1f}"),
    ("seconds_judge", "judge s", "{:.1f}"),
    ("seconds_score", "score s", "{:.1f}"),
    ("seconds_train", "train s", "{:.1f}"),
)


def progress_bar(enabled: bool, description: str, unit: str, total: int | None = None) -> Any:
    """Return a tqdm bar (disabled when ``enabled`` is False), with its rate in ``unit``/s."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        disable=not enabled,
        dynamic_ncols=True,
        leave=True,
    )


def format_summary(iterations: Sequence[dict[str, float]]) -> str:
    """Return the per-iteration metrics as a Markdown table (columns that were measured)."""
    columns = [c for c in SUMMARY_COLUMNS if any(c[0] in row for row in iterations)]
    lines = [
        "| " + " | ".join(header for _, header, _ in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in iterations:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            ok = isinstance(value, int | float) and math.isfinite(value)
            cells.append(fmt.format(value) if ok else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
