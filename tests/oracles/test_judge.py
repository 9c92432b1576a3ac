from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ompo_envs.oracles import LLMJudge, OracleError
from ompo_envs.oracles.judge import format_dialogue, load_judge_prompts, parse_rating
from tests.evaluation.openai_server import FakeOpenAIServer
from tests.numerics import assert_elementwise_close

CTX = [{"role": "user", "content": "What is the capital of France?"}]
SIG = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
FAST = {"api_key_env": None, "timeout_s": 5.0, "backoff_s": 0.01}


def rate_by_keyword(body):
    """Rates the answer by a keyword it contains."""
    prediction = body["messages"][-1]["content"].rsplit("Assistant: ", 1)[-1]
    if "GOOD" in prediction:
        return "Accurate and relevant. Rating: [[9]]"
    if "BAD" in prediction:
        return "Wrong. Rating: [[2]]"
    if "GARBAGE" in prediction:
        return "I refuse to give a number."
    return "Fine.\nRating: 5"


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer(rate_by_keyword) as srv:
        yield srv


@pytest.fixture
def judge(server, monkeypatch):
    monkeypatch.setenv("OMPO_TEST_JUDGE_KEY", "sk-test")
    return LLMJudge.from_endpoint(
        server.url, "judge-model", api_key_env="OMPO_TEST_JUDGE_KEY", timeout_s=5
    )


def test_known_values_and_request(judge, server):
    before = server.count()
    p = judge.compare(
        [CTX] * 3, ["GOOD: Paris", "GOOD: Paris", "GOOD one"], ["BAD: Lyon", "meh", "GOOD two"]
    )
    np.testing.assert_allclose(p, [SIG(7.0), SIG(4.0), 0.5], atol=1e-12)
    assert p[2] == 0.5  # equal ratings → exactly ½
    # 5 distinct answers, each rated once although each pair is scored in both orders
    assert server.count() - before == 5
    body, headers = server.requests[before], server.headers[before]
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "judge-model" and body["temperature"] == 0.0
    prompts = load_judge_prompts()
    assert body["messages"][0]["content"] == (
        prompts["judge_prefix"] + prompts["task_prompts"]["CC"] + prompts["score_format"]
    )
    assert body["messages"][1]["content"] == (
        "The dialogue need to be judged is: \n *** \n \n\n Human: What is the capital of France?"
        "\n\nAssistant:  GOOD: Paris \n ***"
    )


def test_temperature(server):
    judge = LLMJudge.from_endpoint(server.url, "m", **FAST, temperature=2.0)
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
    assert_elementwise_close(batched, single)  # another batch length: a few ulps
    cached = LLMJudge(judge.chat, cache_size=4)
    first = cached.compare_one(CTX, "GOOD", "BAD")
    assert cached.compare_one(CTX, "GOOD", "BAD") == first and cached.cache_hits == 1


def test_concurrency(server):
    judge = LLMJudge.from_endpoint(server.url, "m", **FAST, concurrency=4)
    p = judge.compare([CTX] * 3, ["GOOD a", "GOOD b", "ok"], ["BAD a", "ok b", "BAD c"])
    np.testing.assert_allclose(p, [SIG(7), SIG(4), SIG(3)])


def test_bad_replies(judge):
    with pytest.raises(OracleError, match="I refuse to give a number"):
        judge.compare_one(CTX, "GARBAGE", "GOOD")
    with pytest.raises(OracleError, match=r"127\.0\.0\.1:9.*could not connect"):
        LLMJudge.from_endpoint(
            "http://127.0.0.1:9/v1", "m", **{**FAST, "max_attempts": 1}
        ).compare_one(CTX, "a", "b")


def test_parse_rating():
    assert parse_rating("blah Rating: [[7]]") == 7.0
    assert parse_rating("Rating: 8.5 because") == 8.5
    assert parse_rating("[[10]] then Rating: 3") == 10.0
    assert parse_rating("Rating: 7/10.") == 7.0
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


