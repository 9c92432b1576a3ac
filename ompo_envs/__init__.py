"""ompo-envs: LLM alignment from general preferences as two-player constant-sum Markov games.

Each player keeps its own state (its own conversation); both start from the same prompt s1; at step
h player_0 is paid r = P([s_h, a_h] ≻ [s'_h, a'_h]) and player_1 is paid 1 − r (paper §2.2).

>>> import ompo_envs
>>> env = ompo_envs.make("RockPaperScissors-v0")
>>> observations, infos = env.reset(seed=0)
"""

from __future__ import annotations

from ompo_envs.core import PreferenceGameEnv
from ompo_envs.oracles.base import PreferenceOracle
from ompo_envs.registration import list_envs, make, register_envs

register_envs()

__all__ = ["PreferenceGameEnv", "PreferenceOracle", "list_envs", "make", "register_envs"]
__version__ = "0.1.0"
