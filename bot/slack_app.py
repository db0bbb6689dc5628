"""Slack: the Bolt app (``/cyberops``, messages in incident threads, the approve/reject buttons) and the
:class:`SlackSurface` that posts incident threads through the Web API.

Every listener acks first and hands the work to a worker of its own, so an ack never waits
behind a slow plan or a slow Web API call (Slack wants it within 3 s).  A reply Slack fails
(5xx, or 429 past the client's retries) is held in the durable outbox and sent by
:class:`SlackReplies` from the clock once Slack is back (``bot/outbox_delivery.py``).  Each delivery carries a
key (a command's or click's ``trigger_id``, a message's channel and ts), which the conversation
core remembers, so a Slack retry (``X-Slack-Retry-Num``) or the ``message`` + ``app_mention`` pair
for one message is handled once.  Nothing here decides: the core does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.asgi import SlackRequestHandler
from slack_bolt.adapter.asgi.http_response import AsgiHttpResponse
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bot.background_server import RunningServer, start_in_background
from bot.outbox_delivery import REPLY_MAX_AGE, Fallback
from bot.slack_blocks import APPROVE, REJECT, ask_blocks, button_target, decided_blocks, report_blocks
from bot.slack_guard import ReplayGuard
from bot.surface import Ask, Click, Message, Reply

if TYPE_CHECKING:
    from bot.conversation import Conversation
    from bot.settings import Settings
    from graph.posture import PostureReport
    from memory.outbox import HeldReply

log = logging.getLogger(__name__)

SURFACE = "slack"
COMMAND = "/cyberops"
EVENTS_PATH = "/slack/events"
RATE_LIMIT_RETRIES = 3  # a 429 is retried after its Retry-After, this many times
TEXT_LIMIT = 40_000  # Slack truncates a message's text past this
BROKEN_BUTTON = "That button doesn't name a confirmation I know. Try `/cyberops incidents`."
RESPONSE_URL_LIFETIME = timedelta(minutes=30)  # Slack honours a command's response_url this long
REPLY_TRY_TIMEOUT = 5  # seconds: one outbox try of a held reply, so a drain never holds the clock long


# ==================================================================== posting
def slack_web_client(settings: Settings) -> WebClient:
    """A Web API client on ``SLACK_API_URL`` that also waits out rate limits (the defaults only retry
    connection errors)."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    base_url = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    client = WebClient(token=token, base_url=base_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES))
    return client


class SlackSurface:
    """The core's posts on Slack: a thread per incident, Block Kit buttons for confirmations."""

    name = SURFACE

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._plans: dict[str, str] = {}  # confirmation ts -> its plan, kept in the message once decided
        self._lock = threading.Lock()

    def open_thread(self, channel: str, text: str) -> str:
        return self.client.chat_postMessage(channel=channel, text=text)["ts"]

    def post(self, channel: str, thread: str, text: str) -> str:
        return self.client.chat_postMessage(channel=channel, thread_ts=thread, text=text)["ts"]

    def ask(self, channel: str, thread: str, ask: Ask) -> str:
        posted = self.client.chat_postMessage(channel=channel, thread_ts=thread, text=ask.text, blocks=ask_blocks(ask))
        ts = posted["ts"]
        with self._lock:
            self._plans[ts] = ask.text
        return ts

    def close_ask(self, channel: str, message: str, text: str) -> None:
        with self._lock:
            plan = self._plans.pop(message, None)
        self.client.chat_update(channel=channel, ts=message, text=text, blocks=decided_blocks(text, plan=plan))

    def upload(self, channel: str, thread: str, filename: str, data: bytes, title: str) -> None:
        self.client.files_upload_v2(channel=channel, thread_ts=thread, filename=filename, content=data, title=title)

    def post_report(self, channel: str, report: PostureReport, images: dict[str, bytes]) -> str:
        """The report as Block Kit (its text for notifications and old clients), then its pictures in one
        upload into the message's thread; returns the message's ts."""
        from bot.report_view import IMAGE_TITLES, chat_text

        ts = self.client.chat_postMessage(channel=channel, text=chat_text(report)[:TEXT_LIMIT],
                                          blocks=report_blocks(report), unfurl_links=False)["ts"]
        if images:
            self.client.files_upload_v2(channel=channel, thread_ts=ts, file_uploads=[
                {"filename": f"{key}.png", "content": data, "title": IMAGE_TITLES.get(key, key)}
                for key, data in images.items()])
        return ts


