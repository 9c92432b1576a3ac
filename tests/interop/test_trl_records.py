"""solvers.lm.trl: ompo-train's records as a datasets.Dataset and OMPO's / MPO's (and Step-DPO's)
loss in a transformers/TRL Trainer give ompo-train's numbers: same records, same model, same
loss and gradients to 1e-6."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("datasets")
pytest.importorskip("accelerate")

import torch

import ompo_envs
from ompo_envs.lm import LMPolicy
from solvers.lm.records import records_from_json
from solvers.lm.trl import RecordsTrainer, collate_records, record_batch_loss, records_dataset
from training.cli import main
from training.config import load_config
from training.methods import build_solver

TINY = Path(__file__).resolve().parents[1] / "training" / "tiny.toml"
#: One short iteration of the tests' tiny RPS run, with few saved chunks (speed, not kills).
SHORT = [
    "run.iterations=1",
    "warm_start.steps=2",
    "evaluate.exploitability_episodes=0",
    "env.episodes_per_iteration=4",
    "resume.episodes_per_chunk=8",
    "resume.rows_per_chunk=64",
    "resume.checkpoint_every=100",
]


@pytest.fixture(scope="module", params=["ompo", "mpo", "step-dpo"])
def run_dir(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param) / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMPO_TEST_ORACLE_LOG", str(out.parent / "oracle.jsonl"))
        argv = [str(TINY), "--out", str(out), *SHORT, f"solver.method={request.param}"]
        assert main(argv) == 0
    return out


def _ompo_train_loss(run_dir: Path, policy: LMPolicy, records):
    """The loss ompo-train's optimiser takes on ``records`` as one batch: Σ w ℓ / Σ w of the
    configured solver's per-record loss."""
    config = load_config(run_dir / "config.toml")
    solver = build_solver(config, ompo_envs.make(config.env.id), policy)
    terms = solver.loss(records)
    weights = torch.tensor([r.weight for r in records], dtype=terms.dtype)
    return (terms * weights).sum() / weights.sum(), solver


def _gradients(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def test_trainer_loss_and_gradients_are_ompo_trains(run_dir, tmp_path):
    from transformers import TrainingArguments

    dataset = records_dataset(run_dir / "iteration_1")
    rows = [
        json.loads(x)
        for x in (run_dir / "iteration_1/data/scored_records.jsonl").read_text().split("\n")
        if x
    ]
    assert len(dataset) == len(rows) > 0
    assert set(dataset["kind"]) == {"pair" if "dpo" in run_dir.parent.name else "regression"}
    # π^1, so that the log-ratios to the stored log π^0 are not zero
    policy = LMPolicy.from_pretrained(run_dir / "iteration_1")
    records = records_from_json(rows)
    reference, solver = _ompo_train_loss(run_dir, policy, records)
    reference.backward()
    expected = float(reference.detach())
    expected_gradients = _gradients(policy.model)
    policy.model.zero_grad(set_to_none=True)

    args = TrainingArguments(
        output_dir=str(tmp_path / "trainer"),
        per_device_train_batch_size=len(dataset),
        max_steps=2,
        learning_rate=1e-3,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        seed=0,
    )
    trainer = RecordsTrainer(
        policy,
        args,
        dataset,
        beta=solver.config.beta,
        label_smoothing=solver._label_smoothing(),
    )
    assert expected != 0.0
    # the trainer's own batch (every record, in its sampler's order): the same loss
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        assert abs(float(trainer.compute_loss(trainer.model, batch)) - expected) <= 1e-6
    # the records in file order: the same loss and the same gradients
    loss = trainer.compute_loss(trainer.model, collate_records(list(dataset)))
    assert abs(float(loss) - expected) <= 1e-6
    loss.backward()
    gradients = _gradients(policy.model)
    assert gradients.keys() == expected_gradients.keys()
    for name, value in gradients.items():
        torch.testing.assert_close(value, expected_gradients[name], rtol=0, atol=1e-6, msg=name)
    policy.model.zero_grad(set_to_none=True)

    before = {n: p.detach().clone() for n, p in policy.model.named_parameters()}
    trainer.train()
    first = next(h for h in trainer.state.log_history if "loss" in h)
    assert first["loss"] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    moved = max(
        float((p.detach() - before[n]).abs().max()) for n, p in policy.model.named_parameters()
    )
    assert moved > 0


def test_bad_inputs_say_what_to_do(run_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="score stage"):
        records_dataset(tmp_path)
    unscored = tmp_path / "records.jsonl"
    unscored.write_text((run_dir / "iteration_1/data/records.jsonl").read_text())
    with pytest.raises(ValueError, match=r"scored_records\.jsonl"):
        records_dataset(unscored)
    policy = LMPolicy.from_pretrained(run_dir / "iteration_1")
    with pytest.raises(ValueError, match="at least one record"):
        record_batch_loss(policy, [])
    records = records_from_json(
        [
            json.loads(dataset_row)
            for dataset_row in records_dataset(run_dir / "iteration_1")["record"]
        ]
    )
    if "dpo" in run_dir.parent.name:
        with pytest.raises(ValueError, match=r"\[solver\] beta"):
            record_batch_loss(policy, records)
    with pytest.raises(ValueError, match="sets model itself"):
        RecordsTrainer(policy, model=policy.model)
