"""Bad input gets a clear error and leaves the run folder resumable."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil

import pytest

from tests.training.conftest import (
    TINY,
    max_weight_difference,
    oracle_log,
    read_rows,
    run_in_process,
)
from training.cli import main

pytest.importorskip("accelerate")  # the "train" extra


def _snapshot(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lr=1e-3", "unknown key train.lr (did you mean 'learning_rate'?)"),
        ("trian.epochs=2", "unknown section [trian] (did you mean 'train'?)"),
        (
            "train.learning_rate=-1",
            "train.learning_rate = -1 is not allowed: expected a number > 0",
        ),
        ("train.learning_rate=fast", "train.learning_rate = 'fast' is not allowed"),
        ("train.batch_size=1.5", "train.batch_size = 1.5 is not allowed: expected an integer"),
        ("solver.method=ppo", "solver.method = 'ppo' is not allowed: expected one of 'ompo'"),
        ("solver.options={foo = 1}", "solver.options.foo is not allowed with solver.method"),
        ("solver.beta=0", "solver.beta = 0 is not allowed: expected a number > 0"),
        ("solver.num_answers=1", "solver.num_answers = 1 is not allowed: expected an integer >= 2"),
        ("model.dtype=int8", "model.dtype = 'int8' is not allowed"),
        ("logging.progress=yes", "logging.progress = 'yes' is not allowed: expected true or false"),
        ("env.reset_options=[]", "unknown key env.reset_options"),
        ("generation.top_p=1.5", "generation.top_p = 1.5 is not allowed: expected a number > 0"),
        ("oracle.factory=nocolon", "oracle.factory = 'nocolon' is not allowed"),
        ("trainlearning_rate=1", "must look like section.key=value"),
        ("env.id=RandomGame-v0", "is not a text env"),
        ("env.id=Nope-v0", "Unknown environment id 'Nope-v0'"),
        ("model.path=/no/such/model", "model.path = '/no/such/model' does not exist"),
        ("oracle.factory=no.such.module:f", "oracle.factory = 'no.such.module:f' cannot be"),
    ],
)
def test_bad_settings_are_refused_and_leave_the_run_untouched(
    override, message, reference_run, tmp_path, capsys
):
    run = tmp_path / "run"
    shutil.copytree(reference_run, run)
    before = _snapshot(run)
    assert main([str(run / "config.toml"), "--resume", override]) == 2
    assert message in capsys.readouterr().err
    assert _snapshot(run) == before
    # and a fresh run with the same mistake creates nothing
    fresh = tmp_path / "fresh"
    assert main([str(TINY), "--out", str(fresh), override]) == 2
    assert not fresh.exists()


def test_resume_refuses_changed_settings_and_existing_runs(
    reference_run, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("OMPO_TEST_ORACLE_LOG", str(tmp_path / "oracle.jsonl"))
    run = tmp_path / "run"
    shutil.copytree(reference_run, run)
    assert main([str(run / "config.toml"), "--resume", "train.learning_rate=0.5"]) == 1
    assert "differs from the run's stored config in ['train.learning_rate']" in (
        capsys.readouterr().err
    )
    assert main([str(TINY), "--out", str(run)]) == 1
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert main([str(TINY), "--out", str(tmp_path / "none"), "--resume"]) == 1
    assert "holds no run" in capsys.readouterr().err
    # a finished run resumes to a no-op, and may be extended by more iterations
    assert main([str(run / "config.toml"), "--resume"]) == 0
    assert not (run / "iteration_3").exists()
    assert main([str(run / "config.toml"), "--resume", "run.iterations=3"]) == 0
    assert (run / "iteration_3" / "config.json").exists()
    assert [r["iteration"] for r in read_rows(run / "iterations.jsonl")] == [0, 1, 2, 3]


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main([str(TINY), "--out", str(blocker / "run")]) == 1
    assert f"run.out = '{blocker / 'run'}' is not writable" in capsys.readouterr().err


def test_failing_oracle_stops_with_a_clear_error_then_resumes(
    reference_run, tmp_path, monkeypatch, capsys
):
    # Halfway through iteration 1's oracle batches (how many there are depends on the answers
    # sampled, so on the processor's kernels: read them off the uninterrupted run).
    logged = [json.loads(line) for line in oracle_log(reference_run).read_text().splitlines()]
    judge = sum(1 for batch in logged if batch["stage"] == "iteration_1/judge")
    assert judge >= 1
    monkeypatch.setenv("OMPO_TEST_ORACLE_FAIL_AT", f"iteration_1/judge:{(judge + 1) // 2}")
    out = tmp_path / "run"
    assert run_in_process(out) == 1
    failed = capsys.readouterr().err
    assert "stage iteration_1/judge failed" in failed
    assert "simulated oracle outage" in failed
    assert "is resumable: fix the cause and rerun with --resume" in failed
    monkeypatch.delenv("OMPO_TEST_ORACLE_FAIL_AT")
    assert run_in_process(out, "--resume") == 0
    assert max_weight_difference(out / "iteration_2", reference_run / "iteration_2") <= 1e-6


def test_a_model_or_device_this_machine_cannot_run_is_refused(tmp_path, capsys):
    """A GGUF that is not a causal LM, a non-GGUF file, a GPU on a CPU machine: exit 2, no run."""
    import torch

    from tests.lm.test_convert_gguf import write_gguf

    text = tmp_path / "model.gguf"
    text.write_text("not a model")
    cases = [
        ([f"model.path={text}"], f"model.path = '{text}': '{text}' is not a GGUF file"),
        (
            ["model.path=tiny", "model.gguf_file=m.gguf"],
            "model.gguf_file = 'm.gguf' is not allowed",
        ),
        ([f"model.path={tmp_path}", "model.gguf_file=none.gguf"], "no GGUF file at"),
    ]
    if importlib.util.find_spec("gguf") is not None:
        t5 = write_gguf(tmp_path / "t5.gguf", "t5")
        cases.append(([f"model.path={t5}"], "architecture 't5', which is not a causal language"))
    if not torch.cuda.is_available():
        cases.append(
            (
                ["oracle.kind=embedding", "oracle.device=cuda"],
                "oracle.device = 'cuda': device 'cuda' asks for a CUDA GPU, but this machine "
                "has none",
            )
        )
    for overrides, message in cases:
        fresh = tmp_path / "fresh"
        assert main([str(TINY), "--out", str(fresh), *overrides]) == 2, overrides
        assert message in capsys.readouterr().err
        assert not fresh.exists()
