"""A local stand-in for Discord's REST API, and the gateway payloads tests inject — in one place.

The real discord.py 2.7.1 talks to :class:`FakeDiscord` (``discord.http.Route.BASE`` pointed
at it); tests inject gateway events with the payload builders below.  The payloads carry
the keys 2.7.1 reads without a default (``attachment_size_limit``, ``member.flags``,
``channel.position``, …): pin the library and update them here when it moves.
Every request is recorded (method, path, JSON body, uploaded files, the status answered) for tests to
assert on; :meth:`FakeDiscord.fail` makes routes answer 503 (Discord down) until :meth:`FakeDiscord.recover`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API = "/api/v10"
NOW = "2026-12-04T09:00:00.000000+00:00"
EPHEMERAL = 64  # message flag

_ids = itertools.count(1_300_000_000_000_000_000)
_lock = threading.Lock()


def snowflake() -> str:
    with _lock:
        return str(next(_ids))


APP_ID = snowflake()
BOT_ID = APP_ID  # a bot user's id is its application's
GUILD_ID = snowflake()
CHANNEL_ID = snowflake()  # the incident channel
OTHER_CHANNEL_ID = snowflake()
APPROVER_ROLE_ID = snowflake()
APPROVER_ROLE = "cyberops-approver"
COMMAND_ID = snowflake()


# ================================================================ payload builders
def user(user_id: str, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": user_id, "username": name, "discriminator": "0", "global_name": name, "avatar": None,
            "bot": bot, "public_flags": 0}


BOT_USER = user(BOT_ID, "cyberops", bot=True)
ALICE = user(snowflake(), "alice")  # holds the approver role
MALLORY = user(snowflake(), "mallory")  # doesn't


def role(role_id: str, name: str, *, permissions: str = "0") -> dict[str, Any]:
    return {"id": role_id, "name": name, "color": 0, "hoist": False, "icon": None, "unicode_emoji": None,
            "position": 0 if role_id == GUILD_ID else 1, "permissions": permissions, "managed": False,
            "mentionable": False, "flags": 0}


def member(of: dict[str, Any], *, approver: bool) -> dict[str, Any]:
    """A guild member, as in GUILD_CREATE and in interactions (where ``permissions`` is set)."""
    return {"user": of, "nick": None, "avatar": None, "roles": [APPROVER_ROLE_ID] if approver else [],
            "joined_at": NOW, "premium_since": None, "deaf": False, "mute": False, "flags": 0, "pending": False,
            "permissions": "2147483647", "communication_disabled_until": None}


def text_channel(channel_id: str = CHANNEL_ID, name: str = "incidents") -> dict[str, Any]:
    return {"id": channel_id, "type": 0, "guild_id": GUILD_ID, "name": name, "position": 0,
            "permission_overwrites": [], "nsfw": False, "parent_id": None, "topic": None, "last_message_id": None,
            "rate_limit_per_user": 0, "default_auto_archive_duration": 1440, "flags": 0}


def thread(thread_id: str, *, parent: str = CHANNEL_ID, name: str = "incident", owner: str = BOT_ID) -> dict[str, Any]:
    return {"id": thread_id, "type": 11, "guild_id": GUILD_ID, "parent_id": parent, "owner_id": owner, "name": name,
            "last_message_id": None, "message_count": 0, "member_count": 1, "total_message_sent": 0,
            "rate_limit_per_user": 0, "flags": 0,
            "thread_metadata": {"archived": False, "auto_archive_duration": 1440, "archive_timestamp": NOW,
                                "locked": False, "create_timestamp": NOW}}


def guild(members: list[dict[str, Any]], channels: list[dict[str, Any]]) -> dict[str, Any]:
    """GUILD_CREATE's payload: the everyone role, the approver role, the members and channels."""
    return {"id": GUILD_ID, "name": "ACME SOC", "icon": None, "splash": None, "discovery_splash": None,
            "owner_id": ALICE["id"], "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0, "nsfw_level": 0,
            "premium_tier": 0, "premium_progress_bar_enabled": False, "system_channel_id": None,
            "system_channel_flags": 0, "rules_channel_id": None, "public_updates_channel_id": None,
            "preferred_locale": "en-US", "features": [], "emojis": [], "stickers": [], "application_id": None,
            "roles": [role(GUILD_ID, "@everyone"), role(APPROVER_ROLE_ID, APPROVER_ROLE)],
            "member_count": len(members), "large": False, "unavailable": False, "joined_at": NOW,
            "members": members, "channels": channels, "threads": [], "voice_states": [], "presences": [],
            "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": []}


