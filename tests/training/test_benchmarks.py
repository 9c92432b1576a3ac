"""The prepared GPU benchmark runs end to end (on a CPU, with the tiny shape)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("accelerate")  # the "train" extra
pytest.importorskip("sentence_transformers")  # the embedding oracle


def test_gpu_train_iteration_writes_its_documented_format(tmp_path):
    from benchmarks.gpu_train_iteration import STAGES, main

    target = tmp_path / "result.json"
    args = ["--shape", "tiny", "--vocab-size", "600", "--episodes", "2", "--max-new-tokens", "4"]
    main([*args, "--out", str(tmp_path / "run"), "--json", str(target)])
    result = json.loads(target.read_text())
    assert set(result) == {"device", "torch", "model", "settings", "stages", "totals"}
    assert list(result["stages"]) == list(STAGES)
    for stage in result["stages"].values():
        assert stage["seconds"] > 0
        assert stage["peak_gpu_gib"] is None  # CPU
    assert result["model"]["parameters"] > 0
    assert result["settings"]["num_answers"] == 5
    # K = 5 answers per state: at most 10 distinct pairs each (identical answers are not compared)
    assert 0 < result["totals"]["oracle_pairs"] <= 10 * result["settings"]["states"]
    assert (tmp_path / "run" / "iteration_1" / "config.json").exists()
