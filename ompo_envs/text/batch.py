"""Batching and branching for text envs: N episodes, or K branches of one state, per oracle call.

The paper's Alg. 2 samples K continuations from each state s_h and scores all pairs at once;
with a neural oracle the batch is what makes that affordable. :class:`TextEnvBatch` holds N envs
that share one oracle and steps them with :func:`ompo_envs.core.preference_game.step_batch`: every
joint action is validated first, then *one* oracle call scores all N pairs, then every env moves.
If any action is invalid or the oracle fails, no env changes; a batch ``reset`` is all-or-nothing
too (:func:`ompo_envs.core.preference_game.reset_batch`).

    batch = TextEnvBatch.from_env(ompo_envs.make("MTBench101-v0", oracle=oracle), n=64)
    observations, infos = batch.reset(seed=0)          # 64 dialogues
    results = batch.step([{"player_0": a0, "player_1": a1} for a0, a1 in answers])

    branches = TextEnvBatch.branch(env, k=5)           # 5 copies of env's current state
    results = branches.step(joint_actions)             # 5 continuations, one oracle call

Copies are made with ``copy.deepcopy``, which shares the oracle and the dataset (the envs'
``_shared_attributes``) and copies the episode (immutable text states cost nothing to copy). A
copy also copies the random generator, so branches of a game with random transitions draw the
same numbers unless reseeded; the text games' transitions are deterministic.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ompo_envs.core.preference_game import reset_batch, step_batch
from ompo_envs.text.base import TextPreferenceGameEnv

__all__ = ["StepResult", "TextEnvBatch"]

#: One env's ``(observations, rewards, terminations, truncations, infos)``.
StepResult = tuple[dict, dict, dict, dict, dict]


class TextEnvBatch:
    """N text envs sharing one oracle, stepped with one oracle call per step.

    Args:
        envs: The envs; all must share the same oracle object, and each may appear once.

    Raises:
        TypeError: An item is not a text env, or the envs are of different games.
        ValueError: ``envs`` is empty, holds one env twice, or the envs use different oracles.
    """

    def __init__(self, envs: Sequence[TextPreferenceGameEnv]) -> None:
        if isinstance(envs, str | Mapping) or not isinstance(envs, Sequence):
            raise TypeError(f"envs must be a list of text envs, got {type(envs).__name__}")
        envs = list(envs)
        if not envs:
            raise ValueError("a TextEnvBatch needs at least one env")
        positions: dict[int, int] = {}
        for i, env in enumerate(envs):
            if id(env) in positions:
                raise ValueError(
                    f"envs[{positions[id(env)]}] and envs[{i}] are the same env object; a batch "
                    "steps each env once per call: use copies (TextEnvBatch.from_env or .branch)"
                )
            positions[id(env)] = i
            if not isinstance(env, TextPreferenceGameEnv):
                raise TypeError(f"envs[{i}] is a {type(env).__name__}, not a text env")
            if type(env) is not type(envs[0]):
                raise TypeError(
                    f"envs[{i}] is a {type(env).__name__} but envs[0] a {type(envs[0]).__name__};"
                    " a batch holds envs of one game (envs[0] maps every pair to the oracle)"
                )
            if env.oracle is not envs[0].oracle:
                raise ValueError(
                    f"envs[{i}] uses a different oracle from envs[0]; one batched call needs one "
                    "oracle: build the envs with the same oracle object (or use from_env)"
                )
        self.envs: list[TextPreferenceGameEnv] = envs

    @classmethod
    def from_env(cls, env: TextPreferenceGameEnv, n: int) -> TextEnvBatch:
        """Return a batch of ``n`` copies of ``env`` (sharing its oracle and data)."""
        _check_count(n, "n")
        if not isinstance(env, TextPreferenceGameEnv):
            raise TypeError(f"env must be a text env, got {type(env).__name__}")
        return cls([copy.deepcopy(env) for _ in range(n)])

    @classmethod
    def branch(cls, env: TextPreferenceGameEnv, k: int) -> TextEnvBatch:
        """Return ``k`` copies of ``env`` at its current state, to roll out ``k`` continuations.

        Raises:
            RuntimeError: ``env`` has no live episode (call ``reset()`` first).
        """
        _check_count(k, "k")
        if not isinstance(env, TextPreferenceGameEnv):
            raise TypeError(f"env must be a text env, got {type(env).__name__}")
        if env.episode.done:
            raise RuntimeError("cannot branch a finished episode: reset() the env first")
        return cls([copy.deepcopy(env) for _ in range(k)])

    def __len__(self) -> int:
        return len(self.envs)

    def __iter__(self) -> Iterator[TextPreferenceGameEnv]:
        return iter(self.envs)

    def __getitem__(self, index: int) -> TextPreferenceGameEnv:
        return self.envs[index]

    @property
    def active(self) -> list[bool]:
        """Whether each env's episode is still running."""
        return [bool(env.agents) for env in self.envs]

    def reset(
        self,
        seed: int | Sequence[int | None] | None = None,
        options: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None = None,
    ) -> tuple[list[dict[str, Any]], list[dict[str, dict[str, Any]]]]:
        """Reset every env; env i gets ``seed + i`` (when ``seed`` is given). All or nothing.

        Args:
            seed: Base seed (an integer >= 0), one seed per env, or ``None``.
            options: One options dict for all envs, or a list with one (or ``None``) per env.

        Returns:
            ``(observations, infos)``: one dict of each per env.

        Raises:
            TypeError / ValueError: A bad seed, or a bad option for any env; every seed and
                option is checked before any env is reset, so no env has changed.
        """
        results = reset_batch(self.envs, seed=seed, options=options)
        return [obs for obs, _ in results], [info for _, info in results]

    def step(self, actions: Sequence[Mapping[str, Any] | None]) -> list[StepResult | None]:
        """Step every env whose entry in ``actions`` is a joint action, with one oracle call.

        Args:
            actions: One ``{agent: answer}`` per env, or ``None`` to leave that env as it is
                (e.g. an episode that has already ended).

        Returns:
            One ``(observations, rewards, terminations, truncations, infos)`` per stepped env,
            ``None`` for skipped ones.

        Raises:
            ValueError / TypeError / RuntimeError: A bad joint action or a finished episode;
                no env changes.
        """
        if isinstance(actions, str | Mapping) or not isinstance(actions, Sequence):
            raise TypeError(
                "actions must be a list with one joint action (or None) per env, got "
                f"{type(actions).__name__}"
            )
        if len(actions) != len(self.envs):
            raise ValueError(
                f"actions must be a list with one joint action (or None) per env "
                f"({len(self.envs)} envs)"
            )
        chosen = [i for i, joint in enumerate(actions) if joint is not None]
        stepped = step_batch([self.envs[i] for i in chosen], [actions[i] for i in chosen])
        results: list[StepResult | None] = [None] * len(self.envs)
        for i, result in zip(chosen, stepped, strict=True):
            results[i] = result
        return results


def _check_count(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
