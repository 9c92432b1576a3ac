"""``ompo-bench tabular`` end to end: built-ins and the README's own plug-in solver."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from benchmarks import cli, tabular
from benchmarks.rounding_sensitivity import perturbed_contractions
from ompo_envs.tabular import contraction_rounding_bound, random_game
from solvers import OMPO
from solvers.testing import solver_api_test
from tests.numerics import rounding_tolerance

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "### Benchmark your solver against OMPO"


def test_checkpoints():
    assert tabular.checkpoints(12) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    points = tabular.checkpoints(1000)
    assert points[:10] == list(range(1, 11)) and {100, 125, 1000} <= set(points)


def test_updates_to_reach():
    points = [1, 2, 5, 10]
    assert tabular.updates_to_reach(np.array([0.5, 0.05, 0.2, 0.01]), points, 0.1) == 10
    assert tabular.updates_to_reach(np.array([0.5, 0.2, 0.2, 0.2]), points, 0.1) is None
    assert tabular.updates_to_reach(np.array([0.05, 0.05, 0.01, 0.01]), points, 0.1) == 1


def test_config_and_grid_errors():
    with pytest.raises(ValueError, match="no solver named 'PPO'; registered: OMPO"):
        tabular.TabularBenchmarkConfig(solvers=("PPO",))
    with pytest.raises(ValueError, match="updates must be a positive integer"):
        tabular.TabularBenchmarkConfig(updates=0)
    with pytest.raises(ValueError, match="not run"):
        tabular.TabularBenchmarkConfig(solvers=("OMPO",), grids={"MPO": {"beta": (1.0,)}})
    assert tabular.parse_grid("My:beta=1,2.5,x") == ("My", "beta", (1, 2.5, "x"))
    with pytest.raises(SystemExit):
        cli.main(["tabular", "--grid", "beta=1"])


def _readme_example() -> tuple[str, list[str]]:
    """The README's plug-in solver file and its ompo-bench command (as argv)."""
    text = README.read_text()
    section = text[text.index(SECTION) :]
    code = re.search(r"```python\n(# my_solver\.py.*?)```", section, re.S).group(1)
    command = re.search(r"^(ompo-bench tabular --solvers .*?)$", section, re.M).group(1)
    return code, shlex.split(command.split("#")[0])[1:]


def test_readme_plug_in_runs_through_ompo_bench(tmp_path, monkeypatch):
    """The README's solver, in the user's own file outside the package, with only __init__,
    step() and policy, runs beside the built-ins and appears in the JSON, table and plot."""
    code, argv = _readme_example()
    (tmp_path / "my_solver.py").write_text(code)
    monkeypatch.chdir(tmp_path)
    quick = ["--updates", "12", "--seeds", "3", "8", "--horizon", "3", "--workers", "1"]
    assert cli.main([*argv, *quick, "--no-progress", "--out", str(tmp_path / "out")]) == 0
    (json_path,) = (tmp_path / "out").glob("RandomGame-v0__fig1a__seeds3-8__*.json")
    assert json_path.with_suffix(".png").stat().st_size > 10_000
    results = json.loads(json_path.read_text())
    name = next(spec for spec in argv if ":" in spec and "=" not in spec).rpartition(":")[2]
    assert results["config"]["solvers"] == ["OMPO", "MPO", name]
    mine = [run for run in results["runs"] if run["solver"] == name]
    assert sorted({run["beta"] for run in mine}) == [0.5, 1.0, 2.0] and len(mine) == 3 * 2
    for run in results["runs"]:
        assert len(run["average"]) == len(run["last"]) == len(results["checkpoints"])
    assert "comparisons" not in results["summary"]  # OMPO@100 vs MPO@1000 needs 1,000 updates
    legend = [t.get_text() for t in tabular.figure(results).axes[1].get_legend().get_texts()]
    assert any(label.startswith(name) for label in legend)
    from solvers import get_solver

    solver_api_test(get_solver(f"my_solver:{name}"))


def _ompo_run(updates: int, perturbation: float = 0.0):
    """OMPO β = 20 on seed 3, H = 3; every contraction scaled by 1 ± ``perturbation``."""
    with perturbed_contractions(perturbation):
        solver = OMPO(random_game(3, horizon=3), beta=20.0)
        for _ in range(updates):
            solver.step()
        return solver, solver.evaluate()["exploitability_average"]


