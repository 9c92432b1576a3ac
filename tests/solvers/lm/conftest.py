"""Fixtures of the LM-solver tests: a warm-started tiny LM, and a tabular policy over words."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import ompo_envs


class WordPolicy:
    """A tabular policy of a lifted game played in text: class c of stage h in state s.

    ``table[init, h − 1, s, c]``; class A (the last) is answered with ``junk`` (unrecognised).
    Implements the LM-policy methods the estimators use (``sample_batch``; ``log_probs`` /
    ``copy`` for the solver's checks), so it runs through the LM solvers' code path.
    """

    def __init__(self, table, words, junk="pass"):
        self.table = np.asarray(table, dtype=float)
        self.answers = (*words, junk)

    def row(self, info):
        return self.table[info["init_index"], info["h"] - 1, info["state_index"]]

    def sample(self, observation, info, rng):
        return self.sample_batch([observation], [info], rng)[0]

    def sample_batch(self, observations, infos, rng):
        return [self.answers[rng.choice(len(self.answers), p=self.row(i))] for i in infos]

    def log_probs(self, conversations, answers):  # pragma: no cover - not trained
        raise NotImplementedError

    def copy(self):
        return copy.deepcopy(self)


@pytest.fixture(scope="session")
def rps_start(tmp_path_factory):
    """A tiny LM warm-started to (0.8, 0.1, 0.1) on TextRockPaperScissors-v0 (built once)."""
    pytest.importorskip("torch")
    from benchmarks.lm_known_ne import tiny_policy, warm_start

    env = ompo_envs.make("TextRockPaperScissors-v0")
    policy = tiny_policy(env, tmp_path_factory.mktemp("rps_lm"), seed=0)
    warm_start(policy, env, bias=0.8, epochs=60, seed=0)
    return policy


@pytest.fixture
def rps_policy(rps_start):
    """A fresh copy of the warm-started policy (tests train it)."""
    return copy.deepcopy(rps_start)
