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
    parsed = {}
    for name, argv in commands.items():
        monkeypatch.setattr(cli.winrate, "run", lambda args: parsed.setdefault(name, args) and 0)
        assert cli.main(argv) == 0
    forward, swapped = parsed["iteration_1_vs_base"], parsed["base_vs_iteration_1"]
    assert (forward.model_a, forward.model_b) == ([str(iteration)], model)
    assert (swapped.model_a, swapped.model_b) == ([model], str(iteration))
    assert (forward.limit, forward.oracle, forward.max_new_tokens) == (3, "embedding", 48)
    assert Path(swapped.cache) == tmp_path / "winrate" / "cache.sqlite"
    assert Path(forward.out) == tmp_path / "winrate" and forward.cache is None
