"""A Rock-Paper-Scissors matrix oracle that records every model batch, for the resume tests.

Each batch it scores is appended (one JSON line with the pairs' cache keys) to the file named by
``OMPO_TEST_ORACLE_LOG`` before it answers, so a test can count the calls of all the processes a
run took. ``OMPO_TEST_ORACLE_FAIL_AT=n`` makes batch n (counted over the whole log) raise, and
``OMPO_TEST_ORACLE_KILL_AT=n`` makes the process SIGKILL itself just after logging batch n.
"""

from __future__ import annotations

import json
import os
import signal

from ompo_envs.oracles.base import OracleError
from ompo_envs.oracles.synthetic import BradleyTerryOracle, MatrixOracle
from ompo_envs.text.known_ne import RPS_KEYWORDS, RPS_MATRIX


def _count(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as handle:
        return sum(1 for _ in handle)


class CountingRPSOracle(MatrixOracle):
    """The TextRockPaperScissors-v0 oracle, logging each batch (see the module docstring)."""

    def _preference_batch(self, contexts, answers_a, answers_b):
        path = os.environ["OMPO_TEST_ORACLE_LOG"]
        number = _count(path) + 1
        if os.environ.get("OMPO_TEST_ORACLE_FAIL_AT") == str(number):
            raise OracleError("simulated oracle outage (OMPO_TEST_ORACLE_FAIL_AT)")
        keys = [self._cache_key(*item) for item in zip(contexts, answers_a, answers_b, strict=True)]
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(keys) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        values = super()._preference_batch(contexts, answers_a, answers_b)
        if os.environ.get("OMPO_TEST_ORACLE_KILL_AT") == str(number):
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
