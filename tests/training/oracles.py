"""A Rock-Paper-Scissors matrix oracle that records every model batch, for the resume tests.

Each batch it scores is appended (one JSON line with the pairs' cache keys) to the file named by
``OMPO_TEST_ORACLE_LOG`` before it answers, so a test can count the calls of all the processes a
run took. ``OMPO_TEST_ORACLE_FAIL_AT=n`` makes batch n (counted over the whole log) raise, and
``OMPO_TEST_ORACLE_KILL_AT=n`` makes the process SIGKILL itself just after logging batch n; ``n``
may also be ``stage:k``, the k-th batch of that stage (``iteration_1/judge:4``), which stays in
that stage however many batches the stages before it took on this processor.
"""

from __future__ import annotations

import json
import os
import signal

from ompo_envs.oracles.base import OracleError
from ompo_envs.oracles.synthetic import BradleyTerryOracle, MatrixOracle
from ompo_envs.text.known_ne import RPS_KEYWORDS, RPS_MATRIX
from training.faults import last_point


def _logged(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _aimed_at(variable: str, number: int, stage: str, number_in_stage: int) -> bool:
    """Whether ``variable`` names this batch: ``"12"`` (over the whole log) or
    ``"iteration_1/judge:4"`` (the 4th batch asked in that stage, over every attempt)."""
    wanted = os.environ.get(variable)
    return wanted in (str(number), f"{stage}:{number_in_stage}")


class CountingRPSOracle(MatrixOracle):
    """The TextRockPaperScissors-v0 oracle, logging each batch (see the module docstring).

    Each line of the log is ``{"stage": ..., "keys": [...]}``: the stage the run was in when
    it asked (``training.faults.last_point``) and the pairs' cache keys.
    """

    def _preference_batch(self, contexts, answers_a, answers_b):
        path = os.environ["OMPO_TEST_ORACLE_LOG"]
        logged = _logged(path)
        stage = (last_point() or "").partition("#")[0]
        number = len(logged) + 1
        in_stage = sum(1 for batch in logged if batch["stage"] == stage) + 1
        if _aimed_at("OMPO_TEST_ORACLE_FAIL_AT", number, stage, in_stage):
            raise OracleError("simulated oracle outage (OMPO_TEST_ORACLE_FAIL_AT)")
        keys = [self._cache_key(*item) for item in zip(contexts, answers_a, answers_b, strict=True)]
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"stage": stage, "keys": keys}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        values = super()._preference_batch(contexts, answers_a, answers_b)
        if _aimed_at("OMPO_TEST_ORACLE_KILL_AT", number, stage, in_stage):
            os.kill(os.getpid(), signal.SIGKILL)
        return values


def counting_rps_oracle(batch_size: int = 4) -> CountingRPSOracle:
    """The factory named in tests/training/tiny.toml."""
    return CountingRPSOracle.from_keywords(
        RPS_MATRIX, RPS_KEYWORDS, p_unrecognised_wins=0.0, batch_size=batch_size
    )


def _length_score(context, answer):
    return len(answer) / 10.0


def length_oracle(batch_size: int = 64) -> BradleyTerryOracle:
    """A CPU oracle for any text game: the longer answer wins, P = σ((|a| − |b|) / 10)."""
    return BradleyTerryOracle(_length_score, batch_size=batch_size)
