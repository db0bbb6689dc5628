"""A local stand-in for Slack's Web API (and for ``response_url``s and file upload URLs), speaking the wire
format slack_sdk and Bolt use: it records every call and can answer 429 with ``Retry-After``, or be down
(5xx) for some methods until it recovers."""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

BOT_USER = "UCYBEROPS"
TEAM = "T0CYBER"


@dataclass
class Call:
    method: str  # a Web API method, "upload" (file bytes) or "response" (a response_url POST)
    body: dict[str, Any]
    headers: dict[str, str]
    status: int
    at: float = field(default_factory=time.monotonic)
    raw: bytes = b""
    path: str = ""
    answer: dict[str, Any] = field(default_factory=dict)  # what the fake replied (e.g. the ts it gave)


class FakeSlackAPI:
    """``with FakeSlackAPI() as api: WebClient(base_url=api.base_url)``."""

    def __init__(self) -> None:
        self.calls_made: list[Call] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._limits: dict[str, list] = {}  # method -> [times left, Retry-After]
        self._down: dict[str, int] = {}  # method (or "response") -> the status it answers while down
        self._ts = itertools.count(1)
        self._files = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.url}/api/"  # the trailing slash matters to slack_sdk
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSlackAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---------------------------------------------------------------- for tests
    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After``."""
        with self._lock:
            self._limits[method] = [times, retry_after]

    def fail(self, *methods: str, status: int = 503) -> None:
        """Answer every call of ``methods`` ("response": the response URLs) with ``status`` until :meth:`recover`."""
        with self._lock:
            self._down.update(dict.fromkeys(methods, status))

    def recover(self) -> None:
        with self._lock:
            self._down.clear()

    def calls(self, method: str | None = None, *, ok_only: bool = True) -> list[Call]:
        with self._lock:
            return [c for c in self.calls_made
                    if (method is None or c.method == method) and (c.status == 200 or not ok_only)]

    def wait_for(self, method: str, count: int = 1, *, timeout: float = 10.0, where=None) -> list[Call]:
        """Block until ``count`` successful calls of ``method`` (matching ``where``) were made; return them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [c for c in self.calls_made if c.method == method and c.status == 200
                         and (where is None or where(c))]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{count} {method} call(s) expected, {len(found)} seen; "
                                         f"all calls: {[c.method for c in self.calls_made]}")
                self._changed.wait(left)

    # ---------------------------------------------------------------- the server side
    def _record(self, call: Call) -> None:
        with self._changed:
            self.calls_made.append(call)
            self._changed.notify_all()

    def _limited(self, method: str) -> int | None:
        with self._lock:
            limit = self._limits.get(method)
            if not limit or limit[0] <= 0:
                return None
            limit[0] -= 1
            return limit[1]

    def _failing(self, method: str) -> int | None:
        with self._lock:
            return self._down.get(method)

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://cyber.slack.com/", "team": "Cyber", "user": "cyberops",
                    "team_id": TEAM, "user_id": BOT_USER, "bot_id": "BCYBEROPS", "is_enterprise_install": False}
        if method == "chat.postMessage":
            ts = self._next_ts()
            return {"ok": True, "channel": body.get("channel"), "ts": ts,
                    "message": {"type": "message", "text": body.get("text"), "ts": ts, "bot_id": "BCYBEROPS",
                                **({"thread_ts": body["thread_ts"]} if body.get("thread_ts") else {})}}
        if method == "chat.update":
            return {"ok": True, "channel": body.get("channel"), "ts": body.get("ts"), "text": body.get("text")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._files):08d}"
            return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = json.loads(body.get("files") or "[]")
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title"), "name": f.get("title")}
                                          for f in files]}
        return {"ok": False, "error": "unknown_method"}

    def _next_ts(self) -> str:
        return f"1767000000.{next(self._ts):06d}"


def _handler(api: FakeSlackAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            kind, _, rest = self.path.lstrip("/").partition("/")
            if kind == "upload":
                api._record(Call("upload", {"file_id": rest}, headers, 200, raw=raw, path=self.path))
                return self._send(200, f"OK - {len(raw)}".encode(), "text/plain")
            body = _parse(raw, headers.get("content-type", ""))
            method = "response" if kind == "response" else rest.split("?", 1)[0]
            down = api._failing(method)
            if down is not None:
                api._record(Call(method, body, headers, down, raw=raw, path=self.path))
                return self._send(down, b"upstream connect error or disconnect/reset before headers", "text/plain")
            if kind == "response":
                api._record(Call("response", body, headers, 200, raw=raw, path=self.path))
                return self._send(200, b"ok", "text/plain")
            if kind != "api":
                return self._send(404, b"not found", "text/plain")
            method = rest.split("?", 1)[0]
            retry_after = api._limited(method)
            if retry_after is not None:
                api._record(Call(method, body, headers, 429, raw=raw, path=self.path))
                return self._send(429, b'{"ok": false, "error": "ratelimited"}', "application/json",
                                  {"Retry-After": str(retry_after)})
            answer = api._answer(method, body)
            api._record(Call(method, body, headers, 200, raw=raw, path=self.path, answer=answer))
            self._send(200, json.dumps(answer).encode(), "application/json")

        def _send(self, status: int, payload: bytes, content_type: str, extra: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _parse(raw: bytes, content_type: str) -> dict[str, Any]:
    text = raw.decode("utf-8", "replace")
    if "json" in content_type:
        return json.loads(text or "{}")
    return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(text, keep_blank_values=True).items()}
