"""LM solvers: the paper's practical OMPO (Alg. 2) and MPO (Alg. 4), SPPO, DPO and Step-DPO.

Each is one more solver of the package's protocol (``step()``, ``policy``, ``average_policy``,
``evaluate()``), built from a text env and an :class:`~ompo_envs.lm.LMPolicy`::

    solver = LMOMPO(ompo_envs.make("TextRockPaperScissors-v0"), LMOMPOConfig(beta=1.0),
                    policy=LMPolicy.from_pretrained(path))
    metrics = solver.step()

See :mod:`solvers.lm.base` for the iteration's stages, :mod:`solvers.lm.losses` for the losses
and the centring constants, :mod:`solvers.lm.step_level` / :mod:`solvers.lm.conversation` for
the estimators.
"""

from __future__ import annotations

from solvers.lm.base import LMSolver, LMSolverConfig
from solvers.lm.dpo import LMDPO, LMDPOConfig
from solvers.lm.mpo import LMMPO, LMMPOConfig
from solvers.lm.ompo import LMOMPO, LMOMPOConfig
from solvers.lm.sppo import LMSPPO, LMSPPOConfig
from solvers.lm.step_dpo import LMStepDPO, LMStepDPOConfig

__all__ = [
    "LMDPO",
    "LMMPO",
    "LMOMPO",
    "LMSPPO",
    "LMDPOConfig",
    "LMMPOConfig",
    "LMOMPOConfig",
    "LMSPPOConfig",
    "LMSolver",
    "LMSolverConfig",
    "LMStepDPO",
    "LMStepDPOConfig",
]
