"""The solver registry: one name per solver, for benchmarks, tests and other packages.

* Built-in solvers are registered in :mod:`solvers` (one line each).
* Another package registers its solvers through the entry-point group ``ompo_envs.solvers``
  (``pyproject.toml``: ``[project.entry-points."ompo_envs.solvers"]`` with
  ``MySolver = "my_package.my_module:MySolver"``), or by calling :func:`register`.
* Anything importable is also reachable without registering, as ``"module:Class"`` (the module
  found on ``sys.path`` or in the current directory) or ``"path/to/file.py:Class"``.

A solver needs only a constructor ``Cls(game, **fields)``, ``step()`` and ``policy`` (a table of
shape (n_init, H, S, A) or a :class:`~ompo_envs.tabular.TabularPolicy`) to be benchmarked by
``ompo-bench tabular``; it may declare ``beta_grid`` (the default grid of its ``beta`` field),
``cost_per_update`` (Q or gradient evaluations per update, default 1) and ``requires_model``
(default True: it is given the game; False: it is given a tabular env and learns through it).
:func:`solver_traits` reads them with their defaults.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

#: The entry-point group other packages register solvers in.
ENTRY_POINT_GROUP = "ompo_envs.solvers"

_REGISTRY: dict[str, type | str] = {}


def register(name: str, solver: type | str, *, overwrite: bool = False) -> None:
    """Register ``solver`` (a class, or ``"module:Class"`` imported on first use) as ``name``.

    Raises:
        TypeError: ``name`` is not a non-empty string, or ``solver`` neither a class nor a
            ``"module:Class"`` string.
        ValueError: ``name`` is taken (pass ``overwrite=True`` to replace it) or contains ``:``.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise (TypeError if not isinstance(name, str) else ValueError)(
            f"a solver name must be a non-empty string without ':', got {name!r}"
        )
    if not (isinstance(solver, type) or (isinstance(solver, str) and ":" in solver)):
        raise TypeError(f"solver must be a class or a 'module:Class' string, got {solver!r}")
    if name in _REGISTRY and not overwrite and _REGISTRY[name] != solver:
        raise ValueError(f"a solver named {name!r} is already registered; pass overwrite=True")
    _REGISTRY[name] = solver


def list_solvers(*, entry_points_too: bool = True) -> list[str]:
    """Names of the registered solvers: built-ins first, in registration order, then plug-ins."""
    names = list(_REGISTRY)
    if entry_points_too:
        names += [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in names]
    return names


def get_solver(name: str) -> type:
    """Return the solver class for a registered name, an entry point, or a ``"module:Class"``.

    Raises:
        KeyError: An unknown name (the message lists the registered ones).
        ImportError / AttributeError: A ``"module:Class"`` that cannot be imported.
        TypeError: What the name points to is not a class.
    """
    if name in _REGISTRY:
        target = _REGISTRY[name]
        cls = load(target) if isinstance(target, str) else target
    else:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if found:
            cls = found[0].load()
        elif ":" in name:
            cls = load(name)
        else:
            raise KeyError(
                f"no solver named {name!r}; registered: {', '.join(list_solvers())}; or pass "
                "'module:Class' / 'path/to/file.py:Class'"
            )
    if not isinstance(cls, type):
        raise TypeError(f"{name!r} is not a class, got {type(cls).__name__}")
    return cls


def load(path: str) -> Any:
    """Import ``"module:Attribute"`` or ``"path/to/file.py:Attribute"``; return the attribute.

    A module is looked up on ``sys.path`` and then in the current directory (as ``python -m``
    would), so ``ompo-bench tabular --solvers my_module:MySolver`` finds ``./my_module.py``.
    """
    module_name, _, attribute = path.rpartition(":")
    if not module_name or not attribute:
        raise ValueError(f"expected 'module:Class' or 'file.py:Class', got {path!r}")
    if module_name.endswith(".py"):
        file = Path(module_name).resolve()
        if not file.is_file():
            raise ImportError(f"no file {file} (from {path!r})")
        digest = hashlib.sha1(str(file).encode()).hexdigest()[:12]
        module_name = f"_ompo_solver_{file.stem}_{digest}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, file)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.modules[module_name] = module
            spec.loader.exec_module(module)  # type: ignore[union-attr]
    else:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.append(os.getcwd())
        module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise AttributeError(f"module {module_name!r} has no attribute {attribute!r}") from None


@dataclass(frozen=True)
class SolverTraits:
    """What a benchmark reads off a solver class (with defaults for third-party classes).

    Attributes:
        beta_grid: The step sizes tried by default (empty: run the solver's defaults once).
        cost_per_update: Q or gradient evaluations per update.
        requires_model: True: built from the game; False: from a tabular env (model-free).
    """

    beta_grid: tuple[float, ...]
    cost_per_update: float
    requires_model: bool


def solver_traits(cls: type) -> SolverTraits:
    """Read ``beta_grid``, ``cost_per_update`` and ``requires_model`` off ``cls``.

    A solver that learns through the env API says so with ``requires_model = False`` (the
    sample-based solvers of this package do).

    Raises:
        ValueError: A declared value of the wrong kind (a non-positive cost, a β ≤ 0).
    """
    grid = tuple(float(b) for b in getattr(cls, "beta_grid", ()))
    cost = float(getattr(cls, "cost_per_update", 1.0))
    requires_model = bool(getattr(cls, "requires_model", True))
    if any(not b > 0 for b in grid):
        raise ValueError(f"{cls.__name__}.beta_grid must hold positive step sizes, got {grid}")
    if not cost > 0:
        raise ValueError(f"{cls.__name__}.cost_per_update must be > 0, got {cost}")
    return SolverTraits(beta_grid=grid, cost_per_update=cost, requires_model=requires_model)
