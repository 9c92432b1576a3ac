from __future__ import annotations

import threading
import time

import pytest

from ompo_envs.openai_client import ChatClientConfig, EndpointError, OpenAIChatClient, request_key
from tests.evaluation.openai_server import FakeOpenAIServer

HELLO = [{"role": "user", "content": "hello there"}]
FAST = {"api_key_env": None, "backoff_s": 0.01, "max_backoff_s": 2.0, "timeout_s": 5.0}


def echo(body):
    return "echo: " + body["messages"][-1]["content"]


@pytest.fixture
def server():
    with FakeOpenAIServer(echo) as srv:
        yield srv


def client(server, **settings):
    return OpenAIChatClient(server.url, "m", **{**FAST, **settings})


def test_request_reply_and_usage(server, monkeypatch):
    monkeypatch.setenv("OMPO_TEST_KEY", "sk-secret-123")
    c = client(server, api_key_env="OMPO_TEST_KEY", temperature=0.7, max_tokens=50)
    assert c.complete(HELLO) == "echo: hello there"
    body = server.requests[0]
    assert body == {"model": "m", "messages": HELLO, "temperature": 0.7, "max_tokens": 50}
    assert server.headers[0]["Authorization"] == "Bearer sk-secret-123"
    usage = c.usage_summary()
    assert (usage["calls"], usage["requests"], usage["retries"]) == (1, 1, 0)
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (2, 3, 5)
    assert "sk-secret" not in repr(c) and "sk-secret" not in str(usage)


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ("500", "HTTP 500"),
        ("malformed", "malformed JSON"),
        ("not_utf8", "not UTF-8"),
        ("no_content", "without choices"),
        ("disconnect", "connection failed"),
    ],
)
def test_transient_faults_are_retried_then_reported(server, fault, cause):
    c = client(server, max_attempts=3)
    server.inject(fault, times=2)
    assert c.complete(HELLO) == "echo: hello there"  # third attempt succeeds
    assert server.count() == 3 and c.usage_summary()["retries"] == 2
    server.inject(fault, times=3)
    with pytest.raises(EndpointError, match=cause) as info:
        c.complete([{"role": "user", "content": "again"}])
    error = info.value
    assert error.attempts == 3 and server.count() == 6
    assert server.url in str(error) and "'m'" in str(error) and "after 3 attempts" in str(error)
    assert error.__cause__ is None and error.__suppress_context__  # no raw exception chained


def test_timeout_is_retried(server):
    c = client(server, timeout_s=0.3, max_attempts=2)
    server.inject("slow", arg=1.0, times=2)
    start = time.monotonic()
    with pytest.raises(EndpointError, match=r"timed out after 0\.3 s"):
        c.complete(HELLO)
    assert server.count() == 2 and time.monotonic() - start < 3.0
    server.inject("slow", arg=1.0)
    assert c.complete(HELLO) == "echo: hello there"


def test_429_honours_retry_after(server):
    c = client(server, backoff_s=0.0)
    server.inject("429", arg=1)
    assert c.complete(HELLO) == "echo: hello there"
    assert server.count() == 2 and server.times[1] - server.times[0] >= 0.95
    # a Retry-After longer than max_backoff_s ends the call at once, saying so
    server.inject("429", arg=3600)
    with pytest.raises(EndpointError, match="asked to wait 3600 s") as info:
        c.complete([{"role": "user", "content": "later"}])
    assert info.value.status == 429 and info.value.attempts == 1


def test_client_errors_are_not_retried(server, monkeypatch):
    monkeypatch.setenv("OMPO_TEST_KEY", "sk-leaky")
    c = client(server, api_key_env="OMPO_TEST_KEY")
    server.inject("401")
    with pytest.raises(EndpointError, match=r"HTTP 401.*read from OMPO_TEST_KEY") as info:
        c.complete(HELLO)
    assert server.count() == 1 and "not retried" in str(info.value)
    assert "sk-leaky" not in str(info.value)


def test_unreachable_endpoint():
    c = OpenAIChatClient("http://127.0.0.1:9/v1", "m", **{**FAST, "max_attempts": 2})
    with pytest.raises(EndpointError, match=r"127\.0\.0\.1:9.*could not connect"):
        c.complete(HELLO)


