"""Every registered solver under generated settings: built and stepped, or refused cleanly.

For each name in ``solvers.list_solvers()`` (never a hand list), configs get generated field
values (good, zero, negative, NaN, inf, huge finite, strings, booleans, None, unknown fields) and
initial policies generated tables. Construction either succeeds with settings that are what the
config promises (finite real numbers, integers where counts are meant) or raises TypeError /
ValueError. A built solver then steps: each step returns finite metrics and keeps a finite
policy, or raises FloatingPointError saying the solver is unchanged — and the pickled solver is
then byte-identical to what it was before the step (issue 13, finding 8).
"""

from __future__ import annotations

import dataclasses
import math
import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import solvers
from solvers.testing import default_problem
from tests.fuzz.support import fuzz, rejected
from tests.fuzz.test_numbers import arrays

NAMES = solvers.list_solvers()
NUMBERS = (0.0, 0.1, 1.0, 2, -1.0, 1e-300, 1e300, 1.7976931348623157e308, float("nan"))
OTHER = (float("inf"), "1", True, None, np.float64(0.5), np.int64(1), 1 + 0j)
#: Counts (sample-based solvers' num_samples / num_episodes) kept small: a step stays cheap.
COUNTS = (1, 2, 0, -1, 1.5, True, "2", np.int64(2), None)
CHOICES = ("standard", "soft", "other", "", None, 1)


def _fields(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    config = getattr(cls, "config_class", None)
    if config is None:
        return st.just({})
    names = {f.name: f for f in dataclasses.fields(config)}
    required: dict[str, st.SearchStrategy] = {}  # counts always given: the defaults cost more
    optional: dict[str, st.SearchStrategy] = {"not_a_field": st.just(1.0)}
    for name, field in names.items():
        default = field.default
        if name in ("num_samples", "num_episodes"):
            required[name] = st.sampled_from(COUNTS)
        elif name == "seed":
            optional[name] = st.sampled_from(COUNTS)
        elif isinstance(default, str):
            optional[name] = st.sampled_from((default, *CHOICES))
        else:
            optional[name] = st.sampled_from((default, *NUMBERS, *OTHER))
    return st.fixed_dictionaries(required, optional=optional)


def _state(solver: Any) -> bytes:
    return pickle.dumps({k: v for k, v in vars(solver).items() if k != "game"})


def _check_settings(config: Any) -> None:
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, float):
            assert math.isfinite(value), f"{field.name} = {value}"
        if field.name in ("num_samples", "num_episodes"):
            assert isinstance(value, int | np.integer) and not isinstance(value, bool)
            assert value >= 1


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
@fuzz(max_examples=50)
def test_solvers_are_built_and_stepped_or_refused(name, data):
    cls = solvers.get_solver(name)
    problem = default_problem(cls)
    fields = data.draw(_fields(cls), label="fields")
    if cls.requires_model and data.draw(st.booleans(), label="with initial policy"):
        shape = problem.policy_shape
        fields["initial_policy"] = data.draw(arrays(shape), label="initial_policy")
    try:
        solver = cls(problem, **fields)
    except Exception as error:
        assert rejected(error) and not isinstance(error, RuntimeError), repr(error)
        return
    config = getattr(solver, "config", None)
    if config is not None:
        _check_settings(config)
    for _ in range(2):
        before = _state(solver)
        try:
            metrics = solver.step()
        except FloatingPointError as error:
            assert "unchanged" in str(error)
            assert _state(solver) == before
            continue
        assert all(math.isfinite(v) for v in metrics.values()), metrics
        assert np.all(np.isfinite(np.asarray(solver.policy)))
