"""Kill a run with SIGKILL at every stage boundary and inside stages; --resume must reproduce it."""

from __future__ import annotations

import collections
import json

import pytest

from tests.training.conftest import ForkingRunner, max_weight_difference, oracle_log, read_rows

pytest.importorskip("accelerate")  # the "train" extra

BOUNDARIES = [
    "warm_start#done",
    "iteration_1/generate#done",
    "iteration_1/judge#done",
    "iteration_1/score#done",
    "iteration_1/train#done",
    "iteration_1/save#done",
    "iteration_1/evaluate#done",
]
INSIDE = [
    "iteration_2/generate#chunk0",
    "iteration_2/generate#chunk2",
    "iteration_2/score#chunk0",
    "iteration_2/train#step1",
]


def _batches(path):
    """The oracle log: one {"stage", "keys"} per batch (tests/training/oracles.py)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_killed_anywhere_resumes_to_the_uninterrupted_run(reference_run, tmp_path):
    reference_batches = _batches(oracle_log(reference_run))
    # Also kill inside an oracle call of iteration 2's judge: after the model answered, before
    # the answers were stored (the one window in which an answer can be lost), halfway through
    # its batches (8 to 66 of them: how many depends on the answers sampled, so on the
    # processor's kernels).
    judge_2 = [b for b in reference_batches if b["stage"] == "iteration_2/judge"]
    assert len(judge_2) >= 2
    kill_at = (len(judge_2) + 1) // 2
    out = tmp_path / "run"
    env = {
        "OMPO_TRAIN_FAULT": ",".join(BOUNDARIES + INSIDE),
        "OMPO_TEST_ORACLE_KILL_AT": f"iteration_2/judge:{kill_at}",
    }
    expected_kills = len(BOUNDARIES) + len(INSIDE) + 1
    codes, killed_in_judge_2 = [], []
    with ForkingRunner(out, env) as runner:
        for attempt in range(expected_kills + 2):
            if attempt == 3:  # a write torn by a kill leaves a temporary file behind
                (out / "iteration_1" / "data").mkdir(parents=True, exist_ok=True)
                torn = out / "iteration_1" / "data" / "records.jsonl.tmp-0badc0de"
                torn.write_text('{"kind"')
            result = runner.run(*(["--resume"] if attempt else []))
            codes.append(result.returncode)
            if result.returncode == 0:
                break
            assert result.returncode == -9, result.stderr[-3000:]
            manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
            completed = manifest["completed"]
            killed_in_judge_2.append(
                "iteration_2/generate" in completed and "iteration_2/judge" not in completed
            )
    assert codes == [-9] * expected_kills + [0]
    # one kill came inside iteration 2's judge (the oracle's), the others where named
    assert killed_in_judge_2.count(True) == 1

    for t in (0, 1, 2):
        difference = max_weight_difference(out / f"iteration_{t}", reference_run / f"iteration_{t}")
        assert difference <= 1e-6, (t, difference)
    for t in (1, 2):
        for name in ("rollouts", "records", "scored_records"):
            path = f"iteration_{t}/data/{name}.jsonl"
            assert read_rows(out / path) == read_rows(reference_run / path), path
        # OMPO's stored answers of π^t, carried to iteration t + 1
        path = f"iteration_{t}/solver_state.json"
        assert read_rows(out / path) == read_rows(reference_run / path), path
    assert read_rows(out / "steps.jsonl") == read_rows(reference_run / "steps.jsonl")
    assert not list(out.rglob("*.tmp-*"))

    # No oracle call repeated: the model saw exactly the pairs of the uninterrupted run, plus
    # once more the pairs of the one batch whose answers were lost to the kill inside the call.
    batches = _batches(oracle_log(out))
    asked = collections.Counter(key for batch in batches for key in batch["keys"])
    reference = collections.Counter(key for batch in reference_batches for key in batch["keys"])
    killed = [b for b in batches if b["stage"] == "iteration_2/judge"][kill_at - 1]
    assert asked - reference == collections.Counter(killed["keys"])
    assert reference - asked == collections.Counter()
    assert len(batches) == len(reference_batches) + 1
