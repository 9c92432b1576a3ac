"""The game-independent part of ompo-envs: the two-player preference-game env base."""

from ompo_envs.core.preference_game import (
    AGENTS,
    REWARD_MODES,
    Episode,
    PreferenceGameEnv,
    RewardMode,
    Snapshot,
    SnapshotOwner,
    StepPlan,
    reset_batch,
    step_batch,
)

__all__ = [
    "AGENTS",
    "REWARD_MODES",
    "Episode",
    "PreferenceGameEnv",
    "RewardMode",
    "Snapshot",
    "SnapshotOwner",
    "StepPlan",
    "reset_batch",
    "step_batch",
]
