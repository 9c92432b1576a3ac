from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from ompo_envs.lm.training import (
    NonFiniteLossError,
    OptimizerConfig,
    make_optimizer,
    make_scheduler,
    optimize,
    plan_steps,
    supervised_fine_tune,
)

from .conftest import CONVERSATION


def _loss_fn(policy):
    def loss(rows):
        return -policy.log_probs([CONVERSATION] * len(rows), list(rows))

    return loss


def _train(policy, rows, weights, config):
    optimizer = make_optimizer(policy.model.parameters(), config)
    scheduler = make_scheduler(optimizer, config, config.num_steps(len(rows)))
    return optimize(
        rows,
        _loss_fn(policy),
        optimizer,
        scheduler,
        config,
        parameters=policy.model.parameters(),
        weights=weights,
    )


def test_a_row_of_weight_w_counts_as_w_identical_rows(policy):
    config = OptimizerConfig(
        learning_rate=0.1, optimizer="sgd", batch_size=8, lr_schedule="constant", warmup_ratio=0
    )
    twin = copy.deepcopy(policy)
    _train(policy, ["rock", "paper"], [3.0, 1.0], config)
    _train(twin, ["rock", "rock", "rock", "paper"], None, config)
    for a, b in zip(policy.model.parameters(), twin.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_gradient_accumulation_equals_one_big_batch(policy):
    rows = ["rock", "paper", "scissors", "stone"]
    big = OptimizerConfig(
        learning_rate=0.1,
        optimizer="sgd",
        batch_size=4,
        lr_schedule="constant",
        warmup_ratio=0,
        max_grad_norm=None,
    )
    small = OptimizerConfig(
        learning_rate=0.1,
        optimizer="sgd",
        batch_size=1,
        gradient_accumulation_steps=4,
        lr_schedule="constant",
        warmup_ratio=0,
        max_grad_norm=None,
    )
    twin = copy.deepcopy(policy)
    assert _train(policy, rows, None, big)["optimizer_steps"] == 1
    assert _train(twin, rows, None, small)["optimizer_steps"] == 1
    for a, b in zip(policy.model.parameters(), twin.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_nan_loss_raises_before_the_step(policy):
    config = OptimizerConfig(learning_rate=0.1)
    before = [p.detach().clone() for p in policy.model.parameters()]
    optimizer = make_optimizer(policy.model.parameters(), config)
    scheduler = make_scheduler(optimizer, config, 1)

    def nan_loss(rows):
        return policy.log_probs([CONVERSATION] * len(rows), list(rows)) * float("nan")

    with pytest.raises(NonFiniteLossError, match="not finite"):
        optimize(
            ["rock"], nan_loss, optimizer, scheduler, config, parameters=policy.model.parameters()
        )
    for p, q in zip(policy.model.parameters(), before, strict=True):
        assert torch.equal(p.detach(), q)


def test_schedules():
    parameter = torch.nn.Parameter(torch.zeros(1))
    for schedule, expected in [
        ("constant", [0.5, 1.0, 1.0, 1.0, 1.0]),
        ("linear", [0.5, 1.0, 0.75, 0.5, 0.25]),
        (
            "cosine",
            [0.5, 1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2],
        ),
    ]:
        config = OptimizerConfig(learning_rate=1.0, lr_schedule=schedule, warmup_ratio=0.2)
        optimizer = make_optimizer([parameter], config)
        scheduler = make_scheduler(optimizer, config, 5)
        rates = []
        for _ in range(5):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        np.testing.assert_allclose(rates, expected, atol=1e-12)


def test_supervised_warm_start_fits_the_answer_distribution(policy):
    answers = ["rock"] * 8 + ["paper", "scissors"]
    config = OptimizerConfig(
        learning_rate=0.02, epochs=120, batch_size=16, lr_schedule="constant", warmup_ratio=0
    )
    supervised_fine_tune(policy, [CONVERSATION] * 10, answers, config)
    probabilities = np.exp(policy.score([CONVERSATION] * 3, ["rock", "paper", "scissors"]))
    np.testing.assert_allclose(probabilities, [0.8, 0.1, 0.1], atol=0.05)


def test_config_is_validated():
    with pytest.raises(ValueError, match="learning_rate"):
        OptimizerConfig(learning_rate=0)
    with pytest.raises(ValueError, match="lr_schedule"):
        OptimizerConfig(lr_schedule="step")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        OptimizerConfig(batch_size=0)
    with pytest.raises(ValueError, match="dtype"):
        OptimizerConfig(dtype="int8")  # type: ignore[arg-type]


def test_a_short_last_batch_runs_only_the_micro_batches_it_has():
    # 5 rows, micro-batches of 1, accumulation 4: steps of 4 and 1 micro-batches, no padding
    steps = plan_steps([np.arange(5)], np.ones(5), batch_size=1, accumulation=4)
    assert [s.micro_batches for s in steps] == [((0,), (1,), (2,), (3,)), ((4,),)]
    assert [(s.rows, s.weight, s.placeholder) for s in steps] == [(4, 4.0, False), (1, 1.0, False)]
    # two processes, 3 rows in steps of 2: process 1 holds no row of the last step, so it runs
    # one pass of weight 0 (the all-reduce needs it) on the step's first row
    order = [2, 0, 1]
    rank0 = plan_steps([order], [1.0, 2.0, 3.0], batch_size=1, accumulation=1, processes=2)
    rank1 = plan_steps([order], [1.0, 2.0, 3.0], batch_size=1, accumulation=1, processes=2, rank=1)
    assert [s.micro_batches for s in rank0] == [((2,),), ((1,),)]
    assert [s.micro_batches for s in rank1] == [((0,),), ((1,),)]
    assert [s.placeholder for s in rank1] == [False, True]
    assert [s.weight for s in rank0] == [s.weight for s in rank1] == [4.0, 2.0]


def test_the_loop_runs_one_pass_per_micro_batch(policy):
    config = OptimizerConfig(
        learning_rate=0.1, optimizer="sgd", batch_size=2, gradient_accumulation_steps=4
    )
    sizes = []
    loss = _loss_fn(policy)

    def counting(rows):
        sizes.append(len(rows))
        return loss(rows)

    optimizer = make_optimizer(policy.model.parameters(), config)
    scheduler = make_scheduler(optimizer, config, config.num_steps(11))
    rows = ["rock", "paper", "scissors"] * 3 + ["rock", "paper"]
    metrics = optimize(
        rows, counting, optimizer, scheduler, config, parameters=policy.model.parameters()
    )
    # 11 rows: one step of 4 micro-batches (8 rows), one of 2 (3 rows)
    assert metrics["optimizer_steps"] == 2
    assert sizes == [2, 2, 2, 2, 2, 1]


def test_a_step_of_weight_zero_changes_nothing(policy):
    config = OptimizerConfig(learning_rate=0.1, batch_size=1)
    before = [p.detach().clone() for p in policy.model.parameters()]
    metrics = _train(policy, ["rock"], [0.0], config)
    assert metrics["optimizer_steps"] == 0
    for p, q in zip(policy.model.parameters(), before, strict=True):
        assert torch.equal(p.detach(), q)
