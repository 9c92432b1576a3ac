"""One client for every OpenAI-compatible chat-completions endpoint the package talks to.

:class:`OpenAIChatClient` sends ``POST {base_url}/chat/completions`` with the standard library only
and is what the LLM-judge oracle, the evaluation commands and the endpoint generation backend use.
A user can trust it with a paid API:

* **Retries**: HTTP 408/409/425/429 and 5xx, connection errors, time-outs and malformed replies are
  retried up to ``max_attempts`` times in all. The k-th wait is
  d_k = min(max_backoff_s, backoff_s · 2^(k−1)) · (½ + ½ u), u ~ U[0, 1) ("equal jitter", from an
  explicit ``np.random.Generator``); a ``Retry-After`` header (seconds or an HTTP date) is honoured
  as a lower bound, and one longer than ``max_backoff_s`` ends the call at once. Other 4xx answers
  (a bad request, a wrong key) are not retried.
* **One exception type**: every failure is an :class:`EndpointError` whose message names the
  endpoint, the model and the cause; raw ``urllib``/``http.client``/decoding errors never escape.
* **Concurrency limit**: at most ``concurrency`` requests are in flight at once, across all
  threads that share the client (:meth:`OpenAIChatClient.complete_all` runs a batch that way).
* **Time-out**: ``timeout_s`` bounds the connection and every wait for reply bytes.
* **Disk cache** (``cache_path``): a SQLite file keyed by the SHA-256 of the full request (model,
  messages, temperature, max_tokens); each reply is committed as soon as it arrives, so a crashed or
  repeated run re-pays nothing for what it already received.
* **The API key** is read from the environment variable ``api_key_env`` at construction, sent only
  in the ``Authorization`` header, and redacted from every message; it is never written anywhere.
* **Usage**: :meth:`OpenAIChatClient.usage_summary` counts requests, retries, cache hits and the
  prompt/completion tokens the endpoint reported (and those the cache saved).

Settings are a frozen :class:`ChatClientConfig`, validated when the client is built.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import math
import os
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ompo_envs.oracles.base import validate_conversation

__all__ = [
    "RETRYABLE_STATUS",
    "ChatClientConfig",
    "DiskCache",
    "EndpointError",
    "OpenAIChatClient",
    "request_key",
]

#: HTTP statuses that are retried (rate limits, time-outs, conflicts, server errors are added).
RETRYABLE_STATUS: frozenset[int] = frozenset({408, 409, 425, 429})
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_SHOWN_CHARS = 300


class EndpointError(RuntimeError):
    """An OpenAI-compatible endpoint failed; the message names the endpoint, model and cause.

    Attributes:
        url: The ``/chat/completions`` URL.
        model: The model name sent.
        cause: What went wrong on the last attempt (e.g. ``"HTTP 500: ..."``, ``"timed out"``).
        status: The last HTTP status, or None when no HTTP answer came.
        attempts: How many requests were sent.
        index: In :meth:`OpenAIChatClient.complete_all`, the position of the first failed item.
        partial: In :meth:`OpenAIChatClient.complete_all`, every reply (None where it failed).
        failures: In :meth:`OpenAIChatClient.complete_all`, the error of every failed position.
    """

    def __init__(
        self, message: str, *, url: str, model: str, cause: str, status: int | None, attempts: int
    ) -> None:
        super().__init__(message)
        self.url = url
        self.model = model
        self.cause = cause
        self.status = status
        self.attempts = attempts
        self.index: int | None = None
        self.partial: list[str | None] = []
        self.failures: dict[int, EndpointError] = {}


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _finite(name: str, value: object, *, low: float, strict: bool) -> None:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and (value > low if strict else value >= low)
    )
    if not ok:
        sign = ">" if strict else ">="
        raise ValueError(f"{name} must be a finite number {sign} {low}, got {value!r}")


@dataclass(frozen=True)
class ChatClientConfig:
    """Settings of :class:`OpenAIChatClient` (validated at construction)."""

    base_url: str
    """Endpoint root, e.g. ``"https://api.openai.com/v1"`` or ``"http://127.0.0.1:8000/v1"``."""
    model: str
    """The model name sent in every request."""
    api_key_env: str | None = "OPENAI_API_KEY"
    """Environment variable holding the API key (sent as a Bearer token); None sends no key."""
    temperature: float = 0.0
    """Sampling temperature sent with every request (0 to 2)."""
    max_tokens: int = 1024
    """Cap on the reply length, in tokens."""
    timeout_s: float = 60.0
    """Seconds to wait for the connection and for each read of the reply."""
    max_attempts: int = 5
    """Requests sent for one call before giving up (1 = no retry)."""
    backoff_s: float = 1.0
    """First back-off wait; it doubles at every retry (before jitter)."""
    max_backoff_s: float = 60.0
    """Longest wait between two attempts; a longer ``Retry-After`` fails the call at once."""
    concurrency: int = 8
    """Requests in flight at once, across all threads sharing the client."""
    cache_path: str | None = None
    """SQLite file of the persistent reply cache; None keeps no cache."""
    seed: int = 0
    """Seed of the jitter generator."""
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    """Further request fields (e.g. ``{"top_p": 0.9}``); they are part of the cache key."""

    def __post_init__(self) -> None:
        if not isinstance(self.base_url, str) or not self.base_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"model must be a non-empty string, got {self.model!r}")
        if self.api_key_env is not None and (
            not isinstance(self.api_key_env, str) or not self.api_key_env
        ):
            raise ValueError(
                f"api_key_env must be an environment variable name or None, got "
                f"{self.api_key_env!r}"
            )
        _finite("temperature", self.temperature, low=0.0, strict=False)
        if self.temperature > 2.0:
            raise ValueError(f"temperature must lie in [0, 2], got {self.temperature!r}")
        _positive_int("max_tokens", self.max_tokens)
        _finite("timeout_s", self.timeout_s, low=0.0, strict=True)
        _positive_int("max_attempts", self.max_attempts)
        _finite("backoff_s", self.backoff_s, low=0.0, strict=False)
        _finite("max_backoff_s", self.max_backoff_s, low=0.0, strict=False)
        _positive_int("concurrency", self.concurrency)
        if self.cache_path is not None and not isinstance(self.cache_path, str | os.PathLike):
            raise TypeError(f"cache_path must be a path or None, got {self.cache_path!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.extra_body, Mapping):
            raise TypeError(f"extra_body must be a mapping, got {type(self.extra_body).__name__}")
        clash = {"model", "messages", "temperature", "max_tokens", "stream"} & set(self.extra_body)
        if clash:
            raise ValueError(f"extra_body may not set {sorted(clash)}; use the settings instead")
        try:
            json.dumps(dict(self.extra_body))
        except (TypeError, ValueError) as error:
            raise TypeError(f"extra_body must be JSON-serialisable: {error}") from error


def request_key(body: Mapping[str, Any]) -> str:
    """Return the cache key of a request body: SHA-256 of its canonical JSON."""
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class DiskCache:
    """A persistent key → JSON value store in one SQLite file, safe across threads and processes.

    Every :meth:`put` is committed at once, so a killed process keeps what it stored.

    Args:
        path: The SQLite file (its folder is created).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT)")
            self._db.commit()
        except sqlite3.DatabaseError as error:
            raise ValueError(
                f"cannot use {self.path} as a cache ({error}); point the cache elsewhere or "
                "delete the file"
            ) from error

    def get(self, key: str) -> Any | None:
        """Return the value stored under ``key``, or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) under ``key`` and commit."""
        text = json.dumps(value, ensure_ascii=False)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO cache (key, value) VALUES (?, ?)", (key, text))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM cache").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


