"""The committed run behind README's tabular table, and its replay on this processor.

``benchmarks/fig1a_tabular.json`` is the output of ``ompo-bench tabular`` with its defaults (the
command README names). These tests check that README shows its table, that it records the
numeric environment it ran in, and that a slice of it — three solvers on the smallest game,
100 updates — replays on this machine's kernels within the first-order rounding bound of
``tests/numerics.py``, however this processor's BLAS orders its sums.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import tabular
from ompo_envs.tabular import random_game
from tests.numerics import rounding_tolerance

RESULTS = Path(tabular.__file__).with_name("fig1a_tabular.json")
README = Path(__file__).parents[2] / "README.md"


@pytest.fixture(scope="module")
def results():
    return json.loads(RESULTS.read_text())


def test_the_committed_run_is_the_defaults_and_records_its_environment(results):
    config = tabular.TabularBenchmarkConfig()
    assert results["config"]["solvers"] == [tabular.display_name(s) for s in config.solvers]
    assert results["config"]["updates"] == config.updates
    assert results["config"]["seeds"] == list(config.seeds)
    environment = results["environment"]
    assert environment["cpu"] and environment["versions"]["numpy"]
    assert any(lib["architecture"] for lib in environment["blas"] if lib["user_api"] == "blas")
    assert RESULTS.with_suffix(".png").is_file()


def test_readme_shows_its_table(results):
    """Every row of the run's table is in README (whose SPO row comes from --solvers SPO)."""
    readme = README.read_text()
    for row in tabular.table_markdown(results).splitlines():
        assert row in readme, row


@pytest.mark.parametrize(("solver", "beta"), [("OMPO", 20.0), ("MPO", 1.0), ("PCFR+", None)])
def test_a_slice_replays_on_this_processor_within_the_rounding_bound(results, solver, beta):
    seed, updates = 3, 100  # the smallest game (S·A = 164)
    committed = next(
        r
        for r in results["runs"]
        if r["solver"] == solver and r["beta"] == beta and r["seed"] == seed
    )
    horizon = results["config"]["horizon"]
    replay = tabular.run_one(solver, committed["settings"], seed, horizon, updates)
    game = random_game(seed, horizon=horizon)
    tolerance = rounding_tolerance(game, updates, beta or 1.0)
    index = {t: i for i, t in enumerate(results["checkpoints"])}
    for kind in ("average", "last"):
        for t, value in zip(tabular.checkpoints(updates), replay[kind], strict=True):
            assert value == pytest.approx(committed[kind][index[t]], rel=0, abs=tolerance), (
                kind,
                t,
            )
