"""ompo-train's loss runs the policy's log-probs through the accelerate-wrapped module."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


class Wrapper(torch.nn.Module):
    """Stands in for DDP: holds the module and counts the forward passes that go through it."""

    def __init__(self, module):
        super().__init__()
        self.module = module
        self.calls = 0

    def forward(self, **kwargs):
        self.calls += 1
        return self.module(**kwargs)


def test_log_probs_through_a_wrapper_equal_the_policy_s_own(tmp_path):
    from ompo_envs.lm import LMPolicy
    from ompo_envs.oracles.tiny_models import build_tiny_causal_lm
    from training.lm import answer_logprobs

    policy = LMPolicy.from_pretrained(build_tiny_causal_lm(tmp_path / "m"))
    conversations = [[{"role": "user", "content": "rock or paper?"}]] * 2
    answers = ["rock", "paper beats rock"]
    wrapper = Wrapper(policy.model)
    through = answer_logprobs(wrapper, policy, conversations, answers)
    assert wrapper.calls >= 1 and through.requires_grad
    own = policy.score(conversations, answers)
    np.testing.assert_allclose(through.detach().double().numpy(), own, atol=1e-6)
