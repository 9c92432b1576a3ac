from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ompo_envs.oracles import LLMJudge, OracleError
from ompo_envs.oracles.judge import format_dialogue, load_judge_prompts, parse_rating

CTX = [{"role": "user", "content": "What is the capital of France?"}]
SIG = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731


class JudgeHandler(BaseHTTPRequestHandler):
    """Rates the answer by a keyword it contains; misbehaves on request."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, self.headers.get("Authorization"), body))
        prediction = body["messages"][-1]["content"].rsplit("Assistant: ", 1)[-1]
        if "HTTP500" in prediction:
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"internal error")
            return
        if "GOOD" in prediction:
            reply = "Accurate and relevant. Rating: [[9]]"
        elif "BAD" in prediction:
            reply = "Wrong. Rating: [[2]]"
        elif "GARBAGE" in prediction:
            reply = "I refuse to give a number."
        else:
            reply = "Fine.\nRating: 5"
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data.encode())

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), JudgeHandler)
    httpd.requests = []
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def judge(server, monkeypatch):
    monkeypatch.setenv("OMPO_TEST_JUDGE_KEY", "sk-test")
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    return LLMJudge.from_endpoint(
        url, "judge-model", api_key_env="OMPO_TEST_JUDGE_KEY", timeout_s=5
    )


def test_known_values_and_request(judge, server):
    server.requests.clear()
    p = judge.compare(
        [CTX] * 3, ["GOOD: Paris", "GOOD: Paris", "GOOD one"], ["BAD: Lyon", "meh", "GOOD two"]
    )
    np.testing.assert_allclose(p, [SIG(7.0), SIG(4.0), 0.5], atol=1e-12)
    assert p[2] == 0.5  # equal ratings → exactly ½
    # 5 distinct answers, each rated once although each pair is scored in both orders
    assert len(server.requests) == 5
    path, auth, body = server.requests[0]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-test"
    assert body["model"] == "judge-model" and body["temperature"] == 0.0
    prompts = load_judge_prompts()
    assert body["messages"][0]["content"] == (
        prompts["judge_prefix"] + prompts["task_prompts"]["CC"] + prompts["score_format"]
    )
    assert body["messages"][1]["content"] == (
        "The dialogue need to be judged is: \n *** \n \n\n Human: What is the capital of France?"
        "\n\nAssistant:  GOOD: Paris \n ***"
    )


def test_temperature(server, monkeypatch):
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    judge = LLMJudge.from_endpoint(url, "m", api_key_env=None, temperature=2.0)
    assert judge.compare_one(CTX, "GOOD", "BAD") == pytest.approx(SIG(3.5))


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    a=st.sampled_from(["GOOD x", "BAD y", "ok", "GOOD z"]),
    b=st.sampled_from(["GOOD x", "BAD", "ok"]),
)
def test_antisymmetry_and_diagonal(judge, a, b):
    p_ab = judge.compare_one(CTX, a, b)
    assert p_ab + judge.compare_one(CTX, b, a) == pytest.approx(1.0, abs=1e-12)
    assert judge.compare_one(CTX, a, a) == 0.5


def test_batched_equals_one_by_one_and_cache(judge):
    a, b = ["GOOD", "BAD", "ok", "GOOD 2"], ["ok", "GOOD", "BAD", "BAD 2"]
    batched = judge.compare([CTX] * 4, a, b)
    judge._ratings.clear()
    single = [judge.compare_one(CTX, x, y) for x, y in zip(a, b, strict=True)]
    np.testing.assert_array_equal(batched, single)
    cached = LLMJudge(judge.chat, cache_size=4)
    first = cached.compare_one(CTX, "GOOD", "BAD")
    assert cached.compare_one(CTX, "GOOD", "BAD") == first and cached.cache_hits == 1


def test_concurrency(server):
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    judge = LLMJudge.from_endpoint(url, "m", api_key_env=None, concurrency=4)
    p = judge.compare([CTX] * 3, ["GOOD a", "GOOD b", "ok"], ["BAD a", "ok b", "BAD c"])
    np.testing.assert_allclose(p, [SIG(7), SIG(4), SIG(3)])


def test_bad_replies(judge):
    with pytest.raises(OracleError, match="I refuse to give a number"):
        judge.compare_one(CTX, "GARBAGE", "GOOD")
    with pytest.raises(OracleError, match="HTTP 500"):
        judge.compare_one(CTX, "HTTP500", "GOOD")
    with pytest.raises(OracleError, match="could not reach"):
        LLMJudge.from_endpoint(
            "http://127.0.0.1:9/v1", "m", api_key_env=None, timeout_s=2
        ).compare_one(CTX, "a", "b")


def test_parse_rating():
    assert parse_rating("blah Rating: [[7]]") == 7.0
    assert parse_rating("Rating: 8.5 because") == 8.5
    assert parse_rating("[[10]] then Rating: 3") == 10.0
    with pytest.raises(OracleError, match="outside 1–10"):
        parse_rating("Rating: [[11]]")
    with pytest.raises(OracleError, match="could not parse"):
        parse_rating("no number")


def test_bad_input_and_settings(judge, monkeypatch):
    with pytest.raises(ValueError, match="same length"):
        judge.compare([CTX], ["a"], ["b", "c"])
    with pytest.raises(TypeError, match="must be a string"):
        judge.compare([CTX], [1], ["b"])
    with pytest.raises(ValueError, match="empty"):
        judge.compare([[]], ["a"], ["b"])
    with pytest.raises(ValueError, match="end with the user turn"):
        format_dialogue([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}])
    with pytest.raises(ValueError, match="task must be"):
        LLMJudge(judge.chat, task="XX")
    monkeypatch.delenv("OMPO_TEST_MISSING_KEY", raising=False)
    with pytest.raises(ValueError, match="OMPO_TEST_MISSING_KEY"):
        LLMJudge.from_endpoint("http://127.0.0.1:1/v1", "m", api_key_env="OMPO_TEST_MISSING_KEY")


def test_local_model_judge(tmp_path):
    pytest.importorskip("transformers")
    from ompo_envs.oracles.tiny_models import build_tiny_causal_lm

    judge = LLMJudge.from_pretrained(build_tiny_causal_lm(tmp_path / "lm"), max_new_tokens=4)
    # the random tiny model cannot produce a rating: the error quotes its reply
    with pytest.raises(OracleError, match=r"could not parse a rating .* from the judge reply"):
        judge.compare_one(CTX, "Paris.", "rock")
    # the generator itself works and is deterministic (greedy)
    messages = judge.judge_messages(CTX, "Paris.")
    assert judge.chat(messages) == judge.chat(messages)
