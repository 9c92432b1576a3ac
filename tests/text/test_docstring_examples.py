"""Every text env's class docstring example runs (a cheap oracle stands in for EmbeddingOracle)."""

from __future__ import annotations

import re

import pytest

import ompo_envs.oracles
from ompo_envs.text.known_ne import TextRockPaperScissorsEnv, TextVotersEnv
from ompo_envs.text.mt_bench_101 import MTBench101Env
from ompo_envs.text.reasoning import ReasoningEnv

from .conftest import LengthOracle


@pytest.mark.parametrize(
    "cls", [MTBench101Env, ReasoningEnv, TextRockPaperScissorsEnv, TextVotersEnv]
)
def test_docstring_example_runs(cls, monkeypatch, capsys):
    monkeypatch.setattr(ompo_envs.oracles, "EmbeddingOracle", LengthOracle, raising=False)
    blocks = re.findall(r"```python\n(.*?)```", cls.__doc__, flags=re.S)
    assert blocks, f"{cls.__name__} has no example"
    for block in blocks:
        lines = block.splitlines()
        indent = min(len(x) - len(x.lstrip()) for x in lines if x.strip())
        exec("\n".join(x[indent:] for x in lines), {})
    printed = capsys.readouterr().out.splitlines()
    expected = {
        ReasoningEnv: ["True False"],
        TextRockPaperScissorsEnv: ["{'player_0': 1.0, 'player_1': 0.0}", "0.0", "0.5"],
        TextVotersEnv: ["0.666667"],
    }
    if cls in expected:
        assert printed == expected[cls]
