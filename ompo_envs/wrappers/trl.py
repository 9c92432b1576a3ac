"""A text game as a TRL environment: GRPO trains player_0 against a fixed opponent.

TRL 1.16's ``GRPOTrainer(environment_factory=...)`` takes a callable that returns an
environment object; the trainer keeps a pool of them (one per rollout of a batch, reused across
batches), calls ``reset(**example)`` before generation and appends the string it returns to the
example's last user message (with no ``train_dataset`` the prompt is that string alone, and
``max_steps`` sets the length). Public methods other than ``reset`` / ``get_reward`` become
tools; reward functions receive the rollouts' environments as ``environments=``.

:class:`TextGameEnvironment` is such an object for any ``ompo_envs`` text game
(``TextRockPaperScissors-v0``, ``MTBench101-v0``, ...), with
:class:`~ompo_envs.wrappers.SingleAgentEnv` semantics: the learner is ``player_0``, the
opponent a fixed policy. One rollout is one answer: ``reset`` starts an episode and returns the
user message of its first turn (the state s1 both players answer); :func:`game_reward`, the
reward function, plays the completion as the learner's answer a against the opponent's a' and
returns the env's reward to player_0, the preference r = P(a ≻ a' | s1) (§2 of the paper: the
game's stage reward). It has no tools, so any causal LM (no tool-calling chat template) trains
in it. Later turns of a multi-turn game are not played (one completion per rollout).

Example (needs ``pip install "ompo-envs[trl]"``)::

    from trl import GRPOConfig, GRPOTrainer
    from ompo_envs.wrappers.trl import game_reward, text_game_factory

    factory = text_game_factory("TextRockPaperScissors-v0", opponent=lambda o, i, r: "rock")
    trainer = GRPOTrainer(model, reward_funcs=[game_reward], environment_factory=factory,
                          args=GRPOConfig(max_steps=3, num_generations=4, ...))
    trainer.train()

Nothing here imports TRL: the objects only follow its interface.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["TextGameEnvironment", "game_reward", "text_game_factory"]


class TextGameEnvironment:
    """One ``ompo_envs`` text game, learner ``player_0`` against ``opponent``, for TRL.

    Args:
        env: A text preference game (``ompo_envs.make("TextRockPaperScissors-v0")``).
        opponent: Any policy :class:`~ompo_envs.wrappers.SingleAgentEnv` takes: an object with
            ``sample(observation, info, rng)`` (an :class:`~ompo_envs.lm.LMPolicy`) or a
            function ``(observation, info, rng) -> answer``.
        seed: Seeds the first episode (the opponent's and the env's draws); later episodes
            continue that stream. ``None``: fresh entropy.

    Attributes:
        history: One ``{"prompt", "answer", "answer_class", "reward"}`` per answer played.
    """

    def __init__(self, env: Any, opponent: Any, *, seed: int | None = None) -> None:
        from ompo_envs.wrappers.single_agent import SingleAgentEnv

        self._game = SingleAgentEnv(env, opponent, agent="player_0")
        self._seed = seed
        self._prompt: str | None = None
        self.history: list[dict[str, Any]] = []

    def reset(self, **example: Any) -> str:
        """Start an episode; return the user message the learner answers.

        ``example`` (the dataset row TRL passes) is not used: the game draws its own s1.

        Raises:
            TypeError: The game is not a text game (its info has no ``messages``).
        """
        seed, self._seed = self._seed, None
        _, info = self._game.reset(seed=seed)
        messages = info.get("messages")
        if not messages or messages[-1].get("role") != "user":
            raise TypeError(
                "TextGameEnvironment needs a text game whose info['messages'] ends with the "
                f"user's turn (e.g. TextRockPaperScissors-v0), got info keys {sorted(info)}"
            )
        self._prompt = str(messages[-1]["content"])
        return self._prompt

    def _play(self, answer: str) -> float:
        """Play ``answer`` as the learner's move of the current stage; return its reward."""
        if self._prompt is None:
            raise RuntimeError(
                "TextGameEnvironment: reset() must start an episode before an answer"
            )
        _, reward, _, _, info = self._game.step(answer)
        self.history.append(
            {
                "prompt": self._prompt,
                "answer": answer,
                "answer_class": info.get("answer_class"),
                "reward": reward,
            }
        )
        self._prompt = None  # one answer per rollout
        return reward


def text_game_factory(
    env_id: str,
    opponent: Any,
    *,
    seed: int | None = 0,
    env_kwargs: Mapping[str, Any] | None = None,
) -> Callable[[], TextGameEnvironment]:
    """Return TRL's ``environment_factory``: each call a new :class:`TextGameEnvironment`.

    Instance i plays ``ompo_envs.make(env_id, **env_kwargs)`` with seed ``seed + i`` (``None``:
    unseeded), so a run's episodes are reproducible.

    Raises:
        ValueError: ``env_id`` is not a registered env (from ``ompo_envs.make``), at once.
    """
    from ompo_envs.registration import make

    kwargs = dict(env_kwargs or {})
    make(env_id, **kwargs)  # a wrong id or option fails here, not inside the trainer
    created = [0]

    def factory() -> TextGameEnvironment:
        index = created[0]
        created[0] += 1
        instance_seed = None if seed is None else seed + index
        return TextGameEnvironment(make(env_id, **kwargs), opponent, seed=instance_seed)

    return factory


def game_reward(
    completions: Sequence[Any], environments: Sequence[TextGameEnvironment], **_: Any
) -> list[float]:
    """TRL reward function: play each completion in its rollout's game; its reward to player_0.

    A completion is a string (standard prompts) or a list of messages (conversational: the last
    message's content is the answer).

    Raises:
        ValueError: ``environments`` is missing (the trainer was not given a
            ``text_game_factory`` as ``environment_factory``) or of another length.
    """
    if environments is None or len(environments) != len(completions):
        raise ValueError(
            "game_reward needs GRPOTrainer(environment_factory=text_game_factory(...)): one "
            f"environment per completion, got {0 if environments is None else len(environments)} "
            f"for {len(completions)} completions"
        )
    rewards = []
    for completion, environment in zip(completions, environments, strict=True):
        answer = completion if isinstance(completion, str) else completion[-1]["content"]
        rewards.append(float(environment._play(str(answer))))
    return rewards