def message(channel_id: str, author: dict[str, Any], content: str = "", *, message_id: str | None = None,
            embeds: list | None = None, components: list | None = None, flags: int = 0,
            with_member: dict[str, Any] | None = None) -> dict[str, Any]:
    """A message as REST returns it and MESSAGE_CREATE carries it (``with_member``: the author's member data)."""
    data = {"id": message_id or snowflake(), "channel_id": channel_id, "guild_id": GUILD_ID, "author": author,
            "content": content, "timestamp": NOW, "edited_timestamp": None, "tts": False, "mention_everyone": False,
            "mentions": [], "mention_roles": [], "mention_channels": [], "attachments": [], "embeds": embeds or [],
            "reactions": [], "pinned": False, "type": 0, "flags": flags, "components": components or []}
    if with_member is not None:
        data["member"] = {k: v for k, v in with_member.items() if k != "user"}
    return data


def _interaction(kind: int, *, who: dict[str, Any], channel: dict[str, Any], data: dict[str, Any],
                 message_: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = {"id": snowflake(), "application_id": APP_ID, "type": kind, "token": f"tok-{snowflake()}",
               "version": 1, "guild_id": GUILD_ID, "guild": {"id": GUILD_ID, "locale": "en-US", "features": []},
               "channel_id": channel["id"], "channel": channel, "member": who, "app_permissions": "2147483647",
               "locale": "en-US", "guild_locale": "en-US", "entitlements": [], "context": 0,
               "authorizing_integration_owners": {"0": GUILD_ID}, "attachment_size_limit": 8388608, "data": data}
    if message_ is not None:
        payload["message"] = message_
    return payload


def command_interaction(sub: str, options: dict[str, str] | None = None, *, who: dict[str, Any],
                        channel: dict[str, Any] | None = None) -> dict[str, Any]:
    """``/cyberops SUB option:value …`` (INTERACTION_CREATE, type 2)."""
    opts = [{"name": k, "type": 3, "value": v} for k, v in (options or {}).items()]
    data = {"id": COMMAND_ID, "name": "cyberops", "type": 1, "guild_id": GUILD_ID,
            "options": [{"name": sub, "type": 1, "options": opts}]}
    return _interaction(2, who=who, channel=channel or text_channel(), data=data)


def click_interaction(custom_id: str, *, who: dict[str, Any], on: dict[str, Any],
                      channel: dict[str, Any]) -> dict[str, Any]:
    """A button press (INTERACTION_CREATE, type 3) on message ``on``."""
    return _interaction(3, who=who, channel=channel, data={"custom_id": custom_id, "component_type": 2},
                        message_=on)


def button_ids(msg: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in msg.get("components", []) for c in row.get("components", [])]


# ================================================================ the fake REST API
@dataclass
class Call:
    method: str
    path: str  # without the /api/v10 prefix
    json: Any = None
    files: list[tuple[str, bytes]] = field(default_factory=list)
    query: dict[str, str] = field(default_factory=dict)
    status: int = 200  # 503 while the route was failing (other answers keep 200 here)


class FakeDiscord:
    """Discord's REST API on 127.0.0.1 (port 0), for discord.py; start it on the bot's event loop."""

    def __init__(self, channels: list[dict[str, Any]]) -> None:
        self.calls: list[Call] = []
        self.channels: dict[str, dict[str, Any]] = {c["id"]: c for c in channels}
        self.messages: dict[str, dict[str, Any]] = {}
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._failing: str | None = None  # a regex of "METHOD /path" answered 503

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", API + "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}{API}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail(self, route: str = r".*") -> None:
        """Answer 503 to every request whose "METHOD /path" fully matches ``route``, until :meth:`recover`."""
        self._failing = route

    def recover(self) -> None:
        self._failing = None

    # ---------------------------------------------------------------- what tests read
    def find(self, method: str, pattern: str) -> list[Call]:
        """Calls with ``method`` whose path fully matches regex ``pattern``."""
        return [c for c in list(self.calls) if c.method == method and re.fullmatch(pattern, c.path)]

    def wait_for(self, method: str, pattern: str, *, count: int = 1, timeout: float = 15.0) -> list[Call]:
        """Block (a test's thread, not the loop) until ``count`` such calls arrived; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(method, pattern)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = "\n".join(f"  {c.method} {c.path}" for c in self.calls)
                raise AssertionError(f"no {count}× {method} {pattern} within {timeout}s; calls:\n{seen}")
            time.sleep(0.02)

    def in_channel(self, channel_id: str) -> list[dict[str, Any]]:
        """The messages posted to a channel or thread, oldest first, as they are now (edits applied)."""
        return [m for m in self.messages.values() if m["channel_id"] == channel_id]

    # ---------------------------------------------------------------- the API
    async def _handle(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body, files = await _read_body(request)
        route = f"{request.method} {path}"
        if self._failing is not None and re.fullmatch(self._failing, route):
            self.calls.append(Call(request.method, path, body, files, dict(request.query), status=503))
            return _json({"message": "Service Unavailable", "code": 0}, status=503)
        self.calls.append(Call(request.method, path, body, files, dict(request.query)))
        if route == "GET /users/@me":
            return _json(BOT_USER)
        if route == "GET /oauth2/applications/@me":
            return _json({"id": APP_ID, "name": "CyberOps", "description": "", "icon": None, "bot_public": False,
                          "bot_require_code_grant": False, "owner": ALICE, "verify_key": "0" * 64, "flags": 0,
                          "summary": "", "team": None})
        if m := re.fullmatch(r"(GET|PATCH) /channels/(\d+)/messages/(\d+)", route):
            found = self.messages.get(m[3])
            if found is None or found["channel_id"] != m[2]:
                return _json({"message": "Unknown Message", "code": 10008}, status=404)
            if m[1] == "PATCH":
                found.update({k: v for k, v in body.items() if k in ("content", "embeds", "components")},
                             edited_timestamp=NOW)
            return _json(found)
        if m := re.fullmatch(r"POST /channels/(\d+)/messages", route):
            if m[1] not in self.channels:
                return _json({"message": "Unknown Channel", "code": 10003}, status=404)
            return _json(self._create(m[1], BOT_USER, body, files))
        if m := re.fullmatch(r"POST /channels/(\d+)/messages/(\d+)/threads", route):
            made = thread(m[2], parent=m[1], name=body["name"])
            self.channels[made["id"]] = made
            return _json(made, status=201)
        if m := re.fullmatch(r"GET /channels/(\d+)", route):
            if m[1] not in self.channels:
                return _json({"message": "Unknown Channel", "code": 10003}, status=404)
            return _json(self.channels[m[1]])
        if m := re.fullmatch(r"POST /interactions/(\d+)/([^/]+)/callback", route):
            flags = (body.get("data") or {}).get("flags", 0)
            return _json({"interaction": {"id": m[1], "type": 2, "response_message_loading": body["type"] == 5,
                                          "response_message_ephemeral": bool(flags & EPHEMERAL)},
                          "resource": {"type": body["type"]}})
        if m := re.fullmatch(r"POST /webhooks/(\d+)/([^/]+)", route):  # follow-ups: in calls, not messages
            made = message(CHANNEL_ID, BOT_USER, body.get("content") or "", flags=body.get("flags") or 0)
            return _json(made | {"webhook_id": m[1]})
        if re.fullmatch(r"(PATCH|GET) /webhooks/(\d+)/([^/]+)/messages/@original", route):
            return _json(message(CHANNEL_ID, BOT_USER, body.get("content") or ""))
        if re.fullmatch(r"DELETE /webhooks/(\d+)/([^/]+)/messages/[^/]+", route):
            return web.Response(status=204)
        if re.fullmatch(r"PUT /applications/(\d+)(/guilds/\d+)?/commands", route):
            return _json([{**c, "id": snowflake(), "application_id": APP_ID, "version": "1",
                           "default_member_permissions": None, "dm_permission": True, "nsfw": False}
                          for c in body])
        return _json({"message": f"the fake has no {route}", "code": 0}, status=404)

    def _create(self, channel: str, author: dict[str, Any], body: dict[str, Any],
                files: list[tuple[str, bytes]]) -> dict[str, Any]:
        made = message(channel, author, body.get("content") or "", embeds=body.get("embeds"),
                       components=body.get("components"), flags=body.get("flags") or 0)
        made["attachments"] = [{"id": snowflake(), "filename": name, "size": len(data), "url": f"https://x/{name}",
                                "proxy_url": f"https://x/{name}"} for name, data in files]
        self.messages[made["id"]] = made
        return made


async def _read_body(request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
    if request.content_type.startswith("multipart/"):
        body, files = {}, []
        async for part in await request.multipart():
            data = await part.read()  # type: ignore[union-attr]
            if part.name == "payload_json":
                body = json.loads(data)
            else:
                files.append((part.filename or part.name or "", bytes(data)))  # type: ignore[union-attr]
        return body, files
    raw = await request.read()
    return (json.loads(raw) if raw else {}), []


def _json(data: Any, *, status: int = 200) -> web.Response:
    # discord.py decodes only an exact "application/json" (no charset suffix)
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})
