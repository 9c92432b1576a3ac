"""A tiny Llama + tokenizer built on the fly (no download), shared by the LM-policy tests."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from ompo_envs.lm import LMPolicy, SamplingParams
from ompo_envs.oracles.tiny_models import CORPUS, build_tiny_causal_lm

RPS_PROMPT = "Let's play rock-paper-scissors. Reply with your move: rock, paper or scissors."
CONVERSATION = [{"role": "user", "content": RPS_PROMPT}]


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory):
    return build_tiny_causal_lm(
        tmp_path_factory.mktemp("tiny_policy_lm"),
        corpus=(*CORPUS, RPS_PROMPT, "rock paper scissors"),
    )


@pytest.fixture
def policy(tiny_lm_dir):
    return LMPolicy.from_pretrained(tiny_lm_dir, sampling=SamplingParams(max_new_tokens=6))
