"""The LM losses and centring constants against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from solvers.lm.losses import centring_constant, dpo_loss, regression_loss, regression_target


def test_regression_loss_by_hand():
    logp = torch.tensor([-1.0, -2.0, -0.5])
    ref = torch.tensor([-1.5, -2.0, -0.25])
    target = torch.tensor([0.25, -0.1, 0.0])
    # (−1 + 1.5 − 0.25)² = 0.0625; (0 + 0.1)² = 0.01; (−0.25)² = 0.0625
    torch.testing.assert_close(
        regression_loss(logp, ref, target), torch.tensor([0.0625, 0.01, 0.0625])
    )


def test_regression_target_and_centring():
    assert regression_target(0.75, 2.0, 0.5) == pytest.approx(0.5)
    np.testing.assert_allclose(regression_target(np.array([0.0, 1.0]), 0.1, 0.5), [-0.05, 0.05])
    # one-step win rate: ½ at every stage; trajectory: (H − h + 1)/2, the paper's β(H − h + 1)/2
    assert [centring_constant("one_step", h, 3) for h in (1, 2, 3)] == [0.5, 0.5, 0.5]
    assert [centring_constant("trajectory", h, 3) for h in (1, 2, 3)] == [1.5, 1.0, 0.5]
    assert centring_constant("trajectory", 1, 3, "terminal") == 0.5
    with pytest.raises(ValueError, match="estimator"):
        centring_constant("mc", 1, 3)
    with pytest.raises(ValueError, match="stage"):
        centring_constant("trajectory", 4, 3)


def test_a_tie_leaves_the_policy_unchanged():
    # Every answer ties: Q̂ = c for each estimator, so the target log-ratio is 0.
    for estimator, h, horizon in (("one_step", 2, 4), ("trajectory", 2, 4)):
        c = centring_constant(estimator, h, horizon)
        ties = 0.5 if estimator == "one_step" else 0.5 * (horizon - h + 1)
        assert regression_target(ties, 0.3, c) == 0.0


def test_dpo_loss_by_hand():
    logp_c, logp_r = torch.tensor([-1.0, -3.0]), torch.tensor([-2.0, -1.0])
    ref_c, ref_r = torch.tensor([-1.5, -2.0]), torch.tensor([-1.5, -2.0])
    # Δ = (−1 + 1.5) − (−2 + 1.5) = 1;  Δ = (−3 + 2) − (−1 + 2) = −2
    loss = dpo_loss(logp_c, logp_r, ref_c, ref_r, beta=0.5)
    expected = [math.log1p(math.exp(-0.5)), math.log1p(math.exp(1.0))]
    torch.testing.assert_close(loss, torch.tensor(expected))
    smoothed = dpo_loss(logp_c, logp_r, ref_c, ref_r, beta=0.5, label_smoothing=0.1)
    expected = [
        0.9 * math.log1p(math.exp(-0.5)) + 0.1 * math.log1p(math.exp(0.5)),
        0.9 * math.log1p(math.exp(1.0)) + 0.1 * math.log1p(math.exp(-1.0)),
    ]
    torch.testing.assert_close(smoothed, torch.tensor(expected))


def test_losses_check_shapes_and_settings():
    with pytest.raises(ValueError, match="same shape"):
        regression_loss(torch.zeros(2), torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(*(torch.zeros(1),) * 4, beta=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo_loss(*(torch.zeros(1),) * 4, beta=1.0, label_smoothing=0.5)
