"""``ompo-bench tabular`` end to end on a tiny setting: JSON, plot, table, summary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import cli, tabular


def test_checkpoints():
    assert tabular.checkpoints(12) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    points = tabular.checkpoints(1000)
    assert points[:10] == list(range(1, 11)) and {100, 125, 1000} <= set(points)


def test_updates_to_reach():
    points = [1, 2, 5, 10]
    assert tabular.updates_to_reach(np.array([0.5, 0.05, 0.2, 0.01]), points, 0.1) == 10
    assert tabular.updates_to_reach(np.array([0.5, 0.2, 0.2, 0.2]), points, 0.1) is None
    assert tabular.updates_to_reach(np.array([0.05, 0.05, 0.01, 0.01]), points, 0.1) == 1


def test_config_errors():
    with pytest.raises(ValueError, match="unknown solvers"):
        tabular.TabularBenchmarkConfig(solvers=("PPO",))
    with pytest.raises(ValueError, match="updates must be a positive integer"):
        tabular.TabularBenchmarkConfig(updates=0)


def test_tiny_run_writes_json_plot_and_table(tmp_path, capsys):
    status = cli.main(
        [
            "tabular",
            "--updates",
            "12",
            "--seeds",
            "3",
            "8",
            "--horizon",
            "3",
            "--solvers",
            "OMPO",
            "MPO",
            "FP",
            "--workers",
            "1",
            "--no-progress",
            "--out",
            str(tmp_path),
        ]
    )
    assert status == 0
    (json_path,) = tmp_path.glob("RandomGame-v0__fig1a__seeds3-8__*.json")
    assert json_path.with_suffix(".png").stat().st_size > 10_000
    results = json.loads(json_path.read_text())
    grids = tabular.SOLVER_GRIDS
    assert len(results["runs"]) == 2 * (len(grids["OMPO"][2]) + len(grids["MPO"][2]) + 1)
    assert set(results["summary"]["solvers"]) == {"OMPO", "MPO", "FP"}
    for run in results["runs"]:
        assert len(run["average"]) == len(run["last"]) == len(results["checkpoints"])
    out = capsys.readouterr().out
    assert "| OMPO |" in out and "not measured" in out
