"""The game-independent part of ompo-envs: the two-player preference-game env base."""

from ompo_envs.core.preference_game import (
    AGENTS,
    REWARD_MODES,
    Episode,
    PreferenceGameEnv,
    RewardMode,
    StepPlan,
    step_batch,
)

__all__ = [
    "AGENTS",
    "REWARD_MODES",
    "Episode",
    "PreferenceGameEnv",
    "RewardMode",
    "StepPlan",
    "step_batch",
]
