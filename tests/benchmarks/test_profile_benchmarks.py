"""``ompo-bench profile``: time charged to package functions, grouped, at a tiny size."""

from __future__ import annotations

import cProfile
import json
import pstats

import numpy as np
import pytest

from benchmarks import profile_benchmarks
from benchmarks.cli import main


def _library_work(x):
    return np.linalg.svd(x)[1].sum()


def test_library_time_is_charged_to_the_package_function_that_called_it(monkeypatch):
    monkeypatch.setattr(profile_benchmarks, "PACKAGES", ("tests/benchmarks/",))
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(20):
        _library_work(np.random.default_rng(0).normal(size=(60, 60)))
    profiler.disable()
    stats = pstats.Stats(profiler)
    seconds = profile_benchmarks.attributed_self_time(stats)
    mine = {f: v for f, v in seconds.items() if f[2] == "_library_work"}
    assert mine and all(f[0].endswith("test_profile_benchmarks.py") for f in seconds)
    # numpy's own time (svd, sum) went up to _library_work: it holds most of what was measured
    measured = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    assert sum(mine.values()) > 0.5 * measured


def test_profile_tabular_groups_every_runs_time(tmp_path, capsys):
    assert main(["profile", "tabular", "--seed", "3", "--updates", "5", "--solvers", "OMPO",
                 "PCFR+", "--out", str(tmp_path)]) == 0  # fmt: skip
    result = json.loads(next(tmp_path.glob("profile_tabular__*.json")).read_text())
    assert set(result["solver_cpu_seconds_outside_contraction"]) == {"OMPO", "PCFR+"}
    assert result["runs"] == 4  # OMPO's three β and PCFR+
    assert result["contraction_cpu_seconds"] > 0
    shares = [g["share"] for g in result["groups"].values()]
    assert sum(shares) == pytest.approx(1.0)
    assert "pairwise contraction (batched matmul)" in result["groups"]
    assert "| group | CPU s | share |" in capsys.readouterr().out


def test_profile_lm_known_ne_reports_the_solvers_stages(tmp_path):
    pytest.importorskip("torch")
    result = profile_benchmarks.profile_lm_known_ne("TextRockPaperScissors-v0", "OMPO", 1)
    assert set(result["stage_shares"]) == {"generation", "oracle", "scoring", "optimizer", "rest"}
    assert sum(result["stage_shares"].values()) == pytest.approx(1.0)
    assert "optimiser (backward, clip, step)" in result["groups"]
