"""A solver step is all or nothing (issue 13, finding 8): a failed update changes nothing.

"Nothing" is checked whole: the pickled solver (iterates, averages, carried state such as OMPO's
r^{t−1}, the sampler's random streams, env copies and counters) is byte-identical after a
failed step, so the next update is exactly the one the solver would have made.
"""

from __future__ import annotations

import dataclasses
import pickle
import sys

import numpy as np
import pytest

import solvers
from solvers.testing import default_problem

HUGE = sys.float_info.max  # finite, but β·Q overflows float64 for any Q > 1


def _state(solver):
    return pickle.dumps({k: v for k, v in vars(solver).items() if k != "game"})


def _with_beta(name):
    cls = solvers.get_solver(name)
    config = getattr(cls, "config_class", None)
    return config is not None and "beta" in {f.name for f in dataclasses.fields(config)}


@pytest.mark.parametrize("name", [n for n in solvers.list_solvers() if _with_beta(n)])
def test_a_huge_finite_beta_never_poisons_the_solver(name):
    cls = solvers.get_solver(name)
    fields = {"beta": HUGE}
    if "alpha" in {f.name for f in dataclasses.fields(cls.config_class)}:
        fields["alpha"] = 0.0  # β·α <= 1 is required where α mixes in the reference
    solver = cls(default_problem(cls), **fields)
    for _ in range(3):
        before = _state(solver)
        try:
            metrics = solver.step()
        except FloatingPointError as error:
            assert "unchanged" in str(error) and "beta" in str(error)
            assert _state(solver) == before
            continue
        assert all(np.isfinite(v) for v in metrics.values())
        assert np.all(np.isfinite(np.asarray(solver.policy)))


@pytest.mark.parametrize("name", ["SampledMPO", "EGPO"])
def test_the_overflow_is_reported_as_such(name):
    """Before the fix: SampledMPO's failed step had advanced its sampler; EGPO said ValueError."""
    cls = solvers.get_solver(name)
    solver = cls(default_problem(cls), beta=HUGE)
    before = _state(solver)
    with pytest.raises(FloatingPointError, match=r"overflowed.*unchanged.*beta"):
        solver.step()
    assert _state(solver) == before


@pytest.mark.parametrize("name", ["SampledOMPO", "SampledMPO", "SampledSPPO"])
def test_a_sampled_update_that_fails_late_rolls_the_sampler_back(name, monkeypatch):
    """An error after every rollout of the update (here: in the policy step) undoes them all."""
    cls = solvers.get_solver(name)
    solver, fresh = cls(default_problem(cls)), cls(default_problem(cls))
    solver.step(), fresh.step()
    before = _state(solver)

    def failing(*args, **kwargs):
        raise RuntimeError("the policy could not be updated")

    monkeypatch.setattr(type(solver.policy), "updated", failing)
    with pytest.raises(RuntimeError, match="could not be updated"):
        solver.step()
    monkeypatch.undo()
    assert _state(solver) == before
    assert solver.step() == fresh.step()
    np.testing.assert_array_equal(np.asarray(solver.policy), np.asarray(fresh.policy))


def test_an_iterate_weight_that_fails_changes_nothing():
    class Weighted(solvers.OMPO):
        def iterate_weight(self, t):
            return 1.0 if t < 3 else float("nan")

    solver = Weighted(default_problem(solvers.OMPO), beta=1.0)
    solver.step()
    before = _state(solver)
    with pytest.raises(ValueError, match="weight"):
        solver.step()
    assert _state(solver) == before
