"""Text games: conversation states, free-text answers, preferences from a :class:`PreferenceOracle`.

* :class:`~ompo_envs.text.base.TextPreferenceGameEnv` — the base of every text game.
* ``MTBench101-v0`` (:class:`~ompo_envs.text.mt_bench_101.MTBench101Env`) — multi-turn dialogues.
* ``GSM8K-v1``, ``MATH-v1``, ``MATH500-v0`` (:mod:`ompo_envs.text.reasoning`) — chain of thought
  (training splits by default; ``GSM8K-v0``/``MATH-v0`` superseded).
* ``TextRockPaperScissors-v0`` (:mod:`ompo_envs.text.known_ne`) — a text game with a known NE.
* :class:`~ompo_envs.text.batch.TextEnvBatch` — N episodes or K branches in one oracle call.
* :mod:`ompo_envs.text.answers` — final-answer extraction and normalisation.
"""

from __future__ import annotations

from ompo_envs.text.base import TextPreferenceGameEnv, TextState, render_conversation
from ompo_envs.text.spaces import TextObservation, UnicodeText

__all__ = [
    "TextObservation",
    "TextPreferenceGameEnv",
    "TextState",
    "UnicodeText",
    "render_conversation",
]
