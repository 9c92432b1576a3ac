"""The vLLM backend's boundary, on CPU: an optional extra CI never installs, and the requests it
builds (checked against a stand-in ``vllm`` module that records them).
"""

from __future__ import annotations

import sys
import tomllib
import types
from pathlib import Path

import pytest

from ompo_envs.lm import LMPolicy, SamplingParams, VLLMBackend

from .conftest import CONVERSATION

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


def test_vllm_is_an_optional_extra_outside_all():
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    assert any(pin.startswith("vllm==") for pin in extras["vllm"])
    assert not any("vllm" in pin for pin in extras["all"] + extras["test"])


def test_without_vllm_the_error_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "vllm", None)  # an import of vllm now fails
    with pytest.raises(ImportError, match=r'pip install "ompo-envs\[vllm\]"'):
        VLLMBackend(str(tmp_path))


class _FakeLLM:
    """Records what the backend asks vLLM for; answers "rock" K times per prompt."""

    def __init__(self, model, **engine_args):
        self.model, self.engine_args, self.calls = model, engine_args, []

    def generate(self, requests, settings, use_tqdm=True):
        self.calls.append((requests, settings))
        choice = types.SimpleNamespace(text="rock", finish_reason="stop", token_ids=[1, 2])
        return [types.SimpleNamespace(outputs=[choice] * s.n) for s in settings]


def test_requests_carry_the_prompt_ids_k_the_settings_and_per_prompt_seeds(
    monkeypatch, tiny_lm_dir
):
    fake = types.SimpleNamespace(LLM=_FakeLLM, SamplingParams=types.SimpleNamespace)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    policy = LMPolicy.from_pretrained(tiny_lm_dir)
    backend = VLLMBackend(str(tiny_lm_dir), policy.format, dtype="bfloat16")
    assert backend.llm.model == str(tiny_lm_dir)
    assert backend.llm.engine_args == {"dtype": "bfloat16"}
    params = SamplingParams(
        num_samples=3, temperature=0.7, top_p=0.9, max_new_tokens=5, stop=("\n",)
    )
    other = [{"role": "user", "content": "paper?"}]
    completions = backend.generate([CONVERSATION, other], params, seed=11)
    assert [[c.text for c in row] for row in completions] == [["rock"] * 3] * 2
    assert completions[0][0].finish_reason == "stop" and completions[0][0].num_tokens == 2
    ((requests, settings),) = backend.llm.calls
    assert [r["prompt_token_ids"] for r in requests] == [
        policy.format.prompt_ids(CONVERSATION),
        policy.format.prompt_ids(other),
    ]
    for s in settings:
        assert (s.n, s.temperature, s.top_p, s.max_tokens, s.stop) == (3, 0.7, 0.9, 5, ["\n"])
        assert s.skip_special_tokens
    assert len({s.seed for s in settings}) == 2  # each prompt its own seed
    backend.generate([CONVERSATION, other], params, seed=11)
    assert [s.seed for s in backend.llm.calls[1][1]] == [s.seed for s in settings]
    long = [{"role": "user", "content": "x7q " * 2000}]
    with pytest.raises(ValueError, match="context"):
        backend.generate([long], params, seed=0)
