"""A tiny Llama whose chat template renders tool calls (TRL 1.16's environment_factory
checks it)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from ompo_envs.oracles.tiny_models import CORPUS, build_tiny_causal_lm

RPS_PROMPT = "Let's play rock-paper-scissors. Reply with your move: rock, paper or scissors."

#: The tiny tokenizer's ``<|role|>`` template, plus each assistant tool call as ``name(args)``.
TOOL_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}"
    "{% for c in m.get('tool_calls', []) %}"
    "{{ c['function']['name'] }}({{ c['function']['arguments'] | tojson }}){% endfor %}</s>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_tool_lm_dir(tmp_path_factory):
    from transformers import AutoTokenizer

    directory = build_tiny_causal_lm(
        tmp_path_factory.mktemp("tiny_trl_lm"),
        corpus=(*CORPUS, RPS_PROMPT, "rock paper scissors"),
    )
    tokenizer = AutoTokenizer.from_pretrained(directory)
    tokenizer.chat_template = TOOL_CHAT_TEMPLATE
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(directory)
    return directory
