from __future__ import annotations

import json
import re

import pytest

from benchmarks.cli import main
from ompo_envs.evaluation.mtbench101 import (
    TurnRecord,
    context_for,
    judge_request,
    parse_official_rating,
    select_dialogues,
)
from ompo_envs.oracles.judge import load_judge_prompts
from tests.evaluation.openai_server import FakeOpenAIServer

NO_RATING = set()  # judge replies without a rating when the judged answer contains one of these


def respond(body):
    messages = body["messages"]
    if body["model"] == "policy":  # answers "A<k>" to the k-th user turn
        return f"A{sum(m['role'] == 'user' for m in messages)}"
    prediction = re.search(r"Assistant:  (A\d+) \n \*\*\*", messages[-1]["content"]).group(1)
    if any(marker in messages[-1]["content"] for marker in NO_RATING):
        return "The answer is fine but I will not score it."
    return f"Explanation. Rating: [[{2 + int(prediction[1:])}]]"


@pytest.fixture
def server():
    NO_RATING.clear()
    with FakeOpenAIServer(respond) as srv:
        yield srv


def args(server, out, *extra):
    return [
        "mtbench101", "--model", server.url, "--model-name", "policy", "--judge", server.url,
        "--judge-model", "judge", "--tasks", "CM", "GR", "--limit", "1", "--out", str(out),
        "--timeout", "0.5", "--backoff", "0.01", *extra,
    ]  # fmt: skip


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_official_protocol_end_to_end(server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMPO_TEST_JUDGE_KEY", "sk-never-written-7f3a")
    assert main(args(server, tmp_path, "--judge-api-key-env", "OMPO_TEST_JUDGE_KEY")) == 0
    # CM 1145 has 4 turns, the first not judged; GR 1 has 3 turns, all judged
    assert server.count("policy") == 6 and server.count("judge") == 6
    judgments = lines(tmp_path / "judgments.jsonl")
    assert [(j["dialogue_id"], j["turn"], j["rating"]) for j in judgments] == [
        (1145, 2, 4), (1145, 3, 5), (1145, 4, 6), (1, 1, 3), (1, 2, 4), (1, 3, 5),
    ]  # fmt: skip
    assert set(judgments[0]) >= {"dialogue_id", "task", "turn", "rating", "judgment",
                                 "judge_model", "prompt_hash"}  # fmt: skip
    assert judgments[0]["judge_model"] == "judge" and "Rating: [[4]]" in judgments[0]["judgment"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (
        summary["official"]["tasks"]["CM"]["score"] == 4 and summary["official"]["overall"] == 3.5
    )
    assert summary["paper"]["tasks"]["CM"]["score"] == 5 and summary["paper"]["overall"] == 4.5
    assert summary["unrated_judgments"] == 0 and summary["protocol"] == "official"
    # the model saw the golden history: the reference reply, not its own answer
    answers = lines(tmp_path / "answers.jsonl")
    second = next(a for a in answers if a["dialogue_id"] == 1 and a["turn"] == 2)
    assert second["messages"][1]["content"] == select_dialogues(["GR"], 1)[0].turns[0].bot
    # the key went in the header only
    assert server.headers[-1]["Authorization"] == "Bearer sk-never-written-7f3a"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"sk-never-written-7f3a" not in path.read_bytes(), path
    assert "sk-never-written" not in capsys.readouterr().out
    assert (tmp_path / "radar.png").stat().st_size > 0 and (tmp_path / "table.md").is_file()
    # a rerun with the same arguments pays nothing
    assert main(args(server, tmp_path, "--judge-api-key-env", "OMPO_TEST_JUDGE_KEY")) == 0
    assert server.count() == 12 and lines(tmp_path / "judgments.jsonl") == judgments


def test_paper_protocol_uses_own_answers(server, tmp_path):
    assert main(args(server, tmp_path, "--protocol", "paper")) == 0
    assert server.count("policy") == 7 and server.count("judge") == 6  # every turn answered
    turn3 = [b for b in server.requests if b["model"] == "policy" and len(b["messages"]) == 5]
    assert [m["content"] for m in turn3[0]["messages"] if m["role"] == "assistant"] == ["A1", "A2"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["protocol"] == "paper" and summary["official"]["overall"] == 3.5


def test_faults_are_retried_then_named_and_rerun_repays_nothing(server, tmp_path, capsys):
    judge = lambda body: body["model"] == "judge"  # noqa: E731
    server.inject("500", times=2, when=judge)
    server.inject("429", arg=0, when=judge)
    server.inject("slow", arg=1.0, when=judge)
    server.inject("malformed", when=judge)

    def target(body):  # dialogue 1 (GR), turn 2: fails on every attempt
        text = body["messages"][-1]["content"]
        return judge(body) and "Assistant:  A2 \n ***" in text and "D and E" in text

    server.inject("500", times=100, when=target)
    NO_RATING.add("Assistant:  A4 \n ***")  # CM 1145 turn 4: a judgement without a rating
    assert main(args(server, tmp_path)) == 1
    error = capsys.readouterr().err
    assert "judging failed at dialogue 1 (GR), turn 2" in error and "HTTP 500" in error
    assert "rerun the same command" in error
    kept = lines(tmp_path / "judgments.jsonl")
    assert sorted((j["dialogue_id"], j["turn"]) for j in kept) == [
        (1, 1), (1, 3), (1145, 2), (1145, 3), (1145, 4)]  # fmt: skip
    calls = server.count("judge")
    server.inject("500", times=0, when=target)
    server._faults.clear()
    assert main(args(server, tmp_path)) == 0
    assert server.count("judge") == calls + 1  # only the failed turn is asked again
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["unrated_judgments"] == 1 and summary["unrated"] == [
        {"dialogue_id": 1145, "turn": 4}]  # fmt: skip
    assert summary["official"]["unrated_turns"] == 1
    assert summary["official"]["tasks"]["CM"]["score"] == 4  # min over the two rated turns
    assert "no [n] rating" in capsys.readouterr().err
    assert main(args(server, tmp_path)) == 0
    assert server.count("judge") == calls + 1


def test_judge_request_matches_the_official_prompt():
    gr = select_dialogues(["GR"], 1)[0]
    prompts = load_judge_prompts()
    record = TurnRecord(gr, 2, context_for(gr, 2), "MY ANSWER")
    system, user = judge_request(record)
    assert system["content"] == (
        prompts["judge_prefix"] + prompts["task_prompts"]["GR"] + prompts["score_format"]
    )
    history = f"\n\n Human: {gr.turns[0].user}\n\nAssistant: {gr.turns[0].bot}"
    history += f"\n\n Human: {gr.turns[1].user}\n\nAssistant: "
    reference = [
        {"role": "user", "content": gr.turns[0].user},
        {"role": "assistant", "content": gr.turns[0].bot},
        {"role": "user", "content": gr.turns[1].user},
        {"role": "assistant", "content": gr.turns[1].bot},
    ]
    assert user["content"] == prompts["user_template_ref"].format(
        history=history, prediction="MY ANSWER", ref_answer=str(reference)
    )
    cm = select_dialogues(["CM"], 1)[0]
    _, user = judge_request(TurnRecord(cm, 2, context_for(cm, 2), "X"))
    assert "reference solution" not in user["content"]
    assert user["content"].startswith("The dialogue need to be judged is: \n *** \n \n\n Human: ")


def test_parse_official_rating():
    assert parse_official_rating("Good. Rating: [[7]]") == 7
    assert (
        parse_official_rating("criterion [2] applies. Rating: [[8]]") == 2
    )  # first [n], as upstream
    assert parse_official_rating("Rating: [[8.5]]") is None
    assert parse_official_rating("Rating: 8") is None
    assert parse_official_rating("[[11]]") == 11


def test_bad_settings():
    from ompo_envs.evaluation.mtbench101 import MTBench101Settings

    with pytest.raises(ValueError, match="protocol"):
        MTBench101Settings(protocol="golden")
    with pytest.raises(ValueError, match="unknown task"):
        MTBench101Settings(tasks=("XX",))
    with pytest.raises(ValueError, match="limit"):
        MTBench101Settings(limit=0)
    with pytest.raises(ValueError, match=r"turns 1\.\.3"):
        context_for(select_dialogues(["GR"], 1)[0], 4)