class SlackReplies:
    """Held Slack replies, for the outbox's drain: one try each, a short timeout and no SDK retries (the outbox
    retries); a response URL past its 30 minutes falls back to an ephemeral (or channel) post to the asker."""

    def __init__(self, client: WebClient, *, timeout: int = REPLY_TRY_TIMEOUT) -> None:
        self.timeout = timeout
        self.client = WebClient(token=client.token, base_url=client.base_url, timeout=timeout, ssl=client.ssl,
                                proxy=client.proxy, headers=client.headers, retry_handlers=[])

    def send(self, reply: HeldReply) -> None:
        where = reply.destination
        if reply.kind == "response":
            hook = WebhookClient(where["url"], timeout=self.timeout, ssl=self.client.ssl, proxy=self.client.proxy)
            _responded(hook.send(text=reply.text, response_type=_response_type(reply.ephemeral)))
        else:
            _post(self.client, reply.kind, where, reply.text)

    def fallback(self, reply: HeldReply) -> Fallback | None:
        if reply.kind != "response":
            return None  # a post in the channel has no expiry of its own: the outbox's age limit drops it
        where = {k: v for k, v in reply.destination.items() if k != "url"}
        return Fallback("ephemeral" if reply.ephemeral else "message", where)


# ==================================================================== the Bolt app
def build_slack_app(conversation: Conversation, settings: Settings, *, client: WebClient | None = None,
                    executor: Executor | None = None) -> App:
    """The Bolt app over the conversation core; serve it with :func:`serve_slack_http` or :func:`serve_slack_socket`.

    ``executor`` runs the core after the acks; default: one thread of its own.  One thread keeps
    requests in arrival order and touches the memory store from one place (share it with whatever
    else calls the core, e.g. the twin's ticker); more threads don't answer a burst sooner (the core
    is CPU-bound under the GIL) and slow the acks (``cyberops bench slack``, 50 concurrent requests on
    2 cores: ack p99 about 60 ms with one thread, 90-105 ms with four).
    """
    if client is None:
        surface = conversation.surfaces.get(SURFACE)
        client = surface.client if isinstance(surface, SlackSurface) else slack_web_client(settings)
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    # Our listeners only ack and hand over to the worker, so Bolt may run them inline: its dispatch then
    # finds the ack done at once instead of polling for it every 10 ms.
    app = App(name="cyberops", client=client, signing_secret=secret, process_before_response=False,
              listener_executor=_Inline())
    conversation.outbox.senders[SURFACE] = SlackReplies(client)
    executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="cyberops-slack")
    listeners = _Listeners(conversation, executor)
    app.use(ReplayGuard(audit=conversation.defence.audit, run=executor.submit))  # replays: 401
    app.command(COMMAND)(listeners.command)
    app.action(APPROVE)(listeners.button)
    app.action(REJECT)(listeners.button)
    app.event("app_mention")(listeners.mention)
    app.event("message")(listeners.message)
    return app


