"""Preference-optimisation solvers behind one interface (see :mod:`solvers.base`)."""

from solvers.base import Solver

__all__ = ["Solver"]
