"""Preference-optimisation solvers behind one interface (see :mod:`solvers.base`).

Exact solvers are built from a :class:`~ompo_envs.tabular.TabularGame` and a frozen config
(``solvers.OMPO(game, OMPOConfig(beta=1.0))``, or the config's fields as keywords,
``solvers.OMPO(game, beta=1.0)``); each has ``step()``, ``policy``, ``average_policy`` and
``evaluate()``. Sample-based solvers (``SampledOMPO``, ``SampledMPO``, ``SampledSPPO``) are built
from an env and estimate Q only through the env API (see :mod:`solvers.sampled`).
"""

from solvers.base import Solver
from solvers.egpo import EGPO, EGPOConfig
from solvers.fictitious_play import FictitiousPlay, FictitiousPlayConfig
from solvers.lp import LPConfig, LPEquilibrium
from solvers.mmd import MMD, MMDConfig
from solvers.mpo import MPO, MPOConfig
from solvers.mtpo import MTPO, MTPOConfig
from solvers.nash_md import NashMD, NashMDConfig
from solvers.ompo import OMPO, OMPOConfig
from solvers.onpo import ONPO, ONPOConfig

# Sample-based versions (learn through the env API only), after the exact ones they build on.
from solvers.sampled import (
    SampledMPO,
    SampledMPOConfig,
    SampledOMPO,
    SampledOMPOConfig,
    SampledSPPO,
    SampledSPPOConfig,
)
from solvers.spo import SPO, SPOConfig
from solvers.sppo import SPPO, SPPOConfig

__all__ = [
    "EGPO",
    "MMD",
    "MPO",
    "MTPO",
    "OMPO",
    "ONPO",
    "SPO",
    "SPPO",
    "EGPOConfig",
    "FictitiousPlay",
    "FictitiousPlayConfig",
    "LPConfig",
    "LPEquilibrium",
    "MMDConfig",
    "MPOConfig",
    "MTPOConfig",
    "NashMD",
    "NashMDConfig",
    "OMPOConfig",
    "ONPOConfig",
    "SPOConfig",
    "SPPOConfig",
    "SampledMPO",
    "SampledMPOConfig",
    "SampledOMPO",
    "SampledOMPOConfig",
    "SampledSPPO",
    "SampledSPPOConfig",
    "Solver",
]
