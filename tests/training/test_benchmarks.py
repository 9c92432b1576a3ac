"""The prepared GPU benchmark runs end to end on a CPU (``--device cpu``), so that it cannot rot."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("accelerate")  # the "train" extra
pytest.importorskip("sentence_transformers")  # the embedding oracle

TINY = ["--episodes", "2", "--max-new-tokens", "4", "--device", "cpu"]


def test_gpu_train_iteration_writes_its_documented_format(tmp_path, capsys):
    from benchmarks.gpu_train_iteration import STAGES, main

    target = tmp_path / "result.json"
    args = ["--model", "random", "--shape", "tiny", "--vocab-size", "600", *TINY]
    main([*args, "--out", str(tmp_path / "runs"), "--json", str(target)])
    result = json.loads(target.read_text())
    assert set(result) == {"device", "torch", "environment", "runs"}
    assert result["environment"]["versions"]["torch"]
    (run,) = result["runs"]
    assert set(run) == {"model", "settings", "stages", "peak_device_gib", "totals", "wall_seconds"}
    assert list(run["stages"]) == list(STAGES)
    for stage in run["stages"].values():
        assert stage["seconds"] > 0
        assert stage["peak_gpu_gib"] is None  # CPU
    assert run["peak_device_gib"] is None
    assert run["model"]["argument"] == "random" and run["model"]["shape"] == "tiny"
    assert run["model"]["parameters"] > 0 and run["model"]["dtype"] == "float32"
    settings = run["settings"]
    assert settings["num_answers"] == 5 and settings["generation_backend"] == "transformers"
    stages = run["stages"]
    for name in ("generate", "score", "train"):
        assert stages[name]["tokens"] > 0
        rate = stages[name]["tokens"] / stages[name]["seconds"]
        assert stages[name]["tokens_per_s"] == pytest.approx(rate, rel=1e-3)  # seconds rounded
    # the root episodes (both players answer at each state), then K = 5 answers at every
    # player_0 state: 7 answers per state, each of 1 to max_new_tokens = 4 tokens
    answers = 7 * settings["states"]
    assert answers <= stages["generate"]["tokens"] <= 4 * answers
    assert stages["score"]["tokens"] <= stages["train"]["tokens"]  # one epoch; distinct segments
    # K = 5 answers per state: at most 10 distinct pairs each (identical answers are not compared)
    pairs = run["totals"]["oracle_pairs"]
    assert 0 < pairs <= 10 * settings["states"] and stages["judge"]["pairs"] == pairs
    assert (tmp_path / "runs" / "0-random" / "iteration_1" / "config.json").exists()
    assert "| generate |" in capsys.readouterr().out


def test_gpu_train_iteration_refuses_a_missing_gpu_or_model(tmp_path):
    import torch

    from benchmarks.gpu_train_iteration import main

    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="CUDA GPU"):
            main(["--device", "cuda", "--json", str(tmp_path / "x.json")])
    with pytest.raises(SystemExit, match="neither smollm2, random"):
        main(["--model", str(tmp_path / "nowhere"), *TINY, "--json", str(tmp_path / "x.json")])
