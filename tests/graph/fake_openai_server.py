"""A scripted, local chat-completions server speaking OpenAI's wire format (standard library only).

No OpenAI endpoint is reachable in tests, so the real ``openai`` client talks to this
instead: ``server.script([tool_call("assign_agents", {...}), text("done")])`` queues the
replies, one per request; ``server.requests`` keeps every request body so tests can check
what the model was shown.  Faults (HTTP 500, 429, a hang, garbage) are replies too.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PATHS = ("/v1/chat/completions", "/chat/completions")


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a message (text and/or tool calls) or a fault."""

    content: str | None = None
    calls: tuple[tuple[str, str], ...] = ()  # (tool name, raw JSON arguments)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to stall before answering (a hang when over the client timeout)
    raw: bytes | None = None  # a body sent as is (garbage)


def text(content: str) -> Reply:
    return Reply(content=content)


def tool_call(name: str, arguments: dict | str, *, content: str | None = None) -> Reply:
    """One tool call; ``arguments`` as a dict, or a raw string to send it malformed."""
    return tool_calls([(name, arguments)], content=content)


def tool_calls(calls: Iterable[tuple[str, dict | str]], *, content: str | None = None) -> Reply:
    encoded = tuple((n, a if isinstance(a, str) else json.dumps(a)) for n, a in calls)
    return Reply(content=content, calls=encoded)


def http_error(status: int = 500, message: str = "internal error", *, retry_after: float | None = None) -> Reply:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    body = json.dumps({"error": {"message": message, "type": "server_error", "code": None}}).encode()
    return Reply(status=status, headers=headers, raw=body)


def hang(seconds: float = 5.0) -> Reply:
    return Reply(content="too late", delay=seconds)


def garbage() -> Reply:
    return Reply(raw=b"<html>502 proxy says no</html>\x00\xff")


class FakeOpenAI:
    """The server: ``start()``/``stop()`` (or ``with``), ``script(...)``, ``requests``, ``base_url``."""

    def __init__(self, model: str = "fake-model") -> None:
        self.model = model
        self.requests: list[dict] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._released = threading.Event()  # set on stop: ends any hang at once
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # a hanging handler must not block stop()
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fake-openai", daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, replies: Iterable[Reply]) -> None:
        with self._lock:
            self._replies.extend(replies)

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self, body: dict) -> Reply:
        with self._lock:
            self.requests.append(body)
            if self._replies:
                return self._replies.popleft()
        return http_error(500, "fake server: no scripted reply left")

    def _completion(self, reply: Reply) -> dict:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        if reply.calls:
            message["tool_calls"] = [{"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
                                     for i, (n, a) in enumerate(reply.calls)]
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": self.model,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": "tool_calls" if reply.calls else "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}

    def _chunks(self, reply: Reply) -> Iterator[dict]:
        """The reply as stream chunks: role, content in pieces, each call's arguments in three pieces."""
        def chunk(delta: dict, finish: str | None = None) -> dict:
            return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        yield chunk({"role": "assistant", "content": ""})
        content = reply.content or ""
        for start in range(0, len(content), 7):
            yield chunk({"content": content[start:start + 7]})
        for i, (name, arguments) in enumerate(reply.calls):
            yield chunk({"tool_calls": [{"index": i, "id": f"call_{i}", "type": "function",
                                         "function": {"name": name, "arguments": ""}}]})
            third = max(1, len(arguments) // 3 + 1)
            for start in range(0, len(arguments), third):
                yield chunk({"tool_calls": [{"index": i, "function": {"arguments": arguments[start:start + third]}}]})
        yield chunk({}, "tool_calls" if reply.calls else "stop")


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_POST(self) -> None:
            if self.path.split("?")[0] not in PATHS:
                return self._send(404, b'{"error": {"message": "not found"}}')
            size = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(size) or b"{}")
            reply = server._next(body)
            if reply.delay and server._released.wait(reply.delay):
                return  # stopped while hanging
            if reply.raw is not None:
                return self._send(reply.status, reply.raw, reply.headers)
            if not body.get("stream"):
                return self._send(200, json.dumps(server._completion(reply)).encode())
            events = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in server._chunks(reply))
            self._send(200, events + b"data: [DONE]\n\n", content_type="text/event-stream")

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            try:
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): nothing to do

    return Handler