def test_backoff_doubles_with_jitter(server):
    c = client(server, backoff_s=0.1, max_attempts=4)
    server.inject("500", times=3)
    c.complete(HELLO)
    gaps = [b - a for a, b in zip(server.times, server.times[1:], strict=False)]
    for k, gap in enumerate(gaps):  # 0.1·2^k · [0.5, 1)
        assert 0.05 * 2**k - 0.01 <= gap <= 0.1 * 2**k + 0.25


def test_disk_cache_repays_nothing(server, tmp_path):
    path = str(tmp_path / "cache.sqlite")
    first = client(server, cache_path=path)
    replies = first.complete_all([[{"role": "user", "content": f"q{i}"}] for i in range(5)])
    assert replies == [f"echo: q{i}" for i in range(5)] and server.count() == 5
    first.close()
    again = client(server, cache_path=path)
    assert again.complete_all([[{"role": "user", "content": f"q{i}"}] for i in range(5)]) == replies
    assert server.count() == 5  # nothing re-sent
    usage = again.usage_summary()
    assert usage["cache_hits"] == 5 and usage["requests"] == 0
    assert usage["cached_completion_tokens"] == 10
    # a different temperature is a different request
    client(server, cache_path=path, temperature=0.5).complete([{"role": "user", "content": "q0"}])
    assert server.count() == 6


def test_complete_all_keeps_what_succeeded(server, tmp_path):
    c = client(server, cache_path=str(tmp_path / "c.sqlite"), max_attempts=2)
    server.inject("500", times=2, when=lambda body: body["messages"][0]["content"] == "q2")
    with pytest.raises(EndpointError, match="HTTP 500") as info:
        c.complete_all([[{"role": "user", "content": f"q{i}"}] for i in range(4)])
    error = info.value
    assert error.index == 2 and set(error.failures) == {2}
    assert error.partial == ["echo: q0", "echo: q1", None, "echo: q3"]
    assert len(c.cache) == 3


def test_concurrency_limit():
    active, peak, lock = [0], [0], threading.Lock()

    def slow(body):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return "ok"

    with FakeOpenAIServer(slow) as srv:
        c = OpenAIChatClient(srv.url, "m", **{**FAST, "concurrency": 3})
        batch = [[{"role": "user", "content": str(i)}] for i in range(12)]
        threads = [threading.Thread(target=c.complete_all, args=(batch,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert peak[0] == 3


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"base_url": "ftp://x"}, "base_url"),
        ({"model": ""}, "model"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": float("nan")}, "timeout_s"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 2.5}, "max_tokens"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"concurrency": True}, "concurrency"),
        ({"temperature": -1}, "temperature"),
        ({"temperature": 3}, "temperature"),
        ({"backoff_s": -1}, "backoff_s"),
        ({"extra_body": {"model": "x"}}, "extra_body"),
        ({"api_key_env": ""}, "api_key_env"),
    ],
)
def test_settings_validated_at_construction(settings, match):
    base = {"base_url": "http://127.0.0.1:1/v1", "model": "m", "api_key_env": None}
    with pytest.raises((ValueError, TypeError), match=match):
        OpenAIChatClient(**{**base, **settings})


def test_missing_key_and_bad_messages(monkeypatch):
    monkeypatch.delenv("OMPO_TEST_MISSING", raising=False)
    with pytest.raises(ValueError, match="OMPO_TEST_MISSING"):
        OpenAIChatClient("http://127.0.0.1:1/v1", "m", api_key_env="OMPO_TEST_MISSING")
    c = OpenAIChatClient("http://127.0.0.1:1/v1", "m", api_key_env=None)
    with pytest.raises(TypeError, match="messages"):
        c.complete("hello")
    with pytest.raises(ValueError, match="role"):
        c.complete([{"role": "robot", "content": "x"}])


def test_request_key_is_canonical():
    a = {"model": "m", "messages": HELLO, "temperature": 0.0}
    b = {"temperature": 0.0, "messages": HELLO, "model": "m"}
    assert request_key(a) == request_key(b) != request_key({**a, "model": "n"})
    assert ChatClientConfig("http://x", "m").api_key_env == "OPENAI_API_KEY"
