"""The tabular games of ompo-envs: each a registered env with its exact model at ``env.game``."""

from ompo_envs.envs.gridworld import GridworldEnv, gridworld_game
from ompo_envs.envs.intransitive_voters import (
    IntransitiveVotersEnv,
    intransitive_voters_game,
    voters_preference,
)
from ompo_envs.envs.random_game import RandomGameEnv
from ompo_envs.envs.rock_paper_scissors import (
    RepeatedRockPaperScissorsEnv,
    RockPaperScissorsEnv,
    repeated_rock_paper_scissors_game,
    rock_paper_scissors_game,
)
from ompo_envs.envs.tabular_env import TabularGameEnv

__all__ = [
    "GridworldEnv",
    "IntransitiveVotersEnv",
    "RandomGameEnv",
    "RepeatedRockPaperScissorsEnv",
    "RockPaperScissorsEnv",
    "TabularGameEnv",
    "gridworld_game",
    "intransitive_voters_game",
    "repeated_rock_paper_scissors_game",
    "rock_paper_scissors_game",
    "voters_preference",
]
