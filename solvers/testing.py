"""``solver_api_test``: the conformance check of the solver protocol (:mod:`solvers.base`).

A newcomer checks a solver class in one line, before benchmarking it::

    from solvers.testing import solver_api_test
    solver_api_test(MySolver)                  # the minimal contract ompo-bench needs
    solver_api_test(MySolver, strict=True)     # the full protocol of this package's solvers

This repo's own tests call it for every registered solver.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

import ompo_envs
from ompo_envs.policies import as_policy
from ompo_envs.tabular import TabularGame, exploitability, policy_table
from ompo_envs.testing import ConformanceError, require
from solvers.base import METRICS
from solvers.registry import solver_traits

__all__ = ["ConformanceError", "default_problem", "solver_api_test"]


def default_problem(cls: type) -> Any:
    """A small problem for ``cls``: a 3-state, 2-action, 2-stage random game (or its env).

    Solvers that declare ``requires_model = False`` (they learn through the env API) get the
    env ``RandomGame-v0`` of that game; the others get the :class:`TabularGame` itself.
    """
    env = ompo_envs.make(
        "RandomGame-v0", game_seed=3, num_states=3, num_actions=2, horizon=2, num_initial_states=1
    )
    return env if not solver_traits(cls).requires_model else env.unwrapped.game


def solver_api_test(
    cls: type,
    game_or_env: Any = None,
    *,
    steps: int = 3,
    strict: bool = False,
    **fields: Any,
) -> None:
    """Check that ``cls`` follows the solver protocol; raise :class:`ConformanceError` if not.

    Always checked (what ``ompo-bench tabular`` needs): the declared traits (``beta_grid``,
    ``cost_per_update``, ``requires_model``) are valid; ``cls(game_or_env, **fields)`` builds a
    solver; ``step()`` returns
    ``None`` or a mapping of metric names to finite numbers (``iteration`` = t where reported);
    ``policy`` is a valid table (n_init, H, S, A) or TabularPolicy of a tabular game, or a
    policy with ``sample`` elsewhere; two solvers built alike make the same iterates.
    Checked where present (always with ``strict``): ``average_policy`` is a valid tabular policy
    or a mixture of them; ``evaluate()`` returns finite numbers and, on a tabular game, the
    exploitability of ``policy`` and ``average_policy``; a ``config_class`` is a frozen
    dataclass, and ``cls(x, config)`` equals ``cls(x, **fields)``, both together raise.
    ``strict`` also requires metric names from :data:`solvers.base.METRICS`, an ``iteration``
    counter, ``evaluate()``, a ``config_class`` and a ``TypeError``/``ValueError`` for a
    constructor argument that is not a game or env.

    Args:
        cls: The solver class.
        game_or_env: What to build it on (default: :func:`default_problem`).
        steps: Updates to make.
        strict: Require the full protocol of this package's solvers.
        **fields: Settings passed to the constructor (e.g. ``beta=0.5``).

    Raises:
        ConformanceError: The first broken part of the protocol.
    """
    _traits(cls)
    problem = default_problem(cls) if game_or_env is None else game_or_env
    game = _tabular_game(problem)
    if strict:
        require(
            _raises_clearly(lambda: cls("not a game", **fields)),
            f"{cls.__name__}('not a game') must raise TypeError or ValueError naming the problem",
        )
    solver = cls(problem, **fields)
    twin = cls(problem, **fields)
    for t in range(1, steps + 1):
        metrics = solver.step()
        twin.step()
        _check_metrics(cls, metrics, t, strict)
        if strict:
            require(getattr(solver, "iteration", None) == t, f"{cls.__name__}.iteration != {t}")
        _check_policy(cls, solver.policy, game, "policy")
    if game is not None:
        require(
            np.array_equal(policy_table(game, solver.policy), policy_table(game, twin.policy)),
            f"two {cls.__name__} solvers built alike made different iterates (seed randomness "
            "from the config, never from global state)",
        )
    has_average = hasattr(type(solver), "average_policy") or hasattr(solver, "average_policy")
    require(has_average or not strict, f"{cls.__name__} has no average_policy")
    if has_average:
        _check_policy(cls, solver.average_policy, game, "average_policy")
    evaluate = getattr(solver, "evaluate", None)
    require(callable(evaluate) or not strict, f"{cls.__name__} has no evaluate()")
    if callable(evaluate):
        _check_evaluation(cls, solver, evaluate(), game, has_average)
    config_class = getattr(cls, "config_class", None)
    require(config_class is not None or not strict, f"{cls.__name__} has no config_class")
    if config_class is not None:
        _check_config(cls, config_class, problem, fields)


def _traits(cls: type) -> Any:
    require(isinstance(cls, type), f"solver_api_test takes a class, got {type(cls).__name__}")
    try:
        return solver_traits(cls)
    except (TypeError, ValueError) as error:
        raise ConformanceError(f"{cls.__name__} declares invalid traits: {error}") from error


def _tabular_game(problem: Any) -> TabularGame | None:
    if isinstance(problem, TabularGame):
        return problem
    game = getattr(getattr(problem, "unwrapped", problem), "game", None)
    return game if isinstance(game, TabularGame) else None


def _raises_clearly(call: Any) -> bool:
    try:
        call()
    except (TypeError, ValueError):
        return True
    except Exception:  # any other error is not a clear one
        return False
    return False


def _check_metrics(cls: type, metrics: Any, t: int, strict: bool) -> None:
    if metrics is None and not strict:
        return
    require(isinstance(metrics, Mapping), f"{cls.__name__}.step() must return a dict of metrics")
    for name, value in metrics.items():
        require(isinstance(name, str), f"metric names must be strings, got {name!r}")
        require(
            isinstance(value, float | int | np.floating | np.integer)
            and not isinstance(value, bool)
            and math.isfinite(value),
            f"metric {name!r} of {cls.__name__} must be a finite number, got {value!r}",
        )
        if strict:
            require(
                name in METRICS,
                f"metric {name!r} is not in solvers.base.METRICS: add it there with its meaning",
            )
    if "iteration" in metrics:
        require(metrics["iteration"] == t, f"metric 'iteration' must be {t}, got {metrics}")
    elif strict:
        raise ConformanceError(f"{cls.__name__}.step() must report 'iteration'")


def _check_policy(cls: type, policy: Any, game: TabularGame | None, name: str) -> None:
    if game is not None:
        try:
            policy_table(game, policy)
        except (TypeError, ValueError) as error:
            raise ConformanceError(
                f"{cls.__name__}.{name} is not a tabular policy of this game: {error}"
            ) from error
        return
    try:
        as_policy(policy, f"{cls.__name__}.{name}")
    except TypeError as error:
        raise ConformanceError(str(error)) from error


def _check_evaluation(
    cls: type, solver: Any, evaluation: Any, game: TabularGame | None, has_average: bool
) -> None:
    require(isinstance(evaluation, Mapping), f"{cls.__name__}.evaluate() must return a dict")
    for name, value in evaluation.items():
        require(
            isinstance(value, float) and math.isfinite(value),
            f"{cls.__name__}.evaluate()[{name!r}] must be a finite float, got {value!r}",
        )
    if game is None:
        return
    expected = {"exploitability_last": exploitability(game, solver.policy)}
    if has_average:
        expected["exploitability_average"] = exploitability(game, solver.average_policy)
    for name, value in expected.items():
        require(name in evaluation, f"{cls.__name__}.evaluate() must report {name!r}")
        require(
            abs(evaluation[name] - value) <= 1e-9,
            f"{cls.__name__}.evaluate()[{name!r}] = {evaluation[name]} but the exploitability "
            f"of that policy is {value}",
        )


def _check_config(cls: type, config_class: type, problem: Any, fields: dict[str, Any]) -> None:
    require(
        dataclasses.is_dataclass(config_class) and config_class.__dataclass_params__.frozen,  # type: ignore[attr-defined]
        f"{cls.__name__}.config_class must be a frozen dataclass",
    )
    config = config_class(**fields)
    by_config = cls(problem, config)
    require(
        getattr(by_config, "config", None) == cls(problem, **fields).config == config,
        f"{cls.__name__}(x, config) and {cls.__name__}(x, **fields) must mean the same",
    )
    require(
        _raises_clearly(lambda: cls(problem, config, **({"_unknown": 1} | fields))),
        f"{cls.__name__}(x, config, **fields) must raise TypeError (ambiguous)",
    )
