"""The text env base: a preference game whose states are conversations and actions are answers.

Paper §2.2, Examples 2–3: a state is a sentence (here: a conversation, a list of role/content
messages); each player's answers become *its own* history, s_{h+1} = [s_h, a_h, x_{h+1}]; every paid
stage pays player_0 r_h = P([s_h, a_h] ≻ [s'_h, a'_h]) from a :class:`PreferenceOracle` and player_1
1 − r_h. Both players' rewards come from one batched oracle call (and :class:`~ompo_envs.text.batch.
TextEnvBatch` puts N episodes, or K branches of one state, into one call).

How a pair (s, a, s', a') reaches the oracle (the *comparison mapping*):

* An oracle with a ``compare_conversations(conversations_a, conversations_b)`` method (PairRM
  compares whole multi-turn conversations) gets the two whole conversations [s, a] and [s', a'] —
  the paper's definition of the reward.
* Any other :class:`PreferenceOracle` answers P(a ≻ b | context) for a context *shared* by both
  answers. It gets ``context = state.shared`` — the part of the conversation that is the same for
  both players (its definition is game-specific: the dialogue's user turns with the dataset's
  reference replies between them for MT-Bench-101; the problem for reasoning games) — and the two
  answer texts of :meth:`TextPreferenceGameEnv._answer_text` (the latest answer for a dialogue; the
  whole reasoning trace so far for chain of thought).

Actions are plain ``str`` answers (the empty string is a legal answer); observations are the
player's own conversation rendered as one string (:func:`render_conversation`), with the message
list in ``infos[agent]["messages"]``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium
import numpy as np

from ompo_envs.core.preference_game import Episode, PreferenceGameEnv, RewardMode
from ompo_envs.oracles.base import PreferenceOracle
from ompo_envs.text.spaces import TextObservation, UnicodeText, has_lone_surrogate

__all__ = [
    "DEFAULT_MAX_ANSWER_CHARS",
    "DEFAULT_PAIRRM",
    "ROLE_PREFIXES",
    "Messages",
    "TextPreferenceGameEnv",
    "TextState",
    "load_default_oracle",
    "render_conversation",
    "rendered_length_bound",
]

#: A conversation as an immutable tuple of ``(role, content)`` pairs.
Messages = tuple[tuple[str, str], ...]

#: Default largest answer, in characters: ~4,000 tokens, twice the paper's 2,048-token answers.
DEFAULT_MAX_ANSWER_CHARS = 16_384
#: The paper's preference oracle (§4.2): the Hugging Face id of PairRM.
DEFAULT_PAIRRM = "llm-blender/PairRM"
#: How :func:`render_conversation` labels each role.
ROLE_PREFIXES: dict[str, str] = {"system": "System: ", "user": "User: ", "assistant": "Assistant: "}
_SEPARATOR = "\n\n"
_MESSAGE_OVERHEAD = max(len(p) for p in ROLE_PREFIXES.values()) + len(_SEPARATOR)


def render_conversation(messages: Messages) -> str:
    r"""Render a conversation as ``"User: ...\n\nAssistant: ...\n\nUser: ..."``.

    The rendering is for reading and for policies that take a single string; it is not a chat
    template (apply the model's own template to ``infos[agent]["messages"]`` for that).
    """
    return _SEPARATOR.join(ROLE_PREFIXES[role] + content for role, content in messages)


def rendered_length_bound(content_lengths: Sequence[int]) -> int:
    """Return an upper bound on ``len(render_conversation(m))`` for messages of these lengths."""
    return sum(content_lengths) + _MESSAGE_OVERHEAD * len(content_lengths)


@dataclass(frozen=True)
class TextState:
    """One player's state in a text game (immutable; branching copies it for free).

    Attributes:
        messages: The player's own conversation so far, ``(role, content)`` pairs, ending with the
            user turn to answer (or with the last answer, in the terminal state).
        shared: The part of the conversation that is identical for both players at this stage;
            what a shared-context oracle sees as its context.
        answers: The player's own answers a_1, ..., a_{h-1} so far.
    """

    messages: Messages
    shared: Messages
    answers: tuple[str, ...] = ()

    def message_dicts(self) -> list[dict[str, str]]:
        """Return :attr:`messages` as a new list of ``{"role", "content"}`` dicts."""
        return [{"role": role, "content": content} for role, content in self.messages]

    def __deepcopy__(self, memo: dict[int, Any]) -> TextState:
        return self


def load_default_oracle() -> PreferenceOracle:
    """Load the paper's default preference oracle, PairRM (``llm-blender/PairRM``).

    Raises:
        RuntimeError: PairRM cannot be loaded (no torch/transformers, no network and no cached
            checkpoint, ...); the message says how to pass a local checkpoint or a CPU oracle.
    """
    try:
        from ompo_envs.oracles import PairRM

        return PairRM.from_pretrained(DEFAULT_PAIRRM)
    except Exception as error:
        raise RuntimeError(
            f"could not load the default preference oracle PairRM ({DEFAULT_PAIRRM!r}): "
            f"{type(error).__name__}: {error}\n"
            "Pass an oracle explicitly, e.g. a local PairRM checkpoint:\n"
            "    from ompo_envs.oracles import PairRM\n"
            "    env = ompo_envs.make(..., oracle=PairRM.from_pretrained('/local/dir/PairRM'))\n"
            "or the offline CPU oracle (pip install 'ompo-envs[embedding]'):\n"
            "    from ompo_envs.oracles import EmbeddingOracle\n"
            "    env = ompo_envs.make(..., oracle=EmbeddingOracle())"
        ) from error


def check_oracle(oracle: Any) -> PreferenceOracle:
    """Return ``oracle`` if it is a :class:`PreferenceOracle`; ``None`` loads the default PairRM."""
    if oracle is None:
        return load_default_oracle()
    if not isinstance(oracle, PreferenceOracle):
        raise TypeError(
            "oracle must be a ompo_envs.oracles.PreferenceOracle (e.g. EmbeddingOracle() or "
            f"PairRM.from_pretrained(path)), got {type(oracle).__name__}"
        )
    return oracle


class TextPreferenceGameEnv(PreferenceGameEnv[TextState, str]):
    """Base of the text games: conversation states, answer-string actions, an oracle's preference.

    Subclasses implement ``_initial_state``, ``_next_state`` and :meth:`_max_observation_chars`, and
    may override :meth:`_answer_text`, :meth:`_conversation` and :meth:`_extra_info`.

    Args:
        oracle: The preference model; ``None`` loads PairRM (see :func:`load_default_oracle`).
        horizon: Largest number of stages H.
        reward_mode: ``"intermediate"`` (pay at every stage) or ``"terminal"`` (App. G ablation).
        max_answer_chars: Longest legal answer, in characters; longer actions raise ``ValueError``.
        render_mode: ``None`` or ``"ansi"``.
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "text_preference_game", "render_modes": ["ansi"]}
    _shared_attributes: ClassVar[tuple[str, ...]] = ("oracle",)
    _preference_model_attribute: ClassVar[str | None] = "oracle"

    def __init__(
        self,
        *,
        oracle: PreferenceOracle | None,
        horizon: int,
        reward_mode: RewardMode = "intermediate",
        max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
        render_mode: str | None = None,
    ) -> None:
        if (
            isinstance(max_answer_chars, bool)
            or not isinstance(max_answer_chars, int | np.integer)
            or max_answer_chars < 1
        ):
            raise ValueError(f"max_answer_chars must be an integer >= 1, got {max_answer_chars!r}")
        self.max_answer_chars = int(max_answer_chars)
        super().__init__(horizon=horizon, reward_mode=reward_mode, render_mode=render_mode)
        # Last, so that a bad argument fails before the (possibly slow) default oracle loads.
        self.oracle: PreferenceOracle = check_oracle(oracle)

    # ------------------------------------------------------------------ hooks for text games
    def _max_observation_chars(self) -> int:
        """Return an upper bound on the length of any observation of this env."""
        raise NotImplementedError

    def _answer_text(self, state: TextState, action: str) -> str:
        """Return the text a shared-context oracle compares for ``[state, action]``.

        Default: the latest answer ``action`` (a dialogue turn).
        """
        return action

    def _conversation(self, state: TextState, action: str) -> list[dict[str, str]]:
        """Return the whole conversation [s, a] for a conversation-comparing oracle."""
        return [*state.message_dicts(), {"role": "assistant", "content": action}]

    def _extra_info(self, state: TextState, episode: Episode[TextState]) -> dict[str, Any]:
        """Return game-specific per-player infos (default: none)."""
        return {}

    def preference_key(self, state: TextState, answer: str) -> Hashable:
        """A key of ``[state, answer]`` for its preferences: equal keys, equal preferences.

        Two pairs ``[s, a]`` and ``[s̃, ã]`` of the same stage with equal keys get the same
        P(· ≻ [s', a']) against every ``[s', a']`` (and the same P([s', a'] ≻ ·)), so a solver
        that compares many pairs asks the oracle once per distinct pair of keys and looks the
        rest up (:class:`solvers.lm.rollouts.ComparisonPool`). Default: ``(state, answer)``
        itself (no two distinct pairs are assumed alike). A game whose oracle reads less
        (a class of the answer, a tabular state index) returns only that.
        """
        return (state, answer)

    # ------------------------------------------------------------------ base hooks
    def _check_snapshot(self, episode: Episode[TextState]) -> None:
        for state in (episode.s1, *episode.states):
            if type(state) is not type(episode.s1) or not isinstance(state, TextState):
                raise ValueError(
                    "a text game's snapshot holds TextStates of one type, got "
                    f"{type(episode.s1).__name__} and {type(state).__name__}"
                )
            for field_name in ("messages", "shared"):
                messages = getattr(state, field_name)
                if not isinstance(messages, tuple) or not all(
                    isinstance(m, tuple)
                    and len(m) == 2
                    and m[0] in ROLE_PREFIXES
                    and isinstance(m[1], str)
                    for m in messages
                ):
                    raise ValueError(
                        f"a snapshot's TextState.{field_name} must be a tuple of (role, text) "
                        f"pairs with roles {list(ROLE_PREFIXES)}"
                    )
            if not isinstance(state.answers, tuple) or not all(
                isinstance(a, str) for a in state.answers
            ):
                raise ValueError("a snapshot's TextState.answers must be a tuple of strings")

    def _make_observation_space(self) -> gymnasium.Space:
        return UnicodeText(self._max_observation_chars())

    def _make_action_space(self) -> gymnasium.Space:
        return UnicodeText(self.max_answer_chars)

    def _check_action(self, agent: str, action: Any) -> str:
        if not isinstance(action, str):
            raise TypeError(
                f"the action of {agent} must be a string (the answer text), got "
                f"{type(action).__name__}: {action!r:.80}"
            )
        if len(action) > self.max_answer_chars:
            raise ValueError(
                f"the answer of {agent} has {len(action)} characters, more than "
                f"max_answer_chars={self.max_answer_chars}; shorten it or make the env with a "
                "larger max_answer_chars"
            )
        if has_lone_surrogate(action):
            raise ValueError(
                f"the answer of {agent} holds a lone surrogate code point, which is not valid "
                "Unicode text; decode model output with errors='replace'"
            )
        return str(action)

    def _observation(self, state: TextState, episode: Episode[TextState]) -> TextObservation:
        return TextObservation(render_conversation(state.messages))

    def _player_info(self, state: TextState, episode: Episode[TextState]) -> dict[str, Any]:
        return {
            "messages": state.message_dicts(),
            "answers": list(state.answers),
            **self._extra_info(state, episode),
        }

    def _preferences(self, pairs: Sequence[tuple[TextState, str, TextState, str]]) -> np.ndarray:
        """Return P([s, a] ≻ [s', a']) for each pair with one oracle call (see the module doc)."""
        compare_conversations = getattr(self.oracle, "compare_conversations", None)
        if callable(compare_conversations):
            return compare_conversations(
                [self._conversation(s, a) for s, a, _, _ in pairs],
                [self._conversation(s2, a2) for _, _, s2, a2 in pairs],
            )
        contexts = []
        for s, _, s2, _ in pairs:
            if s.shared != s2.shared:
                raise RuntimeError(
                    "the two players' shared contexts differ; a text game must give both players "
                    "the same TextState.shared at every stage"
                )
            contexts.append([{"role": role, "content": text} for role, text in s.shared])
        return self.oracle.compare(
            contexts,
            [self._answer_text(s, a) for s, a, _, _ in pairs],
            [self._answer_text(s2, a2) for _, _, s2, a2 in pairs],
        )
