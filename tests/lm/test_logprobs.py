from __future__ import annotations

import numpy as np
import pytest
import torch

from .conftest import CONVERSATION

OTHER = [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris is the capital of France."},
    {"role": "user", "content": "one two three"},
]
PAIRS = [
    (CONVERSATION, "rock"),
    (OTHER, "four five six seven eight nine ten"),
    (CONVERSATION, "I choose scissors, scissors beat paper."),
    (OTHER, ""),
    ([{"role": "user", "content": "Hi"}], "paper"),
]


def _by_hand(policy, conversation, answer):
    prompt = policy.format.prompt_ids(conversation)
    answer_ids = policy.format.answer_ids(answer)
    ids = torch.tensor([prompt + answer_ids])
    with torch.no_grad():
        logits = policy.model(input_ids=ids).logits[0].double()
    logprobs = logits.log_softmax(-1)
    return sum(float(logprobs[len(prompt) - 1 + i, token]) for i, token in enumerate(answer_ids))


def test_sequence_logprob_matches_a_hand_computed_sum(policy):
    values = policy.score([c for c, _ in PAIRS], [a for _, a in PAIRS])
    expected = [_by_hand(policy, c, a) for c, a in PAIRS]
    np.testing.assert_allclose(values, expected, atol=1e-4)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 16])
def test_logprobs_do_not_depend_on_batch_composition_or_padding(policy, batch_size):
    alone = np.array([policy.score([c], [a])[0] for c, a in PAIRS])
    policy.scoring_batch_size = batch_size
    together = policy.score([c for c, _ in PAIRS], [a for _, a in PAIRS])
    reversed_ = policy.score([c for c, _ in PAIRS[::-1]], [a for _, a in PAIRS[::-1]])[::-1]
    assert np.max(np.abs(together - alone)) <= 1e-5
    assert np.max(np.abs(reversed_ - alone)) <= 1e-5


def test_logprobs_carry_gradients_under_grad_mode(policy):
    values = policy.log_probs([CONVERSATION], ["rock"])
    assert values.dtype == torch.float32 and values.requires_grad
    values.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in policy.model.parameters())


def test_prompt_longer_than_the_context_is_a_clear_error(policy):
    long = [{"role": "user", "content": "x7q " * 2000}]
    with pytest.raises(ValueError, match="more than the model's context of 1024 tokens"):
        policy.score([long], ["rock"])
    with pytest.raises(ValueError, match="context"):
        policy.generate([long], 1, np.random.default_rng(0))
