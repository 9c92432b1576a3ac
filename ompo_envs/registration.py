"""Env ids of ompo-envs, registered in PettingZoo's own registry.

Every environment lives in PettingZoo's parallel registry under the ``ompo`` namespace, so after
``import ompo_envs`` both of these work::

    pettingzoo.make("parallel", "ompo/RockPaperScissors-v0")
    ompo_envs.make("RockPaperScissors-v0")

:func:`make` and :func:`list_envs` are thin conveniences over that registry; they add a helpful
error for an unknown id (naming the closest registered ids) and nothing else.
"""

from __future__ import annotations

import difflib
from typing import Any

from pettingzoo.env_registry import registration as _pz_registration
from pettingzoo.utils.env import ParallelEnv

NAMESPACE = "ompo"

#: Short id -> entry point. Entry points are strings so heavy modules import only on ``make``.
_ENTRY_POINTS: dict[str, str] = {
    "RandomGame-v0": "ompo_envs.envs.random_game:RandomGameEnv",
    "Gridworld-v0": "ompo_envs.envs.gridworld:GridworldEnv",
    "RockPaperScissors-v0": "ompo_envs.envs.rock_paper_scissors:RockPaperScissorsEnv",
    "RepeatedRockPaperScissors-v0": (
        "ompo_envs.envs.rock_paper_scissors:RepeatedRockPaperScissorsEnv"
    ),
    "IntransitiveVoters-v0": "ompo_envs.envs.intransitive_voters:IntransitiveVotersEnv",
    "MTBench101-v0": "ompo_envs.text.mt_bench_101:MTBench101Env",
    "GSM8K-v0": "ompo_envs.text.reasoning:GSM8KEnvV0",
    "GSM8K-v1": "ompo_envs.text.reasoning:GSM8KEnv",
    "MATH-v0": "ompo_envs.text.reasoning:MATHEnvV0",
    "MATH-v1": "ompo_envs.text.reasoning:MATHEnv",
    "MATH500-v0": "ompo_envs.text.reasoning:MATH500Env",
    "TextRockPaperScissors-v0": "ompo_envs.text.known_ne:TextRockPaperScissorsEnv",
    "TextVoters-v0": "ompo_envs.text.known_ne:TextVotersEnv",
    "TextRepeatedRockPaperScissors-v0": "ompo_envs.text.lifted:TextRepeatedRockPaperScissorsEnv",
    "LiftedRandomGame-v0": "ompo_envs.text.lifted:LiftedRandomGameEnv",
}


def register_envs(entry_points: dict[str, str] | None = None) -> None:
    """Register ``entry_points`` (default: all ompo-envs ids) in PettingZoo's parallel registry."""
    for short_id, entry_point in (entry_points or _ENTRY_POINTS).items():
        full_id = f"{NAMESPACE}/{short_id}"
        if full_id not in _pz_registration.parallel_registry:
            _pz_registration.register("parallel", full_id, entry_point=entry_point)


def list_envs() -> list[str]:
    """Return the short ids (``Name-vN``) of every registered ompo-envs environment, sorted."""
    prefix = f"{NAMESPACE}/"
    return sorted(
        env_id[len(prefix) :]
        for env_id in _pz_registration.parallel_registry
        if env_id.startswith(prefix)
    )


def make(env_id: str, **kwargs: Any) -> ParallelEnv:
    """Create a registered environment, e.g. ``make("RandomGame-v0", seed=3)``.

    Args:
        env_id: A short id (``"RandomGame-v0"``) or a namespaced one (``"ompo/RandomGame-v0"``).
        **kwargs: Passed to the environment's constructor.

    Raises:
        ValueError: ``env_id`` is not registered; the message lists the closest registered ids.
    """
    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a string such as 'RandomGame-v0', got {env_id!r}")
    short_id = env_id.removeprefix(f"{NAMESPACE}/")
    known = list_envs()
    if short_id not in known:
        close = difflib.get_close_matches(short_id, known, n=3, cutoff=0.4)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"Unknown environment id {env_id!r}.{hint} "
            f"Call ompo_envs.list_envs() for all {len(known)} registered ids."
        )
    return _pz_registration.make("parallel", f"{NAMESPACE}/{short_id}", **kwargs)
