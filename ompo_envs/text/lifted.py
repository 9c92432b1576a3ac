"""Any tabular game as a text game: states rendered as text, each action a word (a lifted game).

A :class:`~ompo_envs.tabular.TabularGame` (states S, actions A, kernel f, preference r, horizon
H) becomes a text game with a known Nash equilibrium, so a language model trained through the
text API can be scored by exact exploitability (:mod:`ompo_envs.text.induced`):

* **states as text** — each stage's user turn names the stage and the player's tabular state;
  the player's conversation accumulates its own turns, s_{h+1} = [s_h, a_h, x_{h+1}];
* **actions as words** — action i is named by ``action_words[i]``; an answer is mapped to the
  first action one of whose keywords it contains as a whole word (case-insensitive,
  :class:`~ompo_envs.oracles.synthetic.KeywordClassifier`);
* **unmapped answers** — an answer that names no action is the extra class *unrecognised*
  (index A): its stage preference is 0 against any named action and ½ against another
  unrecognised answer, and the player moves as a uniformly random named action would,
  f(·|s, unrecognised) = (1/A) Σ_a f(·|s, a). It is never better than playing the uniform mixture
  of named actions, so the lifted game's equilibria play named actions only and keep the tabular
  game's value.

:func:`lifted_class_game` returns the (A + 1)-action game over answer classes that the env plays;
exact evaluation of a text policy runs on it.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ompo_envs.core.preference_game import Episode, RewardMode
from ompo_envs.oracles.base import PreferenceOracle
from ompo_envs.oracles.synthetic import KeywordClassifier
from ompo_envs.tabular import TabularGame, random_game
from ompo_envs.text.base import TextPreferenceGameEnv, TextState, rendered_length_bound

__all__ = [
    "DEFAULT_ACTION_WORDS",
    "LiftedRandomGameEnv",
    "LiftedState",
    "LiftedTabularEnv",
    "TabularPreferenceOracle",
    "TextRepeatedRockPaperScissorsEnv",
    "lifted_class_game",
]

#: Words naming actions 0..9 of a game that does not name its own.
DEFAULT_ACTION_WORDS = (
    "red",
    "green",
    "blue",
    "yellow",
    "purple",
    "orange",
    "black",
    "white",
    "pink",
    "brown",
)
#: Default user turn; fields: ``{h}``, ``{horizon}``, ``{state}`` (the state's sentence and a
#: space, empty in a one-state game) and ``{actions}`` (the action words).
DEFAULT_PROMPT = "Round {h} of {horizon}. {state}Reply with one word: {actions}."


def lifted_class_game(game: TabularGame) -> TabularGame:
    """Return the (A + 1)-action game over answer classes: A named actions + *unrecognised*.

    Unrecognised (index A) moves as the uniform mixture of the named actions and has
    preference 0 against every named action, ½ against itself (see the module docstring).
    The result is antisymmetric whenever ``game`` is.
    """
    s, a = game.num_states, game.num_actions
    transitions = np.concatenate(
        [game.transitions, game.transitions.mean(axis=1, keepdims=True)], axis=1
    )
    reward = np.full((s, a + 1, s, a + 1), 0.5)
    reward[:, :a, :, :a] = game.reward
    reward[:, a, :, :a] = 0.0
    reward[:, :a, :, a] = 1.0
    return TabularGame(
        initial_distribution=game.initial_distribution,
        transitions=transitions,
        reward=reward,
        horizon=game.horizon,
        reward_mode=game.reward_mode,
    )


@dataclass(frozen=True)
class LiftedState(TextState):
    """A player's state in a lifted game: its conversation and its tabular state.

    Attributes:
        index: The tabular state s_h (an index into the game's states).
    """

    index: int = 0


class TabularPreferenceOracle(PreferenceOracle):
    """P([s, a] ≻ [s', a']) = r(s, c(a), s', c(a')): a tabular preference over answer classes.

    The oracle of a lifted game. It compares *state-answer pairs* (:meth:`compare_states`); the
    shared-context :meth:`compare` of other oracles does not apply because the two players'
    tabular states differ.

    Args:
        class_game: The game over answer classes (:func:`lifted_class_game`).
        classify: Maps an answer to its class in ``range(A + 1)``.
    """

    def __init__(self, class_game: TabularGame, classify: KeywordClassifier) -> None:
        super().__init__(batch_size=1_000_000)
        self.class_game = class_game
        self.classify = classify

    def compare_states(
        self,
        states_a: Sequence[int],
        answers_a: Sequence[str],
        states_b: Sequence[int],
        answers_b: Sequence[str],
    ) -> np.ndarray:
        """Return r(s_i, c(a_i), s'_i, c(a'_i)) for each i, shape (n,)."""
        classes_a = [self.classify(a) for a in answers_a]
        classes_b = [self.classify(b) for b in answers_b]
        return self.class_game.reward[
            np.asarray(states_a, dtype=np.int64),
            np.asarray(classes_a, dtype=np.int64),
            np.asarray(states_b, dtype=np.int64),
            np.asarray(classes_b, dtype=np.int64),
        ].astype(np.float64)

    def _preference_batch(
        self, contexts: list[list[dict[str, str]]], answers_a: list[str], answers_b: list[str]
    ) -> np.ndarray:
        raise TypeError(
            "a TabularPreferenceOracle compares (tabular state, answer) pairs: call "
            "compare_states(states_a, answers_a, states_b, answers_b), not compare()"
        )


class LiftedTabularEnv(TextPreferenceGameEnv):
    """A :class:`~ompo_envs.tabular.TabularGame` played in free text (a lifted game).

    ## Description
    Both players start in the same tabular state s1 ~ ν1 and, at every stage, read a user turn
    naming the stage and their own tabular state, and answer in free text. The answer is mapped
    to an action by keyword; the players move independently by the game's kernel, and player_0
    is paid r(s_h, a_h, s'_h, a'_h) (player_1 the complement). The game's exact model is
    :attr:`game`; the game actually played over answer classes is :attr:`class_game`.

    ```python
    import ompo_envs

    env = ompo_envs.make("TextRepeatedRockPaperScissors-v0")
    observations, infos = env.reset(seed=0)
    print(infos["player_0"]["messages"][-1]["content"])
    observations, rewards, _, _, infos = env.step({"player_0": "Paper.", "player_1": "rock!"})
    print(rewards["player_0"], infos["player_0"]["answer_class"])   # 1.0 paper
    ```

    ## Agents
    ``player_0`` and ``player_1``, symmetric; each sees only its own conversation.

    ## Action Space
    ``UnicodeText(max_answer_chars)``: any answer. Mapping: the first action (in order) one of
    whose keywords the answer contains as a whole word, case-insensitive; else *unrecognised*.

    ## Observation Space
    ``UnicodeText(L)``: the player's conversation rendered as text (``infos[agent]["messages"]``
    as role/content dicts). Each user turn is ``prompt_template`` filled with the stage, the
    horizon, the state's name (omitted for a one-state game) and the action words.

    ## Preference Model
    :class:`TabularPreferenceOracle`: r(s, c(a), s', c(a')) over answer classes; unrecognised
    loses to every named action and ties ½ with itself (module docstring).

    ## Rewards
    The tabular game's: r_h to player_0, 1 − r_h to player_1, at every stage
    (``reward_mode="intermediate"``) or at the last one only (``"terminal"``).

    ## Starting State
    s1 ~ ν1 drawn with ``self.np_random``; ``reset(options={"initial_state": s})`` picks s1 = s
    (it must be in the support of ν1).

    ## Episode End
    After H stages.

    ## Infos
    Besides ``h``, ``s1``, ``messages`` and ``answers``: ``state_index`` (the tabular state
    s_h), ``init_index`` (the row of s1 in tabular policies) and ``answer_class`` (the class
    name of the last answer, ``None`` before the first).

    ## Arguments
    * ``game``: the :class:`~ompo_envs.tabular.TabularGame`.
    * ``action_keywords``: one list of keywords per action (default: ``DEFAULT_ACTION_WORDS``).
    * ``state_names``: one sentence per state (default ``"You are in state 0."``, ...).
    * ``prompt_template``: the user turn (fields ``{h}``, ``{horizon}``, ``{state}``,
      ``{actions}``).
    * ``max_answer_chars``: longest legal answer (default 256).
    * ``render_mode``: ``None`` or ``"ansi"``.

    ## Version History
    * v0: Initial version.
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "lifted_tabular_v0", "render_modes": ["ansi"]}
    #: Read-only parts shared by copies (the spaces too: copying them costs ~1 ms per env).
    _shared_attributes: ClassVar[tuple[str, ...]] = (
        "oracle",
        "game",
        "class_game",
        "classifier",
        "_cumulative",
        "_observation_spaces",
        "_action_spaces",
    )

    def __init__(
        self,
        game: TabularGame,
        *,
        action_keywords: Sequence[Sequence[str]] | None = None,
        state_names: Sequence[str] | None = None,
        prompt_template: str = DEFAULT_PROMPT,
        max_answer_chars: int = 256,
        render_mode: str | None = None,
    ) -> None:
        if not isinstance(game, TabularGame):
            raise TypeError(f"game must be a TabularGame, got {type(game).__name__}")
        num_actions, num_states = game.num_actions, game.num_states
        if action_keywords is None:
            if num_actions > len(DEFAULT_ACTION_WORDS):
                raise ValueError(
                    f"the game has {num_actions} actions but only {len(DEFAULT_ACTION_WORDS)} "
                    "default action words exist: pass action_keywords"
                )
            action_keywords = [[w] for w in DEFAULT_ACTION_WORDS[:num_actions]]
        if isinstance(action_keywords, str) or len(action_keywords) != num_actions:
            raise ValueError(
                f"action_keywords must hold one keyword list per action ({num_actions})"
            )
        names = (
            [f"You are in state {s}." for s in range(num_states)]
            if state_names is None
            else state_names
        )
        if isinstance(names, str) or len(names) != num_states:
            raise ValueError(f"state_names must hold one name per state ({num_states})")
        if not isinstance(prompt_template, str):
            raise TypeError("prompt_template must be a string")
        self.game = game
        self.class_game = lifted_class_game(game)
        self.classifier = KeywordClassifier(action_keywords)
        #: Class names: the first keyword of each action, then ``"unrecognised"``.
        self.classes: tuple[str, ...] = (*self.classifier.names, "unrecognised")
        self.state_names: tuple[str, ...] = tuple(str(n) for n in names)
        self.prompt_template = prompt_template
        words = list(self.classifier.names)
        self._action_list = (
            ", ".join(words[:-1]) + f" or {words[-1]}" if len(words) > 1 else words[0]
        )
        self._init_index = {int(s): i for i, s in enumerate(game.initial_states)}
        self._cumulative = np.cumsum(self.class_game.transitions, axis=-1)
        super().__init__(
            oracle=TabularPreferenceOracle(self.class_game, self.classifier),
            horizon=game.horizon,
            reward_mode=game.reward_mode,
            max_answer_chars=max_answer_chars,
            render_mode=render_mode,
        )

    # ------------------------------------------------------------------ scoring helpers
    def classify(self, answer: str) -> int:
        """Return the class of ``answer``: an action index, or A for unrecognised."""
        return self.classifier(answer)

    def prompt(self, h: int, state: int) -> str:
        """Return the user turn of stage ``h`` (1-based) in tabular state ``state``."""
        where = "" if self.game.num_states == 1 else f"{self.state_names[state]} "
        return self.prompt_template.format(
            h=h, horizon=self.horizon, state=where, actions=self._action_list
        )

    # ------------------------------------------------------------------ hooks
    def _max_observation_chars(self) -> int:
        longest = max(len(self.prompt(self.horizon, s)) for s in range(self.game.num_states))
        return rendered_length_bound([longest, self.max_answer_chars] * self.horizon)

    def _initial_state(self, options: Mapping[str, Any]) -> tuple[LiftedState, dict[str, Any]]:
        if "initial_state" in options:
            s1 = options["initial_state"]
            if (
                isinstance(s1, bool)
                or not isinstance(s1, int | np.integer)
                or int(s1) not in self._init_index
            ):
                raise ValueError(
                    f"options['initial_state'] must be a state in the support of ν1, "
                    f"{sorted(self._init_index)}; got {s1!r}"
                )
            s1 = int(s1)
        else:
            nu = self.game.initial_distribution
            s1 = int(self.np_random.choice(self.game.num_states, p=nu))
        messages = (("user", self.prompt(1, s1)),)
        state = LiftedState(messages=messages, shared=messages, index=s1)
        return state, {"init_index": self._init_index[s1]}

    def _next_state(
        self, state: TextState, action: str, episode: Episode[TextState]
    ) -> LiftedState:
        if not isinstance(state, LiftedState):
            raise TypeError(f"expected a LiftedState, got {type(state).__name__}")
        cumulative = self._cumulative[state.index, self.classify(action)]
        draw = self.np_random.random() * cumulative[-1]
        index = min(int(np.searchsorted(cumulative, draw, side="right")), self.game.num_states - 1)
        messages = (*state.messages, ("assistant", action))
        if episode.h < self.horizon:
            messages = (*messages, ("user", self.prompt(episode.h + 1, index)))
        return LiftedState(
            messages=messages, shared=state.shared, answers=(*state.answers, action), index=index
        )

    def preference_key(self, state: TextState, answer: str) -> Hashable:
        """(s_h, c(a)): the tabular state and the answer's class, all the oracle reads.

        P([s, a] ≻ [s', a']) = r(s, c(a), s', c(a')) (:class:`TabularPreferenceOracle`), so two
        pairs with the same state index and answer class are alike against any other
        (:meth:`TextPreferenceGameEnv.preference_key`).
        """
        oracle = self.oracle
        if not isinstance(oracle, TabularPreferenceOracle):
            raise TypeError("a lifted game's oracle must be its TabularPreferenceOracle")
        return (_index(state), int(oracle.classify(answer)))

    def _preferences(self, pairs: Sequence[tuple[TextState, str, TextState, str]]) -> np.ndarray:
        oracle = self.oracle
        if not isinstance(oracle, TabularPreferenceOracle):
            raise TypeError("a lifted game's oracle must be its TabularPreferenceOracle")
        return oracle.compare_states(
            [_index(s) for s, _, _, _ in pairs],
            [a for _, a, _, _ in pairs],
            [_index(s) for _, _, s, _ in pairs],
            [a for _, _, _, a in pairs],
        )

    def _extra_info(self, state: TextState, episode: Episode[TextState]) -> dict[str, Any]:
        last = state.answers[-1] if state.answers else None
        return {
            "state_index": _index(state),
            "init_index": episode.extra["init_index"],
            "answer_class": None if last is None else self.classes[self.classify(last)],
        }


