"""The one HTTP app ``cyberops serve`` runs (plain ASGI, on uvicorn).

- ``GET /healthz``: up, and what is served;
- ``GET /metrics``: Prometheus text format (:mod:`bot.metrics`);
- ``POST /alerts`` and ``POST /alerts/alertmanager``: alerts in (:mod:`bot.alerts`), with a bearer token;
- ``POST /slack/events``: handed to Bolt's handler when Slack runs in HTTP mode.

A small router of our own rather than a framework: five routes, and the alert endpoints need
to refuse a body by its size before reading it, which plain ASGI makes explicit.  Anything that
touches memory or the twin runs in a worker thread, so the event loop (and Slack's 3-second acks
on the same server) never waits behind a plan.  Alerts go through one worker, in arrival order.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from bot import metrics
from bot.alerts import AlertIntake, AlertRejected, token_problem
from bot.background_server import RunningServer, start_in_background

if TYPE_CHECKING:
    from bot.conversation import Conversation

log = logging.getLogger(__name__)

ALERT_PATHS = {"/alerts": "generic", "/alerts/alertmanager": "alertmanager"}
SLACK_PATH = "/slack/events"
DISABLED = "alert ingestion is off: set CYBEROPS_ALERT_TOKEN to turn it on"


class TooLarge(Exception):
    pass


class HttpApp:
    """The ASGI app; ``slack`` (an ASGI app for ``/slack/events``) only when Slack runs in HTTP mode."""

    def __init__(self, conversation: Conversation, *, alert_token: str | None, max_bytes: int, slack: Any = None) -> None:
        self.conversation = conversation
        self.intake = AlertIntake(conversation, token=alert_token, max_bytes=max_bytes)
        self.slack = slack
        self.registry = metrics.build_registry(conversation.defence)
        self._alerts = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cyberops-alerts")

    def health(self) -> dict[str, Any]:
        return {"ok": True, "surfaces": sorted(self.conversation.surfaces), "alerts": self.intake.enabled,
                "slack_events": self.slack is not None}

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets here
        path, method = scope["path"], scope["method"]
        if path == SLACK_PATH and self.slack is not None:
            await self.slack(scope, receive, send)
        elif path == SLACK_PATH:
            await _json(send, 404, {"ok": False, "error": "Slack does not run in HTTP mode here"})
        elif path in ("/healthz", "/metrics"):
            if method not in ("GET", "HEAD"):
                await _json(send, 405, {"ok": False, "error": "use GET"}, [(b"allow", b"GET, HEAD")])
            elif path == "/healthz":
                await _json(send, 200, self.health())
            else:
                body = await asyncio.to_thread(metrics.exposition, self.registry)
                await _send(send, 200, body if method == "GET" else b"", metrics.CONTENT_TYPE)
        elif path in ALERT_PATHS:
            if method != "POST":
                await _json(send, 405, {"ok": False, "error": "use POST"}, [(b"allow", b"POST")])
                return
            fmt = ALERT_PATHS[path]
            answer = await self._alert(fmt, scope, receive)
            if answer is None:
                return  # the client went away
            status, payload, headers = answer
            metrics.count_alert_request(fmt, status)
            await _json(send, status, payload, headers)
        else:
            await _json(send, 404, {"ok": False, "error": f"no route {path}; try /healthz, /metrics, "
                                                          f"POST /alerts or /alerts/alertmanager"})

    async def _alert(self, fmt: str, scope: dict, receive) -> tuple[int, dict, list] | None:
        intake = self.intake
        if not intake.enabled:
            metrics.count_alert_rejected(fmt, "disabled")
            return 503, {"ok": False, "reason": "disabled", "error": DISABLED}, []
        client = scope.get("client")
        remote = client[0] if client else "unknown"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}

        async def refuse(status: int, reason: str, message: str) -> tuple[int, dict]:
            return await self._in_worker(intake.refuse, fmt, AlertRejected(status, reason, message),
                                         who=f"alert:{remote}", remote=remote)

        problem = token_problem(headers.get("authorization"), intake.token)
        if problem:
            return (*await refuse(401, "unauthorized", problem), [(b"www-authenticate", b'Bearer realm="cyberops"')])
        length = headers.get("content-length")
        if length is not None and not length.strip().isdigit():
            return (*await refuse(400, "malformed", f"bad Content-Length {length[:20]!r}"), [])
        too_large = f"the body is over {intake.max_bytes} bytes"
        if length is not None and int(length) > intake.max_bytes:  # refused before reading a byte of it
            return (*await refuse(413, "too_large", too_large), [])
        try:
            body = await _read_body(receive, intake.max_bytes)
        except TooLarge:
            return (*await refuse(413, "too_large", too_large), [])
        if body is None:
            return None
        return (*await self._in_worker(intake.receive, fmt, body, remote=remote), [])

    async def _in_worker(self, fn, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._alerts, functools.partial(fn, *args, **kwargs))

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._alerts.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _read_body(receive, limit: int) -> bytes | None:
    """The request body, or TooLarge as soon as it passes ``limit`` bytes; None if the client left."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send, status: int, body: bytes, content_type: str, headers: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _json(send, status: int, payload: dict, headers: list | None = None) -> None:
    await _send(send, status, json.dumps(payload).encode("utf-8"), "application/json", headers)


def build_http_app(conversation: Conversation, *, alert_token: str | None, max_bytes: int,
                   slack_app: Any = None) -> HttpApp:
    """The app over the conversation core; ``slack_app``: a Bolt app to serve on ``/slack/events``."""
    slack = None
    if slack_app is not None:
        from bot.slack_app import SlackASGI

        slack = SlackASGI(slack_app)
    return HttpApp(conversation, alert_token=alert_token, max_bytes=max_bytes, slack=slack)


# ==================================================================== serving
def _uvicorn_server(app: HttpApp, host: str, port: int):
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                         lifespan="on"))


def serve_http(app: HttpApp, host: str, port: int) -> None:
    """Serve until interrupted."""
    _uvicorn_server(app, host, port).run()


def start_http(app: HttpApp, host: str = "127.0.0.1", port: int = 0, *, timeout: float = 10.0) -> RunningServer:
    """Like :func:`serve_http`, in a daemon thread; returns once it listens (port 0: any free port)."""
    return start_in_background(_uvicorn_server(app, host, port), name="cyberops-http", timeout=timeout)
