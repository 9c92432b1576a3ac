"""Reduced Fig. 1(a) reproduction on the paper's 10 random games (H = 10), exact values.

The full grid search lives in ``ompo-bench tabular`` (README, "Tabular benchmark"); here each
method gets the part of its benchmark grid that contains its best β: OMPO β ∈ {20, 40} (best at
100 updates), MPO β = 1 (best at 1,000 updates of {0.5, 1, 2}).

Checked: OMPO needs about a third of MPO's updates — its average iterate after 300 updates
beats MPO's after 1,000, and after 100 updates it is within 2× of it — but the literal claim
"OMPO after 100 updates ≤ MPO after 1,000" does *not* hold on these games (the measured ratio is
in README, "Tabular benchmark"); it is kept as a strict xfail so that it is noticed if it ever
starts to hold.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import solvers
from ompo_envs.tabular import random_game

SEEDS = range(10)
OMPO_BETAS = (20.0, 40.0)
MPO_BETA = 1.0


@pytest.fixture(scope="module")
def exploitabilities() -> dict[str, float]:
    """Mean over the 10 games of the average-iterate exploitability at a few checkpoints."""
    ompo = {beta: {100: [], 300: []} for beta in OMPO_BETAS}
    mpo = {300: [], 1000: []}
    with threadpool_limits(1):
        for seed in SEEDS:
            game = random_game(seed, horizon=10)
            for beta in OMPO_BETAS:
                solver = solvers.OMPO(game, beta=beta)
                for t in range(1, 301):
                    solver.step()
                    if t in ompo[beta]:
                        ompo[beta][t].append(solver.evaluate()["exploitability_average"])
            solver = solvers.MPO(game, beta=MPO_BETA)
            for t in range(1, 1001):
                solver.step()
                if t in mpo:
                    mpo[t].append(solver.evaluate()["exploitability_average"])
    return {
        "ompo@100": min(np.mean(ompo[b][100]) for b in OMPO_BETAS),
        "ompo@300": min(np.mean(ompo[b][300]) for b in OMPO_BETAS),
        "mpo@300": float(np.mean(mpo[300])),
        "mpo@1000": float(np.mean(mpo[1000])),
    }


def test_ompo_needs_about_a_third_of_mpo_updates(exploitabilities):
    e = exploitabilities
    assert e["ompo@300"] <= e["mpo@1000"]
    assert e["ompo@100"] <= e["mpo@300"]
    assert e["ompo@100"] <= 2.0 * e["mpo@1000"]


@pytest.mark.xfail(
    strict=True,
    reason="OMPO avg@100 > MPO avg@1000 on these games (README, 'Tabular benchmark')",
)
def test_ompo_after_100_updates_beats_mpo_after_1000(exploitabilities):
    assert exploitabilities["ompo@100"] <= exploitabilities["mpo@1000"]
