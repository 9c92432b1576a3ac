"""What the fuzz suite (and the finding tests of issue 13) share.

* :func:`fuzz` — the one way to declare a fuzz test: deterministic hypothesis settings
  (derandomized, no deadline, no example database) with an explicit number of examples, and a
  count of the generated cases that ``tests/fuzz/conftest.py`` prints at the end of the run.
* :func:`env_state` — everything an env could change (its episode, live agents and random
  stream) as a comparable value: a rejected call must leave it equal.
* :func:`canonical` / :func:`assert_same` — compare nested results that hold NumPy arrays.
* :func:`make_env` — build any registered env with its default settings, the default PairRM oracle
  replaced by a cheap deterministic one (no model, no download).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, settings

import ompo_envs
import ompo_envs.text.base as text_base
from ompo_envs.oracles.base import PreferenceOracle

#: Generated cases run so far in this process (read by conftest.py's summary hook).
CASES = {"cases": 0}

#: Exceptions a rejected call may raise: the documented ones. (NotImplementedError and
#: RecursionError are RuntimeErrors too, but never a documented answer to bad input.)
DOCUMENTED = (TypeError, ValueError, RuntimeError)
UNDOCUMENTED = (NotImplementedError, RecursionError)


def fuzz(max_examples: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a test under ``@given``: fixed settings, ``max_examples`` cases, all counted."""

    def decorate(test: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(test)
        def counted(*args: Any, **kwargs: Any) -> Any:
            CASES["cases"] += 1
            return test(*args, **kwargs)

        return settings(
            max_examples=max_examples,
            derandomize=True,
            deadline=None,
            database=None,
            print_blob=False,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.filter_too_much,
                HealthCheck.function_scoped_fixture,
            ],
        )(counted)

    return decorate


def rejected(error: BaseException) -> bool:
    """Whether ``error`` is a documented rejection of bad input."""
    return isinstance(error, DOCUMENTED) and not isinstance(error, UNDOCUMENTED)


def canonical(value: Any) -> Any:
    """Return ``value`` as nested tuples of plain values, comparable with ``==``."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return ("dict", tuple(sorted((repr(k), canonical(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(canonical(v) for v in value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = tuple(
            (f.name, canonical(getattr(value, f.name))) for f in dataclasses.fields(value)
        )
        return (type(value).__name__, fields)
    if isinstance(value, str):
        return str(value)  # a TextObservation compares as its text
    return value


def assert_same(a: Any, b: Any) -> None:
    """Assert that two nested results are equal (arrays compared by value, dtype and shape)."""
    assert canonical(a) == canonical(b)


def env_state(env: Any) -> Any:
    """Return the env's episode, live agents and random-stream state as a comparable value.

    The value is built of immutable parts, so a later change to the env cannot change it.
    """
    try:
        episode = canonical(env.episode)
    except RuntimeError:  # no episode yet
        episode = None
    return episode, tuple(env.agents), canonical(env.np_random.bit_generator.state)


class CheapOracle(PreferenceOracle):
    """P(a ≻ b) = σ((|a| − |b|) / 20): longer answers win. Deterministic, no model."""

    def _ordered_logits(self, contexts, first, second):  # type: ignore[no-untyped-def]
        return np.array([(len(a) - len(b)) / 20.0 for a, b in zip(first, second, strict=True)])


@functools.cache
def make_env(env_id: str) -> Any:
    """Return a registered env with default settings (cached: deep-copy it before use).

    An env whose default oracle is PairRM (a download) gets :class:`CheapOracle` instead; every
    other setting is the env's default.
    """
    oracle = CheapOracle(batch_size=4096)
    with mock.patch.object(text_base, "load_default_oracle", lambda: oracle):
        return ompo_envs.make(env_id)
