"""What a resumable, sharded runner (ompo-train) needs from the LM solvers.

Generation of a subset of the root episodes with an explicit generator, the solver's state as
JSON, and the per-record loss through an explicit (wrapped) module.
"""

from __future__ import annotations

import numpy as np
import pytest

from ompo_envs.text.lifted import TextRepeatedRockPaperScissorsEnv
from solvers.lm import LMDPO, LMMPO, LMOMPO, LMSPPO, LMStepDPO
from solvers.lm.conversation import ConversationRollouts
from solvers.lm.records import records_to_json
from solvers.lm.step_level import StepRollouts

from .conftest import WordPolicy

SOLVERS = [LMOMPO, LMMPO, LMStepDPO, LMSPPO, LMDPO]


def _solver(cls, seed=0, **fields):
    env = TextRepeatedRockPaperScissorsEnv(horizon=2)
    table = np.broadcast_to([0.5, 0.3, 0.15, 0.05], env.class_game.policy_shape).copy()
    policy = WordPolicy(table, env.classifier.names)
    return cls(env, policy=policy, num_prompts=4, num_samples=3, seed=seed, **fields)


def _answers(rollouts):
    if isinstance(rollouts, StepRollouts):
        return [(g.root, g.at.stage, g.answers) for g in rollouts.groups]
    return [[(t.root, [a for _, a in t.steps]) for t in group] for group in rollouts.groups]


@pytest.mark.parametrize("cls", SOLVERS, ids=lambda c: c.__name__)
def test_parts_drawn_from_their_own_generator_are_reproducible(cls):
    solver = _solver(cls)
    before = solver.rng.bit_generator.state
    first = solver.generate([2, 3], rng=np.random.default_rng(11))
    assert solver.rng.bit_generator.state == before  # the solver's own stream is untouched
    again = _solver(cls, seed=5).generate([2, 3], rng=np.random.default_rng(11))
    assert _answers(first) == _answers(again)
    assert sorted(first.roots) == [2, 3]

    head = solver.generate([0, 1], rng=np.random.default_rng(10))
    whole = type(first).concatenate([head, first])
    assert sorted(whole.roots) == [0, 1, 2, 3]
    assert _answers(whole) == _answers(head) + _answers(first)
    # Judging the joined parts with a fixed generator is reproducible too.
    with solver.random_source(np.random.default_rng(1)):
        records = solver.judge(whole)
    other = _solver(cls, seed=9)
    with other.random_source(np.random.default_rng(1)):
        assert records_to_json(other.judge(whole)) == records_to_json(records)


def test_root_subsets_are_checked():
    solver = _solver(LMMPO)
    with pytest.raises(ValueError, match=r"distinct integers in 0\.\.3"):
        solver.generate([4])
    with pytest.raises(ValueError, match="distinct"):
        solver.generate([1, 1])
    with pytest.raises(TypeError, match="numpy Generator"):
        solver.generate([1], rng=3)
    assert isinstance(_solver(LMSPPO).generate([1]), ConversationRollouts)


def test_state_round_trips_through_json_and_continues_the_run():
    import json

    first = _solver(LMOMPO)
    first.finish_iteration(first.train([]) | {})  # no records: only the counter moves
    first.judge(first.generate())
    first.finish_iteration({})
    state = json.loads(json.dumps(first.state_dict()))
    assert state["iteration"] == 2 and state["stored"]
    resumed = _solver(LMOMPO, seed=99)
    resumed.load_state_dict(state)
    assert resumed.iteration == 2
    records = [
        records_to_json(s.judge(s.generate(rng=np.random.default_rng(4)))) for s in (first, resumed)
    ]
    assert records[0] == records[1]  # same stored answers of π^{t−1}
    assert first.rng.bit_generator.state == resumed.rng.bit_generator.state
    assert resumed.stage_metrics["optimism_coverage"] > 0
    with pytest.raises(ValueError, match="not a state of LMOMPO"):
        resumed.load_state_dict({"iteration": 1})
    with pytest.raises(ValueError, match="not a state of LMMPO"):
        _solver(LMMPO).load_state_dict({"iteration": -1, "rng": {}, "eval_rng": {}})


class _Counting:
    """A stand-in for an accelerate-wrapped module: forwards to the policy's, counting calls."""

    def __init__(self, module):
        self.module, self.calls = module, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.module(*args, **kwargs)


@pytest.mark.parametrize("cls", [LMMPO, LMStepDPO], ids=lambda c: c.__name__)
def test_loss_through_an_explicit_module(cls, rps_policy):
    import ompo_envs

    env = ompo_envs.make("TextRockPaperScissors-v0")
    solver = cls(env, policy=rps_policy, beta=1.0, num_prompts=4, num_samples=4, seed=0)
    records = solver.score(solver.judge(solver.generate()))
    assert records
    own = solver.loss(records)
    wrapped = _Counting(rps_policy.model)
    through = solver.loss(records, model=wrapped)
    assert wrapped.calls > 0 and through.shape == (len(records),)
    assert torch_allclose(own, through)
    through.sum().backward()
    assert any(p.grad is not None for p in rps_policy.model.parameters())


def torch_allclose(a, b):
    import torch

    return torch.allclose(a.detach(), b.detach())
