"""benchmarks/smollm2_cpu_iteration.py builds the ompo-bench commands it measures correctly."""

from __future__ import annotations

from pathlib import Path

from benchmarks import cli
from benchmarks.smollm2_cpu_iteration import winrate_commands
from training.configs import shipped_config


def test_both_winrate_commands_parse_and_swap_the_models(tmp_path, monkeypatch):
    config = shipped_config("smollm2-cpu-mtbench101-ompo")
    iteration, model = tmp_path / "run" / "iteration_1", "/models/base"
    commands = winrate_commands(config, iteration, model, tmp_path)
    parsed = []
    monkeypatch.setattr(cli.winrate, "run", lambda args: parsed.append(args) or 0)
    for argv in commands.values():
        assert cli.main(argv) == 0
    assert list(commands) == ["iteration_1_vs_base", "base_vs_iteration_1"]
    forward, swapped = parsed
    assert (forward.model_a, forward.model_b) == ([str(iteration)], model)
    assert (swapped.model_a, swapped.model_b) == ([model], str(iteration))
    assert (forward.limit, forward.oracle, forward.max_new_tokens) == (3, "embedding", 48)
    assert Path(swapped.cache) == tmp_path / "winrate" / "cache.sqlite"
    assert Path(forward.out) == tmp_path / "winrate" and forward.cache is None
