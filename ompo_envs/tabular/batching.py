"""Many iterates of one game in lockstep, their pairwise contractions batched into one matmul.

The pairwise contraction r_h^{π'} = w_h Σ_{s',a'} d'_h(s', a' | s1) r(·, ·, s', a')
(:func:`~ompo_envs.tabular.reward_against_occupancy`) is the dominant cost of every exact solver:
one (n·H)×(S·A) by (S·A)×(S·A) matmul per update. A benchmark runs many solvers and step sizes on
the same game; contracting all their iterates at once reads the (S·A)² preference matrix once
instead of once per iterate and runs BLAS on a tall matrix, where it is most efficient.

:func:`run_in_lockstep` runs each task (e.g. "make 1,000 updates of this solver, evaluate at
these checkpoints") in its own thread, one thread at a time: a task runs until it asks for a
contraction of the game, then the next task runs; once every task still running has asked, one
:class:`ContractionBatcher` computes all of them in one matmul (:func:`~ompo_envs.tabular.
evaluation.contract_rows`) and the next round starts. Row i of a matmul is the same dot
products whatever the other rows are, so each task gets the contraction of its own occupancy
and computes what it would alone — to rounding: BLAS may add a dot product's terms in another
order for a matrix of another shape (:func:`~ompo_envs.tabular.evaluation.
contraction_rounding_bound`), and ``ompo-bench tabular-speed`` measures what that changes in
the recorded numbers. Bitwise, the same tasks run in lockstep twice in one process record the
same numbers (the rounds, and so the shapes, repeat).
A task's contraction of an occupancy it contracted just before (an evaluation of the current
iterate, then the next update from it) is served from a two-entry memo of that task.

Tasks share nothing but the batcher: each must touch only its own objects (its own solver), so
that running them in threads changes no result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from ompo_envs.tabular.evaluation import ACTIVE_BATCHER, contract_rows
from ompo_envs.tabular.game import TabularGame

T = TypeVar("T")

#: Contractions remembered per task (the current iterate and the average, at an evaluation).
_MEMO_SIZE = 2


def _same_array(seen: np.ndarray, occupancy: np.ndarray) -> bool:
    """``np.array_equal``; every 97th entry first, the whole array only if those agree."""
    if seen.shape != occupancy.shape:
        return False
    sample = slice(None, None, 97)
    return np.array_equal(seen.reshape(-1)[sample], occupancy.reshape(-1)[sample]) and (
        np.array_equal(seen, occupancy)
    )


class _Request:
    __slots__ = ("occupancy", "result")

    def __init__(self, occupancy: np.ndarray) -> None:
        self.occupancy = occupancy
        self.result: np.ndarray | None = None


class ContractionBatcher:
    """Runs ``participants`` threads one at a time and batches their contractions on ``game``.

    The threads take turns (a baton): participant i runs until it asks for a contraction
    (:meth:`contract`) or ends (:meth:`leave`), then hands over to the next one still running.
    When the last one hands over, every participant still running has asked for one contraction:
    they are computed in one matmul and the next round starts with the first participant. One
    thread runs at a time, so the threads never compete for the interpreter (or the cores), and
    a task's results do not depend on the others. :func:`run_in_lockstep` drives all of this.

    Attributes:
        game: The game whose contractions are batched.
        rounds: Matmuls made so far.
        contractions: Contractions served by them (memo hits excluded).
        memo_hits: Contractions served from a participant's memo.
    """

    def __init__(self, game: TabularGame, participants: int) -> None:
        if isinstance(participants, bool) or not isinstance(participants, int):
            raise TypeError(f"participants must be an integer, got {participants!r}")
        if participants < 1:
            raise ValueError(f"participants must be >= 1, got {participants}")
        self.game = game
        self.rounds = 0
        self.contractions = 0
        self.memo_hits = 0
        self._running = list(range(participants))  # in turn order; a participant leaves at its end
        # The baton: participant i may run while it holds its turn lock, which the participant
        # before it releases.
        self._turn = [threading.Lock() for _ in range(participants)]
        for turn in self._turn:
            turn.acquire()
        self._pending: list[_Request] = []
        self._memos: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(participants)]
        self._local = threading.local()  # .index: the calling thread's participant number

    def join(self, index: int) -> None:
        """Make the calling thread participant ``index``; return when it is its turn."""
        self._local.index = index
        self._wait_turn(index)

    def start(self) -> None:
        """Give the first turn (once every participant thread has been started)."""
        self._turn[self._running[0]].release()

    def contract(self, occupancy: np.ndarray) -> np.ndarray:
        """Return :func:`~ompo_envs.tabular.reward_against_occupancy` of ``occupancy``.

        Hands the turn over; returns once the round that includes it is computed and it is this
        participant's turn again.
        """
        occupancy = np.asarray(occupancy, dtype=np.float64)
        if occupancy.ndim != 4 or occupancy.shape[1:] != self.game.policy_shape[1:]:
            raise ValueError(
                f"an occupancy of this game has shape (n, H, S, A) with (H, S, A) = "
                f"{self.game.policy_shape[1:]}, got {occupancy.shape}"
            )
        index = self._local.index
        memo = self._memos[index]
        for seen, result in memo:
            if _same_array(seen, occupancy):
                self.memo_hits += 1
                return result.copy()
        request = _Request(occupancy)
        self._pending.append(request)
        try:
            self._hand_over(self._running.index(index))
        except BaseException:  # this thread computed the round and it failed
            self._wait_turn(index)
            raise
        self._wait_turn(index)
        if request.result is None:  # the round failed in another thread
            raise RuntimeError("the batched contraction of this round failed")
        memo.insert(0, (occupancy.copy(), request.result))
        del memo[_MEMO_SIZE:]
        return request.result.copy()

    def leave(self) -> None:
        """The calling participant has ended: hand the turn over for good."""
        position = self._running.index(self._local.index)
        del self._running[position]
        self._hand_over(position - 1)  # the next participant now sits at ``position``

    def _wait_turn(self, index: int) -> None:
        self._turn[index].acquire()

    def _hand_over(self, position: int) -> None:
        """Wake the participant after ``position`` in turn order; after the last: compute."""
        if position + 1 < len(self._running):
            self._turn[self._running[position + 1]].release()
            return
        try:
            if self._pending:
                self._compute_round()
        finally:
            if self._running:
                self._turn[self._running[0]].release()

    def _compute_round(self) -> None:
        requests, self._pending = self._pending, []
        results = contract_rows(self.game, [r.occupancy for r in requests])
        for request, result in zip(requests, results, strict=True):
            request.result = result
        self.rounds += 1
        self.contractions += len(requests)


def run_in_lockstep(game: TabularGame, tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Run each task in its own thread, their contractions on ``game`` batched; return results.

    Args:
        game: The game whose contractions (:func:`~ompo_envs.tabular.reward_against_occupancy`
            with this game) are batched; contractions of other games are made as usual.
        tasks: Callables without arguments (e.g. one solver's whole run each).

    Returns:
        The tasks' return values, in order.

    Raises:
        The first exception a task raised (after every task has ended).
    """
    if not isinstance(game, TabularGame):
        raise TypeError(f"game must be a TabularGame, got {type(game).__name__}")
    tasks = list(tasks)
    if not tasks:
        return []
    batcher = ContractionBatcher(game, len(tasks))
    results: list[Any] = [None] * len(tasks)
    errors: list[BaseException | None] = [None] * len(tasks)

    def participant(index: int) -> None:
        ACTIVE_BATCHER.set(batcher)  # a new thread starts with an empty context
        batcher.join(index)
        try:
            results[index] = tasks[index]()
        except BaseException as error:  # re-raised in the calling thread below
            errors[index] = error
        finally:
            batcher.leave()

    threads = [
        threading.Thread(target=participant, args=(i,), daemon=True) for i in range(len(tasks))
    ]
    for thread in threads:
        thread.start()
    batcher.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results
