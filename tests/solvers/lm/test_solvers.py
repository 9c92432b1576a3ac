"""The five LM solvers: one iteration each through the env API, the protocol, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ompo_envs
from ompo_envs.lm import LMPolicy
from ompo_envs.lm.training import NonFiniteLossError, OptimizerConfig
from solvers.lm import LMDPO, LMMPO, LMOMPO, LMSPPO, LMStepDPO
from solvers.lm.records import RegressionRecord, Segment

SMALL = {
    "num_prompts": 4,
    "num_samples": 4,
    "eval_episodes": 32,
    "optimizer": OptimizerConfig(learning_rate=0.01, epochs=3, batch_size=32),
}
SOLVERS = [LMOMPO, LMMPO, LMStepDPO, LMSPPO, LMDPO]


@pytest.mark.parametrize("cls", SOLVERS, ids=lambda c: c.__name__)
def test_one_iteration_trains_and_reports_its_time_split(cls, rps_policy):
    env = ompo_envs.make("TextRockPaperScissors-v0")
    solver = cls(env, policy=rps_policy, beta=1.0, seed=0, **SMALL)
    before = [p.detach().clone() for p in rps_policy.model.parameters()]
    metrics = solver.step()
    assert metrics["iteration"] == 1.0 and solver.iteration == 1
    assert solver.policy is rps_policy
    stages = [
        metrics[f"time_{s}"] for s in ("generation", "oracle", "scoring", "optimizer", "rest")
    ]
    assert all(t >= 0 for t in stages)
    assert sum(stages) == pytest.approx(metrics["time_total"], rel=1e-6)
    changed = any(
        not torch.equal(p, q) for p, q in zip(rps_policy.model.parameters(), before, strict=True)
    )
    assert changed == (metrics["records"] > 0)
    evaluation = solver.evaluate()
    assert 0.0 <= evaluation["exploitability_last"] <= 0.5
    assert evaluation["exploitability_last_stderr"] >= 0.0


def test_conversation_solvers_on_a_lifted_multi_step_game(rps_policy, tmp_path):
    from benchmarks.lm_known_ne import tiny_policy, warm_start

    env = ompo_envs.make("TextRepeatedRockPaperScissors-v0", horizon=2)
    policy = tiny_policy(env, tmp_path, seed=1)
    warm_start(policy, env, bias=0.8, epochs=20, seed=1)
    for cls in (LMSPPO, LMDPO, LMOMPO):
        solver = cls(env, policy=policy, beta=0.5, seed=1, **SMALL)
        rollouts = solver.generate()
        records = solver.judge(rollouts)
        assert records, cls.__name__
        if cls is LMSPPO:  # whole conversations: one segment per turn
            assert {len(r.response) for r in records} == {2}
            assert all(-0.5 <= r.target <= 0.5 for r in records)
        if cls is LMOMPO:  # one-step: centring ½, targets β(Q̂ − ½) with Q̂ ∈ [0, 1] at t = 1
            assert {len(r.response) for r in records} == {1}
        metrics = solver.train(solver.score(records))
        assert metrics["records"] == len(records)
        solver.finish_iteration(metrics)


def test_same_seed_same_iteration(rps_start):
    import copy

    env = ompo_envs.make("TextRockPaperScissors-v0")
    runs = []
    for _ in range(2):
        policy = copy.deepcopy(rps_start)
        solver = LMOMPO(env, policy=policy, seed=7, **SMALL)
        metrics = solver.step()
        runs.append((metrics["loss"], [p.detach().clone() for p in policy.model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1], strict=True))


def test_ompo_keeps_the_previous_iterates_answers(rps_policy):
    env = ompo_envs.make("TextRockPaperScissors-v0")
    solver = LMOMPO(env, policy=rps_policy, seed=0, **SMALL)
    first = solver.step()
    assert first["optimism_coverage"] == 0.0  # t = 1: no π^0
    second = solver.step()
    assert second["optimism_coverage"] == 1.0  # one prompt: every state was seen at t − 1


def test_checkpoints_and_average_policy(rps_policy, tmp_path):
    env = ompo_envs.make("TextRockPaperScissors-v0")
    solver = LMMPO(env, policy=rps_policy, seed=0, checkpoint_dir=str(tmp_path), **SMALL)
    with pytest.raises(RuntimeError, match="keep_iterates=True"):
        solver.average_policy  # noqa: B018
    solver.step()
    saved = LMPolicy.from_pretrained(tmp_path / "iteration_1")
    conversation = [{"role": "user", "content": env.prompt}]
    np.testing.assert_allclose(
        saved.score([conversation], ["rock"]), rps_policy.score([conversation], ["rock"]), atol=1e-6
    )
    keeper = LMMPO(env, policy=rps_policy, seed=0, keep_iterates=True, **SMALL)
    keeper.step()
    assert len(keeper.average_policy) == 2
    evaluation = keeper.evaluate()
    assert {"exploitability_average", "exploitability_average_stderr"} <= set(evaluation)


def test_clear_errors(rps_policy):
    with pytest.raises(TypeError, match="text envs"):
        LMOMPO(ompo_envs.make("RockPaperScissors-v0"), policy=rps_policy)
    with pytest.raises(TypeError, match="LMPolicy"):
        LMOMPO(ompo_envs.make("TextRockPaperScissors-v0"), policy=object())
    with pytest.raises(TypeError, match="either"):
        LMOMPO(
            ompo_envs.make("TextRockPaperScissors-v0"),
            LMOMPO.config_class(),
            policy=rps_policy,
            beta=1.0,
        )
    with pytest.raises(ValueError, match="optimism_source='policy'"):
        LMOMPO.config_class(estimator="trajectory")
    with pytest.raises(ValueError, match="num_samples"):
        LMMPO.config_class(num_samples=1)
    solver = LMMPO(ompo_envs.make("TextRockPaperScissors-v0"), policy=rps_policy, **SMALL)
    record = RegressionRecord(response=(Segment((("user", "hi"),), "rock"),), target=0.1)
    with pytest.raises(ValueError, match="score"):
        solver.train([record])
    nan = RegressionRecord(response=record.response, target=float("nan"), ref_logprob=-1.0)
    with pytest.raises(NonFiniteLossError):
        solver.train([nan])
    assert solver.evaluate() != {}
    assert (
        LMMPO(ompo_envs.make("MTBench101-v0", oracle=_Fixed()), policy=rps_policy).evaluate() == {}
    )


class _Fixed(ompo_envs.PreferenceOracle):
    def _ordered_logits(self, contexts, first, second):
        return np.zeros(len(first))