class _Listeners:
    """Bolt listeners (Bolt passes arguments by name): ack, translate, and hand the core's work to the executor."""

    def __init__(self, conversation: Conversation, executor: Executor) -> None:
        self.conversation = conversation
        self.executor = executor

    def command(self, ack: Callable, command: dict, respond: Callable, client: WebClient) -> None:
        ack()
        msg = Message(SURFACE, command["user_id"], command["channel_id"], command.get("text") or "",
                      delivery=command.get("trigger_id"))
        self._submit(self._command, msg, respond, command.get("response_url"), client)

    def _command(self, msg: Message, respond: Callable, url: str | None, client: WebClient) -> None:
        reply = self.conversation.command(msg)
        self._reply(reply, {"url": url, "channel": msg.channel, "user": msg.user}, client=client, respond=respond)

    def button(self, ack: Callable, body: dict, action: dict, client: WebClient) -> None:
        ack()
        user = body["user"]["id"]
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        message = body.get("message") or {}
        thread = message.get("thread_ts")
        target = button_target(action.get("value"))
        if target is None:
            self._submit(self._reply, Reply(BROKEN_BUTTON), {"channel": channel, "user": user, "thread": thread},
                         client=client)
            return
        decision = "approve" if action["action_id"] == APPROVE else "reject"
        click = Click(SURFACE, user, channel, *target, decision,
                      message=container.get("message_ts") or message.get("ts"),
                      delivery=body.get("trigger_id") or action.get("action_ts"))
        self._submit(self._click, click, client, thread)

    def _click(self, click: Click, client: WebClient, thread: str | None) -> None:
        reply = self.conversation.click(click)
        self._reply(Reply(reply.text), {"channel": click.channel, "user": click.user, "thread": thread},
                    client=client)  # a click's answer is for the clicker only

    def message(self, event: dict, context: Any, client: WebClient) -> None:
        """Channel messages: only replies in an incident's thread are for us."""
        if _not_a_person(event, context) or not event.get("thread_ts"):
            return
        self._submit(self._message, event, context.bot_user_id, client, True)

    def mention(self, event: dict, context: Any, client: WebClient) -> None:
        """``@cyberops …`` anywhere: answered in the thread it was written in (or one under it)."""
        if _not_a_person(event, context):
            return
        self._submit(self._message, event, context.bot_user_id, client)

    def _message(self, event: dict, bot_user: str | None, client: WebClient, threads_only: bool = False) -> None:
        if threads_only and self.conversation.chat.incident_in(surface=SURFACE, channel=event["channel"],
                                                               thread=event["thread_ts"]) is None:
            return  # a thread that isn't an incident's
        text = event.get("text") or ""
        if bot_user:
            text = re.sub(rf"<@{re.escape(bot_user)}(\|[^>]*)?>\s*", "", text).strip()
        # a mention in a thread comes as both `message` and `app_mention`: one key for both
        msg = Message(SURFACE, event["user"], event["channel"], text, thread=event.get("thread_ts"),
                      delivery=f"{event['channel']}:{event['ts']}")
        reply = self.conversation.message(msg)
        if reply is None:
            return
        thread = event.get("thread_ts") or event["ts"]
        self._reply(reply, {"channel": msg.channel, "user": msg.user, "thread": thread}, client=client)

    def _reply(self, reply: Reply, where: dict[str, Any], *, client: WebClient,
               respond: Callable | None = None) -> None:
        """Send ``reply`` now (a command's through its response URL, else ephemeral or in the channel); when Slack
        fails it, hold it in the outbox, which sends it from the clock once Slack is back."""
        kind = "response" if respond is not None and where.get("url") else \
            "ephemeral" if reply.ephemeral else "message"
        try:
            if kind == "response":
                assert respond is not None
                _responded(respond(text=reply.text, response_type=_response_type(reply.ephemeral)))
            else:
                _post(client, kind, where, reply.text)
        except Exception as exc:  # noqa: BLE001 - Slack's error, whatever its type: the outbox tries again
            self.conversation.outbox.hold(SURFACE, kind, where, reply.text, ephemeral=reply.ephemeral, error=exc,
                                           expires_in=RESPONSE_URL_LIFETIME if kind == "response" else REPLY_MAX_AGE)

    def _submit(self, work: Callable, *args: Any, **kwargs: Any) -> None:
        def run() -> None:
            try:
                work(*args, **kwargs)
            except Exception:  # a failed reply must not take the worker down; the log has it
                log.exception("Slack %s failed", getattr(work, "__name__", "work"))

        self.executor.submit(run)


