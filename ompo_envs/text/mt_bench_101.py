"""``MTBench101-v0``: multi-turn conversation alignment on MT-Bench-101 (paper §4.2, Example 3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np

from ompo_envs.core.preference_game import Episode, RewardMode
from ompo_envs.oracles.base import PreferenceOracle
from ompo_envs.text.base import (
    DEFAULT_MAX_ANSWER_CHARS,
    Messages,
    TextPreferenceGameEnv,
    TextState,
    rendered_length_bound,
)
from ompo_envs.text.datasets import MT_BENCH_101_TASKS, Dialogue, load_mt_bench_101

__all__ = ["CONTEXT_MODES", "ContextMode", "MTBench101Env"]

ContextMode = Literal["generated", "golden"]
CONTEXT_MODES: tuple[str, ...] = ("generated", "golden")


class MTBench101Env(TextPreferenceGameEnv):
    r"""Multi-turn dialogues of MT-Bench-101 as a two-player preference game.

    ## Description
    Paper §4.2 and Example 3: each episode is one of the 1,388 MT-Bench-101 dialogues (13 tasks,
    Bai et al., ACL 2024). At turn h both players see their own conversation, ending with the
    dataset's user message x_h, and answer it; an oracle then judges the two conversations. With
    ``context="generated"`` (the paper's setting) each player's answers become its own history,
    so the two conversations share the user turns and differ only by the players' answers. With
    ``context="golden"`` (MT-Bench-101's official setting) earlier turns show the dataset's
    reference replies instead, so both players see the same history and only the latest answers
    differ.

    ```python
    import ompo_envs
    from ompo_envs.oracles import EmbeddingOracle

    env = ompo_envs.make("MTBench101-v0", oracle=EmbeddingOracle())
    observations, infos = env.reset(seed=0, options={"task": "CM"})
    while env.agents:
        answers = {agent: "My answer." for agent in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(answers)
    ```

    ## Agents
    ``player_0`` and ``player_1``, symmetric; each acts from its own conversation.

    ## Action Space
    ``UnicodeText(max_answer_chars)``: the answer, any Unicode string of at most
    ``max_answer_chars`` characters (default 16,384). The empty string is a legal answer (a model
    may say nothing). A non-string or an over-long answer raises ``TypeError``/``ValueError`` and
    leaves the env unchanged.

    ## Observation Space
    ``UnicodeText(L)``: the player's own conversation rendered as ``"User: ...\n\nAssistant:
    ...\n\nUser: ..."`` (a ``str``), ending with the user turn to answer; L bounds every
    dialogue of the env. ``infos[agent]["messages"]`` holds the same conversation as a list of
    ``{"role", "content"}`` dicts (use it with a chat template).

    ## Preference Model
    ``r_h = P([s_h, a_h] ≻ [s'_h, a'_h])``; both players' pairs go to the oracle in one batched
    call. An oracle with ``compare_conversations`` (PairRM) compares the two whole conversations.
    Any other :class:`PreferenceOracle` compares the two latest answers a_h, a'_h in the shared
    context "user turns x_1..x_h with the dataset's reference replies between them" — exactly
    [s_h, a_h] vs [s_h, a'_h] in ``golden`` mode, and in ``generated`` mode an approximation that
    judges the latest answers (App. H: the current output carries the signal).

    ## Rewards
    ``reward_mode="intermediate"`` (default, the paper's MT-Bench setting): player_0 gets r_h and
    player_1 gets 1 − r_h at every turn (they sum to 1). ``"terminal"`` (App. G ablation): 0 to both
    until the last turn, then the preference of the final pairs. Every turn is paid; the turns that
    the official MT-Bench-101 scorer does not judge are marked with ``infos[agent]["scored"]``.

    ## Starting State
    A dialogue drawn uniformly (with ``self.np_random``) from the env's dialogues (those of
    ``tasks``, or exactly ``dialogue_ids``); ``reset(options={"dialogue_id": 17})`` picks one by
    its dataset id, ``options={"task": "SC"}`` draws within a task. s_1 = [x_1].

    ## Episode End
    After the dialogue's last turn: H is the dialogue's number of turns (2 to 7); ``horizon`` is the
    largest H among the env's dialogues. The terminal state is [x_1, a_1, ..., x_H, a_H]. There is
    no truncation.

    ## Infos
    Besides ``h`` and ``s1``: ``messages``, ``answers`` (the player's own answers so far),
    ``dialogue_id``, ``task``, ``turn`` (h, the user turn being answered, 1-based), ``num_turns``
    (H), ``scored`` (whether the official scorer judges turn h; False in the terminal state),
    ``scored_turns`` (one bool per turn: the first turn is skipped for FR, CR, AR, SA, SC, CM),
    ``reference`` (the dataset's reply to x_h; ``""`` in the terminal state).

    ## Arguments
    * ``oracle``: a :class:`PreferenceOracle`; ``None`` loads PairRM (``llm-blender/PairRM``).
    * ``context``: ``"generated"`` (default) or ``"golden"``.
    * ``tasks``: task codes to keep (default: all 13).
    * ``dialogue_ids``: dataset ids of the dialogues to keep (default: every dialogue of
      ``tasks``), e.g. a fixed training subset whose complement is held out for evaluation;
      each id must be a dialogue of ``tasks``.
    * ``reward_mode``: ``"intermediate"`` (default) or ``"terminal"``.
    * ``max_answer_chars``: longest legal answer (default 16,384).
    * ``render_mode``: ``None`` or ``"ansi"``.

    ## Version History
    * v0: Initial version (MT-Bench-101 commit bc18b3e, 1,388 dialogues). Later, without a
      version bump since an env built without it is unchanged: the ``dialogue_ids`` argument.
    """

    metadata: ClassVar[dict[str, Any]] = {"name": "mt_bench_101_v0", "render_modes": ["ansi"]}
    _shared_attributes: ClassVar[tuple[str, ...]] = ("oracle", "dialogues", "_by_id")

    def __init__(
        self,
        oracle: PreferenceOracle | None = None,
        *,
        context: ContextMode = "generated",
        tasks: Sequence[str] | None = None,
        dialogue_ids: Sequence[int] | None = None,
        reward_mode: RewardMode = "intermediate",
        max_answer_chars: int = DEFAULT_MAX_ANSWER_CHARS,
        render_mode: str | None = None,
    ) -> None:
        if context not in CONTEXT_MODES:
            raise ValueError(f"context must be one of {CONTEXT_MODES}, got {context!r}")
        self.context: ContextMode = context
        self.tasks: tuple[str, ...] = _check_tasks(tasks)
        self.dialogues: tuple[Dialogue, ...] = _select(self.tasks, dialogue_ids)
        self._by_id: dict[int, Dialogue] = {d.id: d for d in self.dialogues}
        super().__init__(
            oracle=oracle,
            horizon=max(len(d.turns) for d in self.dialogues),
            reward_mode=reward_mode,
            max_answer_chars=max_answer_chars,
            render_mode=render_mode,
        )

    # ------------------------------------------------------------------ hooks
    def _max_observation_chars(self) -> int:
        return max(
            rendered_length_bound(
                [n for t in d.turns for n in (len(t.user), max(len(t.bot), self.max_answer_chars))]
            )
            for d in self.dialogues
        )

    def _initial_state(self, options: Mapping[str, Any]) -> tuple[TextState, dict[str, Any]]:
        dialogue = self._pick_dialogue(options)
        first: Messages = (("user", dialogue.turns[0].user),)
        return TextState(messages=first, shared=first), {"dialogue": dialogue}

    def _next_state(self, state: TextState, action: str, episode: Episode[TextState]) -> TextState:
        dialogue: Dialogue = episode.extra["dialogue"]
        turn = dialogue.turns[episode.h - 1]
        reply = action if self.context == "generated" else turn.bot
        messages = (*state.messages, ("assistant", reply))
        shared = (*state.shared, ("assistant", turn.bot))
        if episode.h < len(dialogue.turns):
            user = ("user", dialogue.turns[episode.h].user)
            messages, shared = (*messages, user), (*shared, user)
        return TextState(messages=messages, shared=shared, answers=(*state.answers, action))

    def _check_snapshot(self, episode: Episode[TextState]) -> None:
        super()._check_snapshot(episode)
        dialogue = episode.extra.get("dialogue")
        if self._by_id.get(getattr(dialogue, "id", None)) != dialogue:
            raise ValueError("a snapshot's dialogue is not one of this env's dialogues")
        turns = len(dialogue.turns)
        if episode.h > turns + 1 or (episode.h == turns + 1) != episode.done:
            raise ValueError(
                f"a snapshot at turn h={episode.h} (done={episode.done}) does not fit dialogue "
                f"{dialogue.id}, which has {turns} turns"
            )

    def _ends_early(self, episode: Episode[TextState], actions: tuple[str, str]) -> bool:
        return episode.h >= len(episode.extra["dialogue"].turns)

    def _extra_info(self, state: TextState, episode: Episode[TextState]) -> dict[str, Any]:
        dialogue: Dialogue = episode.extra["dialogue"]
        turns = len(dialogue.turns)
        live = episode.h <= turns
        scored = dialogue.scored_turns
        return {
            "dialogue_id": dialogue.id,
            "task": dialogue.task,
            "turn": episode.h,
            "num_turns": turns,
            "scored": scored[episode.h - 1] if live else False,
            "scored_turns": list(scored),
            "reference": dialogue.turns[episode.h - 1].bot if live else "",
        }

    # ------------------------------------------------------------------ helpers
    def _pick_dialogue(self, options: Mapping[str, Any]) -> Dialogue:
        dialogue_id = options.get("dialogue_id")
        task = options.get("task")
        if task is not None and task not in self.tasks:
            raise ValueError(
                f"unknown task {task!r} for this env; its tasks are {list(self.tasks)} "
                f"(all tasks: {list(MT_BENCH_101_TASKS)})"
            )
        if dialogue_id is not None:
            if isinstance(dialogue_id, bool) or not isinstance(dialogue_id, int | np.integer):
                raise TypeError(f"options['dialogue_id'] must be an integer, got {dialogue_id!r}")
            if int(dialogue_id) not in self._by_id:
                raise ValueError(
                    f"unknown dialogue_id {dialogue_id!r}: this env has {len(self.dialogues)} "
                    f"dialogues of tasks {list(self.tasks)} (MT-Bench-101 ids run 1..1388); "
                    "see env.dialogues for the ids"
                )
            dialogue = self._by_id[int(dialogue_id)]
            if task is not None and dialogue.task != task:
                raise ValueError(
                    f"dialogue {dialogue.id} belongs to task {dialogue.task!r}, not {task!r}"
                )
            return dialogue
        pool = (
            self.dialogues if task is None else tuple(d for d in self.dialogues if d.task == task)
        )
        if not pool:
            raise ValueError(
                f"task {task!r} has no dialogue among this env's dialogue_ids; pick a task of "
                f"{sorted({d.task for d in self.dialogues})}"
            )
        return pool[int(self.np_random.integers(len(pool)))]


def _select(tasks: tuple[str, ...], dialogue_ids: Sequence[int] | None) -> tuple[Dialogue, ...]:
    """The dialogues of ``tasks`` (dataset order), restricted to ``dialogue_ids`` if given."""
    of_tasks = tuple(d for d in load_mt_bench_101() if d.task in tasks)
    if dialogue_ids is None:
        return of_tasks
    if isinstance(dialogue_ids, str) or not isinstance(dialogue_ids, Sequence) or not dialogue_ids:
        raise TypeError(f"dialogue_ids must be a non-empty list of integers, got {dialogue_ids!r}")
    bad = [i for i in dialogue_ids if isinstance(i, bool) or not isinstance(i, int | np.integer)]
    if bad:
        raise TypeError(f"dialogue_ids must be integers (MT-Bench-101 ids 1..1388), got {bad}")
    wanted = [int(i) for i in dialogue_ids]
    repeated = sorted({i for i in wanted if wanted.count(i) > 1})
    if repeated:
        raise ValueError(f"dialogue_ids lists {repeated} more than once; list each id once")
    known = {d.id for d in of_tasks}
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise ValueError(
            f"dialogue_ids {unknown} are not dialogues of tasks {list(tasks)} (MT-Bench-101 ids "
            "run 1..1388; a dialogue's task is Dialogue.task in load_mt_bench_101())"
        )
    keep = set(wanted)
    return tuple(d for d in of_tasks if d.id in keep)


def _check_tasks(tasks: Sequence[str] | None) -> tuple[str, ...]:
    if tasks is None:
        return MT_BENCH_101_TASKS
    if isinstance(tasks, str) or not isinstance(tasks, Sequence) or not tasks:
        raise TypeError(f"tasks must be a non-empty list of task codes, got {tasks!r}")
    unknown = [t for t in tasks if t not in MT_BENCH_101_TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; the tasks are {list(MT_BENCH_101_TASKS)}")
    return tuple(t for t in MT_BENCH_101_TASKS if t in tasks)
