"""Many iterates of one game in lockstep, their pairwise contractions batched into one matmul.

The pairwise contraction r_h^{π'} = w_h Σ_{s',a'} d'_h(s', a' | s1) r(·, ·, s', a')
(:func:`~ompo_envs.tabular.reward_against_occupancy`) is the dominant cost of every exact solver:
one (n·H)×(S·A) by (S·A)×(S·A) matmul per update. A benchmark runs many solvers and step sizes on
the same game; contracting all their iterates at once reads the (S·A)² preference matrix once
instead of once per iterate and runs BLAS on a tall matrix, where it is most efficient.

:func:`run_in_lockstep` runs each task (e.g. "make 1,000 updates of this solver, evaluate at
these checkpoints") in its own thread. Every contraction a task makes on the game goes to one
:class:`ContractionBatcher`, which waits until each task still running is waiting on a
contraction, then computes all of them in one matmul (:func:`~ompo_envs.tabular.evaluation.
contract_rows`). Row i of a matmul is the same dot products whatever the other rows are, so each
task gets the contraction of its own occupancy: the tasks compute what they would alone (with
OpenBLAS the results are bitwise equal; ``ompo-bench tabular-speed`` measures the difference).
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


class _Request:
    __slots__ = ("occupancy", "result")

    def __init__(self, occupancy: np.ndarray) -> None:
        self.occupancy = occupancy
        self.result: np.ndarray | None = None


class ContractionBatcher:
    """Collects the contractions of ``participants`` threads on ``game``; one matmul per round.

    A round starts when every participant that has not left is waiting in :meth:`contract`:
    the last one to arrive computes the round for all. Participants call :meth:`leave` when
    they will make no more contractions (:func:`run_in_lockstep` does both).

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
        self._running = participants
        self._pending: list[_Request] = []
        self._condition = threading.Condition()
        self._local = threading.local()  # .memo: this thread's [(occupancy, contraction)]

    def contract(self, occupancy: np.ndarray) -> np.ndarray:
        """Return :func:`~ompo_envs.tabular.reward_against_occupancy` of ``occupancy``.

        Blocks until the round that includes it has been computed.
        """
        occupancy = np.asarray(occupancy, dtype=np.float64)
        if occupancy.ndim != 4 or occupancy.shape[1:] != self.game.policy_shape[1:]:
            raise ValueError(
                f"an occupancy of this game has shape (n, H, S, A) with (H, S, A) = "
                f"{self.game.policy_shape[1:]}, got {occupancy.shape}"
            )
        memo = self._local.__dict__.setdefault("memo", [])
        for seen, result in memo:
            if seen.shape == occupancy.shape and np.array_equal(seen, occupancy):
                with self._condition:
                    self.memo_hits += 1
                return result.copy()
        request = _Request(occupancy)
        with self._condition:
            self._pending.append(request)
            self._running -= 1
            if self._running == 0:
                self._compute_round()
            while request.result is None:
                self._condition.wait()
        memo.insert(0, (occupancy.copy(), request.result))
        del memo[_MEMO_SIZE:]
        return request.result.copy()

    def leave(self) -> None:
        """The calling participant will make no more contractions."""
        with self._condition:
            self._running -= 1
            if self._running == 0 and self._pending:
                self._compute_round()

    def _compute_round(self) -> None:
        # Called with the lock held, while every other participant waits or has left.
        requests, self._pending = self._pending, []
        try:
            results = contract_rows(self.game, [r.occupancy for r in requests])
        except BaseException:
            results = [np.full(r.occupancy.shape, np.nan) for r in requests]
            raise
        finally:
            for request, result in zip(requests, results, strict=True):
                request.result = result
            self._running += len(requests)
            self.rounds += 1
            self.contractions += len(requests)
            self._condition.notify_all()


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
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results
