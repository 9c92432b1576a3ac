"""Sample-based solvers: Q estimated only through the env API (reset, step, branching).

* :class:`SampledOMPO` — Eq. 2 (optimistic, π^t and π^{t−1} opponents), Alg. 2.
* :class:`SampledMPO` — Eq. 4, Alg. 4.
* :class:`SampledSPPO` — win rate P(a ≻ π^t | s) from K samples, multiplicative weights.

The env-facing loop (:mod:`solvers.sampled.estimation`) only sees policies through
:class:`SamplingPolicy` / :class:`TrainablePolicy`; :class:`TabularPolicy` is the tabular
instantiation, :class:`MixturePolicy` the trajectory-level average of iterates.
"""

from solvers.sampled.base import SampledSolver
from solvers.sampled.estimation import BranchingSampler, SavedPoint, splice
from solvers.sampled.mpo import SampledMPO, SampledMPOConfig
from solvers.sampled.ompo import SampledOMPO, SampledOMPOConfig
from solvers.sampled.policies import (
    MixturePolicy,
    SamplingPolicy,
    TabularPolicy,
    TrainablePolicy,
)
from solvers.sampled.sppo import SampledSPPO, SampledSPPOConfig

__all__ = [
    "BranchingSampler",
    "MixturePolicy",
    "SampledMPO",
    "SampledMPOConfig",
    "SampledOMPO",
    "SampledOMPOConfig",
    "SampledSPPO",
    "SampledSPPOConfig",
    "SampledSolver",
    "SamplingPolicy",
    "SavedPoint",
    "TabularPolicy",
    "TrainablePolicy",
    "splice",
]
