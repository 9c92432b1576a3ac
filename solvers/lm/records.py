"""The plain data an LM iteration passes between its stages, and the scoring of responses.

An iteration is generate → judge → score → train → save. What the judge stage hands on is a
list of records that say everything training needs (no env, no model):

* :class:`RegressionRecord` — a response, its regression target β (Q̂ − c) and a weight (OMPO,
  MPO, SPPO);
* :class:`PairRecord` — a chosen and a rejected response (DPO, Step-DPO).

A *response* is a tuple of :class:`Segment` (state, answer): one segment for a step-level record,
one per turn for a whole conversation; log π(response) = Σ_segments log π(answer | state). The
score stage fills ``ref_logprob`` (log π^t, computed once per iteration, so no second model sits
in memory during training). Records are JSON-serialisable (:func:`records_to_json`), so each
stage's output can be persisted and a run resumed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ompo_envs.lm.prompting import MessagesKey

__all__ = [
    "PairRecord",
    "RegressionRecord",
    "Segment",
    "records_from_json",
    "records_to_json",
    "response_logprobs",
    "score_records",
]


@dataclass(frozen=True)
class Segment:
    """One answer and the conversation it answers.

    Attributes:
        messages: The player's state s_h as ``((role, content), ...)``.
        answer: The answer a_h.
    """

    messages: MessagesKey
    answer: str


Response = tuple[Segment, ...]


@dataclass(frozen=True)
class RegressionRecord:
    """A response with the log-ratio it should get: target = β (Q̂ − c).

    Attributes:
        response: The segments (one per answer of the response).
        target: β (Q̂ − c), the regression target of ℓ_θ − ℓ_t.
        weight: How many samples this row stands for (identical samples are merged).
        ref_logprob: log π^t(response), filled by :func:`score_records`.
        q_hat: The estimate Q̂ (or win rate) behind the target, for metrics.
    """

    response: Response
    target: float
    weight: float = 1.0
    ref_logprob: float | None = None
    q_hat: float = math.nan


@dataclass(frozen=True)
class PairRecord:
    """A preference pair: ``chosen`` ≻ ``rejected`` from the same state.

    Attributes:
        chosen: The preferred response.
        rejected: The other one.
        weight: How many samples this row stands for.
        ref_chosen: log π^t(chosen), filled by :func:`score_records`.
        ref_rejected: log π^t(rejected), filled by :func:`score_records`.
        margin: Q̂(chosen) − Q̂(rejected) behind the choice, for metrics.
    """

    chosen: Response
    rejected: Response
    weight: float = 1.0
    ref_chosen: float | None = None
    ref_rejected: float | None = None
    margin: float = math.nan


Record = RegressionRecord | PairRecord


def response_logprobs(policy: Any, responses: Sequence[Response], *, model: Any = None) -> Any:
    """Return log π(response) = Σ_segments log π(answer | messages), a tensor of shape (n,).

    Each distinct segment is scored once (one batched :meth:`LMPolicy.log_probs` call);
    differentiable under grad mode. ``model``: the forward pass goes through this (wrapped)
    module, as in :meth:`LMPolicy.log_probs`.
    """
    import torch

    index: dict[Segment, int] = {}
    owner: list[int] = []
    columns: list[int] = []
    for row, response in enumerate(responses):
        if len(response) == 0:
            raise ValueError(f"response {row} has no segments")
        for segment in response:
            columns.append(index.setdefault(segment, len(index)))
            owner.append(row)
    segments = list(index)
    messages, answers = [s.messages for s in segments], [s.answer for s in segments]
    if model is None:
        values = policy.log_probs(messages, answers)
    else:
        values = policy.log_probs(messages, answers, model=model)
    gathered = values[torch.tensor(columns, device=values.device)]
    out = torch.zeros(len(responses), dtype=values.dtype, device=values.device)
    return out.index_add(0, torch.tensor(owner, device=values.device), gathered)


def score_records(policy: Any, records: Sequence[Record]) -> list[Record]:
    """Return the records with log π^t of their responses filled in (no gradients)."""
    import torch

    responses: list[Response] = []
    for record in records:
        if isinstance(record, RegressionRecord):
            responses.append(record.response)
        else:
            responses.extend((record.chosen, record.rejected))
    if not responses:
        return []
    with torch.no_grad():
        values = response_logprobs(policy, responses).double().cpu().tolist()
    out: list[Record] = []
    position = 0
    for record in records:
        if isinstance(record, RegressionRecord):
            out.append(replace(record, ref_logprob=values[position]))
            position += 1
        else:
            out.append(
                replace(record, ref_chosen=values[position], ref_rejected=values[position + 1])
            )
            position += 2
    return out


def records_to_json(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Return the records as JSON-serialisable dicts (``kind`` says which record type)."""
    out = []
    for record in records:
        if isinstance(record, RegressionRecord):
            out.append(
                {
                    "kind": "regression",
                    "response": _response_json(record.response),
                    "target": record.target,
                    "weight": record.weight,
                    "ref_logprob": record.ref_logprob,
                    "q_hat": None if math.isnan(record.q_hat) else record.q_hat,
                }
            )
        else:
            out.append(
                {
                    "kind": "pair",
                    "chosen": _response_json(record.chosen),
                    "rejected": _response_json(record.rejected),
                    "weight": record.weight,
                    "ref_chosen": record.ref_chosen,
                    "ref_rejected": record.ref_rejected,
                    "margin": None if math.isnan(record.margin) else record.margin,
                }
            )
    return out


def records_from_json(rows: Sequence[dict[str, Any]]) -> list[Record]:
    """Inverse of :func:`records_to_json`.

    Raises:
        ValueError: A row has an unknown ``kind``.
    """
    out: list[Record] = []
    for i, row in enumerate(rows):
        if row.get("kind") == "regression":
            out.append(
                RegressionRecord(
                    response=_response_from(row["response"]),
                    target=float(row["target"]),
                    weight=float(row["weight"]),
                    ref_logprob=row["ref_logprob"],
                    q_hat=math.nan if row.get("q_hat") is None else float(row["q_hat"]),
                )
            )
        elif row.get("kind") == "pair":
            out.append(
                PairRecord(
                    chosen=_response_from(row["chosen"]),
                    rejected=_response_from(row["rejected"]),
                    weight=float(row["weight"]),
                    ref_chosen=row["ref_chosen"],
                    ref_rejected=row["ref_rejected"],
                    margin=math.nan if row.get("margin") is None else float(row["margin"]),
                )
            )
        else:
            raise ValueError(
                f"row {i} has kind {row.get('kind')!r}; expected 'regression' or 'pair'"
            )
    return out


def _response_json(response: Response) -> list[dict[str, Any]]:
    return [
        {"messages": [list(m) for m in segment.messages], "answer": segment.answer}
        for segment in response
    ]


def _response_from(rows: Sequence[dict[str, Any]]) -> Response:
    return tuple(
        Segment(messages=tuple((str(r), str(c)) for r, c in row["messages"]), answer=row["answer"])
        for row in rows
    )
