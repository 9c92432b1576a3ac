"""The data stages of one iteration, as plain functions over plain rows (JSON-ready dicts).

* :func:`generate_chunk` — play episodes through the env API with π^t for both players and, at
  every state S_h of player_0, sample K answers (the first is the one played): the one-step
  sampling of Alg. 2 / Alg. 4 on MT-Bench. One row per (episode, h):
  ``{"id", "episode", "h", "messages", "answers", "reward"}``.
* :func:`judge_rows` — the oracle's P(a_i ≻ a_j | S_h) for every pair of the K answers of a row
  and each answer's win rate ŵ_k = (1/(K−1)) Σ_{j≠k} P(a_k ≻ a_j).
* :func:`score_rows` — log π^t(a_k | S_h) of every answer, computed once per iteration and
  stored with the data (no reference model in memory while training).

Sampling and scoring go through issue 9's :class:`~ompo_envs.lm.LMPolicy`. Interim: when
issue 9's ``solvers/lm`` lands its per-method rollouts and estimators (with the π^{t−1} answers
OMPO needs), the stage bodies here become calls to them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from ompo_envs.text import TextPreferenceGameEnv
from ompo_envs.text.batch import TextEnvBatch
from training.lm import Batcher, sample_answers, score_answers
from training.seeding import derived_rng

__all__ = ["episode_seed", "generate_chunk", "judge_rows", "score_rows"]


def generate_chunk(
    template: TextPreferenceGameEnv,
    policy: Any,
    episodes: Sequence[int],
    *,
    seed: int,
    iteration: int,
    chunk: int,
    num_answers: int,
    reset_options: Sequence[dict[str, Any]],
    batcher: Batcher,
) -> tuple[list[dict[str, Any]], int]:
    """Play ``episodes`` (indices) to the end; return the rows and the new-token count."""
    envs = [copy.deepcopy(template) for _ in episodes]
    infos: list[dict[str, dict[str, Any]]] = []
    for env, episode in zip(envs, episodes, strict=True):
        options = dict(reset_options[episode % len(reset_options)]) if reset_options else None
        _, info = env.reset(seed=episode_seed(seed, iteration, episode), options=options)
        infos.append(info)
    batch = TextEnvBatch(envs)
    live = list(range(len(envs)))
    rows: list[dict[str, Any]] = []
    tokens = 0
    limit = template.max_answer_chars
    while live:
        h = int(infos[live[0]]["player_0"]["h"])
        rng = derived_rng(seed, "generate", iteration, chunk, h)
        own = [infos[i]["player_0"]["messages"] for i in live]
        opponent = [infos[i]["player_1"]["messages"] for i in live]
        answers, new_0 = sample_answers(policy, own, num_answers, rng, batcher)
        replies, new_1 = sample_answers(policy, opponent, 1, rng, batcher)
        tokens += new_0 + new_1
        answers += replies
        answers = [[a[:limit] for a in group] for group in answers]
        actions: list[dict[str, str] | None] = [None] * len(envs)
        for j, i in enumerate(live):
            actions[i] = {"player_0": answers[j][0], "player_1": answers[len(live) + j][0]}
        results = batch.step(actions)
        still = []
        for j, i in enumerate(live):
            _, rewards, terminations, _, new_infos = results[i]
            rows.append(
                {
                    "id": f"{episodes[i]}-{h}",
                    "episode": int(episodes[i]),
                    "h": h,
                    "messages": infos[i]["player_0"]["messages"],
                    "answers": answers[j],
                    "reward": float(rewards["player_0"]),
                }
            )
            infos[i] = new_infos
            if not terminations["player_0"]:
                still.append(i)
        live = still
    return rows, tokens


def judge_rows(oracle: Any, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return ``{"id", "preferences", "win_rate"}`` per row from one batched oracle call.

    ``preferences[i][j]`` = P(a_i ≻ a_j | S_h) (½ on the diagonal; both halves from the same
    calls, so P(a_j ≻ a_i) = 1 − P(a_i ≻ a_j)). An oracle that compares whole conversations
    (``compare_conversations``, PairRM) gets [S_h, a_i] and [S_h, a_j]; any other gets S_h as
    the context of the two answers.
    """
    pairs = []
    for r, row in enumerate(rows):
        k = len(row["answers"])
        pairs.extend((r, i, j) for i in range(k) for j in range(i + 1, k))
    by_conversation = getattr(oracle, "compare_conversations", None)
    if callable(by_conversation):

        def conversation(row: dict[str, Any], answer: str) -> list[dict[str, str]]:
            return [*row["messages"], {"role": "assistant", "content": answer}]

        values = by_conversation(
            [conversation(rows[r], rows[r]["answers"][i]) for r, i, _ in pairs],
            [conversation(rows[r], rows[r]["answers"][j]) for r, _, j in pairs],
        )
    else:
        values = oracle.compare(
            [rows[r]["messages"] for r, _, _ in pairs],
            [rows[r]["answers"][i] for r, i, _ in pairs],
            [rows[r]["answers"][j] for r, _, j in pairs],
        )
    values = np.asarray(values, dtype=np.float64)
    matrices = [np.full((len(row["answers"]),) * 2, 0.5) for row in rows]
    for (r, i, j), p in zip(pairs, values, strict=True):
        matrices[r][i, j], matrices[r][j, i] = p, 1.0 - p
    out = []
    for row, m in zip(rows, matrices, strict=True):
        k = m.shape[0]
        win = (m.sum(axis=1) - 0.5) / (k - 1)
        out.append({"id": row["id"], "preferences": m.tolist(), "win_rate": win.tolist()})
    return out


def episode_seed(seed: int, iteration: int, episode: int) -> int:
    """The reset seed of an episode: fixed by its position, so a redone chunk replays it."""
    from training.seeding import derive_seed

    return derive_seed(seed, "episode", iteration, episode)


def score_rows(
    policy: Any, rows: Sequence[dict[str, Any]], batcher: Batcher
) -> tuple[list[dict[str, Any]], int]:
    """Return ``{"id", "logprobs"}`` per row (log π^t of each answer) and the tokens scored."""
    conversations, answers = [], []
    for row in rows:
        conversations.extend([row["messages"]] * len(row["answers"]))
        answers.extend(row["answers"])
    values, tokens = score_answers(policy, conversations, answers, batcher)
    out, start = [], 0
    for row in rows:
        k = len(row["answers"])
        out.append({"id": row["id"], "logprobs": values[start : start + k].tolist()})
        start += k
    return out, tokens