@dataclass
class _Failure(Exception):
    """One failed attempt (internal): the cause, whether to retry, and the server's wait."""

    cause: str
    retryable: bool
    status: int | None = None
    retry_after: float | None = None


class OpenAIChatClient:
    """Chat completions from an OpenAI-compatible endpoint (see the module docstring).

    Args:
        base_url: Endpoint root (``.../v1``); ``/chat/completions`` is appended.
        model: The model name sent in each request.
        **settings: Further fields of :class:`ChatClientConfig`.

    Raises:
        ValueError / TypeError: A setting is invalid, or ``api_key_env`` names an unset variable.
    """

    def __init__(self, base_url: str, model: str, **settings: Any) -> None:
        self.config = ChatClientConfig(base_url=base_url, model=model, **settings)
        self.url = self.config.base_url.rstrip("/") + "/chat/completions"
        self.model = self.config.model
        self._api_key: str | None = None
        if self.config.api_key_env is not None:
            key = os.environ.get(self.config.api_key_env)
            if not key:
                raise ValueError(
                    f"the environment variable {self.config.api_key_env} holding the API key of "
                    f"{self.url} is not set; set it, name another with api_key_env=..., or pass "
                    "api_key_env=None for a server that needs no key"
                )
            self._api_key = key
        host = urllib.parse.urlsplit(self.url).hostname or ""
        # Loopback servers are reached directly, never through an environment proxy.
        handlers = [urllib.request.ProxyHandler({})] if host in _LOOPBACK_HOSTS else []
        self._opener = urllib.request.build_opener(*handlers)
        self._slots = threading.BoundedSemaphore(self.config.concurrency)
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(self.config.seed)
        self.cache = DiskCache(self.config.cache_path) if self.config.cache_path else None
        self._usage = {
            "requests": 0,
            "retries": 0,
            "calls": 0,
            "cache_hits": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cached_prompt_tokens": 0,
            "cached_completion_tokens": 0,
        }

    def __repr__(self) -> str:
        return f"OpenAIChatClient(url={self.url!r}, model={self.model!r})"

    # ------------------------------------------------------------------ requests
    def request_body(self, messages: Sequence[Mapping[str, str]]) -> dict[str, Any]:
        """Return the JSON body sent for ``messages`` (also the cache key's content)."""
        return {
            "model": self.model,
            "messages": validate_conversation(messages, where="messages"),
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            **self.config.extra_body,
        }

    def complete(self, messages: Sequence[Mapping[str, str]]) -> str:
        """Return the reply text to ``messages``, from the cache or the endpoint.

        Raises:
            TypeError / ValueError: ``messages`` is not a list of ``{"role", "content"}`` dicts.
            EndpointError: Every attempt failed, or the failure is not retryable.
        """
        body = self.request_body(messages)
        key = request_key(body)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self._count(
                    calls=1,
                    cache_hits=1,
                    cached_prompt_tokens=hit["usage"].get("prompt_tokens", 0),
                    cached_completion_tokens=hit["usage"].get("completion_tokens", 0),
                )
                return str(hit["text"])
        text, usage = self._send(body)
        if self.cache is not None:
            self.cache.put(key, {"text": text, "usage": usage, "model": self.model})
        self._count(calls=1, **usage)
        return text

    __call__ = complete

    def complete_all(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[str]:
        """Return the reply to each conversation, ``concurrency`` requests at a time.

        Every item is attempted, and every reply that arrives is cached, before an error is
        raised.

        Raises:
            EndpointError: At least one item failed: the error of the first failed item, with
                ``index``, ``partial`` (all replies, None where failed) and ``failures`` set.
        """
        conversations = list(conversations)
        for i, messages in enumerate(conversations):
            validate_conversation(messages, where=f"conversations[{i}]")
        replies: list[str | None] = [None] * len(conversations)
        failures: dict[int, EndpointError] = {}

        def run(i: int) -> None:
            try:
                replies[i] = self.complete(conversations[i])
            except EndpointError as error:
                failures[i] = error

        workers = min(self.config.concurrency, len(conversations))
        if workers <= 1:
            for i in range(len(conversations)):
                run(i)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(run, range(len(conversations))))
        if failures:
            first = min(failures)
            error = failures[first]
            error.index, error.partial, error.failures = first, replies, failures
            raise error
        return [r for r in replies if r is not None]

    def usage_summary(self) -> dict[str, Any]:
        """Return the counters: calls, requests sent, retries, cache hits, tokens used and saved."""
        with self._lock:
            usage = dict(self._usage)
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        usage["model"] = self.model
        usage["url"] = self.url
        return usage

    def close(self) -> None:
        """Close the disk cache."""
        if self.cache is not None:
            self.cache.close()

    # ------------------------------------------------------------------ internals
    def _count(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                self._usage[name] += int(amount)

    def _send(self, body: dict[str, Any]) -> tuple[str, dict[str, int]]:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        attempts = 0
        while True:
            attempts += 1
            self._count(requests=1, retries=int(attempts > 1))
            try:
                with self._slots:
                    return self._post(data)
            except _Failure as failure:
                wait = self._wait(attempts, failure)
                if not failure.retryable or attempts >= self.config.max_attempts or wait is None:
                    raise self._error(failure, attempts, wait) from None
            time.sleep(wait)

    def _wait(self, attempts: int, failure: _Failure) -> float | None:
        """Seconds to wait before the next attempt; None if ``Retry-After`` asks for too long."""
        base = min(self.config.max_backoff_s, self.config.backoff_s * 2.0 ** (attempts - 1))
        with self._lock:
            wait = base * (0.5 + 0.5 * float(self._rng.random()))
        if failure.retry_after is not None:
            if failure.retry_after > self.config.max_backoff_s:
                return None
            wait = max(wait, failure.retry_after)
        return wait

    def _error(self, failure: _Failure, attempts: int, wait: float | None) -> EndpointError:
        if not failure.retryable:
            how = "(not retried)"
        elif wait is None:
            how = (
                f"(the endpoint asked to wait {failure.retry_after:g} s, more than "
                f"max_backoff_s={self.config.max_backoff_s:g})"
            )
        else:
            how = f"after {attempts} attempt{'s' * (attempts > 1)}"
        cause = self._redact(failure.cause)
        message = f"the endpoint {self.url} (model {self.model!r}) failed {how}: {cause}"
        return EndpointError(
            message,
            url=self.url,
            model=self.model,
            cause=cause,
            status=failure.status,
            attempts=attempts,
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _post(self, data: bytes) -> tuple[str, dict[str, int]]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.config.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise self._http_failure(error) from None
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                raise _Failure(f"timed out after {self.config.timeout_s:g} s", True) from None
            raise _Failure(f"could not connect ({reason})", True) from None
        except TimeoutError:
            raise _Failure(f"timed out after {self.config.timeout_s:g} s", True) from None
        except (http.client.HTTPException, OSError) as error:
            raise _Failure(
                f"the connection failed ({type(error).__name__}: {error})", True
            ) from None
        return self._parse(raw)

    def _http_failure(self, error: urllib.error.HTTPError) -> _Failure:
        try:
            detail = error.read().decode("utf-8", "replace")[:_SHOWN_CHARS]
        except (http.client.HTTPException, OSError):
            detail = ""
        status = int(error.code)
        cause = f"HTTP {status}: {detail.strip() or error.reason}"
        if status in (401, 403):
            where = self.config.api_key_env or "no key (api_key_env=None)"
            cause += f" (check the API key; it is read from {where})"
        retryable = status in RETRYABLE_STATUS or status >= 500
        return _Failure(cause, retryable, status, _retry_after(error.headers))

    def _parse(self, raw: bytes) -> tuple[str, dict[str, int]]:
        shown = raw[:_SHOWN_CHARS].decode("utf-8", "replace")
        try:
            payload = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise _Failure(f"a reply that is not UTF-8: {shown!r}", True) from None
        except json.JSONDecodeError as error:
            raise _Failure(f"malformed JSON ({error.msg}): {shown!r}", True) from None
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise _Failure(f"a reply without choices[0].message.content: {shown!r}", True) from None
        if not isinstance(content, str):
            raise _Failure(f"non-text content {content!r} in {shown!r}", True)
        usage: dict[str, int] = {}
        reported = payload.get("usage") if isinstance(payload, dict) else None
        if isinstance(reported, dict):
            for name in ("prompt_tokens", "completion_tokens"):
                value = reported.get(name)
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    usage[name] = value
        return content, usage


def _retry_after(headers: Any) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def config_dict(config: ChatClientConfig) -> dict[str, Any]:
    """Return the settings as a JSON-friendly dict (for results files; holds no key)."""
    out = asdict(config)
    out["extra_body"] = dict(config.extra_body)
    return out
