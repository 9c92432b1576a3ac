r"""Win rate of model A against model B under a preference oracle, with a bootstrap interval.

For prompt i with answers a_i (model A) and b_i (model B), the oracle is asked in both orders,
p_i^{AB} = P(a_i ≻ b_i) and p_i^{BA} = P(b_i ≻ a_i), and the two are combined as

    w_i = ½ (p_i^{AB} + 1 − p_i^{BA}),

so a judge's position bias cancels (the package's oracles already give p^{AB} + p^{BA} = 1; the
mean |p^{AB} + p^{BA} − 1| is reported as ``order_gap``). The **win rate** is mean_i w_i (the
expected preference, the paper's Fig. 1(c)); the **hard win rate** counts w_i > ½ as a win and
w_i = ½ as half a win. Confidence intervals are percentile bootstraps: prompts are resampled in
clusters (all turns of one MT-Bench-101 dialogue together) with an explicit
``np.random.Generator``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ompo_envs.text.datasets import MT_BENCH_101_TASKS

__all__ = ["PromptItem", "bootstrap_mean_ci", "load_prompt_file", "mtbench101_prompts", "win_rate"]


@dataclass(frozen=True)
class PromptItem:
    """One prompt both models answer.

    Attributes:
        id: A stable id (``"<dialogue>/<turn>"`` for MT-Bench-101, the file's id or line).
        messages: The conversation to answer (ends with the user turn).
        cluster: Items of one cluster are resampled together (the dialogue id).
        task: MT-Bench-101 task code, or ``""``.
    """

    id: str
    messages: list[dict[str, str]]
    cluster: str
    task: str = ""


def mtbench101_prompts(
    tasks: Sequence[str] = MT_BENCH_101_TASKS, limit: int | None = None
) -> list[PromptItem]:
    """Every judged turn of the first ``limit`` dialogues per task, with the golden history."""
    from ompo_envs.evaluation.mtbench101 import context_for, select_dialogues

    return [
        PromptItem(f"{d.id}/{t}", context_for(d, t), str(d.id), d.task)
        for d in select_dialogues(tasks, limit)
        for t in range(1, len(d.turns) + 1)
        if d.scored_turns[t - 1]
    ]


def load_prompt_file(path: str | Path, limit: int | None = None) -> list[PromptItem]:
    """Read JSON-lines prompts: ``{"prompt": str}`` or ``{"messages": [...]}``, optional ``id``.

    Raises:
        ValueError: The file is missing, empty, or a line is malformed (the message names it).
    """
    from ompo_envs.oracles.base import validate_conversation

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"prompt file {path} does not exist (expected JSON lines)")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not valid JSON ({error.msg})") from error
        if not isinstance(row, dict) or ("prompt" in row) == ("messages" in row):
            raise ValueError(f"{where}: expected an object with either 'prompt' or 'messages'")
        if "prompt" in row:
            if not isinstance(row["prompt"], str):
                raise ValueError(f"{where}: 'prompt' must be a string")
            messages = [{"role": "user", "content": row["prompt"]}]
        else:
            messages = validate_conversation(row["messages"], where=f"{where}: messages")
            if messages[-1]["role"] != "user":
                raise ValueError(f"{where}: messages must end with the user turn to answer")
        item_id = str(row.get("id", number))
        items.append(PromptItem(item_id, messages, item_id))
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise ValueError(f"prompt file {path} has no prompts")
    return items


def bootstrap_mean_ci(
    values: np.ndarray,
    clusters: Sequence[str] | None,
    rng: np.random.Generator,
    *,
    n_bootstrap: int = 1000,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(values), resampling whole clusters with replacement.

    Each resample draws as many clusters as there are and takes the mean over all their items.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError("values must be a non-empty 1-D array of finite numbers")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be an integer >= 1, got {n_bootstrap!r}")
    labels = (
        np.arange(values.size)
        if clusters is None
        else np.unique(np.asarray(clusters), return_inverse=True)[1]
    )
    if labels.shape != values.shape:
        raise ValueError(f"clusters has {labels.size} labels for {values.size} values")
    sums = np.bincount(labels, weights=values)
    counts = np.bincount(labels).astype(np.float64)
    draws = rng.integers(0, sums.size, size=(n_bootstrap, sums.size))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def win_rate(
    p_ab: np.ndarray,
    p_ba: np.ndarray,
    rng: np.random.Generator,
    *,
    clusters: Sequence[str] | None = None,
    n_bootstrap: int = 1000,
    level: float = 0.95,
) -> dict[str, Any]:
    """Return the win rate of A over B from both orders, with bootstrap intervals (module doc).

    Args:
        p_ab: P(a_i ≻ b_i) per prompt.
        p_ba: P(b_i ≻ a_i) per prompt (the oracle asked in the other order).
        rng: Generator of the bootstrap draws.
        clusters: Cluster label per prompt (None: every prompt its own cluster).
        n_bootstrap: Bootstrap resamples.
        level: Confidence level.

    Returns:
        ``win_rate``, ``win_rate_ci``, ``hard_win_rate``, ``hard_win_rate_ci``, ``wins``,
        ``ties``, ``losses``, ``order_gap``, ``n``.
    """
    p_ab = np.asarray(p_ab, dtype=np.float64)
    p_ba = np.asarray(p_ba, dtype=np.float64)
    if p_ab.shape != p_ba.shape or p_ab.ndim != 1 or p_ab.size == 0:
        raise ValueError(
            f"p_ab and p_ba must be 1-D of one length, got {p_ab.shape} and {p_ba.shape}"
        )
    both = np.concatenate([p_ab, p_ba])
    if not np.all(np.isfinite(both)) or np.any((both < 0) | (both > 1)):
        raise ValueError("preferences must be finite and lie in [0, 1]")
    w = 0.5 * (p_ab + 1.0 - p_ba)
    hard = np.where(w > 0.5, 1.0, np.where(w == 0.5, 0.5, 0.0))
    settings = {"n_bootstrap": n_bootstrap, "level": level}
    return {
        "win_rate": float(w.mean()),
        "win_rate_ci": list(bootstrap_mean_ci(w, clusters, rng, **settings)),
        "hard_win_rate": float(hard.mean()),
        "hard_win_rate_ci": list(bootstrap_mean_ci(hard, clusters, rng, **settings)),
        "wins": int(np.sum(w > 0.5)),
        "ties": int(np.sum(w == 0.5)),
        "losses": int(np.sum(w < 0.5)),
        "order_gap": float(np.mean(np.abs(p_ab + p_ba - 1.0))),
        "n": int(w.size),
        "level": level,
    }
