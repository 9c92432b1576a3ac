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
opponent a fixed policy. One rollout is one answer at one state s_h: :func:`game_reward`, the
reward function, plays the completion as the learner's answer a against the opponent's a' and
returns the env's reward to player_0, the preference r_h = P([s_h, a] ≻ [s'_h, a']) (the game's
stage reward, §2 of the paper). Without a dataset each rollout answers the first turn of a
fresh episode; :func:`text_game_dataset` makes rows at every turn of a multi-turn game (the
earlier turns played by a fixed policy), which ``reset`` replays. The environment has no tools,
so the model answers in plain text (TRL still checks that the chat template can render tool
calls).

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

import numpy as np

__all__ = ["TextGameEnvironment", "game_reward", "text_game_dataset", "text_game_factory"]


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

    def reset(self, **example: Any) -> str | None:
        """Start an episode at the turn the learner answers.

        Without ``prefix`` in ``example`` (TRL's placeholder rows when there is no dataset, or
        a dataset of plain prompts) the episode starts at its first turn, drawn by the game,
        and the user message returned is what TRL appends to the prompt. A row of
        :func:`text_game_dataset` (``prompt``, ``seed``, ``prefix``) is replayed: reset with
        ``seed``, then the learner's earlier answers ``prefix`` (the opponent's drawn again from
        the same seed), which leads to the conversation of ``prompt``; nothing is returned, as
        the prompt already holds it.

        Raises:
            TypeError: The game is not a text game (its info has no ``messages``).
            ValueError: The row does not replay to its prompt (another game, opponent or seed).
        """
        if "prefix" not in example:
            seed, self._seed = self._seed, None
            messages = _replay(self._game, seed, ())
            self._prompt = str(messages[-1]["content"])
            return self._prompt
        messages = _replay(self._game, int(example["seed"]), example["prefix"])
        prompt = example.get("prompt")
        if prompt is not None and [dict(m) for m in prompt] != messages:
            raise ValueError(
                "TextGameEnvironment: the row's seed and prefix replay to another conversation "
                "than its prompt: build the dataset with text_game_dataset for the same game "
                "and opponent"
            )
        self._prompt = str(messages[-1]["content"])
        return None

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


def text_game_dataset(
    env_id: str,
    opponent: Any,
    num_rows: int,
    *,
    prefix_policy: Any = None,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
) -> Any:
    """Return a ``datasets.Dataset`` of states at every turn of a multi-turn game, for GRPO.

    Row i: an episode reset with its own seed, a turn h uniform in 1..H (H the env's
    horizon; fewer if the episode ends first), and the learner's first h − 1 answers drawn from
    ``prefix_policy`` (default: the opponent) against the opponent. Columns: ``prompt`` (the
    learner's conversation, ending with the user's turn h), ``seed`` and ``prefix`` (the
    answers), from which :meth:`TextGameEnvironment.reset` replays the state. Pass it as
    ``GRPOTrainer(train_dataset=...)`` with ``environment_factory=text_game_factory(env_id,
    opponent)``, the same opponent.

    Raises:
        ValueError: ``num_rows`` < 1, or ``env_id`` is not a registered env.
        ImportError: ``datasets`` is not installed.
    """
    try:
        import datasets
    except ImportError as error:
        raise ImportError(
            'text_game_dataset needs the datasets package: pip install "ompo-envs[trl]"'
        ) from error
    from ompo_envs.policies import as_policy
    from ompo_envs.registration import make
    from ompo_envs.wrappers.single_agent import SingleAgentEnv

    if num_rows < 1:
        raise ValueError(f"num_rows must be >= 1, got {num_rows}")
    kwargs = dict(env_kwargs or {})
    game = SingleAgentEnv(make(env_id, **kwargs), opponent, agent="player_0")
    answers_from = as_policy(opponent if prefix_policy is None else prefix_policy, "prefix_policy")
    rng = np.random.default_rng(seed)
    rows: dict[str, list[Any]] = {"prompt": [], "seed": [], "prefix": []}
    for _ in range(num_rows):
        row_seed = int(rng.integers(2**31 - 1))
        turn = int(rng.integers(1, game.env.horizon + 1))
        observation, info = game.reset(seed=row_seed)
        prefix: list[str] = []
        for _ in range(turn - 1):
            answer = str(answers_from.sample(observation, info, rng))
            observation, _, terminated, truncated, info = game.step(answer)
            if terminated or truncated:
                break  # turn h does not exist in this episode: stay at the last one that does
            prefix.append(answer)
        rows["prompt"].append(_replay(game, row_seed, prefix))
        rows["seed"].append(row_seed)
        rows["prefix"].append(prefix)
    return datasets.Dataset.from_dict(rows)


def _replay(game: Any, seed: int | None, prefix: Sequence[str]) -> list[dict[str, str]]:
    """Reset ``game`` with ``seed``, play the learner's ``prefix``; return its conversation."""
    _, info = game.reset(seed=seed)
    for turn, answer in enumerate(prefix, start=1):
        _, _, terminated, truncated, info = game.step(str(answer))
        if terminated or truncated:
            raise ValueError(
                f"the episode ended at turn {turn} of a prefix of {len(prefix)} answers: the "
                "row belongs to another game or seed"
            )
    messages = info.get("messages")
    if not messages or messages[-1].get("role") != "user":
        raise TypeError(
            "TextGameEnvironment needs a text game whose info['messages'] ends with the "
            f"user's turn (e.g. TextRockPaperScissors-v0), got info keys {sorted(info)}"
        )
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]


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