class _Inline(Executor):
    """Runs what Bolt submits in the dispatching thread (see :func:`build_slack_app`)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # Bolt's runner handles its listeners' errors itself
            future.set_exception(exc)
        return future


def _not_a_person(event: dict, context: Any) -> bool:
    """Bot posts (ours included), edits, joins and other subtypes are not operators talking."""
    return bool(event.get("subtype") not in (None, "thread_broadcast") or event.get("bot_id")
                or not event.get("user") or event.get("user") == context.bot_user_id)


def _post(client: WebClient, kind: str, where: dict[str, Any], text: str) -> None:
    """A reply by the Web API: ``ephemeral`` (to ``where["user"]`` only) or a ``message`` in the channel/thread."""
    if kind == "ephemeral":
        client.chat_postEphemeral(channel=where["channel"], user=where["user"], text=text,
                                  thread_ts=where.get("thread"))
    elif kind == "message":
        client.chat_postMessage(channel=where["channel"], thread_ts=where.get("thread"), text=text)
    else:
        raise ValueError(f"no Slack reply of kind {kind!r}")


def _response_type(ephemeral: bool) -> str:
    return "ephemeral" if ephemeral else "in_channel"


def _responded(answer: Any) -> None:
    """A response URL answers with a status, not an exception: make a refusal one (so the reply is held)."""
    status = getattr(answer, "status_code", 200)
    if status != 200:
        raise ConnectionError(f"the response URL answered HTTP {status}: {getattr(answer, 'body', '')[:200]}")


# ==================================================================== serving
class SlackASGI(SlackRequestHandler):
    """Bolt's ASGI handler, with ``App.dispatch`` moved off the event loop and ``GET /healthz``.

    The sync ``App.dispatch`` waits (polling) until the listener has called ``ack()``; run on the
    event loop, as the stock handler does, it would serialise every request behind that wait.
    """

    def __init__(self, app: App, *, health: Callable[[], dict] | None = None, path: str = EVENTS_PATH,
                 threads: int = 16) -> None:
        super().__init__(app, path)
        self.health = health or (lambda: {"ok": True, "surfaces": [SURFACE]})
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cyberops-dispatch")

    async def dispatch(self, request) -> BoltResponse:
        bolt_request = BoltRequest(body=await request.get_raw_body(), query=request.query_string,
                                   headers=request.get_headers())
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.app.dispatch, bolt_request)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == "/healthz":
            if scope["method"] in ("GET", "HEAD"):
                response = AsgiHttpResponse(200, {"content-type": ["application/json"]}, json.dumps(self.health()))
            else:
                response = AsgiHttpResponse(405, {"allow": ["GET"]}, "")
            await send(response.get_response_start())
            await send(response.get_response_body())
            return
        await super().__call__(scope, receive, send)


def slack_health(conversation: Conversation) -> Callable[[], dict]:
    """``/healthz``'s answer: up, and the surfaces the core posts to."""
    return lambda: {"ok": True, "surfaces": sorted(conversation.surfaces)}


def _uvicorn_server(app: App, host: str, port: int, health: Callable[[], dict] | None):
    import uvicorn

    config = uvicorn.Config(SlackASGI(app, health=health), host=host, port=port, log_level="warning",
                            access_log=False, lifespan="on")
    return uvicorn.Server(config)


def serve_slack_http(app: App, host: str, port: int, *, health: Callable[[], dict] | None = None) -> None:
    """HTTP mode: ``POST /slack/events`` (the Request URL for commands, events and interactivity) and
    ``GET /healthz``, with uvicorn, until interrupted."""
    _uvicorn_server(app, host, port, health).run()


def start_slack_http(app: App, host: str = "127.0.0.1", port: int = 0, *,
                     health: Callable[[], dict] | None = None, timeout: float = 10.0) -> RunningServer:
    """Like :func:`serve_slack_http`, in a daemon thread; returns once it listens (port 0: any free port)."""
    return start_in_background(_uvicorn_server(app, host, port, health), name="cyberops-slack-http", timeout=timeout)


def slack_socket_handler(app: App, app_token: str):
    """Socket Mode (an ``xapp-`` token, no public URL); ``.start()`` connects and blocks."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    return SocketModeHandler(app, app_token)


def serve_slack_socket(app: App, app_token: str) -> None:
    slack_socket_handler(app, app_token).start()
