"""Preference-optimisation solvers behind one protocol (see :mod:`solvers.base`).

Every solver is ``Cls(game_or_env, config=None, **fields)`` with ``step()``, ``policy``,
``average_policy`` and ``evaluate()``. Exact solvers read the model of a
:class:`~ompo_envs.tabular.TabularGame` (``solvers.OMPO(game, beta=1.0)``, or
``solvers.OMPO(game, OMPOConfig(beta=1.0))``); sample-based solvers (``SampledOMPO``,
``SampledMPO``, ``SampledSPPO``) estimate Q only through the env API (:mod:`solvers.sampled`).

Every solver is registered by name (:mod:`solvers.registry`): ``solvers.get_solver("OMPO")``,
``solvers.list_solvers()``; a new built-in solver is one module and one line below.
"""

from solvers.base import METRICS, ExactSolver, LogitSolver, Solver
from solvers.cfr import DCFR, CFRPlus, CFRPlusConfig, DCFRConfig, PCFRPlus, PCFRPlusConfig
from solvers.egpo import EGPO, EGPOConfig
from solvers.fictitious_play import FictitiousPlay, FictitiousPlayConfig
from solvers.lp import LPConfig, LPEquilibrium
from solvers.mmd import MMD, MMDConfig
from solvers.mpo import MPO, MPOConfig
from solvers.mtpo import MTPO, MTPOConfig
from solvers.nash_md import NashMD, NashMDConfig
from solvers.ompo import OMPO, OMPOConfig
from solvers.onpo import ONPO, ONPOConfig
from solvers.registry import get_solver, list_solvers, register, solver_traits

# Sample-based versions (learn through the env API only), after the exact ones they build on.
from solvers.sampled import (
    SampledMPO,
    SampledMPOConfig,
    SampledOMPO,
    SampledOMPOConfig,
    SampledSolver,
    SampledSPPO,
    SampledSPPOConfig,
)
from solvers.spo import SPO, SPOConfig
from solvers.sppo import SPPO, SPPOConfig

# The built-in solvers, by the names benchmarks and tests use.
register("OMPO", OMPO)
register("MPO", MPO)
register("SPPO", SPPO)
register("SPO", SPO)
register("MTPO", MTPO)
register("Nash-MD", NashMD)
register("EGPO", EGPO)
register("ONPO", ONPO)
register("MMD", MMD)
register("FP", FictitiousPlay)
register("LP", LPEquilibrium)
register("CFR+", CFRPlus)
register("PCFR+", PCFRPlus)
register("DCFR", DCFR)
register("SampledOMPO", SampledOMPO)
register("SampledMPO", SampledMPO)
register("SampledSPPO", SampledSPPO)

__all__ = [
    "DCFR",
    "EGPO",
    "METRICS",
    "MMD",
    "MPO",
    "MTPO",
    "OMPO",
    "ONPO",
    "SPO",
    "SPPO",
    "CFRPlus",
    "CFRPlusConfig",
    "DCFRConfig",
    "EGPOConfig",
    "ExactSolver",
    "FictitiousPlay",
    "FictitiousPlayConfig",
    "LPConfig",
    "LPEquilibrium",
    "LogitSolver",
    "MMDConfig",
    "MPOConfig",
    "MTPOConfig",
    "NashMD",
    "NashMDConfig",
    "OMPOConfig",
    "ONPOConfig",
    "PCFRPlus",
    "PCFRPlusConfig",
    "SPOConfig",
    "SPPOConfig",
    "SampledMPO",
    "SampledMPOConfig",
    "SampledOMPO",
    "SampledOMPOConfig",
    "SampledSPPO",
    "SampledSPPOConfig",
    "SampledSolver",
    "Solver",
    "get_solver",
    "list_solvers",
    "register",
    "solver_traits",
]
