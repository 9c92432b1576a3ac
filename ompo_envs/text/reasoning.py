r"""``GSM8K-v1``, ``MATH-v1``, ``MATH500-v0``: chain of thought as a Markov game (Example 2).

x_1 is the problem; each action is one reasoning step; s_{h+1} = [s_h, a_h] (the later prompts
x_2, ... are empty). A player's reasoning ends at the first step that gives a final answer
(``\boxed{...}``, ``#### N``, "the answer is ...", see :mod:`ompo_envs.text.answers`); the episode
ends when both players have answered or after ``max_steps`` steps.

Data protocol: ``GSM8K-v1`` and ``MATH-v1`` play their ``split="train"`` problems by default,
which share no problem with the evaluation sets (GSM8K test, MATH500); ``split="test"`` plays
those. ``GSM8K-v0`` and ``MATH-v0`` (test problems only) stay registered so that recorded runs
rerun; they are superseded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ompo_envs.core.preference_game import Episode, RewardMode
from ompo_envs.oracles.base import PreferenceOracle
from ompo_envs.text.answers import answers_match, extract_final_answer
from ompo_envs.text.base import (
    DEFAULT_MAX_ANSWER_CHARS,
    TextPreferenceGameEnv,
    TextState,
    rendered_length_bound,
)
from ompo_envs.text.datasets import (
    GSM8K_SPLITS,
    MathProblem,
    check_split,
    load_gsm8k,
    load_math,
    load_math500,
    load_math_train,
)

__all__ = [
    "MATH_SPLITS",
    "GSM8KEnv",
    "GSM8KEnvV0",
    "MATH500Env",
    "MATHEnv",
    "MATHEnvV0",
    "ReasoningEnv",
    "ReasoningState",
]

#: How steps are joined into one assistant message (the reasoning trace).
STEP_SEPARATOR = "\n"
#: ``MATH-v1``'s splits: the MATH test set minus MATH500 (4,500), and MATH500 (500).
MATH_SPLITS: tuple[str, ...] = ("train", "test")


@dataclass(frozen=True)
class ReasoningState(TextState):
    """A player's reasoning so far: the problem and its steps (``answers``).

    Attributes:
        final_answer: The final answer extracted from the step that ended this player's
            reasoning; ``None`` while the player is still reasoning.
    """

    final_answer: str | None = None

    @property
    def trace(self) -> str:
        """The reasoning steps joined into one text."""
        return STEP_SEPARATOR.join(self.answers)


class ReasoningEnv(TextPreferenceGameEnv):
    r"""Chain-of-thought reasoning on a set of math problems as a two-player preference game.

    ## Description
    Paper §4.3 and Example 2: both players get the same problem x_1 and reason step by step; each
    action is one step, appended to the player's own reasoning. A player is done at the first step
    that states a final answer (``\boxed{...}``, ``#### N``, "The answer is N", "Final answer: N");
    its later actions are ignored. An oracle compares the two reasoning traces.

    ```python
    import ompo_envs
    from ompo_envs.oracles import EmbeddingOracle

    env = ompo_envs.make("GSM8K-v1", oracle=EmbeddingOracle())  # the training split
    observations, infos = env.reset(seed=0, options={"problem_index": 0})  # Natalia's clips
    steps = {"player_0": ["48 / 2 = 24 in May", "48 + 24 = 72", "#### 72"], "player_1": ["#### 96"]}
    while env.agents:
        h = infos["player_0"]["h"] - 1
        actions = {a: steps[a][min(h, len(steps[a]) - 1)] for a in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(actions)
    print(infos["player_0"]["correct"], infos["player_1"]["correct"])  # True False
    ```

    ## Agents
    ``player_0`` and ``player_1``, symmetric; each extends its own reasoning.

    ## Action Space
    ``UnicodeText(max_answer_chars)``: one reasoning step (default at most 16,384 characters). The
    empty string is legal (an empty step). After a player has answered, its actions must still be
    strings but are ignored.

    ## Observation Space
    ``UnicodeText(L)``: ``"User: <problem>\n\nAssistant: <step 1>\n<step 2>..."``, the problem
    and the player's own steps so far (before the first step: the problem only).
    ``infos[agent]["messages"]`` holds ``[user problem, assistant steps]`` as role/content dicts.

    ## Preference Model
    ``r_h = P([s_h, a_h] ≻ [s'_h, a'_h])`` with one batched oracle call for both players. The
    problem is the context shared by both players, so any :class:`PreferenceOracle` compares the
    two whole reasoning traces (steps so far plus a_h, joined by newlines) given the problem,
    which is exactly [s_h, a_h] vs [s'_h, a'_h]; an oracle with ``compare_conversations`` gets the
    same as two ``[user, assistant]`` conversations. A player that has answered keeps its final
    trace.

    ## Rewards
    ``reward_mode="terminal"`` (default, the paper's math setting, App. G.2): 0 to both until the
    episode ends, then player_0 gets P(trace ≻ trace') and player_1 the complement.
    ``"intermediate"``: that preference of the traces so far at every step. Rewards of the two
    players sum to 1 whenever paid. Correctness is *not* a reward (the paper uses no labels); it
    is reported in infos.

    ## Starting State
    A problem drawn uniformly with ``self.np_random``; ``reset(options={"problem_index": i})``
    picks the problem at 0-based position i of the shipped file (``env.problems`` lists the
    env's problems with their ``index``).

    ## Episode End
    When both players have given a final answer, or after ``max_steps`` steps (the horizon H).
    There is no truncation: the step limit is the game's horizon.

    ## Infos
    Besides ``h``, ``s1``, ``messages`` and ``answers`` (the steps): ``problem_index``,
    ``problem_id``, ``subject``, ``level``, ``answered`` (bool), ``final_answer`` (the extracted
    answer, ``None`` while reasoning), ``correct`` (whether it matches the reference by
    :func:`~ompo_envs.text.answers.answers_match`; False until answered), ``reference_answer``.

    ## Arguments
    * ``oracle``: a :class:`PreferenceOracle`; ``None`` loads PairRM.
    * ``max_steps``: the step limit H (default 16).
    * ``reward_mode``: ``"terminal"`` (default) or ``"intermediate"``.
    * ``max_answer_chars``: longest legal step (default 16,384).
    * ``render_mode``: ``None`` or ``"ansi"``.

    ## Version History
    * v0: Initial version.
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "reasoning_v0", "render_modes": ["ansi"]}
    _shared_attributes: ClassVar[tuple[str, ...]] = ("oracle", "problems", "_by_index")

    def __init__(
        self,
        problems: Sequence[MathProblem],
        oracle: PreferenceOracle | None = None,
        *,
        max_steps: int = 16,
        reward_mode: RewardMode = "terminal",
        max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
        render_mode: str | None = None,
    ) -> None:
        self.problems: tuple[MathProblem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("no problems left: the filters removed every problem")
        self._by_index: dict[int, MathProblem] = {p.index: p for p in self.problems}
        if (
            isinstance(max_steps, bool)
            or not isinstance(max_steps, int | np.integer)
            or max_steps < 1
        ):
            raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
        super().__init__(
            oracle=oracle,
            horizon=int(max_steps),
            reward_mode=reward_mode,
            max_answer_chars=max_answer_chars,
            render_mode=render_mode,
        )

    @property
    def max_steps(self) -> int:
        """The step limit H."""
        return self.horizon

    # ------------------------------------------------------------------ hooks
    def _max_observation_chars(self) -> int:
        trace = self.horizon * (self.max_answer_chars + len(STEP_SEPARATOR))
        return max(rendered_length_bound([len(p.problem), trace]) for p in self.problems)

    def _initial_state(self, options: Mapping[str, Any]) -> tuple[ReasoningState, dict[str, Any]]:
        problem = self._pick_problem(options)
        question = (("user", problem.problem),)
        return ReasoningState(messages=question, shared=question), {"problem": problem}

    def _next_state(
        self, state: TextState, action: str, episode: Episode[TextState]
    ) -> ReasoningState:
        if not isinstance(state, ReasoningState):
            raise TypeError(f"expected a ReasoningState, got {type(state).__name__}")
        if state.final_answer is not None:
            return state
        steps = (*state.answers, action)
        return ReasoningState(
            messages=(*state.shared, ("assistant", STEP_SEPARATOR.join(steps))),
            shared=state.shared,
            answers=steps,
            final_answer=extract_final_answer(action),
        )

    def _ends_early(self, episode: Episode[TextState], actions: tuple[str, str]) -> bool:
        return all(
            getattr(state, "final_answer", None) is not None
            or extract_final_answer(action) is not None
            for state, action in zip(episode.states, actions, strict=True)
        )

    def _answer_text(self, state: TextState, action: str) -> str:
        return STEP_SEPARATOR.join(self._steps_with(state, action))

    def _conversation(self, state: TextState, action: str) -> list[dict[str, str]]:
        return [
            *({"role": role, "content": text} for role, text in state.shared),
            {"role": "assistant", "content": self._answer_text(state, action)},
        ]

    def _extra_info(self, state: TextState, episode: Episode[TextState]) -> dict[str, Any]:
        problem: MathProblem = episode.extra["problem"]
        final = getattr(state, "final_answer", None)
        return {
            "problem_index": problem.index,
            "problem_id": problem.problem_id,
            "subject": problem.subject,
            "level": problem.level,
            "answered": final is not None,
            "final_answer": final,
            "correct": final is not None and answers_match(final, problem.answer),
            "reference_answer": problem.answer,
        }

    def _check_snapshot(self, episode: Episode[TextState]) -> None:
        super()._check_snapshot(episode)
        problem = episode.extra.get("problem")
        if self._by_index.get(getattr(problem, "index", None)) != problem:
            raise ValueError(
                "a snapshot's problem is not one of this env's problems (a snapshot of another "
                "problem set?)"
            )
        if not all(isinstance(state, ReasoningState) for state in episode.states):
            raise ValueError("a reasoning game's snapshot holds ReasoningStates")

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _steps_with(state: TextState, action: str) -> tuple[str, ...]:
        if getattr(state, "final_answer", None) is not None:
            return state.answers
        return (*state.answers, action)

    def _pick_problem(self, options: Mapping[str, Any]) -> MathProblem:
        index = options.get("problem_index")
        if index is None:
            return self.problems[int(self.np_random.integers(len(self.problems)))]
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise TypeError(f"options['problem_index'] must be an integer, got {index!r}")
        if int(index) not in self._by_index:
            raise ValueError(
                f"unknown problem_index {index!r}: this env has {len(self.problems)} problems "
                f"(0-based positions in the shipped file; see env.problems)"
            )
        return self._by_index[int(index)]


class GSM8KEnv(ReasoningEnv):
    r"""``GSM8K-v1``: GSM8K (Cobbe et al., 2021) as a reasoning game, by default its training split.

    Everything is as in :class:`ReasoningEnv`; the reference answers are the solutions'
    ``#### N`` values. ``problem_id`` is ``"<split>/<0-based line>"``; subject ``""``, level 0.

    ## Arguments
    * ``split``: ``"train"`` (default; the 7,473 training problems) or ``"test"`` (the 1,319 test
      problems, the evaluation set: train on it only if you will not evaluate on GSM8K test).
      No training problem is a test problem (compared whitespace-collapsed and case-folded).
    * ``oracle``, ``max_steps``, ``reward_mode``, ``max_answer_chars``, ``render_mode``: as in
      :class:`ReasoningEnv`.

    ## Version History
    * v1: ``split`` argument, default ``"train"``: a training env no longer plays the
      evaluation problems unless asked to.
    * v0: Initial version (openai/grade-school-math commit 3101c7d, test split only).
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "gsm8k_v1", "render_modes": ["ansi"]}

    def __init__(
        self,
        oracle: PreferenceOracle | None = None,
        *,
        split: str = "train",
        max_steps: int = 16,
        reward_mode: RewardMode = "terminal",
        max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
        render_mode: str | None = None,
    ) -> None:
        self.split: str = check_split(split, GSM8K_SPLITS, "GSM8K-v1")
        super().__init__(
            load_gsm8k(self.split),
            oracle,
            max_steps=max_steps,
            reward_mode=reward_mode,
            max_answer_chars=max_answer_chars,
            render_mode=render_mode,
        )


class GSM8KEnvV0(GSM8KEnv):
    r"""``GSM8K-v0``: the 1,319 GSM8K test problems as a reasoning game (superseded by v1).

    ``GSM8K-v1`` with ``split="test"``, the evaluation set; kept so that runs recorded with this id
    rerun and resume unchanged. Train on ``GSM8K-v1`` instead.

    ## Arguments
    As :class:`ReasoningEnv` (no ``split``).

    ## Version History
    * v1: see ``GSM8K-v1`` (``split``, default ``"train"``).
    * v0: Initial version (openai/grade-school-math commit 3101c7d, test split).
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "gsm8k_v0", "render_modes": ["ansi"]}

    def __init__(
        self,
        oracle: PreferenceOracle | None = None,
        *,
        max_steps: int = 16,
        reward_mode: RewardMode = "terminal",
        max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(
            oracle,
            split="test",
            max_steps=max_steps,
            reward_mode=reward_mode,
            max_answer_chars=max_answer_chars,
            render_mode=render_mode,
        )


class _MATHFileEnv(ReasoningEnv):
    """A reasoning game on MATH problems from the shipped files, filtered by level and subject."""

    def __init__(
        self,
        oracle: PreferenceOracle | None = None,
        *,
        levels: Sequence[int] | None = None,
        subjects: Sequence[str] | None = None,
        max_steps: int = 16,
        reward_mode: RewardMode = "terminal",
        max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(
            _filter(self._load(), levels, subjects),
            oracle,
            max_steps=max_steps,
            reward_mode=reward_mode,
            max_answer_chars=max_answer_chars,
            render_mode=render_mode,
        )

    def _load(self) -> tuple[MathProblem, ...]:
        raise NotImplementedError


class MATHEnv(_MATHFileEnv):
    r"""``MATH-v1``: MATH (Hendrycks et al., 2021) as a reasoning game, PRM800K's split.

    Everything is as in :class:`ReasoningEnv`. PRM800K (Lightman et al., 2023) splits the 5,000
    MATH test problems into MATH500 (evaluation) and the other 4,500 (training); ``split`` picks
    one part, so training and evaluation never share a problem. The training part is the shipped
    test file minus MATH500, matched by problem text when loaded
    (:func:`~ompo_envs.text.datasets.load_math_train`); its reference answer is each solution's
    last ``\boxed{...}``, ``problem_id`` the file's ``idx`` and ``problem_index`` the position in
    that file (MATH500's positions are absent). The test part is MATH500 exactly as in
    ``MATH500-v0``.

    ## Arguments
    * ``split``: ``"train"`` (default; the 4,500 MATH test problems not in MATH500) or ``"test"``
      (MATH500, the 500 evaluation problems, the same as ``MATH500-v0``).
    * ``levels``: a subset of 1..5 to keep; ``subjects``: subjects to keep (e.g.
      ``["Algebra", "Number Theory"]``).
    * ``oracle``, ``max_steps``, ``reward_mode``, ``max_answer_chars``, ``render_mode``: as in
      :class:`ReasoningEnv`.

    ## Version History
    * v1: ``split`` argument, default ``"train"`` (the 4,500 problems outside MATH500); v0 played
      all 5,000 test problems, MATH500 among them.
    * v0: Initial version (hendrycks/math test split via ZubinGou/math-evaluation-harness).
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "math_v1", "render_modes": ["ansi"]}

    def __init__(
        self,
        oracle: PreferenceOracle | None = None,
        *,
        split: str = "train",
        levels: Sequence[int] | None = None,
        subjects: Sequence[str] | None = None,
        max_steps: int = 16,
        reward_mode: RewardMode = "terminal",
        max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
        render_mode: str | None = None,
    ) -> None:
        self.split: str = check_split(split, MATH_SPLITS, "MATH-v1")
        super().__init__(
            oracle,
            levels=levels,
            subjects=subjects,
            max_steps=max_steps,
            reward_mode=reward_mode,
            max_answer_chars=max_answer_chars,
            render_mode=render_mode,
        )

    def _load(self) -> tuple[MathProblem, ...]:
        return load_math_train() if self.split == "train" else load_math500()


class MATHEnvV0(_MATHFileEnv):
    r"""``MATH-v0``: the 5,000 MATH test problems as a reasoning game (superseded by v1).

    The whole MATH test set, MATH500 included, so a policy trained here has seen the evaluation
    problems; kept so that runs recorded with this id rerun and resume unchanged. Train on
    ``MATH-v1`` instead. The reference answer is each solution's last ``\boxed{...}``; the
    ``levels`` and ``subjects`` filters are as in ``MATH-v1``.

    ## Version History
    * v1: see ``MATH-v1`` (``split``, default ``"train"``: the 4,500 problems outside MATH500).
    * v0: Initial version (hendrycks/math test split via ZubinGou/math-evaluation-harness).
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "math_v0", "render_modes": ["ansi"]}

    def _load(self) -> tuple[MathProblem, ...]:
        return load_math()


class MATH500Env(_MATHFileEnv):
    r"""``MATH500-v0``: the 500-problem MATH subset of PRM800K (Lightman et al., 2023).

    The evaluation set of the math runs (``MATH-v1``'s ``split="test"``). Same ``levels`` /
    ``subjects`` filters as ``MATH-v1``; the reference answer is the dataset's ``answer`` field
    and ``problem_id`` its ``unique_id`` (``"test/<subject>/<n>.json"``).

    ## Version History
    * v0: Initial version (byte-identical to prm800k/math_splits/test.jsonl).
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "math500_v0", "render_modes": ["ansi"]}

    def _load(self) -> tuple[MathProblem, ...]:
        return load_math500()


def _filter(
    problems: tuple[MathProblem, ...],
    levels: Sequence[int] | None,
    subjects: Sequence[str] | None,
) -> tuple[MathProblem, ...]:
    known = sorted({p.subject for p in problems})
    if levels is not None:
        if isinstance(levels, str | int) or not all(
            isinstance(x, int) and 1 <= x <= 5 for x in levels
        ):
            raise ValueError(f"levels must be a list of integers in 1..5, got {levels!r}")
        problems = tuple(p for p in problems if p.level in set(levels))
    if subjects is not None:
        if isinstance(subjects, str) or any(s not in known for s in subjects):
            raise ValueError(f"subjects must be a list drawn from {known}, got {subjects!r}")
        problems = tuple(p for p in problems if p.subject in set(subjects))
    return problems
