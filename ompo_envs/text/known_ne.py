"""Text games with a known Nash equilibrium: free-text answers, answer classes, a matrix oracle.

An LLM trained through the text API on these games can be scored by *exact* exploitability: map
its answers to classes (the oracle's keyword classifier), and read the game off the class matrix.

For a one-stage symmetric constant-sum game with class matrix M (M[i, j] = P(class i ≻ class j),
M + Mᵀ = 1) and a policy π over classes, the exploitability is

    expl(π) = max_j (M π)_j − ½  ≥ 0,

the best response's win rate minus the game value ½; it is 0 exactly at a (symmetric) Nash
equilibrium. Here both games have the NE "uniform over the three named answers".
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ompo_envs.core.preference_game import Episode
from ompo_envs.core.validation import probability_array, real_array
from ompo_envs.oracles.base import PreferenceOracle
from ompo_envs.text.base import TextPreferenceGameEnv, TextState, rendered_length_bound

__all__ = [
    "RPS_MATRIX",
    "ClassMatrixGameEnv",
    "TextRockPaperScissorsEnv",
    "TextVotersEnv",
    "class_exploitability",
]

#: Rock-Paper-Scissors as a preference matrix over (rock, paper, scissors).
RPS_MATRIX: tuple[tuple[float, ...], ...] = ((0.5, 0.0, 1.0), (1.0, 0.5, 0.0), (0.0, 1.0, 0.5))
#: Keywords (whole words, case-insensitive) that name each move, in class order.
RPS_KEYWORDS: tuple[tuple[str, ...], ...] = (("rock", "stone"), ("paper",), ("scissors", "scissor"))


def class_exploitability(matrix: Any, policy: Any) -> float:
    """Return expl(π) = max_j (M π)_j − ½ for a class matrix M and a distribution π over classes.

    Args:
        matrix: (K, K) preference matrix with M + Mᵀ = 1.
        policy: (K,) probabilities (non-negative, summing to 1).

    Raises:
        TypeError: An argument does not hold real numbers (strings, complex numbers, ...).
        ValueError: Shapes disagree, or ``policy`` is not a probability vector.
    """
    m = real_array(matrix, "matrix")
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix must be square (K, K), got shape {m.shape}")
    p = probability_array(policy, "policy", shape=(m.shape[0],))
    return float(np.max(m @ p) - 0.5)


class ClassMatrixGameEnv(TextPreferenceGameEnv):
    """A one-stage text game whose oracle maps answers to classes and reads a class matrix.

    Subclasses set :attr:`prompt` and build the default oracle; see
    :class:`TextRockPaperScissorsEnv` for the documentation of the shared behaviour.
    """

    prompt: ClassVar[str] = ""

    def __init__(
        self,
        oracle: PreferenceOracle,
        matrix: np.ndarray,
        classify: Callable[[str], int],
        classes: Sequence[str],
        nash_equilibrium: np.ndarray,
        *,
        max_answer_chars: int,
        render_mode: str | None,
    ) -> None:
        #: Full class matrix, including the unrecognised class: M[i, j] = P(class i ≻ class j).
        self.class_matrix = np.asarray(matrix, dtype=np.float64)
        self.class_matrix.setflags(write=False)
        self.classes: tuple[str, ...] = tuple(classes)
        self._classify = classify
        #: The known symmetric Nash equilibrium over :attr:`classes`.
        self.nash_equilibrium = np.asarray(nash_equilibrium, dtype=np.float64)
        self.nash_equilibrium.setflags(write=False)
        super().__init__(
            oracle=oracle,
            horizon=1,
            reward_mode="intermediate",
            max_answer_chars=max_answer_chars,
            render_mode=render_mode,
        )

    # ------------------------------------------------------------------ scoring
    def classify(self, answer: str) -> int:
        """Return the class index of a free-text ``answer`` (see :attr:`classes`)."""
        if not isinstance(answer, str):
            raise TypeError(f"answer must be a string, got {type(answer).__name__}")
        return int(self._classify(answer))

    def class_distribution(self, answers: Sequence[str]) -> np.ndarray:
        """Return the empirical distribution over :attr:`classes` of sampled ``answers``."""
        if isinstance(answers, str) or len(answers) == 0:
            raise ValueError("answers must be a non-empty list of answer strings")
        counts = np.bincount(
            [self.classify(a) for a in answers], minlength=len(self.classes)
        ).astype(np.float64)
        return counts / counts.sum()

    def exploitability(self, policy: Any) -> float:
        """Return the exact exploitability of a distribution over :attr:`classes` (module doc)."""
        return class_exploitability(self.class_matrix, policy)

    def value(self, policy: Any, opponent: Any) -> float:
        """Return player_0's expected reward πᵀ M π' for class distributions π, π'.

        Raises:
            TypeError: A policy does not hold real numbers.
            ValueError: A policy is not a distribution over :attr:`classes` (shape (K,),
                non-negative, summing to 1).
        """
        k = len(self.classes)
        p = probability_array(policy, "policy", shape=(k,))
        q = probability_array(opponent, "opponent", shape=(k,))
        return float(p @ self.class_matrix @ q)

    def preference_key(self, state: TextState, answer: str) -> Hashable:
        """The class of the answer the oracle compares, when the oracle is a class matrix.

        A :class:`~ompo_envs.oracles.MatrixOracle` ignores the context and reads
        M[c(a), c(a')], so two answers of one class are alike against any other
        (:meth:`TextPreferenceGameEnv.preference_key`). Another oracle: the default key.
        """
        from ompo_envs.oracles.synthetic import MatrixOracle

        if isinstance(self.oracle, MatrixOracle):
            return ("class", int(self.oracle.classify(self._answer_text(state, answer))))
        return super().preference_key(state, answer)

    # ------------------------------------------------------------------ hooks
    def _max_observation_chars(self) -> int:
        return rendered_length_bound([len(self.prompt), self.max_answer_chars])

    def _initial_state(self, options: Mapping[str, Any]) -> tuple[TextState, dict[str, Any]]:
        messages = (("user", self.prompt),)
        return TextState(messages=messages, shared=messages), {}

    def _next_state(self, state: TextState, action: str, episode: Episode[TextState]) -> TextState:
        return TextState(
            messages=(*state.messages, ("assistant", action)),
            shared=state.shared,
            answers=(action,),
        )

    def _extra_info(self, state: TextState, episode: Episode[TextState]) -> dict[str, Any]:
        if not state.answers:
            return {"answer_class": None}
        return {"answer_class": self.classes[self.classify(state.answers[-1])]}


class TextRockPaperScissorsEnv(ClassMatrixGameEnv):
    """Rock-Paper-Scissors played in free text, with a matrix oracle: NE uniform, value ½.

    ## Description
    A one-stage text game with a known Nash equilibrium, to check that an LLM trained through
    the text API converges: both players read the same prompt and answer in free text; the
    answer is mapped to a move and the oracle reads the Rock-Paper-Scissors matrix.

    ```python
    import ompo_envs

    env = ompo_envs.make("TextRockPaperScissors-v0")
    env.reset(seed=0)
    _, rewards, *_ = env.step({"player_0": "Paper!", "player_1": "I'll go with rock."})
    print(rewards)                                  # {'player_0': 1.0, 'player_1': 0.0}
    print(env.exploitability([1/3, 1/3, 1/3, 0]))   # 0.0: the NE
    print(env.exploitability([1, 0, 0, 0]))         # 0.5: always rock, beaten by paper
    ```

    ## Agents
    ``player_0`` and ``player_1``, symmetric.

    ## Action Space
    ``UnicodeText(max_answer_chars)`` (default 4,096 characters): any answer. Mapping to moves
    (``MatrixOracle.from_keywords``): an answer is *rock* if it contains the whole word "rock" or
    "stone", else *paper* if it contains "paper", else *scissors* if it contains "scissors" or
    "scissor" (case-insensitive; classes are tried in this order, so "rock or paper" is rock),
    else *unrecognised* (this includes the empty answer, which is legal).

    ## Observation Space
    ``UnicodeText(L)``: ``"User: <prompt>"`` before the move; the terminal observation adds the
    player's own answer. ``infos[agent]["answer_class"]`` names the class of the answer.

    ## Preference Model
    ``MatrixOracle`` over (rock, paper, scissors, unrecognised): a move beats the move it
    defeats with probability 1, ties ½; an unrecognised answer loses to every move (P = 0) and
    ties ½ with another unrecognised answer. The context (the prompt) is ignored.

    ## Rewards
    One stage: player_0 gets M[c(a), c(a')], player_1 the complement. The symmetric NE is
    uniform over rock, paper, scissors (never unrecognised), with value ½; ``exploitability(π)``
    = max_j (M π)_j − ½ for a distribution π over the four classes.

    ## Starting State
    The fixed prompt :attr:`prompt`.

    ## Episode End
    After one stage (H = 1).

    ## Arguments
    * ``oracle``: a :class:`~ompo_envs.oracles.synthetic.MatrixOracle` (default: the one above).
    * ``max_answer_chars``: longest legal answer (default 4,096).
    * ``render_mode``: ``None`` or ``"ansi"``.

    ## Version History
    * v0: Initial version.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "text_rock_paper_scissors_v0",
        "render_modes": ["ansi"],
    }
    prompt: ClassVar[str] = (
        "Let's play rock-paper-scissors. Reply with your move: rock, paper or scissors."
    )

    def __init__(
        self,
        oracle: PreferenceOracle | None = None,
        *,
        max_answer_chars: int = 4096,
        render_mode: str | None = None,
    ) -> None:
        from ompo_envs.oracles.synthetic import MatrixOracle

        if oracle is None:
            oracle = MatrixOracle.from_keywords(RPS_MATRIX, RPS_KEYWORDS, p_unrecognised_wins=0.0)
        if not isinstance(oracle, MatrixOracle):
            raise TypeError(
                "TextRockPaperScissors-v0 needs a MatrixOracle (its exploitability is read off "
                f"the class matrix); got {type(oracle).__name__}"
            )
        k = oracle.num_classes
        nash = np.zeros(k)
        nash[:3] = 1.0 / 3.0
        super().__init__(
            oracle,
            oracle.matrix,
            oracle.classify,
            oracle.classes,
            nash,
            max_answer_chars=max_answer_chars,
            render_mode=render_mode,
        )


class TextVotersEnv(ClassMatrixGameEnv):
    """The intransitive voters of the paper's App. H, in free text: NE uniform, value ½.

    ## Description
    Three transitive annotators rank three answers y1, y2, y3 (e1: y3 > y1 > y2, e2: y2 > y3 >
    y1, e3: y1 > y2 > y3); their average preference is the cycle P(y1 ≻ y2) = P(y2 ≻ y3) =
    P(y3 ≻ y1) = 2/3, which no Bradley-Terry model can represent. The symmetric NE is uniform
    over y1, y2, y3 with value ½.

    ```python
    import ompo_envs

    env = ompo_envs.make("TextVoters-v0")
    env.reset(seed=0)
    _, rewards, *_ = env.step({"player_0": "I choose y1.", "player_1": "y2"})
    print(round(rewards["player_0"], 6))            # 0.666667: y1 beats y2 with P = 2/3
    ```

    ## Agents
    ``player_0`` and ``player_1``, symmetric.

    ## Action Space
    ``UnicodeText(max_answer_chars)``: any answer. Mapping: the first of the whole words "y1",
    "y2", "y3" (tried in that order, case-insensitive) names the class; an answer naming none is
    *unrecognised* (the empty answer is legal and unrecognised).

    ## Observation Space
    ``UnicodeText(L)``: ``"User: <prompt>"``; the terminal observation adds the own answer.

    ## Preference Model
    ``AnnotatorMixtureOracle.paper_app_h_voters()``: equal-weight mixture of the three voters;
    an unrecognised answer loses to y1, y2, y3 (P = 0) and ties ½ with another one.

    ## Rewards
    One stage: player_0 gets M[c(a), c(a')], player_1 the complement.
    ``exploitability(π)`` = max_j (M π)_j − ½ over the four classes (y1, y2, y3, unrecognised):
    0 at the NE (⅓, ⅓, ⅓, 0), 1/6 for any pure named answer.

    ## Starting State
    The fixed prompt :attr:`prompt`.

    ## Episode End
    After one stage (H = 1).

    ## Arguments
    * ``max_answer_chars``: longest legal answer (default 4,096).
    * ``render_mode``: ``None`` or ``"ansi"``.

    ## Version History
    * v0: Initial version.
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "text_voters_v0", "render_modes": ["ansi"]}
    prompt: ClassVar[str] = "Pick one of the three answers y1, y2 or y3. Reply with your choice."

    def __init__(
        self,
        *,
        max_answer_chars: int = 4096,
        render_mode: str | None = None,
    ) -> None:
        from ompo_envs.oracles.synthetic import AnnotatorMixtureOracle

        oracle = AnnotatorMixtureOracle.paper_app_h_voters()
        named = np.asarray(oracle.class_matrix, dtype=np.float64)
        k = named.shape[0]
        full = np.full((k + 1, k + 1), 0.5)
        full[:k, :k] = named
        full[k, :k] = 0.0  # unrecognised loses to every named answer
        full[:k, k] = 1.0
        nash = np.append(np.full(k, 1.0 / k), 0.0)
        super().__init__(
            oracle,
            full,
            oracle.classify,
            (*oracle.classes, "unrecognised"),
            nash,
            max_answer_chars=max_answer_chars,
            render_mode=render_mode,
        )