def _index(state: TextState) -> int:
    if not isinstance(state, LiftedState):
        raise TypeError(f"expected a LiftedState, got {type(state).__name__}")
    return state.index


class TextRepeatedRockPaperScissorsEnv(LiftedTabularEnv):
    """Repeated Rock-Paper-Scissors in free text: H rounds (default 3), NE uniform, value H/2.

    ## Description
    ``RepeatedRockPaperScissors-v0`` lifted to text (:class:`LiftedTabularEnv`): every round
    both players answer "rock", "paper" or "scissors" in free text; a player's tabular state is
    its own last throw, named in the user turn (an unrecognised answer counts as a random
    throw). A policy is an equilibrium exactly when its marginal over throws is uniform at
    every round; the value is H/2 (intermediate rewards).

    ```python
    import ompo_envs

    env = ompo_envs.make("TextRepeatedRockPaperScissors-v0")
    observations, infos = env.reset(seed=0)
    print(infos["player_0"]["messages"][0]["content"])
    ```

    ## Agents
    ``player_0`` and ``player_1``.

    ## Action Space
    ``UnicodeText(max_answer_chars)``. Mapping: *rock* ("rock", "stone"), else *paper*
    ("paper"), else *scissors* ("scissors", "scissor"), else *unrecognised*.

    ## Observation Space
    The player's own conversation (see :class:`LiftedTabularEnv`).

    ## Preference Model
    The RPS matrix between the two current throws; unrecognised loses to every throw.

    ## Rewards
    Each round: 1 / ½ / 0 to player_0 for a win / tie / loss; player_1 the complement.

    ## Starting State
    Both players at "the start".

    ## Episode End
    After ``horizon`` rounds.

    ## Arguments
    ``horizon`` (default 3), ``reward_mode`` (``"intermediate"`` or ``"terminal"``),
    ``max_answer_chars`` (default 256), ``render_mode``.

    ## Version History
    * v0: Initial version.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "text_repeated_rock_paper_scissors_v0",
        "render_modes": ["ansi"],
    }

    def __init__(
        self,
        horizon: int = 3,
        reward_mode: RewardMode = "intermediate",
        *,
        max_answer_chars: int = 256,
        render_mode: str | None = None,
    ) -> None:
        from ompo_envs.envs.rock_paper_scissors import repeated_rock_paper_scissors_game
        from ompo_envs.text.known_ne import RPS_KEYWORDS

        super().__init__(
            repeated_rock_paper_scissors_game(horizon, reward_mode),
            action_keywords=RPS_KEYWORDS,
            state_names=(
                "First throw.",
                "You threw rock.",
                "You threw paper.",
                "You threw scissors.",
            ),
            prompt_template="Rock-paper-scissors, round {h} of {horizon}. {state}Say {actions}.",
            max_answer_chars=max_answer_chars,
            render_mode=render_mode,
        )


class LiftedRandomGameEnv(LiftedTabularEnv):
    """A random tabular game of the paper's §4.1 generator, lifted to text.

    ## Description
    :func:`~ompo_envs.tabular.random_game` (sparse random transitions, random antisymmetric
    preference) played in text (:class:`LiftedTabularEnv`): states are "You are in room 0.", ...,
    actions are colour words. Its Nash equilibrium is computed exactly
    (:func:`~ompo_envs.tabular.nash_equilibrium` on :attr:`game`).

    ```python
    import ompo_envs

    env = ompo_envs.make("LiftedRandomGame-v0", game_seed=1, num_states=3, num_actions=3)
    observations, infos = env.reset(seed=0)
    print(infos["player_0"]["messages"][0]["content"])
    ```

    ## Agents
    ``player_0`` and ``player_1``.

    ## Action Space
    ``UnicodeText(max_answer_chars)``; action i is the word ``DEFAULT_ACTION_WORDS[i]``.

    ## Observation Space
    The player's own conversation (see :class:`LiftedTabularEnv`).

    ## Preference Model
    The random game's r over (state, action class) pairs; unrecognised loses to every action.

    ## Rewards
    r_h to player_0, 1 − r_h to player_1, every stage (or the last only, ``"terminal"``).

    ## Starting State
    s1 ~ ν1 of the random game.

    ## Episode End
    After ``horizon`` stages.

    ## Arguments
    ``game_seed`` (int, default 0), ``num_states`` (default 3), ``num_actions`` (default 3,
    at most 10), ``horizon`` (default 3), ``num_initial_states`` (default 1), ``reward_mode``,
    ``max_answer_chars`` (default 256), ``render_mode``.

    ## Version History
    * v0: Initial version.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "lifted_random_game_v0",
        "render_modes": ["ansi"],
    }

    def __init__(
        self,
        game_seed: int = 0,
        num_states: int = 3,
        num_actions: int = 3,
        horizon: int = 3,
        *,
        num_initial_states: int = 1,
        reward_mode: RewardMode = "intermediate",
        max_answer_chars: int = 256,
        render_mode: str | None = None,
    ) -> None:
        game = random_game(
            game_seed,
            num_states=num_states,
            num_actions=num_actions,
            horizon=horizon,
            num_initial_states=num_initial_states,
            reward_mode=reward_mode,
        )
        super().__init__(
            game,
            state_names=[f"You are in room {s}." for s in range(num_states)],
            max_answer_chars=max_answer_chars,
            render_mode=render_mode,
        )
