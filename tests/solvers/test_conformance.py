"""Every registered solver passes the public conformance test; the test catches broken solvers."""

from __future__ import annotations

import numpy as np
import pytest

import solvers
from ompo_envs.tabular import uniform_policy
from solvers.testing import ConformanceError, default_problem, solver_api_test


@pytest.mark.parametrize("name", solvers.list_solvers())
def test_every_registered_solver_follows_the_protocol(name):
    solver_api_test(solvers.get_solver(name), strict=True)


class _Minimal:
    """The minimal plug-in contract: Cls(game, **fields), step(), policy as a table."""

    def __init__(self, game, beta=1.0):
        self.policy = uniform_policy(game)

    def step(self):
        return {}


class _Broken(_Minimal):
    def step(self):
        self.policy = self.policy * 2.0  # rows no longer sum to 1
        return {}


class _NaNMetric(_Minimal):
    def step(self):
        return {"kl_step": float("nan")}


def test_minimal_plug_in_passes_and_broken_ones_fail():
    solver_api_test(_Minimal)
    with pytest.raises(ConformanceError, match="not a tabular policy"):
        solver_api_test(_Broken)
    with pytest.raises(ConformanceError, match="finite number"):
        solver_api_test(_NaNMetric)
    with pytest.raises(ConformanceError, match="_Minimal"):
        solver_api_test(_Minimal, strict=True)


def test_registry_resolves_names_paths_and_rejects_unknown(tmp_path, monkeypatch):
    assert solvers.get_solver("OMPO") is solvers.OMPO
    assert solvers.get_solver("solvers.mpo:MPO") is solvers.MPO
    (tmp_path / "plug.py").write_text("class Plug:\n    beta_grid = (1.0, 2.0)\n")
    assert solvers.get_solver(f"{tmp_path / 'plug.py'}:Plug").__name__ == "Plug"
    monkeypatch.chdir(tmp_path)
    assert solvers.solver_traits(solvers.get_solver("plug:Plug")).beta_grid == (1.0, 2.0)
    with pytest.raises(KeyError, match="registered: OMPO, MPO"):
        solvers.get_solver("PPO")
    with pytest.raises(ValueError, match="already registered"):
        solvers.register("OMPO", solvers.MPO)
    assert solvers.solver_traits(solvers.EGPO).cost_per_update == 2.0
    assert solvers.solver_traits(solvers.SampledOMPO).requires_model is False
    assert isinstance(
        default_problem(solvers.OMPO), type(solvers.OMPO(default_problem(solvers.OMPO)).game)
    )


def test_exact_step_is_all_or_nothing(monkeypatch):
    """An update whose Q is not finite raises and leaves the solver exactly as it was."""
    solver = solvers.OMPO(default_problem(solvers.OMPO), beta=1.0)
    solver.step()
    before = (solver.iteration, solver.policy.copy(), solver.average_policy.copy())
    previous = solver._previous_reward.copy()
    monkeypatch.setattr(solver, "q_values", lambda reward: (np.full_like(reward, np.nan), None))
    with pytest.raises(FloatingPointError, match="unchanged"):
        solver.step()
    assert solver.iteration == before[0]
    np.testing.assert_array_equal(solver.policy, before[1])
    np.testing.assert_array_equal(solver.average_policy, before[2])
    np.testing.assert_array_equal(solver._previous_reward, previous)
