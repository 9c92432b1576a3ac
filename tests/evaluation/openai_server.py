"""A real OpenAI-compatible chat-completions server on 127.0.0.1 for tests, with fault injection.

It answers ``POST /v1/chat/completions`` with ``responder(body) -> text`` and counts every request
it receives. ``inject(fault, times, when)`` makes the next ``times`` requests matching ``when``
misbehave: ``"500"``, ``"429"`` (with ``Retry-After``), ``"slow"`` (sleeps past a client's
time-out), ``"malformed"`` (broken JSON), ``"not_utf8"``, ``"disconnect"`` (closes without an
answer), ``"no_content"`` (JSON without ``choices``), ``"401"``. Requests are served by daemon
threads; the server stops by itself after ``max_requests``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], str]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        fault = self.server.owner.record(self.path, dict(self.headers), body)
        if fault is None:
            text = self.server.owner.responder(body)
            payload = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
                "usage": {
                    "prompt_tokens": sum(len(m["content"].split()) for m in body["messages"]),
                    "completion_tokens": len(text.split()),
                },
            }
            self._send(200, json.dumps(payload).encode())
            return
        kind, arg = fault
        if kind == "500":
            self._send(500, b'{"error": "internal error"}')
        elif kind == "429":
            self._send(429, b'{"error": "rate limited"}', {"Retry-After": str(arg)})
        elif kind == "401":
            self._send(401, b'{"error": "invalid key"}')
        elif kind == "slow":
            time.sleep(arg)
            self._send(200, b"{}")
        elif kind == "malformed":
            self._send(200, b'{"choices": [{"message": ')
        elif kind == "not_utf8":
            self._send(200, b"\xff\xfe\xfa not utf-8")
        elif kind == "no_content":
            self._send(200, b'{"object": "chat.completion"}')
        elif kind == "disconnect":
            self.close_connection = True
            self.connection.close()
        else:  # pragma: no cover - a typo in a test
            raise ValueError(kind)

    def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (time-out test)
            pass

    def log_message(self, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeOpenAIServer


class FakeOpenAIServer:
    """Use as ``with FakeOpenAIServer(responder) as server:``; ``server.url`` is the API root."""

    def __init__(self, responder: Responder, *, max_requests: int = 5000) -> None:
        self.responder = responder
        self.max_requests = max_requests
        self.requests: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.headers: list[dict[str, str]] = []
        self._faults: list[list[Any]] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def inject(
        self,
        fault: str,
        *,
        times: int = 1,
        arg: float = 0.0,
        when: Callable[[dict[str, Any]], bool] = lambda body: True,
    ) -> None:
        """Make the next ``times`` requests for which ``when(body)`` holds fail with ``fault``."""
        with self._lock:
            self._faults.append([fault, arg, when, times])

    def record(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
        with self._lock:
            self.requests.append(body)
            self.times.append(time.monotonic())
            self.headers.append(headers)
            if len(self.requests) > self.max_requests:
                self._faults.insert(0, ["500", 0.0, lambda body: True, 1])
            if path != "/v1/chat/completions":
                return ("500", 0.0)
            for fault in self._faults:
                if fault[3] > 0 and fault[2](body):
                    fault[3] -= 1
                    return fault[0], fault[1]
        return None

    def count(self, model: str | None = None) -> int:
        """Requests received (for one model name, or all)."""
        with self._lock:
            return sum(1 for b in self.requests if model is None or b.get("model") == model)
