"""Sample-based solvers: Q estimated only through the env API (reset, step, branching).

* :class:`SampledOMPO` — Eq. 2 (optimistic, π^t and π^{t−1} opponents), Alg. 2.
* :class:`SampledMPO` — Eq. 4, Alg. 4.
* :class:`SampledSPPO` — win rate P(a ≻ π^t | s) from K samples, multiplicative weights.

They train any :class:`~ompo_envs.policies.TrainablePolicy` — a
:class:`~ompo_envs.tabular.TabularPolicy` on tabular envs, a
:class:`~ompo_envs.policies.CandidateSetPolicy` of candidate answers on text envs — and their
average iterate is a :class:`~ompo_envs.policies.MixturePolicy`. The env-facing loop is
:mod:`solvers.sampled.estimation`.
"""

from ompo_envs.policies import CandidateSetPolicy, MixturePolicy, TrainablePolicy
from ompo_envs.tabular import TabularPolicy
from solvers.sampled.base import SampledSolver
from solvers.sampled.estimation import BranchingSampler, SavedPoint, splice
from solvers.sampled.mpo import SampledMPO, SampledMPOConfig
from solvers.sampled.ompo import SampledOMPO, SampledOMPOConfig
from solvers.sampled.sppo import SampledSPPO, SampledSPPOConfig

__all__ = [
    "BranchingSampler",
    "CandidateSetPolicy",
    "MixturePolicy",
    "SampledMPO",
    "SampledMPOConfig",
    "SampledOMPO",
    "SampledOMPOConfig",
    "SampledSPPO",
    "SampledSPPOConfig",
    "SampledSolver",
    "SavedPoint",
    "TabularPolicy",
    "TrainablePolicy",
    "splice",
]