# ---------------------------------------------------------------- issue 13, finding 7
def test_finding7_retries_429_5xx_and_timeouts(server):
    judge = LLMJudge.from_endpoint(server.url, "retry-judge", **{**FAST, "timeout_s": 0.5})
    server.inject("500", times=2, when=lambda body: body["model"] == "retry-judge")
    server.inject("429", arg=0, when=lambda body: body["model"] == "retry-judge")
    server.inject("slow", arg=1.0, when=lambda body: body["model"] == "retry-judge")
    assert judge.compare_one(CTX, "GOOD", "BAD") == pytest.approx(SIG(7.0))
    assert server.count("retry-judge") == 2 + 4  # two ratings, four failed attempts retried


@pytest.mark.parametrize("fault", ["disconnect", "not_utf8", "malformed"])
def test_finding7_transport_faults_are_one_clear_error(server, fault):
    judge = LLMJudge.from_endpoint(server.url, f"faulty-{fault}", **FAST)
    server.inject(fault, times=5, when=lambda body: body["model"] == f"faulty-{fault}")
    with pytest.raises(OracleError, match=r"127\.0\.0\.1.*after 5 attempts") as info:
        judge.compare_one(CTX, "GOOD", "BAD")
    assert server.url in str(info.value)


def test_finding7_exponent_is_not_a_rating():
    for reply in ("Rating: 1e9", "Rating: [[1e9]]", "Rating: 2.5e1"):
        with pytest.raises(OracleError, match="outside 1–10"):
            parse_rating(reply)
    assert parse_rating("Rating: 1e0") == 1.0


def test_rating_parser_takes_linear_time():
    """'Rating' + n spaces backtracked in cubic time: 400 spaces took 4.3 s, 800 took 32 s."""
    worst = [
        "Rating" + " " * 400 + "x",
        "Rating" + " " * 16_384 + "x",
        "Rating:" + " " * 16_384 + "[[" + " " * 16_384 + "x",
        "[[" + " " * 16_384 + "7" + " " * 16_384 + "x",
        "Rating " + "1" * 16_384 + "x",
    ]
    for reply in worst:
        start = time.perf_counter()
        with pytest.raises(OracleError, match="could not parse"):
            parse_rating(reply)
        assert time.perf_counter() - start < 1.0, reply[:12]
    assert parse_rating("Rating : [[ 7 ]]") == parse_rating("rating=[7") == 7.0


@pytest.mark.parametrize("size", [-1, 1.5, True, "8"])
def test_finding7_rating_cache_size_checked_at_construction(size):
    with pytest.raises(ValueError, match="rating_cache_size"):
        LLMJudge(lambda messages: "Rating: [[5]]", rating_cache_size=size)


@pytest.mark.parametrize(
    ("setting", "match"),
    [
        ({"timeout_s": -1}, "timeout_s"),
        ({"timeout_s": float("inf")}, "timeout_s"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"rating_cache_size": -1}, "rating_cache_size"),
        ({"cache_size": -1}, "cache_size"),
    ],
)
def test_finding7_endpoint_settings_checked_at_construction(setting, match):
    # port 1 is closed: a check made only at the first request would never be reached
    with pytest.raises(ValueError, match=match):
        LLMJudge.from_endpoint("http://127.0.0.1:1/v1", "m", api_key_env=None, **setting)


def test_failed_ratings_keep_the_successful_ones(server):
    judge = LLMJudge.from_endpoint(
        server.url, "partial", **{**FAST, "max_attempts": 1}, concurrency=2
    )
    server.inject("500", when=lambda b: b["model"] == "partial" and "BAD" in str(b["messages"]))
    with pytest.raises(OracleError, match="HTTP 500"):
        judge.compare_one(CTX, "GOOD", "BAD")
    before = server.count("partial")
    assert judge.compare_one(CTX, "GOOD", "BAD") == pytest.approx(SIG(7.0))
    assert server.count("partial") == before + 1  # only the failed rating is asked again


def test_disk_cache_across_judges(server, tmp_path):
    settings = {**FAST, "cache_path": str(tmp_path / "judge.sqlite")}
    first = LLMJudge.from_endpoint(server.url, "cached-judge", **settings)
    p = first.compare_one(CTX, "GOOD", "BAD")
    again = LLMJudge.from_endpoint(server.url, "cached-judge", **settings)
    assert again.compare_one(CTX, "GOOD", "BAD") == p
    assert server.count("cached-judge") == 2
    assert again.chat.usage_summary()["cache_hits"] == 2


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