def test_the_rounding_tolerance_covers_a_rounding_error_in_every_contraction():
    """Perturbing every contraction by the largest rounding difference stays inside it."""
    reference = _ompo_run(12)[1]
    game = random_game(3, horizon=3)
    bound = contraction_rounding_bound(game)
    moved = abs(_ompo_run(12, perturbation=bound)[1] - reference)
    assert 0 < moved <= rounding_tolerance(game, 12, 20.0)


def test_built_in_results_equal_the_solver_run_directly_to_rounding(tmp_path):
    """The harness adds nothing to a built-in's curves: its own evaluate()'s numbers, up to the
    rounding of contractions batched with the other runs' (another matrix shape)."""
    config = tabular.TabularBenchmarkConfig(
        updates=12, seeds=(3,), horizon=3, solvers=("OMPO", "EGPO", "FP"), workers=1
    )
    results = tabular.run(config, progress=False)
    assert len(results["runs"]) == 3 + 3 + 1
    assert results["cost_per_update"] == {"OMPO": 1.0, "EGPO": 2.0, "FP": 1.0}
    solver, alone = _ompo_run(12)
    run = next(r for r in results["runs"] if r["solver"] == "OMPO" and r["beta"] == 20.0)
    assert run["average"][-1] == pytest.approx(
        alone, rel=0, abs=rounding_tolerance(solver.game, 12, 20.0)
    )
    assert "| EGPO | " in tabular.table_markdown(results)


def test_the_same_run_twice_in_one_process_records_bitwise_the_same_numbers():
    """The one bitwise promise of the harness: the same code path, operations and order."""
    config = tabular.TabularBenchmarkConfig(
        updates=8, seeds=(3,), horizon=3, solvers=("OMPO", "MPO", "PCFR+"), workers=1
    )
    first, second = tabular.run(config, progress=False), tabular.run(config, progress=False)
    assert [(r["average"], r["last"]) for r in first["runs"]] == [
        (r["average"], r["last"]) for r in second["runs"]
    ]


def test_lockstep_and_one_job_per_run_record_the_same_numbers_to_rounding(tmp_path, capsys):
    """``ompo-bench tabular-speed`` runs both code paths; batching changes no recorded number
    beyond the rounding of a matmul of another shape (six updates: no dynamics to amplify it)."""
    argv = ["tabular-speed", "--updates", "6", "--seeds", "3", "--out", str(tmp_path)]
    assert cli.main([*argv, "--solvers", "OMPO", "EGPO", "FP", "PCFR+"]) == 0
    (path,) = tmp_path.glob("RandomGame-v0__tabular-speed__seeds3-3__*.json")
    report = json.loads(path.read_text())
    tolerance = rounding_tolerance(random_game(3), 6, max(OMPO.beta_grid))
    assert report["largest_absolute_difference"] <= tolerance
    by_solver = report["largest_difference_by_solver"]
    assert set(by_solver) == {"OMPO", "EGPO", "FP", "PCFR+"}
    largest = max(max(row.values()) for row in by_solver.values())
    assert largest == report["largest_absolute_difference"]  # the same recorded floats
    assert report["environment"]["blas"] and report["environment"]["versions"]["numpy"]
    assert report["cpu_ratio"] > 0 and "speed-up" in capsys.readouterr().out
    assert report["contraction_budget_cpu_seconds"] > 0
    assert set(report["ratio_to_one_contraction_per_update"]) == {"one_job_per_run", "lockstep"}
    assert all(r > 0 for r in report["ratio_to_one_contraction_per_update"].values())


def test_rounding_sensitivity_reports_how_far_a_perturbation_moves_the_curves(tmp_path, capsys):
    from benchmarks import rounding_sensitivity

    argv = ["--solver", "OMPO", "--beta", "20", "--seed", "3", "--updates", "12"]
    assert rounding_sensitivity.main([*argv, "--epsilon", "1e-12", "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("rounding-sensitivity__OMPO__seed3__*.json")
    report = json.loads(path.read_text())
    assert 0 < report["average_moved"] < 1e-10 and report["environment"]["versions"]["numpy"]
    assert report["last_amplification"] == report["last_moved"] / 1e-12
    assert "last iterate" in capsys.readouterr().out
    unperturbed = rounding_sensitivity.sensitivity("OMPO", {"beta": 20.0}, 3, 5, 0.0)
    assert unperturbed["average_moved"] == unperturbed["last_moved"] == 0.0
