r"""OMPO's and MPO's loss in a Hugging Face / TRL trainer, on the records ``ompo-train`` wrote.

``ompo-train``'s score stage writes ``RUN/iteration_t/data/scored_records.jsonl``: the records
of :mod:`solvers.lm.records` with log π^{t−1} filled in. :func:`records_dataset` reads them into
a ``datasets.Dataset`` (one row per record: ``kind``, ``weight``, and the record as JSON);
:class:`RecordsTrainer` is a ``transformers.Trainer`` — the base class of TRL's trainers, with
the same ``TrainingArguments`` (or any TRL config, which subclasses it) — whose loss on a batch B
is what ``ompo-train``'s optimiser step takes (:mod:`training.optimise`)::

    L_B(θ) = Σ_{e∈B} w_e ℓ_e(θ) / Σ_{e∈B} w_e

with ℓ_e from :mod:`solvers.lm.losses`: the squared log-ratio regression
(ℓ_θ − ℓ_{t−1} − β(Q̂ − c))² of a regression record (OMPO Alg. 2, MPO Alg. 4, SPPO; the
target β(Q̂ − c) is stored in the record) and the DPO loss of a pair record (DPO, Step-DPO; β and
the label smoothing ε are the trainer's). log π_θ of a response is
:func:`solvers.lm.records.response_logprobs` through the trainer's (possibly wrapped) model, so
the numbers are those of :meth:`solvers.lm.base.LMSolver.loss`.

Needs ``pip install "ompo-envs[trl]"`` (``datasets``, ``transformers``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from solvers.lm.losses import dpo_loss, regression_loss
from solvers.lm.records import PairRecord, Record, RegressionRecord, records_from_json
from solvers.lm.records import response_logprobs as _response_logprobs

__all__ = ["RecordsTrainer", "collate_records", "record_batch_loss", "records_dataset"]

_INSTALL_HINT = 'install them with: pip install "ompo-envs[trl]"'

try:
    from transformers import Trainer
except ImportError as error:  # pragma: no cover - the extra is not installed
    raise ImportError(f"solvers.lm.trl needs transformers; {_INSTALL_HINT}") from error


def records_dataset(source: str | Path) -> Any:
    """Return ompo-train's scored records as a ``datasets.Dataset``.

    Args:
        source: ``RUN/iteration_t`` (its ``data/scored_records.jsonl`` is read) or a JSONL
            file of :func:`solvers.lm.records.records_to_json` rows.

    Returns:
        A Dataset with columns ``kind`` ("regression" / "pair"), ``weight`` and ``record`` (the
        row as JSON text; :func:`collate_records` turns a batch back into records).

    Raises:
        FileNotFoundError: No records file there (the iteration's score stage has not run).
        ValueError: A row is not a record, or a record has no log π^{t−1} (not scored).
    """
    try:
        import datasets
    except ImportError as error:
        raise ImportError(f"records_dataset needs the datasets package; {_INSTALL_HINT}") from error
    path = Path(source)
    if path.is_dir():
        path = path / "data" / "scored_records.jsonl"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: give RUN/iteration_t of an ompo-train run whose score stage "
            "has finished, or a scored_records.jsonl file"
        )
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for i, record in enumerate(records_from_json(rows)):
        if _unscored(record):
            raise ValueError(
                f"{path}: record {i} has no log-probability of π^(t-1): read "
                "scored_records.jsonl (records.jsonl is not scored yet)"
            )
    return datasets.Dataset.from_dict(
        {
            "kind": [row["kind"] for row in rows],
            "weight": [float(row["weight"]) for row in rows],
            "record": [json.dumps(row, ensure_ascii=False) for row in rows],
        }
    )


def collate_records(features: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The data collator of :class:`RecordsTrainer`: dataset rows → ``{"records": [...]}``."""
    return {"records": records_from_json([json.loads(f["record"]) for f in features])}


def record_batch_loss(
    policy: Any,
    records: Sequence[Record],
    *,
    beta: float | None = None,
    label_smoothing: float = 0.0,
    model: Any = None,
) -> Any:
    """Return Σ w_e ℓ_e / Σ w_e over ``records`` (module docstring), a differentiable scalar.

    Args:
        policy: The :class:`~ompo_envs.lm.LMPolicy` whose tokenizer and prompt format score the
            responses.
        records: Scored records; regression and pair records may be mixed.
        beta: DPO's β, needed for pair records (the run's ``[solver] beta``); regression
            targets already hold theirs.
        label_smoothing: DPO's ε for pair records.
        model: The forward pass goes through this module (the trainer's wrapped model).

    Raises:
        ValueError: No records, a record not scored, all weights zero, or pair records
            without ``beta``.
    """
    import torch

    batch = list(records)
    if not batch:
        raise ValueError("record_batch_loss needs at least one record")
    if any(_unscored(r) for r in batch):
        raise ValueError("every record needs its log π^(t-1): use scored_records.jsonl")
    total_weight = sum(r.weight for r in batch)
    if not total_weight > 0:
        raise ValueError(f"the records' weights sum to {total_weight}; expected > 0")
    regression = [r for r in batch if isinstance(r, RegressionRecord)]
    pairs = [r for r in batch if isinstance(r, PairRecord)]
    terms = []
    if regression:
        logp = _response_logprobs(policy, [r.response for r in regression], model=model)
        ref = torch.tensor([r.ref_logprob for r in regression], dtype=logp.dtype)
        target = torch.tensor([r.target for r in regression], dtype=logp.dtype)
        weight = torch.tensor([r.weight for r in regression], dtype=logp.dtype)
        losses = regression_loss(logp, ref.to(logp.device), target.to(logp.device))
        terms.append((losses * weight.to(logp.device)).sum())
    if pairs and beta is None:
        raise ValueError(
            "pair records (DPO, Step-DPO) need beta: pass the run's [solver] beta (and "
            "label_smoothing) to record_batch_loss / RecordsTrainer"
        )
    if pairs:
        responses = [r.chosen for r in pairs] + [r.rejected for r in pairs]
        logp = _response_logprobs(policy, responses, model=model)
        n = len(pairs)
        ref = torch.tensor(
            [r.ref_chosen for r in pairs] + [r.ref_rejected for r in pairs], dtype=logp.dtype
        ).to(logp.device)
        weight = torch.tensor([r.weight for r in pairs], dtype=logp.dtype).to(logp.device)
        losses = dpo_loss(logp[:n], logp[n:], ref[:n], ref[n:], beta, label_smoothing)
        terms.append((losses * weight).sum())
    return sum(terms[1:], terms[0]) / total_weight


def _unscored(record: Record) -> bool:
    if isinstance(record, RegressionRecord):
        return record.ref_logprob is None
    return record.ref_chosen is None or record.ref_rejected is None


class RecordsTrainer(Trainer):
    """A ``transformers.Trainer`` whose loss is OMPO's / MPO's (module docstring).

    Each batch's loss is :func:`record_batch_loss` of its records, ompo-train's loss of that
    batch. With gradient accumulation the Trainer combines the micro-batches' losses its own
    way, where ompo-train weights them by their records' total weight.

    Args:
        policy: The :class:`~ompo_envs.lm.LMPolicy` to train (its model is the trainer's).
        args: ``transformers.TrainingArguments`` (or a TRL config, which subclasses it).
        train_dataset: :func:`records_dataset` of an ompo-train iteration.
        beta: DPO's β, needed for pair records (the run's ``[solver] beta``).
        label_smoothing: DPO's ε for pair records.
        **kwargs: Anything else ``transformers.Trainer`` takes (callbacks, optimizers, ...).

    Raises:
        ValueError: ``model`` or ``data_collator`` given (the policy and the records fix both).
    """

    def __init__(
        self,
        policy: Any,
        args: Any = None,
        train_dataset: Any = None,
        *,
        beta: float | None = None,
        label_smoothing: float = 0.0,
        **kwargs: Any,
    ) -> None:
        for fixed in ("model", "data_collator"):
            if fixed in kwargs:
                raise ValueError(
                    f"RecordsTrainer sets {fixed} itself (the policy's model, collate_records): "
                    "do not pass it"
                )
        self.policy = policy
        self.beta = beta
        self.label_smoothing = label_smoothing
        super().__init__(
            model=policy.model,
            args=args,
            train_dataset=train_dataset,
            data_collator=collate_records,
            **kwargs,
        )

    def _remove_unused_columns(self, dataset: Any, description: str | None = None) -> Any:
        return dataset  # the record column is the input, whatever the model's signature

    def _prepare_inputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return inputs  # records, not tensors: the forward pass tokenises them

    def compute_loss(
        self,
        model: Any,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        """Return Σ w_e ℓ_e / Σ w_e of the batch's records through ``model``."""
        loss = record_batch_loss(
            self.policy,
            inputs["records"],
            beta=self.beta,
            label_smoothing=self.label_smoothing,
            model=model,
        )
        return (loss, None) if return_outputs else loss
